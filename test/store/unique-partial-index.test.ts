/**
 * A unique index with a partialFilterExpression (what the access applications use to allow
 * one open application per requester, host and role): only documents the filter matches
 * count, a document entering or leaving the filter through an update is checked, and
 * concurrent inserts of the same open key let exactly one through.
 */
import { MongoClient, type Collection, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../helpers/store.js';

describe('unique partial index', () => {
  let store: TestStore;
  let client: MongoClient;
  let db: Db;
  let apps: Collection;
  beforeAll(async () => {
    store = await startTestStore();
    client = await MongoClient.connect(store.uri);
    db = client.db(store.dbName);
    apps = db.collection('apps');
    await apps.createIndex({ who: 1, host: 1 }, { unique: true, name: 'open_once', partialFilterExpression: { status: { $in: [1, 3] } } });
  });
  afterAll(async () => {
    await client?.close();
    await store?.stop();
  });

  it('keeps the filter on the index, as listIndexes reports it', async () => {
    const ix = (await apps.indexes()).find((i) => i.name === 'open_once');
    expect(ix).toMatchObject({ unique: true, key: { who: 1, host: 1 }, partialFilterExpression: { status: { $in: [1, 3] } } });
  });

  it('refuses a second open document and lets closed ones repeat', async () => {
    await apps.insertOne({ who: 'bob', host: 'web-01', status: 1 });
    await expect(apps.insertOne({ who: 'bob', host: 'web-01', status: 3 })).rejects.toMatchObject({ code: 11000, keyValue: { who: 'bob', host: 'web-01' } });
    await apps.insertMany([
      { who: 'bob', host: 'web-01', status: 2 },
      { who: 'bob', host: 'web-01', status: 2 },
      { who: 'bob', host: 'web-02', status: 1 },
    ]);
    expect(await apps.countDocuments({ who: 'bob' })).toBe(4);
  });

  it('checks documents that enter the filter through an update, and frees the key when one leaves it', async () => {
    const closed = await apps.findOne({ who: 'bob', host: 'web-01', status: 2 });
    await expect(apps.updateOne({ _id: closed!._id }, { $set: { status: 1 } })).rejects.toMatchObject({ code: 11000 });
    // open -> open (pending -> provisioning) keeps its own key
    await apps.updateOne({ who: 'bob', host: 'web-01', status: 1 }, { $set: { status: 3 } });
    await apps.updateOne({ who: 'bob', host: 'web-01', status: 3 }, { $set: { status: 2 } });
    await apps.insertOne({ who: 'bob', host: 'web-01', status: 1 });
    expect(await apps.countDocuments({ who: 'bob', host: 'web-01', status: { $in: [1, 3] } })).toBe(1);
  });

  it('lets exactly one of many concurrent inserts of the same open key through', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => apps.insertOne({ who: 'carol', host: 'web-09', status: 1 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 11000 });
  });

  it('refuses to build over existing open duplicates, ignoring closed ones', async () => {
    const other = db.collection('apps2');
    await other.insertMany([
      { who: 'a', status: 2 },
      { who: 'a', status: 2 },
      { who: 'a', status: 1 },
    ]);
    await other.createIndex({ who: 1 }, { unique: true, partialFilterExpression: { status: { $in: [1, 3] } } });
    await other.insertOne({ who: 'b', status: 1 });
    await other.insertOne({ who: 'b', status: 2 });
    await expect(other.insertOne({ who: 'b', status: 1 })).rejects.toMatchObject({ code: 11000 });
  });
});
