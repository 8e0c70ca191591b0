/**
 * Module runs with approval levels, over signed HTTP to the real Bolt app on two real sshd
 * hosts: the run waits (`awaiting-approval`, nothing runs), each level's approvers get a DM
 * with Approve / Reject, who asked cannot approve, a second click is "already decided", who
 * asked hears each decision; the last approval starts it on the hosts still enabled; a
 * rejection (with its reason) ends it `rejected` with nothing run. What ran is seen on the
 * hosts themselves: the module touches a file named after the host's port.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actions, Commands, RunBlocks, Views } from '../../commands/ids.js';
import { auditModel } from '../../src/models/audit.js';
import { runCommand, USERS } from '../helpers/opsgate.js';
import { jobIdIn, startRunApp, type RunApp, type Server } from '../helpers/run-app.js';
import { buttonValue, text } from '../helpers/ticket-slack.js';

let r: RunApp;
let servers: Server[];
const h = (name: string, s: Server, enabled = true) => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, env: 'prod', app: 'nginx', enabled });
const marker = (tag: string, s: Server) => `/tmp/opsgate-gated-${tag}-${s.port}`;

beforeAll(async () => {
  r = await startRunApp({
    servers: 2,
    hosts: ([s0, s1]) => [h('web-1', s0!), h('web-2', s1!)],
    modules: () => [
      {
        id: 7,
        name: 'gated-touch',
        description: 'Touches a marker file named after the host port',
        command: 'set -- $SSH_CONNECTION; touch /tmp/opsgate-gated-{tag}-$4 && echo touched',
        params: [{ name: 'tag', type: 'string', pattern: '^[a-z0-9]{1,32}$' }],
        envs: ['prod'],
        channel: '#ops-runs',
        approval: [
          { label: 'lead', approvers: { people: ['alice'] } },
          { label: 'ops', approvers: { group: 'ops' } },
        ],
      },
    ],
  });
  servers = r.fleet.servers;
}, 60_000);
afterAll(async () => {
  for (const f of fs.readdirSync('/tmp').filter((n) => n.startsWith('opsgate-gated-'))) fs.rmSync(`/tmp/${f}`, { force: true });
  await r?.stop();
});

const dmOf = (u: { id: string }) => `D${u.id}`;

/** carol asks for the run; returns its id once alice (level 1) has her DM. */
async function ask(tag: string) {
  const mark = r.t.fake.calls.length;
  const res = await runCommand(r.t, Commands.run, `gated-touch target:app:nginx tag=${tag}`, USERS.carol);
  const jobId = jobIdIn(JSON.stringify(res.blocks));
  expect(res.text).toBe(`${jobId} waits for approval`);
  const dm = await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.alice) && text(c).includes(jobId));
  return { jobId, dm, mark };
}

/** A click in a DM and what the clicker is told (ephemeral or DM) after it. */
async function click(who: { id: string; name: string }, actionId: string, value: string, expectText: string) {
  const mark = r.t.fake.calls.length;
  expect((await r.t.slack.blockAction(who, { action_id: actionId, value }, { channel: dmOf(who) })).status).toBe(200);
  return r.t.fake.waitFor('chat.postEphemeral', (c) => r.after(mark)(c) && c.args.user === who.id && text(c).includes(expectText));
}

describe('a module with approval levels', () => {
  it('waits for both levels; no self-approval; a second click is already decided; the last approval runs it on the hosts still enabled', async () => {
    const tag = randomBytes(4).toString('hex');
    const { jobId, dm, mark } = await ask(tag);
    const waiting = await r.job(jobId);
    expect(waiting).toMatchObject({ state: 'awaiting-approval', approval: { state: 'pending', current: 0 } });
    expect(waiting.hosts.map((x) => x.state)).toEqual(['pending', 'pending']);
    expect(JSON.stringify((await runCommand(r.t, Commands.jobs, `show ${jobId}`, USERS.carol)).blocks)).toContain(':lock: awaiting approval');
    expect(text(dm)).toContain('touch /tmp/opsgate-gated-');
    const l1 = buttonValue(dm, Actions.runApprove);
    expect(JSON.parse(l1)).toEqual({ j: jobId, l: 0 });

    // carol asked for it: her click (with the approver's button value) is refused, nothing changes.
    await click(USERS.carol, Actions.runApprove, l1, '[1201] You need permission to do this: you cannot approve your own run');
    expect((await r.job(jobId)).approval!.levels[0]!.decision).toBeNull();

    await click(USERS.alice, Actions.runApprove, l1, `You approved level 1 of \`${jobId}\``);
    await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.carol) && text(c).includes(`Level 1 (lead) of your run`) && text(c).includes('Alice Ops'));
    // A second click on the same button: already decided, by whom.
    await click(USERS.alice, Actions.runApprove, l1, 'Already decided: level 1 was approved by Alice Ops (alice)');
    // alice's DM is redrawn in place without buttons.
    const redrawn = await r.t.fake.waitFor('chat.update', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.alice) && c.args.ts === dm.reply!.ts);
    expect(text(redrawn)).not.toContain(Actions.runApprove);

    // Level 2 (group ops, carol left out as the asker): erin is asked; alice, who decided level 1, is not asked again.
    const erinDm = await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.erin) && text(c).includes(jobId));
    const l2 = buttonValue(erinDm, Actions.runApprove);
    expect(JSON.parse(l2)).toEqual({ j: jobId, l: 1 });
    expect(r.t.fake.calls.filter((c) => r.after(mark)(c) && c.method === 'chat.postMessage' && c.args.channel === dmOf(USERS.carol) && text(c).includes(Actions.runApprove))).toEqual([]);
    expect(fs.existsSync(marker(tag, servers[0]!))).toBe(false);

    // web-2 is disabled before the last approval: it is dropped at the start.
    await r.setHosts([h('web-1', servers[0]!), h('web-2', servers[1]!, false)]);
    try {
      await click(USERS.erin, Actions.runApprove, l2, `You approved \`${jobId}\``);
      await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.carol) && text(c).includes('is approved') && text(c).includes(jobId));
      const summary = await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.carol) && text(c).includes(`Your run ${jobId} (gated-touch) ended`), 30_000);
      expect(summary.args.text).toBe(`Your run ${jobId} (gated-touch) ended: 1 ok, 0 failed, 0 unreachable`);
      await r.t.fake.waitFor('chat.update', (c) => r.after(mark)(c) && c.args.channel === '#ops-runs' && text(c).includes(jobId) && text(c).includes('host_ok'));
      const end = await r.job(jobId);
      expect(end).toMatchObject({ state: 'done', counts: { ok: 1, failed: 0, unreachable: 0 }, target: { hostNames: ['web-1'] }, approval: { state: 'approved' } });
      expect(end.note).toBe('dropped at start: web-2 (disabled)');
      expect(end.hosts.map((x) => [x.name, x.state, x.stdoutTail])).toEqual([['web-1', 'ok', 'touched\n']]);
      expect(fs.existsSync(marker(tag, servers[0]!))).toBe(true);
      expect(fs.existsSync(marker(tag, servers[1]!))).toBe(false);
      expect((await auditModel(r.t.app.store.connection).find({ target: `job:${jobId}` }).sort({ at: 1, _id: 1 }).lean()).map((a) => [a.action, a.actor])).toEqual([
        ['job.request', 'carol'],
        ['job.approve', 'alice'],
        ['job.approve', 'erin'],
        ['job.start', 'carol'],
      ]);
    } finally {
      await r.setHosts([h('web-1', servers[0]!), h('web-2', servers[1]!)]);
    }
  });

  it('Reject needs a reason; once rejected the job ends rejected, who asked is told why, and nothing ran on any host', async () => {
    const tag = randomBytes(4).toString('hex');
    const { jobId, dm, mark } = await ask(tag);
    const value = buttonValue(dm, Actions.runReject);
    const opened = r.t.fake.calls.length;
    await r.t.slack.blockAction(USERS.alice, { action_id: Actions.runReject, value }, { channel: dmOf(USERS.alice) });
    const form = await r.t.fake.waitFor('views.open', r.after(opened));
    const view = form.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(Views.runReject);
    const reason = (v: string | null) => ({ [RunBlocks.rejectReason]: { text: { type: 'plain_text_input', value: v } } });
    const empty = await r.t.slack.viewSubmission(USERS.alice, { callback_id: view.callback_id, private_metadata: view.private_metadata, values: reason('  ') });
    expect(empty.json()).toEqual({ response_action: 'errors', errors: { [RunBlocks.rejectReason]: '[1102] Missing field: a rejection needs a reason' } });
    expect((await r.job(jobId)).state).toBe('awaiting-approval');

    expect((await r.t.slack.viewSubmission(USERS.alice, { callback_id: view.callback_id, private_metadata: view.private_metadata, values: reason('not during the sale') })).status).toBe(200);
    const told = await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.carol) && text(c).includes(jobId) && text(c).includes('rejected'));
    expect(text(told)).toContain('was rejected at level 1 (lead) by Alice Ops: “not during the sale”. Nothing ran.');
    const end = await r.job(jobId);
    expect(end).toMatchObject({ state: 'rejected', engineJobId: null, approval: { state: 'rejected' }, note: 'rejected at level 1 (lead) by Alice Ops: not during the sale' });
    expect(end.hosts.map((x) => x.state)).toEqual(['pending', 'pending']);
    // A late Approve click on the same DM: already decided.
    await click(USERS.alice, Actions.runApprove, buttonValue(dm, Actions.runApprove), 'Already decided: level 1 was rejected by Alice Ops (alice)');
    // Nothing ran: no marker on either host, no start audited, nothing in the channel, nobody else asked.
    for (const s of servers) expect(fs.existsSync(marker(tag, s))).toBe(false);
    expect(await auditModel(r.t.app.store.connection).countDocuments({ target: `job:${jobId}`, action: 'job.start' })).toBe(0);
    expect(r.t.fake.calls.filter((c) => r.after(mark)(c) && c.args.channel === '#ops-runs' && text(c).includes(jobId))).toEqual([]);
    expect(r.t.fake.calls.filter((c) => r.after(mark)(c) && c.method === 'chat.postMessage' && c.args.channel === dmOf(USERS.erin) && text(c).includes(jobId))).toEqual([]);
  });
  it('who asked withdraws a run waiting for approval with /jobs term: it ends cancelled, the approver\'s buttons go, a late click is answered, nothing ran', async () => {
    const tag = randomBytes(4).toString('hex');
    const { jobId, dm, mark } = await ask(tag);
    // USR1 has nothing to reach yet; someone else may not withdraw it.
    expect((await runCommand(r.t, Commands.jobs, `signal ${jobId} USR1`, USERS.carol)).text).toContain(`[1100] Bad parameter: ${jobId} is waiting for approval; nothing of it runs yet, so SIGUSR1 has nothing to reach`);
    expect((await runCommand(r.t, Commands.jobs, `term ${jobId}`, USERS.bob)).text).toContain(`[1201] You need permission to do this: only who started ${jobId} or an admin may signal it`);
    expect((await r.job(jobId)).state).toBe('awaiting-approval');
    const answer = await runCommand(r.t, Commands.jobs, `term ${jobId}`, USERS.carol);
    expect(text({ args: answer } as never)).toContain(`${jobId}\` (gated-touch) was waiting for approval and is withdrawn; nothing ran.`);
    const end = await r.job(jobId);
    expect(end).toMatchObject({ state: 'cancelled', engineJobId: null, approval: { state: 'cancelled' }, note: 'withdrawn by Carol SRE (SIGTERM) while waiting for approval; nothing ran' });
    // alice's DM is redrawn without its buttons; her late click is answered, not applied.
    const redrawn = await r.t.fake.waitFor('chat.update', (c) => r.after(mark)(c) && c.args.channel === dmOf(USERS.alice) && text(c).includes(jobId));
    expect(JSON.stringify(redrawn.args.blocks)).not.toContain(Actions.runApprove);
    await click(USERS.alice, Actions.runApprove, buttonValue(dm, Actions.runApprove), 'This run is no longer waiting for a decision.');
    expect((await r.job(jobId)).state).toBe('cancelled');
    expect((await runCommand(r.t, Commands.jobs, `term ${jobId}`, USERS.carol)).text).toContain(`[1100] Bad parameter: ${jobId} already ended (cancelled)`);
    for (const s of servers) expect(fs.existsSync(marker(tag, s))).toBe(false);
    expect(await auditModel(r.t.app.store.connection).countDocuments({ target: `job:${jobId}`, action: 'job.withdrawn', actor: 'carol' })).toBe(1);
  });
});
