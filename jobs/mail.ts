/**
 * `mail:drain` sends the mail queue: every minute, and right after a message is queued (the
 * service's kick). The job carries no data: the queue in MongoDB is the work list.
 */
import type { Agenda } from 'agenda';
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
  agenda.define(
    MAIL_DRAIN,
    async () => {
      await deps.mail.drain();
    },
    // One drain per instance at a time; kicks are one-off jobs, removed once they have run so a
    // busy day does not leave a trail of finished jobs behind.
    { concurrency: 1, lockLifetime: opts.lockLifetimeMs ?? 5 * 60 * 1000, removeOnComplete: true },
  );
  await agenda.every(opts.interval ?? '1 minute', MAIL_DRAIN);
}

/** The service's `kick`: a one-off drain, run at the scheduler's next scan. */
export function mailDrainKick(agenda: Agenda): () => Promise<void> {
  return async () => {
    await agenda.now(MAIL_DRAIN);
  };
}
