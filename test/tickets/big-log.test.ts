/**
 * A 50 MB log through the ticket path: a ticket on `local` whose main task prints ~50 MB (a
 * generated file with the template's secret sprinkled in at random places, so some copies land
 * across the pipe's reads) is submitted to the TicketService and runs through the executor and
 * the config-center runner into the app's own chunked TicketLogStore, as wired for production.
 *
 * What the store holds is exactly the producer's bytes with the secret masked (SHA-256), no
 * document of the database comes near MongoDB's 16 MB limit, the secret is in none of them,
 * and this process's memory (sampled all along the run) never grows ~100 MB past its idle
 * size. The store runs in its own process (or is MONGODB_URI) so its data does not count here.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { calculateObjectSize } from 'bson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TicketLogStore } from '../../src/services/tickets/log-store.js';
import { spawnStore, type StoreProcess } from '../helpers/store-process.js';
import { tempDir } from '../helpers/store.js';
import { startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

const SECRET = 'B1g-l0g_s3cret!';
const MIB = 1024 * 1024;
/** Pieces of base64 text between the secret's copies; 10 × ~5 MB. */
const PIECES = 10;
const PIECE_RAW_BYTES = 3_750_000;
const DOC_LIMIT = 16 * MIB;

let dir: string;
let file: string;
let storeProc: StoreProcess | undefined;
let env: TicketsEnv;
/** SHA-256 and size of what main's stdout must be once stored: the file with the secret masked, then the last line. */
let expected: { hash: string; bytes: number };

/** V8's gc() even when the worker was started without --expose-gc. */
function forcedGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/**
 * Writes the producer's file: base64 pieces with ` token=<secret> ` mid-line in each, and
 * returns the SHA-256 and size of its redacted form (the secret as ***). It runs in a child
 * process so that making 50 MB of text does not swell this process's idle size.
 */
const GENERATOR = `
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
const [target, secret, pieces, pieceRaw, after] = process.argv.slice(1);
const h = createHash('sha256');
let bytes = 0;
const out = fs.createWriteStream(target);
const put = async (real, redacted) => {
  h.update(redacted);
  bytes += Buffer.byteLength(redacted);
  if (!out.write(real)) await new Promise((r) => out.once('drain', r));
};
for (let i = 0; i < Number(pieces); i++) {
  const text = randomBytes(Number(pieceRaw)).toString('base64').replace(/.{76}/g, '$&\\n');
  const at = randomInt(1, text.length - 1);
  await put(text.slice(0, at), text.slice(0, at));
  await put(' token=' + secret + ' ', ' token=*** ');
  await put(text.slice(at) + '\\n', text.slice(at) + '\\n');
}
await new Promise((resolve) => out.end(resolve));
// What the task prints after the file, as stored: hashed, not written.
h.update(after);
bytes += Buffer.byteLength(after);
process.stdout.write(JSON.stringify({ hash: h.digest('hex'), bytes }));
`;

async function writeProducerFile(target: string): Promise<{ hash: string; bytes: number }> {
  // main's last command prints the secret once more: `end token=***` follows the file.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', GENERATOR, target, SECRET, String(PIECES), String(PIECE_RAW_BYTES), 'end token=***\n']);
  return JSON.parse(stdout) as { hash: string; bytes: number };
}

beforeAll(async () => {
  dir = tempDir('big-log');
  file = path.join(dir, 'producer.txt');
  expected = await writeProducerFile(file);
  let storeUri = process.env.MONGODB_URI;
  if (!storeUri) {
    storeProc = await spawnStore(path.join(dir, 'db'));
    storeUri = storeProc.uri;
  }
  env = await startTicketsEnv({
    log: 'store',
    storeUri,
    env: { OPSGATE_BIG_LOG_TOKEN: SECRET },
    tickets: () => [
      {
        name: 'big-log',
        env: 'STAGE',
        configCenter: 'local',
        vars: { File: file },
        secrets: { Token: { env: 'OPSGATE_BIG_LOG_TOKEN' } },
        main: `cat "{File}"; printf 'end token=%s\\n' "{Token}"`,
        timeoutMinutes: 10,
      },
    ],
  });
}, 120_000);

afterAll(async () => {
  await env?.conn.dropDatabase().catch(() => undefined);
  await env?.stop();
  if (storeProc) {
    storeProc.child.kill('SIGTERM');
    await storeProc.exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a 50 MB ticket log', () => {
  it('streams through submit → run → the chunked log store: exact redacted bytes, no document near 16 MB, the secret nowhere, memory bounded', async () => {
    expect(expected.bytes).toBeGreaterThan(50_000_000);
    const gc = forcedGc();
    gc();
    const idle = process.memoryUsage();
    let peakRss = idle.rss;
    let peakHeap = idle.heapUsed;
    let samples = 0;
    const sample = () => {
      const m = process.memoryUsage();
      samples++;
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    // Sampling only: the assertions below are on sizes, never on how long anything took.
    const sampler = setInterval(sample, 20);
    let id = '';
    try {
      const d = await env.wiring.tickets.submit('UBOB', { template: 'big-log', env: 'STAGE', values: {} });
      id = d.ticket.ticketId;
      const finished = await env.notifier.next('finished', id);
      sample();
      expect(finished.state).toBe('succeeded');
      expect(finished.json.includes(SECRET)).toBe(false);
    } finally {
      clearInterval(sampler);
    }

    // The stored log: main's stdout is exactly the producer's bytes with the secret masked.
    const store = env.wiring.log as TicketLogStore;
    const stdout = createHash('sha256');
    let stdoutBytes = 0;
    let system = '';
    let chunks = 0;
    for await (const c of store.stream(id)) {
      chunks++;
      expect(c.text.includes(SECRET)).toBe(false);
      if (c.stream === 'stdout') {
        stdout.update(c.text);
        stdoutBytes += Buffer.byteLength(c.text);
      } else if (c.stream === 'system') system += c.text;
      else throw new Error(`unexpected ${c.stream} output: ${c.text.slice(0, 200)}`);
    }
    expect(stdoutBytes).toBe(expected.bytes);
    expect(stdout.digest('hex')).toBe(expected.hash);
    expect(system).toBe(`[main] on local: cat "${file}"; printf 'end token=%s\\n' "***"\n` + /\[main\] ok: exit 0 in \d+ ms\n$/.exec(system)?.[0]);
    const header = await store.header(id);
    expect(header).toMatchObject({ chunks, closed: true });
    expect(header!.totalBytes).toBe(expected.bytes + Buffer.byteLength(system));
    expect(chunks).toBeGreaterThan(50_000_000 / (256 * 1024));

    // Every document of the database: under the 16 MB limit by far, and none holds the secret.
    let largest = 0;
    let docs = 0;
    for (const c of await env.conn.db!.listCollections().toArray()) {
      for await (const doc of env.conn.db!.collection(c.name).find({})) {
        docs++;
        largest = Math.max(largest, calculateObjectSize(doc));
        expect(JSON.stringify(doc).includes(SECRET)).toBe(false);
      }
    }
    expect(docs).toBeGreaterThan(chunks);
    expect(largest).toBeLessThan(DOC_LIMIT / 8);

    // Memory: the whole log held as JS strings would be over 100 MB of heap alone.
    expect(samples).toBeGreaterThan(1);
    const rssGrowth = (peakRss - idle.rss) / MIB;
    const heapGrowth = (peakHeap - idle.heapUsed) / MIB;
    if (process.env.BIG_LOG_FIGURES) process.stderr.write(`big-log: rss idle ${(idle.rss / MIB).toFixed(0)} MiB, growth ${rssGrowth.toFixed(1)} MiB; heap idle ${(idle.heapUsed / MIB).toFixed(0)} MiB, growth ${heapGrowth.toFixed(1)} MiB; ${samples} samples\n`);
    expect(rssGrowth, `peak rss ${(peakRss / MIB).toFixed(0)} MiB, idle ${(idle.rss / MIB).toFixed(0)} MiB`).toBeLessThan(100);
    expect(heapGrowth, `peak heap ${(peakHeap / MIB).toFixed(0)} MiB, idle ${(idle.heapUsed / MIB).toFixed(0)} MiB`).toBeLessThan(100);
  }, 300_000);
});
