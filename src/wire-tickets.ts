/**
 * Ops tickets from the shared core: the models, the services, the config-center runner over
 * the execution engine, the chunked log store (task output streamed into it as it arrives),
 * and the jobs. createOpsgate calls it once; the Slack side (commands, blocks, the Slack/mail
 * notifier) plugs in through `opts`, and tests may hand in another log sink.
 */
import type { RunObserver } from './services/run-observer.js';
import type { Agenda } from 'agenda';
import type { Connection } from 'mongoose';
import { defineTicketJobs } from '../jobs/tickets.js';
import { defaultInstanceId } from './instance-id.js';
import type { ExecutionEngine } from './adapters/exec/engine.js';
import type { SshTarget } from './adapters/exec/types.js';
import { configCenterRunner } from './adapters/tickets/config-center.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Host } from './models/inventory.js';
import { ticketModel } from './models/tickets.js';
import type { AuditLog } from './services/audit.js';
import type { DirectoryService } from './services/directory/directory.js';
import type { InventoryService } from './services/inventory.js';
import type { RbacService } from './services/rbac.js';
import type { TicketCatalog } from './services/tickets/catalog.js';
import { TicketExecutor, type ExecutorOptions } from './services/tickets/executor.js';
import { ticketLogModels } from './models/ticket-log.js';
import { TicketLogStore } from './services/tickets/log-store.js';
import type { TicketLogSink, TicketNotifier } from './services/tickets/ports.js';
import { TicketRecords } from './services/tickets/records.js';
import { TicketService } from './services/tickets/tickets.js';
import { TicketJobs } from './services/tickets/ticket-jobs.js';
import { ticketTemplateSwitchModel } from './models/ticket-template-switch.js';
import { TemplateSwitches } from './services/tickets/template-switch.js';

export interface TicketsCore {
  conn: Connection;
  agenda: Agenda;
  directory: DirectoryService;
  inventory: InventoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  engine: ExecutionEngine;
  toTarget: (h: Host) => SshTarget;
  /** Filled by every catalog load (InventoryService's onReload). */
  catalog: TicketCatalog;
}

export interface TicketsOptions {
  /** This instance's name on the tickets whose tasks it runs; host name + pid + random by default. */
  instanceId?: string;
  log?: TicketLogSink;
  notifier?: TicketNotifier;
  executor?: ExecutorOptions;
  /** Told of each run's end (the metrics). */
  observer?: RunObserver;
}

/** Until the Slack notifier exists: events go to the log (ids and states only, no text). */
function logOnlyNotifier(logger: Logger): TicketNotifier {
  const note = (event: string) => async (d: { ticket: { ticketId: string; state: string } }) => void logger.info({ event, ticketId: d.ticket.ticketId, state: d.ticket.state }, 'ticket event');
  return { approvalNeeded: async (d) => (await note('approvalNeeded')(d), []), refreshApprovals: note('refreshApprovals'), decided: note('decided'), started: async (d) => (await note('started')(d), null), progress: note('progress'), finished: note('finished') };
}

export function wireTickets(core: TicketsCore, opts: TicketsOptions = {}) {
  const model = ticketModel(core.conn);
  const records = new TicketRecords({ model, audit: core.audit, clock: core.clock, directory: core.directory });
  const runner = configCenterRunner({ engine: core.engine, hostByName: (n) => core.inventory.hostByName(n), toTarget: core.toTarget });
  const log = opts.log ?? new TicketLogStore({ ...ticketLogModels(core.conn), clock: core.clock, logger: core.logger });
  const notifier = opts.notifier ?? logOnlyNotifier(core.logger);
  const instanceId = opts.instanceId ?? defaultInstanceId();
  const executor = new TicketExecutor({ model, records, catalog: core.catalog, runner, log, notifier, clock: core.clock, logger: core.logger, instanceId, observer: opts.observer }, opts.executor);
  const jobs = defineTicketJobs(core.agenda);
  const switches = new TemplateSwitches({ model: ticketTemplateSwitchModel(core.conn), catalog: core.catalog, directory: core.directory, rbac: core.rbac, audit: core.audit, clock: core.clock });
  const tickets = new TicketService({
    model,
    records,
    catalog: core.catalog,
    switches,
    executor,
    runner,
    log,
    notifier,
    directory: core.directory,
    inventory: core.inventory,
    rbac: core.rbac,
    audit: core.audit,
    clock: core.clock,
    logger: core.logger,
    enqueueAsk: jobs.enqueueAsk,
    enqueueRun: jobs.enqueueRun,
    scheduleRun: jobs.scheduleRun,
    cancelRun: jobs.cancelRun,
  });
  jobs.attach({ tickets, executor, records, clock: core.clock, logger: core.logger });
  // The full-log file reads the chunked store; a sink handed in by a test may not be one.
  const logReader = log instanceof TicketLogStore ? log : null;
  // Running tickets as jobs for /jobs (list, show, signals), beside the module runs.
  const ticketJobs = new TicketJobs({ model, records, executor, log, directory: core.directory, rbac: core.rbac, clock: core.clock, viewable: (u, id) => tickets.viewable(u, id) });
  return { tickets, executor, records, model, jobs, log, switches, logReader, ticketJobs, instanceId };
}
