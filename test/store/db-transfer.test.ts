/**
 * Moving the store: `npm run db -- export` from one store and `import` into another, through
 * the real command (a child process), then compared document for document and index for
 * index; every BSON type survives. The import checks everything before it writes (a bad line
 * names its file and line and leaves the target as it was) and refuses a non-empty target
 * without --drop. An export taken while a writer keeps writing is one point in time.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Binary, Decimal128, EJSON, Long, ObjectId, Timestamp, type Document } from 'bson';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDatabase } from '../../src/store/connect.js';
import { runTransfer } from '../../src/store/transfer/cli.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

let from: TestStore;
let to: TestStore;
let source: MongoClient;
let target: MongoClient;

beforeAll(async () => {
  [from, to] = [await startTestStore(), await startTestStore()];
  source = await new MongoClient(from.dbUri).connect();
  target = await new MongoClient(to.dbUri).connect();
});

afterAll(async () => {
  await source?.db().dropDatabase().catch(() => undefined);
  await target?.db().dropDatabase().catch(() => undefined);
  await source?.close();
  await target?.close();
  await from?.stop();
  await to?.stop();
});

/** `npm run db -- <args>` as a newcomer types it (without npm's banner). */
async function db(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', path.join(root, 'src/store/embedded/cli.ts'), ...args], { cwd: root });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Values as stored, so a number's BSON type is compared too. */
const EXACT = { promoteValues: false, promoteLongs: false } as const;
const canonical = (docs: Document[]) => docs.map((d) => EJSON.stringify(d, { relaxed: false }));
const indexesOf = async (c: MongoClient, name: string) =>
  (await c.db().collection(name).listIndexes().toArray()).map(({ v: _v, ns: _ns, ...spec }) => spec).sort((a, b) => String(a.name).localeCompare(String(b.name)));

describe('npm run db -- export / import', () => {
  it('round-trips every collection, BSON type and index, and a view', async () => {
    const s = source.db();
    const tricky = {
      _id: new ObjectId(),
      when: new Date('2026-12-02T04:00:00.123Z'),
      long: Long.fromString('9007199254740993'),
      dec: Decimal128.fromString('1234.5678901234567890'),
      bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      ts: new Timestamp({ t: 1, i: 2 }),
      int: 7,
      double: 1.5,
      nested: { list: [1, 'two', null, { three: [3] }], empty: {} },
      unicode: 'héllo 世界 🚀',
      dotted: { 'a-b': 1 },
    };
    await s.collection('grants').insertMany([tricky, ...Array.from({ length: 2500 }, (_, i) => ({ _id: new ObjectId(), n: i, host: `web-${i % 7}`, expiresAt: new Date(Date.UTC(2027, 0, 1) + i * 1000) }))]);
    await s.collection('grants').createIndex({ host: 1, n: -1 }, { name: 'host_n' });
    await s.collection('grants').createIndex({ n: 1 }, { unique: true, partialFilterExpression: { n: { $gte: 0 } }, name: 'open_n' });
    await s.collection('sessions').createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    await s.collection('sessions').insertOne({ _id: 'string-id', at: new Date() } as unknown as Document);
    await s.createCollection('empty_one');
    await s.createCollection('recent_grants', { viewOn: 'grants', pipeline: [{ $match: { n: { $lt: 3 } } }] });

    const out = path.join(tempDir('db-export'), 'export');
    const exported = await db('export', '--uri', from.dbUri, '--out', out);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain('3 collections, 1 views, 2502 documents (single-command)');
    expect(exported.stdout).not.toContain(new URL(from.dbUri).password || 'no-password-in-uri');
    expect((fs.statSync(path.join(out, 'grants.jsonl')).mode & 0o777).toString(8)).toBe('600');

    const imported = await db('import', '--uri', to.dbUri, '--from', out);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('3 collections, 1 views, 2502 documents');

    for (const name of ['grants', 'sessions', 'empty_one']) {
      const a = await s.collection(name).find({}, { ...EXACT, sort: { _id: 1 } }).toArray();
      const b = await target.db().collection(name).find({}, { ...EXACT, sort: { _id: 1 } }).toArray();
      expect(canonical(b)).toEqual(canonical(a));
      expect(await indexesOf(target, name)).toEqual(await indexesOf(source, name));
    }
    expect(await target.db().collection('recent_grants').countDocuments()).toBe(3);
    // The unique index came back before the documents and holds.
    await expect(target.db().collection('grants').insertOne({ n: 5 })).rejects.toThrow(/duplicate key/);
  }, 60_000);

  it('refuses a non-empty target unless --drop, and with --drop replaces it', async () => {
    const out = path.join(tempDir('db-export'), 'export');
    expect(await runTransfer(['export', '--uri', from.dbUri, '--out', out], devNull(), devNull())).toBe(0);
    const err = collect();
    expect(await runTransfer(['import', '--uri', to.dbUri, '--from', out], devNull(), err.stream)).toBe(2);
    expect(err.text()).toMatch(/is not empty \(.*grants.*\): import into an empty database, or add --drop/);
    await target.db().collection('grants').insertOne({ _id: new ObjectId(), stray: true });
    expect(await runTransfer(['import', '--uri', to.dbUri, '--from', out, '--drop'], devNull(), devNull())).toBe(0);
    expect(await target.db().collection('grants').countDocuments({ stray: true })).toBe(0);
    expect(await target.db().collection('grants').countDocuments()).toBe(await source.db().collection('grants').countDocuments());
  });

  it('checks everything before writing: a bad line names its file and line, and the target stays empty', async () => {
    const out = path.join(tempDir('db-export'), 'export');
    expect(await runTransfer(['export', '--uri', from.dbUri, '--out', out], devNull(), devNull())).toBe(0);
    const file = path.join(out, 'sessions.jsonl');
    fs.appendFileSync(file, '{"_id": {"$oid": "not-an-object-id"}}\n');
    const badUri = withDatabase(to.uri, `${to.dbName}_bad`);
    const fresh = await new MongoClient(badUri).connect();
    try {
      const err = collect();
      expect(await runTransfer(['import', '--uri', badUri, '--from', out], devNull(), err.stream)).toBe(2);
      expect(err.text()).toMatch(/sessions\.jsonl line 2: not Extended JSON/);
      expect(await fresh.db().listCollections().toArray()).toEqual([]);
      // A file cut short is caught by the manifest's count.
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n')[0] + '\n');
      fs.writeFileSync(path.join(out, 'grants.jsonl'), fs.readFileSync(path.join(out, 'grants.jsonl'), 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
      const err2 = collect();
      expect(await runTransfer(['import', '--uri', badUri, '--from', out], devNull(), err2.stream)).toBe(2);
      expect(err2.text()).toMatch(/grants\.jsonl: 10 documents, manifest\.json says 2501/);
      expect(await fresh.db().listCollections().toArray()).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('an export taken while a writer keeps writing is one point in time', async () => {
    const s = source.db();
    await s.collection('a_orders').deleteMany({});
    await s.collection('b_receipts').deleteMany({});
    // Enough already there that reading one collection takes many round trips while the writer goes on.
    const start = Array.from({ length: 5000 }, (_, i) => ({ i: -1 - i }));
    await s.collection('a_orders').insertMany(start.map((d) => ({ ...d })));
    await s.collection('b_receipts').insertMany(start.map((d) => ({ ...d })));
    // Each order is written before its receipt: any one moment has as many orders as receipts, or one more.
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await s.collection('a_orders').insertOne({ i });
        await s.collection('b_receipts').insertOne({ i });
      }
    })();
    try {
      for (let round = 0; round < 10; round++) {
        const out = path.join(tempDir('db-export'), 'export');
        expect(await runTransfer(['export', '--uri', from.dbUri, '--out', out], devNull(), devNull())).toBe(0);
        const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { consistency: string; collections: Array<{ name: string; count: number }> };
        const count = (n: string) => manifest.collections.find((c) => c.name === n)!.count;
        expect(manifest.consistency).not.toBe('per-collection');
        expect(count('a_orders') - count('b_receipts')).toBeGreaterThanOrEqual(0);
        expect(count('a_orders') - count('b_receipts')).toBeLessThanOrEqual(1);
      }
    } finally {
      stop = true;
      await writer;
    }
  }, 60_000);
});

function devNull(): NodeJS.WritableStream {
  return collect().stream;
}

function collect(): { stream: NodeJS.WritableStream; text(): string } {
  const chunks: string[] = [];
  const stream = { write: (c: string) => (chunks.push(String(c)), true) } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join('') };
}
