/**
 * Loads an export folder (format.ts) into a database: everything is read and checked first
 * (manifest, every line's Extended JSON, the counts), and only then written, collections and
 * their indexes first and documents after, so a unique index refuses a duplicate on the way in.
 * A target holding any collection is refused unless `drop` is asked for.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { EJSON, type Document } from 'bson';
import type { MongoClient } from 'mongodb';
import { TransferError } from './export.js';
import { manifestSchema, type Manifest } from './format.js';

export interface ImportResult {
  collections: Array<{ name: string; count: number }>;
  views: string[];
  dropped: string[];
}

const BATCH = 1000;

export function readManifest(fromDir: string): Manifest {
  const file = path.join(fromDir, 'manifest.json');
  if (!fs.existsSync(file)) throw new TransferError(`${file} not found: not an export folder`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TransferError(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new TransferError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'manifest'} ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Every document of one collection's file, each line checked; the error names file and line. */
async function* documents(fromDir: string, file: string): AsyncGenerator<Document> {
  const full = path.join(fromDir, file);
  if (!fs.existsSync(full)) throw new TransferError(`${file} is listed in manifest.json but missing`);
  const lines = readline.createInterface({ input: fs.createReadStream(full, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === '') continue;
    let doc: unknown;
    try {
      doc = EJSON.parse(line, { relaxed: false });
    } catch (err) {
      throw new TransferError(`${file} line ${n}: not Extended JSON (${(err as Error).message})`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new TransferError(`${file} line ${n}: not a document`);
    if (!('_id' in doc)) throw new TransferError(`${file} line ${n}: the document has no _id`);
    yield doc as Document;
  }
}

export async function importDatabase(client: MongoClient, dbName: string, fromDir: string, opts: { drop?: boolean } = {}): Promise<ImportResult> {
  const manifest = readManifest(fromDir);
  // Checked in full before anything is written: a bad line fails the import and leaves the target as it was.
  for (const c of manifest.collections) {
    if (!c.file) continue;
    let count = 0;
    for await (const _ of documents(fromDir, c.file)) count++;
    if (count !== c.count) throw new TransferError(`${c.file}: ${count} documents, manifest.json says ${c.count} (the export is incomplete)`);
  }
  const db = client.db(dbName);
  const existing = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.'));
  if (existing.length > 0 && !opts.drop) throw new TransferError(`database ${dbName} is not empty (${existing.slice(0, 5).join(', ')}${existing.length > 5 ? ', …' : ''}): import into an empty database, or add --drop to replace it`);
  for (const name of existing) await db.dropCollection(name);

  const collections = manifest.collections.filter((c) => c.type === 'collection');
  for (const c of collections) {
    await db.createCollection(c.name, c.options as Document);
    if (c.indexes.length > 0) await db.collection(c.name).createIndexes(c.indexes as never);
  }
  // Views last: they may read collections created above.
  const views = manifest.collections.filter((c) => c.type === 'view');
  for (const v of views) await db.createCollection(v.name, v.options as Document);

  const result: ImportResult = { collections: [], views: views.map((v) => v.name), dropped: existing };
  for (const c of collections) {
    const target = db.collection(c.name);
    let batch: Document[] = [];
    let count = 0;
    for await (const doc of documents(fromDir, c.file!)) {
      batch.push(doc);
      if (batch.length === BATCH) {
        await target.insertMany(batch, { ordered: true });
        count += batch.length;
        batch = [];
      }
    }
    if (batch.length > 0) await target.insertMany(batch, { ordered: true });
    count += batch.length;
    result.collections.push({ name: c.name, count });
  }
  return result;
}
