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
