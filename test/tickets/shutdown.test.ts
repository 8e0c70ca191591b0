/**
 * A bot that stops gracefully leaves no run behind: every pre-task and run of the instance gets
 * TERM, then KILL (the revoke path), and ends as failed, interrupted, with a log line saying the
 * bot stopped, its lock released and people told; the stop waits for that. On `local` and on a
 * real sshd config center (loopback, so `ps` here sees the host's processes), through the
 * executor, and through the app's own stop path (createOpsgate().stop()). A bot that died
 * without stopping: the recovery of another instance stops what its tasks left running, found
 * by their run tag, and nothing else.
 */
import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticketModel, type Ticket } from '../../src/models/tickets.js';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { createLogger } from '../../src/logger.js';
import { BOT_STOPPED_NOTE } from '../../src/services/tickets/executor.js';
import { wireTickets } from '../../src/wire-tickets.js';
import { exampleCatalog, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { localPs, untilGone, untilSeen } from '../helpers/processes.js';
import { tempDir } from '../helpers/store.js';
import { startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

// Sleeps of their own, so ps sees only this file's processes.
const SLEEP = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => 100_000 + randomInt(0, 20_000) * 5 + i);

const untilRunning = (needle: string): Promise<void> => untilSeen(() => localPs(needle), needle);
// The loopback sshd's processes are in this machine's process table too.
const goneFromHost = (needle: string): Promise<string[]> => untilGone(() => localPs(needle));

describe('executor shutdown', () => {
  let env: TicketsEnv;
  beforeAll(async () => {
    env = await startTicketsEnv({
      tickets: ({ centerHost }) => [
        { name: 'long-local', env: 'PROD', main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[0]}; echo never`, post: 'echo post-ran', lock: true },
        { name: 'long-ssh', env: 'PROD', configCenter: centerHost, main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[1]}; echo never`, lock: true },
        { name: 'stubborn-local', env: 'PROD', main: `trap '' TERM; echo "begin {sk__task_name_created}"; sleep ${SLEEP[2]}; echo never`, lock: true },
        { name: 'slow-pre', env: 'PROD', pre: `echo checking; sleep ${SLEEP[3]}`, main: 'echo never', lock: true },
        { name: 'approved-later', env: 'PROD', main: 'echo never', approval: [{ label: 'lead', approvers: { people: ['alice'] } }] },
      ],
    });
  }, 60_000);
  afterAll(() => env?.stop());

  it('TERM then KILL to every run and pre-task of the instance; each ends failed and interrupted, lock free, people told; nothing left on local or the sshd host', async () => {
    const svc = env.wiring.tickets;
    const runs: string[] = [];
    for (const template of ['long-local', 'long-ssh', 'stubborn-local']) {
      const d = await svc.submit('UBOB', { template, env: 'PROD', values: {} });
      runs.push(d.ticket.ticketId);
      await env.notifier.next('started', d.ticket.ticketId);
    }
    const pending = svc.submit('UBOB', { template: 'slow-pre', env: 'PROD', values: {} });
    const later = await svc.submit('UBOB', { template: 'approved-later', env: 'PROD', values: {} });
    await svc.decide('UALICE', later.ticket.ticketId, 0, 'approved');
    for (const s of SLEEP.slice(0, 4)) await untilRunning(`sleep ${s}`);

    const r = await env.wiring.executor.shutdown();
    expect(r.unfinished).toBe(0);
    expect(r.stopped).toHaveLength(4);
    const pre = await pending;
    expect(pre.ticket).toMatchObject({ state: 'failed', interrupted: true });

    for (const id of [...runs, pre.ticket.ticketId]) {
      const t: Ticket = await env.wiring.records.get(id);
      expect(t, id).toMatchObject({ state: 'failed', status: 4, interrupted: true, jobId: null });
      expect(t.lockKey, id).toBeUndefined();
      expect(t.history.at(-1), id).toMatchObject({ state: 'failed', by: 'system:tickets', note: BOT_STOPPED_NOTE });
      expect(env.log.logs.get(id), id).toContain('[opsgate] interrupted: the bot stopped');
      expect(env.log.logs.get(id), id).not.toMatch(/^never$/m);
      expect(env.log.closed.has(id), id).toBe(true);
      expect((await env.notifier.next('finished', id)).state, id).toBe('failed');
    }
    // Stopped before its post-task: that never starts on a stopping bot.
    expect(env.log.logs.get(runs[0]!)).not.toContain('post-ran');
    expect(env.log.logs.get(runs[0]!)).toContain('signal SIGTERM');
    expect(env.log.logs.get(runs[2]!)).toContain('signal SIGKILL');
    for (const s of SLEEP.slice(0, 4)) expect(await goneFromHost(`sleep ${s}`)).toEqual([]);
    // The locks are free: the same tickets can be submitted again (at the next start).
    expect(await env.wiring.model.countDocuments({ lockKey: { $exists: true } })).toBe(0);
    // Nothing new starts on a stopping bot: an approved ticket stays approved for another instance.
    expect(await env.wiring.executor.claim(later.ticket.ticketId, 'alice')).toBeNull();
    expect(await env.wiring.records.get(later.ticket.ticketId)).toMatchObject({ state: 'approved' });
  });
});

describe("the app's stop path", () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    const catalogDir = tempDir('catalog');
    fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
    const file = path.join(catalogDir, 'tickets.yaml');
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { tickets: unknown[] };
    doc.tickets.push({ name: 'app-sleep', description: 'sleeps', env: 'STAGE', category: 'Test', configCenter: 'local', main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[4]}; echo never`, lock: true, channel: '#deploys' });
    fs.writeFileSync(file, YAML.stringify(doc));
    t = await startOpsgate({ catalogDir });
    await t.ready();
  }, 60_000);
  afterAll(() => t?.stop());

  it('stop() ends a running ticket as interrupted, kills its process group, frees the lock and tells the channel and the submitter', async () => {
    const mark = t.fake.calls.length;
    const d = await t.app.services.tickets.submit(USERS.erin.id, { template: 'app-sleep', env: 'STAGE', values: {} });
    const id = d.ticket.ticketId;
    await untilRunning(`sleep ${SLEEP[4]}`);
    await t.restart();

    expect(await goneFromHost(`sleep ${SLEEP[4]}`)).toEqual([]);
    const after = (await ticketModel(t.app.store.connection).findOne({ ticketId: id }).lean<Ticket>())!;
    expect(after).toMatchObject({ state: 'failed', status: 4, interrupted: true });
    expect(after.lockKey).toBeUndefined();
    expect((await t.app.services.tickets.show(USERS.erin.id, id)).tail).toContain('[opsgate] interrupted: the bot stopped');
    const calls = t.fake.calls.slice(mark);
    const channel = calls.filter((c) => c.args.channel === '#deploys' && JSON.stringify(c.args).includes(id));
    expect(channel.map((c) => c.method)).toEqual(expect.arrayContaining(['chat.postMessage', 'chat.update']));
    expect(channel.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    expect(JSON.stringify(channel.at(-1)!.args)).toContain('interrupted: the bot stopped');
    expect(calls.some((c) => c.method === 'chat.postMessage' && c.args.channel === `D${USERS.erin.id}` && JSON.stringify(c.args).includes('ended'))).toBe(true);
  });
});

describe('a bot that died without stopping', () => {
  let env: TicketsEnv;
  beforeAll(async () => {
    env = await startTicketsEnv({
      // The bot that "dies" writes no heartbeat after the claim: it looks dead from the start.
      executor: { heartbeatMs: 3_600_000 },
      tickets: ({ centerHost }) => [
        { name: 'orphan-local', env: 'PROD', main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[5]} & sleep ${SLEEP[5]}; echo never` },
        { name: 'orphan-ssh', env: 'PROD', configCenter: centerHost, main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP[6]}; echo never` },
      ],
    });
  }, 60_000);
  afterAll(() => env?.stop());

  it("another instance's recovery stops the dead run's processes on local and on the sshd host by their tag; untagged or otherwise tagged processes stay", async () => {
    const svc = env.wiring.tickets;
    const ids: string[] = [];
    for (const template of ['orphan-local', 'orphan-ssh']) {
      const d = await svc.submit('UBOB', { template, env: 'PROD', values: {} });
      ids.push(d.ticket.ticketId);
      await env.notifier.next('started', d.ticket.ticketId);
    }
    // The shell running the script and its two sleeps.
    await untilSeen(async () => ((await localPs(`sleep ${SLEEP[5]}`)).length >= 3 ? ['all'] : []), 'the local sleeps');
    await untilSeen(() => localPs(`sleep ${SLEEP[6]}`), 'the remote sleep');
    // Bystanders on the host: one with another run's tag (a reused pid would look like this), one with none.
    const s = env.fleet.servers[0]!;
    const byEngine = new ExecutionEngine({ sshPrivateKey: env.fleet.clientKey.privateKey });
    const bystanders = byEngine.start({
      targets: [{ transport: 'ssh', name: 'by', address: '127.0.0.1', port: s.port, user: 'root', hostKey: s.fingerprint }],
      command: `OPSGATE_RUN=TK-OTHER1-main-0123456789abcdef sleep ${SLEEP[7]} & sleep ${SLEEP[8]}`,
    });
    await untilSeen(() => localPs(`sleep ${SLEEP[7]}`), 'the tagged bystander');
    await untilSeen(() => localPs(`sleep ${SLEEP[8]}`), 'the untagged bystander');

    // This instance stands for the dead bot: it writes no heartbeat (and the other one's clock is
    // an hour ahead), and nothing here signals the tasks.
    const other = wireTickets(
      { ...env.core, agenda: createScheduler({ db: env.conn.db!, logger: createLogger('silent'), processEveryMs: 100 }), clock: { now: () => new Date(Date.now() + 3_600_000) } },
      { log: env.log, notifier: env.notifier },
    );
    expect(await other.executor.recover(async () => undefined)).toMatchObject({ interrupted: 2 });
    expect(await localPs(`sleep ${SLEEP[5]}`)).toEqual([]);
    expect(await localPs(`sleep ${SLEEP[6]}`)).toEqual([]);
    expect(env.log.logs.get(ids[0]!)).toContain(`[opsgate] 3 leftover process(es) of this run stopped on local (${hostname()})`);
    expect(env.log.logs.get(ids[1]!)).toMatch(/\[opsgate\] [1-9]\d* leftover process\(es\) of this run stopped on center-1/);
    for (const id of ids) expect(await env.wiring.records.get(id)).toMatchObject({ state: 'failed', interrupted: true });
    const sleeping = (lines: string[]) => lines.filter((l) => /^\s*\d+\s+\d+ sleep \d+$/.test(l));
    expect(sleeping(await localPs(`sleep ${SLEEP[7]}`))).toHaveLength(1);
    expect(sleeping(await localPs(`sleep ${SLEEP[8]}`))).toHaveLength(1);
    byEngine.signal(bystanders.jobId, 'KILL');
    await bystanders.done;
    expect(await untilGone(() => localPs(`sleep ${SLEEP[7]}`))).toEqual([]);
    // The dead bot's runs end quietly: their tickets are final already.
    await env.wiring.executor.idle();
    for (const id of ids) expect((await env.wiring.records.get(id)).history.filter((h) => h.state === 'failed')).toHaveLength(1);
  });
});
