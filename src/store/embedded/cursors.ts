/**
 * Server-side cursors: a query's results held for getMore, addressed by Int64 ids.
 * Batches stop at 16 MiB of documents as MongoDB's do; idle cursors expire after 10 minutes.
 */
import { calculateObjectSize, Long } from 'bson';
import type { Doc } from './bson-values.js';
import { ErrorCodes, MongoError } from './errors.js';

const MAX_BATCH_BYTES = 16 * 1024 * 1024;
const IDLE_MS = 10 * 60 * 1000;

interface OpenCursor {
  ns: string;
  docs: Doc[];
  pos: number;
  lastUsed: number;
}

export interface Batch {
  id: Long;
  ns: string;
  docs: Doc[];
}

export class CursorRegistry {
  private readonly open = new Map<string, OpenCursor>();
  private nextId = 1n;

  get size(): number {
    return this.open.size;
  }

  private take(c: OpenCursor, batchSize: number | undefined): Doc[] {
    const out: Doc[] = [];
    let bytes = 0;
    const max = batchSize && batchSize > 0 ? batchSize : Number.POSITIVE_INFINITY;
    while (c.pos < c.docs.length && out.length < max) {
      const d = c.docs[c.pos]!;
      bytes += calculateObjectSize(d);
      if (out.length > 0 && bytes > MAX_BATCH_BYTES) break;
      out.push(d);
      c.pos++;
    }
    return out;
  }

  /** The first batch of `docs`; a cursor stays open only while documents remain. */
  first(ns: string, docs: Doc[], batchSize: number | undefined, singleBatch = false): Batch {
    this.sweep();
    const c: OpenCursor = { ns, docs, pos: 0, lastUsed: Date.now() };
    const batch = this.take(c, batchSize ?? 101);
    if (singleBatch || c.pos >= docs.length) return { id: Long.ZERO, ns, docs: batch };
    const id = this.nextId++;
    this.open.set(id.toString(), c);
    return { id: Long.fromBigInt(id), ns, docs: batch };
  }

  next(id: unknown, ns: string, batchSize: number | undefined): Batch {
    const key = id instanceof Long ? id.toString() : String(id);
    const c = this.open.get(key);
    if (!c) throw new MongoError(ErrorCodes.CursorNotFound, `cursor id ${key} not found`);
    if (c.ns !== ns) throw new MongoError(13, `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${c.ns}`);
    c.lastUsed = Date.now();
    const docs = this.take(c, batchSize);
    const done = c.pos >= c.docs.length;
    if (done) this.open.delete(key);
    return { id: done ? Long.ZERO : (id as Long), ns, docs };
  }

  kill(ids: unknown[]): { killed: Long[]; notFound: Long[] } {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const id of ids) {
      const l = id instanceof Long ? id : Long.fromNumber(Number(id));
      (this.open.delete(l.toString()) ? killed : notFound).push(l);
    }
    return { killed, notFound };
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_MS;
    for (const [k, c] of this.open) if (c.lastUsed < cutoff) this.open.delete(k);
  }
}
