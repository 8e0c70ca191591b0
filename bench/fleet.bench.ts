/**
 * A 1,000-host fleet: `uptime` on 1,000 host entries through the execution engine, cold (pool
 * off: every host connects afresh, as each run did before the pool) and warm (one engine whose
 * pool holds a connection to every host, `maxConnections` above 1,000). Parallelism 50, the
 * EXEC_PARALLELISM default. Printed per mode: wall time, the bench process's peak memory
 * (RSS sampled every 50 ms while the run goes, and the kernel's high-water mark
 * `resourceUsage().maxRSS`, which also counts the setup), client CPU per host (this process,
 * user + system) and whether all 1,000 came back ok. Targets: all ok, memory <= 300 MB.
 *
 * The hosts. Every entry must be a distinct pool key (address, port, login, host key), as
 * 1,000 real hosts would be, or the warm pool would share a few connections among them. One
 * machine cannot run 1,000 sshd, and OpenSSH listens on at most 16 sockets per process, so
 * each loopback sshd listens on 16 ports and 63 of them carry the 1,000 entries (idle sshd
 * cost nothing but a few MB each). The warm pool then holds 1,000 real SSH sessions, each an
 * sshd process pair on this machine.
 *
 * The login is the plain bench account (bench-account.ts), not root: root's ~/.bashrc on this
 * machine runs `pyenv init` for every command (~130 ms of CPU), which a real host's account
 * does not; with it, the figures would be mostly pyenv.
 *
 * One machine plays all 1,000 hosts and the bot: each command's sshd fork, bash and `uptime`
 * run on the same 2 CPUs as the engine, so wall time is an upper bound for the engine itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ExecutionEngine } from '../src/adapters/exec/engine.js';
import type { SshTarget } from '../src/adapters/exec/types.js';
import { startSshdFleet } from '../test/helpers/sshd.js';
import { authorizeBenchKey, BENCH_AUTHORIZED_KEYS, ensureBenchAccount } from './bench-account.js';
import { fmt, line } from './stats.js';

const HOST_ENTRIES = Number(process.env.BENCH_FLEET_HOSTS ?? 1000);
/** OpenSSH's MAX_LISTEN_SOCKS. */
const PORTS_PER_SSHD = 16;
const PARALLELISM = 50;
const WARM_ROUNDS = 3;
const MEMORY_TARGET_MB = 300;

const MB = 1024 * 1024;

/** The soft limit on open files; the warm pool needs a socket per host. */
function openFilesLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

interface RunFigures {
  ms: number;
  ok: number;
  notOk: string[];
  cpuPerHostMs: number;
  peakRssMb: number;
  maxRssMb: number;
}

async function measured(engine: ExecutionEngine, targets: SshTarget[]): Promise<RunFigures> {
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await engine.start({ targets, command: 'uptime', timeoutMs: 300_000, parallelism: PARALLELISM }).done;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const ok = Object.values(r.host_ok).filter((h) => /load average/.test(h.stdout)).length;
  const notOk = [...Object.values(r.host_failed), ...Object.values(r.host_unreachable)].map((h) => `${h.host}: ${h.error?.kind ?? h.code} ${h.error?.message ?? h.stderr}`.slice(0, 200));
  return { ms, ok, notOk, cpuPerHostMs: (cpu.user + cpu.system) / 1000 / targets.length, peakRssMb: peak / MB, maxRssMb: process.resourceUsage().maxRSS / 1024 };
}

function report(label: string, f: RunFigures): void {
  line(`${label}: wall time (s)`, fmt(f.ms / 1000, 2));
  line(`${label}: hosts ok`, `${f.ok}/${HOST_ENTRIES}${f.notOk.length ? `  NOT ok: ${f.notOk.length}, e.g. ${f.notOk.slice(0, 3).join(' | ')}` : ''}`);
  line(`${label}: client CPU per host (ms)`, fmt(f.cpuPerHostMs, 2));
  line(`${label}: peak RSS, sampled every 50 ms (MB)`, `${fmt(f.peakRssMb, 0)}  (target <= ${MEMORY_TARGET_MB})`);
  line(`${label}: maxRSS so far, setup incl. (MB)`, fmt(f.maxRssMb, 0));
}

export async function benchFleet(): Promise<void> {
  const sshdCount = Math.ceil(HOST_ENTRIES / PORTS_PER_SSHD);
  process.stdout.write(`\n== fleet: uptime on ${HOST_ENTRIES} host entries (${sshdCount} loopback sshd x ${PORTS_PER_SSHD} ports), parallelism ${PARALLELISM}, ${os.cpus().length} CPUs ==\n`);
  const account = ensureBenchAccount();
  if (!account.ready) {
    line('fleet', `skipped: ${account.reason}`);
    return;
  }
  const files = openFilesLimit();
  if (files < HOST_ENTRIES + 500) {
    line('fleet', `skipped: the open-files limit is ${files}; the warm pool needs ${HOST_ENTRIES + 500} (ulimit -n 4096 first)`);
    return;
  }
  const setup0 = performance.now();
  const fleet = await startSshdFleet(sshdCount, undefined, { extraAuthorizedKeysFiles: [BENCH_AUTHORIZED_KEYS], extraPorts: PORTS_PER_SSHD - 1 });
  const unauthorize = authorizeBenchKey(account, fleet.clientKey.publicKeyLine);
  try {
    const targets: SshTarget[] = [];
    for (const s of fleet.servers) {
      for (const port of s.ports) {
        if (targets.length === HOST_ENTRIES) break;
        targets.push({ transport: 'ssh', name: `fleet-${String(targets.length + 1).padStart(4, '0')}`, address: '127.0.0.1', port, user: account.user, hostKey: s.fingerprint });
      }
    }
    line('setup: sshd started, s', fmt((performance.now() - setup0) / 1000, 1));
    line('login account', account.user);
    const engineFor = (idleTimeoutMs: number) =>
      new ExecutionEngine({
        sshPrivateKey: fleet.clientKey.privateKey,
        parallelism: PARALLELISM,
        connectTimeoutMs: 60_000,
        sshPool: { idleTimeoutMs, maxConnections: HOST_ENTRIES + 100 },
      });

    const cold = engineFor(0);
    const coldRun = await measured(cold, targets);
    await cold.close();
    line('cold', 'pool off: every host connects afresh');
    report('cold', coldRun);

    const warm = engineFor(600_000);
    const freeBefore = os.freemem();
    const fill = await measured(warm, targets);
    const opened = warm.sshPool!.connectsTotal;
    line('warm', `pool on; a first run opens it, then the median of ${WARM_ROUNDS}`);
    line('warm: first run (opens the pool), s', `${fmt(fill.ms / 1000, 2)}, ${fill.ok}/${HOST_ENTRIES} ok, ${opened} connections opened`);
    const rounds: RunFigures[] = [];
    for (let i = 0; i < WARM_ROUNDS; i++) rounds.push(await measured(warm, targets));
    const newConnections = warm.sshPool!.connectsTotal - opened;
    const held = warm.sshPool!.size;
    const machineMb = (freeBefore - os.freemem()) / MB;
    await warm.close();
    const byTime = [...rounds].sort((a, b) => a.ms - b.ms);
    const median = byTime[Math.floor(byTime.length / 2)]!;
    report('warm', { ...median, peakRssMb: Math.max(...rounds.map((r) => r.peakRssMb)), ok: Math.min(...rounds.map((r) => r.ok)), notOk: rounds.flatMap((r) => r.notOk) });
    line('warm: wall time of each round (s)', rounds.map((r) => fmt(r.ms / 1000, 2)).join(', '));
    line('warm: connections held / opened in the rounds', `${held} / ${newConnections}`);
    line('warm: machine memory the open sessions took (MB)', `${fmt(machineMb, 0)} (sshd side: all ${HOST_ENTRIES} hosts are this machine)`);
    const allOk = coldRun.ok === HOST_ENTRIES && fill.ok === HOST_ENTRIES && rounds.every((r) => r.ok === HOST_ENTRIES);
    const peak = Math.max(coldRun.peakRssMb, fill.peakRssMb, ...rounds.map((r) => r.peakRssMb));
    line('all ok in every run; peak RSS vs target', `${allOk ? 'yes' : 'NO'}, ${fmt(peak, 0)} MB ${peak <= MEMORY_TARGET_MB ? '<=' : '>'} ${MEMORY_TARGET_MB} MB`);
  } finally {
    unauthorize();
    await fleet.stop();
  }
}

// `npm run bench:fleet` runs this benchmark alone.
if (import.meta.url === `file://${process.argv[1]}`) await benchFleet();
