/**
 * Acknowledgement of commands that write, against two bot processes on one store process
 * (test/helpers/instances.ts: `src/main.ts` twice, `npm run db`'s store), requests alternating
 * between them, 500 per second for 10 s, open loop:
 *   1. inline `/access request <host> readonly 1d …`, each from another (person, host) pair of a
 *      generated directory (100 people) and inventory (50 hosts), so every one is a new
 *      application written to the store;
 *   2. `/ticket submit bench-wait …` (a template of the bench's with an approval level and no
 *      lock: each is a new ticket that waits, nothing runs).
 * Printed per phase: acknowledged, failed, median, p99 and max ack latency, the CPU each
 * process used per command (while sending, and in all once the work after the ack is done),
 * and the applications / tickets found in the store afterwards. Target: p99 <= 20 ms, 0 errors.
 * BENCH_RATE and BENCH_SECONDS change the rate and the length.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import mongoose from 'mongoose';
import YAML from 'yaml';
import { accessModels } from '../src/models/access.js';
import { ticketModel } from '../src/models/tickets.js';
import { FakeSlack } from '../test/helpers/fake-slack.js';
import { startInstances } from '../test/helpers/instances.js';
import { exampleCatalog, manifestScopes, USERS } from '../test/helpers/opsgate.js';
import { tempDir } from '../test/helpers/store.js';
import { openLoop, prepareSignedCommand, sendPreparedCommand, type SignedCommand } from './signed-command.js';
import { fmt, line, summarize } from './stats.js';

const RATE = Number(process.env.BENCH_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PEOPLE = 100;
const HOSTS = 50;

function benchCatalog(): string {
  const dir = tempDir('write-ack-catalog');
  fs.cpSync(exampleCatalog, dir, { recursive: true });
  const hosts = YAML.parse(fs.readFileSync(path.join(dir, 'hosts.yaml'), 'utf8')) as { hosts: unknown[] };
  for (let h = 0; h < HOSTS; h++)
    hosts.hosts.push({ name: `bench-${String(h).padStart(2, '0')}`, address: '127.0.2.1', port: 22, hostKey: 'SHA256:6vKuJ9v4o6th1SdKGeuhCyzb+B4cYCW2Q9E/iR/WD+M', project: 'storefront', app: 'nginx', env: 'stage' });
  fs.writeFileSync(path.join(dir, 'hosts.yaml'), YAML.stringify(hosts));
  const directory = YAML.parse(fs.readFileSync(path.join(dir, 'directory.yaml'), 'utf8')) as { people: unknown[] };
  const keys = tempDir('write-ack-keys');
  for (let p = 0; p < PEOPLE; p++) {
    const file = path.join(keys, `p${p}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `p${p}@bench`, '-f', file], { stdio: 'ignore' });
    const sshKeys = [fs.readFileSync(`${file}.pub`, 'utf8').trim()];
    directory.people.push({ id: `p${p}`, name: `Person ${p}`, email: `p${p}@example.com`, level: 'P5', department: 'operations', manager: 'alice', groups: ['dev'], sshKeys });
  }
  fs.rmSync(keys, { recursive: true, force: true });
  // A ticket that waits for an approval and holds no lock: each submit is a new ticket.
  const tickets = YAML.parse(fs.readFileSync(path.join(dir, 'tickets.yaml'), 'utf8')) as { tickets: unknown[] };
  tickets.tickets.push({ name: 'bench-wait', description: 'waits for its approval', env: 'STAGE', category: 'Bench', submitGroups: ['ops'], configCenter: 'local', options: [{ name: 'Tag', label: 'Tag', text: { pattern: '^v[0-9]+$', maxLength: 20 } }], main: 'echo {Tag}', approval: [{ label: 'ops', approvers: { group: 'ops' } }], lock: false, timeoutMinutes: 5 });
  fs.writeFileSync(path.join(dir, 'tickets.yaml'), YAML.stringify(tickets));
  fs.writeFileSync(path.join(dir, 'directory.yaml'), YAML.stringify(directory));
  return dir;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; NaN elsewhere). */
function cpuMs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Pids {
  bots: number[];
  store: number;
}

/** CPU used by the bots, the store and this process from `before` to now, per command. */
function cpuLine(pids: Pids, before: number[], commands: number, when: string): void {
  const now = cpuNow(pids);
  const d = now.map((v, i) => (v - before[i]!) / commands);
  const bots = d.slice(0, pids.bots.length).reduce((a, b) => a + b, 0);
  line(`CPU ms per command ${when}: bots / store / bench`, `${fmt(bots, 2)} / ${fmt(d[pids.bots.length]!, 2)} / ${fmt(d[pids.bots.length + 1]!, 2)}  (budget about 4 in all on 2 cores at 500/s)`);
}

function cpuNow(pids: Pids): number[] {
  return [...pids.bots.map(cpuMs), cpuMs(pids.store), process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000];
}

async function phase(name: string, ports: number[], pids: Pids, command: (i: number) => SignedCommand): Promise<void> {
  const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: 128 }));
  // Bodies and signatures are made before the clock starts (well inside the 5-minute window):
  // the loop's own work per command is one request on a kept-alive socket.
  const prepared = Array.from({ length: RATE * SECONDS }, (_, i) => prepareSignedCommand(command(i)));
  const before = cpuNow(pids);
  const { results, seconds } = await openLoop(RATE, prepared.length, (i) => sendPreparedCommand(agents[i % ports.length]!, ports[i % ports.length]!, prepared[i]!));
  const ok = results.filter((r) => r.ok);
  const s = summarize(ok.map((r) => r.ms));
  process.stdout.write(`\n-- ${name} --\n`);
  line('commands acknowledged', `${ok.length} of ${results.length} (${results.length - ok.length} failed)`);
  line('rate sent, commands/s', fmt(results.length / seconds, 1));
  line('ack latency median ms', fmt(s.median, 2));
  line('ack latency p99 ms', `${fmt(s.p99, 2)}  (target <= 20)`);
  line('ack latency max ms', fmt(s.max, 2));
  cpuLine(pids, before, results.length, 'while sending');
  for (const a of agents) a.destroy();
  // The listeners' work after the ack (writes, the approvers' DMs and mails, the jobs) goes on:
  // waited for until the bots are near idle (under 10% of a core for 2 s in a row, at most
  // 3 minutes), so the next figure is everything a command costs.
  for (let quiet = 0, until = Date.now() + 180_000, last = cpuNow(pids); quiet < 2 && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpuNow(pids);
    const bots = pids.bots.reduce((sum, _, i) => sum + now[i]! - last[i]!, 0);
    quiet = bots < 100 ? quiet + 1 : 0;
    last = now;
  }
  cpuLine(pids, before, results.length, 'in all (until the bots idle)');
}

export async function benchWriteAck(): Promise<void> {
  process.stdout.write(`\n== Acknowledgement of writing commands (${RATE}/s for ${SECONDS} s over two instances on one store process) ==\n`);
  const fake = await new FakeSlack(manifestScopes()).start();
  for (const u of Object.values(USERS)) fake.addUser(u);
  for (let p = 0; p < PEOPLE; p++) fake.addUser({ id: `UP${p}`, email: `p${p}@example.com`, name: `p${p}` });
  const catalogDir = benchCatalog();
  const bots = await startInstances({ count: 2, fake, catalogDir });
  // The directory sync (first instance) must have written the people before they ask.
  const db = await mongoose.createConnection(bots.dbUri).asPromise();
  for (const deadline = Date.now() + 60_000; (await db.collection('people').countDocuments({})) < PEOPLE && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 200));
  const ports = bots.all.map((b) => b.port);
  const pids: Pids = { bots: bots.all.map((b) => b.child.pid!), store: bots.store.child.pid! };
  try {
    await phase('inline /access request (a new application each)', ports, pids, (i) => {
      const person = i % PEOPLE;
      const host = Math.floor(i / PEOPLE) % HOSTS;
      return { command: '/access', text: `request bench-${String(host).padStart(2, '0')} readonly 1d load test ${i}`, userId: `UP${person}`, userName: `p${person}`, responseUrl: fake.responseUrl() };
    });
    await phase('/ticket submit bench-wait (waits for its approval)', ports, pids, (i) => ({ command: '/ticket', text: `submit bench-wait env:STAGE Tag=v${i}`, userId: USERS.erin.id, userName: 'erin', responseUrl: fake.responseUrl() }));
    // What the acks promised is what the store holds, once the listeners' work after the ack is done.
    // (Waited for until the counts hold still for 5 s, at most 3 minutes.)
    let last = -1;
    for (let still = 0, until = Date.now() + 180_000; still < 5 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = (await accessModels(db).Application.countDocuments({})) + (await ticketModel(db).countDocuments({}));
      still = now === last ? still + 1 : 0;
      last = now;
    }
    line('applications in the store', String(await accessModels(db).Application.countDocuments({})));
    line('tickets in the store', String(await ticketModel(db).countDocuments({})));
    const refusals = new Map<string, number>();
    for (const c of fake.calls) {
      const m = c.method === 'response_url' ? /\[(1\d{3})\][^"]{0,80}/.exec(JSON.stringify(c.args)) : null;
      if (m) refusals.set(m[0], (refusals.get(m[0]) ?? 0) + 1);
    }
    for (const [text, n] of [...refusals].sort((a, b) => b[1] - a[1]).slice(0, 5)) line(`answered ${n}×`, text);
  } finally {
    await db.close();
    await bots.stop();
    await fake.stop();
    fs.rmSync(catalogDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchWriteAck();
}
