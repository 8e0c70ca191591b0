/**
 * A 50 MB ticket log, end to end: `head -c 37.5M /dev/urandom | base64` on the `local`
 * transport, through the engine's onOutput (streaming redaction with one declared secret) into
 * the chunked log store on the embedded store in its own process (journal on), then read back
 * with stream(). Prints throughput (MB/s of output stored, and of reading back) and this
 * process's peak RSS over its idle size (the bound: ~100 MB).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import { ExecutionEngine } from '../src/adapters/exec/engine.js';
import { ticketLogModels } from '../src/models/ticket-log.js';
import { withDatabase } from '../src/store/connect.js';
import { TicketLogStore } from '../src/services/tickets/log-store.js';
import { spawnStore } from '../test/helpers/store-process.js';
import { tempDir } from '../test/helpers/store.js';
import { fmt, line } from './stats.js';

const RAW_BYTES = 37_500_000;
const MB = 1e6;

export async function benchTicketLog(): Promise<void> {
  const dir = tempDir('bench-ticket-log');
  const file = path.join(dir, 'data.b64');
  execFileSync('/bin/sh', ['-c', `head -c ${RAW_BYTES} /dev/urandom | base64 > ${file}`]);
  const size = fs.statSync(file).size;
  const proc = await spawnStore(path.join(dir, 'db'));
  const conn = await mongoose.createConnection(withDatabase(proc.uri, 'bench_ticket_log')).asPromise();
  process.stdout.write(`\n== ticket log: ${fmt(size / MB, 1)} MB of output, engine (local) -> onOutput -> log store (store in its own process) ==\n`);
  try {
    const store = new TicketLogStore(ticketLogModels(conn));
    const engine = new ExecutionEngine();
    const idleRss = process.memoryUsage().rss;
    let peakRss = idleRss;
    const id = 'TK-bench';
    const t0 = performance.now();
    const { done } = engine.start({
      targets: [{ transport: 'local', name: 'config-center' }],
      command: `cat ${file}; printf 'token=%s\\n' 'Bench-s3cret!'`,
      secrets: ['Bench-s3cret!'],
      onOutput: async (_h, stream, text) => {
        await store.append(id, stream, text);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    });
    const r = await done;
    await store.close(id);
    const writeSec = (performance.now() - t0) / 1000;
    if (!r.host_ok['config-center']) throw new Error(`the producer failed: ${JSON.stringify(r)}`);

    const t1 = performance.now();
    let readBytes = 0;
    for await (const c of store.stream(id)) {
      readBytes += Buffer.byteLength(c.text);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    const readSec = (performance.now() - t1) / 1000;
    const stats = store.stats();
    line('stored (engine -> store), MB/s', `${fmt(size / MB / writeSec, 1)}  (${fmt(writeSec, 2)} s)`);
    line('read back with stream(), MB/s', `${fmt(readBytes / MB / readSec, 1)}  (${fmt(readSec, 2)} s)`);
    line('chunks written / largest chunk (KiB)', `${stats.chunksWritten} / ${fmt(stats.largestChunkBytes / 1024, 0)}`);
    line('store buffer peak (KiB)', fmt(stats.peakBufferedBytes / 1024, 0));
    line('peak RSS / over idle (MB)', `${fmt(peakRss / MB, 0)} / ${fmt((peakRss - idleRss) / MB, 0)}  (target: over idle <= 100)`);
  } finally {
    await conn.close();
    proc.child.kill('SIGTERM');
    await proc.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchTicketLog();
}
