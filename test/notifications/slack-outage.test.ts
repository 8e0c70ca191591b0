/**
 * Slack down while the bot works, end to end: the real Bolt app over signed HTTP, a real sshd
 * bastion. An approver's click reaches the bot while Slack's Web API answers 503 to every post,
 * update and conversations.open: the decision stands and the key line is written on the host
 * all the same, and once Slack is back the requester's DMs arrive once each, in the order they
 * were made, and the approver's message is updated in place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationStatus, GrantStatus, accessModels } from '../../src/models/access.js';
import { NotificationStatus, notificationModel } from '../../src/models/notification.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { eventually, roleAccounts, startAccessEnv, USERS, type AccessEnv } from '../helpers/access-env.js';
import { runCommand } from '../helpers/opsgate.js';

const describeAccess = roleAccounts.ready ? describe : describe.skip;
if (!roleAccounts.ready) process.stderr.write(`NOTICE: Slack outage end-to-end test skipped: ${roleAccounts.reason}\n`);
const SLACK_WRITES = ['conversations.open', 'chat.postMessage', 'chat.update'];

describeAccess(roleAccounts.ready ? 'Slack down while access is decided' : `Slack down while access is decided [skipped: ${roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  const t = () => env.t;
  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: 60_000, env: { ACCESS_SWEEP_MS: '1000', NOTIFY_DRAIN_INTERVAL_MS: '300', NOTIFY_BACKOFF_BASE_MS: '200', NOTIFY_BACKOFF_MAX_MS: '1000' } });
    await t().ready();
  }, 60_000);
  afterAll(() => env?.stop());

  const text = (c: RecordedCall) => JSON.stringify(c.args);
  const ok = (c: RecordedCall) => c.reply?.ok === true;

  it('decides and provisions during the outage, then delivers every DM and update once, in order', async () => {
    const reply = await runCommand(t(), '/access', 'request bastion-a readonly 1d read the logs', USERS.bob);
    const id = /Request (AR-[A-Z0-9]{6}) sent/.exec(reply.text)?.[1];
    expect(id, reply.text).toBeDefined();
    const ask = await t().fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${USERS.alice.id}` && text(c).includes(id!) && text(c).includes('access_approve'));
    const blocks = ask.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    const value = blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'access_approve')!.value;
    const askTs = (ask.reply as { ts: string }).ts;

    for (const m of SLACK_WRITES) t().fake.outages.set(m, { status: 503 });
    const mark = t().fake.calls.length;
    expect((await t().slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: `D${USERS.alice.id}` })).status).toBe(200);

    // The bot's decision does not wait for Slack: granted, and the line is on the host.
    const { Grant } = accessModels(t().app.store.connection);
    await eventually('granted during the outage', async () => (await t().app.services.access.details(id!)).applications[0]?.status === ApplicationStatus.granted);
    const grant = await Grant.findOne({ requestId: id }).lean();
    expect(grant?.status).toBe(GrantStatus.valid);
    expect(env.lines(env.bastions[0]!, 'readonly').filter((l) => l.includes(grant!.grantId))).toHaveLength(1);
    const outbox = notificationModel(t().app.store.connection);
    await eventually('the DMs queued', async () => (await outbox.countDocuments({ status: NotificationStatus.Pending, conversation: `user:${USERS.bob.id}` })) >= 2);
    await eventually('retries against the outage', async () => t().fake.calls.slice(mark).filter((c) => SLACK_WRITES.includes(c.method)).length >= 3);
    expect(t().fake.calls.slice(mark).filter((c) => SLACK_WRITES.includes(c.method) && ok(c))).toHaveLength(0);

    t().fake.outages.clear();
    await eventually('the outbox empty', async () => (await outbox.countDocuments({ status: NotificationStatus.Pending })) === 0, 30_000);
    const after = t().fake.calls.slice(mark).filter(ok);
    const toBob = after.filter((c) => c.method === 'chat.postMessage' && c.args.channel === `D${USERS.bob.id}`).map((c) => String(c.args.text));
    // The decision first, then the grant: each once.
    expect(toBob).toHaveLength(2);
    expect(toBob[0]).toMatch(/approved/i);
    expect(toBob[1]).toMatch(/^Access granted: readonly on bastion-a/);
    const updates = after.filter((c) => c.method === 'chat.update' && c.args.ts === askTs);
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(text(updates.at(-1)!)).not.toContain('access_approve');
    expect(await outbox.countDocuments({ status: NotificationStatus.Failed })).toBe(0);
  }, 90_000);
});
