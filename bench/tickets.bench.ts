/**
 * Ops tickets end to end: 200 tickets of an `echo` template on `local` with one approval level,
 * 20 in flight at a time, each driven as people drive it: a signed `/ticket submit` (erin), a
 * click on Approve in the approver's DM (alice), a click on Run in the submitter's DM (erin).
 * The bot runs in its own process (the real Bolt app over HTTP) with the store in another
 * process; the fake Slack Web API runs here and notes when each call arrives.
 *
 * Printed: the latency from sending the Run click to the fake Slack receiving the final update
 * of the ticket's channel message (median, p99, max), throughput, and the bot's peak RSS
 * (VmHWM of its process, and its idle size before the load). Targets: p99 <= 1 s, peak
 * memory <= 300 MB.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { FakeSlack, type RecordedCall } from '../test/helpers/fake-slack.js';
import { exampleCatalog, manifestScopes, SIGNING_SECRET, USERS } from '../test/helpers/opsgate.js';
import { SlackRequester } from '../test/helpers/slack-requests.js';
import { spawnStore } from '../test/helpers/store-process.js';
import { tempDir } from '../test/helpers/store.js';
import { spawnOpsgate } from './spawn-opsgate.js';
import { fmt, line, summarize } from './stats.js';

const TICKETS = Number(process.env.BENCH_TICKETS ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 20);
const TARGET_P99_MS = 1000;
const TARGET_RSS_MB = 300;
const CHANNEL = '#bench-tickets';
const STEP_TIMEOUT_MS = 120_000;
const MB = 1e6;

/** Calls indexed by the ticket ids (and response_url ids) they mention, as they arrive. */
class CallIndex {
  private readonly seen = new Map<string, Array<{ c: RecordedCall; s: string; at: number }>>();
  private readonly waiting = new Map<string, Array<{ match: (c: RecordedCall, s: string) => boolean; resolve: (hit: { c: RecordedCall; at: number }) => void }>>();

  constructor(fake: FakeSlack) {
    fake.listeners.add((c) => this.add(c, performance.now()));
  }

  private add(c: RecordedCall, at: number): void {
    const s = JSON.stringify(c.args);
    const keys = new Set(s.match(/TK-[A-Z0-9]{6}/g) ?? []);
    if (c.method === 'response_url') keys.add(`resp:${String(c.args.response_id)}`);
    for (const k of keys) {
      const list = this.seen.get(k) ?? [];
      list.push({ c, s, at });
      this.seen.set(k, list);
      const ws = this.waiting.get(k) ?? [];
      this.waiting.set(
        k,
        ws.filter((w) => (w.match(c, s) ? (w.resolve({ c, at }), false) : true)),
      );
    }
  }

  /** Resolves with the first call about `key` matching, already seen or yet to come. */
  wait(key: string, what: string, match: (c: RecordedCall, s: string) => boolean): Promise<{ c: RecordedCall; at: number }> {
    const hit = this.seen.get(key)?.find((x) => match(x.c, x.s));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${key}: no ${what} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      const list = this.waiting.get(key) ?? [];
      list.push({ match, resolve: (h) => (clearTimeout(timer), resolve(h)) });
      this.waiting.set(key, list);
    });
  }

  /** Forgets a finished ticket's calls (the bench keeps only what it still waits on). */
  drop(key: string): void {
    this.seen.delete(key);
    this.waiting.delete(key);
  }
}

function buttonValue(call: RecordedCall, actionId: string): string {
  const blocks = (call.args.blocks ?? []) as Array<{ elements?: Array<{ action_id: string; value: string }> }>;
  for (const b of blocks) {
    const e = b.elements?.find((x) => x.action_id === actionId);
    if (e) return e.value;
  }
  throw new Error(`no ${actionId} button in ${JSON.stringify(blocks).slice(0, 300)}`);
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuOf(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** BENCH_BOT_NODE_ARGS (e.g. `--max-old-space-size=128`, `--cpu-prof`) go to the bot's node alone. */
function botNodeArgs(): string[] {
  return (process.env.BENCH_BOT_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

function benchCatalog(dir: string): string {
  const catalogDir = path.join(dir, 'catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const file = path.join(catalogDir, 'tickets.yaml');
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { tickets: unknown[] };
  doc.tickets.push({
    name: 'bench-echo',
    description: 'echo tasks for the ticket bench',
    env: 'BENCH',
    category: 'Bench',
    configCenter: 'local',
    pre: 'echo pre {sk__task_name_created}',
    main: 'echo main {sk__task_name_created}',
    post: 'echo post {sk__name}',
    approval: [{ label: 'lead', approvers: { people: ['alice'] } }],
    lock: false,
    channel: CHANNEL,
  });
  fs.writeFileSync(file, YAML.stringify(doc));
  return catalogDir;
}

export async function benchTickets(): Promise<void> {
  const dir = tempDir('bench-tickets');
  const fake = await new FakeSlack(manifestScopes()).start();
  for (const u of Object.values(USERS)) fake.addUser(u);
  const calls = new CallIndex(fake);
  const store = await spawnStore(path.join(dir, 'db'));
  try {
    // The bot's log (warnings and up) is shown only when the bench fails: its shutdown is noisy.
    const bot = await spawnOpsgate({ stderr: 'pipe', env: { BENCH_SLACK_API_URL: fake.url, BENCH_CATALOG_DIR: benchCatalog(dir), BENCH_MONGODB_URI: store.uri }, nodeArgs: botNodeArgs() });
    try {
      await drive(bot.child.pid!, bot.port, fake, calls, store.child.pid!);
    } catch (err) {
      process.stderr.write(`bot log (last lines):\n${bot.log()}\n`);
      throw err;
    } finally {
      bot.child.kill('SIGTERM');
      await bot.exited;
    }
  } finally {
    store.child.kill('SIGTERM');
    await store.exited;
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The warm-up and the load, against the bot at `port` (process `pid`). */
async function drive(pid: number, port: number, fake: FakeSlack, calls: CallIndex, storePid: number): Promise<void> {
  const slack = new SlackRequester(`http://127.0.0.1:${port}/slack/events`, SIGNING_SECRET, () => fake.responseUrl());
  const erin = USERS.erin;
  const alice = USERS.alice;
  let replies = 0;

  /** One ticket, as people drive it; resolves with the Run → final channel update latency (ms). */
  const oneTicket = async (): Promise<number> => {
    const rid = `bench${++replies}`;
    const res = await slack.command('/ticket', 'submit bench-echo env:BENCH', erin, { responseUrl: fake.responseUrl(rid) });
    const answer = res.text.trim() !== '' ? res.text : (await calls.wait(`resp:${rid}`, 'submit reply', () => true)).c.args;
    const ticketId = /TK-[A-Z0-9]{6}/.exec(JSON.stringify(answer))?.[0];
    if (!ticketId) throw new Error(`submit refused: ${JSON.stringify(answer).slice(0, 400)}`);
    const ask = await calls.wait(ticketId, 'approval DM', (c, s) => c.method === 'chat.postMessage' && c.args.channel === `D${alice.id}` && s.includes('"ticket_approve"'));
    await slack.blockAction(alice, { action_id: 'ticket_approve', value: buttonValue(ask.c, 'ticket_approve') }, { channel: `D${alice.id}` });
    const told = await calls.wait(ticketId, 'Run button', (c, s) => c.method === 'chat.postMessage' && c.args.channel === `D${erin.id}` && s.includes('"ticket_run"') && s.includes('is approved'));
    const clicked = performance.now();
    await slack.blockAction(erin, { action_id: 'ticket_run', value: buttonValue(told.c, 'ticket_run') }, { channel: `D${erin.id}` });
    const final = await calls.wait(ticketId, 'final channel update', (c, s) => c.method === 'chat.update' && c.args.channel === CHANNEL && s.includes('succeeded'));
    // The result DM comes after the channel's update: wait for it so the next ticket starts clean.
    await calls.wait(ticketId, 'result DM', (c, s) => c.method === 'chat.postMessage' && c.args.channel === `D${erin.id}` && s.includes('ended'));
    calls.drop(ticketId);
    return final.at - clicked;
  };

  // Warm-up: the directory sync at start must have found the people; then one ticket warms the paths.
  for (let attempt = 0; ; attempt++) {
    try {
      await oneTicket();
      break;
    } catch (err) {
      if (attempt >= 50 || !/submit refused/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const idle = memoryOf(pid);
  process.stdout.write(`\n== ops tickets: ${TICKETS} tickets (echo on local, one approval level), ${IN_FLIGHT} at a time, signed requests to the bot in its own process ==\n`);

  const latencies: number[] = [];
  let next = 0;
  let peakRss = idle.rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryOf(pid).rss)), 100);
  const cpu0 = { bot: cpuOf(pid), store: cpuOf(storePid), bench: process.cpuUsage() };
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < TICKETS) {
          next++;
          latencies.push(await oneTicket());
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const benchCpu = process.cpuUsage(cpu0.bench);
  const cpu = { bot: cpuOf(pid) - cpu0.bot, store: cpuOf(storePid) - cpu0.store, bench: (benchCpu.user + benchCpu.system) / 1e6 };
  const mem = memoryOf(pid);
  const s = summarize(latencies);
  const peakMb = Math.max(mem.peak, peakRss) / MB;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  line('tickets run to their final channel message', `${latencies.length} of ${TICKETS} in ${fmt(elapsed, 1)} s (${fmt(latencies.length / elapsed, 1)} tickets/s)`);
  line('Run click -> final channel update, median ms', fmt(s.median, 1));
  line('Run click -> final channel update, p99 ms', `${fmt(s.p99, 1)}  (target <= ${TARGET_P99_MS}: ${verdict(s.p99 <= TARGET_P99_MS)})`);
  line('Run click -> final channel update, max ms', fmt(s.max, 1));
  line('CPU during the load: bot / store / bench, s', `${fmt(cpu.bot, 1)} / ${fmt(cpu.store, 1)} / ${fmt(cpu.bench, 1)}  (wall ${fmt(elapsed, 1)} s, 2 cores shared)`);
  line('bot RSS idle (after warm-up) MB', fmt(idle.rss / MB, 0));
  line('bot peak RSS MB (VmHWM)', `${fmt(peakMb, 0)}  (target <= ${TARGET_RSS_MB}: ${verdict(peakMb <= TARGET_RSS_MB)})`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchTickets();
}
