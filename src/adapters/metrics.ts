/**
 * `GET /metrics` in Prometheus' text format (prom-client). Label values are bounded: command
 * names from a fixed list, audit actions and store commands by their (code-given) names with
 * a cap on how many distinct ones are kept; never a host name, a person or a Slack id.
 * Counts that live in the store (open requests, active grants, queue depths) are read at
 * scrape time, so every instance reports the same shared figures.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProvisioningObserver, RunKind, RunObserver, RunOutcome } from '../services/run-observer.js';

export interface MetricsSources {
  openRequests(): Promise<number>;
  activeGrants(): Promise<number>;
  /** Waiting work by queue: mail, notifications (the Slack outbox), provisioning tasks. */
  queueDepths(): Promise<Record<'mail' | 'notifications' | 'tasks', number>>;
  /** The warm SSH pool's counters, when there is one. */
  sshPool(): { opened: number; reused: number; failed: Record<string, number> } | undefined;
}

const COMMANDS = new Set(['/access', '/ticket', '/run', '/jobs', '/opsgate']);
/** Distinct values one label keeps before the rest count as `other`. */
const LABEL_CAP = 200;

export class Metrics implements RunObserver, ProvisioningObserver {
  readonly registry = new Registry();
  private readonly commands: Counter<'command' | 'outcome'>;
  private readonly ack: Histogram<'status'>;
  private readonly audit: Counter<'action'>;
  private readonly store: Histogram<'command'>;
  private readonly runs: Histogram<'kind' | 'outcome'>;
  private readonly expiryLateness: Histogram;
  private readonly taskFailures: Counter<'type'>;
  private readonly api: Counter<'route' | 'status'>;
  private readonly seen = new Map<string, Set<string>>();

  /** When set, a scrape must send `Authorization: Bearer <token>` (METRICS_TOKEN). */
  readonly token?: string;

  constructor(sources: MetricsSources, opts: { token?: string } = {}) {
    this.token = opts.token;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'opsgate_' });
    this.commands = new Counter({ name: 'opsgate_slack_commands_total', help: 'Slash commands handled, by command and outcome (ok: the listener finished; error: it threw).', labelNames: ['command', 'outcome'], registers });
    this.ack = new Histogram({ name: 'opsgate_slack_ack_seconds', help: "Time from a Slack request's arrival to the bot's HTTP answer (the ack), by status class.", labelNames: ['status'], buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5], registers });
    this.audit = new Counter({ name: 'opsgate_audit_events_total', help: 'Audited events by action: approvals (access.approve, access.reject, …), grants, revocations, runs, provisioning failures.', labelNames: ['action'], registers });
    this.store = new Histogram({ name: 'opsgate_store_operation_seconds', help: 'Store (MongoDB) command latency as the driver saw it, by command.', labelNames: ['command'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
    this.runs = new Histogram({ name: 'opsgate_runs_duration_seconds', help: 'Ticket and module runs that ended, by kind and outcome, and how long they ran (_count is runs by outcome).', labelNames: ['kind', 'outcome'], buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600], registers });
    this.expiryLateness = new Histogram({ name: 'opsgate_access_expiry_lateness_seconds', help: "How long after a grant's expiry its line was removed from the host (sshd itself refuses the key from the expiry on).", buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600], registers });
    this.taskFailures = new Counter({ name: 'opsgate_access_task_failures_total', help: 'Provisioning task attempts that failed, by type (add: writing a grant line, delete: removing one).', labelNames: ['type'], registers });
    // Every series exists from the start (at 0), so dashboards and alerts see it before the first run.
    for (const kind of ['ticket', 'module'] as const) for (const outcome of ['succeeded', 'failed', 'revoked', 'interrupted'] as const) this.runs.zero({ kind, outcome });
    for (const type of ['add', 'delete'] as const) this.taskFailures.inc({ type }, 0);
    this.api = new Counter({ name: 'opsgate_api_requests_total', help: 'HTTP API requests by route (method and path template, e.g. "POST /tickets") and status class.', labelNames: ['route', 'status'], registers });
    new Gauge({ name: 'opsgate_access_open_requests', help: 'Access applications waiting for approval or being provisioned.', registers, collect: async function () { this.set(await sources.openRequests()); } });
    new Gauge({ name: 'opsgate_access_active_grants', help: 'Grants in force (a key line on a host).', registers, collect: async function () { this.set(await sources.activeGrants()); } });
    new Gauge({
      name: 'opsgate_queue_depth',
      help: 'Waiting work by queue: mail, notifications (Slack outbox), tasks (provisioning).',
      labelNames: ['queue'],
      registers,
      collect: async function () {
        for (const [queue, n] of Object.entries(await sources.queueDepths())) this.set({ queue }, n);
      },
    });
    new Gauge({
      name: 'opsgate_ssh_connections',
      help: 'SSH connections of this instance since start: opened, reused (a lease on a warm one), failed by reason.',
      labelNames: ['event', 'reason'],
      registers,
      collect: function () {
        const p = sources.sshPool();
        if (!p) return;
        this.set({ event: 'opened', reason: '' }, p.opened);
        this.set({ event: 'reused', reason: '' }, p.reused);
        for (const [reason, n] of Object.entries(p.failed)) this.set({ event: 'failed', reason }, n);
      },
    });
  }

  command(name: string | undefined, outcome: 'ok' | 'error'): void {
    this.commands.inc({ command: name && COMMANDS.has(name) ? name : 'other', outcome });
  }

  acked(status: number, seconds: number): void {
    this.ack.observe({ status: `${Math.floor(status / 100)}xx` }, seconds);
  }

  /** `route`: the route's method and path template (a fixed list), or `other`. */
  apiRequest(route: string, status: number): void {
    this.api.inc({ route, status: `${Math.floor(status / 100)}xx` });
  }

  audited(action: string): void {
    this.audit.inc({ action: this.bounded('action', action) });
  }

  storeOperation(command: string, seconds: number): void {
    this.store.observe({ command: this.bounded('command', command) }, seconds);
  }

  runEnded(kind: RunKind, outcome: RunOutcome, seconds: number): void {
    this.runs.observe({ kind, outcome }, Math.max(0, seconds));
  }

  expiryRemoved(latenessSeconds: number): void {
    this.expiryLateness.observe(Math.max(0, latenessSeconds));
  }

  taskFailed(type: 'add' | 'delete'): void {
    this.taskFailures.inc({ type });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private bounded(label: string, value: string): string {
    if (!/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(value)) return 'other';
    let set = this.seen.get(label);
    if (!set) this.seen.set(label, (set = new Set()));
    if (set.has(value)) return value;
    if (set.size >= LABEL_CAP) return 'other';
    set.add(value);
    return value;
  }
}
