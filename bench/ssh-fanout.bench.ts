/**
 * SSH fan-out: `uptime` on 50 host entries through the execution engine, `parallel-ssh -p 50`
 * and `ansible -f 50 -m command`, on the same list in the same run.
 *
 * The 50 entries point at a handful of real OpenSSH sshd processes on loopback ports (one
 * machine cannot hold 50 sshd on one address; each entry still gets its own connection). All
 * three tools open fresh connections for every run, check host keys strictly against the same
 * pinned keys (a known_hosts file for the OpenSSH-based tools) and use the same client key.
 * Ansible gets its fastest ad-hoc settings (pipelining, a fixed Python interpreter, no fact
 * gathering); its ControlPersist master connections are off so that every tool connects cold.
 *
 * The engine runs twice: cold (its pool off, so every run connects afresh as the other tools
 * do) and warm (one engine whose pool keeps the connections from the warm-up run). Both give
 * each entry a connection of its own (one command per connection), as 50 distinct hosts would.
 *
 * Every tool logs in as the same plain account (`opsgate-bench`, bench-account.ts), created by
 * the bench where missing, not as root: root's ~/.bashrc on this machine runs `pyenv init` for
 * every command sshd starts (~130 ms of CPU each), which a real host's account does not do and
 * which would drown what is measured. One account for all tools keeps the comparison fair.
 *
 * Rounds alternate between the tools after one untimed warm-up each; the median is reported,
 * with the engine's own CPU time (this process, user + system) per host. parallel-ssh and
 * ansible come from `npm run bench:setup`; a tool that is missing is skipped, and said so.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ExecutionEngine } from '../src/adapters/exec/engine.js';
import type { SshTarget } from '../src/adapters/exec/types.js';
import { startSshdFleet, type SshdFleet } from '../test/helpers/sshd.js';
import { authorizeBenchKey, BENCH_AUTHORIZED_KEYS, ensureBenchAccount } from './bench-account.js';
import { fmt, line } from './stats.js';

const HOST_ENTRIES = 50;
const SSHD_PROCESSES = 5;
const PARALLELISM = 50;
const ROUNDS = 5;

interface Tool {
  name: string;
  /** Runs `uptime` on every entry once; throws unless all 50 succeeded. */
  run(): Promise<void>;
  /** Lets go of what it holds (the warm engine's connections). */
  close?(): Promise<void>;
  /** Measures this process's CPU during each timed run (the engine runs in it). */
  inProcess?: boolean;
}

export function findOnPath(bin: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(d, bin);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

function exec(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}

function countMatches(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

function entries(fleet: SshdFleet, user: string): SshTarget[] {
  return Array.from({ length: HOST_ENTRIES }, (_, i) => {
    const server = fleet.servers[i % fleet.servers.length]!;
    return { transport: 'ssh', name: `host-${String(i + 1).padStart(2, '0')}`, address: '127.0.0.1', port: server.port, user, hostKey: server.fingerprint };
  });
}

function engineTool(fleet: SshdFleet, targets: SshTarget[], mode: 'cold' | 'warm'): Tool {
  const engine = new ExecutionEngine({
    sshPrivateKey: fleet.clientKey.privateKey,
    parallelism: PARALLELISM,
    connectTimeoutMs: 30_000,
    // Two channels per connection leave one for commands (the other is kept for signals):
    // the entries on one sshd do not share a connection, as distinct hosts would not.
    sshPool: { idleTimeoutMs: mode === 'cold' ? 0 : 600_000, channelsPerConnection: 2 },
  });
  return {
    name: `opsgate engine ${mode}`,
    inProcess: true,
    run: async () => {
      const r = await engine.start({ targets, command: 'uptime', timeoutMs: 60_000 }).done;
      const ok = Object.values(r.host_ok).filter((h) => /load average/.test(h.stdout)).length;
      if (ok !== HOST_ENTRIES) throw new Error(`engine: ${ok}/${HOST_ENTRIES} ok: ${JSON.stringify({ ...r, host_ok: undefined })}`);
    },
    close: () => engine.close(),
  };
}

/** known_hosts lines for the fleet, so OpenSSH-based tools check host keys as strictly as the engine. */
function writeKnownHosts(fleet: SshdFleet, file: string): void {
  const lines = fleet.servers.map((s) => {
    const pub = fs.readFileSync(path.join(s.dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    return `[127.0.0.1]:${s.port} ${pub[0]} ${pub[1]}`;
  });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

function psshTool(bin: string, fleet: SshdFleet, targets: SshTarget[], dir: string, knownHosts: string): Tool {
  const hostsFile = path.join(dir, 'pssh-hosts');
  fs.writeFileSync(hostsFile, targets.map((t) => `${t.user}@127.0.0.1:${t.port}`).join('\n') + '\n');
  const args = ['-p', String(PARALLELISM), '-t', '0', '-h', hostsFile, '-i',
    '-x', `-i ${fleet.clientKey.path}`,
    '-O', `UserKnownHostsFile=${knownHosts}`, '-O', 'StrictHostKeyChecking=yes', '-O', 'BatchMode=yes', '-O', 'ControlMaster=no',
    'uptime'];
  return {
    name: 'parallel-ssh -p 50',
    run: async () => {
      const r = await exec(bin, args);
      const ok = countMatches(r.stdout, /\[SUCCESS\]/g);
      if (r.code !== 0 || ok !== HOST_ENTRIES) throw new Error(`parallel-ssh: ${ok}/${HOST_ENTRIES} ok, exit ${r.code}: ${r.stdout.slice(0, 2000)} ${r.stderr.slice(0, 2000)}`);
    },
  };
}

function ansibleTool(bin: string, fleet: SshdFleet, targets: SshTarget[], dir: string, knownHosts: string): Tool {
  const inventory = path.join(dir, 'inventory.ini');
  fs.writeFileSync(
    inventory,
    ['[fleet]', ...targets.map((t) => `${t.name} ansible_host=127.0.0.1 ansible_port=${t.port} ansible_user=${t.user}`)].join('\n') + '\n',
  );
  const cfg = path.join(dir, 'ansible.cfg');
  fs.writeFileSync(
    cfg,
    [
      '[defaults]',
      // Host keys are checked, against the pinned keys in known_hosts: as strict as the engine.
      'host_key_checking = True',
      `private_key_file = ${fleet.clientKey.path}`,
      'interpreter_python = /usr/bin/python3',
      'gathering = explicit',
      `local_tmp = ${path.join(dir, 'ansible-local')}`,
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -o ControlMaster=no -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
      '',
    ].join('\n'),
  );
  const args = ['all', '-i', inventory, '-f', String(PARALLELISM), '-m', 'command', '-a', 'uptime'];
  return {
    name: 'ansible -f 50 -m command',
    run: async () => {
      const r = await exec(bin, args, { ANSIBLE_CONFIG: cfg, ANSIBLE_NOCOLOR: '1' });
      const ok = countMatches(r.stdout, /\| CHANGED \| rc=0 >>/g);
      if (r.code !== 0 || ok !== HOST_ENTRIES) throw new Error(`ansible: ${ok}/${HOST_ENTRIES} ok, exit ${r.code}: ${r.stdout.slice(0, 2000)} ${r.stderr.slice(0, 2000)}`);
    },
  };
}

async function timed(tool: Tool, cpuMs: number[]): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await tool.run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  cpuMs.push((cpu.user + cpu.system) / 1000);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function benchSshFanout(): Promise<void> {
  process.stdout.write(`\n== SSH fan-out: uptime on ${HOST_ENTRIES} host entries (${SSHD_PROCESSES} loopback sshd), ${os.cpus().length} CPUs ==\n`);
  const account = ensureBenchAccount();
  if (!account.ready) {
    line('ssh fan-out', `skipped: ${account.reason}`);
    return;
  }
  const fleet = await startSshdFleet(SSHD_PROCESSES, undefined, { extraAuthorizedKeysFiles: [BENCH_AUTHORIZED_KEYS] });
  const unauthorize = authorizeBenchKey(account, fleet.clientKey.publicKeyLine);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-bench-ssh-'));
  try {
    line('login account (all tools)', `${account.user}${account.created ? ' (created now)' : ''}`);
    const targets = entries(fleet, account.user);
    const knownHosts = path.join(dir, 'known_hosts');
    writeKnownHosts(fleet, knownHosts);

    const tools: Tool[] = [engineTool(fleet, targets, 'cold'), engineTool(fleet, targets, 'warm')];
    const pssh = findOnPath('parallel-ssh');
    const ansible = findOnPath('ansible');
    if (pssh) tools.push(psshTool(pssh, fleet, targets, dir, knownHosts));
    else line('parallel-ssh', 'skipped: not installed (npm run bench:setup installs it)');
    if (ansible) tools.push(ansibleTool(ansible, fleet, targets, dir, knownHosts));
    else line('ansible', 'skipped: not installed (npm run bench:setup installs it)');

    for (const tool of tools) await tool.run(); // warm-up: page cache, Python bytecode, JIT, the warm pool
    const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
    const cpu = new Map<string, number[]>(tools.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const tool of tools) samples.get(tool.name)!.push(await timed(tool, cpu.get(tool.name)!));
    }
    for (const tool of tools) await tool.close?.();

    const [cold, warm] = tools as [Tool, Tool];
    const coldMs = median(samples.get(cold.name)!);
    const warmMs = median(samples.get(warm.name)!);
    for (const tool of tools) {
      const ms = samples.get(tool.name)!;
      const m = median(ms);
      const ratio = tool === cold ? '' : `  ${fmt(m / coldMs, 2)}x the cold engine's time`;
      line(`${tool.name} wall time, median of ${ROUNDS} (ms)`, `${fmt(m, 0)}  [${ms.map((x) => fmt(x, 0)).join(', ')}]${ratio}`);
    }
    for (const tool of [cold, warm]) {
      line(`${tool.name} CPU per host, median (ms)`, fmt(median(cpu.get(tool.name)!) / HOST_ENTRIES, 2));
    }
    for (const tool of tools.slice(2)) {
      const m = median(samples.get(tool.name)!);
      line(`engine cold vs ${tool.name}`, `${fmt(coldMs / m, 2)}x its time: ${fmt(coldMs, 0)} ms vs ${fmt(m, 0)} ms (target: <= 1x)`);
      line(`engine warm vs ${tool.name}`, `${fmt(warmMs / m, 2)}x its time: ${fmt(warmMs, 0)} ms vs ${fmt(m, 0)} ms (target: <= 0.2x)`);
    }
  } finally {
    unauthorize();
    await fleet.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// `npx tsx bench/ssh-fanout.bench.ts` runs this benchmark alone.
if (import.meta.url === `file://${process.argv[1]}`) await benchSshFanout();
