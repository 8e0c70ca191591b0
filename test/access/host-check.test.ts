/**
 * The daily host check: every enabled host must accept the bot's key. A host that stops
 * answering becomes inactive (with the reason) and the admin channel hears of it; access to it
 * is then refused; once it answers again it is active again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/opsgate.js';
import { roleAccounts, startAccessEnv, USERS, type AccessEnv } from '../helpers/access-env.js';

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
    b.sshd.child.kill('SIGSTOP');
    const mark = env.t.fake.calls.length;
    let r;
    try {
      r = await hostCheck.run();
    } finally {
      b.sshd.child.kill('SIGCONT');
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
    expect((await inventory.hostByName('bastion-b'))?.active).toBe(true);
  }, 60_000);
});
