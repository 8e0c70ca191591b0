/**
 * Stopping the bot while a module run goes, on two real sshd hosts: the app's stop sends TERM
 * to the remote process groups, KILL after the grace to the one that ignores TERM, ends each
 * host `cancelled` ("opsgate stopped") and the job `done` with a note saying why, updates the
 * channel message and the DM, all before the store closes; nothing is left on either host
 * (`ps`), and no run starts on the stopped instance.
 */
import { randomInt } from 'node:crypto';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Commands } from '../../commands/ids.js';
import { jobModel, type Job } from '../../src/models/jobs.js';
import { BOT_STOPPED_JOB_NOTE } from '../../src/services/modules/runs.js';
import { runCommand, USERS } from '../helpers/opsgate.js';
import { jobIdIn, startRunApp, type RunApp, type Server } from '../helpers/run-app.js';
import { text } from '../helpers/ticket-slack.js';

const SECS = 130_000 + randomInt(0, 20_000) * 2;
let r: RunApp;
let appStopped = false;
const h = (name: string, s: Server) => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, env: 'stage', app: 'php' });

beforeAll(async () => {
  r = await startRunApp({
    servers: 2,
    hosts: ([s0, s1]) => [h('st-1', s0!), h('st-2', s1!)],
    // On st-2 the script and its sleep ignore TERM: only the KILL after the grace ends it.
    modules: ([, s1]) => [{ id: 3, name: 'long-sleep', command: `set -- $SSH_CONNECTION; if [ "$4" = ${s1!.port} ]; then trap '' TERM; fi; sleep {secs}`, params: [{ name: 'secs', type: 'int', min: 1 }], envs: ['stage'], channel: '#ops-runs', timeoutSeconds: 3600 }],
  });
}, 60_000);
afterAll(async () => {
  await r?.stop({ appStopped });
});

describe('module runs at bot shutdown', () => {
  it('stop: TERM then KILL on every host still running, nothing left (ps), hosts cancelled, the job done and saying why, channel and DM updated', async () => {
    const started = await runCommand(r.t, Commands.run, `long-sleep target:app:php secs=${SECS}`, USERS.bob);
    const jobId = jobIdIn(JSON.stringify(started.blocks));
    expect(jobId, started.text).not.toBe('');
    await r.ps.until(`sleep ${SECS}`, 2);
    const mark = r.t.fake.calls.length;
    const runs = r.t.app.services.moduleRuns;

    await r.t.app.stop();
    appStopped = true;
    expect(await r.ps.gone(`sleep ${SECS}`)).toEqual([]);
    await expect(runs.run(USERS.bob.id, { module: 'long-sleep', target: 'app:php', params: { secs: 5 } })).rejects.toMatchObject({ code: 1300, message: expect.stringMatching(/stopping and starts no run/) });

    // Written before the store closed: read it from the store with a connection of our own.
    const conn = await mongoose.createConnection(r.t.store.uri, { dbName: r.t.store.dbName }).asPromise();
    try {
      const job = (await jobModel(conn).findOne({ jobId }).lean<Job>())!;
      expect(job).toMatchObject({ state: 'done', note: BOT_STOPPED_JOB_NOTE, counts: { ok: 0, failed: 0, unreachable: 0, cancelled: 2 } });
      expect(job.hosts.map((x) => [x.name, x.state, x.errorKind, x.error])).toEqual([
        ['st-1', 'cancelled', 'cancelled', 'opsgate stopped'],
        ['st-2', 'cancelled', 'cancelled', 'opsgate stopped'],
      ]);
      expect(job.hosts.find((x) => x.name === 'st-2')!.signal).toBe('SIGKILL');
      expect(job.signals.map((s) => [s.signal, s.by, [...s.hosts].sort()])).toEqual([
        ['TERM', 'system:shutdown', ['st-1', 'st-2']],
        ['KILL', 'system:shutdown', ['st-2']],
      ]);
      expect(job.endedAt).toBeInstanceOf(Date);
    } finally {
      await conn.close();
    }
    // Told before the app's stop returned: the channel message updated in place, the DM.
    const after = r.t.fake.calls.slice(mark);
    const update = [...after].reverse().find((c) => c.method === 'chat.update' && c.args.channel === '#ops-runs' && text(c).includes(jobId));
    expect(update && text(update)).toContain('cancelled (opsgate stopped)');
    expect(update && text(update)).toContain("stopped by opsgate's shutdown");
    const dm = after.find((c) => c.method === 'chat.postMessage' && c.args.channel === `D${USERS.bob.id}` && text(c).includes(jobId));
    expect(dm?.args.text).toBe(`Your run ${jobId} (long-sleep) ended: 0 ok, 0 failed, 0 unreachable, 2 cancelled`);
  });
});
