/**
 * The full log as a file, through the real Bolt app over signed HTTP and the fake Slack's
 * upload flow (files.getUploadURLExternal -> POST to the loopback upload URL ->
 * files.completeUploadExternal, refused without the manifest's files:write): the Full log
 * button on the channel's result message and `/ticket log` put exactly the stored (redacted)
 * log into the clicker's DM as TK-….log; someone who may not see the ticket gets 1201 and no
 * upload; an empty log is said so and nothing is uploaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { buttonValue, dm, text, useTicketApp, type User } from '../helpers/ticket-slack.js';

const SECRET = 'example-deploy-token-replace-me';
const LINES = 4000;

describe('full ticket logs as files over Slack', () => {
  const app = useTicketApp();
  const { ticket, after } = app;
  let t: TestOpsgate;

  const said = async (line: string, u: User = USERS.erin): Promise<string> => {
    const r = await runCommand(t, '/ticket', line, u);
    return r.text + JSON.stringify(r.blocks);
  };

  beforeAll(async () => {
    t = app.t;
    // Two tickets of our own: one printing a long log (several chunks) with the secret in every
    // line, one that waits for approval and has no pre-task (so its log is empty).
    fs.appendFileSync(
      path.join(t.catalogDir, 'tickets.yaml'),
      [
        '',
        '  - name: long-log',
        '    env: STAGE',
        '    category: Demo',
        '    submitGroups: [ops]',
        '    secrets: { Token: { file: example-secrets/deploy-token } }',
        `    main: 'seq 0 ${LINES - 1} | while read i; do echo "line $i token={Token} ünï padding-padding-padding-padding"; done; echo last-line >&2'`,
        '    channel: "#deploys"',
        '  - name: waits',
        '    env: STAGE',
        '    category: Demo',
        '    submitGroups: [ops]',
        '    main: "echo never"',
        '    approval: [{ label: lead, approvers: { people: [alice] } }]',
        '',
      ].join('\n'),
    );
    const reloaded = await runCommand(t, '/opsgate', 'reload', USERS.erin);
    expect(reloaded.text + JSON.stringify(reloaded.blocks)).toContain('Catalog reloaded');
    // bob is in a team (so a refusal is 1201, not 1202) without `use` on long-log.
    await runCommand(t, '/opsgate', 'team create builders', USERS.erin);
    await runCommand(t, '/opsgate', 'team add builders person:bob', USERS.erin);
  }, 60_000);

  /** The stored log, chunk by chunk from MongoDB, as the bytes the file must hold. */
  async function storedLog(ticketId: string): Promise<Buffer> {
    const chunks = await t.app.store.connection.db!.collection('ticket_log_chunks').find({ ticketId }).sort({ seq: 1 }).toArray();
    expect(chunks.length).toBeGreaterThan(1);
    return Buffer.concat(chunks.map((c) => Buffer.from(String(c.text))));
  }

  let ticketId = '';
  let fullLogValue = '';

  it('the Full log button on the result puts exactly the stored, redacted log into the clicker’s DM as a file', async () => {
    let mark = t.fake.calls.length;
    const submitted = await said('submit long-log env:STAGE');
    ticketId = /TK-[A-Z0-9]{6}/.exec(submitted)?.[0] ?? '';
    expect(ticketId, submitted).not.toBe('');
    const final = await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === '#deploys' && text(c).includes(ticketId) && text(c).includes('succeeded'), 30_000);
    fullLogValue = buttonValue(final, 'ticket_full_log');
    expect((await ticket(ticketId)).state).toBe('succeeded');

    mark = t.fake.calls.length;
    expect((await t.slack.blockAction(USERS.erin, { action_id: 'ticket_full_log', value: fullLogValue }, { channel: 'C0DEPLOYS' })).status).toBe(200);
    const answer = await t.fake.waitFor('response_url', (c) => after(mark)(c) && text(c).includes(ticketId), 30_000);
    expect(text(answer)).toContain('is in your DM');
    const asked = t.fake.callsTo('files.getUploadURLExternal').filter(after(mark));
    expect(asked).toHaveLength(1);
    expect(asked[0]!.args.filename).toBe(`${ticketId}.log`);
    const complete = t.fake.callsTo('files.completeUploadExternal').filter(after(mark));
    expect(complete).toHaveLength(1);
    const fileId = (complete[0]!.args.files as Array<{ id: string }>)[0]!.id;
    const upload = t.fake.uploads.get(fileId)!;
    expect(upload.completed?.channel).toBe(dm(USERS.erin));
    expect(upload.filename).toBe(`${ticketId}.log`);

    const got = t.fake.uploadedBytes(fileId);
    const stored = await storedLog(ticketId);
    expect(got.equals(stored)).toBe(true);
    expect(upload.length).toBe(stored.length);
    const log = got.toString('utf8');
    expect(log).toContain('line 0 token=*** ünï');
    expect(log).toContain(`line ${LINES - 1} token=***`);
    expect(log).toContain('last-line');
    expect(log).not.toContain(SECRET);
    // The upload URL is signed; the bot token does not travel with the log.
    expect(t.fake.callsTo('file_upload').filter(after(mark))[0]!.args.authorization).toBeNull();
    expect(t.fake.calls.some((c) => text(c).includes(SECRET))).toBe(false);
  }, 90_000);

  it('someone who may not see the ticket gets 1201 and nothing is uploaded', async () => {
    const mark = t.fake.calls.length;
    await t.slack.blockAction(USERS.bob, { action_id: 'ticket_full_log', value: fullLogValue }, { channel: 'C0DEPLOYS' });
    const refused = await t.fake.waitFor('response_url', after(mark));
    expect(text(refused)).toContain('[1201]');
    expect(text(refused)).toContain('use on template long-log');
    expect(await said(`log ${ticketId}`, USERS.bob)).toContain('[1201]');
    expect(t.fake.calls.filter(after(mark)).filter((c) => c.method.startsWith('files.') || c.method === 'file_upload')).toEqual([]);
  }, 30_000);

  it('/ticket log does the same for its submitter; /ticket show carries the Full log button', async () => {
    const mark = t.fake.calls.length;
    expect(await said(`log ${ticketId}`)).toContain(`${ticketId}.log`);
    const complete = await t.fake.waitFor('files.completeUploadExternal', after(mark));
    const fileId = (complete.args.files as Array<{ id: string }>)[0]!.id;
    expect(t.fake.uploadedBytes(fileId).equals(await storedLog(ticketId))).toBe(true);
    expect(await said(`show ${ticketId}`)).toContain('ticket_full_log');
  }, 30_000);

  it('an empty log is said so and nothing is uploaded', async () => {
    const waiting = await said('submit waits env:STAGE');
    const id = /TK-[A-Z0-9]{6}/.exec(waiting)?.[0];
    expect(id, waiting).toBeDefined();
    expect((await ticket(id!)).state).toBe('waiting');
    const mark = t.fake.calls.length;
    expect(await said(`log ${id}`)).toContain('is empty');
    expect(t.fake.calls.filter(after(mark)).filter((c) => c.method.startsWith('files.') || c.method === 'file_upload')).toEqual([]);
    expect(await said(`log TK-AAAAAA`)).toContain('[1100]');
    await said(`revoke ${id}`);
  }, 30_000);
});
