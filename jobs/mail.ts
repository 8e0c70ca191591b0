/**
 * `mail:drain` sends the mail queue: every minute, and right after a message is queued (the
 * service's kick).
 */
import type { Agenda } from 'agenda';
import { coalescedKick } from '../src/adapters/scheduler.js';
import type { MailService } from '../src/services/mail.js';
import { defineDrainJob } from './drain.js';

export const MAIL_DRAIN = 'mail:drain';

export interface MailJobDeps {
  mail: Pick<MailService, 'drain'>;
}

export interface MailJobOptions {
  /** How often the drain runs on its own (Agenda interval: ms or text such as '1 minute'). */
  interval?: string | number;
  /** See DrainJobOptions.lockLifetimeMs. */
  lockLifetimeMs?: number;
}

/** Defines the drain and its repeating schedule; call again after a restart, it stays one job. */
export async function defineMailJobs(agenda: Agenda, deps: MailJobDeps, opts: MailJobOptions = {}): Promise<void> {
  await defineDrainJob(
    agenda,
    MAIL_DRAIN,
    async () => {
      const s = await deps.mail.drain();
      return s.sent + s.retrying + s.failed + s.lost > 0;
    },
    { interval: opts.interval ?? '1 minute', lockLifetimeMs: opts.lockLifetimeMs ?? 5 * 60 * 1000 },
  );
}

/**
 * The service's `kick`: a one-off drain, run at once by this instance (or at another's next
 * scan). Kicks share one waiting drain, so a storm of mails does not pile up drain jobs.
 */
export function mailDrainKick(agenda: Agenda): () => Promise<void> {
  return coalescedKick(agenda, MAIL_DRAIN);
}
