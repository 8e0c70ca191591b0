/**
 * The daily host check: every enabled host must accept the bot's key. A host that stops
 * answering becomes inactive (with the reason) and the admin channel hears of it; access to it
 * is then refused; once it answers again it is active again. The same check asks each host's
 * sshd (`sshd -T -C user=<account>,…`) whether it reads opsgate's root-owned key files for the
 * role accounts, and reports the hosts where it does not.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import type { Host } from '../../src/models/inventory.js';
import { HostCheckService } from '../../src/services/host-check.js';
import type { InventoryService } from '../../src/services/inventory.js';
import { runCommand } from '../helpers/opsgate.js';
import { roleAccounts, startAccessEnv, USERS, type AccessEnv } from '../helpers/access-env.js';
import { startReadmeHost, startSshd, type ReadmeHost, type SshdInstance } from '../helpers/sshd.js';

const describeIf = roleAccounts.ready ? describe : describe.skip;

describeIf(roleAccounts.ready ? 'daily host check' : `daily host check [skipped: ${roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: 60_000 });
    await env.t.ready();
  }, 60_000);
  afterAll(() => env?.stop());

  it('marks a host that does not answer inactive, tells admins, and restores it when it answers', async () => {
    const [a, b] = env.bastions as [AccessEnv['bastions'][0], AccessEnv['bastions'][0]];
    const { hostCheck, inventory } = env.t.app.services;
    b.sshd.pause();
    const mark = env.t.fake.calls.length;
    let r;
    try {
      r = await hostCheck.run();
    } finally {
      b.sshd.resume();
    }
    expect(r.newlyInactive).toContain('bastion-b');
    expect(r.newlyInactive).not.toContain('bastion-a');
    // The example catalog's loopback hosts have no sshd behind them: inactive too.
    expect(r.newlyInactive).toContain('web-01');
    expect((await inventory.hostByName('bastion-b'))).toMatchObject({ active: false, inactiveReason: expect.stringContaining('unreachable at the daily check') });
    expect((await inventory.hostByName(a.name))?.active).toBe(true);
    const notice = await env.t.fake.waitFor('chat.postMessage', (c) => env.t.fake.calls.indexOf(c) >= mark && c.args.channel === 'C0ADMIN');
    expect(JSON.stringify(notice.args)).toContain('bastion-b');
    const refused = await runCommand(env.t, '/access', 'request bastion-b readonly 1d need logs', USERS.bob);
    expect(JSON.stringify(refused.blocks)).toContain('bastion-b is inactive');
    const audit = await env.t.app.services.audit.query({ action: 'host.inactive', target: 'host:bastion-b' });
    expect(audit).toHaveLength(1);

    const again = await hostCheck.run();
    expect(again.newlyActive).toEqual(['bastion-b']);
    // Both bastions' sshd read opsgate's root-owned files as the README says: nothing to report.
    expect(again.sshdProblems).toEqual({});
    expect((await inventory.hostByName('bastion-b'))?.active).toBe(true);
  }, 60_000);
});

describeIf(roleAccounts.ready ? "daily host check: sshd settings for opsgate's key files" : `daily host check: sshd settings [skipped: ${roleAccounts.ready ? '' : roleAccounts.reason}]`, () => {
  let good: ReadmeHost;
  const bad: SshdInstance[] = [];
  beforeAll(async () => {
    good = await startReadmeHost('check-good');
    const botKeys = path.join(good.rootDir, 'bot');
    // No Match block: evans and readonly also read the bot's file (any file but ours is one an account could be given).
    bad.push(await startSshd({ authorizedKeys: `${good.keysDir}/%u ${botKeys}/%u` }));
    // sshd's default layout: nobody reads opsgate's file.
    bad.push(await startSshd({ authorizedKeys: `.ssh/authorized_keys ${botKeys}/%u` }));
  }, 60_000);
  afterAll(async () => {
    for (const s of bad) await s.stop();
    await good?.stop();
  });

  it('flags a host whose sshd does not read opsgate\'s file for the role accounts, or reads others too, and tells admins', async () => {
    const host = (name: string, s: SshdInstance): Host => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, sshdConfig: s.config, authorizedKeysFile: good.keysFile }) as unknown as Host;
    const hosts = [host('good', good.sshd), host('extra-file', bad[0]!), host('no-opsgate-file', bad[1]!)];
    const engine = new ExecutionEngine({ sshPrivateKey: good.bot.privateKey, connectTimeoutMs: 10_000 });
    const told: Array<Record<string, string>> = [];
    const check = new HostCheckService({
      inventory: { activeHosts: async () => hosts, recordCheck: async () => false } as unknown as InventoryService,
      run: (targets, command) => engine.start({ targets, command, timeoutMs: 30_000 }).done,
      toTarget: (h) => ({ transport: 'ssh', name: h.name, address: h.address, port: h.port, user: 'root', hostKey: h.hostKey }),
      notifyAdmins: async () => undefined,
      notifySshdProblems: async (p) => void told.push(p),
      keysFileFor: (h) => h.authorizedKeysFile!,
    });
    const r = await check.run();
    expect(r.failures).toEqual({});
    expect(Object.keys(r.sshdProblems).sort()).toEqual(['extra-file', 'no-opsgate-file']);
    expect(r.sshdProblems['extra-file']).toContain(`evans: sshd also reads ${path.join(good.rootDir, 'bot')}/%u, where the account can add keys of its own`);
    expect(r.sshdProblems['extra-file']).toContain('readonly: sshd also reads');
    expect(r.sshdProblems['extra-file']).not.toContain('root:');
    for (const account of ['root', 'evans', 'readonly']) expect(r.sshdProblems['no-opsgate-file']).toContain(`${account}: sshd does not read ${good.keysFile} (AuthorizedKeysFile is .ssh/authorized_keys`);
    expect(told).toEqual([r.sshdProblems]);
  }, 60_000);
});
