/**
 * Slash-command acknowledgement: signed `/opsgate help` requests sent at a fixed rate (open
 * loop: a slow answer does not slow the sender) to the real app running in its own process.
 * Prints throughput and ack latency median / p99. Target: p99 <= 50 ms at 200 commands/s.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { signature } from '../test/helpers/slack-requests.js';
import { SIGNING_SECRET } from '../test/helpers/opsgate.js';
import { spawnOpsgate } from './spawn-opsgate.js';
import { fmt, line, summarize } from './stats.js';

const RATE = 200;
const SECONDS = 10;

let sent = 0;

function send(agent: http.Agent, port: number): Promise<{ ms: number; ok: boolean }> {
  const ts = Math.floor(Date.now() / 1000);
  const body = new URLSearchParams({
    command: '/opsgate',
    text: 'help',
    user_id: 'UBENCH',
    user_name: 'bench',
    team_id: 'T0TEST',
    channel_id: 'C0BENCH',
    response_url: 'http://127.0.0.1:9/response/none',
    // Each body differs, as Slack's do: the app refuses a signature it has already seen (replay).
    trigger_id: `bench.${++sent}`,
  }).toString();
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/slack/events',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          'x-slack-request-timestamp': String(ts),
          'x-slack-signature': signature(SIGNING_SECRET, ts, body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - started, ok: res.statusCode === 200 }));
      },
    );
    req.on('error', () => resolve({ ms: performance.now() - started, ok: false }));
    req.end(body);
  });
}

export async function benchSlackAck(): Promise<void> {
  const { child, port, exited } = await spawnOpsgate();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  process.stdout.write(`\n== Slack acknowledgement (signed /opsgate help, ${RATE}/s for ${SECONDS} s, app in its own process) ==\n`);
  // Warm up the JIT and the connection pool.
  await Promise.all(Array.from({ length: 50 }, () => send(agent, port)));

  const total = RATE * SECONDS;
  const results: Array<Promise<{ ms: number; ok: boolean }>> = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    results.push(send(agent, port));
  }
  const done = await Promise.all(results);
  const elapsed = (performance.now() - t0) / 1000;
  const ok = done.filter((d) => d.ok);
  const s = summarize(ok.map((d) => d.ms));
  line('commands acknowledged', `${ok.length} of ${total} (${done.length - ok.length} failed)`);
  line('throughput, commands/s', fmt(ok.length / elapsed, 1));
  line('ack latency median ms', fmt(s.median, 2));
  line('ack latency p99 ms', `${fmt(s.p99, 2)}  (target <= 50)`);
  line('ack latency max ms', fmt(s.max, 2));
  agent.destroy();
  child.kill('SIGTERM');
  await exited;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchSlackAck();
}
