/**
 * `mail:drain` sends the mail queue: every minute, and right after a message is queued (the
 * service's kick). The queue in MongoDB is the work list: the repeating job carries no data,
 * a kick only `{ kick: true }`.
 */
import type { Agenda } from 'agenda';
import { coalescedKick } from '../src/adapters/scheduler.js';
import type { MailService } from '../src/services/mail.js';

export const MAIL_DRAIN = 'mail:drain';

export interface MailJobDeps {
  mail: Pick<MailService, 'drain'>;
}

export interface MailJobOptions {
  /** How often the drain runs on its own (Agenda interval: ms or text such as '1 minute'). */
  interval?: string | number;
  /**
   * After this, another instance presumes the drain dead and may run it. The queue's own claims
   * keep that safe even when the first drain is merely slow, so this is short: it bounds how
   * long a bot that died mid-drain keeps the minute drain from running elsewhere.
   */
  lockLifetimeMs?: number;
}

/** Defines the drain and its repeating schedule; call again after a restart, it stays one job. */
export async function defineMailJobs(agenda: Agenda, deps: MailJobDeps, opts: MailJobOptions = {}): Promise<void> {
  const again = mailDrainKick(agenda);
  agenda.define(
    MAIL_DRAIN,
    async () => {
      const s = await deps.mail.drain();
      // One drain sends a batch at most, and kicks share one run: a backlog bigger than a batch
      // is worked off by runs kicking the next, not left to the minute run. The run after the
      // last batch finds nothing and kicks no more.
      if (s.sent + s.retrying + s.failed + s.lost > 0) await again();
    },
    // One drain per instance at a time, and one locked: without lockLimit Agenda would lock
    // every kick it hears of into its in-memory queue, so a new kick (matching no unlocked one)
    // would be added each time. Kicks are one-off jobs, removed once they have run so a busy
    // day does not leave a trail of finished jobs behind.
    { concurrency: 1, lockLimit: 1, lockLifetime: opts.lockLifetimeMs ?? 5 * 60 * 1000, removeOnComplete: true },
  );
  await agenda.every(opts.interval ?? '1 minute', MAIL_DRAIN);
}

/**
 * The service's `kick`: a one-off drain, run at once by this instance (or at another's next
 * scan). Kicks share one waiting drain, so a storm of mails does not pile up drain jobs.
 */
export function mailDrainKick(agenda: Agenda): () => Promise<void> {
  return coalescedKick(agenda, MAIL_DRAIN);
}
