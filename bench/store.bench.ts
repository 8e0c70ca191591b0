/**
 * `npm run bench:store`: the embedded store's figures on this machine. The store runs in its
 * own process (as `npm run db` does) with the journal on, so client and server do not share
 * an event loop.
 *   - acknowledged inserts per second from 8 concurrent clients
 *   - indexed point-find latency (median, p99) on a 100,000-document collection
 *   - findAndModify per second from 8 concurrent clients
 *   - start-up time of a data folder holding those 100,000 documents
 *   - time for one 45 MB message (an insertMany of three 15 MB documents) to arrive and be answered
 *   - ping latency from a good client while 40 others each stream an unfinished 47 MB message
 *     (issue 13: before the limits this took 13.5 s and pings went past 20 s)
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { serialize } from 'bson';
import { MongoClient } from 'mongodb';
import { spawnStore } from '../test/helpers/store-process.js';
import { tempDir } from '../test/helpers/store.js';
import { fmt, line, summarize } from './stats.js';
import { drainOrClose } from '../src/store/embedded/socket-drain.js';

const CLIENTS = 8;
const INSERT_SECONDS = 5;
const FIND_SAMPLES = 20_000;
const FAM_SECONDS = 5;
const COLLECTION_SIZE = 100_000;


/**
 * Time from the first byte of a 47 MB OP_MSG (a ping carrying a document sequence, so nothing is
 * journaled) to its reply: how fast the store takes in one big message.
 */
async function timeBigMessage(port: number): Promise<number> {
  const docs = Array.from({ length: 3 }, () => serialize({ s: 'q'.repeat(15_600_000) }));
  const body = serialize({ ping: 1, $db: 'admin' });
  const id = Buffer.from('documents\0');
  const seqLen = 4 + id.length + docs.reduce((n, d) => n + d.length, 0);
  const total = 16 + 4 + 1 + body.length + 1 + seqLen;
  const head = Buffer.alloc(16 + 4 + 1);
  head.writeInt32LE(total, 0);
  head.writeInt32LE(1, 4);
  head.writeInt32LE(2013, 12);
  const seqHead = Buffer.alloc(5);
  seqHead[0] = 1;
  seqHead.writeInt32LE(seqLen, 1);
  const msg = Buffer.concat([head, body, seqHead, id, ...docs]);
  const sock = await new Promise<net.Socket>((resolve) => {
    const so = net.connect(port, '127.0.0.1', () => resolve(so));
  });
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    sock.once('data', () => resolve());
    sock.once('close', () => reject(new Error('the store closed the connection')));
    sock.write(msg);
  });
  const ms = performance.now() - t0;
  sock.destroy();
  return ms;
}

async function clients(uri: string, n: number): Promise<MongoClient[]> {
  return Promise.all(Array.from({ length: n }, () => MongoClient.connect(uri, { maxPoolSize: 1 })));
}

async function forSeconds(seconds: number, each: (worker: number, i: number) => Promise<void>, workers: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await each(w, i);
        done++;
      }
    }),
  );
  return done;
}

export async function benchStore(): Promise<void> {
  const dir = tempDir('bench-store');
  let proc = await spawnStore(dir);
  const cs = await clients(proc.uri, CLIENTS);
  process.stdout.write(`\n== embedded store (journal on, data in ${dir}) ==\n`);

  // 1. Acknowledged inserts: each insertOne returns only after its journal record is synced.
  const t0 = performance.now();
  const inserted = await forSeconds(
    INSERT_SECONDS,
    async (w, i) => {
      await cs[w]!.db('bench').collection('inserts').insertOne({ w, i, at: new Date(), pad: 'x'.repeat(100) });
    },
    CLIENTS,
  );
  const insertRate = inserted / ((performance.now() - t0) / 1000);
  line(`acknowledged inserts/s (${CLIENTS} clients, ${INSERT_SECONDS} s)`, `${Math.round(insertRate)}  (target >= 5000)`);

  // 2. Point finds on an indexed field of a 100,000-document collection.
  const docs = cs[0]!.db('bench').collection('docs');
  for (let b = 0; b < COLLECTION_SIZE; b += 10_000) {
    await docs.insertMany(Array.from({ length: 10_000 }, (_, i) => ({ key: `k${b + i}`, n: b + i, pad: 'y'.repeat(64) })));
  }
  await docs.createIndex({ key: 1 }, { unique: true });
  const samples: number[] = [];
  for (let i = 0; i < FIND_SAMPLES; i++) {
    const k = `k${(i * 7919) % COLLECTION_SIZE}`;
    const s = performance.now();
    const d = await docs.findOne({ key: k });
    samples.push(performance.now() - s);
    if (!d) throw new Error(`missing ${k}`);
  }
  const f = summarize(samples);
  line(`indexed point find on ${COLLECTION_SIZE} docs, median ms`, `${fmt(f.median)}  (target <= 0.5)`);
  line(`indexed point find on ${COLLECTION_SIZE} docs, p99 ms`, fmt(f.p99));

  // 3. findAndModify: the approval pattern, filter on _id and expected state.
  const t1 = performance.now();
  const fams = await forSeconds(
    FAM_SECONDS,
    async (w, i) => {
      await cs[w]!.db('bench').collection('docs').findOneAndUpdate({ key: `k${(w * 100_003 + i * 31) % COLLECTION_SIZE}` }, { $inc: { n: 1 } });
    },
    CLIENTS,
  );
  line(`findAndModify/s (${CLIENTS} clients, ${FAM_SECONDS} s)`, String(Math.round(fams / ((performance.now() - t1) / 1000))));

  await Promise.all(cs.map((c) => c.close()));

  // 4. Restart on the same folder: replay (or snapshot load) time for everything written above.
  proc.child.kill('SIGTERM');
  await proc.exited;
  const s = performance.now();
  // Section 5's raw sockets do not authenticate: let them send what an authenticated client may.
  proc = await spawnStore(dir, ['--max-unauthenticated-message-bytes', '48000000']);
  const c = await MongoClient.connect(proc.uri);
  const count = await c.db('bench').collection('docs').estimatedDocumentCount();
  line(`restart with ${count + inserted} docs until first answer, ms`, fmt(performance.now() - s, 0));
  await c.close();

  // 5. One big message and pings under abuse (the limits of issue 13 item 5).
  const big = await MongoClient.connect(proc.uri);
  const fifteen = 'z'.repeat(15_000_000);
  const b0 = performance.now();
  await big.db('bench').collection('big').insertMany([{ s: fifteen }, { s: fifteen }, { s: fifteen }]);
  line('one 45 MB insertMany message, sent until acknowledged, ms', fmt(performance.now() - b0, 0));
  const port = Number(/:(\d+)\//.exec(proc.uri)![1]);
  line('one 47 MB message (ping + 3 x 15.6 MB documents), sent until answered, ms', fmt(await timeBigMessage(port), 0));
  const abusers = await Promise.all(
    Array.from({ length: 40 }, () => new Promise<net.Socket>((resolve) => { const so = net.connect(port, '127.0.0.1', () => resolve(so)); so.on('error', () => undefined); })),
  );
  const chunk = Buffer.alloc(1024 * 1024);
  let abusing = true;
  const streams = abusers.map(async (a) => {
    const h = Buffer.alloc(16);
    h.writeInt32LE(47_000_000, 0);
    h.writeInt32LE(2013, 12);
    a.write(h);
    for (let sent = 0; abusing && sent < 46_000_000 && !a.destroyed; sent += chunk.length) {
      if (!a.write(chunk)) await drainOrClose(a);
    }
  });
  const pings: number[] = [];
  for (let i = 0; i < 200; i++) {
    const p0 = performance.now();
    await big.db('admin').command({ ping: 1 });
    pings.push(performance.now() - p0);
  }
  abusing = false;
  for (const a of abusers) a.destroy();
  await Promise.all(streams);
  const pg = summarize(pings);
  line('ping while 40 clients stream unfinished 47 MB messages, median / p99 / max ms', `${fmt(pg.median)} / ${fmt(pg.p99)} / ${fmt(pg.max)}`);
  await big.close();
  proc.child.kill('SIGTERM');
  await proc.exited;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchStore();
}
