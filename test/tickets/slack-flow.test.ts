/**
 * `/ticket` through the real Bolt app over signed HTTP, the fake Slack API on loopback and the
 * example catalog's `deploy-git` on `local` (echo tasks): the picker and form, the pre-task's
 * output, the approval DMs with the rendered (masked) command, in-place updates, Run, the
 * channel message posted then updated, the result DM; inline submit with `auto` and with a run
 * time in the submitter's zone; refusals with codes that write nothing; forged buttons.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { runCommand, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { buttonValue, dm, text, useTicketApp, type User } from '../helpers/ticket-slack.js';

const SECRET = 'example-deploy-token-replace-me';

describe('/ticket over Slack', () => {
  const app = useTicketApp();
  const { ticket, after, model } = app;
  let t: TestOpsgate;
  beforeAll(() => {
    t = app.t;
  });

  async function approvalDm(u: User, ticketId: string, mark: number): Promise<RecordedCall> {
    return t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(u) && text(c).includes(ticketId) && text(c).includes('ticket_approve'), 20_000);
  }

  /** Clicks Approve in `u`'s DM and waits until its copy is rewritten without buttons. */
  async function approve(u: User, ticketId: string, mark: number): Promise<void> {
    const call = await approvalDm(u, ticketId, mark);
    await app.dmStored(u, ticketId, call);
    const clickMark = t.fake.calls.length;
    expect((await t.slack.blockAction(u, { action_id: 'ticket_approve', value: buttonValue(call, 'ticket_approve') }, { channel: dm(u) })).status).toBe(200);
    // Updated in place: the same DM rewritten, its Approve button gone.
    const updated = await t.fake.waitFor('chat.update', (c) => after(clickMark)(c) && c.args.channel === dm(u) && text(c).includes(ticketId) && !text(c).includes('"ticket_approve"'), 20_000);
    expect(text(updated)).toContain('approved by');
  }

  it('opens the picker, then the form; the form submits a ticket; two levels approve in their DMs; Run posts and updates the channel message; the result comes by DM', async () => {
    const erin = USERS.erin;
    let mark = t.fake.calls.length;
    expect((await t.slack.command('/ticket', '', erin)).status).toBe(200);
    const picker = await t.fake.waitFor('views.open', after(mark));
    expect(text(picker)).toContain('ticket_pick_env');
    expect(text(picker)).toContain('"PROD"');

    // Environment, then category, redraw the picker in place; the ticket's button opens its form.
    const view = { id: 'V0PICKER' };
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick_env', block_id: 'pick_env', type: 'static_select', selected_option: { value: 'PROD' } }, { view });
    const withCategory = await t.fake.waitFor('views.update', after(mark));
    expect(text(withCategory)).toContain('ticket_pick_category');
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick_category', block_id: 'pick_category|PROD', type: 'static_select', selected_option: { value: 'DeployGit' } }, { view });
    const withTickets = await t.fake.waitFor('views.update', after(mark));
    expect(text(withTickets)).toContain('Deploy a git project to the web tier');
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick', value: buttonValue(withTickets, 'ticket_pick') }, { view });
    const form = await t.fake.waitFor('views.update', (c) => after(mark)(c) && text(c).includes('ticket_form'));
    const f = text(form);
    expect(f).toContain('multi_static_select'); // AnsibleHosts
    expect(f).toContain('all-at-once'); // Mode: the choices script ran when the form opened
    expect(f).toContain('^v[0-9.]+$'); // Tag: its pattern as the hint
    expect(f).toContain('datepicker');
    expect(f).toContain('Run automatically once approved');

    // A value failing its pattern is refused on the form, naming the option; nothing is written.
    const values = (tag: string) => ({
      'opt:AnsibleHosts': { v_AnsibleHosts: { type: 'multi_static_select', selected_options: [{ value: 'web-01' }] } },
      'opt:Mode': { v_Mode: { type: 'static_select', selected_option: { value: 'rolling' } } },
      'opt:Tag': { v_Tag: { type: 'plain_text_input', value: tag } },
      run_date: { date: { type: 'datepicker', selected_date: null } },
      run_time: { time: { type: 'timepicker', selected_time: null } },
      flags: { flags: { type: 'checkboxes', selected_options: [] } },
    });
    const meta = JSON.parse((form.args.view as { private_metadata: string }).private_metadata) as Record<string, string>;
    const bad = await t.slack.viewSubmission(erin, { callback_id: 'ticket_form', private_metadata: JSON.stringify(meta), values: values('latest') });
    expect(bad.json()).toMatchObject({ response_action: 'errors', errors: { 'opt:Tag': expect.stringContaining('[1100]') } });
    expect(await model().countDocuments({})).toBe(0);

    mark = t.fake.calls.length;
    const ok = await t.slack.viewSubmission(erin, { callback_id: 'ticket_form', private_metadata: JSON.stringify(meta), values: values('v1.4.2') });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    const submitted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes('submitted'));
    const ticketId = /TK-[A-Z0-9]{6}/.exec(text(submitted))![0];
    expect(text(submitted)).toContain('checking v1.4.2 for PROD'); // the pre-task's output

    // Level 1 (alice): the DM carries the exact command, the secret masked, and the pre-task result.
    const ask1 = await approvalDm(USERS.alice, ticketId, mark);
    expect(text(ask1)).toContain('python main_deploy_git.py');
    expect(text(ask1)).toContain('***');
    expect(text(ask1)).toContain('checking v1.4.2 for PROD');
    expect(text(ask1)).toContain('ticket_reject');
    await approve(USERS.alice, ticketId, mark);
    // Level 2 (ops, not the submitter nor alice): carol.
    await approve(USERS.carol, ticketId, mark);
    const told = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes('is approved') && text(c).includes('ticket_run'));
    expect((await ticket(ticketId)).state).toBe('approved');

    // Someone else's Run is refused and changes nothing.
    const runValue = buttonValue(told, 'ticket_run');
    const forgedMark = t.fake.calls.length;
    await t.slack.blockAction(USERS.carol, { action_id: 'ticket_run', value: runValue }, { channel: dm(USERS.carol) });
    const refused = await t.fake.waitFor('response_url', after(forgedMark));
    expect(text(refused)).toContain('[1201]');
    expect((await ticket(ticketId)).state).toBe('approved');

    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_run', value: runValue }, { channel: dm(erin) });
    const posted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === '#deploys' && text(c).includes(ticketId));
    const final = await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === '#deploys' && c.args.ts !== undefined && text(c).includes('succeeded'), 20_000);
    // One message in the channel, updated in place (not a second post).
    expect(t.fake.calls.slice(mark).filter((c) => c.method === 'chat.postMessage' && c.args.channel === '#deploys' && text(c).includes(ticketId))).toEqual([posted]);
    expect(text(final)).toContain('python main_deploy_git.py');
    const result = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes('ended'));
    expect(text(result)).toContain('succeeded');

    const show = await runCommand(t, '/ticket', `show ${ticketId}`, erin);
    expect(JSON.stringify(show.blocks)).toContain('notify deploy-git'); // the post-task's output is in the log
    // The secret's value was in no call to Slack.
    expect(t.fake.calls.some((c) => text(c).includes(SECRET))).toBe(false);
  }, 90_000);

  it('inline submit with auto: approved twice, it runs by itself and the channel hears the result', async () => {
    const mark = t.fake.calls.length;
    const reply = await runCommand(t, '/ticket', 'submit deploy-git env:PROD AnsibleHosts=web-01,web-02 Mode=rolling Tag=v1.4.2 auto', USERS.erin);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(reply.text + JSON.stringify(reply.blocks))?.[0];
    expect(ticketId, JSON.stringify(reply)).toBeDefined();
    expect((await ticket(ticketId!)).values).toMatchObject({ AnsibleHosts: ['web-01', 'web-02'] });
    await approve(USERS.alice, ticketId!, mark);
    await approve(USERS.carol, ticketId!, mark);
    await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === '#deploys' && text(c).includes(ticketId!) && text(c).includes('succeeded'), 20_000);
    expect((await ticket(ticketId!)).state).toBe('succeeded');
  }, 60_000);

  it('a bad inline value answers 1100 naming the option and writes nothing', async () => {
    const before = await model().countDocuments({});
    for (const [typed, option] of [
      ['AnsibleHosts=web-09 Mode=rolling Tag=v1.4.2', 'AnsibleHosts'],
      ['AnsibleHosts=web-01 Mode=rolling Tag="v1; rm -rf /"', 'Tag'],
      ['AnsibleHosts=web-01 Mode=rolling Tag=v1.4.2 Color=red', 'Color'],
    ] as const) {
      const reply = await runCommand(t, '/ticket', `submit deploy-git env:PROD ${typed}`, USERS.erin);
      expect(reply.text).toContain('[1100]');
      expect(reply.text).toContain(option);
    }
    const missing = await runCommand(t, '/ticket', 'submit deploy-git env:PROD AnsibleHosts=web-01 Mode=rolling', USERS.erin);
    expect(missing.text).toContain('[1102]');
    expect(missing.text).toContain('Tag');
    const past = await runCommand(t, '/ticket', 'submit deploy-git env:PROD AnsibleHosts=web-01 Mode=rolling Tag=v1 at:2020-01-01T03:00', USERS.erin);
    expect(past.text).toContain('[1100]');
    expect(past.text).toContain('past');
    expect(await model().countDocuments({})).toBe(before);
  }, 60_000);

  it('reads a run time in the submitter’s Slack time zone and shows it back with the zone; revoke stops it', async () => {
    t.fake.addUser({ ...USERS.erin, tz: 'Asia/Tokyo' });
    const year = new Date().getUTCFullYear() + 1;
    const reply = await runCommand(t, '/ticket', `submit deploy-git env:PROD AnsibleHosts=web-01 Mode=rolling Tag=v2 at:${year}-06-01T09:30`, USERS.erin);
    const all = reply.text + JSON.stringify(reply.blocks);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(all)?.[0];
    expect(ticketId, all).toBeDefined();
    expect(all).toContain(`${year}-06-01 09:30 (Asia/Tokyo)`);
    expect((await ticket(ticketId!)).runAt?.toISOString()).toBe(`${year}-06-01T00:30:00.000Z`);
    const revoked = await runCommand(t, '/ticket', `revoke ${ticketId}`, USERS.erin);
    expect(revoked.text).toContain('revoked');
    expect((await ticket(ticketId!)).state).toBe('revoked');
  }, 60_000);

  it('forged buttons (another ticket id, another user, a bad value) change nothing', async () => {
    const mark = t.fake.calls.length;
    const reply = await runCommand(t, '/ticket', 'submit deploy-git env:PROD AnsibleHosts=web-02 Mode=rolling Tag=v3', USERS.erin);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(reply.text + JSON.stringify(reply.blocks))![0];
    const ask = await approvalDm(USERS.alice, ticketId, mark);
    const value = buttonValue(ask, 'ticket_approve');
    const before = JSON.stringify((await ticket(ticketId)).approval);
    // bob is no approver; a made-up ticket id; a level that is not waiting; not JSON at all.
    for (const [u, v] of [
      [USERS.bob, value],
      [USERS.alice, JSON.stringify({ t: 'TK-AAAAAA', l: 0 })],
      [USERS.alice, JSON.stringify({ t: ticketId, l: 1 })],
      [USERS.alice, JSON.stringify({ t: ticketId, l: 0, by: 'carol' })],
      [USERS.alice, 'TK-AAAAAA'],
    ] as const) {
      const m = t.fake.calls.length;
      expect((await t.slack.blockAction(u, { action_id: 'ticket_approve', value: v }, { channel: dm(u) })).status).toBe(200);
      const answer = await t.fake.waitFor('chat.postEphemeral', after(m));
      expect(text(answer)).toMatch(/\[1[12]\d\d\]/);
    }
    expect(JSON.stringify((await ticket(ticketId)).approval)).toBe(before);
    await runCommand(t, '/ticket', `revoke ${ticketId}`, USERS.erin);
  }, 60_000);
});
