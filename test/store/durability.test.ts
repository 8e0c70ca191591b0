/**
 * Durability of the embedded store: what was acknowledged survives SIGKILL, a torn journal tail
 * is dropped without harming the rest, compaction keeps the journal bounded, and a second
 * process cannot open the same data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { Storage } from '../../src/store/embedded/storage.js';
import { spawnStore, type StoreProcess } from '../helpers/store-process.js';
import { onEmbeddedStore, tempDir } from '../helpers/store.js';

const running: StoreProcess[] = [];
const clients: MongoClient[] = [];

async function start(dbpath: string): Promise<StoreProcess> {
  const p = await spawnStore(dbpath);
  running.push(p);
  return p;
}

async function connect(uri: string): Promise<MongoClient> {
  const c = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close(true).catch(() => undefined);
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

async function kill9(p: StoreProcess): Promise<void> {
  p.child.kill('SIGKILL');
  const { signal } = await p.exited;
  expect(signal).toBe('SIGKILL');
}

describe.runIf(onEmbeddedStore)('embedded store durability', () => {
  it('keeps every acknowledged write across SIGKILL', async () => {
    const dir = tempDir('durable');
    const first = await start(dir);
    const client = await connect(first.uri);
    const coll = client.db('d').collection('writes');
    const acked: number[] = [];
    let stop = false;
    // Eight writers insert as fast as they can; the store is killed while they are busy.
    const writers = Array.from({ length: 8 }, (_, w) =>
      (async () => {
        for (let i = 0; !stop; i++) {
          const n = w * 1_000_000 + i;
          try {
            await coll.insertOne({ _id: n as never, w, i, pad: 'x'.repeat(200) });
            acked.push(n);
          } catch {
            return;
          }
        }
      })(),
    );
    while (acked.length < 2000) await new Promise((r) => setTimeout(r, 20));
    await kill9(first);
    stop = true;
    await Promise.all(writers);
    await client.close(true);

    const second = await start(dir);
    const c2 = await connect(second.uri);
    const ids = new Set((await c2.db('d').collection('writes').find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id as unknown as number));
    const missing = acked.filter((n) => !ids.has(n));
    expect(acked.length).toBeGreaterThanOrEqual(2000);
    expect(missing).toEqual([]);
    // Updates and deletes are journaled too.
    const w = c2.db('d').collection('writes');
    await w.updateOne({ _id: acked[0] as never }, { $set: { touched: true } });
    await w.deleteOne({ _id: acked[1] as never });
    await kill9(second);
    const third = await start(dir);
    const w3 = (await connect(third.uri)).db('d').collection('writes');
    expect(await w3.findOne({ _id: acked[0] as never })).toMatchObject({ touched: true });
    expect(await w3.findOne({ _id: acked[1] as never })).toBeNull();
  });

  it('drops a torn last record and keeps the rest', async () => {
    const dir = tempDir('torn');
    const p = await start(dir);
    const coll = (await connect(p.uri)).db('d').collection('c');
    for (let i = 0; i < 50; i++) await coll.insertOne({ _id: i as never, v: i });
    await kill9(p);

    const journal = fs.readdirSync(dir).find((f) => f.startsWith('journal.'))!;
    const file = path.join(dir, journal);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // cut into the last record, as a crash mid-write would

    const again = await start(dir);
    const c2 = (await connect(again.uri)).db('d').collection('c');
    const docs = await c2.find({}).sort({ _id: 1 }).toArray();
    expect(docs.map((d) => d._id)).toEqual(Array.from({ length: 49 }, (_, i) => i));
    expect(again.stderr()).toMatch(/dropped a torn or corrupt tail of \d+ bytes after \d+ whole records/);
    // The store goes on accepting writes after the cut.
    await c2.insertOne({ _id: 49 as never, v: 'again' });
    await kill9(again);

    const third = await start(dir);
    const c3 = (await connect(third.uri)).db('d').collection('c');
    expect(await c3.countDocuments()).toBe(50);
    expect(await c3.findOne({ _id: 49 as never })).toMatchObject({ v: 'again' });
  });

  it('ignores garbage appended after the last whole record', async () => {
    const dir = tempDir('garbage');
    const p = await start(dir);
    const coll = (await connect(p.uri)).db('d').collection('c');
    await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i as never })));
    await kill9(p);
    const journal = fs.readdirSync(dir).find((f) => f.startsWith('journal.'))!;
    fs.appendFileSync(path.join(dir, journal), Buffer.from([0x30, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
    const again = await start(dir);
    expect(await (await connect(again.uri)).db('d').collection('c').countDocuments()).toBe(20);
  });

  it('refuses a second process on the same data folder with a clear message', async () => {
    const dir = tempDir('lock');
    await start(dir);
    const err = await spawnStore(dir).then(
      (p) => {
        running.push(p);
        return undefined;
      },
      (e: Error & { stderr?: string }) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.stderr).toMatch(/data folder .* is already in use by process \d+/);
  });

  it('takes over the lock a killed process left behind', async () => {
    const dir = tempDir('stale-lock');
    const p = await start(dir);
    await kill9(p);
    expect(fs.existsSync(path.join(dir, 'mongod.lock'))).toBe(true);
    const again = await start(dir);
    expect(await (await connect(again.uri)).db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  });

  it('replays a journal of 200,000 records', async () => {
    const dir = tempDir('long-journal');
    const s = await Storage.open({ dbpath: dir, compactBytes: 1024 * 1024 * 1024 });
    const c = s.getOrCreate('d', 'many');
    for (let i = 0; i < 200_000; i++) c.insert({ _id: i, v: i });
    await s.commit();
    await s.close();
    const reopened = await Storage.open({ dbpath: dir, compactBytes: 1024 * 1024 * 1024 });
    expect(reopened.get('d', 'many')!.docs.size).toBe(200_000);
    await reopened.close();
  });

  it('compacts the journal into a snapshot and restores from it', async () => {
    const dir = tempDir('compact');
    const s = await Storage.open({ dbpath: dir, compactBytes: 64 * 1024 });
    const c = s.getOrCreate('d', 'c');
    // Rewriting the same 100 documents many times: the journal grows, the state does not.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) {
        const old = c.docs.get('n' + i);
        const doc = { _id: i, round, pad: 'y'.repeat(100) };
        if (old) c.replace(old, doc);
        else c.insert(doc);
      }
      await s.commit();
    }
    await s.close();
    const files = fs.readdirSync(dir).sort();
    const snapshot = files.find((f) => f.startsWith('snapshot.'));
    const journal = files.find((f) => f.startsWith('journal.'))!;
    expect(snapshot).toBeDefined();
    expect(fs.statSync(path.join(dir, journal)).size).toBeLessThan(64 * 1024 + 20_000);
    expect(files.filter((f) => f.startsWith('journal.'))).toHaveLength(1);

    const reopened = await Storage.open({ dbpath: dir });
    const docs = [...reopened.get('d', 'c')!.docs.values()];
    expect(docs).toHaveLength(100);
    expect(docs.every((d) => Number(d.round) === 39)).toBe(true);
    await reopened.close();
  });
});
