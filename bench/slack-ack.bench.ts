/**
 * Slash-command acknowledgement: signed `/opsgate help` requests sent at a fixed rate (open
 * loop: a slow answer does not slow the sender) to the real app running in its own process.
 * Prints throughput and ack latency median / p99. Target: p99 <= 50 ms at 200 commands/s.
 */
import http from 'node:http';
import { openLoop, sendSignedCommand } from './signed-command.js';
import { spawnOpsgate } from './spawn-opsgate.js';
import { fmt, line, summarize } from './stats.js';

const RATE = 200;
const SECONDS = 10;

const HELP = { command: '/opsgate', text: 'help', userId: 'UBENCH', userName: 'bench' };
const send = (agent: http.Agent, port: number) => sendSignedCommand(agent, port, HELP);

export async function benchSlackAck(): Promise<void> {
  const { child, port, exited } = await spawnOpsgate();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  process.stdout.write(`\n== Slack acknowledgement (signed /opsgate help, ${RATE}/s for ${SECONDS} s, app in its own process) ==\n`);
  // Warm up the JIT and the connection pool.
  await Promise.all(Array.from({ length: 50 }, () => send(agent, port)));

  const total = RATE * SECONDS;
  const { results: done, seconds: elapsed } = await openLoop(RATE, total, () => send(agent, port));
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
