/**
 * Durability for the embedded store: an append-only journal of absolute changes (put this
 * document, delete that _id, create/drop ...) and a snapshot that compaction writes.
 *
 * A record on disk is `[u32 length][u32 crc32][BSON payload]`. A write is acknowledged only
 * after its record has been written and fdatasync'd; records that arrive while a sync is
 * under way are written together by the next one (group commit). On start-up a torn or
 * corrupt tail is cut off at the last whole record. Because every record states an end
 * result, replaying records that the snapshot already contains is harmless.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { deserialize, serialize } from 'bson';
import type { Doc } from './bson-values.js';
import { DIR_MODE, FILE_MODE } from './data-dir-modes.js';
import type { IndexSpec } from './indexes.js';

export type JournalRecord =
  | { o: 'p'; ns: string; d: Doc }
  | { o: 'd'; ns: string; id: unknown }
  | { o: 'cc'; ns: string; opts: Doc }
  | { o: 'dc'; ns: string }
  | { o: 'dd'; db: string }
  | { o: 'ci'; ns: string; spec: IndexSpec }
  | { o: 'di'; ns: string; name: string };

const HEADER = 8;
/** A record longer than this is treated as corruption, not allocated. */
const MAX_RECORD = 64 * 1024 * 1024;

export function encodeRecord(rec: JournalRecord): Buffer {
  const body = serialize(rec as unknown as Doc);
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

export interface ReadResult {
  records: JournalRecord[];
  /** Byte offset just past the last whole record. */
  goodBytes: number;
  totalBytes: number;
}

export function readRecords(file: string): ReadResult {
  const buf = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const records: JournalRecord[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len < 5 || len > MAX_RECORD || off + HEADER + len > buf.length) break;
    const body = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(body) !== sum) break;
    try {
      records.push(deserialize(body, { promoteValues: false }) as JournalRecord);
    } catch {
      break;
    }
    off += HEADER + len;
  }
  return { records, goodBytes: off, totalBytes: buf.length };
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface JournalOptions {
  dir: string;
  /** Compact when the journal grows past this many bytes. */
  compactBytes: number;
  onWarning: (msg: string) => void;
}

export interface OpenedJournal {
  journal: Journal;
  /** Snapshot records followed by journal records, in order. */
  records: JournalRecord[];
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Journal {
  private fd: number;
  private gen: number;
  private bytes: number;
  private pending: Buffer[] = [];
  private appendedSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private running = false;
  private closed = false;
  private failure: unknown;

  private constructor(
    private readonly opts: JournalOptions,
    gen: number,
    fd: number,
    bytes: number,
    private readonly snapshotState: () => Iterable<JournalRecord>,
  ) {
    this.gen = gen;
    this.fd = fd;
    this.bytes = bytes;
  }

  /**
   * Opens the data folder's snapshot and journal, cutting off a torn tail, and returns the
   * records to replay. `snapshotState` yields the whole current state when compacting.
   */
  static open(opts: JournalOptions, snapshotState: () => Iterable<JournalRecord>): OpenedJournal {
    fs.mkdirSync(opts.dir, { recursive: true, mode: DIR_MODE });
    const names = fs.readdirSync(opts.dir);
    for (const n of names) if (n.endsWith('.tmp')) fs.rmSync(path.join(opts.dir, n), { force: true });
    const gens = names
      .map((n) => /^snapshot\.(\d+)$/.exec(n)?.[1])
      .filter((g): g is string => g !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
    const gen = gens[0] ?? 0;
    const records: JournalRecord[] = [];
    if (gens.length > 0) {
      const snap = readRecords(path.join(opts.dir, `snapshot.${gen}`));
      if (snap.goodBytes !== snap.totalBytes) {
        throw new Error(`snapshot.${gen} in ${opts.dir} is damaged at byte ${snap.goodBytes}; restore it from a backup`);
      }
      for (const r of snap.records) records.push(r); // no spread: a folder may hold millions
    }
    const journalFile = path.join(opts.dir, `journal.${gen}`);
    const j = readRecords(journalFile);
    if (j.goodBytes < j.totalBytes) {
      opts.onWarning(`journal.${gen}: dropped a torn or corrupt tail of ${j.totalBytes - j.goodBytes} bytes after ${j.records.length} whole records`);
      fs.truncateSync(journalFile, j.goodBytes);
    }
    for (const r of j.records) records.push(r);
    // Leftovers of an interrupted compaction belong to older generations.
    for (const n of names) {
      const m = /^(snapshot|journal)\.(\d+)$/.exec(n);
      if (m && Number(m[2]) !== gen) fs.rmSync(path.join(opts.dir, n), { force: true });
    }
    const fd = fs.openSync(journalFile, 'a', FILE_MODE);
    return { journal: new Journal(opts, gen, fd, j.goodBytes, snapshotState), records };
  }

  /** Queues a record; it is on disk once a later `flush()` resolves. */
  append(rec: JournalRecord): void {
    if (this.closed) throw new Error('journal is closed');
    const buf = encodeRecord(rec);
    this.pending.push(buf);
    this.appendedSeq++;
  }

  /** Resolves once every record appended so far is on disk. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.appendedSeq;
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.appendedSeq > this.durableSeq) {
        const batch = Buffer.concat(this.pending);
        const batchSeq = this.appendedSeq;
        this.pending = [];
        await writeAll(this.fd, batch);
        await new Promise<void>((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(e) : res())));
        this.bytes += batch.length;
        this.durableSeq = batchSeq;
        this.waiters = this.waiters.filter((w) => {
          if (w.seq > batchSeq) return true;
          w.resolve();
          return false;
        });
        if (this.bytes > this.opts.compactBytes) this.compact();
      }
    } catch (err) {
      // A journal that cannot be written must not acknowledge anything again.
      this.failure = err;
      for (const w of this.waiters) w.reject(err);
      this.waiters = [];
    } finally {
      this.running = false;
    }
  }

  /**
   * Writes the whole state as a new snapshot generation and starts an empty journal for it.
   * Records still pending are written to the new journal (replaying them is harmless).
   */
  compact(): void {
    const next = this.gen + 1;
    const snapFile = path.join(this.opts.dir, `snapshot.${next}`);
    const tmp = snapFile + '.tmp';
    const fd = fs.openSync(tmp, 'w', FILE_MODE);
    try {
      let chunk: Buffer[] = [];
      let size = 0;
      for (const rec of this.snapshotState()) {
        const b = encodeRecord(rec);
        chunk.push(b);
        size += b.length;
        if (size > 4 * 1024 * 1024) {
          fs.writeSync(fd, Buffer.concat(chunk));
          chunk = [];
          size = 0;
        }
      }
      if (chunk.length > 0) fs.writeSync(fd, Buffer.concat(chunk));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const newJournal = path.join(this.opts.dir, `journal.${next}`);
    fs.writeFileSync(newJournal, Buffer.alloc(0), { mode: FILE_MODE });
    fs.renameSync(tmp, snapFile);
    fsyncDir(this.opts.dir);
    const oldGen = this.gen;
    fs.closeSync(this.fd);
    this.fd = fs.openSync(newJournal, 'a', FILE_MODE);
    this.gen = next;
    this.bytes = 0;
    fs.rmSync(path.join(this.opts.dir, `snapshot.${oldGen}`), { force: true });
    fs.rmSync(path.join(this.opts.dir, `journal.${oldGen}`), { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const go = (off: number): void => {
      fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) return reject(err);
        if (off + n < buf.length) go(off + n);
        else resolve();
      });
    };
    if (buf.length === 0) resolve();
    else go(0);
  });
}
