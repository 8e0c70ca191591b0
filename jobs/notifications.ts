/**
 * `notifications:drain` sends the Slack notification outbox: every few seconds, and right after
 * a message had to be queued (the outbox's kick).
 */
import type { Agenda } from 'agenda';
import { coalescedKick } from '../src/adapters/scheduler.js';
import type { NotificationOutbox } from '../src/services/notifications/outbox.js';
import { defineDrainJob } from './drain.js';

export const NOTIFICATIONS_DRAIN = 'notifications:drain';

export interface NotificationJobOptions {
  /** How often the drain runs on its own: also how soon a message that is backing off is tried again. */
  interval?: string | number;
  lockLifetimeMs?: number;
}

export async function defineNotificationJobs(agenda: Agenda, deps: { outbox: Pick<NotificationOutbox, 'drain'> }, opts: NotificationJobOptions = {}): Promise<void> {
  await defineDrainJob(
    agenda,
    NOTIFICATIONS_DRAIN,
    async () => {
      // Retrying entries wait for their backoff, so they do not call for another run at once.
      const s = await deps.outbox.drain();
      return s.sent + s.failed + s.lost > 0;
    },
    { interval: opts.interval ?? '10 seconds', lockLifetimeMs: opts.lockLifetimeMs ?? 2 * 60 * 1000 },
  );
}

export function notificationsDrainKick(agenda: Agenda): () => Promise<void> {
  return coalescedKick(agenda, NOTIFICATIONS_DRAIN);
}
