/**
 * Writes a database to an export folder (format.ts), read at one point in time while the bot
 * keeps writing: through a snapshot session on a replica set, through cursors all opened by one
 * command on the embedded store, which runs a command at a time. Only a
 * standalone MongoDB offers neither; the export then says so (`per-collection`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { EJSON, type Document, type Long } from 'bson';
import type { Db, MongoClient } from 'mongodb';
import { Consistency, EXPORT_FORMAT, EXPORT_VERSION, fileFor, type CollectionEntry, type Manifest } from './format.js';

type ConsistencyValue = Manifest['consistency'];

/** Values as stored: an Int32 stays Int32 and a Long a Long (the driver would make numbers of them). */
const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false } as const;

export interface ExportResult {
  manifest: Manifest;
  folder: string;
}

export async function exportDatabase(client: MongoClient, dbName: string, outDir: string): Promise<ExportResult> {
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) throw new TransferError(`${outDir} is not empty: export into a new folder`);
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const db = client.db(dbName);
  const consistency = await consistencyOf(db);
  const infos = (await db.listCollections({}, { nameOnly: false }).toArray()).filter((c) => !c.name.startsWith('system.')).sort((a, b) => (a.name < b.name ? -1 : 1));
  const entries: CollectionEntry[] = [];
  for (const info of infos) {
    const type = info.type === 'view' ? 'view' : 'collection';
    const indexes = type === 'view' ? [] : (await db.collection(info.name).listIndexes().toArray()).filter((ix) => ix.name !== '_id_').map(stripIndex);
    entries.push({ name: info.name, type, options: (info.options ?? {}) as Record<string, unknown>, file: type === 'view' ? null : fileFor(info.name), count: 0, indexes });
  }
  const writers = new Map(entries.filter((e) => e.file).map((e) => [e.name, new LineFile(path.join(outDir, e.file!))]));
  const write = (collection: string, doc: Document): void => writers.get(collection)!.line(EJSON.stringify(doc, { relaxed: false }));
  const names = [...writers.keys()];
  if (consistency === Consistency.SnapshotSession) {
    const session = client.startSession({ snapshot: true });
    try {
      for (const name of names) for await (const doc of db.collection(name).find({}, { ...EXACT, session, sort: { _id: 1 } })) write(name, doc);
    } finally {
      await session.endSession();
    }
  } else if (consistency === Consistency.SingleCommand && names.length > 0) {
    for await (const [name, doc] of snapshotCursors(db, names)) write(name, doc);
  } else {
    for (const name of names) for await (const doc of db.collection(name).find({}, { ...EXACT, sort: { _id: 1 } })) write(name, doc);
  }
  for (const e of entries) {
    const w = writers.get(e.name);
    if (!w) continue;
    w.close();
    e.count = w.lines;
  }
  const manifest: Manifest = { format: EXPORT_FORMAT, version: EXPORT_VERSION, database: dbName, exportedAt: new Date().toISOString(), consistency, collections: entries };
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return { manifest, folder: outDir };
}

/**
 * The embedded store's cursors over every collection, opened by one command (one point in
 * time, see its opsgateSnapshotCursors), read out with getMore.
 */
async function* snapshotCursors(db: Db, names: string[]): AsyncGenerator<[string, Document]> {
  const opened = (await db.command({ opsgateSnapshotCursors: 1, collections: names }, EXACT)) as { cursors: Array<{ name: string; id: Long; firstBatch: Document[] }> };
  for (const c of opened.cursors) {
    for (const d of c.firstBatch) yield [c.name, d];
    let id = c.id;
    while (!id.isZero()) {
      const more = (await db.command({ getMore: id, collection: c.name, batchSize: 1000 }, EXACT)) as { cursor: { id: Long; nextBatch: Document[] } };
      for (const d of more.cursor.nextBatch) yield [c.name, d];
      id = more.cursor.id;
    }
  }
}

async function consistencyOf(db: Db): Promise<ConsistencyValue> {
  const hello = await db.admin().command({ hello: 1 });
  if (hello.setName || hello.msg === 'isdbgrid') return Consistency.SnapshotSession;
  const build = await db.admin().command({ buildInfo: 1 });
  return build.gitVersion === 'opsgate-embedded' ? Consistency.SingleCommand : Consistency.PerCollection;
}

/** What createIndexes takes back: the server's bookkeeping (v, ns) left out. */
function stripIndex(ix: Document): CollectionEntry['indexes'][number] {
  const { v: _v, ns: _ns, ...spec } = ix;
  return spec as CollectionEntry['indexes'][number];
}

/** Buffered lines to a file (0600: the export holds everything the bot knows). */
class LineFile {
  private readonly fd: number;
  private buf: string[] = [];
  private size = 0;
  /** Lines written so far: the collection's document count. */
  lines = 0;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'wx', 0o600);
  }
  line(text: string): void {
    this.buf.push(text, '\n');
    this.size += text.length + 1;
    this.lines++;
    if (this.size > 1 << 20) this.flush();
  }
  close(): void {
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }
  private flush(): void {
    if (this.buf.length) fs.writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }
}

export class TransferError extends Error {
  override name = 'TransferError';
}
