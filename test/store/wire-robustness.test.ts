/**
 * Malformed input closes only the connection that sent it, with a log line; the server goes on
 * serving everyone else. Also: 50 racing findOneAndUpdate calls from separate connections,
 * exactly one of which wins.
 */
import net from 'node:net';
import { MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from '../../src/store/embedded/server.js';
import { onEmbeddedStore, startTestStore, type TestStore } from '../helpers/store.js';

function header(length: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(1, 4);
  h.writeInt32LE(0, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** Sends raw bytes and resolves once the server has closed the connection. */
function sendAndAwaitClose(port: number, bytes: Buffer): Promise<{ closedMs: number; received: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = 0;
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    sock.on('data', (d) => (received += d.length));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ closedMs: Date.now() - started, received }));
    setTimeout(() => {
      sock.destroy();
      reject(new Error('server kept the connection open'));
    }, 5000);
  });
}

describe.runIf(onEmbeddedStore)('malformed wire input', () => {
  let server: EmbeddedMongoServer;
  let client: MongoClient;
  const warnings: string[] = [];

  beforeAll(async () => {
    server = await EmbeddedMongoServer.start({
      logger: { info: () => undefined, warn: (_o, msg) => warnings.push(String(msg)) },
    });
    client = await MongoClient.connect(server.uri);
    await client.db('w').collection('c').insertOne({ _id: 'still-here' as never });
  });
  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  async function stillServes(): Promise<void> {
    expect(await client.db('w').collection('c').findOne({ _id: 'still-here' as never })).toEqual({ _id: 'still-here' });
  }

  const cases: Array<[string, () => Buffer, RegExp]> = [
    ['a length below the header size', () => Buffer.concat([header(5, 2013), Buffer.alloc(4)]), /message length 5 is outside/],
    ['a 100 MB length prefix', () => header(100 * 1024 * 1024, 2013), /message length 104857600 is outside/],
    ['an unknown opcode', () => Buffer.concat([header(20, 9999), Buffer.alloc(4)]), /unsupported opcode 9999/],
    [
      'invalid BSON in an OP_MSG body',
      () => {
        const body = Buffer.from([0x10, 0, 0, 0, 0x02, 0x61, 0, 0xff, 0xff, 0xff, 0x7f, 0x41, 0, 0, 0, 0]);
        const flags = Buffer.alloc(4);
        return Buffer.concat([header(16 + 4 + 1 + body.length, 2013), flags, Buffer.from([0]), body]);
      },
      /invalid BSON|does not fit/,
    ],
    [
      'a BSON length that overruns the message',
      () => {
        const body = Buffer.alloc(8);
        body.writeInt32LE(4096, 0);
        return Buffer.concat([header(16 + 4 + 1 + 8, 2013), Buffer.alloc(4), Buffer.from([0]), body]);
      },
      /does not fit the message/,
    ],
    ['an unknown section kind', () => Buffer.concat([header(16 + 4 + 1 + 5, 2013), Buffer.alloc(4), Buffer.from([7]), Buffer.from([5, 0, 0, 0, 0])]), /unknown OP_MSG section kind 7/],
  ];

  for (const [name, bytes, logged] of cases) {
    it(`closes the connection on ${name} and keeps serving others`, async () => {
      const before = warnings.length;
      const { received } = await sendAndAwaitClose(server.port, bytes());
      expect(received).toBe(0);
      expect(warnings.slice(before).join('\n')).toMatch(logged);
      await stillServes();
    });
  }

  it('answers an unknown command with code 59 and keeps the connection', async () => {
    await expect(client.db('w').command({ noSuchThing: 1 })).rejects.toMatchObject({ code: 59, message: expect.stringContaining("no such command: 'noSuchThing'") });
    await expect(client.db('w').collection('c').find({ a: { $frobnicate: 1 } }).toArray()).rejects.toMatchObject({
      code: 2,
      message: expect.stringContaining('unknown operator: $frobnicate'),
    });
    await stillServes();
  });
});

describe('concurrent findOneAndUpdate', () => {
  let store: TestStore;
  const clients: MongoClient[] = [];
  beforeAll(async () => {
    store = await startTestStore();
    for (let i = 0; i < 50; i++) clients.push(await MongoClient.connect(store.uri, { maxPoolSize: 1 }));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await store.stop();
  });

  it('lets exactly one of 50 connections move pending -> approved, in each of 5 rounds', async () => {
    const coll = (i: number) => clients[i]!.db(store.dbName).collection('requests');
    for (let round = 0; round < 5; round++) {
      const _id = new ObjectId();
      await coll(0).insertOne({ _id, state: 'pending' });
      const results = await Promise.all(
        clients.map((_, i) => coll(i).findOneAndUpdate({ _id, state: 'pending' }, { $set: { state: 'approved', by: i } }, { returnDocument: 'after' })),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      const stored = await coll(0).findOne({ _id });
      expect(stored).toMatchObject({ state: 'approved', by: winners[0]!.by });
    }
  });
});
