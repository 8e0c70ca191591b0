/**
 * Agenda 6 on the store, shared by every job. Several bot instances may run against one
 * MongoDB: Agenda's findAndModify locks make each job run once.
 */
import { Agenda, InMemoryNotificationChannel } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import type { Db } from 'mongodb';
import type { Logger } from '../logger.js';

export interface SchedulerOptions {
  db: Db;
  logger: Logger;
  /** How often this instance looks for due jobs. */
  processEveryMs?: number;
  /** A lock older than this is taken over by another instance (the holder is presumed dead). */
  lockLifetimeMs?: number;
  /** Name written into `lastModifiedBy`, to tell instances apart. */
  name?: string;
}

export function createScheduler(opts: SchedulerOptions): Agenda {
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: opts.db, collection: 'agendaJobs' }),
    name: opts.name ?? `opsgate-${process.pid}`,
    processEvery: opts.processEveryMs ?? 5_000,
    maxConcurrency: 20,
    defaultLockLifetime: opts.lockLifetimeMs ?? 10 * 60 * 1000,
    // A job queued with now() runs at once in this instance instead of at the next poll;
    // other instances still find due jobs by polling.
    notificationChannel: new InMemoryNotificationChannel(),
  });
  const log = opts.logger.child({ component: 'scheduler' });
  agenda.on('fail', (err: Error, job: { attrs: { name: string } }) => log.warn({ job: job.attrs.name, err: err.message }, 'job failed'));
  agenda.on('error', (err: Error) => log.error({ err: err.message }, 'scheduler error'));
  return agenda;
}

/**
 * The lock of a sweep that is a few store queries (lost jobs, stranded tickets). Agenda's
 * default lock is 10 minutes: a bot killed mid-sweep stopped that sweep on every instance, and
 * the recovery it does, for that long.
 */
export const SWEEP_LOCK_LIFETIME_MS = 60_000;

/** Marks the one-off runs `coalescedKick` schedules, apart from the job's repeating run. */
const KICK_DATA = { kick: true } as const;
/** A kick waiting to run: not taken by a worker yet (unlocked) and still scheduled. */
export const PENDING_KICK_FILTER = { 'data.kick': true, lockedAt: null, nextRunAt: { $ne: null } };

/**
 * A kick for job `name` that keeps at most one run waiting, however many callers kick: a storm
 * of 5,000 queued mails asks for one drain, not 5,000.
 *
 * The waiting run is an upsert on the job's unlocked, still-scheduled kick (Agenda `unique`).
 * A kick that is already running has `lockedAt` set and a finished one has no `nextRunAt`, so
 * neither matches: a kick arriving while a run is under way schedules the next run, which
 * starts after the caller's write and so sees it. Within one instance, calls made while an
 * upsert is on its way share the next one (one in flight, one queued), so a storm costs two
 * store writes at a time instead of one per caller. The store runs each upsert atomically; on
 * a real MongoDB two instances upserting at the same moment may leave two waiting runs, which
 * is harmless (each run claims its own work).
 */
export function coalescedKick(agenda: Agenda, name: string): () => Promise<void> {
  const upsert = async (): Promise<void> => {
    await agenda.create(name, KICK_DATA).unique(PENDING_KICK_FILTER).schedule(new Date()).save();
  };
  let inFlight: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const start = (): Promise<void> => {
    const p = upsert().finally(() => {
      if (inFlight === p) inFlight = null;
    });
    inFlight = p;
    return p;
  };
  return () => {
    if (!inFlight) return start();
    // The upsert in flight may have reached the store before this caller's write: wait for it,
    // then make one more that every caller arriving meanwhile shares.
    next ??= inFlight
      .catch(() => undefined)
      .then(() => {
        next = null;
        return start();
      });
    return next;
  };
}
