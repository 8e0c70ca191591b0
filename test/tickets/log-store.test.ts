/**
 * The chunked ticket log store on the real store: order and exactly-once under concurrent
 * appends (also from two bot instances), chunk size limits with multi-byte text, tail across
 * chunk boundaries, the delayed flush, a failed insert retried without duplicates, closed logs,
 * and bad input refused with 1100.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mongoose, { type Connection } from 'mongoose';
import { AppError } from '../../src/errors.js';
import { ticketLogModels } from '../../src/models/ticket-log.js';
import { TicketLogStore, splitUtf8, type TicketLogStoreOptions } from '../../src/services/tickets/log-store.js';
import { startTestStore, type TestStore } from '../helpers/store.js';

let store: TestStore;
let conn: Connection;
let conn2: Connection;

beforeAll(async () => {
  store = await startTestStore();
  conn = await mongoose.createConnection(store.dbUri).asPromise();
  conn2 = await mongoose.createConnection(store.dbUri).asPromise();
  const { chunks, headers } = ticketLogModels(conn);
  await chunks.init();
  await headers.init();
});

afterAll(async () => {
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
  await conn2?.close();
  await store?.stop();
});

let n = 0;
const newId = () => `TK-${process.pid}-${++n}`;

function logStore(opts: TicketLogStoreOptions = {}, c: Connection = conn): TicketLogStore {
  return new TicketLogStore(ticketLogModels(c), opts);
}

async function readAll(s: TicketLogStore, id: string): Promise<{ text: string; seqs: number[] }> {
  let text = '';
  const seqs: number[] = [];
  for await (const c of s.stream(id)) {
    text += c.text;
    seqs.push(c.seq);
  }
  return { text, seqs };
}

async function appErrorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('ticket log store', () => {
  it('keeps the order of concurrent appends, from one instance and from two, each text exactly once', async () => {
    const id = newId();
    const a = logStore({ flushBytes: 700, maxChunkBytes: 300 });
    const b = logStore({ flushBytes: 500, maxChunkBytes: 300 }, conn2);
    const writers = 16;
    const linesEach = 120;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const s = w % 2 === 0 ? a : b;
        for (let k = 0; k < linesEach; k++) {
          // Some writers await every append, some fire several before awaiting: both interleave.
          const p = s.append(id, k % 7 === 0 ? 'stderr' : 'stdout', `w${w}-${k}\n`);
          if ((w + k) % 3 !== 0) await p;
        }
      }),
    );
    await b.flush(id);
    await a.close(id);
    const { text, seqs } = await readAll(a, id);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const lines = text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(writers * linesEach);
    for (let w = 0; w < writers; w++) {
      const mine = lines.filter((l) => l.startsWith(`w${w}-`)).map((l) => Number(l.split('-')[1]));
      expect(mine).toEqual(Array.from({ length: linesEach }, (_, k) => k));
    }
    const header = await a.header(id);
    expect(header).toMatchObject({ lines: writers * linesEach, totalBytes: Buffer.byteLength(text), chunks: seqs.length, closed: true });
  });

  it('splits text into chunks of at most maxChunkBytes without cutting a character', async () => {
    const id = newId();
    const s = logStore({ maxChunkBytes: 1024 });
    const text = 'aé€😀\n'.repeat(3000);
    await s.append(id, 'stdout', text);
    await s.append(id, 'system', 'done\n');
    await s.close(id);
    const chunks = [];
    for await (const c of s.stream(id)) chunks.push(c);
    expect(chunks.every((c) => Buffer.byteLength(c.text) <= 1024)).toBe(true);
    expect(chunks.map((c) => c.text).join('')).toBe(text + 'done\n');
    expect(chunks.at(-1)).toMatchObject({ stream: 'system', text: 'done\n' });
    expect(s.stats().largestChunkBytes).toBeLessThanOrEqual(1024);
    expect(splitUtf8('😀😀', 8, 3)).toEqual(['😀', '😀']);
    expect(splitUtf8('ab😀c', 7, 4)).toEqual(['ab', '😀', 'c']);
  });

  it('tail returns the last characters across chunk boundaries', async () => {
    const id = newId();
    const s = logStore({ maxChunkBytes: 100, flushBytes: 100, readBatch: 2 });
    let text = '';
    for (let i = 0; i < 400; i++) {
      const line = `line ${i} ${'x'.repeat(i % 37)}\n`;
      text += line;
      await s.append(id, i % 5 === 0 ? 'stderr' : 'stdout', line);
    }
    for (const max of [0, 1, 37, 99, 100, 101, 250, 1000, 4321, text.length - 1, text.length, text.length + 500]) {
      expect(await s.tail(id, max), `tail ${max}`).toBe(text.slice(Math.max(0, text.length - max)));
    }
    expect(await s.tail('TK-never-written', 100)).toBe('');
  });

  it('tail and stream include what is still buffered; the delayed flush writes without them', async () => {
    const id = newId();
    const s = logStore({ flushDelayMs: 30 });
    await s.append(id, 'stdout', 'first\n');
    expect(s.stats().bufferedBytes).toBe(6);
    const { chunks } = ticketLogModels(conn);
    // The timer flush: wait for the chunk to appear in the store.
    for (let i = 0; i < 500 && (await chunks.countDocuments({ ticketId: id })) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await chunks.countDocuments({ ticketId: id })).toBe(1);
    expect(s.stats().bufferedBytes).toBe(0);
    await s.append(id, 'stderr', 'second\n');
    expect(await s.tail(id, 100)).toBe('first\nsecond\n');
    await s.close(id);
  });

  it('a failed insert is retried under the same numbers: nothing lost, nothing twice', async () => {
    const id = newId();
    const real = ticketLogModels(conn);
    let failNext = true;
    const chunks = {
      find: real.chunks.find.bind(real.chunks),
      insertMany: async (docs: unknown[], opts: object) => {
        if (failNext) {
          failNext = false;
          // Half the batch reaches the store, then the connection drops.
          await real.chunks.insertMany(docs.slice(0, Math.ceil(docs.length / 2)), opts);
          throw new Error('connection reset by peer');
        }
        return real.chunks.insertMany(docs, opts);
      },
    } as unknown as typeof real.chunks;
    const s = new TicketLogStore({ chunks, headers: real.headers }, { maxChunkBytes: 10, flushBytes: 1000 });
    await s.append(id, 'stdout', 'abcdefghij0123456789ABCDEFGHIJ');
    await expect(s.flush(id)).rejects.toThrow(/connection reset/);
    await s.append(id, 'stdout', '-more');
    await s.close(id);
    const { text, seqs } = await readAll(s, id);
    expect(text).toBe('abcdefghij0123456789ABCDEFGHIJ-more');
    expect(seqs).toEqual([0, 1, 2, 3]);
  });

  it('a failed header update keeps the text buffered for the next write', async () => {
    const id = newId();
    const real = ticketLogModels(conn);
    let failNext = true;
    const headers = {
      findOne: real.headers.findOne.bind(real.headers),
      updateOne: real.headers.updateOne.bind(real.headers),
      findOneAndUpdate: (...args: Parameters<typeof real.headers.findOneAndUpdate>) => {
        if (failNext) {
          failNext = false;
          return { lean: () => Promise.reject(new Error('server selection timed out')) };
        }
        return real.headers.findOneAndUpdate(...args);
      },
    } as unknown as typeof real.headers;
    const s = new TicketLogStore({ chunks: real.chunks, headers }, { maxChunkBytes: 8, flushBytes: 1000 });
    await s.append(id, 'stdout', 'one two three\n');
    await expect(s.flush(id)).rejects.toThrow(/server selection/);
    expect(s.stats().bufferedBytes).toBe(14);
    await s.append(id, 'stderr', 'four\n');
    expect(await s.tail(id, 1000)).toBe('one two three\nfour\n');
    expect(await s.header(id)).toMatchObject({ totalBytes: 19, lines: 2 });
  });

  it('a closed log refuses more text with 1100, also from another instance', async () => {
    const id = newId();
    const s = logStore();
    await s.append(id, 'stdout', 'all\n');
    await s.close(id);
    const other = logStore({}, conn2);
    await other.append(id, 'system', 'late\n');
    expect(await appErrorCode(other.close(id))).toBe(1100);
    expect(await s.tail(id, 100)).toBe('all\n');
    expect(await s.header(id)).toMatchObject({ closed: true, lines: 1 });
  });

  it('refuses bad input with 1100 and writes nothing', async () => {
    const s = logStore();
    expect(await appErrorCode(s.append('', 'stdout', 'x'))).toBe(1100);
    expect(await appErrorCode(s.append('TK-1', 'stdin' as never, 'x'))).toBe(1100);
    expect(await appErrorCode(s.append('TK-1', 'stdout', 42 as never))).toBe(1100);
    expect(await appErrorCode(s.tail('TK-1', -1))).toBe(1100);
    expect(await appErrorCode(s.tail('TK-1', 1.5))).toBe(1100);
    expect(s.stats().bufferedBytes).toBe(0);
    expect(await s.header('TK-1')).toBeNull();
  });
});
