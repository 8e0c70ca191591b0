/**
 * Ops ticket jobs: asking approvers, running a ticket (now after approval, right after its
 * pre-task, or at its chosen time), and the sweep that ends runs whose bot died and requeues
 * due runs a crash lost. A run job carries only the ticket id; the ticket's own conditional
 * claim (approved -> running) makes a second job for the same ticket do nothing.
 */
import type { Agenda, Job } from 'agenda';
import { SWEEP_LOCK_LIFETIME_MS } from '../src/adapters/scheduler.js';
import { z } from 'zod';
import type { Logger } from '../src/logger.js';
import type { TicketExecutor } from '../src/services/tickets/executor.js';
import type { TicketRecords } from '../src/services/tickets/records.js';
import type { TicketService } from '../src/services/tickets/tickets.js';
import type { Clock } from '../src/clock.js';

export const TICKET_ASK = 'tickets:ask';
export const TICKET_RUN = 'tickets:run';
export const TICKET_SWEEP = 'tickets:sweep';

/** An approval queues its run within milliseconds; a minute without it means the bot died in between. */
const STRANDED_GRACE_MS = 60_000;

const payload = z.object({ ticketId: z.string().regex(/^TK-[A-Z0-9]{6}$/) });

export interface TicketJobDeps {
  tickets: TicketService;
  executor: TicketExecutor;
  records: TicketRecords;
  clock: Clock;
  logger: Logger;
}

/** Defines the jobs; returns the functions the services use to queue them. */
export function defineTicketJobs(agenda: Agenda, opts: { lockLifetimeMs?: number } = {}) {
  let deps: TicketJobDeps | undefined;
  const need = (): TicketJobDeps => {
    if (!deps) throw new Error('ticket jobs ran before their services were attached');
    return deps;
  };
  agenda.define(
    TICKET_ASK,
    async (job: Job<{ ticketId: string }>) => {
      await need().tickets.askCurrentLevel(payload.parse(job.attrs.data).ticketId);
    },
    { concurrency: 5, removeOnComplete: true },
  );
  agenda.define(
    TICKET_RUN,
    async (job: Job<{ ticketId: string }>) => {
      const { ticketId } = payload.parse(job.attrs.data);
      const d = need();
      const t = await d.records.find(ticketId);
      if (!t || t.state !== 'approved' || !t.queued) return; // revoked, rejected, run by hand, or run already
      if (t.runAt && t.runAt.getTime() > d.clock.now().getTime()) {
        // Woken early (clocks differ between instances): come back at the ticket's time.
        await agenda.schedule(t.runAt, TICKET_RUN, { ticketId });
        return;
      }
      await d.executor.claimAndRun(ticketId, 'system:tickets', { queued: true });
    },
    // A run lasts up to its template's timeout; the lock must outlive it or another instance would take the job over.
    { concurrency: 10, lockLifetime: opts.lockLifetimeMs ?? 25 * 3_600_000, removeOnComplete: true },
  );
  agenda.define(
    TICKET_SWEEP,
    async () => {
      const d = need();
      const r = await d.executor.recover(async (ticketId) => void (await agenda.now(TICKET_RUN, { ticketId })));
      const stranded = await d.tickets.queueStranded(STRANDED_GRACE_MS);
      if (r.interrupted > 0 || r.requeued > 0 || stranded > 0) d.logger.info({ job: TICKET_SWEEP, ...r, stranded }, 'ticket sweep');
    },
    { concurrency: 1, lockLifetime: SWEEP_LOCK_LIFETIME_MS, removeOnComplete: true },
  );
  return {
    attach(d: TicketJobDeps): void {
      deps = d;
    },
    enqueueAsk: async (ticketId: string): Promise<void> => {
      await agenda.now(TICKET_ASK, { ticketId });
    },
    enqueueRun: async (ticketId: string): Promise<void> => {
      await agenda.now(TICKET_RUN, { ticketId });
    },
    scheduleRun: async (ticketId: string, at: Date): Promise<void> => {
      await agenda.schedule(at, TICKET_RUN, { ticketId });
    },
    cancelRun: async (ticketId: string): Promise<void> => {
      await agenda.cancel({ name: TICKET_RUN, data: { ticketId } });
    },
    /** The sweep every minute; a first one runs at once (a restart's recovery). */
    scheduleRecurring: async (sweepMs = 60_000): Promise<void> => {
      await agenda.every(sweepMs, TICKET_SWEEP, {});
    },
  };
}
