/**
 * One collection held in memory: documents by canonical _id key (insertion order is the
 * natural order), secondary indexes, and every change reported to the journal.
 */
import { canonicalKey, type Doc } from './bson-values.js';
import { ErrorCodes, MongoError } from './errors.js';
import { Index, type IndexSpec } from './indexes.js';
import { compileFilter, equalityCandidates } from './matcher.js';
import type { JournalRecord } from './journal.js';

export type LogFn = (rec: JournalRecord) => void;

/** Counters serverStatus reports under `metrics.queryExecutor`, as mongod does. */
export interface StoreMetrics {
  /** Documents examined by queries: shows whether a lookup used an index or scanned. */
  scannedObjects: number;
}

export const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };

export class Collection {
  readonly docs = new Map<string, Doc>();
  readonly indexes: Index[] = [];

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Doc,
    private readonly log: LogFn,
    readonly metrics: StoreMetrics = { scannedObjects: 0 },
  ) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /** Inserts a document that already has an _id. */
  insert(doc: Doc): void {
    const idKey = canonicalKey(doc._id);
    if (this.docs.has(idKey)) {
      throw new MongoError(ErrorCodes.DuplicateKey, `E11000 duplicate key error collection: ${this.ns} index: _id_ dup key: { _id: ${JSON.stringify(doc._id)} }`, {
        keyPattern: { _id: 1 },
        keyValue: { _id: doc._id },
      });
    }
    for (const ix of this.indexes) ix.checkUnique(doc, idKey, this.ns);
    this.store(idKey, doc);
    this.log({ o: 'p', ns: this.ns, d: doc });
  }

  /** Replaces a stored document by its updated copy (same _id). */
  replace(oldDoc: Doc, newDoc: Doc): void {
    const idKey = canonicalKey(oldDoc._id);
    for (const ix of this.indexes) ix.remove(oldDoc, idKey);
    try {
      for (const ix of this.indexes) ix.checkUnique(newDoc, idKey, this.ns);
    } catch (err) {
      for (const ix of this.indexes) ix.add(oldDoc, idKey);
      throw err;
    }
    this.docs.set(idKey, newDoc);
    for (const ix of this.indexes) ix.add(newDoc, idKey);
    this.log({ o: 'p', ns: this.ns, d: newDoc });
  }

  remove(doc: Doc): void {
    const idKey = canonicalKey(doc._id);
    if (!this.docs.delete(idKey)) return;
    for (const ix of this.indexes) ix.remove(doc, idKey);
    this.log({ o: 'd', ns: this.ns, id: doc._id });
  }

  /** Replay path: put without uniqueness checks or journaling (the journal is the source). */
  restorePut(doc: Doc): void {
    const idKey = canonicalKey(doc._id);
    const old = this.docs.get(idKey);
    if (old) for (const ix of this.indexes) ix.remove(old, idKey);
    this.store(idKey, doc);
  }

  restoreDelete(id: unknown): void {
    const idKey = canonicalKey(id);
    const old = this.docs.get(idKey);
    if (!old) return;
    this.docs.delete(idKey);
    for (const ix of this.indexes) ix.remove(old, idKey);
  }

  private store(idKey: string, doc: Doc): void {
    this.docs.set(idKey, doc);
    for (const ix of this.indexes) ix.add(doc, idKey);
  }

  findIndex(name: string): Index | undefined {
    return this.indexes.find((ix) => ix.spec.name === name);
  }

  /** Builds an index over the existing documents; refuses if a unique index would be broken. */
  addIndex(spec: IndexSpec, journal = true): void {
    const ix = new Index(spec);
    for (const [idKey, doc] of this.docs) {
      if (spec.unique) ix.checkUnique(doc, idKey, this.ns);
      ix.add(doc, idKey);
    }
    this.indexes.push(ix);
    if (journal) this.log({ o: 'ci', ns: this.ns, spec });
  }

  dropIndex(name: string, journal = true): void {
    const at = this.indexes.findIndex((ix) => ix.spec.name === name);
    if (at < 0) return;
    this.indexes.splice(at, 1);
    if (journal) this.log({ o: 'di', ns: this.ns, name });
  }

  /**
   * Documents that may match `filter`, narrowed by the _id hash or an equality index when the
   * filter allows; the caller still applies the full filter.
   */
  candidates(filter: Doc | undefined): Iterable<Doc> {
    const eq = equalityCandidates(filter);
    const ids = eq.get('_id');
    if (ids) {
      const out: Doc[] = [];
      const seen = new Set<string>();
      for (const id of ids) {
        const k = canonicalKey(id);
        const d = this.docs.get(k);
        if (d && !seen.has(k)) {
          seen.add(k);
          out.push(d);
        }
      }
      return out;
    }
    let best: Set<string> | undefined;
    for (const ix of this.indexes) {
      if (ix.spec.partialFilterExpression || ix.spec.sparse) continue;
      const values = eq.get(ix.fields[0]!);
      if (!values) continue;
      const hits = new Set<string>();
      for (const v of values) for (const k of ix.lookupFirstField(v)) hits.add(k);
      if (!best || hits.size < best.size) best = hits;
    }
    if (!best) return this.docs.values();
    // As in MongoDB, documents found through an index come back in index order.
    const chosen = best;
    return [...chosen].map((k) => this.docs.get(k)!).filter(Boolean);
  }

  /** All documents matching `filter`, in natural order. */
  match(filter: Doc | undefined, variables?: Doc): Doc[] {
    const pred = compileFilter(filter, variables);
    const out: Doc[] = [];
    for (const d of this.candidates(filter)) {
      this.metrics.scannedObjects++;
      if (pred(d)) out.push(d);
    }
    return out;
  }
}
