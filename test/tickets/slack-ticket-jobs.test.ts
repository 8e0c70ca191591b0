/**
 * Ticket runs as jobs in `/jobs`, through the real Bolt app over signed HTTP (fake Slack Web API
 * on loopback) with a real sshd as the config center: a ticket running `sleep` is listed beside
 * module jobs, `/jobs show` masks its secret, Kill from the same instance and from a second
 * instance sharing the store leaves no `sleep` (`ps`) and ends the ticket failed "stopped by
 * SIGKILL from bob", a pre-task is stopped the same way, and whoever is neither the starter nor an
 * admin is refused, as is a ticket that is not running. Waits are on recorded Slack calls or `ps`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actions, Commands } from '../../commands/ids.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import { ticketModel, type Ticket } from '../../src/models/tickets.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { localPs, untilGone, untilSeen } from '../helpers/processes.js';
import { startSshdFleet, type SshdFleet } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';
import { copyExampleCatalog } from '../helpers/catalog-copy.js';
import { buttonValue, dm, text } from '../helpers/ticket-slack.js';

const SECRET = 'tj-s3cret-Token-77ab';
/** Sleep lengths no other process on the machine has (the sshd host shares this process table). */
const SLEEP = [0, 1, 2].map((i) => 210_000 + randomInt(0, 20_000) * 3 + i);

let fleet: SshdFleet;
let t: TestOpsgate;
let dir: string;

beforeAll(async () => {
  fleet = await startSshdFleet(1);
  const sshd = fleet.servers[0]!;
  dir = tempDir('ticket-jobs');
  const catalogDir = path.join(dir, 'catalog');
  const edit = copyExampleCatalog(catalogDir);
  edit('hosts.yaml', (d) => d.hosts!.push({ name: 'center-1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.fingerprint, env: 'prod' }));
  const base = { env: 'PROD', category: 'Jobs', submitGroups: ['dev', 'ops'], configCenter: 'center-1', secrets: { Token: { env: 'OPSGATE_TJ_TOKEN' } }, options: [{ name: 'Secs', label: 'Seconds', text: { pattern: '^[0-9]+$', maxLength: 10 } }], lock: false, timeoutMinutes: 60, channel: '#ops-tj' };
  edit('tickets.yaml', (d) =>
    d.tickets!.push(
      // No approval: it runs as soon as submitted, started by the scheduler in the submitter's stead.
      { ...base, name: 'sleepy', description: 'Sleeps on the config center', main: 'echo "token={Token}"; sleep {Secs}', post: 'echo post-ran', approval: [] },
      { ...base, name: 'sleepy-pre', description: 'Sleeps in its pre-task', pre: 'echo "pre token={Token}"; sleep {Secs}', main: 'echo main-ran', approval: [] },
      { ...base, name: 'sleepy-approved', description: 'Waits for alice', main: 'sleep {Secs}', approval: [{ label: 'lead', approvers: { people: ['alice'] } }] },
    ),
  );
  t = await startOpsgate({ catalogDir, env: { OPSGATE_TJ_TOKEN: SECRET, SSH_PRIVATE_KEY_PATH: fleet.clientKey.path, SSH_USER: 'root', JOB_HEARTBEAT_MS: '200', JOB_LEASE_MS: '60000', EXEC_CONNECT_TIMEOUT_MS: '10000' } });
  await t.ready();
  const rm = rbacModels(t.app.store.connection);
  // bob and carol may use every template; dave is a member (so /jobs answers him) without that.
  await rm.Team.create({ name: 'runners', members: ['bob', 'carol'] });
  await rm.Team.create({ name: 'dbas', members: ['dave'] });
  await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'runners', resourceType: ResourceType.template, resourceId: '*', role: Role.use, grantedBy: 'erin' });
}, 90_000);

afterAll(async () => {
  await t?.stop();
  await fleet?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const after = (mark: number) => (c: RecordedCall) => t.fake.calls.indexOf(c) >= mark;
const ticket = async (id: string) => (await ticketModel(t.app.store.connection).findOne({ ticketId: id }).lean<Ticket>())!;
const ticketIdIn = (r: { text: string; blocks: unknown[] }) => /TK-[A-Z0-9]{6}/.exec(r.text + JSON.stringify(r.blocks))?.[0] ?? '';
const sleeping = (secs: number) => localPs(`sleep ${secs}`);

/** bob submits `name` sleeping `secs`; resolves once the sleep runs on the config center. */
async function submitSleeping(name: string, secs: number): Promise<string> {
  const reply = await runCommand(t, '/ticket', `submit ${name} env:PROD Secs=${secs}`, USERS.bob);
  const id = ticketIdIn(reply);
  expect(id, JSON.stringify(reply)).not.toBe('');
  await untilSeen(() => sleeping(secs), `sleep ${secs}`);
  return id;
}

/** The submitter's result DM for the ticket: the ticket has ended and been written. */
const resultDm = (id: string, mark: number) => t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(USERS.bob) && text(c).includes(id) && /failed|succeeded/.test(text(c)), 30_000);

describe('/jobs with ticket runs', () => {
  it('a ticket running sleep is listed and shown (secrets masked); others are refused; Kill from the same instance leaves no sleep and ends it failed, stopped by bob', async () => {
    const mark = t.fake.calls.length;
    const id = await submitSleeping('sleepy', SLEEP[0]!);

    // Listed for bob (who started it: the scheduler ran it in his stead) with what, who, where, since, instance.
    const listMark = t.fake.calls.length;
    const list = await runCommand(t, Commands.jobs, '', USERS.bob);
    const listed = JSON.stringify(list.blocks);
    expect(listed).toContain(id);
    expect(listed).toContain('*sleepy* (PROD) · ticket · main-task');
    expect(listed).toContain(`<@${USERS.bob.id}> · on \`center-1\` · since `);
    const running = await ticket(id);
    expect(running.instanceId).toMatch(/:\d+:[0-9a-f]{6}$/);
    expect(listed).toContain(`instance \`${running.instanceId}\``);
    // carol may use the template: she sees it. dave, in a team without use on it, does not.
    expect(JSON.stringify((await runCommand(t, Commands.jobs, '', USERS.carol)).blocks)).toContain(id);
    expect(JSON.stringify(await runCommand(t, Commands.jobs, '', USERS.dave))).not.toContain(id);

    // find_job: params with the secret masked, the task and its (masked) command, the log's tail.
    const show = await runCommand(t, Commands.jobs, `show ${id}`, USERS.bob);
    const shown = JSON.stringify(show.blocks);
    expect(show.text).toBe(`Ticket ${id}: running (main-task)`);
    expect(shown).toContain(`\`Secs\` = \`${SLEEP[0]}\``);
    expect(shown).toContain('`Token` = `***`');
    expect(shown).toContain('token=***');
    expect(shown).toContain(`sleep '${SLEEP[0]}'`);
    expect(shown).toContain('heartbeat ');
    expect(JSON.stringify(t.fake.calls) + JSON.stringify(list) + JSON.stringify(show)).not.toContain(SECRET);
    expect((await runCommand(t, Commands.jobs, `show ${id}`, USERS.dave)).text).toContain('[1201] You need permission to do this: you need use on template sleepy');

    // carol sees it but did not start it and is no admin: refused, nothing sent.
    expect((await runCommand(t, Commands.jobs, `kill ${id}`, USERS.carol)).text).toContain(`[1201] You need permission to do this: only who started the task of ${id} (bob) or an admin may signal it`);
    expect((await ticket(id)).signals).toEqual([]);
    expect(await sleeping(SLEEP[0]!)).toHaveLength(1);

    // bob's Kill button from the list.
    const listCall = t.fake.calls.filter(after(listMark)).find((c) => c.method === 'response_url' && text(c).includes(id))!;
    const value = buttonValue(listCall, Actions.jobKill);
    expect(JSON.parse(value)).toEqual({ j: id });
    const clicked = t.fake.calls.length;
    expect((await t.slack.blockAction(USERS.bob, { action_id: Actions.jobKill, value })).status).toBe(200);
    const answer = await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('SIGKILL'));
    expect(text(answer)).toContain(`SIGKILL for \`${id}\` (sleepy, PROD): sent to the main-task's process group on \`center-1\``);
    expect(await untilGone(() => sleeping(SLEEP[0]!))).toEqual([]);

    // Ended failed, stopped by bob's signal; recorded in history, audit and log; the post-task did not run.
    expect(text(await resultDm(id, mark))).toContain(id);
    const end = await ticket(id);
    expect(end.state).toBe('failed');
    expect(end.status).toBe(4);
    expect(end.history.at(-1)).toMatchObject({ state: 'failed', by: 'bob', note: 'stopped by SIGKILL from bob (/jobs)' });
    expect(end.history.some((h) => h.state === 'running' && h.by === 'bob' && h.note === 'SIGKILL asked for by bob (/jobs) for the main-task')).toBe(true);
    expect(end.phases.map((p) => p.phase)).toEqual(['main']);
    expect(end.phases[0]).toMatchObject({ ok: false, signal: 'SIGKILL', stoppedBy: { signal: 'KILL', by: 'bob' } });
    expect(end.signals).toEqual([expect.objectContaining({ signal: 'KILL', by: 'bob', hosts: ['center-1'], appliedBy: end.instanceId })]);
    expect(await t.app.services.audit.query({ action: 'ticket.signal', actor: 'bob' })).toEqual([expect.objectContaining({ target: `ticket:${id}` })]);
    const after_ = await runCommand(t, Commands.jobs, `show ${id}`, USERS.bob);
    expect(JSON.stringify(after_.blocks)).toContain('[opsgate] SIGKILL sent by bob (/jobs) to the main-task');
    expect(JSON.stringify(after_.blocks)).toContain('*Main-task:*');
    expect(JSON.stringify(after_.blocks)).not.toContain('[post]');

    // Not running any more: refused with its code, nothing recorded; and it is gone from the list.
    expect((await runCommand(t, Commands.jobs, `kill ${id}`, USERS.bob)).text).toContain(`[1100] Bad parameter: ticket ${id} is not running a task: it has already ended (failed)`);
    expect((await ticket(id)).signals).toHaveLength(1);
    expect(JSON.stringify((await runCommand(t, Commands.jobs, '', USERS.bob)).blocks)).not.toContain(id);
  }, 90_000);

  it('the same Kill through a second bot instance sharing the store: the running instance sends it at its heartbeat', async () => {
    const mark = t.fake.calls.length;
    const id = await submitSleeping('sleepy', SLEEP[1]!);
    // Started now, the second instance runs nothing of it.
    const second = await t.second();
    try {
      const list = await runCommand({ ...t, slack: second.slack } as TestOpsgate, Commands.jobs, '', USERS.bob);
      expect(JSON.stringify(list.blocks)).toContain(id);
      const clicked = t.fake.calls.length;
      await second.slack.blockAction(USERS.carol, { action_id: Actions.jobKill, value: JSON.stringify({ j: id }) });
      expect(text(await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('[1201]')))).toContain(`only who started the task of ${id} (bob)`);
      await second.slack.blockAction(USERS.bob, { action_id: Actions.jobKill, value: JSON.stringify({ j: id }) });
      const answer = await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('SIGKILL') && text(c).includes(id));
      // The click landed on the instance that does not run it: recorded for the one that does (or already sent by it).
      expect(text(answer)).toMatch(/recorded; the instance running it \(`[^`]+`\) sends it at its next heartbeat|sent to the main-task's process group/);
      expect(await untilGone(() => sleeping(SLEEP[1]!))).toEqual([]);
      await resultDm(id, mark);
      const end = await ticket(id);
      expect(end.state).toBe('failed');
      expect(end.history.at(-1)!.note).toBe('stopped by SIGKILL from bob (/jobs)');
      expect(end.signals).toEqual([expect.objectContaining({ signal: 'KILL', by: 'bob', hosts: ['center-1'] })]);
      // Sent by the instance running the ticket, not by the one that took the click.
      expect(end.signals![0]!.appliedBy).toBe(end.instanceId);
      expect(JSON.stringify(await second.app.services.audit.query({ action: 'ticket.signal', actor: 'bob' }))).toContain(id);
    } finally {
      await second.app.stop();
    }
  }, 90_000);

  it('a pre-task in progress is listed as such and TERM stops it: the ticket fails, "the pre-task was stopped"; a ticket waiting for approval is refused', async () => {
    const mark = t.fake.calls.length;
    // The submit answers once the pre-task is over: its request is not awaited here.
    const submitAnswer = `tj-pre-${SLEEP[2]}`;
    expect((await t.slack.command('/ticket', `submit sleepy-pre env:PROD Secs=${SLEEP[2]}`, USERS.bob, { responseUrl: t.fake.responseUrl(submitAnswer) })).status).toBe(200);
    await untilSeen(() => sleeping(SLEEP[2]!), `sleep ${SLEEP[2]}`);
    const list = await runCommand(t, Commands.jobs, '', USERS.bob);
    const listed = JSON.stringify(list.blocks);
    expect(listed).toContain('*sleepy-pre* (PROD) · ticket · pre-task');
    const id = /TK-[A-Z0-9]{6}/.exec(listed.slice(listed.indexOf('sleepy-pre')))![0];
    const term = await runCommand(t, Commands.jobs, `term ${id}`, USERS.bob);
    expect(term.text).toBe(`SIGTERM for ${id}`);
    expect(await untilGone(() => sleeping(SLEEP[2]!))).toEqual([]);
    await resultDm(id, mark);
    const end = await ticket(id);
    expect(end.state).toBe('failed');
    expect(end.history.at(-1)).toMatchObject({ by: 'bob', note: 'the pre-task was stopped by SIGTERM from bob (/jobs)' });
    expect(end.phases.map((p) => p.phase)).toEqual(['pre']);

    // The submit's own answer (it came once the pre-task was over) is in before the next command.
    expect(text(await t.fake.waitFor('response_url', (c) => c.args.response_id === submitAnswer))).toContain(id);

    // Waiting for alice: nothing runs, so nothing to signal; /ticket revoke is the way.
    const waiting = ticketIdIn(await runCommand(t, '/ticket', `submit sleepy-approved env:PROD Secs=${SLEEP[2]}`, USERS.bob));
    expect((await ticket(waiting)).state, JSON.stringify((await ticket(waiting)).history)).toBe('waiting');
    expect((await runCommand(t, Commands.jobs, `term ${waiting}`, USERS.bob)).text).toContain(`[1100] Bad parameter: ticket ${waiting} is not running a task: it waits for approval (level 1); /ticket revoke withdraws it`);
    expect((await runCommand(t, Commands.jobs, 'kill TK-12', USERS.bob)).text).toContain('[1100] Bad parameter: TK-12 is not a job id');
    expect((await ticket(waiting)).signals).toEqual([]);
    await runCommand(t, '/ticket', `revoke ${waiting}`, USERS.bob);
  }, 90_000);
});
