/**
 * Host access end to end, through the real Bolt app over HTTP, real sshd bastions, real ssh
 * logins and a real SMTP server: request -> level 1 -> level 2 (root) -> the line on the host
 * -> login works -> expiry -> the line is gone -> login refused; refusals with their codes;
 * races, tampering, a bot restart mid-way, a host down at expiry, reconcile, views.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Types } from 'mongoose';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACCESS_PROVISION } from '../../jobs/access.js';
import { accountsForRole, buildKeyLine } from '../../src/services/access/authorized-keys.js';
import { auditModel } from '../../src/models/audit.js';
import { personModel } from '../../src/models/person.js';
import { accessModels, ApplicationStatus, GrantStatus, TaskStatus, type AccessRole } from '../../src/models/access.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { eventually, GINA, roleAccounts, startAccessEnv, USERS, type AccessEnv } from '../helpers/access-env.js';
import { runCommand } from '../helpers/opsgate.js';

const DAY_MS = 8000;
const describeAccess = roleAccounts.ready ? describe : describe.skip;
if (!roleAccounts.ready) process.stderr.write(`NOTICE: host access end-to-end tests skipped: ${roleAccounts.reason}\n`);

type User = { id: string };

describeAccess(roleAccounts.ready ? 'host access end to end' : `host access end to end [skipped: ${roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  const t = () => env.t;
  const models = () => ({ models: accessModels(t().app.store.connection) });

  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: DAY_MS, env: { ACCESS_SWEEP_MS: '1000' } });
    await t().ready();
  }, 60_000);
  afterAll(() => env?.stop());

  const dmChannel = (u: User) => `D${u.id}`;
  const callsSince = (mark: number, method: string, pred: (c: RecordedCall) => boolean = () => true) =>
    t().fake.calls.slice(mark).filter((c) => c.method === method && pred(c));
  const text = (c: RecordedCall) => JSON.stringify(c.args);

  /** The Approve/Reject button value in the newest DM to `u` about `requestId`. */
  async function approvalDm(u: User, requestId: string, mark = 0): Promise<{ value: string; call: RecordedCall }> {
    const call = await t().fake.waitFor('chat.postMessage', (c) => t().fake.calls.indexOf(c) >= mark && c.args.channel === dmChannel(u) && text(c).includes(requestId) && text(c).includes('access_approve'));
    const blocks = call.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    const value = blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'access_approve')!.value;
    return { value, call };
  }

  const click = (u: User, actionId: string, value: string) => t().slack.blockAction(u, { action_id: actionId, value }, { channel: dmChannel(u) });

  async function request(u: User, text: string): Promise<string> {
    const reply = await runCommand(t(), '/access', `request ${text}`, u);
    const m = /Request (AR-[A-Z0-9]{6}) sent/.exec(reply.text);
    if (!m) throw new Error(`request refused: ${JSON.stringify(reply.blocks)}`);
    return m[1]!;
  }

  async function approveAll(requestId: string, approvers: User[]): Promise<void> {
    for (const a of approvers) {
      const dm = await approvalDm(a, requestId);
      expect((await click(a, 'access_approve', dm.value)).status).toBe(200);
      await eventually(`${a.id} approved ${requestId}`, async () => {
        const r = await t().app.services.access.details(requestId);
        return r.request.approval.levels.some((l) => l.decision === 'approved' && l.decidedBy === a.id.slice(1).toLowerCase());
      });
    }
  }

  const mailsTo = (addr: string, subject: RegExp) => env.smtp.received.filter((m) => m.envelope.to.includes(addr) && subject.test(m.parsed.subject ?? ''));

  it('grants root through two levels, logs in, and takes it away at expiry', async () => {
    const b = env.bastions[0]!;
    const mark = t().fake.calls.length;
    // The form: opened by /access request, hosts searched as the user types, then submitted.
    expect((await t().slack.command('/access', 'request', USERS.carol)).status).toBe(200);
    const opened = await t().fake.waitFor('views.open', (c) => t().fake.calls.indexOf(c) >= mark);
    expect(text(opened)).toContain('access_request');
    const suggestions = (await t().slack.blockSuggestion(USERS.carol, 'access_hosts', 'bastion')).json() as { options: Array<{ value: string }> };
    expect(suggestions.options.map((o) => o.value)).toEqual(['bastion-a', 'bastion-b']);
    const submitted = await t().slack.viewSubmission(USERS.carol, {
      callback_id: 'access_request',
      values: {
        hosts: { access_hosts: { type: 'multi_external_select', selected_options: [{ text: { type: 'plain_text', text: 'bastion-a' }, value: 'bastion-a' }] } },
        role: { role: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'root' }, value: 'root' } } },
        days: { days: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: '1 day' }, value: '1' } } },
        reason: { reason: { type: 'plain_text_input', value: 'rotate TLS certificates, incident 4411' } },
      },
    });
    expect(submitted.status).toBe(200);
    expect(submitted.text).toBe('');
    const accepted = await t().fake.waitFor('chat.postMessage', (c) => t().fake.calls.indexOf(c) >= mark && c.args.channel === dmChannel(USERS.carol));
    const requestId = /AR-[A-Z0-9]{6}/.exec(text(accepted))![0];

    // Level 1: carol's manager alice gets the DM with full context, and a mail.
    const dm1 = await approvalDm(USERS.alice, requestId);
    for (const fact of ['Carol SRE', 'bastion-a', 'root', '1 day', 'rotate TLS certificates']) expect(text(dm1.call)).toContain(fact);
    await eventually('mail to alice', async () => mailsTo('alice@example.com', new RegExp(requestId)).length === 1);
    expect(callsSince(mark, 'chat.postMessage', (c) => c.args.channel === dmChannel({ id: 'UERIN' }) && text(c).includes(requestId))).toHaveLength(0);

    const afterL1 = t().fake.calls.length;
    expect((await click(USERS.alice, 'access_approve', dm1.value)).status).toBe(200);
    // Level 2 (root): a qualified ops member other than alice — erin.
    const dm2 = await approvalDm(USERS.erin, requestId, afterL1);
    expect(text(dm2.call)).toContain('Level 1 (manager) approved by Alice Ops');
    const updated = await t().fake.waitFor('chat.update', (c) => t().fake.calls.indexOf(c) >= afterL1 && c.args.channel === dmChannel(USERS.alice));
    expect(text(updated)).toContain('approved by Alice Ops');
    expect(text(updated)).not.toContain('access_approve');
    expect(callsSince(afterL1, 'chat.postMessage', (c) => c.args.channel === dmChannel(USERS.alice) && text(c).includes('access_approve'))).toHaveLength(0);
    await t().fake.waitFor('chat.postMessage', (c) => t().fake.calls.indexOf(c) >= afterL1 && c.args.channel === dmChannel(USERS.carol) && text(c).includes('Level 1 of your request'));

    const afterL2 = t().fake.calls.length;
    await click(USERS.erin, 'access_approve', dm2.value);
    const grantedDm = await t().fake.waitFor('chat.postMessage', (c) => t().fake.calls.indexOf(c) >= afterL2 && c.args.channel === dmChannel(USERS.carol) && text(c).includes('Access granted'));
    // Every copy of the approval DM now shows both decisions.
    const copies = callsSince(afterL2, 'chat.update');
    expect(copies.map((c) => c.args.channel).sort()).toEqual([dmChannel(USERS.alice), dmChannel(USERS.erin)].sort());
    for (const c of copies) expect(text(c)).toContain('Approved');

    // The line: carol's key, expiry-time, the grant id; root covers evans and readonly.
    const grantId = /g[0-9a-f]{24}/.exec(text(grantedDm))![0];
    for (const account of ['root', 'evans', 'readonly']) {
      const lines = env.lines(b, account).filter((l) => l.includes(grantId));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^expiry-time="\\d{12}Z" ssh-ed25519 \\S+ opsgate-grant:${grantId}$`));
      expect(lines[0]).toContain(env.keys.carol!.publicKeyLine.split(' ')[1]!);
    }
    expect(await env.login(b, 'root', 'carol')).toMatchObject({ code: 0, stdout: 'logged-in-as=root\n' });
    expect(await env.login(b, 'evans', 'carol')).toMatchObject({ code: 0 });
    await eventually('grant mail', async () => mailsTo('carol@example.com', /Access granted: root on bastion-a/).length === 1);
    const grant = await models().models.Grant.findOne({ grantId }).lean();
    expect(grant).toMatchObject({ status: GrantStatus.valid, role: 'root', host: 'bastion-a' });
    // The clock started at the grant: one (shortened) day after it.
    expect(grant!.expiresAt!.getTime() - grant!.grantedAt!.getTime()).toBe(DAY_MS);

    // Expiry: the revocation scheduled at the grant removes exactly that line.
    await eventually('line removed at expiry', async () => env.lines(b, 'root').every((l) => !l.includes(grantId)), 30_000);
    // The bot's own key is in a file of its own, which opsgate never writes.
    expect(fs.readFileSync(path.join(env.rootDir, b.name, 'bot', 'root'), 'utf8')).toBe(env.bot.publicKeyLine + '\n');
    const login = await env.login(b, 'root', 'carol');
    expect(login.code).toBe(255);
    expect(login.stderr).toContain('Permission denied');
    const ended = await eventually('grant expired', async () => (await models().models.Grant.findOne({ grantId, status: GrantStatus.expired }).lean()) ?? undefined);
    expect(ended.endReason).toBe('expired');
    await t().fake.waitFor('chat.postMessage', (c) => c.args.channel === dmChannel(USERS.carol) && text(c).includes('was removed'));
    await eventually('removal mail', async () => mailsTo('carol@example.com', /Access removed: root on bastion-a/).length === 1);
    const history = (await t().app.services.audit.query({ target: 'host:bastion-a', limit: 50 })).map((e) => e.action);
    expect(history).toEqual(expect.arrayContaining(['access.request', 'access.granted', 'access.removed']));
    // Once it has ended, the same access can be asked for again.
    const again = await request(USERS.carol, 'bastion-a root 1d second maintenance window');
    expect(again).not.toBe(requestId);
  }, 90_000);

  it('refuses what the requester may not ask for, with codes, writing nothing', async () => {
    const before = await models().models.Request.countDocuments();
    const ask = async (u: User, args: string) => JSON.stringify((await runCommand(t(), '/access', `request ${args}`, u)).blocks);
    expect(await ask(USERS.bob, 'bastion-a root 1d need it')).toContain('[1201]');
    expect(await ask(USERS.bob, 'bastion-a readonly 365d need it')).toContain('only members of ops may ask for more than 30 days');
    expect(await ask(USERS.bob, 'bastion-a readonly 3d need it')).toContain('duration must be one of');
    expect(await ask(USERS.bob, 'no-such-host readonly 1d need it')).toContain('unknown host no-such-host');
    expect(await ask(USERS.bob, 'db-01 readonly 1d need it')).toContain('inactive');
    expect(await ask(USERS.bob, 'bastion-a superuser 1d need it')).toContain('[1100]');
    expect(await ask(USERS.bob, 'bastion-a readonly 1d')).toContain('[1102]');
    expect(await ask(USERS.stranger, 'bastion-a readonly 1d need it')).toContain('[1201]');
    await personModel(t().app.store.connection).updateOne({ personId: 'dave' }, { $set: { sshKeys: [] } });
    expect(await ask(USERS.dave, 'bastion-a readonly 1d need it')).toContain('no SSH public key');
    await personModel(t().app.store.connection).updateOne({ personId: 'dave' }, { $set: { sshKeys: [env.keys.dave!.publicKeyLine] } });
    expect(await models().models.Request.countDocuments()).toBe(before);
    // An identical request while one is pending.
    const id = await request(USERS.bob, 'bastion-b readonly 1d read the logs');
    expect(await ask(USERS.bob, 'bastion-b readonly 1d again')).toContain(`already asked for readonly on bastion-b (request ${id})`);
  });

  it('rejects with a reason, refuses a reject without one, self-approval and unqualified approvers', async () => {
    const id = await request(USERS.dave, 'bastion-b evans 1d deploy hotfix');
    const dm = await approvalDm(USERS.alice, id);
    // Self-approval: alice's own request is decided by erin; alice pressing its button is refused.
    const own = await request(USERS.alice, 'bastion-b readonly 1d check disk');
    const ownDm = await approvalDm(USERS.erin, own);
    const mark = t().fake.calls.length;
    await click(USERS.alice, 'access_approve', ownDm.value);
    await t().fake.waitFor('chat.postEphemeral', (c) => t().fake.calls.indexOf(c) >= mark && text(c).includes('cannot approve your own request') && text(c).includes('[1201]'));
    // Unqualified: gina (P5, ops) is no approver; alice demoted below P7/M4 may no longer decide.
    await click(GINA, 'access_approve', dm.value);
    await t().fake.waitFor('chat.postEphemeral', (c) => c.args.user === GINA.id && text(c).includes('not an approver'));
    const people = personModel(t().app.store.connection);
    await people.updateOne({ personId: 'alice' }, { $set: { level: 'P5' } });
    await click(USERS.alice, 'access_approve', dm.value);
    await t().fake.waitFor('chat.postEphemeral', (c) => c.args.user === USERS.alice.id && text(c).includes('approvers must be P7 or M4 and above'));
    await people.updateOne({ personId: 'alice' }, { $set: { level: 'M4' } });
    expect((await t().app.services.access.details(id)).request.approval.state).toBe('pending');

    // Reject: the button opens a modal; an empty reason is refused in the modal itself.
    const m2 = t().fake.calls.length;
    await click(USERS.alice, 'access_reject', dm.value);
    const modal = await t().fake.waitFor('views.open', (c) => t().fake.calls.indexOf(c) >= m2);
    const view = modal.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('access_reject_reason');
    const empty = await t().slack.viewSubmission(USERS.alice, { callback_id: view.callback_id, private_metadata: view.private_metadata, values: { reject_reason: { reason: { type: 'plain_text_input', value: '  ' } } } });
    expect(empty.json()).toMatchObject({ response_action: 'errors', errors: { reject_reason: expect.stringContaining('[1102]') } });
    expect((await t().app.services.access.details(id)).request.approval.state).toBe('pending');
    const ok = await t().slack.viewSubmission(USERS.alice, { callback_id: view.callback_id, private_metadata: view.private_metadata, values: { reject_reason: { reason: { type: 'plain_text_input', value: 'use the deploy pipeline instead' } } } });
    expect(ok.status).toBe(200);
    await eventually('rejected', async () => (await t().app.services.access.details(id)).request.approval.state === 'rejected');
    const d = await t().app.services.access.details(id);
    expect(d.applications.map((a) => a.status)).toEqual([ApplicationStatus.rejected]);
    await t().fake.waitFor('chat.update', (c) => c.args.channel === dmChannel(USERS.alice) && text(c).includes('use the deploy pipeline instead'));
    await t().fake.waitFor('chat.postMessage', (c) => c.args.channel === dmChannel(USERS.dave) && text(c).includes('was rejected') && text(c).includes('use the deploy pipeline instead'));
  });

  it('re-checks approvers on every click, refuses a request nobody else can approve, and cancels', async () => {
    const people = personModel(t().app.store.connection);
    const show = async (u: User, args: string) => JSON.stringify((await runCommand(t(), '/access', args, u)).blocks);
    // With erin out of ops, alice (carol's manager) would have to approve both levels of root.
    await people.updateOne({ personId: 'erin' }, { $set: { groups: ['admin'] } });
    expect(await show(USERS.carol, 'request bastion-b root 1d swap disks')).toContain('nobody qualified is left to approve the ops level');
    await people.updateOne({ personId: 'erin' }, { $set: { groups: ['ops', 'admin'] } });

    const id = await request(USERS.carol, 'bastion-b root 1d swap disks');
    await approveAll(id, [USERS.alice]);
    const dm = await approvalDm(USERS.erin, id);
    // Erin leaves ops after being asked: her click no longer counts.
    await people.updateOne({ personId: 'erin' }, { $set: { groups: ['admin'] } });
    const mark = t().fake.calls.length;
    await click(USERS.erin, 'access_approve', dm.value);
    await t().fake.waitFor('chat.postEphemeral', (c) => t().fake.calls.indexOf(c) >= mark && text(c).includes('no longer in ops'));
    await people.updateOne({ personId: 'erin' }, { $set: { groups: ['ops', 'admin'] } });
    expect((await t().app.services.access.details(id)).request.approval.state).toBe('pending');

    // Only the requester (or an admin) withdraws it; every copy of the DM then says so.
    expect(await show(USERS.bob, `cancel ${id}`)).toContain('[1201]');
    const m2 = t().fake.calls.length;
    expect(await show(USERS.carol, `cancel ${id}`)).toContain('is cancelled');
    const copy = await t().fake.waitFor('chat.update', (c) => t().fake.calls.indexOf(c) >= m2 && c.args.channel === dmChannel(USERS.erin));
    expect(text(copy)).toContain('Cancelled');
    expect(text(copy)).not.toContain('access_approve');
    expect(await show(USERS.carol, `cancel ${id}`)).toContain('no longer waiting');
    await click(USERS.erin, 'access_approve', dm.value);
    await t().fake.waitFor('chat.postEphemeral', (c) => c.args.user === USERS.erin.id && text(c).includes('no longer waiting for a decision'));
    expect((await t().app.services.access.details(id)).applications.map((a) => a.status)).toEqual([ApplicationStatus.rejected]);
  });

  it('turns 20 simultaneous Approve clicks into one transition and one provisioning', async () => {
    const id = await request(USERS.bob, 'bastion-a readonly 7d on-call this week');
    const dm = await approvalDm(USERS.alice, id);
    const mark = t().fake.calls.length;
    const results = await Promise.all(Array.from({ length: 20 }, () => click(USERS.alice, 'access_approve', dm.value)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const ephemerals = await eventually('19 ephemerals', async () => {
      const e = callsSince(mark, 'chat.postEphemeral', (c) => c.args.user === USERS.alice.id && text(c).includes('Already decided'));
      return e.length >= 19 ? e : undefined;
    });
    expect(ephemerals).toHaveLength(19);
    expect(text(ephemerals[0]!)).toContain('Alice Ops');
    const approvals = await t().app.services.audit.query({ action: 'access.approve', target: `access:${id}` });
    expect(approvals).toHaveLength(1);
    await eventually('granted', async () => (await t().app.services.access.details(id)).applications[0]?.status === ApplicationStatus.granted);
    expect(await models().models.Task.countDocuments({ requestId: id, type: 'add' })).toBe(1);
    expect(await models().models.Grant.countDocuments({ requestId: id })).toBe(1);
    const grantId = (await t().app.services.access.details(id)).applications[0]!.grantId!;
    expect(env.lines(env.bastions[0]!, 'readonly').filter((l) => l.includes(grantId))).toHaveLength(1);
    expect((await t().app.services.audit.query({ action: 'access.granted', target: 'host:bastion-a', limit: 100 })).filter((e) => JSON.stringify(e.to).includes(grantId))).toHaveLength(1);
  });

  it('ignores tampered payloads: another request id, another user, a garbled value', async () => {
    const id = await request(USERS.dave, 'bastion-a readonly 1d look at nginx logs');
    const dm = await approvalDm(USERS.alice, id);
    const own = await request(USERS.alice, 'bastion-a readonly 1d check cron jobs');
    const mark = t().fake.calls.length;
    // Bob presses the button from alice's DM (a copied payload): he is not an approver.
    await click(USERS.bob, 'access_approve', dm.value);
    // Alice edits the value to aim at a request she may not decide (her own, decided by erin).
    await click(USERS.alice, 'access_approve', JSON.stringify({ r: own, l: 0 }));
    await click(USERS.alice, 'access_approve', '{"r":"AR-XXXXXX","l":0,"admin":true}');
    await click(USERS.alice, 'access_approve', '["AR-XXXXXX",0]');
    await eventually('four refusals', async () => callsSince(mark, 'chat.postEphemeral').length >= 4);
    const refusals = callsSince(mark, 'chat.postEphemeral').map(text);
    expect(refusals.some((r) => r.includes('[1201]') && r.includes('not an approver'))).toBe(true);
    expect(refusals.some((r) => r.includes('cannot approve your own request'))).toBe(true);
    expect(refusals.some((r) => r.includes('[1100]'))).toBe(true);
    expect(refusals.some((r) => r.includes('[1101]'))).toBe(true);
    expect((await t().app.services.access.details(id)).request.approval.state).toBe('pending');
    expect((await t().app.services.access.details(own)).request.approval.state).toBe('pending');
  });

  it('provisions exactly once when the bot dies between approval and provisioning', async () => {
    const b = env.bastions[1]!;
    const id = await request(USERS.bob, 'bastion-b evans 1d restart php-fpm');
    const dm = await approvalDm(USERS.alice, id);
    // The scheduler stops (as a dying bot's would), then the approval lands.
    await t().app.agenda.stop();
    await click(USERS.alice, 'access_approve', dm.value);
    await eventually('approved', async () => (await t().app.services.access.details(id)).request.approval.state === 'approved');
    // Worst case: the crash came right after the decision was written, before any task existed.
    const m = models().models;
    const app = (await m.Application.findOne({ requestId: id }).lean())!;
    await m.Task.deleteMany({ requestId: id });
    await m.Grant.deleteMany({ requestId: id });
    await m.Application.updateOne({ _id: app._id }, { $set: { status: ApplicationStatus.pending, grantId: null } });
    await t().restart();
    await eventually('granted after restart', async () => (await t().app.services.access.details(id)).applications[0]?.status === ApplicationStatus.granted, 30_000);
    const grantId = (await t().app.services.access.details(id)).applications[0]!.grantId!;
    expect(await models().models.Task.find({ grantId, type: 'add' }).lean()).toEqual([expect.objectContaining({ status: TaskStatus.done, attempts: 1 })]);
    expect(env.lines(b, 'evans').filter((l) => l.includes(grantId))).toHaveLength(1);
    expect(await env.login(b, 'evans', 'bob')).toMatchObject({ code: 0 });
  }, 60_000);

  it('retries a revocation while the host is down and completes it when it is back', async () => {
    const b = env.bastions[1]!;
    const id = await request(USERS.dave, 'bastion-b readonly 1d read app logs');
    await approveAll(id, [USERS.alice]);
    await eventually('granted', async () => (await t().app.services.access.details(id)).applications[0]?.status === ApplicationStatus.granted, 30_000);
    const grantId = (await t().app.services.access.details(id)).applications[0]!.grantId!;
    b.sshd.pause(); // the host stops answering, warm connections too
    try {
      const failed = await eventually('revocation failing', async () => (await models().models.Task.findOne({ grantId, type: 'delete', status: TaskStatus.failed }).lean()) ?? undefined, 40_000);
      expect(failed.lastError).toBeTruthy();
      expect((await models().models.Grant.findOne({ grantId }).lean())!.status).toBe(GrantStatus.valid);
      expect(env.lines(b, 'readonly').some((l) => l.includes(grantId))).toBe(true);
    } finally {
      b.sshd.resume();
    }
    await eventually('revoked once the host is back', async () => (await models().models.Grant.findOne({ grantId, status: GrantStatus.expired }).lean()) ?? undefined, 40_000);
    expect(env.lines(b, 'readonly').some((l) => l.includes(grantId))).toBe(false);
    expect(await env.login(b, 'readonly', 'dave')).toMatchObject({ code: 255 });
  }, 120_000);

  it('removes lines planted by hand at reconcile, in one call per host, and tells the admin channel', async () => {
    const b = env.bastions[0]!;
    const blob = env.keys.dave!.publicKeyLine.split(' ')[1];
    const planted = (grantId: string) => `expiry-time="209912312359Z" ssh-ed25519 ${blob} opsgate-grant:${grantId}\n`;
    const { appendFileSync } = await import('node:fs');
    appendFileSync(`${b.keysDir}/evans`, planted('gPLANTED01') + planted('gPLANTED02'), { mode: 0o644 });
    appendFileSync(`${b.keysDir}/readonly`, planted('gPLANTED01'), { mode: 0o644 });
    expect(await env.login(b, 'evans', 'dave')).toMatchObject({ code: 0 });
    const mark = t().fake.calls.length;
    const start = vi.spyOn(t().app.services.engine, 'start');
    let report;
    let calls;
    try {
      report = await t().app.services.grants.reconcile();
    } finally {
      // Restoring also forgets the calls.
      calls = [...start.mock.calls];
      start.mockRestore();
    }
    // One SSH call lists bastion-a's lines, one removes all three.
    expect(calls.filter(([run]) => run.targets.some((x) => x.name === 'bastion-a'))).toHaveLength(2);
    for (const [account, grantId] of [['evans', 'gPLANTED01'], ['evans', 'gPLANTED02'], ['readonly', 'gPLANTED01']]) {
      expect(report.removed).toContainEqual({ host: 'bastion-a', account, grantId });
      expect(env.lines(b, account!).some((l) => l.includes(grantId!))).toBe(false);
    }
    expect(await env.login(b, 'evans', 'dave')).toMatchObject({ code: 255 });
    const notice = await t().fake.waitFor('chat.postMessage', (c) => t().fake.calls.indexOf(c) >= mark && c.args.channel === 'C0ADMIN');
    expect(text(notice)).toContain('gPLANTED01');
  });

  it('shows my hosts, my requests, my approvals, a host table, all requests, and revokes early', async () => {
    const show = async (u: User, args: string) => JSON.stringify((await runCommand(t(), '/access', args, u)).blocks);
    const mine = await show(USERS.bob, 'mine');
    expect(mine).toContain('bastion-a');
    expect(mine).toContain('access_revoke');
    expect(await show(USERS.bob, 'requests')).toMatch(/AR-[A-Z0-9]{6}/);
    const pending = await request(USERS.carol, 'bastion-b readonly 1d tail logs');
    expect(await show(USERS.alice, 'approvals')).toContain(pending);
    const host = await show(USERS.erin, 'host bastion-a');
    expect(host).toContain('Bob Developer');
    expect(host).toContain('readonly');
    expect(host).toContain('access_host_history');
    expect(await show(USERS.erin, `all host:bastion-b`)).toContain(pending);
    expect(await show(USERS.bob, 'all')).toMatch(/\[120[12]\]/);

    // Early revoke by the holder: the line goes at once.
    const grant = (await t().app.services.grants.mine(USERS.bob.id)).find((g) => g.host === 'bastion-a')!;
    expect(await show(USERS.dave, `revoke ${grant.grantId}`)).toContain('[1201]');
    expect(await show(USERS.bob, `revoke ${grant.grantId}`)).toContain('is being removed');
    // The worker removes the line, then records the grant as ended: wait for the record.
    const ended = await eventually('revoked early', async () => (await models().models.Grant.findOne({ grantId: grant.grantId, status: GrantStatus.expired }).lean()) ?? undefined, 20_000);
    expect(env.lines(env.bastions[0]!, 'readonly').some((l) => l.includes(grant.grantId))).toBe(false);
    expect(ended).toMatchObject({ endReason: 'revoked early by the holder' });

    // The App Home tab: hosts, pending requests and approvals.
    const mark = t().fake.calls.length;
    await t().slack.event({ type: 'app_home_opened', user: USERS.alice.id, channel: 'D0HOME', tab: 'home' });
    const home = await t().fake.waitFor('views.publish', (c) => t().fake.calls.indexOf(c) >= mark);
    expect(text(home)).toContain('Waiting for my approval');
    expect(text(home)).toContain(pending);
  }, 60_000);

  it('revokes a burst of grants expiring together on two hosts, one host at a time per call, while the other host is down', async () => {
    const m = models().models;
    const [a, b] = [env.bastions[0]!, env.bastions[1]!];
    const expiresAt = new Date(Date.now() + 4000);
    // Written as the worker leaves them after an add: the grant, its delete task, the line, a wake-up.
    const holders: Array<{ person: string; role: AccessRole }> = [
      { person: 'bob', role: 'readonly' },
      { person: 'dave', role: 'evans' },
      { person: 'carol', role: 'root' },
    ];
    const planned: Array<{ grantId: string; host: string; role: AccessRole; person: string }> = [];
    for (const bastion of [a, b]) {
      for (let k = 0; k < 12; k++) {
        const { person, role } = holders[k % holders.length]!;
        const grantId = `g${String(new Types.ObjectId())}`;
        const requestId = `AR-BURST${k % 2}`;
        planned.push({ grantId, host: bastion.name, role, person });
        await m.Grant.create({ grantId, requestId, personId: person, host: bastion.name, role, status: GrantStatus.valid, days: 1, publicKey: env.keys[person]!.publicKeyLine, grantedAt: new Date(), expiresAt, reminded: [24, 1] });
        await m.Task.create({ requestId, grantId, host: bastion.name, role, type: 'delete', status: TaskStatus.notRun, execTime: expiresAt, attempts: 0 });
        for (const account of accountsForRole(role)) {
          fs.appendFileSync(path.join(bastion.keysDir, account), buildKeyLine({ publicKey: env.keys[person]!.publicKeyLine, grantId, expiresAt }) + '\n', { mode: 0o644 });
        }
      }
    }
    await t().app.agenda.schedule(expiresAt, ACCESS_PROVISION, {});
    const onHost = (bastion: typeof a, g: (typeof planned)[number]) => accountsForRole(g.role).some((acc) => env.lines(bastion, acc).some((l) => l.endsWith(` opsgate-grant:${g.grantId}`)));
    const ofHost = (bastion: typeof a) => planned.filter((g) => g.host === bastion.name);
    expect(planned.every((g) => onHost(g.host === a.name ? a : b, g))).toBe(true);
    expect(await env.login(a, 'evans', 'dave')).toMatchObject({ code: 0 });
    const mark = t().fake.calls.length;

    b.sshd.pause(); // bastion-b stops answering before the expiry, warm connections too
    try {
      const aIds = ofHost(a).map((g) => g.grantId);
      await eventually('bastion-a burst revoked', async () => (await m.Grant.countDocuments({ grantId: { $in: aIds }, status: GrantStatus.expired })) === aIds.length, 30_000);
      expect(ofHost(a).filter((g) => onHost(a, g))).toEqual([]);
      const ended = await m.Grant.find({ grantId: { $in: aIds } }).lean();
      for (const g of ended) {
        expect(g).toMatchObject({ endedBy: 'system:expiry', endReason: 'expired' });
        expect(g.endedAt!.getTime()).toBeGreaterThanOrEqual(expiresAt.getTime());
      }
      // bastion-b's lines stay (sshd refuses them by expiry-time anyway); its tasks wait for a retry.
      const bTasks = await eventually('bastion-b revocations failing', async () => {
        const tasks = await m.Task.find({ grantId: { $in: ofHost(b).map((g) => g.grantId) }, type: 'delete' }).lean();
        return tasks.every((x) => x.status === TaskStatus.failed) ? tasks : undefined;
      }, 30_000);
      expect(bTasks.every((x) => x.lastError)).toBe(true);
      expect(await m.Grant.countDocuments({ grantId: { $in: ofHost(b).map((g) => g.grantId) }, status: GrantStatus.valid })).toBe(12);
      expect(ofHost(b).every((g) => onHost(b, g))).toBe(true);
    } finally {
      b.sshd.resume();
    }
    const bIds = ofHost(b).map((g) => g.grantId);
    await eventually('bastion-b burst revoked once it is back', async () => (await m.Grant.countDocuments({ grantId: { $in: bIds }, status: GrantStatus.expired })) === bIds.length, 40_000);
    expect(ofHost(b).filter((g) => onHost(b, g))).toEqual([]);
    expect(await env.login(a, 'evans', 'dave')).toMatchObject({ code: 255 });

    // Exactly once: one claim per task on the host that answered; one audit entry and one notice per grant.
    const tasks = await m.Task.find({ grantId: { $in: planned.map((g) => g.grantId) }, type: 'delete' }).lean();
    expect(tasks.every((x) => x.status === TaskStatus.done)).toBe(true);
    expect(tasks.filter((x) => x.host === a.name).map((x) => x.attempts)).toEqual(Array(12).fill(1));
    const removedAudits = await auditModel(t().app.store.connection).find({ action: 'access.removed', 'to.grantId': { $in: planned.map((g) => g.grantId) } }).lean();
    expect(removedAudits.map((e) => (e.to as { grantId: string }).grantId).sort()).toEqual(planned.map((g) => g.grantId).sort());
    const dms = await eventually('24 removal DMs', async () => {
      const found = callsSince(mark, 'chat.postMessage', (c) => String(c.args.text).startsWith('Access removed: ') && planned.some((g) => text(c).includes(g.grantId)));
      return found.length >= planned.length ? found : undefined;
    });
    expect(dms).toHaveLength(planned.length);
    for (const g of planned) expect(dms.filter((c) => text(c).includes(g.grantId))).toHaveLength(1);
    await eventually('removal mails', async () => planned.every((g) => mailsTo(`${g.person}@example.com`, new RegExp(`Access removed: ${g.role} on ${g.host}`)).some((x) => x.parsed.text?.includes(g.grantId))), 30_000);
  }, 120_000);

  it('reminds before expiry with a Request extension button that opens a pre-filled form', async () => {
    const id = await request(USERS.dave, 'bastion-a evans 7d week of on-call');
    await approveAll(id, [USERS.alice]);
    await eventually('granted', async () => (await t().app.services.access.details(id)).applications[0]?.status === ApplicationStatus.granted, 30_000);
    const grantId = (await t().app.services.access.details(id)).applications[0]!.grantId!;
    // While the grant has more than a day left, the same request is refused.
    expect(JSON.stringify((await runCommand(t(), '/access', 'request bastion-a evans 7d more', USERS.dave)).blocks)).toContain('already have evans on bastion-a');
    // Bring the end within the 24-hour window (one shortened day). Only this grant's reminder
    // counts: dave's earlier grants on other hosts may send their own one-hour reminders meanwhile.
    const before = t().fake.calls.length;
    await models().models.Grant.updateOne({ grantId }, { $set: { expiresAt: new Date(Date.now() + DAY_MS / 2) } });
    const reminder = await t().fake.waitFor(
      'chat.postMessage',
      (c) => t().fake.calls.indexOf(c) >= before && c.args.channel === dmChannel(USERS.dave) && text(c).includes('access_extend') && text(c).includes('bastion-a'),
      20_000,
    );
    expect(text(reminder)).toContain('ends in about 24 hours');
    const value = (reminder.args.blocks as Array<{ type: string; elements?: Array<{ value: string }> }>).find((x) => x.type === 'actions')!.elements![0]!.value;
    const mark = t().fake.calls.length;
    await t().slack.blockAction(USERS.dave, { action_id: 'access_extend', value }, { channel: dmChannel(USERS.dave) });
    const form = await t().fake.waitFor('views.open', (c) => t().fake.calls.indexOf(c) >= mark);
    expect(text(form)).toContain('bastion-a');
    expect(text(form)).toContain('initial_option');
    // Submitting the pre-filled form asks for the same access again: an extension, accepted in
    // the grant's last day (a second request for it earlier is refused, see above).
    const submitted = await t().slack.viewSubmission(USERS.dave, {
      callback_id: 'access_request',
      values: {
        hosts: { access_hosts: { type: 'multi_external_select', selected_options: [{ text: { type: 'plain_text', text: 'bastion-a' }, value: 'bastion-a' }] } },
        role: { role: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'evans' }, value: 'evans' } } },
        days: { days: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: '7 days' }, value: '7' } } },
        reason: { reason: { type: 'plain_text_input', value: 'extension of my current access' } },
      },
    });
    expect(submitted.text).toBe('');
    const extension = (await t().app.services.grants.myRequests(USERS.dave.id)).items[0]!.request;
    expect(extension).toMatchObject({ role: 'evans', hosts: ['bastion-a'], days: 7, reason: 'extension of my current access' });
    expect(extension.requestId).not.toBe(id);
  }, 60_000);
});

describeAccess(roleAccounts.ready ? 'host access when someone leaves' : `host access when someone leaves [skipped: ${roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: 60_000, env: { ACCESS_SWEEP_MS: '1000' } });
    await env.t.ready();
  }, 60_000);
  afterAll(() => env?.stop());

  it('ends the grants and cancels the requests of a person removed from the directory', async () => {
    const t = env.t;
    const b = env.bastions[0]!;
    const ask = async (args: string) => /Request (AR-[A-Z0-9]{6}) sent/.exec((await runCommand(t, '/access', `request ${args}`, USERS.dave)).text)![1]!;
    const granted = await ask('bastion-a evans 7d on-call');
    const waiting = await ask('bastion-b readonly 1d logs');
    const dm = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DUALICE' && JSON.stringify(c.args).includes(granted) && JSON.stringify(c.args).includes('access_approve'));
    const value = (dm.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((x) => x.type === 'actions')!.elements![0]!.value;
    await t.slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: 'DUALICE' });
    await eventually('granted', async () => (await t.app.services.access.details(granted)).applications[0]?.status === ApplicationStatus.granted, 30_000);
    expect(await env.login(b, 'evans', 'dave')).toMatchObject({ code: 0 });

    // Dave leaves: the directory source no longer lists him, and an admin syncs.
    const file = path.join(env.dir, 'catalog', 'directory.yaml');
    const dir = YAML.parse(fs.readFileSync(file, 'utf8')) as { people: Array<{ id: string }> };
    fs.writeFileSync(file, YAML.stringify({ people: dir.people.filter((p) => p.id !== 'dave') }));
    await runCommand(t, '/opsgate', 'sync', USERS.erin);
    await eventually('line removed', async () => !env.lines(b, 'evans').some((l) => l.includes('opsgate-grant:')), 30_000);
    expect(await env.login(b, 'evans', 'dave')).toMatchObject({ code: 255 });
    const grant = await eventually('grant ended', async () => (await accessModels(t.app.store.connection).Grant.findOne({ requestId: granted, status: GrantStatus.expired }).lean()) ?? undefined);
    expect(grant).toMatchObject({ status: GrantStatus.expired, endReason: 'left the directory', endedBy: 'system:directory' });
    expect((await t.app.services.access.details(waiting)).request.approval.state).toBe('cancelled');
    expect(await t.app.services.audit.query({ action: 'person.deactivate', target: 'person:dave' })).toHaveLength(1);
  }, 90_000);
});
