/**
 * The full log of a ticket run, in MongoDB (models/ticket-log.ts), written while the run
 * produces it and read back from the end (a progress message, `/ticket show`) or from the
 * start (the full-log file).
 *
 * Writes are coalesced: appends to one log are buffered and written together once the buffer
 * reaches `flushBytes`, on tail / stream / close, or `flushDelayMs` after the first buffered
 * append (an unref'd timer, cleared by every flush, so a quiet run is still on disk soon and
 * nothing is held after close). A flush reserves its chunk numbers with one `$inc` on the
 * header and inserts the chunks under them; flushes of one log run one after the other, so the
 * log keeps the order of the appends, and a failed insert is retried under the same numbers
 * (the unique index turns a repeat into a no-op), so text is written exactly once.
 *
 * Memory: at most `flushBytes` per log and `maxBufferedBytes` over all logs are buffered; an
 * append past either waits for its log's flush, which is how a fast producer (the execution
 * engine's `onOutput`) is slowed to the store's pace.
 */
import { Readable } from 'node:stream';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { DUPLICATE_KEY, isDuplicateKey } from '../../store/duplicate-key.js';
import { LOG_STREAMS, type LogStream, type TicketLogChunkModel, type TicketLogHeaderModel } from '../../models/ticket-log.js';
import type { TicketLogSink } from './ports.js';


export interface StoredLogChunk {
  seq: number;
  stream: LogStream;
  text: string;
  at: Date;
}

export interface TicketLogStoreDeps {
  chunks: TicketLogChunkModel;
  headers: TicketLogHeaderModel;
  clock?: Clock;
  logger?: Logger;
}

export interface TicketLogStoreOptions {
  /** Largest chunk written, in UTF-8 bytes. Default 256 KiB (far below the 16 MB document limit). */
  maxChunkBytes?: number;
  /** A log's buffer is written once it holds this much. Default: maxChunkBytes. */
  flushBytes?: number;
  /** Buffered over all logs before appends wait. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** A buffered append reaches the store at most this late. Default 1 s. */
  flushDelayMs?: number;
  /** Chunks read per round trip by tail and stream. Default 4 (about 1 MB). */
  readBatch?: number;
}

export interface TicketLogStats {
  /** Bytes appended but not yet written, over all logs. */
  bufferedBytes: number;
  peakBufferedBytes: number;
  chunksWritten: number;
  /** The largest chunk written, in UTF-8 bytes. */
  largestChunkBytes: number;
}

interface Segment {
  stream: LogStream;
  text: string;
  bytes: number;
  at: Date;
}

interface ChunkDoc extends StoredLogChunk {
  ticketId: string;
}

interface LogState {
  segments: Segment[];
  bytes: number;
  /** Chunks whose numbers are reserved but whose insert failed: written first next time. */
  unwritten: ChunkDoc[];
  timer?: NodeJS.Timeout;
  /** The last flush of this log; the next one starts after it. */
  chain: Promise<void>;
}

export class TicketLogStore implements TicketLogSink {
  private readonly logs = new Map<string, LogState>();
  private readonly clock: Clock;
  private readonly maxChunkBytes: number;
  private readonly flushBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly flushDelayMs: number;
  private readonly readBatch: number;
  private readonly counters: TicketLogStats = { bufferedBytes: 0, peakBufferedBytes: 0, chunksWritten: 0, largestChunkBytes: 0 };

  constructor(
    private readonly deps: TicketLogStoreDeps,
    opts: TicketLogStoreOptions = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.maxChunkBytes = opts.maxChunkBytes ?? 256 * 1024;
    this.flushBytes = Math.min(opts.flushBytes ?? this.maxChunkBytes, this.maxChunkBytes * 16);
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.flushDelayMs = opts.flushDelayMs ?? 1000;
    this.readBatch = opts.readBatch ?? 4;
  }

  stats(): TicketLogStats {
    return { ...this.counters };
  }

  /**
   * Adds text to the log. Resolves at once while the text only goes to the buffer, and after
   * the write when the buffer was full. Appending to a closed log fails with 1100 (at the
   * write that finds the log closed).
   */
  async append(ticketId: string, stream: LogStream, text: string): Promise<void> {
    checkId(ticketId);
    if (!LOG_STREAMS.includes(stream)) throw badParameter(`log stream must be one of ${LOG_STREAMS.join(', ')}`, { stream });
    if (typeof text !== 'string') throw badParameter('log text must be a string');
    if (text === '') return;
    const log = this.stateOf(ticketId);
    const bytes = Buffer.byteLength(text);
    const last = log.segments.at(-1);
    if (last && last.stream === stream) {
      last.text += text;
      last.bytes += bytes;
    } else log.segments.push({ stream, text, bytes, at: this.clock.now() });
    log.bytes += bytes;
    this.counters.bufferedBytes += bytes;
    this.counters.peakBufferedBytes = Math.max(this.counters.peakBufferedBytes, this.counters.bufferedBytes);
    if (log.bytes >= this.flushBytes || this.counters.bufferedBytes >= this.maxBufferedBytes) return this.flush(ticketId);
    log.timer ??= setTimeout(() => {
      log.timer = undefined;
      this.flush(ticketId).catch((err: unknown) => this.deps.logger?.warn({ ticketId, err: errText(err) }, 'ticket log flush failed; retried at the next write'));
    }, this.flushDelayMs).unref();
  }

  /** Writes what is buffered for the log; resolves once it (and every earlier flush) is stored. */
  flush(ticketId: string): Promise<void> {
    const log = this.logs.get(ticketId);
    if (!log) return Promise.resolve();
    const run = log.chain.then(() => this.write(ticketId, log));
    // A failed flush is reported to its caller; the next one still runs (and retries).
    log.chain = run.catch(() => undefined);
    return run;
  }

  /** Writes every buffered log (bot shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.logs.keys()].map((id) => this.flush(id)));
  }

  /** Writes what is buffered and marks the log complete; later appends are refused. */
  async close(ticketId: string): Promise<void> {
    checkId(ticketId);
    await this.flush(ticketId);
    const now = this.clock.now();
    await this.deps.headers.updateOne(
      { ticketId },
      { $set: { closed: true, updatedAt: now }, $setOnInsert: { nextSeq: 0, totalBytes: 0, lines: 0, createdAt: now } },
      { upsert: true },
    );
    const log = this.logs.get(ticketId);
    if (log && log.segments.length === 0 && log.unwritten.length === 0) {
      clearTimeout(log.timer);
      this.logs.delete(ticketId);
    }
  }

  /** The last `maxChars` characters of the log, read from the end chunk by chunk. */
  async tail(ticketId: string, maxChars: number): Promise<string> {
    checkId(ticketId);
    if (!Number.isInteger(maxChars) || maxChars < 0) throw badParameter('maxChars must be a whole number >= 0', { maxChars });
    await this.flush(ticketId);
    if (maxChars === 0) return '';
    const parts: string[] = [];
    let have = 0;
    let before = Number.POSITIVE_INFINITY;
    while (have < maxChars) {
      const batch = await this.deps.chunks
        .find({ ticketId, seq: { $lt: before } }, { seq: 1, text: 1, _id: 0 })
        .sort({ seq: -1 })
        .limit(this.readBatch)
        .lean<{ seq: number; text: string }[]>();
      for (const c of batch) {
        parts.push(c.text);
        have += c.text.length;
        before = c.seq;
        if (have >= maxChars) break;
      }
      if (batch.length < this.readBatch) break;
    }
    let text = parts.reverse().join('');
    if (text.length > maxChars) text = text.slice(text.length - maxChars);
    // Do not start with half of a surrogate pair.
    const first = text.charCodeAt(0);
    return first >= 0xdc00 && first <= 0xdfff ? text.slice(1) : text;
  }

  /** Every chunk of the log in order, a few at a time (what is buffered is written first). */
  async *stream(ticketId: string): AsyncGenerator<StoredLogChunk> {
    checkId(ticketId);
    await this.flush(ticketId);
    let from = 0;
    for (;;) {
      const batch = await this.deps.chunks
        .find({ ticketId, seq: { $gte: from } }, { seq: 1, stream: 1, text: 1, at: 1, _id: 0 })
        .sort({ seq: 1 })
        .limit(this.readBatch)
        .lean<StoredLogChunk[]>();
      for (const c of batch) yield c;
      if (batch.length < this.readBatch) return;
      from = batch.at(-1)!.seq + 1;
    }
  }

  /** The log as UTF-8 bytes, for uploading it as a file. */
  readable(ticketId: string): Readable {
    const chunks = this.stream(ticketId);
    return Readable.from(
      (async function* () {
        for await (const c of chunks) yield Buffer.from(c.text);
      })(),
    );
  }

  /**
   * The log as it stands now, as UTF-8 bytes of a known length (an upload needs it up front):
   * what is buffered is written first, then the header's totals fix which chunks belong to it
   * (text appended later is not part of it). Null when the log is empty. The body reads a few
   * chunks at a time and fails if the stored chunks do not add up to the length.
   */
  async snapshot(ticketId: string): Promise<{ bytes: number; body: Readable } | null> {
    checkId(ticketId);
    await this.flush(ticketId);
    const h = await this.deps.headers.findOne({ ticketId }, { nextSeq: 1, totalBytes: 1 }).lean();
    if (!h || h.totalBytes === 0) return null;
    const stored = await this.deps.chunks.countDocuments({ ticketId, seq: { $lt: h.nextSeq } });
    // Chunk numbers are reserved before their insert: another instance may be mid-write.
    if (stored !== h.nextSeq) throw new AppError(ErrorCode.Internal, `the log of ${ticketId} is being written right now; try again in a moment`);
    const { chunks, readBatch } = { chunks: this.deps.chunks, readBatch: this.readBatch };
    const bytes = h.totalBytes;
    const end = h.nextSeq;
    async function* read(): AsyncGenerator<Buffer> {
      let sent = 0;
      for (let from = 0; from < end; ) {
        const batch = await chunks
          .find({ ticketId, seq: { $gte: from, $lt: end } }, { seq: 1, text: 1, _id: 0 })
          .sort({ seq: 1 })
          .limit(readBatch)
          .lean<{ seq: number; text: string }[]>();
        if (batch.length === 0) break;
        for (const c of batch) {
          const b = Buffer.from(c.text);
          sent += b.length;
          yield b;
        }
        from = batch.at(-1)!.seq + 1;
      }
      if (sent !== bytes) throw new Error(`the log of ${ticketId} has ${sent} bytes, its header says ${bytes}`);
    }
    return { bytes, body: Readable.from(read(), { objectMode: false }) };
  }

  /** Totals and the closed flag, or null when nothing was written for this ticket. */
  async header(ticketId: string): Promise<{ totalBytes: number; lines: number; chunks: number; closed: boolean } | null> {
    const h = await this.deps.headers.findOne({ ticketId }).lean();
    return h && { totalBytes: h.totalBytes, lines: h.lines, chunks: h.nextSeq, closed: h.closed };
  }

  private stateOf(ticketId: string): LogState {
    let log = this.logs.get(ticketId);
    if (!log) {
      log = { segments: [], bytes: 0, unwritten: [], chain: Promise.resolve() };
      this.logs.set(ticketId, log);
    }
    return log;
  }

  private async write(ticketId: string, log: LogState): Promise<void> {
    clearTimeout(log.timer);
    log.timer = undefined;
    if (log.unwritten.length > 0) await this.insert(log, log.unwritten);
    if (log.segments.length === 0) return;
    const segments = log.segments;
    const taken = log.bytes;
    log.segments = [];
    log.bytes = 0;
    this.counters.bufferedBytes -= taken;

    const pieces = segments.flatMap((s) => splitUtf8(s.text, s.bytes, this.maxChunkBytes).map((text) => ({ stream: s.stream, text, at: s.at })));
    let lines = 0;
    for (const s of segments) lines += countNewlines(s.text);
    const now = this.clock.now();
    let header;
    try {
      header = await this.deps.headers
        .findOneAndUpdate(
          { ticketId, closed: false },
          { $inc: { nextSeq: pieces.length, totalBytes: taken, lines }, $set: { updatedAt: now }, $setOnInsert: { closed: false, createdAt: now } },
          { upsert: true, returnDocument: 'after', projection: { nextSeq: 1 } },
        )
        .lean();
    } catch (err) {
      // The filter misses a closed header, so the upsert collides with it on the unique id.
      if (isDuplicateKey(err)) throw badParameter(`the log of ${ticketId} is closed; no more text can be added`, { ticketId });
      // Nothing was written under these numbers: the text goes back to the front of the buffer.
      log.segments = segments.concat(log.segments);
      log.bytes += taken;
      this.counters.bufferedBytes += taken;
      throw err;
    }
    if (!header) throw new Error(`ticket log header for ${ticketId} was not returned`);
    const first = header.nextSeq - pieces.length;
    await this.insert(
      log,
      pieces.map((p, i) => ({ ticketId, seq: first + i, ...p })),
    );
  }

  /** Inserts chunks under their reserved numbers; on failure they wait for the next write. */
  private async insert(log: LogState, docs: ChunkDoc[]): Promise<void> {
    try {
      await this.deps.chunks.insertMany(docs, { ordered: false, lean: true });
      log.unwritten = [];
    } catch (err) {
      // Chunks already stored by an earlier attempt collide on (ticketId, seq): they are done.
      const failed = writeErrorIndexes(err);
      const retry = failed === undefined ? docs : docs.filter((_, i) => failed.has(i));
      if (retry.length > 0) {
        log.unwritten = retry;
        throw err;
      }
      log.unwritten = [];
    }
    for (const d of docs) {
      const b = Buffer.byteLength(d.text);
      this.counters.largestChunkBytes = Math.max(this.counters.largestChunkBytes, b);
    }
    this.counters.chunksWritten += docs.length;
  }
}

function checkId(ticketId: string): void {
  if (typeof ticketId !== 'string' || ticketId === '' || ticketId.length > 200) throw badParameter('ticket id must be a non-empty string', { ticketId });
}

/** Cuts text into pieces of at most `max` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, bytes: number, max: number): string[] {
  if (bytes <= max) return [text];
  const buf = Buffer.from(text);
  const out: string[] = [];
  for (let start = 0; start < buf.length; ) {
    let end = Math.min(start + max, buf.length);
    // Continuation bytes are 10xxxxxx: step back to the start of the character.
    while (end < buf.length && end > start && (buf[end]! & 0xc0) === 0x80) end--;
    // A limit smaller than one character: that character goes whole.
    if (end === start) for (end = start + 1; end < buf.length && (buf[end]! & 0xc0) === 0x80; ) end++;
    out.push(buf.toString('utf8', start, end));
    start = end;
  }
  return out;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Indexes of the documents an unordered insertMany failed on for a reason other than a
 * duplicate key, or undefined when the error says nothing per document (retry them all).
 */
function writeErrorIndexes(err: unknown): Set<number> | undefined {
  const list = (err as { writeErrors?: { index: number; code?: number; err?: { code?: number } }[] } | null)?.writeErrors;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return new Set(list.filter((e) => (e.code ?? e.err?.code) !== DUPLICATE_KEY).map((e) => e.index));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
