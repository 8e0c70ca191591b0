/**
 * Agenda 6 with @agendajs/mongo-backend on the store: scheduling, repetition, two instances
 * sharing the work without running a job twice, and taking over the job of a killed instance
 * once its lock has expired. These depend on the store's atomic findAndModify, null/missing
 * matching and Date comparison exactly as a standalone MongoDB 7 provides them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agenda, type Job } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

let store: TestStore;
let dbpath: string;
let client: MongoClient;
let db: Db;
/** Every Agenda created here, stopped in afterAll even when a test failed half-way. */
const agendas: Agenda[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  // A journaled store, as the bot runs it: every acknowledged lock is on disk.
  dbpath = tempDir('agenda');
  store = await startTestStore({ dbpath });
  client = await MongoClient.connect(store.uri, { serverSelectionTimeoutMS: 5000 });
  db = client.db(store.dbName);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const a of agendas) await a.stop(false).catch(() => undefined);
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
  await store?.stop();
  if (dbpath) fs.rmSync(dbpath, { recursive: true, force: true });
});

function makeAgenda(collection: string, opts: { name: string; lockLifetime?: number }): Agenda {
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: db, collection }),
    name: opts.name,
    processEvery: 100,
    defaultLockLifetime: opts.lockLifetime ?? 10 * 60 * 1000,
  });
  agendas.push(agenda);
  return agenda;
}

async function stopAgenda(agenda: Agenda): Promise<void> {
  await agenda.stop(false);
  agendas.splice(agendas.indexOf(agenda), 1);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true; fails the test (not on speed: on a generous ceiling) otherwise. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ceilingMs = 10_000): Promise<void> {
  const until = Date.now() + ceilingMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('Agenda on the embedded store', () => {
  it('runs a job scheduled one second ahead exactly once, not before its time', async () => {
    const agenda = makeAgenda('jobsOnce', { name: 'once-1' });
    const runs: Date[] = [];
    agenda.define('send-reminder', async () => {
      runs.push(new Date());
    });
    await agenda.ready;
    await agenda.start();
    const due = new Date(Date.now() + 1000);
    const job = await agenda.schedule(due, 'send-reminder', { ticket: 'T-1' });
    expect(job.attrs._id).toBeDefined();

    await waitFor('the scheduled job to run', () => runs.length > 0);
    await sleep(1500); // several more scans: a second run would show up here
    await stopAgenda(agenda);

    expect(runs).toHaveLength(1);
    // Not before its time (Node timers may fire a millisecond early, hence the small allowance).
    expect(runs[0]!.getTime()).toBeGreaterThanOrEqual(due.getTime() - 10);
    const stored = await db.collection('jobsOnce').findOne({ _id: new ObjectId(String(job.attrs._id)) });
    expect(stored).toMatchObject({ name: 'send-reminder', data: { ticket: 'T-1' }, nextRunAt: null, lockedAt: null });
    expect(stored?.lastFinishedAt).toBeInstanceOf(Date);
  });

  it('repeats an every() job', async () => {
    const agenda = makeAgenda('jobsEvery', { name: 'every-1' });
    let runs = 0;
    agenda.define('poll-hosts', async () => {
      runs++;
    });
    await agenda.ready;
    await agenda.start();
    await agenda.every(300, 'poll-hosts');
    // every() keeps one job per name, even when called again (as after a restart).
    await agenda.every(300, 'poll-hosts');
    await waitFor('two runs of the repeating job', () => runs >= 2);
    await stopAgenda(agenda);

    expect(runs).toBeGreaterThanOrEqual(2);
    const stored = await db.collection('jobsEvery').find({ name: 'poll-hosts' }).toArray();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ type: 'single', repeatInterval: 300 });
    expect(stored[0]?.nextRunAt).toBeInstanceOf(Date);
  });

  it('keeps one repeating job per entity with unique() and runs each of them', async () => {
    const agenda = makeAgenda('jobsPerHost', { name: 'per-host-1' });
    const runs: string[] = [];
    agenda.define('check-host', async (job: Job<{ id: string }>) => {
      runs.push(job.attrs.data.id);
    });
    await agenda.ready;
    // Saved twice for h1 (as after a restart): the upsert on {name, 'data.id'} keeps one job.
    for (const id of ['h1', 'h2', 'h1']) {
      await agenda.create('check-host', { id }).repeatEvery('1 hour').unique({ 'data.id': id }).save();
    }
    const stored = await db.collection('jobsPerHost').find({ name: 'check-host' }, { sort: { 'data.id': 1 } }).toArray();
    expect(stored.map((j) => j.data)).toEqual([{ id: 'h1' }, { id: 'h2' }]);
    await agenda.start();
    await waitFor('both per-host jobs to run', () => runs.length >= 2);
    await sleep(500);
    await stopAgenda(agenda);
    expect(runs.sort()).toEqual(['h1', 'h2']); // once each: the next run is an hour away
    const after = await db.collection('jobsPerHost').find({ name: 'check-host', nextRunAt: { $gt: new Date(Date.now() + 30 * 60 * 1000) } }).toArray();
    expect(after).toHaveLength(2);
  });

  it('shares N jobs between two instances so that each runs exactly once', async () => {
    const N = 40;
    const runs: Array<{ i: number; by: string }> = [];
    const instances = ['worker-a', 'worker-b'].map((name) => {
      const agenda = makeAgenda('jobsShared', { name });
      agenda.define('rotate-key', async (job: Job<{ i: number }>) => {
        runs.push({ i: job.attrs.data.i, by: name });
        await db.collection('sharedRuns').insertOne({ i: job.attrs.data.i, by: name });
        await sleep(10);
      });
      return agenda;
    });
    await Promise.all(instances.map((a) => a.ready));
    // Schedule first, for a moment shortly ahead, so both instances compete for every job.
    const due = new Date(Date.now() + 500);
    for (let i = 0; i < N; i++) await instances[0]!.schedule(due, 'rotate-key', { i });
    await Promise.all(instances.map((a) => a.start()));

    await waitFor(`${N} runs`, () => runs.length >= N);
    await sleep(1500); // let both keep scanning: a duplicate run would show up now
    for (const a of instances) await stopAgenda(a);

    const seen = runs.map((r) => r.i).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i)); // none missing, none twice
    expect(await db.collection('sharedRuns').countDocuments()).toBe(N);
    const perInstance = await db
      .collection('sharedRuns')
      .aggregate<{ _id: string; n: number }>([{ $group: { _id: '$by', n: { $sum: 1 } } }, { $sort: { _id: 1 } }])
      .toArray();
    expect(perInstance.reduce((n, r) => n + r.n, 0)).toBe(N);
    expect(perInstance.map((r) => r._id)).toEqual(['worker-a', 'worker-b']); // both took a share
    expect(await db.collection('jobsShared').countDocuments({ name: 'rotate-key', lastFinishedAt: { $ne: null } })).toBe(N);
    expect(await db.collection('jobsShared').countDocuments({ lockedAt: { $ne: null } })).toBe(0);
  });

  it("takes over a killed instance's locked job after the lock lifetime and completes it once", async () => {
    const JOB = 'renew-cert';
    // Instance 2 is created first only to schedule the job; it starts processing after the kill.
    const survivor = makeAgenda('jobsTakeover', { name: 'worker-survivor' });
    const survivorRuns: string[] = [];
    survivor.define(
      JOB,
      async (job) => {
        await db.collection('runs').insertOne({ jobId: String(job.attrs._id), instance: 'worker-survivor', phase: 'start', at: new Date() });
        survivorRuns.push(String(job.attrs._id));
        await db.collection('runs').insertOne({ jobId: String(job.attrs._id), instance: 'worker-survivor', phase: 'done', at: new Date() });
      },
      { lockLifetime: 1500 },
    );
    await survivor.ready;
    const scheduled = await survivor.now(JOB, { host: 'web-1' });
    const jobId = String(scheduled.attrs._id);

    // Instance 1: a separate process that locks the job, starts it and hangs.
    const fixture = fileURLToPath(new URL('../fixtures/agenda-hanging-worker.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, store.uri, store.dbName, 'jobsTakeover', JOB], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)), // where `--import tsx` resolves
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor(`the child worker to start the job (stderr: ${err})`, () => out.includes(`STARTED ${jobId}`), 15_000);

    const locked = await db.collection('jobsTakeover').findOne({ _id: new ObjectId(jobId) });
    expect(locked?.lockedAt).toBeInstanceOf(Date);
    expect(locked?.lastModifiedBy).toBe('worker-killed');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');

    // The killed process never unlocked the job: it stays locked until the lifetime passes.
    const stillLocked = await db.collection('jobsTakeover').findOne({ _id: new ObjectId(jobId) });
    expect(stillLocked?.lockedAt).toEqual(locked?.lockedAt);
    expect(stillLocked?.lastFinishedAt).toBeNull();

    await survivor.start();
    await waitFor('the survivor to complete the job', async () => (await db.collection('runs').countDocuments({ jobId, phase: 'done' })) > 0);
    await sleep(1000); // further scans must not run it again
    await stopAgenda(survivor);

    expect(survivorRuns).toEqual([jobId]);
    const runs = await db.collection('runs').find({ jobId }, { sort: { at: 1 }, projection: { _id: 0, instance: 1, phase: 1 } }).toArray();
    expect(runs).toEqual([
      { instance: 'worker-killed', phase: 'start' },
      { instance: 'worker-survivor', phase: 'start' },
      { instance: 'worker-survivor', phase: 'done' },
    ]);
    const finished = await db.collection('jobsTakeover').findOne({ _id: new ObjectId(jobId) });
    expect(finished?.lastFinishedAt).toBeInstanceOf(Date);
    expect(finished?.lastModifiedBy).toBe('worker-survivor');
    expect(finished?.lockedAt).toBeNull();
    expect(finished?.failCount ?? null).toBeNull();
  });
});
