/**
 * `/jobs` over both kinds of job: module runs (`J-…`, services/modules/runs.ts) and ticket runs
 * (`TK-…`, services/tickets/ticket-jobs.ts). Each keeps its own rules (who sees, who may
 * signal); this only joins the lists and sends an id to the service that owns it.
 */
import type { SignalRequest } from '../../models/signal-request.js';
import type { Job } from '../../models/jobs.js';
import type { ModuleRuns } from '../modules/runs.js';
import type { TicketJob, TicketJobDetails, TicketJobs } from '../tickets/ticket-jobs.js';

export interface RunningJobs {
  modules: Job[];
  tickets: TicketJob[];
}

export type FoundJob = { kind: 'module'; job: Job } | { kind: 'ticket'; job: TicketJobDetails };
export type SignalledJob = { kind: 'module'; job: Job } | { kind: 'ticket'; job: TicketJob; request: SignalRequest };

/** A ticket's id as `/jobs` takes it (the parser has checked its shape). */
const isTicketId = (id: string): boolean => id.startsWith('TK-');

export class JobControl {
  constructor(private readonly deps: { modules: ModuleRuns; tickets: TicketJobs }) {}

  /** Running jobs of every instance that the asker may see (seed 000's `running`). */
  async running(slackUserId: string): Promise<RunningJobs> {
    const modules = await this.deps.modules.running(slackUserId);
    return { modules, tickets: await this.deps.tickets.running(slackUserId) };
  }

  async find(slackUserId: string, id: string): Promise<FoundJob> {
    if (isTicketId(id)) return { kind: 'ticket', job: await this.deps.tickets.find(slackUserId, id) };
    return { kind: 'module', job: await this.deps.modules.find(slackUserId, id) };
  }

  async signal(slackUserId: string, id: string, signal: string): Promise<SignalledJob> {
    if (isTicketId(id)) return { kind: 'ticket', ...(await this.deps.tickets.signal(slackUserId, id, signal)) };
    return { kind: 'module', job: await this.deps.modules.signal(slackUserId, id, signal) };
  }
}
