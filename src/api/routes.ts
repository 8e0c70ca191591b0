/**
 * Every `/api/v1/` route, as data: method, path, scope, the zod schemas of what it takes and
 * gives, and a handler that only calls the service method Slack uses and renders the result
 * (views.ts). The router (http.ts) and the OpenAPI document (openapi.ts) are both built from
 * this one table, so a documented route is a served route with the documented schemas.
 */
import type { z } from 'zod';
import { badParameter } from '../errors.js';
import type { ApiTokenService, Caller } from '../services/api-tokens.js';
import type { AuditLog } from '../services/audit.js';
import type { ConsoleService } from '../services/console.js';
import type { GrantService } from '../services/access/grants.js';
import type { JobControl } from '../services/jobs/job-control.js';
import type { ModuleRuns } from '../services/modules/runs.js';
import type { TicketService } from '../services/tickets/tickets.js';
import * as S from './schemas.js';
import { auditView, grantView, hostView, moduleJobView, productView, projectSummary, projectView, ticketJobView, ticketView } from './views.js';

export interface ApiServices {
  console: ConsoleService;
  tickets: TicketService;
  moduleRuns: ModuleRuns;
  jobs: JobControl;
  grants: GrantService;
  tokens: ApiTokenService;
  audit: AuditLog;
}

export interface RouteContext<P, Q, B> {
  /** The token owner's Slack user id: services identify who acts by it, as for a Slack request. */
  actor: string;
  caller: Caller;
  params: P;
  query: Q;
  body: B;
  services: ApiServices;
  /** Waits one progress interval (long polls); false when the API is closing and the answer should go now. */
  pause(maxMs: number): Promise<boolean>;
}

type Schema = z.ZodType;
type In<T extends Schema | undefined> = T extends Schema ? z.infer<T> : Record<string, never>;

interface RouteBase<P extends Schema | undefined, Q extends Schema | undefined> {
  method: 'get' | 'post';
  /** OpenAPI's form: `/tickets/{id}`, below `/api/v1`. */
  path: string;
  summary: string;
  /** A write needs a token of scope write. */
  scope: 'read' | 'write';
  params?: P;
  query?: Q;
}

export interface JsonRoute<P extends Schema | undefined = Schema | undefined, Q extends Schema | undefined = Schema | undefined, B extends Schema | undefined = Schema | undefined> extends RouteBase<P, Q> {
  kind: 'json';
  body?: B;
  status: 200 | 201;
  response: Schema;
  handle(ctx: RouteContext<In<P>, In<Q>, In<B>>): Promise<unknown>;
  /** Writes: what the API's own audit entry names (the service audits the change itself). */
  audited?: (result: unknown, ctx: RouteContext<In<P>, In<Q>, In<B>>) => { action: string; target: string; detail?: Record<string, unknown> };
}

/** Server-sent events: the view now, then each change, until it is final. */
export interface EventsRoute<P extends Schema | undefined = Schema | undefined> extends RouteBase<P, undefined> {
  kind: 'events';
  /** The schema of each event's data. */
  response: Schema;
  snapshot(ctx: RouteContext<In<P>, Record<string, never>, Record<string, never>>): Promise<{ view: unknown; final: boolean }>;
}

export type ApiRoute = JsonRoute | EventsRoute;

const json = <P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | undefined>(r: Omit<JsonRoute<P, Q, B>, 'kind'>): ApiRoute => ({ kind: 'json', ...r }) as unknown as ApiRoute;
const events = <P extends Schema | undefined>(r: Omit<EventsRoute<P>, 'kind'>): ApiRoute => ({ kind: 'events', ...r }) as unknown as ApiRoute;

// ---- pages: a cursor is the last item's sort key, opaque to callers.

export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!check(v)) throw badParameter('cursor: not a cursor this API gave', { field: 'cursor' });
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200;
const isAuditKey = (v: unknown): v is { at: string; id: string } => typeof v === 'object' && v !== null && isString((v as { at: unknown }).at) && isString((v as { id: unknown }).id);

/** `items` fetched with one more than `limit`: the page and the cursor after it. */
function pageOf<T, V>(items: T[], limit: number, view: (t: T) => V, key: (t: T) => unknown): { items: V[]; nextCursor: string | null } {
  const shown = items.slice(0, limit);
  return { items: shown.map(view), nextCursor: items.length > limit ? encodeCursor(key(shown.at(-1)!)) : null };
}

/** Whole lists held in memory (projects, products): the page after the name in the cursor. */
function pageByName<T, V>(all: T[], name: (t: T) => string, q: { cursor?: string; limit?: number }, view: (t: T) => V) {
  const after = decodeCursor(q.cursor, isString);
  const limit = q.limit ?? S.PAGE_DEFAULT;
  const rest = after === undefined ? all : all.filter((t) => name(t) > after);
  return pageOf(rest.slice(0, limit + 1), limit, view, name);
}

const ticketTarget = (r: unknown) => ({ target: `ticket:${(r as { id: string }).id}` });
const jobTarget = (r: unknown) => ({ target: `job:${(r as { id: string }).id}` });

async function ticketOf(s: ApiServices, actor: string, id: string) {
  const d = await s.tickets.show(actor, id);
  return ticketView(d.ticket, d.tail);
}

async function jobOf(s: ApiServices, actor: string, id: string) {
  const found = await s.jobs.find(actor, id);
  return found.kind === 'module' ? moduleJobView(found.job) : ticketJobView(found.job);
}

/** A long poll over `view`: the view once it is final or no longer in `changedFrom`, or when the time is up. */
async function waitFor<V extends { state: string; final: boolean }>(ctx: { pause(maxMs: number): Promise<boolean> }, q: { timeout?: number; changedFrom?: string }, view: () => Promise<V>): Promise<V> {
  const deadline = Date.now() + (q.timeout ?? 30) * 1000;
  for (;;) {
    const v = await view();
    const done = q.changedFrom !== undefined ? v.state !== q.changedFrom || v.final : v.final;
    const left = deadline - Date.now();
    if (done || left <= 0 || !(await ctx.pause(left))) return v;
  }
}

export const ROUTES: ApiRoute[] = [
  json({
    method: 'get',
    path: '/projects',
    summary: 'The project list (seed 000 /api/project/)',
    scope: 'read',
    query: S.PageQuery,
    status: 200,
    response: S.ProjectPage,
    handle: async ({ actor, query, services }) => pageByName(await services.console.projects(actor), (p) => p.name, query, projectSummary),
  }),
  json({
    method: 'get',
    path: '/projects/{name}',
    summary: "One project: its hosts with their labels, its people and contacts (seed 000 /api/project/7/)",
    scope: 'read',
    params: S.ProjectParams,
    status: 200,
    response: S.ProjectView,
    handle: async ({ actor, params, services }) => projectView(await services.console.project(actor, params.name)),
  }),
  json({
    method: 'get',
    path: '/hosts',
    summary: 'Hosts matching an inventory filter',
    scope: 'read',
    query: S.HostsQuery,
    status: 200,
    response: S.HostPage,
    handle: async ({ actor, query, services }) => {
      const limit = query.limit ?? S.PAGE_DEFAULT;
      const hosts = await services.console.hostsPage(actor, query.filter ?? '', decodeCursor(query.cursor, isString), limit + 1);
      return pageOf(hosts, limit, hostView, (h) => h.name);
    },
  }),
  json({
    method: 'get',
    path: '/products',
    summary: 'The products collection (conf: prod_name, init_sls, templates)',
    scope: 'read',
    query: S.PageQuery,
    status: 200,
    response: S.ProductPage,
    handle: async ({ actor, query, services }) => pageByName(await services.console.products(actor), (p) => p.prod_name, query, productView),
  }),
  json({
    method: 'get',
    path: '/grants',
    summary: 'Who holds what: host access grants (admins: everyone; others: their own)',
    scope: 'read',
    query: S.GrantsQuery,
    status: 200,
    response: S.GrantPage,
    handle: async ({ actor, query, services }) => {
      const limit = query.limit ?? S.PAGE_DEFAULT;
      const grants = await services.grants.holdings(actor, { host: query.host, person: query.person, state: query.state }, decodeCursor(query.cursor, isString), limit + 1);
      return pageOf(grants, limit, grantView, (g) => g.grantId);
    },
  }),
  json({
    method: 'get',
    path: '/audit',
    summary: 'The audit log, newest first (admins)',
    scope: 'read',
    query: S.AuditQuery,
    status: 200,
    response: S.AuditPage,
    handle: async ({ actor, query, services }) => {
      const limit = query.limit ?? S.PAGE_DEFAULT;
      const after = decodeCursor(query.cursor, isAuditKey);
      const entries = await services.console.audit(actor, {
        actor: query.actor,
        action: query.action,
        target: query.target,
        since: query.since ? new Date(query.since) : undefined,
        until: query.until ? new Date(query.until) : undefined,
        after: after ? { at: new Date(after.at), id: after.id } : undefined,
        limit: limit + 1,
      });
      return pageOf(entries, limit, auditView, (e) => ({ at: e.at.toISOString(), id: String((e as { _id?: unknown })._id) }));
    },
  }),
  json({
    method: 'get',
    path: '/tickets/{id}',
    summary: 'A ticket: state, approval levels, phases and the log tail',
    scope: 'read',
    params: S.TicketParams,
    status: 200,
    response: S.TicketView,
    handle: ({ actor, params, services }) => ticketOf(services, actor, params.id),
  }),
  events({
    method: 'get',
    path: '/tickets/{id}/events',
    summary: "A ticket's progress as server-sent events (`ticket` on each change, `end` once final)",
    scope: 'read',
    params: S.TicketParams,
    response: S.TicketView,
    snapshot: async ({ actor, params, services }) => {
      const view = await ticketOf(services, actor, params.id);
      return { view, final: view.final };
    },
  }),
  json({
    method: 'get',
    path: '/tickets/{id}/wait',
    summary: 'A long poll: the ticket once it is final (or its state is no longer `changedFrom`), or after `timeout` seconds',
    scope: 'read',
    params: S.TicketParams,
    query: S.WaitQuery,
    status: 200,
    response: S.TicketView,
    handle: (ctx) => waitFor(ctx, ctx.query, () => ticketOf(ctx.services, ctx.actor, ctx.params.id)),
  }),
  json({
    method: 'post',
    path: '/tickets',
    summary: 'Submit a ticket (approvers are asked in Slack as usual)',
    scope: 'write',
    body: S.SubmitTicket,
    status: 201,
    response: S.TicketView,
    handle: async ({ actor, body, services }) => {
      const d = await services.tickets.submit(actor, { template: body.template, env: body.env, values: body.values, runAt: body.runAt ? new Date(body.runAt) : null, background: body.background, autoRun: body.autoRun });
      return ticketView(d.ticket, '');
    },
    audited: (r) => ({ action: 'api.ticket.submit', ...ticketTarget(r) }),
  }),
  json({
    method: 'post',
    path: '/tickets/{id}/run',
    summary: 'Run an approved ticket now (its submitter or an admin)',
    scope: 'write',
    params: S.TicketParams,
    body: S.Empty,
    status: 200,
    response: S.TicketView,
    handle: async ({ actor, params, services }) => ticketView((await services.tickets.run(actor, params.id)).ticket, ''),
    audited: (r) => ({ action: 'api.ticket.run', ...ticketTarget(r) }),
  }),
  json({
    method: 'post',
    path: '/tickets/{id}/revoke',
    summary: 'Revoke a ticket that has not finished (its submitter or an admin)',
    scope: 'write',
    params: S.TicketParams,
    body: S.Empty,
    status: 200,
    response: S.TicketView,
    handle: async ({ actor, params, services }) => ticketView((await services.tickets.revoke(actor, params.id)).ticket, ''),
    audited: (r) => ({ action: 'api.ticket.revoke', ...ticketTarget(r) }),
  }),
  json({
    method: 'get',
    path: '/jobs/{id}',
    summary: 'A job with its per-host buckets (module runs J-…; ticket runs TK-…)',
    scope: 'read',
    params: S.JobParams,
    status: 200,
    response: S.JobView,
    handle: ({ actor, params, services }) => jobOf(services, actor, params.id),
  }),
  events({
    method: 'get',
    path: '/jobs/{id}/events',
    summary: "A job's progress as server-sent events (`job` on each change, `end` once final)",
    scope: 'read',
    params: S.JobParams,
    response: S.JobView,
    snapshot: async ({ actor, params, services }) => {
      const view = await jobOf(services, actor, params.id);
      return { view, final: view.final };
    },
  }),
  json({
    method: 'get',
    path: '/jobs/{id}/wait',
    summary: 'A long poll: the job once it is final (or its state is no longer `changedFrom`), or after `timeout` seconds',
    scope: 'read',
    params: S.JobParams,
    query: S.WaitQuery,
    status: 200,
    response: S.JobView,
    handle: (ctx) => waitFor(ctx, ctx.query, () => jobOf(ctx.services, ctx.actor, ctx.params.id)),
  }),
  json({
    method: 'post',
    path: '/jobs',
    summary: 'Run a module on hosts (a job J-…; modules with approval levels wait for them)',
    scope: 'write',
    body: S.RunModule,
    status: 201,
    response: S.ModuleJobView,
    handle: async ({ actor, body, services }) => {
      const { job } = await services.moduleRuns.run(actor, { module: body.module, target: body.target, params: body.params, ...(body.hosts ? { hosts: body.hosts } : {}) });
      return moduleJobView(job);
    },
    audited: (r) => ({ action: 'api.job.run', ...jobTarget(r) }),
  }),
  json({
    method: 'post',
    path: '/jobs/{id}/signal',
    summary: 'Send a job a signal (TERM, KILL, …) that reaches the remote processes',
    scope: 'write',
    params: S.JobParams,
    body: S.SignalJob,
    status: 200,
    response: S.JobView,
    handle: async ({ actor, params, body, services }) => {
      await services.jobs.signal(actor, params.id, body.signal);
      return jobOf(services, actor, params.id);
    },
    audited: (r, { body }) => ({ action: 'api.job.signal', ...jobTarget(r), detail: { signal: body.signal } }),
  }),
];
