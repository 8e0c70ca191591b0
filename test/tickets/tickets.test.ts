/**
 * Ops tickets end to end at the service level: a real sshd as the config center (and `local`),
 * real Agenda on the test store, the log in memory and the notifier recording. Waits are on
 * the notifier's events, never on time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVEL_APPROVED, type Ticket } from '../../src/models/tickets.js';
import { hostileValues } from '../helpers/hostile-values.js';
import { remotePs as psOn, type RemotePs } from '../helpers/remote-ps.js';
import { startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

const SECRET = 'sEcr3t-t0ken-value-42';
// The "hosts" share this machine's process table with every other test run: the long sleeps
// get numbers of their own, so ps on the host sees only this run's processes.
const SLEEP = [0, 1, 2].map((i) => 40_000 + randomInt(0, 20_000) * 3 + i);
let env: TicketsEnv;
let pwned: string;
let out: string;
let hostile: string[];

beforeAll(async () => {
  env = await startTicketsEnv({
    env: { OPSGATE_TEST_TOKEN: SECRET },
    tickets: ({ centerHost, dir }) => {
      pwned = path.join(dir, 'pwned');
      out = path.join(dir, 'out');
      fs.mkdirSync(out);
      hostile = hostileValues(pwned);
      return [
        {
          name: 'flow',
          env: 'PROD',
          submitGroups: ['dev', 'ops'],
          configCenter: centerHost,
          vars: { App: 'app01' },
          secrets: { Token: { env: 'OPSGATE_TEST_TOKEN' } },
          options: [
            { name: 'Hosts', label: 'Hosts', choices: ['web-01', 'web-02'], multiple: true },
            { name: 'Tag', label: 'Tag', text: { pattern: '^v[0-9.]+$', maxLength: 20 } },
          ],
          pre: 'echo "pre for {sk__env} token={Token}"',
          main: `printf 'main %s %s %s\\n' "{App}" "{Hosts}" {Tag}; echo "token={Token}"; echo "task={sk__task_name_created}"`,
          post: 'echo post {sk__name}',
          approval: [
            { label: 'lead', approvers: { people: ['alice'] } },
            { label: 'ops', approvers: { group: 'ops' } },
          ],
          schedule: true,
          background: true,
          autoRun: true,
          lock: true,
        },
        { name: 'quick', env: 'STAGE', options: [{ name: 'Msg', label: 'Message', text: { maxLength: 100 } }], main: 'echo "quick {Msg}"', approval: [{ label: 'ops', approvers: { group: 'ops' } }], autoRun: true },
        { name: 'failing-pre', env: 'STAGE', pre: `echo "checking with {Token}"; echo no-good >&2; exit 3`, secrets: { Token: { env: 'OPSGATE_TEST_TOKEN' } }, main: 'echo never', lock: true },
        { name: 'sleepy', env: 'PROD', configCenter: centerHost, main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[0]}; echo never`, lock: true },
        { name: 'stubborn', env: 'PROD', configCenter: centerHost, main: `trap '' TERM; echo "stubborn {sk__task_name_created}"; sleep ${SLEEP[1]}; echo never` },
        { name: 'elsewhere', env: 'PROD', configCenter: centerHost, main: `echo "elsewhere {sk__task_name_created}"; sleep ${SLEEP[2]}; echo never` },
        {
          name: 'scripted',
          env: 'PROD',
          configCenter: centerHost,
          vars: { Prefix: 'mode' },
          options: [{ name: 'Mode', label: 'Mode', choicesScript: `printf '%s-%s\\n' {Prefix} rolling {Prefix} all {sk__env}` }],
          main: 'echo "mode is {Mode}"',
        },
        { name: 'sched', env: 'PROD', main: 'echo "scheduled {sk__task_name_created}"', approval: [{ label: 'lead', approvers: { people: ['alice'] } }], schedule: true },
        { name: 'plain', env: 'PROD', main: 'echo plain', approval: [{ label: 'lead', approvers: { people: ['alice'] } }] },
        { name: 'locked', env: 'STAGE', main: 'echo locked', approval: [{ label: 'lead', approvers: { people: ['alice'] } }], lock: true },
        {
          name: 'inject-ssh',
          env: 'STAGE',
          configCenter: centerHost,
          vars: { Out: out },
          options: [
            { name: 'Free', label: 'Free text', text: { maxLength: 4000 } },
            { name: 'Pick', label: 'Pick', choices: hostile },
          ],
          main: `printf '%s' "{Free}" > "{Out}/free"; printf '%s' {Pick} > "{Out}/pick"; printf '%s' '{Free}' > "{Out}/free-single"`,
        },
        {
          name: 'inject',
          env: 'STAGE',
          vars: { Out: out },
          options: [
            { name: 'Free', label: 'Free text', text: { maxLength: 4000 } },
            { name: 'Pick', label: 'Pick', choices: hostile },
          ],
          main: `printf '%s' "{Free}" > "{Out}/free"; printf '%s' {Pick} > "{Out}/pick"; printf '%s' '{Free}' > "{Out}/free-single"`,
        },
        { name: 'push-config', env: 'PROD', submitGroups: ['ops'], submitRequiresProject: true, options: [{ name: 'Product', label: 'Product', choicesFrom: 'conf.prod_name' }], main: 'echo push {Product}', approval: [{ label: 'config', approvers: { group: 'config-approvers' } }] },
      ];
    },
  });
  ps = psOn(env.fleet);
});
afterAll(async () => {
  await ps?.close();
  await env?.stop();
});

const svc = () => env.wiring.tickets;
const ticket = async (id: string): Promise<Ticket> => (await env.wiring.records.get(id));
const finished = (id: string) => env.notifier.next('finished', id);

describe('the whole flow', () => {
  it('submit -> pre-task -> two levels -> Run -> main and post on the sshd config center, statuses and audit', async () => {
    const d = await svc().submit('UBOB', { template: 'flow', env: 'PROD', values: { Hosts: ['web-01', 'web-02'], Tag: 'v1.4.2' } });
    const id = d.ticket.ticketId;
    expect(id).toMatch(/^TK-[A-Z0-9]{6}$/);
    expect(d.ticket.state).toBe('waiting');
    expect(d.ticket.status).toBe(0);
    expect(d.ticket.template.commands.main).toContain('"app01" "web-01,web-02" \'v1.4.2\'');
    expect(d.ticket.template.commands.main).toContain('token=***');
    expect(d.ticket.phases[0]).toMatchObject({ phase: 'pre', ok: true, code: 0 });
    expect(d.ticket.phases[0]!.tail).toBe('pre for PROD token=***\n');

    const ask1 = await env.notifier.next('approvalNeeded', id);
    expect(JSON.parse(ask1.json).extra.approvers).toEqual(['alice']);
    // No self-approval, only listed approvers, exactly once.
    await expect(svc().decide('UBOB', id, 0, 'approved')).rejects.toMatchObject({ code: 1201 });
    await expect(svc().decide('UCAROL', id, 0, 'approved')).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('not an approver of level 1') });
    const [a, b] = await Promise.all([svc().decide('UALICE', id, 0, 'approved', 'looks fine'), svc().decide('UALICE', id, 0, 'approved')]);
    expect([a.kind, b.kind].sort()).toEqual(['already', 'decided']);
    expect((await ticket(id)).status).toBe(LEVEL_APPROVED[0]);
    expect((await ticket(id)).approval.levels[0]).toMatchObject({ decision: 'approved', decidedBy: 'alice', note: 'looks fine' });

    const ask2 = await env.notifier.next('approvalNeeded', id, 2);
    expect(JSON.parse(ask2.json).extra.approvers).toEqual(['carol', 'erin', 'gina']);
    // Alice decided level 1: carol (ops) decides level 2.
    await expect(svc().decide('UALICE', id, 1, 'approved')).rejects.toMatchObject({ code: 1201 });
    const l2 = await svc().decide('UCAROL', id, 1, 'approved');
    expect(l2).toMatchObject({ kind: 'decided', level: 2 });
    expect((await ticket(id))).toMatchObject({ state: 'approved', status: 5 });

    await expect(svc().run('UCAROL', id)).rejects.toMatchObject({ code: 1201 });
    const [r1, r2] = await Promise.allSettled([svc().run('UBOB', id), svc().run('UBOB', id)]);
    expect([r1.status, r2.status].sort()).toEqual(['fulfilled', 'rejected']);
    const end = await finished(id);
    expect(end.state).toBe('succeeded');
    const t = await ticket(id);
    expect(t).toMatchObject({ state: 'succeeded', status: 3, background: null });
    expect(t.phases.map((p) => [p.phase, p.ok])).toEqual([['pre', true], ['main', true], ['post', true]]);
    expect(t.lockKey).toBeUndefined();
    const log = env.log.logs.get(id)!;
    expect(log).toContain('main app01 web-01,web-02 v1.4.2');
    expect(log).toContain('token=***');
    expect(log).toContain(`task=${t.system.sk__task_name_created}`);
    expect(log).toContain('post flow');
    expect(env.log.closed.has(id)).toBe(true);
    expect(t.history.map((h) => h.state)).toEqual(['pre', 'waiting', 'waiting', 'approved', 'running', 'succeeded']);
    const actions = (await env.audit.query({ target: `ticket:${id}`, limit: 50 })).map((e) => e.action).reverse();
    expect(actions).toEqual(['ticket.submit', 'ticket.pre-ok', 'ticket.approve', 'ticket.approve', 'ticket.start', 'ticket.succeed']);
    // Progress comes while it runs, as often as the output and the interval allow (progress.test.ts).
    const events = env.notifier.of(id).map((e) => e.event);
    expect(events.filter((e) => e !== 'progress')).toEqual(['approvalNeeded', 'decided', 'approvalNeeded', 'decided', 'started', 'finished']);
    expect(events.slice(0, events.indexOf('started')).includes('progress')).toBe(false);
  });

  it('inline-like submit with auto on local: runs by itself once approved', async () => {
    const d = await svc().submit('UBOB', { template: 'quick', env: 'STAGE', values: { Msg: 'hello there' }, autoRun: true });
    expect(d.ticket).toMatchObject({ state: 'waiting', background: 'CREATED', autoRun: true });
    await svc().decide('UALICE', d.ticket.ticketId, 0, 'approved');
    expect((await finished(d.ticket.ticketId)).state).toBe('succeeded');
    expect(env.log.logs.get(d.ticket.ticketId)).toContain('quick hello there');
    expect((await ticket(d.ticket.ticketId)).background).toBe('SUCCESS');
  });

  it('a failing pre-task ends the ticket as failed before anyone is asked, with its redacted output', async () => {
    const d = await svc().submit('UBOB', { template: 'failing-pre', env: 'STAGE', values: {} });
    expect(d.ticket).toMatchObject({ state: 'failed', status: 4 });
    expect(d.ticket.phases[0]).toMatchObject({ phase: 'pre', ok: false, code: 3 });
    expect(d.ticket.phases[0]!.tail).toContain('checking with ***');
    expect(d.ticket.phases[0]!.tail).toContain('no-good');
    expect(env.notifier.of(d.ticket.ticketId).map((e) => e.event)).toEqual(['finished']);
    // The lock went with it.
    expect((await svc().submit('UBOB', { template: 'failing-pre', env: 'STAGE', values: {} })).ticket.state).toBe('failed');
  });
});

describe('refusals change nothing', () => {
  it.each([
    ['an unknown ticket', { template: 'nope', env: 'PROD', values: {} }, 1100, /no ticket nope in PROD/],
    ['an unknown option', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01', Tag: 'v1', Colour: 'x' } }, 1100, /no option Colour/],
    ['a missing option', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01' } }, 1102, /option Tag/],
    ['a value outside its choices', { template: 'flow', env: 'PROD', values: { Hosts: 'web-09', Tag: 'v1' } }, 1100, /option Hosts/],
    ['a value failing its pattern', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01', Tag: 'latest' } }, 1100, /option Tag: the value does not match/],
    ['a time in the past', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01', Tag: 'v1' }, runAt: new Date(Date.now() - 60_000) }, 1100, /in the past/],
    ['background on a template that allows none', { template: 'plain', env: 'PROD', values: {}, background: true }, 1100, /cannot run in the background/],
    ['auto-run on a template that allows none', { template: 'plain', env: 'PROD', values: {}, autoRun: true }, 1100, /does not offer running automatically/],
    ['one value for a single choice given twice', { template: 'scripted', env: 'PROD', values: { Mode: ['mode-all', 'mode-rolling'] } }, 1100, /option Mode takes one value/],
    ['a schedule on a template that allows none', { template: 'plain', env: 'PROD', values: {}, runAt: new Date(Date.now() + 3_600_000) }, 1100, /cannot be scheduled/],
  ])('%s', async (_what, input, code, message) => {
    const before = await env.wiring.model.countDocuments();
    await expect(svc().submit('UBOB', input)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    expect(await env.wiring.model.countDocuments()).toBe(before);
  });

  it('who may submit: submitGroups (1201), a team (1202), the config push project rule', async () => {
    await expect(svc().submit('UDAVE', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01', Tag: 'v1' } })).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('submitGroups of flow') });
    await expect(svc().submit('UGINA', { template: 'flow', env: 'PROD', values: { Hosts: 'web-01', Tag: 'v1' } })).rejects.toMatchObject({ code: 1202 });
    await expect(svc().submit('UBOB', { template: 'push-config', env: 'PROD', values: { Product: 'jm-nginx' } })).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('submitGroups') });
    await expect(svc().submit('UERIN', { template: 'push-config', env: 'PROD', values: { Product: 'jm-nginx' } })).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('submitRequiresProject') });
    await expect(svc().submit('UCAROL', { template: 'push-config', env: 'PROD', values: { Product: 'jm-java' } })).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('option Product') });
    const d = await svc().submit('UCAROL', { template: 'push-config', env: 'PROD', values: { Product: 'jm-php' } });
    expect(d.ticket.approval.levels[0]!.approvers).toEqual(['alice']);
    await svc().revoke('UCAROL', d.ticket.ticketId);
  });
});

describe('scheduled runs', () => {
  it('runs at its time once; one revoked before its time never runs', async () => {
    // Far enough ahead that submitting, approving and revoking are done before it, even on a loaded machine.
    const soon = new Date(Date.now() + 4000);
    const revokedOne = await svc().submit('UBOB', { template: 'sched', env: 'PROD', values: {}, runAt: soon });
    const later = await svc().submit('UBOB', { template: 'sched', env: 'PROD', values: {}, runAt: new Date(soon.getTime() + 1000) });
    for (const d of [revokedOne, later]) await svc().decide('UALICE', d.ticket.ticketId, 0, 'approved');
    expect(await ticket(later.ticket.ticketId)).toMatchObject({ state: 'approved', queued: true, background: 'WAITING' });
    // Queued: only revocation stops it now.
    await expect(svc().changeToReject('UALICE', later.ticket.ticketId, 0, 'second thoughts')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('queued') });
    await svc().revoke('UBOB', revokedOne.ticket.ticketId);
    expect(await env.conn.db!.collection('agendaJobs').countDocuments({ name: 'tickets:run', 'data.ticketId': revokedOne.ticket.ticketId })).toBe(0);

    expect((await finished(later.ticket.ticketId)).state).toBe('succeeded');
    // Agenda runs due jobs in time order: the earlier one would have run before this one.
    expect(await ticket(revokedOne.ticket.ticketId)).toMatchObject({ state: 'revoked', status: 9, startedAt: null, background: 'REVOKED' });
    expect(env.log.logs.get(revokedOne.ticket.ticketId) ?? '').not.toContain('scheduled');
    expect((await env.audit.query({ target: `ticket:${later.ticket.ticketId}`, action: 'ticket.start' })).length).toBe(1);
  });
});

let ps: RemotePs;
const remotePs = (needle: string) => ps.lines(needle);
const goneFromHost = (needle: string) => ps.gone(needle);

describe('revoke', () => {
  it('mid-run: TERM then KILL to the remote process group, ends revoked with the log so far, nothing left on the host', async () => {
    const d = await svc().submit('UBOB', { template: 'sleepy', env: 'PROD', values: {} });
    const id = d.ticket.ticketId;
    await env.notifier.next('started', id);
    // Wait until the command is running on the host.
    for (let i = 0; (await remotePs(`sleep ${SLEEP[0]}`)).length === 0; i++) if (i > 200) throw new Error('sleep never started');
    await svc().revoke('UBOB', id);
    const end = await finished(id);
    expect(end.state).toBe('revoked');
    expect(await ticket(id)).toMatchObject({ state: 'revoked', status: 9 });
    expect(env.log.logs.get(id)).toContain(`begin ${d.ticket.system.sk__task_name_created}`);
    expect(env.log.logs.get(id)).not.toMatch(/^never$/m);
    expect(env.log.logs.get(id)).toContain('signal SIGTERM');
    expect(await goneFromHost(`sleep ${SLEEP[0]}`)).toEqual([]);
  });
});

describe('revoke, harder cases', () => {
  it('a command that ignores TERM gets KILL after the grace; nothing is left on the host', async () => {
    const d = await svc().submit('UBOB', { template: 'stubborn', env: 'PROD', values: {} });
    const id = d.ticket.ticketId;
    await env.notifier.next('started', id);
    for (let i = 0; (await remotePs(`sleep ${SLEEP[1]}`)).length === 0; i++) if (i > 200) throw new Error('sleep never started');
    await svc().revoke('UBOB', id);
    expect((await finished(id)).state).toBe('revoked');
    expect(env.log.logs.get(id)).toContain('signal SIGKILL');
    expect(await goneFromHost(`sleep ${SLEEP[1]}`)).toEqual([]);
  });

  it('a revoke stored by another instance is applied at the next heartbeat', async () => {
    const d = await svc().submit('UBOB', { template: 'elsewhere', env: 'PROD', values: {} });
    const id = d.ticket.ticketId;
    await env.notifier.next('started', id);
    for (let i = 0; (await remotePs(`sleep ${SLEEP[2]}`)).length === 0; i++) if (i > 200) throw new Error('sleep never started');
    // What TicketService.revoke writes on the instance that took the click.
    await env.wiring.model.updateOne({ ticketId: id, state: 'running' }, { $set: { revokeRequested: { by: 'erin', at: new Date() } } });
    expect((await finished(id)).state).toBe('revoked');
    expect((await ticket(id)).history.at(-1)).toMatchObject({ state: 'revoked', by: 'erin' });
    expect(await goneFromHost(`sleep ${SLEEP[2]}`)).toEqual([]);
  });

  it('only the submitter or an admin revokes; a finished ticket cannot be', async () => {
    const d = await svc().submit('UBOB', { template: 'plain', env: 'PROD', values: {} });
    await expect(svc().revoke('UCAROL', d.ticket.ticketId)).rejects.toMatchObject({ code: 1201 });
    expect((await svc().revoke('UERIN', d.ticket.ticketId)).ticket.state).toBe('revoked');
    await expect(svc().revoke('UBOB', d.ticket.ticketId)).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('already ended (revoked)') });
    await expect(svc().decide('UALICE', d.ticket.ticketId, 0, 'approved')).resolves.toMatchObject({ kind: 'already', decision: 'cancelled' });
  });
});

describe('choices, approvers and queries', () => {
  it('script choices are produced on the config center; a value outside them is refused', async () => {
    await expect(svc().submit('UBOB', { template: 'scripted', env: 'PROD', values: { Mode: 'mode-sideways' } })).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('option Mode') });
    const d = await svc().submit('UBOB', { template: 'scripted', env: 'PROD', values: { Mode: 'mode-all' } });
    expect((await finished(d.ticket.ticketId)).state).toBe('succeeded');
    expect(env.log.logs.get(d.ticket.ticketId)).toContain('mode is mode-all');
    const t = env.wiring.tickets;
    const template = (await t.submittable('UBOB')).find((x) => x.name === 'scripted')!;
    expect(await t.choicesOf(template, template.options[0]!)).toEqual(['mode-rolling', 'mode-all', 'PROD-']);
  });

  it('approvers are checked again on every decision: one who left the group no longer decides', async () => {
    const d = await svc().submit('UBOB', { template: 'quick', env: 'STAGE', values: { Msg: 'x' } });
    expect(d.ticket.approval.levels[0]!.approvers).toContain('carol');
    expect((await svc().waitingFor('UCAROL')).map((x) => x.ticketId)).toContain(d.ticket.ticketId);
    const people = env.conn.db!.collection('people');
    await people.updateOne({ personId: 'carol' }, { $set: { groups: [] } });
    try {
      await expect(svc().decide('UCAROL', d.ticket.ticketId, 0, 'approved')).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('no longer in ops') });
    } finally {
      await people.updateOne({ personId: 'carol' }, { $set: { groups: ['ops'] } });
    }
    await expect(svc().decide('UCAROL', d.ticket.ticketId, 0, 'rejected')).rejects.toMatchObject({ code: 1102 });
    await svc().decide('UCAROL', d.ticket.ticketId, 0, 'rejected', 'not now');
    const shown = await svc().show('UBOB', d.ticket.ticketId);
    expect(shown.ticket).toMatchObject({ state: 'rejected', status: 2 });
    expect(shown.ticket.approval.levels[0]).toMatchObject({ decision: 'rejected', decidedBy: 'carol', note: 'not now' });
    await expect(svc().show('UDAVE', d.ticket.ticketId)).rejects.toMatchObject({ code: 1202 });
  });

  it('a scheduled ticket may be run earlier by its submitter; its queued job goes', async () => {
    const d = await svc().submit('UBOB', { template: 'sched', env: 'PROD', values: {}, runAt: new Date(Date.now() + 3_600_000) });
    await svc().decide('UALICE', d.ticket.ticketId, 0, 'approved');
    const jobs = env.conn.db!.collection('agendaJobs');
    expect(await jobs.countDocuments({ name: 'tickets:run', 'data.ticketId': d.ticket.ticketId })).toBe(1);
    await svc().run('UBOB', d.ticket.ticketId);
    expect(await jobs.countDocuments({ name: 'tickets:run', 'data.ticketId': d.ticket.ticketId })).toBe(0);
    expect((await finished(d.ticket.ticketId)).state).toBe('succeeded');
    expect((await ticket(d.ticket.ticketId)).background).toBe('SUCCESS');
  });
});

describe('task lock', () => {
  it('refuses a second open ticket naming it and its submitter; released on every final state', async () => {
    const first = await svc().submit('UBOB', { template: 'locked', env: 'STAGE', values: {} });
    await expect(svc().submit('UCAROL', { template: 'locked', env: 'STAGE', values: {} })).rejects.toMatchObject({
      code: 1100,
      message: expect.stringContaining(`ticket ${first.ticket.ticketId} of locked (STAGE), submitted by Bob Developer, is still open`),
    });
    await svc().decide('UALICE', first.ticket.ticketId, 0, 'rejected', 'not today');
    expect((await ticket(first.ticket.ticketId))).toMatchObject({ state: 'rejected', status: 2 });
    const second = await svc().submit('UCAROL', { template: 'locked', env: 'STAGE', values: {} });
    await svc().revoke('UCAROL', second.ticket.ticketId);
    const third = await svc().submit('UBOB', { template: 'locked', env: 'STAGE', values: {} });
    await svc().decide('UALICE', third.ticket.ticketId, 0, 'approved');
    await svc().run('UBOB', third.ticket.ticketId);
    expect((await finished(third.ticket.ticketId)).state).toBe('succeeded');
    const fourth = await svc().submit('UBOB', { template: 'locked', env: 'STAGE', values: {} });
    await svc().revoke('UBOB', fourth.ticket.ticketId);
  });

  it('10 concurrent submits: exactly one wins', async () => {
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => svc().submit(i % 2 ? 'UBOB' : 'UCAROL', { template: 'locked', env: 'STAGE', values: {} })));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 1100, message: expect.stringContaining('task lock') });
    expect(await env.wiring.model.countDocuments({ 'template.name': 'locked', lockKey: { $exists: true } })).toBe(1);
    await svc().revoke('UERIN', (won[0] as PromiseFulfilledResult<{ ticket: Ticket }>).value.ticket.ticketId);
  });
});

describe('change of mind', () => {
  it('an approval turns into a rejection before execution; refused once it started', async () => {
    const a = await svc().submit('UBOB', { template: 'plain', env: 'PROD', values: {} });
    await svc().decide('UALICE', a.ticket.ticketId, 0, 'approved');
    await expect(svc().changeToReject('UCAROL', a.ticket.ticketId, 0, 'no')).rejects.toMatchObject({ code: 1201 });
    await expect(svc().changeToReject('UALICE', a.ticket.ticketId, 0, ' ')).rejects.toMatchObject({ code: 1102 });
    const changed = await svc().changeToReject('UALICE', a.ticket.ticketId, 0, 'found a problem');
    expect(changed.ticket).toMatchObject({ state: 'rejected', status: 2 });
    expect(changed.ticket.approval.levels[0]).toMatchObject({ decision: 'rejected', note: 'found a problem' });
    await expect(svc().run('UBOB', a.ticket.ticketId)).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('ended (rejected)') });

    const b = await svc().submit('UBOB', { template: 'plain', env: 'PROD', values: {} });
    await svc().decide('UALICE', b.ticket.ticketId, 0, 'approved');
    await svc().run('UBOB', b.ticket.ticketId);
    await expect(svc().changeToReject('UALICE', b.ticket.ticketId, 0, 'too late')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('only revocation') });
    expect((await finished(b.ticket.ticketId)).state).toBe('succeeded');
  });
});

describe('injection corpus', () => {
  it.each(['inject', 'inject-ssh'])('every option value reaches the main task literally and nothing else runs (%s)', async (template) => {
    for (const v of hostile) {
      const d = await svc().submit('UBOB', { template, env: 'STAGE', values: { Free: v, Pick: v } });
      expect((await finished(d.ticket.ticketId)).state, env.log.logs.get(d.ticket.ticketId)).toBe('succeeded');
      for (const f of ['free', 'pick', 'free-single']) expect(fs.readFileSync(path.join(out, f), 'utf8'), `${f} for ${JSON.stringify(v)}`).toBe(v);
      expect(fs.existsSync(pwned), `value ${JSON.stringify(v)} ran something`).toBe(false);
    }
    // One run per value, one after another (over SSH for inject-ssh): slow on a loaded machine.
  }, 120_000);
});

describe('secrets', () => {
  it('never reach MongoDB, the audit log, the log or the notifier events', async () => {
    const dump = await env.dump();
    expect(dump).toContain('token=***');
    expect(dump).not.toContain(SECRET);
    expect(JSON.stringify(await env.audit.query({ limit: 200 }))).not.toContain(SECRET);
    expect(JSON.stringify(env.notifier.events)).not.toContain(SECRET);
    expect(JSON.stringify([...env.log.logs.values()])).not.toContain(SECRET);
  });
});

describe('restart recovery', () => {
  it('a ticket left running is marked interrupted (failed) and frees its lock; a due scheduled one runs once', async () => {
    const now = new Date();
    const base = (await ticket((await env.wiring.model.findOne({ 'template.name': 'sleepy' }).lean<Ticket>())!.ticketId));
    const { _id: _a, ...rest } = base as Ticket & { _id: unknown };
    await env.wiring.model.create({ ...rest, ticketId: 'TK-DEAD01', state: 'running', status: 0, phases: [], history: [], startedAt: now, heartbeatAt: new Date(now.getTime() - 60_000), lockKey: 'sleepy@PROD', finishedAt: null });
    const sched = (await env.wiring.model.findOne({ 'template.name': 'sched', state: 'succeeded' }).lean<Ticket & { _id: unknown }>())!;
    const { _id: _b, ...srest } = sched;
    await env.wiring.model.create({ ...srest, ticketId: 'TK-DUE001', state: 'approved', queued: true, runAt: new Date(now.getTime() - 30_000), phases: [], history: [], startedAt: null, finishedAt: null });

    const r = await env.wiring.executor.recover(async (id) => env.wiring.jobs.enqueueRun(id));
    expect(r).toMatchObject({ interrupted: 1, requeued: 1 });
    expect(await ticket('TK-DEAD01')).toMatchObject({ state: 'failed', status: 4, interrupted: true });
    expect((await finished('TK-DEAD01')).state).toBe('failed');
    // A second recovery (the sweep, another instance) before it has run queues it again: it still runs once.
    await env.wiring.executor.recover(async (id) => env.wiring.jobs.enqueueRun(id));
    expect((await finished('TK-DUE001')).state).toBe('succeeded');
    await env.agenda.stop();
    await env.agenda.start();
    expect((await env.audit.query({ target: 'ticket:TK-DUE001', action: 'ticket.start' })).length).toBe(1);
    // The lock the dead ticket held is free again.
    const again = await svc().submit('UBOB', { template: 'sleepy', env: 'PROD', values: {} });
    expect(['approved', 'running']).toContain(again.ticket.state);
    await svc().revoke('UBOB', again.ticket.ticketId);
    expect((await finished(again.ticket.ticketId)).state).toBe('revoked');
  });

  it('an automatic run left approved but unqueued (the bot died between the two writes) is queued by the sweep and runs once', async () => {
    const d = await svc().submit('UBOB', { template: 'quick', env: 'STAGE', values: { Msg: 'stranded' }, autoRun: true });
    await svc().decide('UALICE', d.ticket.ticketId, 0, 'approved');
    expect((await finished(d.ticket.ticketId)).state).toBe('succeeded');
    const { _id: _c, ...rest } = (await ticket(d.ticket.ticketId)) as Ticket & { _id: unknown };
    const old = new Date(Date.now() - 120_000);
    // Written as the dead bot left it: approved, not queued, last touched two minutes ago.
    await env.wiring.model.collection.insertOne({ ...rest, ticketId: 'TK-STRND1', state: 'approved', status: LEVEL_APPROVED[0], queued: false, phases: [], history: [], startedAt: null, finishedAt: null, lockKey: undefined, createdAt: old, updatedAt: old });
    expect(await svc().queueStranded(60_000)).toBe(1);
    expect((await finished('TK-STRND1')).state).toBe('succeeded');
    // Nothing is left to queue, and it started once.
    expect(await svc().queueStranded(60_000)).toBe(0);
    expect((await env.audit.query({ target: 'ticket:TK-STRND1', action: 'ticket.start' })).length).toBe(1);
  });
});
