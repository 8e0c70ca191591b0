/**
 * The embedded store's state: databases of collections, loaded from and journaled to a data
 * folder (or purely in memory when none is given).
 */
import { lookupValues } from './matcher.js';
import { Collection, ID_INDEX, type StoreMetrics } from './collection.js';
import { type Doc } from './bson-values.js';
import { lockDataDir } from './data-dir-lock.js';
import { ErrorCodes, MongoError } from './errors.js';
import { Journal, type JournalRecord } from './journal.js';

export interface StorageOptions {
  /** Data folder; undefined keeps everything in memory. */
  dbpath?: string;
  compactBytes?: number;
  onWarning?: (msg: string) => void;
}

function splitNs(ns: string): [string, string] {
  const dot = ns.indexOf('.');
  return [ns.slice(0, dot), ns.slice(dot + 1)];
}

export function validateCollectionName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '' || name.includes('\0') || name.startsWith('system.') || name.includes('$')) {
    throw new MongoError(ErrorCodes.InvalidNamespace, `Invalid collection name: ${String(name)}`);
  }
}

export function validateDbName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '' || /[/\\. "$\0]/.test(name) || name.length > 63) {
    throw new MongoError(ErrorCodes.InvalidNamespace, `Invalid database name: '${String(name)}'`);
  }
}

export class Storage {
  private readonly dbs = new Map<string, Map<string, Collection>>();
  private journal?: Journal;
  private unlock?: () => Promise<void>;
  private readonly log = (rec: JournalRecord): void => this.journal?.append(rec);
  readonly metrics: StoreMetrics = { scannedObjects: 0 };

  private constructor() {}

  static async open(opts: StorageOptions = {}): Promise<Storage> {
    const s = new Storage();
    if (opts.dbpath) {
      s.unlock = await lockDataDir(opts.dbpath);
      try {
        const { journal, records } = Journal.open(
          { dir: opts.dbpath, compactBytes: opts.compactBytes ?? 64 * 1024 * 1024, onWarning: opts.onWarning ?? (() => undefined) },
          () => s.stateRecords(),
        );
        for (const rec of records) s.replay(rec);
        s.journal = journal;
        // Start-up time stays bounded: a long journal is folded into a snapshot at once.
        if (records.length > 0 && journal.sizeBytes > (opts.compactBytes ?? 64 * 1024 * 1024) / 4) journal.compact();
      } catch (err) {
        await s.unlock();
        throw err;
      }
    }
    return s;
  }

  /** Resolves once every change made so far is durable. */
  commit(): Promise<void> {
    return this.journal ? this.journal.flush() : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.journal?.close();
    this.journal = undefined;
    const unlock = this.unlock;
    this.unlock = undefined;
    await unlock?.();
  }

  databaseNames(): string[] {
    return [...this.dbs.keys()].filter((d) => (this.dbs.get(d)?.size ?? 0) > 0);
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  /** The collection, created implicitly (as MongoDB does on first write) when missing. */
  getOrCreate(db: string, name: string): Collection {
    return this.get(db, name) ?? this.create(db, name, {});
  }

  create(db: string, name: string, opts: Doc, journal = true): Collection {
    validateDbName(db);
    validateCollectionName(name);
    if (this.get(db, name)) throw new MongoError(ErrorCodes.NamespaceExists, `Collection ${db}.${name} already exists.`);
    let colls = this.dbs.get(db);
    if (!colls) this.dbs.set(db, (colls = new Map()));
    const c = new Collection(db, name, opts, this.log, this.metrics);
    colls.set(name, c);
    if (journal) this.log({ o: 'cc', ns: c.ns, opts });
    return c;
  }

  drop(db: string, name: string): boolean {
    const colls = this.dbs.get(db);
    if (!colls?.delete(name)) return false;
    this.log({ o: 'dc', ns: `${db}.${name}` });
    return true;
  }

  dropDatabase(db: string): void {
    if (!this.dbs.delete(db)) return;
    this.log({ o: 'dd', db });
  }

  private replay(rec: JournalRecord): void {
    switch (rec.o) {
      case 'p':
      case 'd': {
        const [db, name] = splitNs(rec.ns);
        const c = this.get(db, name) ?? this.create(db, name, {}, false);
        if (rec.o === 'p') c.restorePut(rec.d);
        else c.restoreDelete(rec.id);
        return;
      }
      case 'cc': {
        const [db, name] = splitNs(rec.ns);
        if (!this.get(db, name)) this.create(db, name, rec.opts ?? {}, false);
        return;
      }
      case 'dc': {
        const [db, name] = splitNs(rec.ns);
        this.dbs.get(db)?.delete(name);
        return;
      }
      case 'dd':
        this.dbs.delete(rec.db);
        return;
      case 'ci': {
        const [db, name] = splitNs(rec.ns);
        const c = this.get(db, name) ?? this.create(db, name, {}, false);
        if (!c.findIndex(rec.spec.name)) c.addIndex(rec.spec, false);
        return;
      }
      case 'di': {
        const [db, name] = splitNs(rec.ns);
        this.get(db, name)?.dropIndex(rec.name, false);
        return;
      }
    }
  }

  /** The whole state as records: what a snapshot holds. */
  private *stateRecords(): Iterable<JournalRecord> {
    for (const colls of this.dbs.values()) {
      for (const c of colls.values()) {
        yield { o: 'cc', ns: c.ns, opts: c.options };
        for (const ix of c.indexes) yield { o: 'ci', ns: c.ns, spec: ix.spec };
        for (const d of c.docs.values()) yield { o: 'p', ns: c.ns, d };
      }
    }
  }

  /** Deletes documents whose TTL index date has passed; returns how many. */
  expireTtl(now = Date.now()): number {
    let removed = 0;
    for (const colls of this.dbs.values()) {
      for (const c of colls.values()) {
        for (const ix of c.indexes) {
          const secs = ix.spec.expireAfterSeconds;
          if (secs === undefined || ix.fields.length !== 1) continue;
          const parts = ix.fields[0]!.split('.');
          for (const d of [...c.docs.values()]) {
            const dates = lookupValues(d, parts)
              .flatMap((v) => (Array.isArray(v) ? v : [v]))
              .filter((v): v is Date => v instanceof Date);
            if (dates.length === 0) continue;
            const earliest = Math.min(...dates.map((x) => x.getTime()));
            if (earliest + secs * 1000 <= now) {
              c.remove(d);
              removed++;
            }
          }
        }
      }
    }
    return removed;
  }

  static idIndexSpec(): typeof ID_INDEX {
    return ID_INDEX;
  }
}
