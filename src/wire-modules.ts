/**
 * Module runs and job control from the shared core: the jobs model, the run service over the
 * execution engine (output into the chunked log store beside the tickets' logs, under
 * `<jobId>/<host>`), and the lost-job sweep. createOpsgate calls it once per instance.
 */
import type { RunObserver } from './services/run-observer.js';
import { defineModuleJobs } from '../jobs/modules.js';
import { defaultInstanceId } from './instance-id.js';
import { jobModel } from './models/jobs.js';
import { ticketLogModels } from './models/ticket-log.js';
import type { ModuleCatalog } from './services/modules/catalog.js';
import type { RunNotifier } from './services/modules/ports.js';
import { RunFormService } from './services/modules/run-form.js';
import { ModuleRuns, type ModuleRunOptions } from './services/modules/runs.js';
import { TicketLogStore } from './services/tickets/log-store.js';
import type { TicketLogSink } from './services/tickets/ports.js';
import type { TicketsCore } from './wire-tickets.js';

/** The shared core the ticket wiring takes, with the module catalog (filled by every catalog load). */
export type ModulesCore = Omit<TicketsCore, 'catalog'> & { catalog: ModuleCatalog };

export interface ModulesOptions extends ModuleRunOptions {
  /** This instance's name on the jobs it runs; host name + pid + random by default. */
  instanceId?: string;
  log?: TicketLogSink;
  /** The Slack side (notify/run-notifier.ts); none: runs are told to nobody. */
  notifier?: RunNotifier;
  /** Told of each run's end (the metrics). */
  observer?: RunObserver;
}

export function wireModules(core: ModulesCore, opts: ModulesOptions = {}) {
  const model = jobModel(core.conn);
  const log = opts.log ?? new TicketLogStore({ ...ticketLogModels(core.conn), clock: core.clock, logger: core.logger });
  const instanceId = opts.instanceId ?? defaultInstanceId();
  const runs = new ModuleRuns({ ...core, model, log, instanceId, notifier: opts.notifier, observer: opts.observer }, opts);
  const jobs = defineModuleJobs(core.agenda, { runs, logger: core.logger });
  const form = new RunFormService(core);
  // What /jobs output reads from: the chunked store, not a test's other sink.
  const logReader = log instanceof TicketLogStore ? log : null;
  return { runs, form, model, jobs, log, logReader, instanceId };
}
