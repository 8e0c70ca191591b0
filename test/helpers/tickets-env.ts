/**
 * The ticket services on a real store, real Agenda and a real sshd config center (loopback),
 * without Slack: people, a team with `use` on every template, a catalog written for the test,
 * an in-memory log sink and a notifier that records every event and can be waited on.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Agenda } from 'agenda';
import mongoose from 'mongoose';
import YAML from 'yaml';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import { auditModel } from '../../src/models/audit.js';
import { inventoryModels } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';
import type { ChannelMessageRef } from '../../src/models/tickets.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import { AuditLog } from '../../src/services/audit.js';
import { DirectoryService } from '../../src/services/directory/directory.js';
import { InventoryService } from '../../src/services/inventory.js';
import { RbacService } from '../../src/services/rbac.js';
import { TicketCatalog } from '../../src/services/tickets/catalog.js';
import type { MessageRef } from '../../src/models/approval.js';
import type { TicketDetails, TicketLogSink, TicketNotifier } from '../../src/services/tickets/ports.js';
import type { ExecutorOptions } from '../../src/services/tickets/executor.js';
import { withDatabase } from '../../src/store/connect.js';
import { wireTickets, type TicketsCore } from '../../src/wire-tickets.js';
import { startSshdFleet, type SshdFleet } from './sshd.js';
import { startTestStore, tempDir, type TestStore } from './store.js';

/** The full log in memory (the real chunked store is wired later). */
export class MemoryLog implements TicketLogSink {
  readonly logs = new Map<string, string>();
  readonly closed = new Set<string>();
  async append(ticketId: string, stream: 'stdout' | 'stderr' | 'system', text: string): Promise<void> {
    // Output streams in pieces that may split lines: keep it exactly as it came.
    this.logs.set(ticketId, (this.logs.get(ticketId) ?? '') + text);
  }
  async close(ticketId: string): Promise<void> {
    this.closed.add(ticketId);
  }
  async tail(ticketId: string, maxChars: number): Promise<string> {
    const t = this.logs.get(ticketId) ?? '';
    return t.slice(-maxChars);
  }
}

export interface RecordedEvent {
  event: keyof TicketNotifier;
  ticketId: string;
  state: string;
  /** Everything the event carried, as JSON (to look for secrets). */
  json: string;
}

/** Records every event; `next(event, ticketId)` resolves when it arrives (or has arrived). */
export class RecordingNotifier implements TicketNotifier {
  readonly events: RecordedEvent[] = [];
  private waiters: Array<{ match: (e: RecordedEvent) => boolean; resolve: (e: RecordedEvent) => void }> = [];

  private record(event: keyof TicketNotifier, d: TicketDetails, extra: unknown): void {
    const e = { event, ticketId: d.ticket.ticketId, state: d.ticket.state, json: JSON.stringify({ d, extra }) };
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => (w.match(e) ? (w.resolve(e), false) : true));
  }

  /** Resolves with the `nth` (1-based) such event of the ticket, once it has arrived. */
  next(event: keyof TicketNotifier, ticketId: string, nth = 1): Promise<RecordedEvent> {
    const match = (e: RecordedEvent) => e.event === event && e.ticketId === ticketId;
    const seen = this.events.filter(match);
    if (seen.length >= nth) return Promise.resolve(seen[nth - 1]!);
    let count = seen.length;
    return new Promise((resolve) => this.waiters.push({ match: (e) => match(e) && ++count === nth, resolve }));
  }

  of(ticketId: string): RecordedEvent[] {
    return this.events.filter((e) => e.ticketId === ticketId);
  }

  async approvalNeeded(d: TicketDetails, level: unknown, approvers: Array<{ personId: string }>): Promise<MessageRef[]> {
    this.record('approvalNeeded', d, { level, approvers: approvers.map((a) => a.personId) });
    return [];
  }
  async refreshApprovals(d: TicketDetails) {
    this.record('refreshApprovals', d, null);
  }
  async decided(d: TicketDetails, level: unknown) {
    this.record('decided', d, level);
  }
  async started(d: TicketDetails): Promise<ChannelMessageRef | null> {
    this.record('started', d, null);
    return null;
  }
  async progress(d: TicketDetails, tail: string) {
    this.record('progress', d, tail);
  }
  async finished(d: TicketDetails, tail: string) {
    this.record('finished', d, tail);
  }
}

function onServer(uri: string): TestStore {
  const dbName = `t_${randomBytes(4).toString('hex')}`;
  return { uri, dbUri: withDatabase(uri, dbName), dbName, stop: async () => undefined };
}

export const PEOPLE = [
  { personId: 'erin', name: 'Erin Director', email: 'erin@example.com', slackId: 'UERIN', level: 'M5', groups: ['ops', 'admin'] },
  { personId: 'alice', name: 'Alice Ops', email: 'alice@example.com', slackId: 'UALICE', level: 'M4', groups: ['ops', 'config-approvers'] },
  { personId: 'carol', name: 'Carol SRE', email: 'carol@example.com', slackId: 'UCAROL', level: 'P7', groups: ['ops'] },
  { personId: 'bob', name: 'Bob Developer', email: 'bob@example.com', slackId: 'UBOB', level: 'P5', groups: ['dev'] },
  { personId: 'dave', name: 'Dave DBA', email: 'dave@example.com', slackId: 'UDAVE', level: 'P6', groups: ['dba'] },
  // In ops but in no team and no project.
  { personId: 'gina', name: 'Gina Junior', email: 'gina@example.com', slackId: 'UGINA', level: 'P5', groups: ['ops'] },
];

export interface TicketsEnv {
  store: TestStore;
  conn: mongoose.Connection;
  fleet: SshdFleet;
  agenda: Agenda;
  log: MemoryLog;
  notifier: RecordingNotifier;
  audit: AuditLog;
  dir: string;
  catalogDir: string;
  wiring: ReturnType<typeof wireTickets>;
  /** What the wiring was built from: tests build a second instance on the same store from it. */
  core: TicketsCore;
  inventory: InventoryService;
  /** Every document of every collection of the test database, as JSON. */
  dump(): Promise<string>;
  stop(): Promise<void>;
}

export async function startTicketsEnv(opts: {
  tickets: (ctx: { centerHost: string; dir: string }) => unknown[];
  env?: Record<string, string>;
  clock?: Clock;
  /** `store`: the app's own chunked log store in MongoDB (env.log then stays empty). */
  log?: 'memory' | 'store';
  /** Another notifier than the recording one (env.notifier then hears nothing). */
  notifier?: (ctx: { conn: mongoose.Connection; audit: AuditLog; clock: Clock }) => TicketNotifier;
  /** Executor settings over the helper's short ones. */
  executor?: ExecutorOptions;
  /**
   * A server already running (e.g. the store in its own process, so its data does not count
   * against this process's memory); the env takes a fresh database on it and leaves it running.
   */
  storeUri?: string;
}): Promise<TicketsEnv> {
  const clock = opts.clock ?? systemClock;
  const store = opts.storeUri ? onServer(opts.storeUri) : await startTestStore();
  const conn = await mongoose.createConnection(store.uri, { dbName: store.dbName }).asPromise();
  const fleet = await startSshdFleet(1);
  const sshd = fleet.servers[0]!;
  const dir = tempDir('tickets');
  const catalogDir = path.join(dir, 'catalog');
  fs.mkdirSync(catalogDir);
  const write = (file: string, data: unknown) => fs.writeFileSync(path.join(catalogDir, file), YAML.stringify(data));
  write('hosts.yaml', { hosts: [{ name: 'center-1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.fingerprint, env: 'prod' }] });
  write('projects.yaml', { projects: [{ name: 'storefront', hosts: ['center-1'], people: ['alice', 'bob', 'carol'] }] });
  write('products.yaml', { products: [{ prod_name: 'jm-nginx' }, { prod_name: 'jm-php' }] });
  write('tickets.yaml', { tickets: opts.tickets({ centerHost: 'center-1', dir }) });

  const audit = new AuditLog({ model: auditModel(conn), clock });
  await personModel(conn).insertMany(PEOPLE.map((p) => ({ department: '', manager: null, sshKeys: [], active: true, ...p })));
  const rm = rbacModels(conn);
  await rm.Team.create({ name: 'devs', members: ['alice', 'bob', 'carol', 'erin'] });
  await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'devs', resourceType: ResourceType.template, resourceId: '*', role: Role.use, grantedBy: 'erin' });

  const catalog = new TicketCatalog();
  const directory = new DirectoryService({ model: personModel(conn), audit, clock, source: 'unused.yaml', slack: { emailOf: async () => undefined, idByEmail: async () => undefined } });
  const inventory = new InventoryService({ models: inventoryModels(conn), audit, clock, catalogDir, catalogEnv: opts.env ?? {}, onReload: (c) => catalog.replace(c.tickets) });
  await inventory.reload('system:test');
  const rbac = new RbacService({ models: rm, audit, clock, personExists: async () => true, resourceExists: async (r) => r.type !== 'template' || catalog.hasName(r.id) });
  const logger = createLogger(process.env.TEST_LOG_LEVEL === undefined ? 'silent' : (process.env.TEST_LOG_LEVEL as 'info'));
  const engine = new ExecutionEngine({ sshPrivateKey: fleet.clientKey.privateKey, connectTimeoutMs: 5000, killGraceMs: 500, logger });
  const agenda = createScheduler({ db: conn.db!, logger, processEveryMs: 100 });
  const log = new MemoryLog();
  const notifier = new RecordingNotifier();
  const core: TicketsCore = { conn, agenda, directory, inventory, rbac, audit, clock, logger, engine, toTarget: (h) => ({ transport: 'ssh', name: h.name, address: h.address, port: h.port, user: 'root', hostKey: h.hostKey }), catalog };
  const wiring = wireTickets(core, {
    log: opts.log === 'store' ? undefined : log,
    notifier: opts.notifier ? opts.notifier({ conn, audit, clock }) : notifier,
    executor: { heartbeatMs: 200, killGraceMs: 500, ...opts.executor },
  });
  await agenda.start();

  return {
    store,
    conn,
    fleet,
    agenda,
    log,
    notifier,
    audit,
    dir,
    catalogDir,
    wiring,
    core,
    inventory,
    async dump() {
      const out: unknown[] = [];
      for (const c of await conn.db!.listCollections().toArray()) out.push(c.name, await conn.db!.collection(c.name).find({}).toArray());
      return JSON.stringify(out);
    },
    async stop() {
      await agenda.stop();
      await wiring.executor.idle();
      await conn.close();
      await store.stop();
      await fleet.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
