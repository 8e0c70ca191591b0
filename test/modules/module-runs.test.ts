/**
 * Module runs and job control at the service level: three real sshd hosts on loopback (one
 * stopped), two bot instances sharing one store. Waits are on the job's `done` or on what `ps`
 * shows on the host, never on time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditModel } from '../../src/models/audit.js';
import { jobModel, type Job } from '../../src/models/jobs.js';
import { hostileValues } from '../helpers/hostile-values.js';
import { startModulesEnv, type ModulesEnv } from '../helpers/modules-env.js';

// The hosts share this machine's process table with other test runs: the sleeps get numbers
// of their own so ps sees only this file's processes.
const SLEEP = [0, 1, 2].map((i) => 70_000 + randomInt(0, 20_000) * 3 + i);
let env: ModulesEnv;
let failPort: number;

const shell = { id: 99, name: 'shell', command: '{script}', params: [{ name: 'script', type: 'string', raw: true, maxLength: 4000 }], envs: ['prod', 'stage'], adminOnly: true };

beforeAll(async () => {
  env = await startModulesEnv({
    hosts: (fleet) => {
      const [s0, s1, s2] = fleet.servers as [(typeof fleet.servers)[0], (typeof fleet.servers)[0], (typeof fleet.servers)[0]];
      failPort = s1.port;
      const h = (name: string, s: typeof s0, more: Record<string, unknown>) => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, ...more });
      return [
        h('web-1', s0, { env: 'prod', app: 'nginx', labels: { tier: 'web' } }),
        h('web-2', s1, { env: 'prod', app: 'nginx' }),
        h('web-3', s2, { env: 'prod', app: 'nginx' }),
        { ...h('hk-1', s0, { env: 'prod', app: 'keycheck' }), hostKey: fleet.strangerFingerprint },
        h('st-1', s0, { env: 'stage', app: 'php' }),
        h('st-2', s1, { env: 'stage', app: 'php' }),
        h('off-1', s0, { env: 'stage', app: 'php', enabled: false }),
        h('dev-1', s0, { env: 'dev', app: 'tools' }),
      ];
    },
    modules: [
      { id: 1, name: 'probe', command: 'set -- $SSH_CONNECTION; if [ "$4" = {failport} ]; then echo failing >&2; exit 7; fi; echo ok $4', params: [{ name: 'failport', type: 'int', min: 1, max: 65535 }], envs: ['prod', 'stage'] },
      { id: 2, name: 'sleeper', command: 'sleep {secs}; echo never', params: [{ name: 'secs', type: 'int', min: 1, max: 1_000_000 }], envs: ['stage'], timeoutSeconds: 3600 },
      { id: 3, name: 'echo-text', command: "printf '%s' {text}", params: [{ name: 'text', type: 'string', maxLength: 4000 }], envs: ['stage'] },
      { id: 4, name: 'guarded', command: "printf '%s' {word}", params: [{ name: 'word', type: 'string', pattern: '^[a-z]+$' }, { name: 'mode', type: 'enum', choices: ['a', 'b'], default: 'a' }, { name: 'loud', type: 'bool', default: false }], envs: ['stage'] },
      { id: 5, name: 'gated', command: 'uptime', envs: ['stage'], approval: [{ label: 'ops', approvers: { group: 'ops' } }] },
      shell,
    ],
  });
  // A host that is down: nothing listens on its port any more.
  await env.fleet.servers[2]!.stop();
});

afterAll(async () => {
  await env?.stop();
});

const jobs = () => env.a.model.countDocuments({});
const auditCount = () => auditModel(env.conn).countDocuments({ action: /^job\./ });

describe('a run', () => {
  it('on 3 hosts where one is down and one fails: the three buckets, exit codes, why unreachable, and the job record', async () => {
    const { job, done } = await env.a.runs.run('UCAROL', { module: 'probe', target: 'app:nginx', params: { failport: String(failPort) } });
    expect(job).toMatchObject({ state: 'running', instanceId: 'instance-a', target: { filter: 'app:nginx', hostNames: ['web-1', 'web-2', 'web-3'], envs: ['prod'] } });
    expect(job.jobId).toMatch(/^J-[0-9a-f]{10}$/);
    const end = await done;
    expect(end).toMatchObject({
      state: 'done',
      module: { id: 1, name: 'probe', command: `set -- $SSH_CONNECTION; if [ "$4" = '${failPort}' ]; then echo failing >&2; exit 7; fi; echo ok $4` },
      params: { failport: failPort },
      startedBy: 'carol',
      startedBySlack: 'UCAROL',
      counts: { ok: 1, failed: 1, unreachable: 1 },
    });
    expect(end.endedAt!.getTime()).toBeGreaterThanOrEqual(end.startedAt.getTime());
    const byName = Object.fromEntries(end.hosts.map((h) => [h.name, h]));
    expect(byName['web-1']).toMatchObject({ state: 'ok', code: 0, why: null, stdoutTail: `ok ${env.fleet.servers[0]!.port}\n` });
    expect(byName['web-2']).toMatchObject({ state: 'failed', code: 7, stderrTail: 'failing\n', why: null });
    expect(byName['web-3']).toMatchObject({ state: 'unreachable', code: null, why: 'refused', errorKind: 'connect' });
    for (const h of end.hosts) expect(typeof h.durationMs).toBe('number');
    // The full output is in the chunked log store.
    expect(await env.a.log.tail(`${end.jobId}/web-1`, 1000)).toBe(`ok ${env.fleet.servers[0]!.port}\n`);
    // Stored as it reads back from MongoDB.
    expect((await env.a.runs.find('UCAROL', end.jobId)).counts).toEqual({ ok: 1, failed: 1, unreachable: 1 });
    // bob holds no use on inventory:prod: the prod hosts' job is not his to read (1201).
    await expect(env.a.runs.find('UBOB', end.jobId)).rejects.toMatchObject({ code: 1201 });
  });

  it('a host whose key does not match the pinned one is unreachable: host key changed', async () => {
    const end = await (await env.a.runs.run('UCAROL', { module: 'probe', target: 'app:keycheck', params: { failport: 1 } })).done;
    expect(end.hosts[0]).toMatchObject({ name: 'hk-1', state: 'unreachable', why: 'host key changed' });
  });

  it('output past the per-host cap is cut, and the cut is said', async () => {
    const text = 'x'.repeat(3000);
    // Another instance on the same store with a small cap: the same code, a tighter setting.
    const small = env.instance('instance-small', { maxOutputBytes: 1000 });
    const end = await (await small.runs.run('UBOB', { module: 'echo-text', target: 'st-1', params: { text } })).done;
    expect(end.hosts[0]).toMatchObject({ state: 'ok', outputBytes: 3000, outputCut: true });
    const log = await env.a.log.tail(`${end.jobId}/st-1`, 10_000);
    expect(log).toBe('x'.repeat(1000) + '\n[opsgate] output cut at 1000 bytes; the rest was not kept\n');
  });
});

describe('refused before anything starts (code, nothing written, nothing run)', () => {
  const cases: Array<[string, string, { module: string; target: string; params: Record<string, unknown> }, number, RegExp]> = [
    ['an unknown module', 'UCAROL', { module: 'nope', target: 'st-1', params: {} }, 1100, /no module named nope; modules: probe, sleeper, echo-text, guarded, gated, shell/],
    ['a target nothing matches', 'UCAROL', { module: 'probe', target: 'app:nothing', params: { failport: 1 } }, 1100, /no enabled host matches app:nothing/],
    ['a target matching only a disabled host', 'UBOB', { module: 'sleeper', target: 'off-1', params: { secs: 5 } }, 1100, /no enabled host matches off-1/],
    ['an empty target', 'UBOB', { module: 'sleeper', target: '  ', params: { secs: 5 } }, 1100, /name a target/],
    ['a param out of range', 'UBOB', { module: 'sleeper', target: 'st-1', params: { secs: '0' } }, 1100, /parameter secs: must be at least 1/],
    ['a param of the wrong type', 'UBOB', { module: 'guarded', target: 'st-1', params: { word: 'abc', loud: 'perhaps' } }, 1100, /parameter loud: must be true or false/],
    ['an enum param outside its choices', 'UBOB', { module: 'guarded', target: 'st-1', params: { word: 'abc', mode: 'c' } }, 1100, /parameter mode: must be one of a, b/],
    ['a missing param', 'UBOB', { module: 'sleeper', target: 'st-1', params: {} }, 1102, /parameter secs is required/],
    ['an environment the module may not touch', 'UCAROL', { module: 'sleeper', target: 'app:nginx', params: { secs: 5 } }, 1100, /sleeper may touch only stage; web-1 is in prod/],
    ['a host in an environment no module lists', 'UERIN', { module: 'probe', target: 'dev-1', params: { failport: 1 } }, 1100, /may touch only prod, stage; dev-1 is in dev/],
    ['prod hosts without use on inventory:prod', 'UBOB', { module: 'probe', target: 'app:nginx', params: { failport: 1 } }, 1201, /you need use on inventory prod/],
    ['a person in no team', 'UGINA', { module: 'probe', target: 'st-1', params: { failport: 1 } }, 1202, /team/],
    ['someone not in the directory', 'UNOBODY', { module: 'probe', target: 'st-1', params: { failport: 1 } }, 1201, /not in the opsgate directory/],
    ['the shell module for a non-admin', 'UCAROL', { module: 'shell', target: 'st-1', params: { script: 'id' } }, 1201, /shell is for global admins only/],
  ];
  for (const [what, who, req, code, message] of cases) {
    it(what, async () => {
      const [before, auditsBefore] = [await jobs(), await auditCount()];
      await expect(env.a.runs.run(who, req)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
      expect(await jobs()).toBe(before);
      expect(await auditCount()).toBe(auditsBefore);
    });
  }

  it('a module with approval levels is stored awaiting approval and runs nothing: no start audited, every host pending', async () => {
    const { job, done } = await env.a.runs.run('UBOB', { module: 'gated', target: 'st-1', params: {} });
    expect(await done).toMatchObject({ jobId: job.jobId, state: 'awaiting-approval' });
    const stored = (await jobModel(env.conn).findOne({ jobId: job.jobId }).lean<Job>())!;
    expect(stored).toMatchObject({ state: 'awaiting-approval', engineJobId: null, approval: { state: 'pending', current: 0, levels: [{ level: 1, label: 'ops', rule: 'group:ops', decision: null }] } });
    expect(stored.approval!.levels[0]!.approvers).not.toContain('bob');
    expect(stored.hosts.map((h) => h.state)).toEqual(['pending']);
    expect(await auditModel(env.conn).countDocuments({ action: 'job.start', target: `job:${job.jobId}` })).toBe(0);
    expect(await auditModel(env.conn).countDocuments({ action: 'job.request', target: `job:${job.jobId}` })).toBe(1);
  });

  it('bob, with use on inventory:stage only, runs on stage; a global admin runs the shell module, audited with its script', async () => {
    expect((await (await env.a.runs.run('UBOB', { module: 'probe', target: 'app:php', params: { failport: 1 } })).done).counts).toEqual({ ok: 2, failed: 0, unreachable: 0 });
    const end = await (await env.a.runs.run('UERIN', { module: 'shell', target: 'st-1', params: { script: 'echo "$((6*7))" | tr 4 X' } })).done;
    expect(end.hosts[0]).toMatchObject({ state: 'ok', stdoutTail: 'X2\n' });
    const audit = await auditModel(env.conn).findOne({ action: 'job.start', target: `job:${end.jobId}` }).lean();
    expect(audit).toMatchObject({ actor: 'erin', to: { module: 'shell', command: 'echo "$((6*7))" | tr 4 X' } });
  });
});

describe('an engine that cannot start the run', () => {
  it('without the bot SSH key: refused 1100, the job removed, the attempt audited', async () => {
    const keyless = env.instance('instance-keyless', {}, { noSshKey: true });
    const before = await jobs();
    await expect(keyless.runs.run('UBOB', { module: 'echo-text', target: 'st-1', params: { text: 'hi' } })).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('SSH hosts need the bot SSH key') });
    expect(await jobs()).toBe(before);
    const notStarted = await auditModel(env.conn).find({ action: 'job.not-started', actor: 'bob' }).lean();
    expect(notStarted).toHaveLength(1);
    expect(await auditModel(env.conn).countDocuments({ action: 'job.start', target: notStarted[0]!.target })).toBe(1);
  });
});

describe('injection corpus in string params', () => {
  it('every hostile value reaches the host literally and runs nothing', async () => {
    const pwned = path.join(env.dir, 'pwned');
    for (const value of hostileValues(pwned)) {
      const end = await (await env.a.runs.run('UBOB', { module: 'echo-text', target: 'st-1', params: { text: value } })).done;
      expect(end.hosts[0], value).toMatchObject({ state: 'ok', stdoutTail: value });
    }
    expect(fs.existsSync(pwned)).toBe(false);
  });

  it('a string param with a pattern refuses them all, nothing started', async () => {
    const pwned = path.join(env.dir, 'pwned-guarded');
    const before = await jobs();
    for (const value of hostileValues(pwned)) {
      await expect(env.a.runs.run('UBOB', { module: 'guarded', target: 'st-1', params: { word: value } })).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('parameter word: does not match') });
    }
    expect(await jobs()).toBe(before);
    expect(fs.existsSync(pwned)).toBe(false);
  });
});

describe('job control', () => {
  it('kill of a job running sleep on 2 hosts: the signal reaches both process groups, is recorded, nothing is left (ps)', async () => {
    const { job, done } = await env.a.runs.run('UBOB', { module: 'sleeper', target: 'app:php', params: { secs: SLEEP[0] } });
    await env.ps.until(`sleep ${SLEEP[0]}`, 2);
    expect((await env.a.runs.running('UCAROL')).map((j) => j.jobId)).toContain(job.jobId);
    const killed = await env.a.runs.kill('UBOB', job.jobId);
    expect(killed.signals).toEqual([expect.objectContaining({ signal: 'KILL', by: 'bob', appliedBy: 'instance-a', hosts: expect.arrayContaining(['st-1', 'st-2']) })]);
    const end = await done;
    expect(end.state).toBe('done');
    expect(end.hosts.map((h) => [h.name, h.state, h.signal])).toEqual([
      ['st-1', 'failed', 'SIGKILL'],
      ['st-2', 'failed', 'SIGKILL'],
    ]);
    expect(end.hosts.map((h) => h.stdoutTail)).toEqual(['', '']);
    expect(await env.ps.gone(`sleep ${SLEEP[0]}`)).toEqual([]);
    expect((await env.a.runs.running('UCAROL')).map((j) => j.jobId)).not.toContain(job.jobId);
    await expect(env.a.runs.kill('UBOB', job.jobId)).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('already ended (done)') });
  });

  it('the same kill asked through a second instance on the same store: the running instance applies it', async () => {
    const { job, done } = await env.a.runs.run('UBOB', { module: 'sleeper', target: 'app:php', params: { secs: SLEEP[1] } });
    await env.ps.until(`sleep ${SLEEP[1]}`, 2);
    // Instance B sees A's job and stores the request; A applies it at its next heartbeat.
    expect((await env.b.runs.running('UBOB')).map((j) => j.jobId)).toContain(job.jobId);
    const asked = await env.b.runs.kill('UBOB', job.jobId);
    expect(asked.signals[0]).toMatchObject({ signal: 'KILL', by: 'bob' });
    const end = await done;
    expect(end.signals).toEqual([expect.objectContaining({ signal: 'KILL', appliedBy: 'instance-a', hosts: expect.arrayContaining(['st-1', 'st-2']) })]);
    expect(end.hosts.map((h) => h.signal)).toEqual(['SIGKILL', 'SIGKILL']);
    expect(await env.ps.gone(`sleep ${SLEEP[1]}`)).toEqual([]);
  });

  it('who may: the starter and admins; anyone else 1201; an unknown signal or job 1100', async () => {
    const { job, done } = await env.a.runs.run('UBOB', { module: 'sleeper', target: 'st-1', params: { secs: SLEEP[2] } });
    await env.ps.until(`sleep ${SLEEP[2]}`, 1);
    await expect(env.b.runs.term('UCAROL', job.jobId)).rejects.toMatchObject({ code: 1201, message: expect.stringContaining(`only who started ${job.jobId} or an admin`) });
    await expect(env.b.runs.signal('UBOB', job.jobId, 'NOPE')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('unknown signal') });
    await expect(env.b.runs.signal('UBOB', 'J-0000000000', 'TERM')).rejects.toMatchObject({ code: 1100, message: 'no job J-0000000000' });
    await expect(env.b.runs.find('UBOB', 'x; rm')).rejects.toMatchObject({ code: 1100 });
    // A signal sleep ignores first (WINCH): recorded and delivered, the job goes on.
    await env.b.runs.signal('UERIN', job.jobId, 'winch');
    await env.b.runs.term('UERIN', job.jobId);
    const end = await done;
    expect(end.signals.map((s) => [s.signal, s.by])).toEqual([
      ['WINCH', 'erin'],
      ['TERM', 'erin'],
    ]);
    expect(end.hosts[0]).toMatchObject({ state: 'failed' });
    expect(await env.ps.gone(`sleep ${SLEEP[2]}`)).toEqual([]);
    const audits = await auditModel(env.conn).find({ action: 'job.signal', target: `job:${job.jobId}` }).lean();
    expect(audits.map((a) => [a.actor, (a.to as { signal: string }).signal])).toEqual([
      ['erin', 'WINCH'],
      ['erin', 'TERM'],
    ]);
  });

  it('a job whose instance died is marked lost once its lease expires; a live one is left alone', async () => {
    const now = Date.now();
    const base = { kind: 'module' as const, module: { id: 2, name: 'sleeper', command: 'sleep 5' }, params: {}, target: { filter: 'st-1', hostNames: ['st-1'], envs: ['stage'] }, startedBy: 'bob', state: 'running' as const, hosts: [{ name: 'st-1', address: '127.0.0.1', env: 'stage', state: 'pending' as const }] };
    await env.a.model.create({ ...base, jobId: 'J-dead000001', instanceId: 'instance-gone', heartbeatAt: new Date(now - 120_000), startedAt: new Date(now - 130_000) });
    await env.a.model.create({ ...base, jobId: 'J-aaaa000001', instanceId: 'instance-elsewhere', heartbeatAt: new Date(now), startedAt: new Date(now) });
    expect(await env.b.runs.sweepLost()).toEqual(['J-dead000001']);
    const dead = await env.a.model.findOne({ jobId: 'J-dead000001' }).lean<Job>();
    expect(dead).toMatchObject({ state: 'lost', note: expect.stringContaining('instance instance-gone stopped renewing its lease') });
    expect(dead!.hosts[0]!.state).toBe('lost');
    expect(dead!.endedAt).toBeInstanceOf(Date);
    expect((await env.a.model.findOne({ jobId: 'J-aaaa000001' }).lean<Job>())!.state).toBe('running');
    await expect(env.a.runs.kill('UBOB', 'J-dead000001')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('already ended (lost)') });
    await env.a.model.deleteOne({ jobId: 'J-aaaa000001' });
  });
});
