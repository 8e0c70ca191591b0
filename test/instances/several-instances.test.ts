/**
 * Three real bot processes on one store process, Slack's deliveries spread over them: the
 * promise that instances may share one MongoDB and that every decision and job happens once.
 * Real sshd bastions, real SMTP, the fake Slack Web API; the instances are `src/main.ts` as
 * `npm start` runs it, the store `npm run db`'s entry point.
 */
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels, ApplicationStatus, GrantStatus } from '../../src/models/access.js';
import { auditModel } from '../../src/models/audit.js';
import { jobModel, type Job } from '../../src/models/jobs.js';
import { personModel } from '../../src/models/person.js';
import { ticketLogModels } from '../../src/models/ticket-log.js';
import { ticketModel } from '../../src/models/tickets.js';
import { buildAccessWorld, eventually, GINA, roleAccounts, USERS, type AccessWorld } from '../helpers/access-env.js';
import type { FakeSlack, RecordedCall } from '../helpers/fake-slack.js';
import { editCatalogFile } from '../helpers/catalog-copy.js';
import { say as sayTo, startFleet, type Instance, type InstanceFleet, type Instances } from '../helpers/instances.js';
import { localPs, untilGone } from '../helpers/processes.js';

const DAY_MS = 8000;
if (!roleAccounts.ready) process.stderr.write(`NOTICE: several-instances tests skipped: ${roleAccounts.reason}\n`);

describe.skipIf(!roleAccounts.ready)(`three bot processes on one store${roleAccounts.ready ? '' : ` [skipped: ${roleAccounts.reason}]`}`, () => {
  let world: AccessWorld;
  let fleet: InstanceFleet;
  let fake: FakeSlack;
  let bots: Instances;
  let db: Connection;

  beforeAll(async () => {
    world = await buildAccessWorld({ dayMs: DAY_MS, env: { ACCESS_SWEEP_MS: '1000' } });
    // deploy-static (no approval) may be given a run time here: the scheduled-run test.
    editCatalogFile(world.catalogDir, 'tickets.yaml', (doc) => {
      (doc.tickets as Array<Record<string, unknown>>).find((t) => t.name === 'deploy-static')!.schedule = true;
    });
    // A signal asked on another instance is sent at the running instance's next heartbeat.
    fleet = await startFleet(world, { count: 3, users: [GINA], env: { JOB_HEARTBEAT_MS: '2000' } });
    ({ fake, bots, db } = fleet);
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    await world?.stop();
  });

  const text = (c: RecordedCall) => JSON.stringify(c.args);
  const models = () => accessModels(db);

  const say = (via: Instance, command: string, words: string, user: { id: string }) => sayTo(fake, via, command, words, user);

  async function request(via: Instance, user: { id: string }, words: string): Promise<string> {
    const body = await say(via, '/access', `request ${words}`, user);
    const m = /Request (AR-[A-Z0-9]{6}) sent/.exec(body);
    if (!m) throw new Error(`request refused: ${body}`);
    return m[1]!;
  }

  async function approveValue(approver: { id: string }, requestId: string): Promise<string> {
    const call = await fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${approver.id}` && text(c).includes(requestId) && text(c).includes('access_approve'));
    const blocks = call.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    return blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'access_approve')!.value;
  }

  it('20 Approve clicks spread over the three instances: one decision, one provisioning, 19 "already decided"', { timeout: 90_000 }, async () => {
    const id = await request(bots.any(), USERS.bob, 'bastion-a readonly 7d on-call across instances');
    const value = await approveValue(USERS.alice, id);
    const mark = fake.calls.length;
    // Each click to a random instance, as Slack's deliveries behind a load balancer land.
    const clicks = await Promise.all(Array.from({ length: 20 }, () => bots.any().slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: `D${USERS.alice.id}` })));
    expect(clicks.map((r) => r.status)).toEqual(Array(20).fill(200));
    const already = await eventually('19 "already decided" answers', async () => {
      const e = fake.calls.slice(mark).filter((c) => c.method === 'chat.postEphemeral' && c.args.user === USERS.alice.id && text(c).includes('Already decided'));
      return e.length >= 19 ? e : undefined;
    });
    expect(already).toHaveLength(19);
    await eventually('granted', async () => (await models().Application.findOne({ requestId: id }).lean())?.status === ApplicationStatus.granted, 40_000);
    expect(await auditModel(db).countDocuments({ action: 'access.approve', target: `access:${id}` })).toBe(1);
    expect(await models().Task.countDocuments({ requestId: id, type: 'add' })).toBe(1);
    expect(await models().Grant.countDocuments({ requestId: id })).toBe(1);
    const grant = (await models().Grant.findOne({ requestId: id }).lean())!;
    expect(world.lines(world.bastions[0]!, 'readonly').filter((l) => l.includes(grant.grantId))).toHaveLength(1);
    // The decision reached the requester once, whichever instance made it.
    // (DMs leave from a queue off the worker's path: wait for it, then count.)
    const grantedDms = () => fake.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === `D${USERS.bob.id}` && text(c).includes('Access granted') && text(c).includes('bastion-a'));
    await eventually('the granted DM', async () => grantedDms().length > 0);
    // And one mail: the queue is shared, and one instance sends each mail.
    await eventually('the granted mail', async () => world.smtp.received.some((m) => m.envelope.to.includes('bob@example.com') && /Access granted/.test(m.parsed.subject ?? '')));
    expect(world.smtp.received.filter((m) => m.envelope.to.includes('bob@example.com') && /Access granted: readonly on bastion-a/.test(m.parsed.subject ?? ''))).toHaveLength(1);
    expect(grantedDms()).toHaveLength(1);
  });

  it('a ticket scheduled for the next minute runs once, on whichever instance takes it', { timeout: 180_000 }, async () => {
    const at = new Date(Date.now() + 70_000);
    const local = at.toISOString().slice(0, 16);
    const answer = await say(bots.any(), '/ticket', `submit deploy-static env:STAGE Ref=main at:${local}`, USERS.erin);
    const ticketId = /TK-[A-Z0-9]{6}/.exec(answer)?.[0];
    expect(ticketId, answer).toBeDefined();
    const done = await eventually('the scheduled run finished', async () => {
      const t = await ticketModel(db).findOne({ ticketId }).lean();
      return t && ['succeeded', 'failed'].includes(t.state) ? t : undefined;
    }, 150_000);
    expect(done.state).toBe('succeeded');
    expect(done.phases.filter((p) => p.phase === 'main')).toHaveLength(1);
    // The run's state is written before its log is flushed and closed: read the log once closed.
    await eventually('the ticket log closed', async () => (await ticketLogModels(db).headers.findOne({ ticketId }).lean())?.closed === true, 30_000);
    const logged = (await ticketLogModels(db).chunks.find({ ticketId }).sort({ seq: 1 }).lean()).map((c) => c.text).join('');
    expect(logged.match(/^publishing main to/gm)).toHaveLength(1);
  });

  it('/jobs kill on one instance stops a module run that another instance runs', { timeout: 90_000 }, async () => {
    const started = await say(bots.all[1]!, '/run', 'shell target:bastion-a "script=sleep 937"', USERS.erin);
    const jobId = /J-[0-9a-f]{10}/.exec(started)?.[0];
    expect(jobId, started).toBeDefined();
    await eventually('sleep running on bastion-a', async () => (await localPs('sleep 937')).length > 0);
    const killed = await say(bots.all[2]!, '/jobs', `kill ${jobId}`, USERS.erin);
    expect(killed).toContain('SIGKILL');
    expect(await untilGone(() => localPs('sleep 937'))).toEqual([]);
    const job = await eventually('job ended', async () => {
      const j = await jobModel(db).findOne({ jobId }).lean<Job>();
      return j && j.state !== 'running' ? j : undefined;
    });
    expect(job.hosts.map((h) => h.signal)).toEqual(['SIGKILL']);
  });

  /** A day passing for a daily job: its one recurring job made due now (every instance polls for it). */
  async function makeDue(name: string): Promise<Date> {
    const at = new Date();
    const r = await db.collection('agendaJobs').updateOne({ name, type: 'single' }, { $set: { nextRunAt: at } });
    expect(r.matchedCount, `the recurring ${name} job`).toBe(1);
    return at;
  }
  /** Each instance looks for due jobs every 5 s (processEvery): two rounds each, so a second run would have started. */
  const everyInstancePolledTwice = () => new Promise((r) => setTimeout(r, 12_000));
  const logged = (msg: string, match: (l: Record<string, unknown>) => boolean = () => true) => bots.all.flatMap((b) => b.lines.filter((l) => l.msg === msg && match(l)));

  it('expiry reminders: one reminder DM per grant, whichever instance sweeps', { timeout: 150_000 }, async () => {
    // 7 days: the 24-hour reminder's window is its last "day" (DAY_MS, 8 s), which the sweep
    // (every ACCESS_SWEEP_MS, on whichever instance takes it) cannot miss. (The 1-hour one's
    // window, DAY_MS / 24, is shorter than the sweep here: not counted.)
    const id = await request(bots.any(), USERS.dave, 'bastion-a evans 7d reminder across instances');
    const value = await approveValue(USERS.alice, id);
    expect((await bots.any().slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: `D${USERS.alice.id}` })).status).toBe(200);
    await eventually('granted', async () => (await models().Application.findOne({ requestId: id }).lean())?.status === ApplicationStatus.granted, 40_000);
    const grant = (await models().Grant.findOne({ requestId: id }).lean())!;
    const reminders = () => fake.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === `D${USERS.dave.id}` && text(c).includes('ends in about 24 hours') && text(c).includes('bastion-a'));
    await eventually('the reminder DM', async () => reminders().length > 0, 90_000);
    await eventually('grant ended', async () => (await models().Grant.findOne({ grantId: grant.grantId }).lean())?.status !== GrantStatus.valid, 40_000);
    // Once the grant has ended no sweep can remind it again: the count is final.
    expect(reminders()).toHaveLength(1);
    expect((await models().Grant.findOne({ grantId: grant.grantId }).lean())!.reminded.filter((h) => h === 24)).toEqual([24]);
  });

  it('the daily directory sync runs once across the instances: one sync, one change', { timeout: 90_000 }, async () => {
    editCatalogFile(world.catalogDir, 'directory.yaml', (doc) => {
      doc.people!.push({ id: 'hank', name: 'Hank New', email: 'hank@example.com', level: 'P3', department: 'operations', manager: 'alice', groups: ['dev'] });
    });
    const since = await makeDue('directory:sync');
    const daily = () => logged('directory synced', (l) => l.actor === 'system:daily-sync');
    await eventually('the daily sync', async () => daily().length > 0, 30_000);
    await everyInstancePolledTwice();
    expect(daily()).toHaveLength(1);
    expect(daily()[0]!.added).toBe(1);
    const syncs = await auditModel(db).find({ action: 'directory.sync', actor: 'system:daily-sync', at: { $gte: since } }).lean();
    expect(syncs).toHaveLength(1);
    expect(await personModel(db).countDocuments({ personId: 'hank' })).toBe(1);
  });

  it('the daily host check runs once across the instances: one admin-channel post per change', { timeout: 120_000 }, async () => {
    const posts = () => fake.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === 'C0ADMIN' && text(c).includes('Host check') && text(c).includes('bastion-a'));
    const checks = () => logged('host check');
    const bastion = world.bastions[0]!;
    // bastion-a stops answering (its sshd stopped with SIGSTOP): the check marks it inactive.
    bastion.sshd.pause();
    try {
      await makeDue('inventory:check-hosts');
      await eventually('the inactive post', async () => posts().length > 0, 60_000);
      await everyInstancePolledTwice();
      expect(checks()).toHaveLength(1);
      expect(posts()).toHaveLength(1);
      expect(text(posts()[0]!)).toContain('is now inactive');
    } finally {
      bastion.sshd.resume();
    }
    // It answers again: the next day's check says so, once.
    await makeDue('inventory:check-hosts');
    await eventually('the back post', async () => posts().length > 1, 60_000);
    await everyInstancePolledTwice();
    expect(checks()).toHaveLength(2);
    expect(posts()).toHaveLength(2);
    expect(text(posts()[1]!)).toContain('answers again');
  });

  it('a grant whose instance is killed (kill -9) after granting is revoked at expiry by another', { timeout: 120_000 }, async () => {
    const first = bots.all[0]!;
    const id = await request(first, USERS.dave, 'bastion-b evans 1d look at one thing');
    const value = await approveValue(USERS.alice, id);
    expect((await first.slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: `D${USERS.alice.id}` })).status).toBe(200);
    await eventually('granted', async () => (await models().Application.findOne({ requestId: id }).lean())?.status === ApplicationStatus.granted, 40_000);
    const grant = (await models().Grant.findOne({ requestId: id }).lean())!;
    expect(world.lines(world.bastions[1]!, 'evans').some((l) => l.includes(grant.grantId))).toBe(true);
    expect((await world.login(world.bastions[1]!, 'evans', 'dave')).code).toBe(0);

    first.child.kill('SIGKILL');
    await first.exited;
    // One "day" is DAY_MS: the line must go at expiry, removed by instance 1 or 2.
    await eventually('line removed after expiry', async () => !world.lines(world.bastions[1]!, 'evans').some((l) => l.includes(grant.grantId)), 60_000);
    await eventually('grant ended', async () => (await models().Grant.findOne({ grantId: grant.grantId }).lean())?.status !== GrantStatus.valid, 20_000);
    expect((await world.login(world.bastions[1]!, 'evans', 'dave')).code).not.toBe(0);
    // The removal's audit entry follows the grant's new status.
    await eventually('the removal audited', async () => (await auditModel(db).find({ action: 'access.removed', target: 'host:bastion-b' }).lean()).some((e) => JSON.stringify(e).includes(grant.grantId)));
    // Bring it back for whatever runs after: a restart on the same data folder joins the others.
    await bots.start(0);
  });
});
