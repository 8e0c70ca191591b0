/**
 * The warm SSH pool (src/adapters/exec/ssh-pool.ts) against real OpenSSH sshd on loopback,
 * logging at VERBOSE so that every TCP connection sshd accepts is a "Connection from" line,
 * plus the `flaky` fault server for connections that die at a chosen moment.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionEngine, type ExecutionEngineOptions } from '../../src/adapters/exec/engine.js';
import { loadConfig } from '../../src/config.js';
import type { SshConnectionPool } from '../../src/adapters/exec/ssh-pool.js';
import type { HostResult, SshTarget } from '../../src/adapters/exec/types.js';
import { DROP_MID_COMMAND, DROP_MID_TRANSFER, HANG_MID_COMMAND, startFlakyServer, TRANSFER_BYTES, type FlakyServer } from '../helpers/ssh-fault-server.js';
import { generateClientKey, startSshd, type ClientKey, type SshdInstance } from '../helpers/sshd.js';

let dir: string;
let bot: ClientKey;
let authorizedKeys: string;
const servers: SshdInstance[] = [];
const engines: ExecutionEngine[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-ssh-pool-'));
  bot = generateClientKey(dir);
  authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, bot.publicKeyLine + '\n', { mode: 0o600 });
  for (let i = 0; i < 3; i++) servers.push(await startSshd({ authorizedKeys, logLevel: 'VERBOSE' }));
});

afterAll(async () => {
  // Closing the pools first lets every sshd connection process end with its connection.
  await Promise.all(engines.map((e) => e.close()));
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function newEngine(opts: Partial<ExecutionEngineOptions> = {}): { engine: ExecutionEngine; pool: SshConnectionPool } {
  const engine = new ExecutionEngine({ sshPrivateKey: bot.privateKey, connectTimeoutMs: 5000, killGraceMs: 500, ...opts });
  engines.push(engine);
  return { engine, pool: engine.sshPool! };
}

function target(server: SshdInstance | FlakyServer, name: string, hostKey?: string): SshTarget {
  return { transport: 'ssh', name, address: '127.0.0.1', port: server.port, user: 'root', hostKey: hostKey ?? server.fingerprint };
}

const hosts = (): SshTarget[] => servers.map((s, i) => target(s, `web-0${i + 1}`));

function only(bucket: Record<string, HostResult>, name: string): HostResult {
  const r = bucket[name];
  expect(r, `${name} in ${JSON.stringify(Object.keys(bucket))}`).toBeDefined();
  return r!;
}

/** TCP connections this sshd accepted (LogLevel VERBOSE logs each one). */
const accepted = (s: SshdInstance): number => s.log().split('\n').filter((l) => l.includes('Connection from 127.0.0.1')).length;

/** Connections sshd authenticated after log offset `from` (distinct client ports of "Accepted publickey"). */
const authenticatedSince = (s: SshdInstance, from: number): number =>
  new Set([...s.log().slice(from).matchAll(/Accepted publickey for root from 127\.0\.0\.1 port (\d+) /g)].map((m) => m[1])).size;

async function waitFor(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Opens one TCP connection of our own to sshd and waits until sshd logged it. sshd logs the
 * connections it accepts in order, so once this probe's line is there, any connection a run
 * before it opened is in the log too: counting then needs no waiting for "long enough".
 */
async function probe(s: SshdInstance): Promise<void> {
  const sock = net.connect(s.port, '127.0.0.1');
  await once(sock, 'connect');
  const line = `Connection from 127.0.0.1 port ${sock.localPort} `;
  try {
    await waitFor(`sshd to log the probe on port ${sock.localPort}`, () => s.log().includes(line));
  } finally {
    sock.destroy();
  }
}

async function runOk(engine: ExecutionEngine, targets: SshTarget[], command = 'echo "$((6 * 7))"', output = '42'): Promise<void> {
  const r = await engine.start({ targets, command }).done;
  expect(Object.keys(r.host_ok).sort(), JSON.stringify(r)).toEqual(targets.map((t) => t.name).sort());
  for (const t of targets) expect(r.host_ok[t.name]!.stdout).toContain(output);
}

describe('the warm SSH pool', () => {
  it('the second run on the same hosts opens no new connection', async () => {
    const { engine, pool } = newEngine();
    const before = servers.map(accepted);
    await runOk(engine, hosts());
    await runOk(engine, hosts());
    await runOk(engine, hosts(), 'echo 42');
    for (const s of servers) await probe(s);
    // One connection per host for three runs, plus our probe.
    expect(servers.map(accepted)).toEqual(before.map((n) => n + 2));
    expect(pool.connectsTotal).toBe(3);
    expect(pool.size).toBe(3);
  });

  it('runs the commands of one host on channels of one connection, and opens a second only past the channels sshd allows', async () => {
    // A host whose MaxSessions (2) is below the pool's assumption (10): its refusals lower
    // the connection's share, and the rest go to a second connection; nothing fails.
    const tight = await startSshd({ authorizedKeys, logLevel: 'VERBOSE', maxSessions: 2 });
    try {
      const { engine, pool } = newEngine();
      const start = accepted(tight);
      const gate = fs.mkdtempSync(path.join(dir, 'gate-'));
      // Five commands to the same host (same address, port, login and key), all running at
      // once: each waits until all five have started.
      const targets = Array.from({ length: 5 }, (_, i) => target(tight, `same-host-${i}`));
      const command = `touch ${gate}/$$; while [ "$(ls ${gate} | wc -l)" -lt 5 ]; do sleep 0.05; done; echo 42`;
      await runOk(engine, targets, command);
      await probe(tight);
      // At most two channels per connection: three connections for five commands.
      expect(pool.connectsTotal).toBe(accepted(tight) - start - 1);
      expect(pool.connectsTotal).toBe(3);

      // The same on a host with sshd's default room (here 100): one connection for five.
      const roomy = newEngine();
      const gate2 = fs.mkdtempSync(path.join(dir, 'gate-'));
      const before = accepted(servers[0]!);
      await runOk(roomy.engine, Array.from({ length: 5 }, (_, i) => target(servers[0]!, `same-host-${i}`)), command.replaceAll(gate, gate2));
      await probe(servers[0]!);
      expect(accepted(servers[0]!)).toBe(before + 2);
      expect(roomy.pool.connectsTotal).toBe(1);
    } finally {
      await Promise.all(engines.map((e) => e.close()));
      await tight.stop();
    }
  });

  it('a KILL reaches the process group of one command on a shared connection; the other command and the connection go on', async () => {
    const { engine, pool } = newEngine();
    const s = servers[1]!;
    const tag = 100_000 + Math.floor(Math.random() * 900_000);
    const started = path.join(dir, `a-started-${tag}`);
    const killed = path.join(dir, `a-killed-${tag}`);
    const a = engine.start({ targets: [target(s, 'a')], command: `touch ${started}; sleep ${tag} & sleep ${tag + 1}; wait` });
    const b = engine.start({ targets: [target(s, 'b')], command: `while [ ! -e ${killed} ]; do sleep 0.05; done; echo 42` });
    await waitFor('the first command to start', () => fs.existsSync(started));
    engine.signal(a.jobId, 'KILL');
    expect(only((await a.done).host_failed, 'a')).toMatchObject({ signal: 'SIGKILL', error: { kind: 'cancelled' } });
    fs.writeFileSync(killed, '');
    expect(only((await b.done).host_ok, 'b').stdout).toBe('42\n');
    const ps = await engine.start({ targets: [target(s, 'ps')], command: 'ps -eo args' }).done;
    expect(only(ps.host_ok, 'ps').stdout).not.toContain(`sleep ${tag}`);
    // Both commands, their kill and the ps went over one connection.
    expect(pool.connectsTotal).toBe(1);
  });

  it('reconnects transparently to a host whose sshd restarted', async () => {
    const { engine, pool } = newEngine();
    const s = servers[0]!;
    await runOk(engine, [hosts()[0]!]);
    const lost = once(pool, 'closed');
    await s.restart();
    // The host ended the connection (its connection processes died with the restart).
    expect((await lost)[0]).toMatchObject({ reason: 'lost' });
    // Counted as connections sshd authenticated after the restart, not as every TCP connection
    // it logged: the restart's own readiness check (the helper's banner probe) and anything
    // else that only touches the port are not ours to count, and their log lines need not be
    // in when the restart resolves. This counted one connection too many or too few under load.
    const from = s.log().length;
    await runOk(engine, [hosts()[0]!]);
    await runOk(engine, [hosts()[0]!]);
    await probe(s); // the log has caught up with everything before it
    expect(authenticatedSince(s, from)).toEqual(1);
    expect(pool.connectsTotal).toBe(2); // before the restart, and once after it
  });

  it('refuses a pooled host whose host key changed when it reconnects, running nothing', async () => {
    const { engine } = newEngine();
    const s = servers[1]!;
    const pinned = s.fingerprint;
    await runOk(engine, [target(s, 'rekeyed', pinned)]);
    await s.restart({ newHostKey: true });
    expect(s.fingerprint).not.toBe(pinned);
    const flag = path.join(dir, 'ran-after-rekey');
    const r = await engine.start({ targets: [target(s, 'rekeyed', pinned)], command: `touch ${flag}` }).done;
    expect(only(r.host_unreachable, 'rekeyed').error).toEqual({
      kind: 'hostkey',
      message: `host key changed: the host presented ${s.fingerprint}, the inventory pins ${pinned}; refused`,
    });
    expect(fs.existsSync(flag)).toBe(false);
  });

  it('reports a host that froze under a warm connection as unreachable instead of waiting on it', async () => {
    const { engine, pool } = newEngine({ connectTimeoutMs: 1000 });
    const s = servers[2]!;
    await runOk(engine, [hosts()[2]!]);
    const flag = path.join(dir, 'ran-on-frozen');
    s.pause();
    let r;
    try {
      r = await engine.start({ targets: [hosts()[2]!], command: `touch ${flag}` }).done;
    } finally {
      s.resume();
    }
    // The warm connection was dropped, and a new one found no SSH server answering.
    expect(only(r.host_unreachable, 'web-03').error).toEqual({ kind: 'connect', message: 'no SSH session within 1000 ms' });
    expect(fs.existsSync(flag)).toBe(false);
    await runOk(engine, [hosts()[2]!]);
    expect(pool.connectsTotal).toBe(3);
  });

  it('closes a connection once it was idle for the idle timeout, and opens a new one for the next run', async () => {
    const { engine, pool } = newEngine({ sshPool: { idleTimeoutMs: 200 } });
    const closed = once(pool, 'closed');
    await runOk(engine, [hosts()[2]!]);
    expect((await closed)[0]).toMatchObject({ reason: 'idle' });
    expect(pool.size).toBe(0);
    await runOk(engine, [hosts()[2]!]);
    expect(pool.connectsTotal).toBe(2);
  });

  it('with an idle timeout of 0 (the pool off) connects afresh for every run, also back to back', async () => {
    const { engine, pool } = newEngine({ sshPool: { idleTimeoutMs: 0 } });
    for (let i = 0; i < 3; i++) await runOk(engine, [hosts()[2]!]);
    expect(pool.connectsTotal).toBe(3);
  });

  it('keeps at most the cap open, closing the least recently used idle connection', async () => {
    const { engine, pool } = newEngine({ sshPool: { maxConnections: 2 } });
    const [a, b, c] = hosts() as [SshTarget, SshTarget, SshTarget];
    await runOk(engine, [a]);
    await runOk(engine, [b]);
    const evicted = once(pool, 'closed');
    await runOk(engine, [c]);
    expect((await evicted)[0]).toEqual({ target: `root@127.0.0.1:${a.port}`, reason: 'evicted' });
    expect(pool.size).toBe(2);
    // b and c are still warm.
    await runOk(engine, [b, c]);
    expect(pool.connectsTotal).toBe(3);
  });

  it('with every connection busy, opens beyond the cap and shrinks back once they are idle', async () => {
    const { engine, pool } = newEngine({ sshPool: { maxConnections: 1 } });
    const evicted: string[] = [];
    pool.on('closed', (e) => e.reason === 'evicted' && evicted.push(e.target));
    const gate = fs.mkdtempSync(path.join(dir, 'gate-'));
    const command = `touch ${gate}/$$; while [ "$(ls ${gate} | wc -l)" -lt 3 ]; do sleep 0.05; done; echo 42`;
    await runOk(engine, hosts(), command);
    expect(pool.connectsTotal).toBe(3);
    await waitFor('two of the three connections to be closed', () => evicted.length === 2);
    expect(pool.size).toBe(1);
  });
});

describe('a pooled connection that dies', () => {
  let flaky: FlakyServer;
  beforeAll(async () => {
    flaky = await startFlakyServer();
  });
  afterAll(() => flaky?.stop());

  it('before the command was sent: the command goes to a new connection and runs once', async () => {
    const { engine, pool } = newEngine();
    const t = target(flaky, 'flaky');
    await runOk(engine, [t], 'echo warm-up', 'ok');
    expect(flaky.connections()).toBe(1);
    flaky.dropAtNextChannelRequest();
    const r = await engine.start({ targets: [t], command: 'echo after-drop' }).done;
    expect(only(r.host_ok, 'flaky').stdout).toBe('ok\n');
    expect(flaky.execs.filter((c) => c.includes('after-drop'))).toHaveLength(1);
    expect(flaky.connections()).toBe(2);
    expect(pool.connectsTotal).toBe(2);
  });

  it('while the command ran: host_failed as lost, and the command is not run again', async () => {
    const { engine } = newEngine();
    const t = target(flaky, 'flaky');
    await runOk(engine, [t], 'echo warm-up', 'ok');
    const r = await engine.start({ targets: [t], command: `echo ${DROP_MID_COMMAND}` }).done;
    const h = only(r.host_failed, 'flaky');
    expect(h.stdout).toBe('started\n');
    expect(h.error?.kind).toBe('lost');
    expect(h.error?.message).toContain('not run again');
    expect(flaky.execs.filter((c) => c.includes(DROP_MID_COMMAND))).toHaveLength(1);
    // The host is still usable: the next run gets a new connection.
    await runOk(engine, [t], 'echo next', 'ok');
  });
});

describe('pool settings', () => {
  it('reads the pool and provisioning settings, with defaults, and names a bad one', () => {
    expect(loadConfig({})).toMatchObject({
      SSH_POOL_IDLE_TIMEOUT_MS: 60_000,
      SSH_POOL_MAX_CONNECTIONS: 256,
      SSH_POOL_KEEPALIVE_INTERVAL_MS: 15_000,
      SSH_POOL_CHANNELS_PER_CONNECTION: 10,
      ACCESS_PROVISIONING_BATCH_SIZE: 1000,
      ACCESS_PROVISIONING_HOST_PARALLELISM: 10,
    });
    expect(loadConfig({ SSH_POOL_IDLE_TIMEOUT_MS: '0', ACCESS_PROVISIONING_HOST_PARALLELISM: '25' })).toMatchObject({ SSH_POOL_IDLE_TIMEOUT_MS: 0, ACCESS_PROVISIONING_HOST_PARALLELISM: 25 });
    expect(() => loadConfig({ SSH_POOL_MAX_CONNECTIONS: '0' })).toThrow('SSH_POOL_MAX_CONNECTIONS: must be a whole number from 1 to 100000 (got "0")');
    // Settings that only clash together are named as set, not as the service's option.
    expect(() => loadConfig({ MAIL_SEND_TIMEOUT_MS: '60000', MAIL_CLAIM_LEASE_MS: '60000' })).toThrow('MAIL_CLAIM_LEASE_MS: must be at least MAIL_SEND_TIMEOUT_MS + 30000 (got 60000 with MAIL_SEND_TIMEOUT_MS 60000)');
    expect(() => loadConfig({ NOTIFY_BACKOFF_BASE_MS: '5000', NOTIFY_BACKOFF_MAX_MS: '1000' })).toThrow(/^NOTIFY_BACKOFF_MAX_MS: must be at least NOTIFY_BACKOFF_BASE_MS/);
    expect(() => loadConfig({ SSH_POOL_KEEPALIVE_INTERVAL_MS: 'soon' })).toThrow(/^SSH_POOL_KEEPALIVE_INTERVAL_MS: must be a whole number/);
  });
});

describe('a host that fails mid-command (issue 10)', () => {
  let flaky: FlakyServer;
  beforeAll(async () => {
    flaky = await startFlakyServer();
  });
  afterAll(() => flaky?.stop());

  it('hangs while the command runs: the job ends at its timeout, and the frozen connection is never handed out again', async () => {
    const { engine, pool } = newEngine({ killGraceMs: 300, sshPool: { keepaliveIntervalMs: 60_000 } });
    const t = target(flaky, 'flaky');
    await runOk(engine, [t], 'echo warm-up', 'ok');
    const before = flaky.connections();
    // The timeout is the only way out here: keepalives are a minute apart.
    const r = await engine.start({ targets: [t], command: `echo ${HANG_MID_COMMAND}`, timeoutMs: 1500 }).done;
    const h = only(r.host_failed, 'flaky');
    expect(h.stdout).toBe('started\n');
    expect(h.error?.kind).toBe('timeout');
    // The next runs get a new connection, each once, and the frozen one is not reused.
    await runOk(engine, [t], 'echo after-hang', 'ok');
    await runOk(engine, [t], 'echo again', 'ok');
    expect(flaky.connections()).toBe(before + 1);
    expect(flaky.execs.filter((c) => c.includes('after-hang'))).toHaveLength(1);
    expect(pool.connectsTotal).toBe(2);
  });

  it('drops halfway through a large output: host_failed as lost with the part that arrived, and a fresh connection next', async () => {
    const { engine, pool } = newEngine();
    const t = target(flaky, 'flaky');
    await runOk(engine, [t], 'echo warm-up', 'ok');
    const r = await engine.start({ targets: [t], command: `cat big-file # ${DROP_MID_TRANSFER}` }).done;
    const h = only(r.host_failed, 'flaky');
    expect(h.error?.kind).toBe('lost');
    expect(h.stdout.length).toBeGreaterThan(0);
    expect(h.stdout.length).toBeLessThan(TRANSFER_BYTES);
    expect(flaky.execs.filter((c) => c.includes(DROP_MID_TRANSFER))).toHaveLength(1);
    await runOk(engine, [t], 'echo next', 'ok');
    await runOk(engine, [t], 'echo next-again', 'ok');
    expect(pool.connectsTotal).toBe(2);
  });
});
