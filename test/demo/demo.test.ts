/**
 * `npm run demo` as a newcomer runs it: the real entry in its own process, PORT=0, a fresh
 * DATA_DIR, no Slack. Its three sshd must answer on loopback with the host keys the demo
 * catalog pins, the bot must have logged in to each with its key, and SIGTERM must end the
 * process with 0 and leave none of its sshd behind. Without sshd it says how to install it and
 * starts anyway.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { HostKeysGateway } from '../../src/adapters/access/host-keys.js';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { buildKeyLine } from '../../src/services/access/authorized-keys.js';
import { startDemo, stopStartedDemos } from '../helpers/demo-process.js';
import { localPs, untilGone } from '../helpers/processes.js';
import { ensureRoleAccounts } from '../helpers/role-accounts.js';
import { rootOwnedDir } from '../helpers/sshd.js';

const run = promisify(execFile);
// Created as the tests do when run as root; the first test logs in as evans.
const roleAccounts = ensureRoleAccounts(['evans', 'readonly']);

/** The demo's sshd processes: each runs with a config file under its DATA_DIR. */
const sshdOf = (dataDir: string) => async () => (await localPs(`-f ${dataDir}/demo/hosts/`)).filter((l) => l.includes('sshd'));

afterEach(stopStartedDemos);

describe('npm run demo', () => {
  it.skipIf(!roleAccounts.ready)(`starts three loopback sshd with the pinned host keys, reaches each with the bot key, and leaves none running after SIGTERM${roleAccounts.ready ? '' : ` (skipped: ${roleAccounts.reason})`}`, async () => {
    const dataDir = rootOwnedDir('demo');
    const demo = startDemo(dataDir);
    const ready = await demo.line((l) => l.msg.startsWith('demo hosts ready: '));
    const listening = await demo.line((l) => l.msg === 'opsgate listening');

    const hosts = ready.hosts as Array<{ name: string; port: number; fingerprint: string }>;
    expect(hosts.map((h) => h.name)).toEqual(['web-01', 'stage-web-01', 'config-01']);
    // What the catalog pins is what each sshd presents on its port.
    const catalog = YAML.parse(fs.readFileSync(path.join(dataDir, 'demo', 'catalog', 'hosts.yaml'), 'utf8')) as { hosts: Array<{ name: string; address: string; port: number; hostKey: string }> };
    expect(catalog.hosts.map((h) => [h.name, h.address, h.port, h.hostKey])).toEqual(hosts.map((h) => [h.name, '127.0.0.1', h.port, h.fingerprint]));
    for (const h of hosts) {
      const { stdout: scanned } = await run('ssh-keyscan', ['-T', '20', '-t', 'ed25519', '-p', String(h.port), '127.0.0.1']);
      const file = path.join(dataDir, `scan-${h.name}`);
      fs.writeFileSync(file, scanned);
      const { stdout: fp } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', file]);
      expect(fp.split(/\s+/)[1]).toBe(h.fingerprint);
    }
    // The tickets' config center is one of them; every person got a demo key and a login line.
    const tickets = YAML.parse(fs.readFileSync(path.join(dataDir, 'demo', 'catalog', 'tickets.yaml'), 'utf8')) as { tickets: Array<{ name: string; configCenter?: string }> };
    expect(tickets.tickets.find((t) => t.name === 'deploy-static')?.configCenter).toBe('config-01');
    const carol = await demo.line((l) => l.person === 'carol');
    expect(carol.msg).toContain(`ssh -i ${path.join(dataDir, 'demo', 'people', 'carol', 'id_ed25519')} `);
    expect(carol.msg).toContain(`-p ${hosts[0]!.port} `);
    expect(fs.statSync(String(carol.key)).mode & 0o077).toBe(0);
    // A grant written by opsgate's own gateway (as the provisioning worker writes it) lets Carol
    // in with the printed line: the key folders are ones opsgate accepts and sshd reads.
    const web = hosts[0]!;
    const engine = new ExecutionEngine({ sshPrivateKey: fs.readFileSync(path.join(dataDir, 'ssh', 'id_ed25519')) });
    try {
      const gateway = new HostKeysGateway({ engine, authorizedKeysFile: path.join(dataDir, 'demo', 'hosts', web.name, 'keys', '%u') });
      const line = buildKeyLine({ publicKey: fs.readFileSync(`${String(carol.key)}.pub`, 'utf8'), grantId: 'g-demo-1', expiresAt: new Date(Date.now() + 3_600_000) });
      const target = { transport: 'ssh' as const, name: web.name, address: '127.0.0.1', port: web.port, user: 'root', hostKey: web.fingerprint };
      expect(await gateway.add(target, { accounts: ['evans', 'readonly'], line, grantId: 'g-demo-1' })).toMatchObject({ status: 'ok' });
    } finally {
      await engine.close();
    }
    const login = /ssh (-i .*) <root\|evans\|readonly>@127\.0\.0\.1/.exec(carol.msg)![1]!.split(' ');
    const { stdout: who } = await run('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', ...login, 'evans@127.0.0.1', 'id -un'], { timeout: 60_000 });
    expect(who.trim()).toBe('evans');

    // The bot serves what npm start serves.
    const health = await fetch(`http://127.0.0.1:${Number(listening.port)}/healthz`);
    expect(health.status).toBe(200);

    expect(await sshdOf(dataDir)()).toHaveLength(3);
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(await untilGone(sshdOf(dataDir))).toEqual([]);
  }, 180_000);

  it('a SIGTERM while the bot is still starting also exits 0 and stops its sshd', async () => {
    const dataDir = rootOwnedDir('demo-early');
    const demo = startDemo(dataDir);
    // The store and the scheduler start after the hosts are up: the signal lands in between
    // (or, on a fast machine, after the bot took over its own shutdown; both must end clean).
    await demo.line((l) => l.msg.startsWith('demo hosts ready: '));
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(await untilGone(sshdOf(dataDir))).toEqual([]);
  }, 180_000);

  it('stops its sshd when the bot cannot start (its PORT is taken)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const dataDir = rootOwnedDir('demo-fail');
    try {
      const demo = startDemo(dataDir, { PORT: String((taken.address() as net.AddressInfo).port) });
      await demo.line((l) => l.msg.startsWith('demo hosts ready: '));
      expect((await demo.exited).code).toBe(1);
      expect(demo.stderr() + demo.lines.map((l) => l.msg).join('\n')).toMatch(/cannot start|EADDRINUSE|opsgate stopping: an error/);
      expect(await untilGone(sshdOf(dataDir))).toEqual([]);
    } finally {
      taken.close();
    }
  }, 180_000);

  it('without sshd says how to install it and still starts, on `local` only', async () => {
    const dataDir = rootOwnedDir('demo-nosshd');
    const missing = path.join(dataDir, 'no-such-sshd');
    const demo = startDemo(dataDir, { DEMO_SSHD: missing });
    const told = await demo.line((l) => l.msg.includes('apt-get install -y openssh-server'));
    expect(told.msg).toContain(`sshd not found at ${missing}`);
    await demo.line((l) => l.msg === 'opsgate listening');
    expect(demo.lines.some((l) => l.msg.startsWith('demo hosts ready'))).toBe(false);
    const catalog = YAML.parse(fs.readFileSync(path.join(dataDir, 'demo', 'catalog', 'hosts.yaml'), 'utf8')) as { hosts: unknown[] };
    expect(catalog.hosts).toEqual([]);
    // The catalog still loads: tickets stay on `local`.
    expect(demo.lines.some((l) => l.msg.startsWith('catalog not loaded'))).toBe(false);
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(await sshdOf(dataDir)()).toEqual([]);
  }, 180_000);
});
