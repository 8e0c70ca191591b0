/**
 * The fault loop (issue 10): four real bot processes on one store process, and `kill -9` of
 * one of them at a random moment while it provisions a grant, runs a ticket and sends mail,
 * while earlier grants expire and are removed; 50 times. The killed bot is started again while
 * the others carry on. After every iteration the hosts' key files are checked against the
 * store; after the loop, once the work has settled, everything is checked whole: no grant in
 * force without its line and no line without one, no ticket run twice, no mail sent twice, and
 * nothing left half-done (tasks, applications, tickets, mails) once its lease has run out.
 *
 * The moments come from a seeded PRNG: the seed is printed, and FAULT_SEED=<seed> replays it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels, ApplicationStatus, GrantStatus, TaskStatus, type Grant, type ProvisionTask } from '../../src/models/access.js';
import { mailModel } from '../../src/models/mail.js';
import { ticketModel } from '../../src/models/tickets.js';
import { buildAccessWorld, eventually, GINA, roleAccounts, USERS, type AccessWorld } from '../helpers/access-env.js';
import type { FakeSlack, RecordedCall } from '../helpers/fake-slack.js';
import { editCatalogFile } from '../helpers/catalog-copy.js';
import { say as sayTo, startFleet, type Instance, type InstanceFleet, type Instances } from '../helpers/instances.js';

const ITERATIONS = Number(process.env.FAULT_ITERATIONS ?? 50);
const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
/** One "day" of access: a 1-day grant ends a few iterations after it was written. */
const DAY_MS = 6000;
/** A task claimed by a killed bot is taken over after this; long enough for a pass under load. */
const CLAIM_LEASE_MS = 8000;
/** The shortest mail claim the bot allows (send cutoff 1 s + 30 s). */
const MAIL_CLAIM_LEASE_MS = 31_000;
/** A ticket whose bot died is ended (interrupted) by another once its heartbeat is this old. */
const JOB_LEASE_MS = 3000;
/** Work settles within the longest lease plus a few sweeps; generous for two loaded cores. */
const SETTLE_CEILING_MS = 150_000;

/** mulberry32: small, seedable, good enough to spread kill moments. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

if (!roleAccounts.ready) process.stderr.write(`NOTICE: kill loop skipped: ${roleAccounts.reason}\n`);

describe.skipIf(!roleAccounts.ready)(`kill -9 of a bot instance, ${ITERATIONS} times${roleAccounts.ready ? '' : ` [skipped: ${roleAccounts.reason}]`}`, () => {
  let world: AccessWorld;
  let fleet: InstanceFleet;
  let fake: FakeSlack;
  let bots: Instances;
  let db: Connection;
  let appendFile: string;

  beforeAll(async () => {
    world = await buildAccessWorld({
      dayMs: DAY_MS,
      env: {
        ACCESS_SWEEP_MS: '1000',
        ACCESS_CLAIM_LEASE_MS: String(CLAIM_LEASE_MS),
        MAIL_SEND_TIMEOUT_MS: '1000',
        MAIL_CLAIM_LEASE_MS: String(MAIL_CLAIM_LEASE_MS),
        MAIL_DRAIN_EVERY_MS: '1000',
        JOB_HEARTBEAT_MS: '1000',
        JOB_LEASE_MS: String(JOB_LEASE_MS),
      },
    });
    // A ticket whose run appends its ref to a file: the file's lines count the runs.
    appendFile = path.join(world.dir, 'ticket-runs.txt');
    fs.writeFileSync(appendFile, '');
    editCatalogFile(world.catalogDir, 'tickets.yaml', (doc) =>
      doc.tickets!.push({
        name: 'fault-append',
        description: 'Appends its ref to a file, once per run',
        env: 'STAGE',
        category: 'Faults',
        submitGroups: ['dev', 'ops'],
        configCenter: 'local',
        vars: { Out: appendFile },
        options: [{ name: 'Ref', label: 'Ref', text: { pattern: '^[A-Za-z0-9._-]+$', maxLength: 40 } }],
        // A short sleep either side of the write: a kill may land before, during or after it.
        main: 'sleep 0.2; echo {Ref} >> {Out}; sleep 0.2',
        lock: false,
        timeoutMinutes: 1,
        channel: '#deploys',
      }),
    );
    // Four: two are up to take the work while the two last killed start again.
    fleet = await startFleet(world, { count: 4, users: [GINA] });
    ({ fake, bots, db } = fleet);
    process.stderr.write(`kill loop: FAULT_SEED=${SEED} (${ITERATIONS} iterations)\n`);
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    await world?.stop();
  });

  const text = (c: RecordedCall) => JSON.stringify(c.args);
  const models = () => accessModels(db);

  const say = (via: Instance, command: string, words: string, user: { id: string }) => sayTo(fake, via, command, words, user, 20_000);

  /** grantId -> accounts whose key file holds its line, over both bastions. */
  function hostLines(): Map<string, string[]> {
    const found = new Map<string, string[]>();
    for (const b of world.bastions) {
      for (const account of ['evans', 'readonly']) {
        for (const line of world.lines(b, account)) {
          const id = / opsgate-grant:(\S+)$/.exec(line)?.[1];
          if (id) found.set(id, [...(found.get(id) ?? []), `${b.name}/${account}`]);
        }
      }
    }
    return found;
  }

  /**
   * The hosts against the store, for what has settled: a grant written (its add task done) and
   * not about to expire has its line; a line whose removal is recorded done is gone. The store
   * is read before the files, so work finishing in between cannot look like a fault.
   */
  async function hostsAgreeWithStore(): Promise<string[]> {
    const now = Date.now();
    const grants = new Map((await models().Grant.find().lean<Grant[]>()).map((g) => [g.grantId, g]));
    const tasks = await models().Task.find().lean<ProvisionTask[]>();
    const lines = hostLines();
    const problems: string[] = [];
    const done = (grantId: string, type: 'add' | 'delete') => tasks.some((t) => t.grantId === grantId && t.type === type && t.status === TaskStatus.done);
    for (const g of grants.values()) {
      const settled = g.status === GrantStatus.valid && done(g.grantId, 'add') && g.expiresAt && g.expiresAt.getTime() > now + 2000;
      if (settled && !lines.has(g.grantId)) problems.push(`grant ${g.grantId} is in force (written, expires ${g.expiresAt!.toISOString()}) but no host has its line`);
    }
    for (const [grantId, where] of lines) {
      const g = grants.get(grantId);
      if (!g) problems.push(`line of unknown grant ${grantId} on ${where.join(', ')}`);
      else if (done(grantId, 'delete')) problems.push(`grant ${grantId}'s removal is recorded done but its line is still on ${where.join(', ')}`);
    }
    return problems;
  }

  it(`${ITERATIONS} kill -9 at random moments of provisioning, expiry removal, ticket runs and mail sending: nothing lost, nothing twice`, { timeout: 600_000 }, async () => {
    const random = prng(SEED);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    // Who asks for what: a person holds one grant of a role on a host at a time.
    const combos = [USERS.bob, USERS.carol, USERS.dave, GINA].flatMap((u) => ['bastion-a', 'bastion-b'].flatMap((h) => ['readonly', 'evans'].map((r) => ({ user: u, host: h, role: r }))));
    const requests: string[] = [];
    const ticketIds: string[] = [];
    const refs = new Map<string, string>();
    const restarts = new Map<number, Promise<unknown>>();
    const log: string[] = [];
    const killedAt: number[] = [];
    const began = Date.now();

    for (let i = 0; i < ITERATIONS; i++) {
      // Two bots up at least, so the one killed leaves another to carry on.
      while (bots.all.filter((b) => b.alive()).length < 2) await Promise.race(restarts.values());
      const via = pick(bots.all.filter((b) => b.alive()));

      // A request, asked and approved through this bot: its provisioning runs here at once.
      let requestId: string | undefined;
      for (let tries = 0; tries < combos.length && !requestId; tries++) {
        const c = combos[(i + tries) % combos.length]!;
        const answer = await say(via, '/access', `request ${c.host} ${c.role} 1d fault loop ${i}`, c.user);
        requestId = /Request (AR-[A-Z0-9]{6}) sent/.exec(answer)?.[1];
      }
      if (requestId) {
        requests.push(requestId);
        const ask = await fake.waitFor('chat.postMessage', (c) => String(c.args.channel).startsWith('D') && text(c).includes(requestId!) && text(c).includes('access_approve'), 20_000);
        const approver = String(ask.args.channel).slice(1);
        const blocks = ask.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
        const value = blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'access_approve')!.value;
        expect((await via.slack.blockAction({ id: approver }, { action_id: 'access_approve', value }, { channel: `D${approver}` })).status).toBe(200);
        // The decision is written before the kill: the kill is aimed at what follows it.
        await eventually('the decision written', async () => ((await models().Application.findOne({ requestId }).lean())?.status ?? 1) !== ApplicationStatus.pending);
      }

      // A ticket run, also started here.
      const ref = `run-${SEED}-${i}`;
      const submitted = await say(via, '/ticket', `submit fault-append env:STAGE Ref=${ref}`, USERS.erin);
      const ticketId = /TK-[A-Z0-9]{6}/.exec(submitted)?.[0];
      expect(ticketId, submitted).toBeDefined();
      ticketIds.push(ticketId!);
      refs.set(ticketId!, ref);

      // The kill: somewhere in the next second of this bot's provisioning, ticket run and mail.
      const delay = Math.floor(random() * 1000);
      await new Promise((r) => setTimeout(r, delay));
      via.child.kill('SIGKILL');
      killedAt.push(Date.now());
      await via.exited;
      log.push(`#${i}: bot ${via.index} killed ${delay} ms after ${requestId ?? 'no request'} / ${ticketId}`);
      const restart = bots.start(via.index).finally(() => restarts.delete(via.index));
      restarts.set(via.index, restart);

      const problems = await hostsAgreeWithStore();
      expect(problems, `iteration ${i} (FAULT_SEED=${SEED}):\n${log.slice(-3).join('\n')}`).toEqual([]);
      if ((i + 1) % 10 === 0) process.stderr.write(`kill loop: ${i + 1} iterations in ${Math.round((Date.now() - began) / 1000)} s\n`);
    }
    await Promise.all(restarts.values());

    // Settled: every grant written and ended (a day is DAY_MS), every task done, every ticket
    // final, every mail sent. The ceiling is the longest lease (a mail's, 31 s) plus sweeps.
    const unsettled = async () => {
      const out: string[] = [];
      const apps = await models().Application.find({ requestId: { $in: requests } }).lean();
      for (const a of apps) if (a.status !== ApplicationStatus.granted) out.push(`application ${a.requestId} status ${a.status}`);
      for (const g of await models().Grant.find({ status: GrantStatus.valid }).lean<Grant[]>()) out.push(`grant ${g.grantId} still valid`);
      for (const t of await models().Task.find({ status: { $ne: TaskStatus.done } }).lean<ProvisionTask[]>()) out.push(`task ${t.type} ${t.grantId} status ${t.status}`);
      for (const t of await ticketModel(db).find({ ticketId: { $in: ticketIds }, state: { $nin: ['succeeded', 'failed'] } }).lean()) out.push(`ticket ${t.ticketId} ${t.state}`);
      for (const m of await mailModel(db).find({ status: { $ne: 1 } }).lean()) out.push(`mail ${m.messageId} status ${m.status} attempts ${m.attempts}`);
      return out;
    };
    let left: string[] = [];
    const settled = await eventually(
      'the work settled',
      async () => {
        left = await unsettled();
        return left.length === 0;
      },
      SETTLE_CEILING_MS,
    ).catch(() => false);
    expect(settled ? [] : left, `FAULT_SEED=${SEED}: still not final once every lease has run out`).toEqual([]);

    // Keys: every grant ended, and no line left on any host.
    expect([...hostLines().keys()], `FAULT_SEED=${SEED}`).toEqual([]);
    expect(await hostsAgreeWithStore()).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(ITERATIONS / 2);
    expect(await models().Grant.countDocuments({ requestId: { $in: requests } })).toBe(requests.length);

    // Tickets: none ran twice; a run that succeeded wrote its line once; a failed one was
    // interrupted by a kill (its line is there if the kill came after the write).
    const lines = fs.readFileSync(appendFile, 'utf8').split('\n').filter(Boolean);
    const ranTwice = [...refs.values()].filter((r) => lines.filter((l) => l === r).length > 1);
    expect(ranTwice, `FAULT_SEED=${SEED}`).toEqual([]);
    const finals = await ticketModel(db).find({ ticketId: { $in: ticketIds } }).lean();
    expect(finals).toHaveLength(ticketIds.length);
    for (const t of finals) if (t.state === 'succeeded') expect(lines.filter((l) => l === refs.get(t.ticketId)), t.ticketId).toHaveLength(1);

    // Mail: each queued message reached the SMTP server once (by its Message-ID), but for the
    // one window no sender can close (src/services/mail.ts): the server accepted it and the bot
    // was killed before it could write "sent". Such a copy arrives again with the same
    // Message-ID, and only when its first copy was accepted right before a kill.
    const bare = (id: string | undefined) => (id ?? '').replace(/^<|>$/g, '');
    const received = world.smtp.received.map((m) => bare(m.parsed.messageId));
    const twice = [...new Set(received.filter((id, n) => received.indexOf(id) !== n))];
    // Such a mail's record shows it: a second attempt though no attempt failed (the first one's
    // claim lapsed with its killed sender; a live send is cut off long before its claim ends).
    // And its first copy came around a kill: the server records it once parsed (before its 250
    // reply), which may end after the kill, or the kill may come a store write later; generous,
    // as both are slow on two loaded cores (1.6 s seen).
    const KILL_WINDOW_MS = 5000;
    const nearestKill = (at: number) => Math.min(...killedAt.map((k) => Math.abs(k - at)));
    const records = new Map((await mailModel(db).find().lean()).map((m) => [bare(m.messageId), m]));
    const notAtAKill = twice
      .map((id) => ({ id, first: world.smtp.received.find((m) => bare(m.parsed.messageId) === id)!.at, record: records.get(id) }))
      .filter(({ first, record }) => nearestKill(first) > KILL_WINDOW_MS || !record || record.attempts < 2 || record.lastError)
      .map(({ id, first, record }) => `${id}: first copy ${new Date(first).toISOString()}, nearest kill ${nearestKill(first)} ms away, attempts ${record?.attempts}, last error ${record?.lastError ?? 'none'}`);
    expect(notAtAKill, `FAULT_SEED=${SEED}: mails received twice with no kill at the first copy`).toEqual([]);
    expect(received.filter((id) => twice.includes(id)).length, `FAULT_SEED=${SEED}: a mail received more than twice`).toBe(twice.length * 2);
    const queued = await mailModel(db).find().lean();
    expect(queued.filter((m) => !received.includes(bare(m.messageId))).map((m) => m.messageId), 'sent but never received').toEqual([]);

    const succeeded = finals.filter((t) => t.state === 'succeeded').length;
    process.stderr.write(
      `kill loop: FAULT_SEED=${SEED}: ${killedAt.length} kills in ${Math.round((Date.now() - began) / 1000)} s, ${requests.length} grants written and removed, ${succeeded}/${finals.length} tickets succeeded (the rest interrupted), ${queued.length} mails, ${twice.length} sent again after a kill in the accepted-but-not-recorded window\n`,
    );
  });
});
