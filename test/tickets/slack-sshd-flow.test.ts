/**
 * The issue's whole ticket flow through the real Bolt app over signed HTTP, with a real sshd as
 * the config center and a real SMTP server: `/ticket` picker → form (view_submission carrying
 * the state Slack would build from the form's own blocks) → pre-task on the sshd host → two
 * approval levels decided by button clicks in the approvers' DMs → the submitter's Run → main
 * and post over SSH (they write files in a temp folder and print $SSH_CONNECTION, so the run is
 * provably the sshd's) → the channel message posted, then updated in place (same ts) → the
 * result DM and the result mail → `/ticket show` has the log. Then the inline variant with
 * `auto` on `local`, mail included.
 *
 * The template's secret is used for real (the host receives it: a file holds it) and is looked
 * for in every recorded Slack call, every HTTP answer, every mail, every document of the store
 * and the bot's own log: it is nowhere. Waits are on recorded calls and mails, never on time.
 */
import { metricValue } from '../helpers/metrics.js';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { TestSmtpServer, type ReceivedMail } from '../helpers/smtp.js';
import { startSshdFleet, type SshdFleet } from '../helpers/sshd.js';
import type { SlackResponse } from '../helpers/slack-requests.js';
import { tempDir } from '../helpers/store.js';
import { copyExampleCatalog } from '../helpers/catalog-copy.js';
import { buttonValue, dm, text, type User } from '../helpers/ticket-slack.js';

const SECRET = 'sshd-Fl0w_s3cret-9f2c';
/** The example catalog's deploy-git secret (catalog/example-secrets/deploy-token). */
const EXAMPLE_SECRET = 'example-deploy-token-replace-me';
const CHANNEL = '#ops-sshd';

let fleet: SshdFleet;
let smtp: TestSmtpServer;
let t: TestOpsgate;
let dir: string;
let out: string;
/** Everything the bot logged (info and up), to look for the secret. */
let botLog = '';
/** Every body the app answered our HTTP requests with (acks, modal errors, ephemeral replies). */
const answers: string[] = [];

beforeAll(async () => {
  fleet = await startSshdFleet(1);
  const sshd = fleet.servers[0]!;
  smtp = await TestSmtpServer.start();
  dir = tempDir('sshd-flow');
  // The sshd host is this machine: its tasks write here, and the test reads what they wrote.
  out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const catalogDir = path.join(dir, 'catalog');
  const edit = copyExampleCatalog(catalogDir);
  edit('hosts.yaml', (d) => d.hosts!.push({ name: 'center-1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.fingerprint, env: 'prod' }));
  edit('tickets.yaml', (d) =>
    d.tickets!.push({
      name: 'sshd-deploy',
      description: 'Deploy through the sshd config center',
      env: 'PROD',
      category: 'DeployGit',
      submitGroups: ['dev', 'ops'],
      configCenter: 'center-1',
      vars: { Out: out },
      secrets: { Token: { env: 'OPSGATE_SSHD_FLOW_TOKEN' } },
      options: [
        { name: 'Hosts', label: 'Hosts', choices: ['web-01', 'web-02'], multiple: true },
        { name: 'Tag', label: 'Git tag', text: { pattern: '^v[0-9.]+$', maxLength: 20 } },
      ],
      pre: 'echo "pre-check {Tag} token={Token}"',
      main: [
        `printf 'main %s %s\\n' "{Hosts}" {Tag} > "{Out}/main.txt"`,
        `echo "$SSH_CONNECTION" >> "{Out}/main.txt"`,
        `printf '%s' "{Token}" > "{Out}/token"`,
        `echo "main-ran {Hosts} {Tag} token={Token} conn=$SSH_CONNECTION"`,
      ].join('; '),
      post: `echo "$SSH_CONNECTION" > "{Out}/post.txt"; echo "post-ran {sk__name} token={Token}"`,
      approval: [
        { label: 'lead', approvers: { people: ['alice'] } },
        { label: 'ops', approvers: { group: 'ops' } },
      ],
      lock: true,
      timeoutMinutes: 5,
      channel: CHANNEL,
    }),
  );
  const logStream = new PassThrough();
  logStream.on('data', (c: Buffer) => (botLog += c.toString()));
  t = await startOpsgate({
    catalogDir,
    logStream,
    env: {
      LOG_LEVEL: 'info',
      OPSGATE_SSHD_FLOW_TOKEN: SECRET,
      SSH_PRIVATE_KEY_PATH: fleet.clientKey.path,
      SSH_USER: 'root',
      SMTP_URL: smtp.url,
      MAIL_FROM: 'opsgate <opsgate@example.com>',
      MAIL_BACKOFF_BASE_MS: '200',
      EXEC_CONNECT_TIMEOUT_MS: '10000',
    },
  });
  await t.ready();
}, 90_000);

afterAll(async () => {
  await t?.stop();
  await smtp?.stop();
  await fleet?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const after = (mark: number) => (c: RecordedCall) => t.fake.calls.indexOf(c) >= mark;
const keep = (r: SlackResponse): SlackResponse => (answers.push(r.text), r);
const mailText = (m: ReceivedMail) => `${m.parsed.subject ?? ''}\n${m.parsed.text ?? ''}`;

/** Every document of every collection of the app's database, as JSON. */
async function storeDump(): Promise<string> {
  const db = t.app.store.connection.db!;
  const dump: unknown[] = [];
  for (const c of await db.listCollections().toArray()) dump.push(c.name, await db.collection(c.name).find({}).toArray());
  return JSON.stringify(dump);
}

type Element = { type: string; action_id: string; options?: Array<{ value: string }> };
type InputBlock = { type: string; block_id: string; element?: Element };

/**
 * The `state.values` Slack sends when the form is submitted, built from the form's own input
 * blocks: each element answers with its own type, and a select can only hold options it offers.
 */
function formState(view: { blocks: InputBlock[] }, choose: Record<string, string | string[] | undefined>): Record<string, Record<string, unknown>> {
  const values: Record<string, Record<string, unknown>> = {};
  const offered = (e: Element, v: string) => {
    const o = e.options?.find((x) => x.value === v);
    if (!o) throw new Error(`${e.action_id} offers no ${v}`);
    return o;
  };
  for (const b of view.blocks) {
    if (b.type !== 'input' || !b.element) continue;
    const e = b.element;
    const want = choose[b.block_id];
    const list = want === undefined ? [] : Array.isArray(want) ? want : [want];
    const state: Record<string, unknown> = { type: e.type };
    if (e.type === 'plain_text_input') state.value = list[0] ?? null;
    else if (e.type === 'static_select') state.selected_option = list[0] === undefined ? null : offered(e, list[0]);
    else if (e.type === 'multi_static_select' || e.type === 'checkboxes') state.selected_options = list.map((v) => offered(e, v));
    else if (e.type === 'datepicker') state.selected_date = list[0] ?? null;
    else if (e.type === 'timepicker') state.selected_time = list[0] ?? null;
    else throw new Error(`the form has an element this test does not fill: ${e.type}`);
    values[b.block_id] = { [e.action_id]: state };
  }
  return values;
}

/** The value of the picker's Choose button for one ticket. */
function pickValue(view: RecordedCall, name: string): string {
  const blocks = (view.args.view as { blocks: Array<{ accessory?: { action_id: string; value: string } }> }).blocks;
  const b = blocks.find((x) => x.accessory?.action_id === 'ticket_pick' && (JSON.parse(x.accessory.value) as { n: string }).n === name);
  if (!b) throw new Error(`no ${name} in the picker: ${JSON.stringify(blocks).slice(0, 600)}`);
  return b.accessory!.value;
}

async function approvalDm(u: User, ticketId: string, mark: number): Promise<RecordedCall> {
  return t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(u) && text(c).includes(ticketId) && text(c).includes('"ticket_approve"'), 30_000);
}

/** Clicks Approve in `u`'s DM; resolves with that DM rewritten in place (no Approve button left). */
async function approve(u: User, ticketId: string, mark: number): Promise<{ asked: RecordedCall; updated: RecordedCall }> {
  const asked = await approvalDm(u, ticketId, mark);
  // Clicked at once: a click before the bot stored the DM's place must still get its copy rewritten.
  const clickMark = t.fake.calls.length;
  expect(keep(await t.slack.blockAction(u, { action_id: 'ticket_approve', value: buttonValue(asked, 'ticket_approve') }, { channel: dm(u), message_ts: String(asked.reply?.ts) })).status).toBe(200);
  const updated = await t.fake.waitFor(
    'chat.update',
    (c) => after(clickMark)(c) && c.args.channel === dm(u) && c.args.ts === asked.reply?.ts && text(c).includes(ticketId) && !text(c).includes('"ticket_approve"'),
    30_000,
  );
  return { asked, updated };
}

/** The secret is in no Slack call, HTTP answer, mail, stored document or bot log line. */
async function expectNowhere(secret: string, ticketId: string): Promise<void> {
  // What is searched holds the ticket (the search is not over empty records).
  const dump = await storeDump();
  expect(dump).toContain(ticketId);
  expect(botLog).toContain('job finished');
  expect(smtp.received.some((m) => mailText(m).includes(ticketId))).toBe(true);
  expect(t.fake.calls.filter((c) => text(c).includes(secret)).map((c) => c.method)).toEqual([]);
  expect(answers.filter((a) => a.includes(secret))).toEqual([]);
  expect(smtp.received.filter((m) => m.raw.toString('utf8').includes(secret) || mailText(m).includes(secret)).map((m) => m.parsed.subject)).toEqual([]);
  expect(dump.includes(secret)).toBe(false);
  expect(botLog.includes(secret)).toBe(false);
}

describe('a ticket on a real sshd config center, through Slack and SMTP', () => {
  it('picker → form → pre-task → two levels → Run → main and post over SSH → channel message updated in place → result DM and mail → /ticket show has the log', async () => {
    const erin = USERS.erin;
    const sshd = fleet.servers[0]!;

    // ---- erin opens the picker and walks it: environment, category, ticket, form.
    let mark = t.fake.calls.length;
    expect(keep(await t.slack.command('/ticket', '', erin)).status).toBe(200);
    const picker = await t.fake.waitFor('views.open', after(mark));
    const view = { id: String((picker.reply?.view as { id: string }).id) };
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick_env', block_id: 'pick_env', type: 'static_select', selected_option: { value: 'PROD' } }, { view });
    await t.fake.waitFor('views.update', (c) => after(mark)(c) && text(c).includes('ticket_pick_category'));
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick_category', block_id: 'pick_category|PROD', type: 'static_select', selected_option: { value: 'DeployGit' } }, { view });
    const listed = await t.fake.waitFor('views.update', (c) => after(mark)(c) && text(c).includes('ticket_pick'));
    expect(text(listed)).toContain('Deploy through the sshd config center');
    mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick', value: pickValue(listed, 'sshd-deploy') }, { view });
    const form = await t.fake.waitFor('views.update', (c) => after(mark)(c) && text(c).includes('ticket_form'));
    const formView = form.args.view as { blocks: InputBlock[]; private_metadata: string };
    expect(text(form)).not.toContain(SECRET);
    // The form offers the template's options, never its internal vars or secrets.
    expect(formView.blocks.filter((b) => b.type === 'input').map((b) => b.block_id)).toEqual(['opt:Hosts', 'opt:Tag']);

    mark = t.fake.calls.length;
    const submit = keep(
      await t.slack.viewSubmission(erin, { id: view.id, callback_id: 'ticket_form', private_metadata: formView.private_metadata, values: formState(formView, { 'opt:Hosts': ['web-01', 'web-02'], 'opt:Tag': 'v1.4.2' }) }),
    );
    expect(submit.status).toBe(200);
    expect(submit.text).toBe(''); // the form closes
    const submitted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes('submitted'), 30_000);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(text(submitted))![0];
    // erin sees the pre-task's output (the secret masked) and who decides next.
    expect(text(submitted)).toContain('pre-check v1.4.2 token=***');
    expect(text(submitted)).toContain('center-1');
    expect(text(submitted)).toContain('waiting for approval');

    // ---- level 1, alice: the DM carries the exact commands (masked) and the pre-task result; mail alongside.
    const l1 = await approve(USERS.alice, ticketId, mark);
    const askText = text(l1.asked);
    expect(askText).toContain('main-ran');
    expect(askText).toContain('token=***');
    expect(askText).toContain('pre-check v1.4.2 token=***');
    expect(askText).toContain('Erin Director');
    expect(askText).toContain('web-01');
    expect(text(l1.updated)).toContain('approved by');
    const aliceMail = await smtp.waitFor((m) => m.envelope.to.includes('alice@example.com') && (m.parsed.subject ?? '').includes(ticketId));
    expect(mailText(aliceMail)).toContain('Commands that will run');
    expect(mailText(aliceMail)).toContain('token=***');
    // erin hears that level 1 is done and level 2 waits.
    await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes(ticketId) && text(c).includes('waits for level 2'));

    // ---- level 2, the ops group: carol (erin submitted, alice decided level 1).
    const l2 = await approve(USERS.carol, ticketId, mark);
    expect(text(l2.asked)).toContain('Alice Ops');
    const approved = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes('is approved') && text(c).includes('"ticket_run"'));
    // Nothing ran yet: Run is erin's.
    expect(fs.existsSync(path.join(out, 'main.txt'))).toBe(false);

    // ---- erin presses Run.
    mark = t.fake.calls.length;
    expect(keep(await t.slack.blockAction(erin, { action_id: 'ticket_run', value: buttonValue(approved, 'ticket_run') }, { channel: dm(erin), message_ts: String(approved.reply?.ts) })).status).toBe(200);
    const posted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === CHANNEL && text(c).includes(ticketId), 30_000);
    expect(text(posted)).toContain('running since');
    const final = await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === CHANNEL && text(c).includes('succeeded'), 60_000);
    // One message in the channel: every rewrite carries the posted message's ts.
    expect(posted.reply?.ts).toEqual(expect.any(String));
    expect(final.args.ts).toBe(posted.reply?.ts);
    const channelCalls = t.fake.calls.slice(mark).filter((c) => c.args.channel === CHANNEL);
    expect(channelCalls.filter((c) => c.method === 'chat.postMessage')).toEqual([posted]);
    expect(channelCalls.filter((c) => c.method === 'chat.update').every((c) => c.args.ts === posted.reply?.ts)).toBe(true);
    expect(text(final)).toContain('main exit 0');
    expect(text(final)).toContain('post ok');
    expect(text(final)).toContain('"ticket_full_log"'); // the Full log button
    expect(text(final)).toContain('post-ran sshd-deploy token=***');

    // main and post ran on the sshd host: they saw its SSH connection, and the host got the real secret.
    const mainOut = fs.readFileSync(path.join(out, 'main.txt'), 'utf8').split('\n');
    expect(mainOut[0]).toBe('main web-01,web-02 v1.4.2');
    expect(mainOut[1]).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${sshd.port}$`));
    expect(fs.readFileSync(path.join(out, 'post.txt'), 'utf8').trim()).toMatch(new RegExp(` 127\\.0\\.0\\.1 ${sshd.port}$`));
    expect(fs.readFileSync(path.join(out, 'token'), 'utf8')).toBe(SECRET);

    // ---- the result: DM and mail to erin.
    const resultDm = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes(ticketId) && text(c).includes('ended'), 30_000);
    expect(text(resultDm)).toContain('succeeded');
    expect(text(resultDm)).toContain('post-ran sshd-deploy token=***');
    const resultMail = await smtp.waitFor((m) => m.envelope.to.includes('erin@example.com') && (m.parsed.subject ?? '').includes(`${ticketId} sshd-deploy (PROD): succeeded`), 30_000);
    expect(mailText(resultMail)).toContain('ended: succeeded');
    expect(mailText(resultMail)).toContain('post-ran sshd-deploy token=***');
    expect(mailText(resultMail)).toContain(`/ticket show ${ticketId}`);
    // The approvers' copies say it ran and hold no button any more.
    const aliceNow = t.fake.calls.filter((c) => c.method === 'chat.update' && c.args.channel === dm(USERS.alice) && c.args.ts === l1.asked.reply?.ts).at(-1)!;
    expect(text(aliceNow)).not.toContain('"ticket_change_to_reject"');

    // ---- /ticket show: the log, main's and post's output with the secret masked.
    const show = await runCommand(t, '/ticket', `show ${ticketId}`, erin);
    answers.push(JSON.stringify(show));
    const shown = show.text + JSON.stringify(show.blocks);
    expect(shown).toContain(`Ticket ${ticketId}`);
    expect(shown).toContain(`main-ran web-01,web-02 v1.4.2 token=*** conn=127.0.0.1`);
    expect(shown).toContain('post-ran sshd-deploy token=***');
    expect(shown).toContain('succeeded');

    const stored = await t.app.services.tickets.show(erin.id, ticketId);
    expect(stored.ticket.state).toBe('succeeded');
    expect(await metricValue(t.app.port, 'opsgate_runs_duration_seconds_count', { kind: 'ticket', outcome: 'succeeded' })).toBe(1);
    expect(stored.ticket.phases.map((p) => [p.phase, p.ok])).toEqual([
      ['pre', true],
      ['main', true],
      ['post', true],
    ]);
    await expectNowhere(SECRET, ticketId);
  }, 180_000);

  it('inline /ticket submit … auto on local: two approvals, it runs by itself; the channel message, the result DM and the mail arrive; /ticket show has the log', async () => {
    const erin = USERS.erin;
    const mark = t.fake.calls.length;
    const reply = await runCommand(t, '/ticket', 'submit deploy-git env:PROD AnsibleHosts=web-01,web-02 Mode=rolling Tag=v1.4.3 auto', erin);
    answers.push(JSON.stringify(reply));
    const all = reply.text + JSON.stringify(reply.blocks);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(all)?.[0];
    expect(ticketId, all).toBeDefined();
    expect(all).toContain('checking v1.4.3 for PROD');
    expect(all).toContain('automatically once approved');
    const id = ticketId!;

    await approve(USERS.alice, id, mark);
    await approve(USERS.carol, id, mark);
    const approved = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes(id) && text(c).includes('is approved'));
    expect(text(approved)).toContain('It runs as you chose');

    const posted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === '#deploys' && text(c).includes(id), 30_000);
    const final = await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === '#deploys' && text(c).includes(id) && text(c).includes('succeeded'), 60_000);
    expect(final.args.ts).toBe(posted.reply?.ts);
    expect(text(final)).toContain('python main_deploy_git.py');
    const resultDm = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(erin) && text(c).includes(id) && text(c).includes('ended'), 30_000);
    expect(text(resultDm)).toContain('succeeded');
    const mail = await smtp.waitFor((m) => m.envelope.to.includes('erin@example.com') && (m.parsed.subject ?? '').includes(`${id} deploy-git (PROD): succeeded`), 30_000);
    // The secret went into the command as *** in what is shown; the real run printed it redacted.
    expect(mailText(mail)).toContain('-k ***');
    expect(mailText(mail)).toContain('notify deploy-git');

    const show = await runCommand(t, '/ticket', `show ${id}`, erin);
    answers.push(JSON.stringify(show));
    expect(show.text + JSON.stringify(show.blocks)).toContain('notify deploy-git');
    expect(show.text + JSON.stringify(show.blocks)).toContain('python main_deploy_git.py -e prod -g app01');
    await expectNowhere(EXAMPLE_SECRET, id);
    await expectNowhere(SECRET, id);
  }, 180_000);
});
