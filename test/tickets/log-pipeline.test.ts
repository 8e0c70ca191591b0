/**
 * A 50 MB log from a real process: `local` transport -> engine onOutput (streaming redaction)
 * -> TicketLogStore -> MongoDB, with secrets and a URL credential in the output. The stored
 * log, read back with stream(), has exactly the bytes the producer wrote with the secrets
 * masked (SHA-256 against the producer's file); no chunk holds a secret; chunks stay under
 * 256 KiB; the store's buffer and this process's live heap (after forced GC) stay bounded.
 *
 * The store runs in its own process (or is MONGODB_URI), so its data does not count against
 * the bot's heap here.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { ticketLogModels } from '../../src/models/ticket-log.js';
import { TicketLogStore } from '../../src/services/tickets/log-store.js';
import { forcedGc, separateStore, type SeparateStore } from '../helpers/log-memory.js';

const SECRET = 'Dq7-deploy_t0ken!';
const URL_PASSWORD = 'hunter2-Pw';
const RAW_BYTES = 37_500_000; // base64 of this is ~50.7 MB of output
const MIB = 1024 * 1024;

let sep: SeparateStore;
let dir: string;

beforeAll(async () => {
  sep = await separateStore('log-pipeline');
  dir = sep.dir;
  execFileSync('/bin/sh', ['-c', `head -c ${RAW_BYTES} /dev/urandom | base64 > ${path.join(dir, 'data.b64')}`]);
}, 120_000);

afterAll(() => sep?.stop());

/** SHA-256 of what the stored log must be: the producer's output with secrets masked. */
async function expectedHash(file: string, mid: number): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  const add = (b: Buffer | string) => {
    h.update(b);
    bytes += Buffer.byteLength(b);
  };
  const copy = async (start: number, end?: number) => {
    for await (const c of fs.createReadStream(file, { start, end })) add(c as Buffer);
  };
  add('start token=***\n');
  await copy(0, mid - 1);
  add('mid git clone https://deploy:***@git.example.com/app.git\n');
  await copy(mid);
  add('end ***');
  return { hash: h.digest('hex'), bytes };
}

describe('50 MB log through engine and store', () => {
  it('stores exactly the redacted bytes with bounded memory', async () => {
    const gc = forcedGc();
    const file = path.join(dir, 'data.b64');
    const size = fs.statSync(file).size;
    const mid = Math.floor(size / 2) + 13; // mid-line, so the inserted text lands inside a base64 line
    const id = `TK-pipe-${process.pid}`;
    const store = new TicketLogStore(ticketLogModels(sep.conn));
    const engine = new ExecutionEngine();

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let peakHeap = heapBefore;
    let sinceSample = 0;
    let delivered = 0;
    const command = [
      `printf 'start token=%s\\n' '${SECRET}'`,
      `head -c ${mid} ${file}`,
      `printf 'mid git clone https://deploy:%s@git.example.com/app.git\\n' '${URL_PASSWORD}'`,
      `tail -c +${mid + 1} ${file}`,
      `printf 'end %s' '${SECRET}'`,
    ].join('; ');
    const { done } = engine.start({
      targets: [{ transport: 'local', name: 'config-center' }],
      command,
      secrets: [SECRET],
      onOutput: async (_host, stream, text) => {
        delivered += text.length;
        sinceSample += text.length;
        await store.append(id, stream, text);
        if (sinceSample >= 5 * MIB) {
          sinceSample = 0;
          gc();
          peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
        }
      },
    });
    const result = await done;
    await store.close(id);
    expect(result.host_ok['config-center']).toMatchObject({ code: 0, truncated: true });

    const expected = await expectedHash(file, mid);
    expect(delivered).toBe(expected.bytes);
    const got = createHash('sha256');
    let maxChunk = 0;
    let chunks = 0;
    for await (const c of store.stream(id)) {
      chunks++;
      maxChunk = Math.max(maxChunk, Buffer.byteLength(c.text));
      expect(c.text.includes(SECRET) || c.text.includes(URL_PASSWORD)).toBe(false);
      got.update(c.text);
    }
    expect(got.digest('hex')).toBe(expected.hash);
    expect(maxChunk).toBeLessThanOrEqual(256 * 1024);
    expect(await store.header(id)).toMatchObject({ totalBytes: expected.bytes, chunks, closed: true });
    const stats = store.stats();
    expect(stats.bufferedBytes).toBe(0);
    // One chunk's worth buffered plus the last piece the engine handed over (at most 64 KiB plus the hold).
    expect(stats.peakBufferedBytes).toBeLessThanOrEqual(256 * 1024 + 192 * 1024);
    // The whole log as JS strings would be over 100 MB of heap; what stays live is the result's
    // 1 MiB per stream, one chunk, and the driver's buffers.
    const growthMiB = (peakHeap - heapBefore) / MIB;
    expect(growthMiB).toBeLessThan(24);
  }, 300_000);
});
