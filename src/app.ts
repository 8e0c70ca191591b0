/**
 * Builds a running opsgate from a Config: store -> models -> services -> scheduler/jobs ->
 * Slack listeners -> HTTP. `src/main.ts` calls it for real; tests call it with a test store,
 * the fake Slack API and short intervals.
 */
import path from 'node:path';
import type { Agenda } from 'agenda';
import { WebClient } from '@slack/web-api';
import { placeholderSection } from '../blocks/home.js';
import { hostCheckMessage } from '../blocks/inventory.js';
import { registerHome, type HomeSectionProvider } from '../commands/home.js';
import { registerOpsgateCommand } from '../commands/opsgate.js';
import { inputGuard } from '../commands/input-guard.js';
import { recordRoutes } from './adapters/slack/routes.js';
import { defineDirectoryJobs } from '../jobs/directory.js';
import { defineMailJobs, mailDrainKick } from '../jobs/mail.js';
import { defineNotificationJobs, notificationsDrainKick } from '../jobs/notifications.js';
import { accessHomeBlocks } from '../blocks/access.js';
import { runsHomeBlocks } from '../blocks/runs.js';
import { registerAccess } from '../commands/access.js';
import { defineAccessJobs } from '../jobs/access.js';
import { defineInventoryJobs } from '../jobs/inventory.js';
import { HostKeysGateway } from './adapters/access/host-keys.js';
import { hostKeysPort } from './adapters/access/host-keys-port.js';
import { engineFromConfig } from './adapters/exec/engine-from-config.js';
import type { ExecutionEngine } from './adapters/exec/engine.js';
import { accessModels, GrantStatus, OPEN_APPLICATION_STATUSES, TaskStatus } from './models/access.js';
import type { Host } from './models/inventory.js';
import { accessNotifier, sshdProblemsMessage } from '../notify/access-notifier.js';
import { SlackMessenger } from '../notify/slack-dm.js';
import { slackDelivery } from './adapters/slack/delivery.js';
import { NotificationStatus, notificationModel } from './models/notification.js';
import { NotificationOutbox } from './services/notifications/outbox.js';
import { GrantService } from './services/access/grants.js';
import { ProvisioningWorker } from './services/access/provisioning.js';
import { AccessService } from './services/access/requests.js';
import { HostCheckService } from './services/host-check.js';
import { createMailTransport } from './adapters/mail-transport.js';
import { MailStatus, mailModel } from './models/mail.js';
import { Metrics, type MetricsSources } from './adapters/metrics.js';
import { MailService } from './services/mail.js';
import { createScheduler } from './adapters/scheduler.js';
import { createSlackApp, startHealthServer, type Health, type RunningHttp } from './adapters/slack/bolt-app.js';
import { slackPeople } from './adapters/slack/people.js';
import { slackFileUploader } from './adapters/slack/file-upload.js';
import { responseUrlPoster } from './adapters/slack/response-url.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { asAppError, registerStoreProbe } from './errors.js';
import type { Logger } from './logger.js';
import { auditModel } from './models/audit.js';
import { inventoryModels } from './models/inventory.js';
import { personModel } from './models/person.js';
import { rbacModels } from './models/rbac.js';
import { AuditLog } from './services/audit.js';
import { ConsoleService } from './services/console.js';
import { DirectoryService, type SlackPeople } from './services/directory/directory.js';
import { InventoryService } from './services/inventory.js';
import { RbacService } from './services/rbac.js';
import { openStore, type Store } from './store/connect.js';
import { TicketCatalog } from './services/tickets/catalog.js';
import type { TicketService } from './services/tickets/tickets.js';
import type { ModuleRuns } from './services/modules/runs.js';
import { wireTickets } from './wire-tickets.js';
import { ModuleCatalog } from './services/modules/catalog.js';
import { wireModules } from './wire-modules.js';
import { ticketLogModels } from './models/ticket-log.js';
import { TicketLogStore } from './services/tickets/log-store.js';
import { registerRuns } from '../commands/runs.js';
import { JobControl } from './services/jobs/job-control.js';
import { JobOutputFile } from './services/modules/output-file.js';
import { runNotifier } from '../notify/run-notifier.js';
import { ticketSlackNotifier, wireTicketsSlack } from './wire-tickets-slack.js';
import type { Loaded, StartupFacts } from './startup-summary.js';
import { startLocalWorkspace, workspaceWanted, type RunningWorkspace } from './workspace/start.js';
import { apiTokenModel } from './models/api-token.js';
import { ApiTokenService } from './services/api-tokens.js';
import { createApiHandler } from './api/http.js';

export interface OpsgateOptions {
  logger: Logger;
  clock?: Clock;
  /** Web API retries; tests pass 0. */
  slackRetries?: number;
  /** How often the scheduler looks for due jobs. */
  processEveryMs?: number;
}

export interface Services {
  audit: AuditLog;
  directory: DirectoryService;
  rbac: RbacService;
  inventory: InventoryService;
  console: ConsoleService;
  mail: MailService;
  access: AccessService;
  grants: GrantService;
  provisioning: ProvisioningWorker;
  hostCheck: HostCheckService;
  engine: ExecutionEngine;
  tickets: TicketService;
  moduleRuns: ModuleRuns;
  tokens: ApiTokenService;
}

export interface Opsgate {
  port: number;
  /** Set when Slack is not configured: the local workspace playing Slack's side. */
  workspace?: RunningWorkspace;
  store: Store;
  agenda: Agenda;
  services: Services;
  /** What src/main.ts tells a person at start (src/startup-summary.ts). */
  startup: StartupFacts;
  stop(): Promise<void>;
}

/** A start-up step's outcome for the summary: its value, or why it failed (the bot starts anyway). */
async function loaded<T>(step: Promise<T>): Promise<Loaded<T>> {
  return step.then(
    (value): Loaded<T> => ({ ok: true, value }),
    (err: unknown): Loaded<T> => ({ ok: false, problem: asAppError(err).message }),
  );
}

/** Without a bot token nobody can be looked up in Slack; the directory still works by stored ids. */
const noSlackPeople: SlackPeople = { emailOf: async () => undefined, idByEmail: async () => undefined };

export async function createOpsgate(config: Config, opts: OpsgateOptions): Promise<Opsgate> {
  const { logger } = opts;
  // No Slack credentials at all: the local workspace plays Slack, and the bot runs against it unchanged.
  const workspace = workspaceWanted(config) ? await startLocalWorkspace(config, logger) : undefined;
  if (workspace) config = workspace.config;
  const clock = opts.clock ?? systemClock;
  const store = await openStore(config, logger);
  const conn = store.connection;
  // A failure while the store connection is down is told as that: "try again in a minute".
  const unregisterStoreProbe = registerStoreProbe(() => conn.readyState !== 1);
  let schedulerUp = false;

  const slackEnabled = Boolean(config.SLACK_BOT_TOKEN && (config.SLACK_SIGNING_SECRET || config.SLACK_APP_TOKEN));
  const health = async (): Promise<Health> => {
    const storeUp = await store.ping();
    return { ok: storeUp && schedulerUp, store: storeUp ? 'up' : 'down', scheduler: schedulerUp ? 'up' : 'down', slack: slackEnabled ? 'configured' : 'not configured' };
  };
  // Read at scrape time; `engine` is built further down.
  let sshPool: () => ReturnType<MetricsSources['sshPool']> = () => undefined;
  const accessCollections = accessModels(conn);
  const metrics = new Metrics({
    openRequests: () => accessCollections.Application.countDocuments({ status: { $in: OPEN_APPLICATION_STATUSES } }),
    activeGrants: () => accessCollections.Grant.countDocuments({ status: GrantStatus.valid }),
    queueDepths: async () => ({
      mail: await mailModel(conn).countDocuments({ status: MailStatus.Pending }),
      notifications: await notificationModel(conn).countDocuments({ status: NotificationStatus.Pending }),
      tasks: await accessCollections.Task.countDocuments({ status: TaskStatus.notRun }),
    }),
    sshPool: () => sshPool(),
  }, { token: config.METRICS_TOKEN });
  const monitoredClient = conn.getClient();
  const observeStore = (e: { commandName: string; duration: number }) => metrics.storeOperation(e.commandName, e.duration / 1000);
  monitoredClient.on('commandSucceeded', observeStore);
  monitoredClient.on('commandFailed', observeStore);
  const slack = slackEnabled
    ? createSlackApp({
        botToken: config.SLACK_BOT_TOKEN!,
        signingSecret: config.SLACK_SIGNING_SECRET,
        appToken: config.SLACK_APP_TOKEN,
        apiUrl: config.SLACK_API_URL,
        port: workspace ? 0 : config.PORT,
        host: workspace ? '127.0.0.1' : undefined,
        logger,
        health,
        retries: opts.slackRetries,
        metrics,
        api: (req, res) => api.handle(req, res),
      })
    : undefined;
  const client = slack?.app.client ?? new WebClient(undefined, config.SLACK_API_URL ? { slackApiUrl: config.SLACK_API_URL } : {});

  const audit = new AuditLog({ model: auditModel(conn), clock, recorded: (action) => metrics.audited(action) });
  // Access ends for people who leave the directory; the grant service is built further down.
  let endAccessFor: (ids: string[]) => Promise<unknown> = async () => undefined;
  let endGrantsOfUnlistedKeys: (changes: Array<{ personId: string; sshKeys: string[] }>) => Promise<unknown> = async () => undefined;
  // And so do their API tokens (built once the directory and RBAC are).
  let endTokensFor: (ids: string[]) => Promise<unknown> = async () => undefined;
  const directory = new DirectoryService({
    model: personModel(conn),
    audit,
    clock,
    slack: slackEnabled ? slackPeople(client) : noSlackPeople,
    source: config.DIRECTORY_SOURCE,
    onDeactivated: async (ids) => {
      await endTokensFor(ids);
      await endAccessFor(ids);
    },
    onKeysChanged: (changes) => endGrantsOfUnlistedKeys(changes),
  });
  // Ticket templates hold secret values: kept in memory, filled by every catalog load.
  const ticketCatalog = new TicketCatalog();
  const moduleCatalog = new ModuleCatalog();
  const inventory = new InventoryService({ models: inventoryModels(conn), audit, clock, catalogDir: config.CATALOG_DIR, catalogEnv: config.secretEnv, onReload: (c) => (ticketCatalog.replace(c.tickets), moduleCatalog.replace(c.modules)) });
  const rbacM = rbacModels(conn);
  const rbac = new RbacService({
    models: rbacM,
    audit,
    clock,
    personExists: async (id) => (await directory.byPersonId(id)) !== null,
    organizationOf: async (r) => (r.type === 'project' ? inventory.projectOrganization(r.id) : null),
    resourceExists: async (r) => {
      if (r.type === 'organization') return (await rbacM.Organization.exists({ name: r.id, archived: false })) !== null;
      if (r.type === 'project') return inventory.projectExists(r.id);
      if (r.type === 'inventory') return inventory.envExists(r.id);
      if (r.type === 'template') return ticketCatalog.hasName(r.id);
      return false;
    },
  });

  const tokens = new ApiTokenService({ model: apiTokenModel(conn), directory, rbac, audit, clock });
  endTokensFor = (ids) => tokens.endAllFor(ids);

  const agenda = createScheduler({ db: conn.db!, logger, processEveryMs: opts.processEveryMs });
  const poster = responseUrlPoster(config.SLACK_API_URL);
  const directoryJobs = defineDirectoryJobs(agenda, { directory, poster, logger });
  // Files into a person's DM (full logs, host output, audit exports): Slack only.
  const files = slackFileUploader(client, config.SLACK_API_URL);
  const consoleService = new ConsoleService({ directory, rbac, inventory, audit, enqueueSync: directoryJobs.enqueue, files: slackEnabled ? files : undefined, tokens });
  const mailTransport = createMailTransport({ smtpUrl: config.SMTP_URL, dataDir: config.DATA_DIR });
  const mail = new MailService(
    { model: mailModel(conn), transport: mailTransport, audit, clock, logger, kick: mailDrainKick(agenda) },
    {
      from: config.MAIL_FROM,
      maxAttempts: config.MAIL_MAX_ATTEMPTS,
      backoffBaseMs: config.MAIL_BACKOFF_BASE_MS,
      backoffMaxMs: config.MAIL_BACKOFF_MAX_MS,
      sendTimeoutMs: config.MAIL_SEND_TIMEOUT_MS,
      claimLeaseMs: config.MAIL_CLAIM_LEASE_MS,
    },
  );

  // Remote work: the engine (SSH with the bot key, or local), the hosts' key files, host checks.
  const { engine, botKey, toTarget } = engineFromConfig(config, logger, clock);
  sshPool = () => {
    const p = engine.sshPool;
    return p ? { opened: p.connectsTotal, reused: p.stats.reused, failed: p.stats.failed } : undefined;
  };
  const gateways = new Map<string, HostKeysGateway>();
  const keysFileFor = (h: Host): string => h.authorizedKeysFile ?? config.AUTHORIZED_KEYS_FILE;
  const gatewayFor = (h: Host): HostKeysGateway => {
    const file = keysFileFor(h);
    let g = gateways.get(file);
    if (!g) gateways.set(file, (g = new HostKeysGateway({ engine, authorizedKeysFile: file, startedBy: 'system:access' })));
    return g;
  };
  const hostKeys = hostKeysPort(gatewayFor, toTarget);
  // Every DM, post and update goes through the outbox in the store: a Slack outage loses none.
  const outbox = new NotificationOutbox(
    { model: notificationModel(conn), delivery: slackDelivery({ token: config.SLACK_BOT_TOKEN, apiUrl: config.SLACK_API_URL }), clock, logger, kick: notificationsDrainKick(agenda) },
    { backoffBaseMs: config.NOTIFY_BACKOFF_BASE_MS, backoffMaxMs: config.NOTIFY_BACKOFF_MAX_MS, maxAgeMs: config.NOTIFY_MAX_AGE_MS },
  );
  const messenger = new SlackMessenger(outbox, logger);
  const notifier = accessNotifier({ slack: messenger, mail, logger, adminChannel: config.ADMIN_CHANNEL });

  const accessJobs = defineAccessJobs(agenda, { lockLifetimeMs: config.ACCESS_CLAIM_LEASE_MS });
  const access = new AccessService({ models: accessCollections, directory, inventory, rbac, audit, clock, notifier, kickProvisioning: accessJobs.kickProvisioning, enqueueAsk: accessJobs.enqueueAsk, dayMs: config.ACCESS_DAY_MS });
  const grants = new GrantService({ models: accessCollections, directory, inventory, rbac, audit, clock, notifier, hostKeys, kickProvisioning: accessJobs.kickProvisioning });
  const provisioning = new ProvisioningWorker(
    { models: accessCollections, access, inventory, directory, audit, clock, notifier, hostKeys, scheduleWake: accessJobs.scheduleWake, observer: metrics },
    { dayMs: config.ACCESS_DAY_MS, claimLeaseMs: config.ACCESS_CLAIM_LEASE_MS, batchSize: config.ACCESS_PROVISIONING_BATCH_SIZE, hostParallelism: config.ACCESS_PROVISIONING_HOST_PARALLELISM },
  );
  accessJobs.attach({ access, worker: provisioning, grants, logger });
  endAccessFor = (ids) => grants.endAllFor(ids);
  endGrantsOfUnlistedKeys = (changes) => grants.endForUnlistedKeys(changes);
  const hostCheck = new HostCheckService({
    inventory,
    toTarget,
    run: async (targets, command) => engine.start({ targets, command, timeoutMs: 30_000, startedBy: 'system:host-check' }).done,
    notifyAdmins: async (r) => {
      if (config.ADMIN_CHANNEL) await messenger.post(config.ADMIN_CHANNEL, hostCheckMessage(r));
      else logger.warn({ inactive: r.newlyInactive, active: r.newlyActive }, 'host check changes (set ADMIN_CHANNEL to be told in Slack)');
    },
    keysFileFor,
    notifySshdProblems: async (problems) => {
      if (config.ADMIN_CHANNEL) await messenger.post(config.ADMIN_CHANNEL, sshdProblemsMessage(problems));
      else logger.warn({ problems }, "hosts whose sshd does not read opsgate's key files as the README says (set ADMIN_CHANNEL to be told in Slack)");
    },
  });
  const inventoryJobs = defineInventoryJobs(agenda, { hostCheck, logger });
  // One chunked log store for ticket logs and module runs' per-host output: one set of write buffers.
  const logStore = new TicketLogStore({ ...ticketLogModels(conn), clock, logger });
  const ticketing = wireTickets({ conn, agenda, directory, inventory, rbac, audit, clock, logger, engine, toTarget, catalog: ticketCatalog }, {
    log: logStore,
    notifier: ticketSlackNotifier({ slack: messenger, mail, logger }),
    // Ticket runs are jobs too: the same heartbeat (how soon another instance's /jobs signal lands) and lease.
    executor: { progressEveryMs: config.TICKET_PROGRESS_EVERY_MS, heartbeatMs: config.JOB_HEARTBEAT_MS, staleMs: config.JOB_LEASE_MS },
    observer: metrics,
  });
  const modules = wireModules(
    { conn, agenda, directory, inventory, rbac, audit, clock, logger, engine, toTarget, catalog: moduleCatalog },
    {
      log: logStore,
      maxParallelism: config.EXEC_PARALLELISM,
      heartbeatMs: config.JOB_HEARTBEAT_MS,
      leaseMs: config.JOB_LEASE_MS,
      maxOutputBytes: config.MODULE_OUTPUT_MAX_BYTES,
      instanceId: ticketing.instanceId,
      notifier: runNotifier({ slack: messenger, directory, logger }),
      observer: metrics,
    },
  );
  const services: Services = { audit, directory, rbac, inventory, console: consoleService, mail, access, grants, provisioning, hostCheck, engine, tickets: ticketing.tickets, moduleRuns: modules.runs, tokens };
  // `/jobs` and the API's jobs routes: module runs and ticket runs alike.
  const jobControl = new JobControl({ modules: modules.runs, tickets: ticketing.ticketJobs });
  // The HTTP API on the bot's port in every mode (Bolt's receiver, the bare server, the local workspace).
  const api = createApiHandler(
    { console: consoleService, tickets: ticketing.tickets, moduleRuns: modules.runs, jobs: jobControl, grants, tokens, audit },
    { ratePerMinute: config.API_RATE_LIMIT_PER_MINUTE, maxBodyBytes: config.API_MAX_BODY_BYTES, progressPollMs: config.API_PROGRESS_POLL_MS, version: '1.0.0', logger, observe: (route, status) => metrics.apiRequest(route, status) },
  );

  // The catalog is local files: load it before serving, so the first request sees hosts.
  const catalogLoaded = await loaded(inventory.reload('system:start'));
  if (!catalogLoaded.ok) logger.error({ err: catalogLoaded.problem }, 'catalog not loaded at start; fix it and /opsgate reload');
  // The sync itself is a job (it may look people up in Slack); the summary counts the source now.
  const directoryLoaded = await loaded(directory.countInSource());

  await agenda.start();
  schedulerUp = true;
  await directoryJobs.scheduleDaily();
  // The drain's Agenda lock lapses with half a mail claim, as a dead drain's claims do (jobs/mail.ts).
  await defineMailJobs(agenda, { mail }, { interval: config.MAIL_DRAIN_EVERY_MS, lockLifetimeMs: Math.floor(config.MAIL_CLAIM_LEASE_MS / 2) });
  await defineNotificationJobs(agenda, { outbox }, { interval: config.NOTIFY_DRAIN_INTERVAL_MS });
  await accessJobs.scheduleRecurring(config.ACCESS_SWEEP_MS);
  await inventoryJobs.scheduleDaily();
  await ticketing.jobs.scheduleRecurring(config.JOB_LEASE_MS);
  await modules.jobs.scheduleRecurring(config.JOB_LEASE_MS);
  if (!botKey) logger.warn('no bot SSH key: provisioning, revocation and host checks will fail until SSH_PRIVATE_KEY_PATH is set');
  await directoryJobs.enqueue({ actor: 'system:start' });

  if (slack) {
    // Every request's envelope is typed before any listener runs (commands/input-guard.ts).
    // Recorded before any listener registers, so the guard refuses what none of them answers.
    const routes = recordRoutes(slack.app);
    slack.app.use(inputGuard({ poster, logger, routes }));
    slack.app.use(async ({ body, next }) => {
      const command = (body as { command?: unknown }).command;
      if (typeof command !== 'string') return next();
      try {
        await next();
        metrics.command(command, 'ok');
      } catch (err) {
        metrics.command(command, 'error');
        throw err;
      }
    });
    const ticketsHome = wireTicketsSlack(slack.app, {
      tickets: ticketing.tickets,
      model: ticketing.model,
      switches: ticketing.switches,
      logReader: ticketing.logReader,
      files,
      directory,
      rbac,
      logger,
    });
    const homeSections: HomeSectionProvider[] = [
      async (person) =>
        person ? { title: 'Host access', blocks: accessHomeBlocks(await grants.homeSummary(person)) } : placeholderSection('Host access', 'Once you are in the directory, your hosts, requests and approvals appear here.'),
      ticketsHome,
      async (person) =>
        person ? { title: 'Module runs', blocks: runsHomeBlocks(await modules.runs.homeSummary(person), clock.now().getTime()) } : placeholderSection('Module runs', 'Once you are in the directory, running module runs and your latest runs appear here.'),
    ];
    registerOpsgateCommand(slack.app, { console: consoleService, logger });
    registerHome(slack.app, { directory, sections: homeSections, logger });
    registerAccess(slack.app, { access, grants, inventory, directory, messenger, logger });
    const output = new JobOutputFile({ runs: modules.runs, logs: modules.logReader, files });
    registerRuns(slack.app, { runs: modules.runs, jobs: jobControl, form: modules.form, output, catalog: moduleCatalog, logger });
  }
  let http: RunningHttp;
  try {
    http = slack ? await slack.start() : await startHealthServer(config.PORT, health, metrics, (req, res) => api.handle(req, res));
    await workspace?.serve(http.port, health, (req, res) => api.handle(req, res));
  } catch (err) {
    await workspace?.stop();
    await agenda.stop();
    await store.close();
    throw err;
  }
  logger.info({ port: http.port, slack: workspace ? 'local workspace' : slackEnabled ? (config.SLACK_APP_TOKEN ? 'socket mode' : 'http') : 'off' }, 'opsgate listening');
  const startup: StartupFacts = {
    store: store.embedded ? { kind: 'embedded', dataDir: path.join(config.DATA_DIR, 'db'), uri: store.uri } : { kind: 'mongodb', uri: store.uri },
    catalog: {
      dir: config.CATALOG_DIR,
      ...(catalogLoaded.ok
        ? { ok: true, value: { hosts: catalogLoaded.value.hosts.added + catalogLoaded.value.hosts.updated, projects: catalogLoaded.value.projects.added + catalogLoaded.value.projects.updated, tickets: catalogLoaded.value.tickets, modules: catalogLoaded.value.modules } }
        : catalogLoaded),
    },
    directory: { source: config.DIRECTORY_SOURCE, ...(directoryLoaded.ok ? { ok: true, value: { people: directoryLoaded.value } } : directoryLoaded) },
    // The local workspace's generated credentials make Slack look configured: it is not.
    slack: workspace ? 'off' : slackEnabled ? (config.SLACK_APP_TOKEN ? 'socket' : 'http') : 'off',
    workspaceUrl: workspace?.url,
    port: http.port,
    sshKey: botKey?.publicKeyLine ? { publicKey: botKey.publicKeyLine, path: botKey.path } : undefined,
    sshUser: config.SSH_USER,
  };

  return {
    port: http.port,
    store,
    agenda,
    services,
    startup,
    workspace,
    async stop() {
      unregisterStoreProbe();
      // Open progress streams would hold the servers open.
      api.close();
      await workspace?.stop();
      await http.close();
      // Runs of this instance are stopped and ended (interrupted) while the scheduler can
      // still queue their mails; nothing is left running on a config center.
      // Module runs of this instance likewise (at the same time): TERM, then KILL, hosts cancelled, jobs ended and told.
      await Promise.all([ticketing.executor.shutdown(), modules.runs.shutdown()]);
      schedulerUp = false;
      await agenda.stop();
      // Notices the worker queued (DMs, mails) go out before the store closes.
      await provisioning.idle();
      // Warm SSH connections would otherwise hold the process open until their idle timeout.
      await engine.close();
      // A run the shutdown wait gave up on is cut off by the close; its job is written before the store closes.
      await modules.runs.idle();
      mailTransport.close();
      await store.close();
    },
  };
}
