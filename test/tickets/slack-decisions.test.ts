/**
 * Ticket decisions over signed HTTP: Reject needs a reason (refused on the form with 1102,
 * nothing changes), a reason rejects and every copy and the submitter hear it; Approve with a
 * comment stores it; "Change to reject" turns an approval into a rejection before execution
 * and is refused once the run started; `/ticket approvals` and the App Home list what waits;
 * the approver's mail is queued with the rendered command.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { buttonValue, dm, text, useTicketApp, type User } from '../helpers/ticket-slack.js';
import { mailModel } from '../../src/models/mail.js';
import type { Ticket } from '../../src/models/tickets.js';


describe('/ticket decisions over Slack', () => {
  const app = useTicketApp();
  const { ticket, after, model } = app;
  let t: TestOpsgate;
  beforeAll(() => {
    t = app.t;
  });

  async function submit(tag: string): Promise<{ ticketId: string; mark: number }> {
    const mark = t.fake.calls.length;
    const reply = await runCommand(t, '/ticket', `submit deploy-git env:PROD AnsibleHosts=web-01 Mode=rolling Tag=${tag}`, USERS.erin);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(reply.text + JSON.stringify(reply.blocks))?.[0];
    if (!ticketId) throw new Error(`refused: ${JSON.stringify(reply)}`);
    return { ticketId, mark };
  }

  const approvalDm = (u: User, ticketId: string, mark: number) =>
    t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(u) && text(c).includes(ticketId) && text(c).includes('ticket_approve'), 20_000);

  /** Opens a decision form from a button and returns its view (private_metadata). */
  async function openForm(u: User, actionId: string, value: string): Promise<{ callback_id: string; private_metadata: string }> {
    const mark = t.fake.calls.length;
    await t.slack.blockAction(u, { action_id: actionId, value }, { channel: dm(u) });
    const opened = await t.fake.waitFor('views.open', after(mark));
    return opened.args.view as { callback_id: string; private_metadata: string };
  }

  it('Reject needs a reason; with one, the ticket is rejected, every copy updated and the submitter told', async () => {
    const { ticketId, mark } = await submit('v10');
    const ask = await approvalDm(USERS.alice, ticketId, mark);
    // The approver's mail is queued with the command that will run.
    // (queued right after the DM is posted: wait for the write, not a time)
    const queued = async () => (await mailModel(t.app.store.connection).find({ to: 'alice@example.com' }).lean<Array<{ subject: string; text: string }>>()).some((x) => x.subject.includes(ticketId) && x.text.includes('python main_deploy_git.py'));
    for (const deadline = Date.now() + 10_000; !(await queued()); ) {
      if (Date.now() > deadline) throw new Error('no approval mail queued for alice');
      await new Promise((r) => setTimeout(r, 50));
    }

    const form = await openForm(USERS.alice, 'ticket_reject', buttonValue(ask, 'ticket_reject'));
    expect(form.callback_id).toBe('ticket_reject_reason');
    const empty = await t.slack.viewSubmission(USERS.alice, { ...form, values: { reason: { text: { type: 'plain_text_input', value: '  ' } } } });
    expect(empty.json()).toMatchObject({ response_action: 'errors', errors: { reason: expect.stringContaining('[1102]') } });
    expect((await ticket(ticketId)).state).toBe('waiting');

    const m = t.fake.calls.length;
    expect((await t.slack.viewSubmission(USERS.alice, { ...form, values: { reason: { text: { type: 'plain_text_input', value: 'not during the freeze' } } } })).text).toBe('');
    await t.fake.waitFor('chat.update', (c) => after(m)(c) && c.args.channel === dm(USERS.alice) && text(c).includes('not during the freeze'));
    const told = await t.fake.waitFor('chat.postMessage', (c) => after(m)(c) && c.args.channel === dm(USERS.erin) && text(c).includes('rejected'));
    expect(text(told)).toContain('not during the freeze');
    expect((await ticket(ticketId)).state).toBe('rejected');
  }, 60_000);

  it('Approve with a comment stores it; Change to reject before execution rejects the ticket', async () => {
    const { ticketId, mark } = await submit('v11');
    const ask = await approvalDm(USERS.alice, ticketId, mark);
    const form = await openForm(USERS.alice, 'ticket_approve_comment', buttonValue(ask, 'ticket_approve_comment'));
    let m = t.fake.calls.length;
    await t.slack.viewSubmission(USERS.alice, { ...form, values: { comment: { text: { type: 'plain_text_input', value: 'looks fine' } } } });
    const updated = await t.fake.waitFor('chat.update', (c) => after(m)(c) && c.args.channel === dm(USERS.alice) && text(c).includes('ticket_change_to_reject'));
    expect((await ticket(ticketId)).approval.levels[0]!.note).toBe('looks fine');

    const change = await openForm(USERS.alice, 'ticket_change_to_reject', buttonValue(updated, 'ticket_change_to_reject'));
    m = t.fake.calls.length;
    await t.slack.viewSubmission(USERS.alice, { ...change, values: { reason: { text: { type: 'plain_text_input', value: 'found a bug' } } } });
    await t.fake.waitFor('chat.postEphemeral', (c) => after(m)(c) && text(c).includes('is now a rejection'));
    const after1 = await ticket(ticketId);
    expect(after1.state).toBe('rejected');
    expect(after1.approval.levels[0]).toMatchObject({ decision: 'rejected', note: 'found a bug' });
  }, 60_000);

  it('/ticket approvals and the App Home list what waits; Change to reject is refused once the run started', async () => {
    const { ticketId, mark } = await submit('v12');
    await approvalDm(USERS.alice, ticketId, mark);
    const list = await runCommand(t, '/ticket', 'approvals', USERS.alice);
    expect(JSON.stringify(list.blocks)).toContain(ticketId);
    expect(JSON.stringify(list.blocks)).toContain('ticket_approve');

    let m = t.fake.calls.length;
    await t.slack.event({ type: 'app_home_opened', user: USERS.erin.id, channel: 'D0HOME', tab: 'home' });
    const home = await t.fake.waitFor('views.publish', (c) => after(m)(c) && c.args.user_id === USERS.erin.id);
    expect(text(home)).toContain('My open tickets');
    expect(text(home)).toContain(ticketId);

    // Both levels approve; the submitter runs it; alice's Change to reject is then refused.
    const approveIn = async (u: User) => {
      const ask = await approvalDm(u, ticketId, mark);
      const c = t.fake.calls.length;
      await t.slack.blockAction(u, { action_id: 'ticket_approve', value: buttonValue(ask, 'ticket_approve') }, { channel: dm(u) });
      return t.fake.waitFor('chat.update', (x) => after(c)(x) && x.args.channel === dm(u) && text(x).includes(ticketId));
    };
    const aliceCopy = await approveIn(USERS.alice);
    const changeValue = buttonValue(aliceCopy, 'ticket_change_to_reject');
    await approveIn(USERS.carol);
    m = t.fake.calls.length;
    const run = await runCommand(t, '/ticket', `run ${ticketId}`, USERS.erin);
    expect(run.text).toContain('running');
    await t.fake.waitFor('chat.postMessage', (c) => after(m)(c) && c.args.channel === dm(USERS.erin) && text(c).includes('ended'), 20_000);
    const change = await openForm(USERS.alice, 'ticket_change_to_reject', changeValue);
    m = t.fake.calls.length;
    await t.slack.viewSubmission(USERS.alice, { ...change, values: { reason: { text: { type: 'plain_text_input', value: 'too late' } } } });
    const refused = await t.fake.waitFor('chat.postEphemeral', after(m));
    expect(text(refused)).toContain('[1100]');
    expect((await ticket(ticketId)).state).toBe('succeeded');
  }, 90_000);

  it('/ticket mine and /ticket history list the runs; history shows others only what they may see', async () => {
    const mine = await runCommand(t, '/ticket', 'mine', USERS.erin);
    const all = await model().find({}).lean<Ticket[]>();
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const x of all) expect(JSON.stringify(mine.blocks)).toContain(x.ticketId);
    const rejected = await runCommand(t, '/ticket', 'history deploy-git env:PROD status:rejected', USERS.erin);
    const rejectedIds = all.filter((x) => x.state === 'rejected').map((x) => x.ticketId);
    expect(rejectedIds.length).toBe(2);
    for (const id of rejectedIds) expect(JSON.stringify(rejected.blocks)).toContain(id);
    expect(JSON.stringify(rejected.blocks)).not.toContain(all.find((x) => x.state === 'succeeded')!.ticketId);
    // bob (dev) has no `use` on deploy-git and decided nothing: he sees none of them.
    const bobs = await runCommand(t, '/ticket', 'history', USERS.bob);
    expect(bobs.text).toBe('Ticket history: none');
    const bad = await runCommand(t, '/ticket', 'history status:weird', USERS.erin);
    expect(bad.text).toContain('[1100]');
  }, 60_000);
});
