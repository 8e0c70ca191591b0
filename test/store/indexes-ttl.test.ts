/**
 * Indexes do their jobs: point lookups by _id and by an indexed field examine one document,
 * not the collection (serverStatus metrics.queryExecutor.scannedObjects, as mongod reports
 * it); unique indexes hold; TTL indexes expire documents.
 */
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../helpers/store.js';

describe('indexes', () => {
  let store: TestStore;
  let client: MongoClient;
  let db: Db;
  beforeAll(async () => {
    store = await startTestStore();
    client = await MongoClient.connect(store.uri);
    db = client.db(store.dbName);
    const hosts = db.collection('hosts');
    await hosts.insertMany(Array.from({ length: 5000 }, (_, i) => ({ _id: `h${i}` as never, name: `web-${i}`, env: i % 2 ? 'prod' : 'stage' })));
    await hosts.createIndex({ name: 1 }, { unique: true });
  });
  afterAll(async () => {
    await client.close();
    await store.stop();
  });

  async function scanned(): Promise<number> {
    const s = await client.db('admin').command({ serverStatus: 1 });
    return Number(s.metrics.queryExecutor.scannedObjects);
  }

  it('answers a lookup by _id without scanning the collection', async () => {
    const before = await scanned();
    expect(await db.collection('hosts').findOne({ _id: 'h4321' as never })).toMatchObject({ name: 'web-4321' });
    expect((await scanned()) - before).toBeLessThanOrEqual(2);
  });

  it('answers a lookup by an indexed field without scanning the collection', async () => {
    const before = await scanned();
    expect(await db.collection('hosts').findOne({ name: 'web-17' })).toMatchObject({ _id: 'h17' });
    expect(await db.collection('hosts').countDocuments({ name: { $in: ['web-1', 'web-2', 'nope'] } })).toBe(2);
    expect((await scanned()) - before).toBeLessThanOrEqual(6);
  });

  it('scans when no index can help (the counter is live)', async () => {
    const before = await scanned();
    expect(await db.collection('hosts').countDocuments({ env: 'prod' })).toBe(2500);
    expect((await scanned()) - before).toBeGreaterThanOrEqual(5000);
  });

  it('refuses a unique index over existing duplicates and leaves no index behind', async () => {
    await expect(db.collection('hosts').createIndex({ env: 1 }, { unique: true })).rejects.toMatchObject({ code: 11000 });
    const names = (await db.collection('hosts').indexes()).map((i) => i.name);
    expect(names).toEqual(['_id_', 'name_1']);
  });

  it('keeps the index right across updates and deletes', async () => {
    const hosts = db.collection('hosts');
    await hosts.updateOne({ _id: 'h1' as never }, { $set: { name: 'renamed-1' } });
    expect(await hosts.findOne({ name: 'web-1' })).toBeNull();
    expect(await hosts.findOne({ name: 'renamed-1' })).toMatchObject({ _id: 'h1' });
    await hosts.insertOne({ _id: 'h-new' as never, name: 'web-1' }); // the old key is free again
    await hosts.deleteOne({ _id: 'h-new' as never });
    expect(await hosts.findOne({ name: 'web-1' })).toBeNull();
    await expect(hosts.updateOne({ _id: 'h2' as never }, { $set: { name: 'web-3' } })).rejects.toMatchObject({ code: 11000, keyValue: { name: 'web-3' } });
    expect(await hosts.findOne({ _id: 'h2' as never })).toMatchObject({ name: 'web-2' });
  });

  it('expires documents through a TTL index', async () => {
    await client.db('admin').command({ setParameter: 1, ttlMonitorSleepSecs: 1 });
    const sessions = db.collection('sessions');
    await sessions.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    await sessions.insertMany([
      { _id: 'old' as never, expiresAt: new Date(Date.now() - 1000) },
      { _id: 'future' as never, expiresAt: new Date(Date.now() + 3_600_000) },
      { _id: 'no-date' as never, expiresAt: 'not a date' },
    ]);
    const deadline = Date.now() + 70_000;
    while ((await sessions.findOne({ _id: 'old' as never })) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect((await sessions.find({}).sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(['future', 'no-date']);
  }, 90_000);
});
