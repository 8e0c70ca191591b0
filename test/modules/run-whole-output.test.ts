/**
 * A large run's whole output as one file, over signed HTTP to the real Bolt app on two real
 * sshd processes holding twelve host entries (one of them pointing at a closed port): the final
 * message's "Whole output as a file" button and `/jobs output <id>` put one file in the asker's
 * DM with every host under its header (bucket, exit code, duration; unreachable ones say why),
 * ok before failed before unreachable; who may not see the job gets 1201 and no file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actions, Commands } from '../../commands/ids.js';
import { runCommand, USERS } from '../helpers/opsgate.js';
import { jobIdIn, startRunApp, type RunApp, type Server } from '../helpers/run-app.js';
import { freePort } from '../helpers/sshd.js';
import { buttonValue, text } from '../helpers/ticket-slack.js';

let r: RunApp;
const h = (name: string, port: number, hostKey: string) => ({ name, address: '127.0.0.1', port, hostKey, env: 'prod', app: 'nginx' });

beforeAll(async () => {
  const closed = await freePort();
  r = await startRunApp({
    servers: 2,
    hosts: ([s0, s1]) => [
      ...Array.from({ length: 11 }, (_, i) => h(`web-${String(i + 1).padStart(2, '0')}`, (i % 2 ? s1 : s0)!.port, (i % 2 ? s1 : s0)!.fingerprint)),
      h('web-12', closed, (s0 as Server).fingerprint),
    ],
    // web-02, web-04, … (the second sshd) fail with exit 3 after a line on stderr.
    modules: ([, s1]) => [{ id: 1, name: 'probe', command: `set -- $SSH_CONNECTION; if [ "$4" = ${s1!.port} ]; then echo down >&2; exit 3; fi; echo up on $4`, envs: ['prod'], channel: '#ops-runs' }],
  });
}, 60_000);
afterAll(() => r?.stop());

describe("a large run's whole output", () => {
  it('comes as one file from the final message\'s button and from /jobs output <id>, every host under its header; others get 1201', async () => {
    const mark = r.t.fake.calls.length;
    const res = await runCommand(r.t, Commands.run, 'probe target:app:nginx', USERS.carol);
    const jobId = jobIdIn(JSON.stringify(res.blocks));
    expect(jobId, res.text).not.toBe('');
    const final = await r.t.fake.waitFor('chat.update', (c) => r.after(mark)(c) && c.args.channel === '#ops-runs' && text(c).includes(jobId) && text(c).includes('host_unreachable'), 60_000);
    const value = buttonValue(final, Actions.jobOutputAll);
    expect(JSON.parse(value)).toEqual({ j: jobId });

    const clicked = r.t.fake.calls.length;
    await r.t.slack.blockAction(USERS.carol, { action_id: Actions.jobOutputAll, value }, { channel: 'C0OPSRUNS' });
    const sent = await r.t.fake.waitFor('files.completeUploadExternal', r.after(clicked));
    const fileId = (sent.args.files as Array<{ id: string }>)[0]!.id;
    expect(r.t.fake.uploads.get(fileId)!.completed?.channel).toBe(`D${USERS.carol.id}`);
    const body = r.t.fake.uploadedBytes(fileId).toString('utf8');
    const headers = body.split('\n').filter((l) => l.startsWith('===== '));
    expect(headers).toHaveLength(12);
    // ok (web-01, 03, … 11) before failed (web-02, … 10) before unreachable (web-12).
    expect(headers.map((l) => l.split(' ')[1])).toEqual(['web-01', 'web-03', 'web-05', 'web-07', 'web-09', 'web-11', 'web-02', 'web-04', 'web-06', 'web-08', 'web-10', 'web-12']);
    expect(headers[0]).toMatch(/^===== web-01 · ok · exit 0 · \d+\.\d s =====$/);
    expect(headers[6]).toMatch(/^===== web-02 · failed · exit 3 · \d+\.\d s =====$/);
    expect(headers[11]).toMatch(/^===== web-12 · unreachable · unreachable \(refused\)/);
    expect(body).toMatch(/===== web-01 [^\n]*\nup on \d+\n/);
    expect(body).toMatch(/===== web-02 [^\n]*\ndown\n/);
    expect(body).toMatch(/===== web-12 [^\n]*\n[^\n]*ECONNREFUSED/);
    const answer = await r.t.fake.waitFor('chat.postEphemeral', (c) => r.after(clicked)(c) && text(c).includes(`${jobId}.log`));
    expect(text(answer)).toContain(`bytes, 12 hosts) is in your DM`);

    // The same file from /jobs output <id>.
    const typed = r.t.fake.calls.length;
    expect((await runCommand(r.t, Commands.jobs, `output ${jobId}`, USERS.carol)).text).toContain(`${jobId}.log (${Buffer.byteLength(body)} bytes, 12 hosts) is in your DM`);
    const again = await r.t.fake.waitFor('files.completeUploadExternal', r.after(typed));
    expect(r.t.fake.uploadedBytes((again.args.files as Array<{ id: string }>)[0]!.id).toString('utf8')).toBe(body);

    // bob has no use on inventory:prod: refused, no file.
    const bobMark = r.t.fake.calls.length;
    await r.t.slack.blockAction(USERS.bob, { action_id: Actions.jobOutputAll, value }, { channel: 'C0OPSRUNS' });
    await r.t.fake.waitFor('chat.postEphemeral', (c) => r.after(bobMark)(c) && text(c).includes('[1201]'));
    expect((await runCommand(r.t, Commands.jobs, `output ${jobId}`, USERS.bob)).text).toContain('[1201]');
    expect(r.t.fake.callsTo('files.completeUploadExternal').filter(r.after(bobMark))).toHaveLength(0);
  });
});
