/**
 * Domain objects as the API shows them (pure functions, no I/O): ids as people see them,
 * times as ISO 8601 UTC, person ids for people. What leaves is then passed through the
 * route's response schema (schemas.ts), so nothing else can slip out.
 */
import type { Grant } from '../models/access.js';
import type { AuditEntry } from '../models/audit.js';
import type { Host, Product, Project } from '../models/inventory.js';
import type { Job, JobHost } from '../models/jobs.js';
import { STATUS_LABELS, type Ticket } from '../models/tickets.js';
import type { ProjectDetails } from '../services/console.js';
import type { TicketJobDetails } from '../services/tickets/ticket-jobs.js';
import { JOB_FINAL, TICKET_FINAL } from './schemas.js';

export const API_BASE = '/api/v1';

const iso = (d: Date | null | undefined): string | null => (d ? new Date(d).toISOString() : null);

export function hostView(h: Host) {
  const labels = h.labels instanceof Map ? Object.fromEntries(h.labels) : ((h.labels ?? {}) as Record<string, string>);
  return {
    name: h.name,
    address: h.address,
    port: h.port ?? 22,
    env: h.env ?? null,
    project: h.project ?? null,
    app: h.app ?? null,
    labels,
    enabled: h.enabled ?? true,
    active: h.active ?? true,
    inactiveReason: h.inactiveReason ?? null,
    checkedAt: iso(h.checkedAt),
  };
}

export function projectSummary(p: Project) {
  return { name: p.name, organization: p.organization ?? null, description: p.description ?? '', hosts: p.hosts, people: p.people, contacts: p.contacts };
}

export function projectView(d: ProjectDetails) {
  return {
    ...projectSummary(d.project),
    hosts: d.hosts.map(hostView),
    people: d.people.map((p) => ({ id: p.personId, name: p.name, email: p.email, department: p.department ?? '' })),
  };
}

export function productView(p: Product) {
  return { prod_name: p.prod_name, init_sls: p.init_sls ?? '', templates: p.templates ?? '' };
}

export function grantView(g: Grant) {
  return {
    id: g.grantId,
    request: g.requestId,
    person: g.personId,
    host: g.host,
    role: g.role,
    state: g.status === 1 ? ('valid' as const) : ('expired' as const),
    days: g.days,
    grantedAt: iso(g.grantedAt),
    expiresAt: iso(g.expiresAt),
    endedAt: iso(g.endedAt),
    endedBy: g.endedBy,
    endReason: g.endReason,
  };
}

export function auditView(e: AuditEntry & { _id?: unknown }) {
  return { id: String(e._id), at: iso(e.at)!, actor: e.actor, action: e.action, target: e.target, from: e.from ?? null, to: e.to ?? null, note: e.note ?? null };
}

export const ticketUrl = (id: string): string => `${API_BASE}/tickets/${id}`;
export const jobUrl = (id: string): string => `${API_BASE}/jobs/${id}`;

export function ticketView(t: Ticket, tail: string) {
  return {
    id: t.ticketId,
    template: t.template.name,
    env: t.env,
    category: t.template.category,
    state: t.state,
    final: (TICKET_FINAL as readonly string[]).includes(t.state),
    status: t.status,
    statusLabel: STATUS_LABELS[t.status] ?? String(t.status),
    background: t.background ?? null,
    submitter: t.submitter,
    values: t.values,
    runAt: iso(t.runAt),
    autoRun: t.autoRun,
    queued: t.queued,
    approval: {
      state: t.approval.state,
      current: t.approval.current,
      levels: t.approval.levels.map((l) => ({ level: l.level, label: l.label, approvers: l.approvers, decision: l.decision ?? null, decidedBy: l.decidedBy ?? null, decidedAt: iso(l.decidedAt), note: l.note ?? null })),
    },
    phases: t.phases.map((p) => ({ phase: p.phase, ok: p.ok, code: p.code ?? null, signal: p.signal ?? null, error: p.error ?? null, durationMs: p.durationMs, at: iso(p.at)! })),
    createdAt: iso(t.createdAt)!,
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
    logTail: tail,
    url: ticketUrl(t.ticketId),
    events: `${ticketUrl(t.ticketId)}/events`,
  };
}

function hostResult(h: JobHost) {
  return {
    host: h.name,
    address: h.address,
    env: h.env ?? null,
    code: h.code ?? null,
    signal: h.signal ?? null,
    durationMs: h.durationMs ?? null,
    error: h.error ?? null,
    why: h.why ?? null,
    stdout: h.stdoutTail ?? '',
    stderr: h.stderrTail ?? '',
    outputCut: h.outputCut ?? false,
    endedAt: iso(h.endedAt),
  };
}

/** A module job with seed 001's buckets: host_ok, host_failed, host_unreachable (and the rest). */
export function moduleJobView(j: Job) {
  const bucket = (state: string) => j.hosts.filter((h) => h.state === state).map(hostResult);
  return {
    id: j.jobId,
    kind: 'module' as const,
    module: j.module.name,
    command: j.module.command,
    target: j.target.filter,
    params: (j.params ?? {}) as Record<string, unknown>,
    state: j.state,
    final: (JOB_FINAL as readonly string[]).includes(j.state),
    startedBy: j.startedBy,
    startedAt: iso(j.startedAt)!,
    endedAt: iso(j.endedAt),
    note: j.note ?? null,
    counts: { ok: j.counts.ok ?? 0, failed: j.counts.failed ?? 0, unreachable: j.counts.unreachable ?? 0, pending: j.hosts.filter((h) => h.state === 'pending').length },
    host_ok: bucket('ok'),
    host_failed: bucket('failed'),
    host_unreachable: bucket('unreachable'),
    host_other: j.hosts.filter((h) => !['ok', 'failed', 'unreachable'].includes(h.state)).map((h) => ({ ...hostResult(h), state: h.state })),
    url: jobUrl(j.jobId),
    events: `${jobUrl(j.jobId)}/events`,
  };
}

export function ticketJobView(d: TicketJobDetails) {
  const t = d.ticket;
  return {
    id: t.ticketId,
    kind: 'ticket' as const,
    template: t.template.name,
    env: t.env,
    state: t.state,
    final: (TICKET_FINAL as readonly string[]).includes(t.state),
    running: d.running,
    phase: d.phase,
    startedBy: d.startedBy,
    since: iso(d.since)!,
    logTail: d.tail,
    ticket: ticketUrl(t.ticketId),
    url: jobUrl(t.ticketId),
    events: `${jobUrl(t.ticketId)}/events`,
  };
}
