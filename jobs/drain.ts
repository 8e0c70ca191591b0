/**
 * A queue drain as an Agenda job: a repeating run, plus one-off kicks that share one waiting
 * run (coalescedKick). The queue in MongoDB is the work list: the repeating job carries no
 * data, a kick only `{ kick: true }`. Used by the mail queue and the notification outbox.
 */
import type { Agenda } from 'agenda';
import { coalescedKick } from '../src/adapters/scheduler.js';

export interface DrainJobOptions {
  /** How often the drain runs on its own (Agenda interval: ms or text such as '1 minute'). */
  interval: string | number;
  /**
   * After this, another instance presumes the drain dead and may run it. The queue's own claims
   * keep that safe even when the first drain is merely slow, so this is short: it bounds how
   * long a bot that died mid-drain keeps the repeating drain from running elsewhere.
   */
  lockLifetimeMs: number;
}

/**
 * Defines the drain and its repeating schedule; call again after a restart, it stays one job.
 * `run` tells whether it did anything: one drain works a batch at most, so a run that did kicks
 * the next and a backlog is worked off by runs in a row, not left to the repeating run.
 */
export async function defineDrainJob(agenda: Agenda, name: string, run: () => Promise<boolean>, opts: DrainJobOptions): Promise<void> {
  const again = coalescedKick(agenda, name);
  agenda.define(
    name,
    async () => {
      if (await run()) await again();
    },
    // One drain per instance at a time, and one locked: without lockLimit Agenda would lock
    // every kick it hears of into its in-memory queue, so a new kick (matching no unlocked one)
    // would be added each time. Kicks are one-off jobs, removed once they have run so a busy
    // day does not leave a trail of finished jobs behind.
    { concurrency: 1, lockLimit: 1, lockLifetime: opts.lockLifetimeMs, removeOnComplete: true },
  );
  await agenda.every(opts.interval, name);
}
