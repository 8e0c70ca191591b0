/**
 * `/run` and `/jobs` over signed HTTP to the real Bolt app (the fake Slack Web API on loopback),
 * on three real sshd hosts (one stopped): the started answer, the channel message updated in
 * place, the buckets, the DM, refusals with their code, and Kill from `/jobs` on this instance
 * and on a second instance sharing the store. Waits are on recorded Slack calls or on `ps`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { jobModel, type Job } from '../../src/models/jobs.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import { Actions, Commands, RunBlocks, Views } from '../../commands/ids.js';
import { exampleCatalog, runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { metricValue } from '../helpers/metrics.js';
import { remotePs, type RemotePs } from '../helpers/remote-ps.js';
import { startSshdFleet, type SshdFleet } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';
import { buttonValue, text } from '../helpers/ticket-slack.js';

const SLEEP = [0, 1, 2, 3].map((i) => 110_000 + randomInt(0, 20_000) * 2 + i);
let fleet: SshdFleet;
let t: TestOpsgate;
let ps: RemotePs;

beforeAll(async () => {
  fleet = await startSshdFleet(3);
  const [s0, s1, s2] = fleet.servers as [(typeof fleet.servers)[0], (typeof fleet.servers)[0], (typeof fleet.servers)[0]];
  const catalogDir = tempDir('slack-runs-catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const h = (name: string, s: typeof s0, env: string, app: string) => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, env, app });
  fs.writeFileSync(path.join(catalogDir, 'hosts.yaml'), YAML.stringify({ hosts: [h('web-1', s0, 'prod', 'nginx'), h('web-2', s1, 'prod', 'nginx'), h('web-3', s2, 'prod', 'nginx'), h('st-1', s0, 'stage', 'php'), h('st-2', s1, 'stage', 'php')] }));
  fs.writeFileSync(path.join(catalogDir, 'projects.yaml'), 'projects: []\n');
  const shipped = YAML.parse(fs.readFileSync(path.join(exampleCatalog, 'modules.yaml'), 'utf8')) as { modules: unknown[] };
  fs.writeFileSync(
    path.join(catalogDir, 'modules.yaml'),
    YAML.stringify({
      modules: [
        ...shipped.modules,
        { id: 1, name: 'probe', command: `set -- $SSH_CONNECTION; if [ "$4" = ${s1.port} ]; then echo failing >&2; exit 7; fi; echo ok $4`, envs: ['prod', 'stage'], channel: '#ops-runs' },
        { id: 2, name: 'sleeper', command: 'sleep {secs}', params: [{ name: 'secs', type: 'int', min: 1, max: 1_000_000 }], envs: ['stage'], channel: '#ops-runs', timeoutSeconds: 3600 },
      ],
    }),
  );
  t = await startOpsgate({ catalogDir, env: { SSH_PRIVATE_KEY_PATH: fleet.clientKey.path, SSH_USER: 'root', JOB_HEARTBEAT_MS: '200', JOB_LEASE_MS: '60000' } });
  await t.ready();
  const rm = rbacModels(t.app.store.connection);
  await rm.Team.create({ name: 'runners', members: ['bob', 'carol'] });
  await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'runners', resourceType: ResourceType.inventory, resourceId: 'stage', role: Role.use, grantedBy: 'erin' });
  await rm.RoleGrant.create({ subjectKind: 'person', subjectId: 'carol', resourceType: ResourceType.inventory, resourceId: 'prod', role: Role.use, grantedBy: 'erin' });
  await s2.stop();
  ps = remotePs(fleet);
}, 60_000);

afterAll(async () => {
  await ps?.close();
  await t?.stop();
  await fleet?.stop();
});

const jobs = () => jobModel(t.app.store.connection);
const jobOf = async (id: string) => (await jobs().findOne({ jobId: id }).lean<Job>())!;
const after = (mark: number) => (c: { method: string }) => t.fake.calls.indexOf(c as never) >= mark;

const jobIdIn = (s: string) => /J-[0-9a-f]{10}/.exec(s)?.[0] ?? '';

describe('/run inline', () => {
  it('on 3 hosts where one is down and one fails: started answer, the channel message updated in place to the buckets, the DM, the job record', async () => {
    const mark = t.fake.calls.length;
    const res = await runCommand(t, Commands.run, 'probe target:app:nginx env:prod', USERS.carol);
    expect(res.text).toMatch(/^Started J-[0-9a-f]{10}$/);
    const jobId = jobIdIn(JSON.stringify(res.blocks));
    const posted = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === '#ops-runs' && text(c).includes(jobId));
    expect(text(posted)).toContain('probe on 3 hosts');
    const final = await t.fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === '#ops-runs' && text(c).includes(jobId) && text(c).includes('host_unreachable'), 30_000);
    // In place: one message posted in the channel for the run, and the end is an update of it.
    expect(t.fake.calls.filter((c) => after(mark)(c) && c.method === 'chat.postMessage' && c.args.channel === '#ops-runs' && text(c).includes(jobId))).toHaveLength(1);
    expect(typeof final.args.ts).toBe('string');
    const body = text(final);
    expect(body).toContain('host_ok* (1)');
    expect(body).toContain('host_failed* (1)');
    expect(body).toContain('*web-2* · exit 7');
    expect(body).toContain('*web-3* · unreachable (refused)');
    expect(body).toContain('3 / 3 hosts done');
    const dm = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === `D${USERS.carol.id}` && text(c).includes(jobId));
    expect(dm.args.text).toBe(`Your run ${jobId} (probe) ended: 1 ok, 1 failed, 1 unreachable`);
    expect(await jobOf(jobId)).toMatchObject({ state: 'done', startedBy: 'carol', counts: { ok: 1, failed: 1, unreachable: 1 }, target: { filter: 'app:nginx env:prod' } });
    // /metrics counts the run by its outcome: a host failed, so the run failed.
    expect(await metricValue(t.app.port, 'opsgate_runs_duration_seconds_count', { kind: 'module', outcome: 'failed' })).toBeGreaterThanOrEqual(1);

    // A host's whole output as a file in the asker's DM; a host the job did not run on is refused.
    const asked = t.fake.calls.length;
    expect((await runCommand(t, Commands.jobs, `output ${jobId} web-2`, USERS.carol)).text).toContain(`${jobId}-web-2.log`);
    const complete = t.fake.callsTo('files.completeUploadExternal').filter(after(asked));
    expect(complete).toHaveLength(1);
    const fileId = (complete[0]!.args.files as Array<{ id: string }>)[0]!.id;
    expect(t.fake.uploads.get(fileId)!.completed?.channel).toBe(`D${USERS.carol.id}`);
    expect(t.fake.uploadedBytes(fileId).toString('utf8')).toBe('failing\n');
    expect((await runCommand(t, Commands.jobs, `output ${jobId} st-1`, USERS.carol)).text).toContain(`[1100] Bad parameter: ${jobId} did not run on st-1`);
    expect((await runCommand(t, Commands.jobs, `output ${jobId} web-3`, USERS.carol)).text).toContain('web-3 printed nothing');

    // bob holds use on inventory:stage only: the prod hosts' output and the job are not his to read.
    const refused = `[1201] You need permission to do this: only who started ${jobId}, global admins and people with use on inventory:prod may see it`;
    expect((await runCommand(t, Commands.jobs, `output ${jobId} web-2`, USERS.bob)).text).toContain(refused);
    expect((await runCommand(t, Commands.jobs, `show ${jobId}`, USERS.bob)).text).toContain(refused);
    expect(t.fake.callsTo('files.completeUploadExternal').filter(after(asked))).toHaveLength(1);
    // A global admin sees it.
    expect(JSON.stringify((await runCommand(t, Commands.jobs, `show ${jobId}`, USERS.erin)).blocks)).toContain('web-2');

    // The final message's per-host view: a modal with each host's bucket, exit code and first lines, and a file button per host.
    const viewMark = t.fake.calls.length;
    const hostsValue = buttonValue(final, Actions.jobHosts);
    await t.slack.blockAction(USERS.carol, { action_id: Actions.jobHosts, value: hostsValue }, { channel: 'C0OPSRUNS' });
    const opened = await t.fake.waitFor('views.open', after(viewMark));
    const modal = JSON.stringify(opened.args.view);
    expect(modal).toContain('`host_failed` *web-2* · exit 7');
    expect(modal).toContain('failing');
    expect(modal).toContain('`host_unreachable` *web-3* · unreachable (refused)');
    expect(modal).not.toContain(Actions.jobHostsPage);
    const fileValue = buttonValue(opened, Actions.jobHostFile);
    expect(JSON.parse(fileValue)).toEqual({ j: jobId, h: 'web-1' });
    await t.slack.blockAction(USERS.carol, { action_id: Actions.jobHostFile, value: fileValue }, { view: { id: 'V0HOSTS', type: 'modal', callback_id: 'job_hosts', private_metadata: JSON.stringify({ j: jobId }) } });
    const sent = await t.fake.waitFor('files.completeUploadExternal', after(viewMark));
    const sentId = (sent.args.files as Array<{ id: string }>)[0]!.id;
    expect(t.fake.uploads.get(sentId)!.completed?.channel).toBe(`D${USERS.carol.id}`);
    expect(t.fake.uploadedBytes(sentId).toString('utf8')).toMatch(/^ok \d+\n$/);
    // Paging redraws the view in place (three hosts: one page, a page past it shows the last).
    const pageMark = t.fake.calls.length;
    await t.slack.blockAction(USERS.carol, { action_id: `${Actions.jobHostsPage}:next`, value: JSON.stringify({ j: jobId, p: 1 }) }, { view: { id: 'V0HOSTS', type: 'modal', callback_id: 'job_hosts', private_metadata: JSON.stringify({ j: jobId }) } });
    const paged = await t.fake.waitFor('views.update', after(pageMark));
    expect(paged.args.view_id).toBe('V0HOSTS');
    expect(JSON.stringify(paged.args.view)).toContain('Hosts 1–3 of 3 · page 1 / 1');
    // bob may not open it, nor page it, nor have a host's file.
    const bobMark = t.fake.calls.length;
    await t.slack.blockAction(USERS.bob, { action_id: Actions.jobHosts, value: hostsValue }, { channel: 'C0OPSRUNS' });
    expect(text(await t.fake.waitFor('response_url', (c) => after(bobMark)(c) && text(c).includes('[1201]')))).toContain(refused);
    const inModal = { view: { id: 'V0HOSTS', type: 'modal', callback_id: 'job_hosts', private_metadata: JSON.stringify({ j: jobId }) } };
    for (const click of [{ action_id: Actions.jobHostFile, value: fileValue }, { action_id: `${Actions.jobHostsPage}:next`, value: JSON.stringify({ j: jobId, p: 1 }) }]) {
      const m = t.fake.calls.length;
      await t.slack.blockAction(USERS.bob, click, inModal);
      expect(text(await t.fake.waitFor('chat.postMessage', (c) => after(m)(c) && c.args.channel === `D${USERS.bob.id}` && text(c).includes('[1201]')))).toContain(refused);
    }
    expect(t.fake.callsTo('files.completeUploadExternal').filter(after(bobMark))).toHaveLength(0);
    expect(t.fake.callsTo('views.update').filter(after(bobMark))).toHaveLength(0);
  });

  it('refused with a code, nothing started: no permission on inventory:prod, a param out of range, an unknown module', async () => {
    const before = await jobs().countDocuments({});
    expect((await runCommand(t, Commands.run, 'probe target:app:nginx', USERS.bob)).text).toContain('[1201] You need permission to do this: you need use on inventory prod');
    expect((await runCommand(t, Commands.run, 'sleeper target:st-1 secs=0', USERS.bob)).text).toContain('[1100] Bad parameter: parameter secs: must be at least 1');
    expect((await runCommand(t, Commands.run, 'nope target:st-1', USERS.bob)).text).toContain('[1100] Bad parameter: no module named nope');
    expect((await runCommand(t, Commands.run, 'shell target:st-1 script=id', USERS.bob)).text).toContain('[1201]');
    expect((await runCommand(t, Commands.jobs, 'kill J-12', USERS.bob)).text).toContain('[1100] Bad parameter: J-12 is not a job id');
    expect(await jobs().countDocuments({})).toBe(before);
  });

  it('/run help lists the modules and the syntax', async () => {
    const res = await runCommand(t, Commands.run, 'help', USERS.bob);
    expect(JSON.stringify(res.blocks)).toContain('syslog-tail');
    expect(JSON.stringify(res.blocks)).toContain('/run syslog-tail target:app:nginx env:prod lines=200');
  });
});

describe('/run form', () => {
  type View = { id: string; callback_id: string; private_metadata: string; blocks: Array<Record<string, any>> };
  const sel = (value: string) => ({ type: 'static_select', selected_option: { value } });
  const txt = (value: string | null) => ({ type: 'plain_text_input', value });
  const picked = (...hosts: string[]) => ({ type: 'multi_external_select', selected_options: hosts.map((value) => ({ value })) });
  const countText = (v: View) => String(v.blocks.find((b) => b.block_id === RunBlocks.count)?.text?.text ?? '');
  const open = async (who: { id: string; name: string }): Promise<View> => {
    const mark = t.fake.calls.length;
    const res = await t.slack.command(Commands.run, '', who);
    expect(res.status).toBe(200);
    const call = await t.fake.waitFor('views.open', after(mark));
    return { ...(call.args.view as View), id: 'V0RUNFORM' };
  };
  /** A change in the form (select or typing) as Slack sends it, and the view it is redrawn to. */
  const change = async (who: { id: string; name: string }, v: View, actionId: string, values: Record<string, unknown>): Promise<View> => {
    const mark = t.fake.calls.length;
    const state = { values: Object.fromEntries(Object.entries(values).map(([block, el]) => [block, { [block === RunBlocks.module ? Actions.runModule : block === RunBlocks.hosts ? Actions.runHosts : block.startsWith('param:') ? 'value' : Actions.runTarget]: el }])) };
    const res = await t.slack.blockAction(who, { action_id: actionId, type: 'static_select' }, { view: { id: v.id, type: 'modal', callback_id: v.callback_id, private_metadata: v.private_metadata, hash: 'h1', state } });
    expect(res.status).toBe(200);
    const call = await t.fake.waitFor('views.update', after(mark));
    expect(call.args.view_id).toBe(v.id);
    return { ...(call.args.view as View), id: v.id };
  };
  const submit = (who: { id: string; name: string }, v: View, values: Record<string, Record<string, unknown>>) => t.slack.viewSubmission(who, { callback_id: Views.runForm, private_metadata: v.private_metadata, values, id: v.id });
  // As Slack sends a submission: every input block, the empty ones with null values.
  const empty = { [RunBlocks.module]: { type: 'static_select', selected_option: null }, [RunBlocks.hosts]: picked(), [RunBlocks.project]: txt(null), [RunBlocks.app]: txt(null), [RunBlocks.env]: { type: 'static_select', selected_option: null }, [RunBlocks.label]: txt(null) };
  const wrap = (given: Record<string, unknown>, values = { ...empty, ...given }) =>
    Object.fromEntries(Object.entries(values).map(([block, el]) => [block, { [block === RunBlocks.module ? Actions.runModule : block === RunBlocks.hosts ? Actions.runHosts : block.startsWith('param:') ? 'value' : Actions.runTarget]: el }]));

  it('opens on /run: modules with their description (shell only for admins), the live count as the target changes, typed parameter inputs when a module is chosen', async () => {
    const v = await open(USERS.carol);
    expect(v.callback_id).toBe(Views.runForm);
    const moduleOptions = v.blocks.find((b) => b.block_id === RunBlocks.module)!.element.options.map((o: { text: { text: string } }) => o.text.text);
    expect(moduleOptions).toContain('uptime — Uptime and load averages');
    expect(moduleOptions.join(' ')).not.toContain('shell');
    expect(countText(v)).toContain('Pick hosts or fill in');
    expect(JSON.stringify((await open(USERS.erin)).blocks)).toContain('shell — ');

    // Choosing a module shows its description and its parameters as typed inputs.
    const withModule = await change(USERS.carol, v, Actions.runModule, { [RunBlocks.module]: sel('sleeper') });
    const secs = withModule.blocks.find((b) => b.block_id === 'param:secs')!;
    expect(secs.element).toMatchObject({ type: 'number_input', is_decimal_allowed: false, min_value: '1', max_value: '1000000' });
    expect(withModule.blocks.find((b) => b.block_id === RunBlocks.env)!.element.options.map((o: { value: string }) => o.value)).toEqual(['stage']);
    const other = await change(USERS.carol, withModule, Actions.runModule, { [RunBlocks.module]: sel('service-status') });
    expect(other.blocks.find((b) => b.block_id === 'param:secs')).toBeUndefined();
    expect(other.blocks.find((b) => b.block_id === 'param:unit')!.element.type).toBe('static_select');

    // The live count: app + env, then picked hosts narrowed by env, then a label nothing has.
    const byApp = await change(USERS.carol, other, Actions.runTarget, { [RunBlocks.module]: sel('probe'), [RunBlocks.app]: txt('nginx'), [RunBlocks.env]: sel('prod') });
    expect(countText(byApp)).toBe(':mag: *3* enabled hosts match `app:nginx env:prod`');
    const byHosts = await change(USERS.carol, byApp, Actions.runHosts, { [RunBlocks.module]: sel('probe'), [RunBlocks.hosts]: picked('web-1', 'st-1'), [RunBlocks.env]: sel('stage') });
    expect(countText(byHosts)).toBe(':mag: *1* enabled host matches `web-1, st-1 env:stage`');
    const byLabel = await change(USERS.carol, byHosts, Actions.runTarget, { [RunBlocks.module]: sel('probe'), [RunBlocks.label]: txt('role:nothing') });
    expect(countText(byLabel)).toContain('*0* enabled hosts match');
    const bad = await change(USERS.carol, byLabel, Actions.runTarget, { [RunBlocks.module]: sel('probe'), [RunBlocks.app]: txt('two words') });
    expect(countText(bad)).toContain('[1100]');

    // The host picker is searched in the inventory.
    const found = await t.slack.blockSuggestion(USERS.carol, Actions.runHosts, 'web', RunBlocks.hosts);
    expect((found.json() as { options: Array<{ value: string }> }).options.map((o) => o.value)).toEqual(['web-1', 'web-2', 'web-3']);
  });

  it('Submit goes through the run service: refusals on their field with their code and nothing started; a good one starts the job on the picked hosts', async () => {
    const v = await open(USERS.bob);
    const before = await jobs().countDocuments({});
    const errorsOf = async (values: Record<string, unknown>) => {
      const res = await submit(USERS.bob, v, wrap(values) as never);
      expect(res.status).toBe(200);
      return (res.json() as { response_action: string; errors: Record<string, string> }).errors;
    };
    expect(await errorsOf({ [RunBlocks.module]: sel('sleeper'), [RunBlocks.hosts]: picked('st-1'), 'param:secs': { type: 'number_input', value: '0' } })).toEqual({ 'param:secs': '[1100] Bad parameter: parameter secs: must be at least 1' });
    // Slack sends every input block, an empty one with a null value.
    expect(await errorsOf({ [RunBlocks.module]: sel('sleeper'), [RunBlocks.hosts]: picked('st-1'), 'param:secs': { type: 'number_input', value: null } })).toEqual({ 'param:secs': '[1102] Missing field: parameter secs is required (whole number 1..1000000)' });
    expect((await errorsOf({ [RunBlocks.module]: sel('probe'), [RunBlocks.hosts]: picked('web-1') }))[RunBlocks.env]).toContain('[1201] You need permission to do this: you need use on inventory prod');
    expect((await errorsOf({ [RunBlocks.module]: sel('shell'), [RunBlocks.hosts]: picked('st-1'), 'param:script': txt('id') }))[RunBlocks.module]).toContain('[1201]');
    expect((await errorsOf({ [RunBlocks.module]: sel('probe'), [RunBlocks.app]: txt('none-such') }))[RunBlocks.hosts]).toContain('[1100] Bad parameter: no enabled host matches app:none-such');
    expect((await errorsOf({ [RunBlocks.hosts]: picked('st-1') }))[RunBlocks.module]).toContain('[1100] Bad parameter: choose a module');
    expect(await jobs().countDocuments({})).toBe(before);

    const mark = t.fake.calls.length;
    const ok = await submit(USERS.bob, v, wrap({ [RunBlocks.module]: sel('probe'), [RunBlocks.hosts]: picked('st-1', 'st-2', 'web-1'), [RunBlocks.env]: sel('stage') }) as never);
    expect(ok.text).toBe('');
    // Answered where /run was typed, to bob only.
    const told = await t.fake.waitFor('chat.postEphemeral', (c) => after(mark)(c) && c.args.channel === 'C0GENERAL' && c.args.user === USERS.bob.id && String(c.args.text).startsWith('Started J-'));
    const jobId = jobIdIn(String(told.args.text));
    await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === `D${USERS.bob.id}` && text(c).includes(`Your run ${jobId}`), 30_000);
    expect(await jobOf(jobId)).toMatchObject({ state: 'done', startedBy: 'bob', target: { filter: 'hosts:st-1,st-2,web-1 env:stage', hostNames: ['st-1', 'st-2'], envs: ['stage'] }, counts: { ok: 1, failed: 1 } });
  });
});

describe('/jobs', () => {
  it('who may see a job: an admin\'s shell job is hidden from the list and refused to show and output, even to people with use on its inventory', async () => {
    const started = await runCommand(t, Commands.run, `shell target:st-1 "script=sleep ${SLEEP[2]}"`, USERS.erin);
    const jobId = jobIdIn(JSON.stringify(started.blocks));
    expect(jobId).not.toBe('');
    try {
      await ps.until(`sleep ${SLEEP[2]}`, 1);
      // erin (admin) lists it; bob and carol (use on inventory:stage) do not, and may not open it.
      expect(JSON.stringify((await runCommand(t, Commands.jobs, '', USERS.erin)).blocks)).toContain(jobId);
      for (const who of [USERS.bob, USERS.carol]) {
        const list = await runCommand(t, Commands.jobs, '', who);
        expect(JSON.stringify(list)).not.toContain(jobId);
        const refused = `[1201] You need permission to do this: ${jobId} ran the admin-only module shell: only who started it and global admins may see it`;
        expect((await runCommand(t, Commands.jobs, `show ${jobId}`, who)).text).toContain(refused);
        expect((await runCommand(t, Commands.jobs, `output ${jobId} st-1`, who)).text).toContain(refused);
        const clicked = t.fake.calls.length;
        await t.slack.blockAction(who, { action_id: Actions.jobShow, value: JSON.stringify({ j: jobId }) });
        expect(text(await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('[1201]')))).toContain(refused);
      }
    } finally {
      await runCommand(t, Commands.jobs, `kill ${jobId}`, USERS.erin);
      expect(await ps.gone(`sleep ${SLEEP[2]}`)).toEqual([]);
    }
  });

  it('Kill from /jobs of a job running sleep on 2 hosts: no process left on either', async () => {
    const started = await runCommand(t, Commands.run, `sleeper target:app:php secs=${SLEEP[0]}`, USERS.bob);
    const jobId = jobIdIn(JSON.stringify(started.blocks));
    await ps.until(`sleep ${SLEEP[0]}`, 2);
    const mark = t.fake.calls.length;
    const list = await runCommand(t, Commands.jobs, '', USERS.bob);
    expect(JSON.stringify(list.blocks)).toContain(jobId);
    const call = t.fake.calls.filter(after(mark)).find((c) => c.method === 'response_url' && text(c).includes(jobId))!;
    const value = buttonValue(call, Actions.jobKill);
    const clicked = t.fake.calls.length;
    expect((await t.slack.blockAction(USERS.bob, { action_id: Actions.jobKill, value })).status).toBe(200);
    const answer = await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('SIGKILL'));
    expect(text(answer)).toContain('sent to 2 host(s) still running');
    expect(await ps.gone(`sleep ${SLEEP[0]}`)).toEqual([]);
    await t.fake.waitFor('chat.postMessage', (c) => after(clicked)(c) && c.args.channel === `D${USERS.bob.id}` && text(c).includes(jobId));
    expect((await jobOf(jobId)).hosts.map((h) => h.signal)).toEqual(['SIGKILL', 'SIGKILL']);
  });

  it("App Home's Module runs: a running job for who may see it, not for a member without use on its inventory; the starter's latest runs", async () => {
    const rm = rbacModels(t.app.store.connection);
    await rm.Team.create({ name: 'prod-watch', members: ['dave'] });
    await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'prod-watch', resourceType: ResourceType.inventory, resourceId: 'prod', role: Role.use, grantedBy: 'erin' });
    const home = async (user: (typeof USERS)[keyof typeof USERS]) => {
      const mark = t.fake.calls.length;
      await t.slack.event({ type: 'app_home_opened', user: user.id, channel: 'D0HOME', tab: 'home' });
      const view = JSON.stringify((await t.fake.waitFor('views.publish', (c) => after(mark)(c) && c.args.user_id === user.id)).args.view);
      const running = /Running now(.*?)My latest runs/.exec(view)?.[1] ?? '';
      return { running, latest: view.slice(view.indexOf('My latest runs')) };
    };
    const started = await runCommand(t, Commands.run, `sleeper target:app:php secs=${SLEEP[3]}`, USERS.bob);
    const jobId = jobIdIn(JSON.stringify(started.blocks));
    await ps.until(`sleep ${SLEEP[3]}`, 2);
    expect((await home(USERS.bob)).running).toContain(jobId);
    // carol holds use on inventory:stage through runners; dave only on prod.
    expect((await home(USERS.carol)).running).toContain(jobId);
    expect((await home(USERS.dave)).running).not.toContain(jobId);
    expect((await home(USERS.dave)).running).toContain('nothing');
    await runCommand(t, Commands.jobs, `kill ${jobId}`, USERS.bob);
    expect(await ps.gone(`sleep ${SLEEP[3]}`)).toEqual([]);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${USERS.bob.id}` && text(c).includes(jobId) && text(c).includes('ended'));
    const after2 = await home(USERS.bob);
    expect(after2.running).not.toContain(jobId);
    expect(after2.latest).toMatch(new RegExp(`${jobId}.*sleeper.*done.*0 ok, 2 failed, 0 unreachable`));
    expect((await home(USERS.carol)).latest).not.toContain(jobId);
  });

  it('the same Kill clicked on a second bot instance sharing the store', async () => {
    const started = await runCommand(t, Commands.run, `sleeper target:app:php secs=${SLEEP[1]}`, USERS.bob);
    const jobId = jobIdIn(JSON.stringify(started.blocks));
    await ps.until(`sleep ${SLEEP[1]}`, 2);
    const second = await t.second();
    try {
      const clicked = t.fake.calls.length;
      // carol did not start it and is no admin: refused, nothing sent.
      await second.slack.blockAction(USERS.carol, { action_id: Actions.jobKill, value: JSON.stringify({ j: jobId }) });
      expect(text(await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('[1201]')))).toContain(`only who started ${jobId} or an admin`);
      await second.slack.blockAction(USERS.bob, { action_id: Actions.jobKill, value: JSON.stringify({ j: jobId }) });
      await t.fake.waitFor('response_url', (c) => after(clicked)(c) && text(c).includes('SIGKILL') && text(c).includes(jobId));
      expect(await ps.gone(`sleep ${SLEEP[1]}`)).toEqual([]);
      await t.fake.waitFor('chat.postMessage', (c) => after(clicked)(c) && c.args.channel === `D${USERS.bob.id}` && text(c).includes(jobId));
      const end = await jobOf(jobId);
      expect(end.signals).toEqual([expect.objectContaining({ signal: 'KILL', by: 'bob', hosts: expect.arrayContaining(['st-1', 'st-2']) })]);
      expect(end.signals[0]!.appliedBy).toBe(end.instanceId);
      expect(end.state).toBe('done');
    } finally {
      await second.app.stop();
    }
  });
});
