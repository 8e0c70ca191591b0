/**
 * The HTTP API's request and response schemas (zod). Routes parse what comes in with them and
 * pass what goes out through them (so an answer is exactly what is documented, and a field no
 * schema names, such as a token hash or a template's internal variables, never leaves); the
 * OpenAPI document (openapi.ts) is generated from these same objects. Times are ISO 8601 UTC;
 * ids are the ones people see (`TK-…`, `J-…`, `AR-…`, `AT-…`).
 */
import { z } from 'zod';
import { MAX_RUN_HOSTS } from '../services/modules/plan.js';
import { VALUE_MAX } from '../services/tickets/values.js';

/** Page sizes: `limit` defaults to 50 and is at most 200. */
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 200;

const time = z.iso.datetime().meta({ description: 'ISO 8601, UTC', example: '2026-12-02T08:00:00.000Z' });
const ticketId = z.string().regex(/^TK-[A-Z0-9]{6}$/).meta({ description: 'a ticket id', example: 'TK-7QH2MX' });
const jobId = z.string().regex(/^(J-[0-9a-f]{10}|TK-[A-Z0-9]{6})$/).meta({ description: 'a module job (J-…) or a ticket run (TK-…)', example: 'J-0a1b2c3d4e' });
const moduleJobId = z.string().regex(/^J-[0-9a-f]{10}$/).meta({ description: 'a module job id', example: 'J-0a1b2c3d4e' });
/** A bounded, printable query value (it becomes part of a store filter). */
const queryText = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

// ---- errors and pages

export const ErrorBody = z
  .object({
    code: z.number().int().meta({ description: "seed 001's code: 1100 bad parameter, 1101 expected an object, 1102 missing field, 1201 permission, 1202 not in a team, 1300 internal" }),
    error: z.string().meta({ description: "the code's title" }),
    message: z.string().meta({ description: 'what is wrong, for a person' }),
    field: z.string().optional().meta({ description: 'the input field at fault, when one is' }),
  })
  .meta({ id: 'Error' });

const page = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }) }).meta({ id });

/** Query strings take only the parameters they name: any other is refused (1100), never ignored. */
export const PageQuery = z
  .object({
    cursor: z.string().max(400).optional().meta({ description: 'from the previous page' }),
    limit: z.coerce.number().int().min(1).max(PAGE_MAX).optional().meta({ description: `items per page (default ${PAGE_DEFAULT}, at most ${PAGE_MAX})` }),
  })
  .strict();

// ---- inventory

export const HostView = z
  .object({
    name: z.string(),
    address: z.string(),
    port: z.number().int(),
    env: z.string().nullable(),
    project: z.string().nullable(),
    app: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    enabled: z.boolean(),
    active: z.boolean(),
    inactiveReason: z.string().nullable(),
    checkedAt: time.nullable(),
  })
  .meta({ id: 'Host' });

export const ProjectSummary = z
  .object({ name: z.string(), organization: z.string().nullable(), description: z.string(), hosts: z.array(z.string()), people: z.array(z.string()), contacts: z.array(z.string()) })
  .meta({ id: 'ProjectSummary' });

export const PersonRef = z.object({ id: z.string(), name: z.string(), email: z.string(), department: z.string() }).meta({ id: 'Person' });

export const ProjectView = z
  .object({ name: z.string(), organization: z.string().nullable(), description: z.string(), hosts: z.array(HostView), people: z.array(PersonRef), contacts: z.array(z.string()) })
  .meta({ id: 'Project' });

export const ProductView = z.object({ prod_name: z.string(), init_sls: z.string(), templates: z.string() }).meta({ id: 'Product' });

export const ProjectPage = page(ProjectSummary, 'ProjectPage');
export const HostPage = page(HostView, 'HostPage');
export const ProductPage = page(ProductView, 'ProductPage');

export const ProjectParams = z.object({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/).meta({ description: 'the project name' }) });
export const HostsQuery = PageQuery.extend({ filter: queryText(1000).optional().meta({ description: 'the inventory filter, as `/opsgate hosts` takes it: name words, env:, project:, app:, label:value' }) }).strict();

// ---- grants

export const GrantView = z
  .object({
    id: z.string(),
    request: z.string().meta({ description: 'the access request, AR-…' }),
    person: z.string(),
    host: z.string(),
    role: z.enum(['root', 'evans', 'readonly']),
    state: z.enum(['valid', 'expired']),
    days: z.number().int(),
    grantedAt: time.nullable(),
    expiresAt: time.nullable(),
    endedAt: time.nullable(),
    endedBy: z.string().nullable(),
    endReason: z.string().nullable(),
  })
  .meta({ id: 'Grant' });
export const GrantPage = page(GrantView, 'GrantPage');
export const GrantsQuery = PageQuery.extend({
  host: queryText(100).optional(),
  person: queryText(100).optional().meta({ description: "a person id; only admins may name someone else" }),
  state: z.enum(['valid', 'expired']).optional(),
}).strict();

// ---- audit

export const AuditView = z
  .object({ id: z.string(), at: time, actor: z.string(), action: z.string(), target: z.string(), from: z.unknown(), to: z.unknown(), note: z.string().nullable() })
  .meta({ id: 'AuditEntry' });
export const AuditPage = page(AuditView, 'AuditPage');
export const AuditQuery = PageQuery.extend({
  actor: queryText(200).optional(),
  action: queryText(200).optional(),
  target: queryText(200).optional().meta({ description: 'targets starting with this, e.g. host:web-01' }),
  since: time.optional(),
  until: time.optional(),
}).strict();

// ---- tickets

const ApprovalLevelView = z.object({
  level: z.number().int(),
  label: z.string(),
  approvers: z.array(z.string()),
  decision: z.enum(['approved', 'rejected']).nullable(),
  decidedBy: z.string().nullable(),
  decidedAt: time.nullable(),
  note: z.string().nullable(),
});

const PhaseView = z.object({
  phase: z.enum(['pre', 'main', 'post']),
  ok: z.boolean(),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
  at: time,
});

export const TICKET_FINAL = ['succeeded', 'failed', 'rejected', 'revoked'] as const;

export const TicketView = z
  .object({
    id: ticketId,
    template: z.string(),
    env: z.string(),
    category: z.string(),
    state: z.enum(['pre', 'waiting', 'approved', 'running', 'succeeded', 'failed', 'rejected', 'revoked']),
    final: z.boolean().meta({ description: `true once the state is one of ${TICKET_FINAL.join(', ')}` }),
    status: z.number().int().meta({ description: "seed 002's status code (0 submitted … 9 revoked)" }),
    statusLabel: z.string(),
    background: z.string().nullable(),
    submitter: z.string(),
    values: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
    runAt: time.nullable(),
    autoRun: z.boolean(),
    queued: z.boolean(),
    approval: z.object({ state: z.enum(['pending', 'approved', 'rejected', 'cancelled']), current: z.number().int(), levels: z.array(ApprovalLevelView) }),
    phases: z.array(PhaseView),
    createdAt: time,
    startedAt: time.nullable(),
    finishedAt: time.nullable(),
    logTail: z.string().meta({ description: 'the last part of the log (redacted), as /ticket show gives it' }),
    url: z.string().meta({ description: 'this ticket in the API' }),
    events: z.string().meta({ description: 'its progress as server-sent events' }),
  })
  .meta({ id: 'Ticket' });

export const TicketParams = z.object({ id: ticketId });

/** A long poll: answers once the state is final (or differs from `changedFrom`), or when `timeout` has passed. */
export const WaitQuery = z
  .object({
    timeout: z.coerce.number().int().min(1).max(60).optional().meta({ description: 'seconds to wait at most (default 30, at most 60)' }),
    changedFrom: z.string().min(1).max(40).optional().meta({ description: 'answer as soon as the state is no longer this one (else: once it is final)' }),
  })
  .strict();

export const SubmitTicket = z
  .object({
    template: z.string().min(1).max(100).meta({ description: 'the ticket template name' }),
    env: z.string().min(1).max(40).meta({ description: 'its environment, e.g. PROD' }),
    values: z
      .record(z.string().max(100), z.union([z.string().max(VALUE_MAX), z.array(z.string().max(VALUE_MAX)).max(1000)]))
      .default({})
      .meta({ description: 'option values by option name; a multiple choice as a list' }),
    runAt: time.optional().meta({ description: 'run at this time (templates with schedule)' }),
    background: z.boolean().optional(),
    autoRun: z.boolean().optional().meta({ description: 'run automatically once approved (templates with autoRun)' }),
  })
  .strict()
  .meta({ id: 'SubmitTicket' });

// ---- jobs

const HostResultView = z.object({
  host: z.string(),
  address: z.string(),
  env: z.string().nullable(),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  durationMs: z.number().nullable(),
  error: z.string().nullable(),
  why: z.string().nullable(),
  stdout: z.string().meta({ description: 'the tail of its output' }),
  stderr: z.string(),
  outputCut: z.boolean(),
  endedAt: time.nullable(),
});

export const JOB_FINAL = ['done', 'lost', 'rejected', 'cancelled'] as const;

export const ModuleJobView = z.object({
  id: moduleJobId,
  kind: z.literal('module'),
  module: z.string(),
  command: z.string(),
  target: z.string(),
  params: z.record(z.string(), z.unknown()),
  state: z.enum(['awaiting-approval', 'running', 'done', 'lost', 'rejected', 'cancelled']),
  final: z.boolean().meta({ description: `true once the state is one of ${JOB_FINAL.join(', ')}` }),
  startedBy: z.string(),
  startedAt: time,
  endedAt: time.nullable(),
  note: z.string().nullable(),
  counts: z.object({ ok: z.number().int(), failed: z.number().int(), unreachable: z.number().int(), pending: z.number().int() }),
  host_ok: z.array(HostResultView),
  host_failed: z.array(HostResultView),
  host_unreachable: z.array(HostResultView),
  host_other: z.array(HostResultView.extend({ state: z.string() })).meta({ description: 'hosts pending, lost or cancelled' }),
  url: z.string(),
  events: z.string(),
});

export const TicketJobView = z.object({
  id: ticketId,
  kind: z.literal('ticket'),
  template: z.string(),
  env: z.string(),
  state: TicketView.shape.state,
  final: z.boolean(),
  running: z.boolean(),
  phase: z.enum(['pre', 'main', 'post']),
  startedBy: z.string(),
  since: time,
  logTail: z.string(),
  ticket: z.string().meta({ description: 'the ticket in the API' }),
  url: z.string(),
  events: z.string(),
});

export const JobView = z.discriminatedUnion('kind', [ModuleJobView, TicketJobView]).meta({ id: 'Job' });
export const JobParams = z.object({ id: jobId });

export const RunModule = z
  .object({
    module: z.string().min(1).max(100),
    target: z.string().max(1000).default('').meta({ description: 'an inventory filter: host names, project:, app:, env:, label:value' }),
    hosts: z.array(z.string().min(1).max(200)).max(MAX_RUN_HOSTS).optional().meta({ description: 'hosts by name; the target then narrows these' }),
    params: z.record(z.string().max(100), z.unknown()).default({}),
  })
  .strict()
  .meta({ id: 'RunModule' });

export const SignalJob = z.object({ signal: z.string().min(1).max(20).meta({ example: 'TERM' }) }).strict().meta({ id: 'SignalJob' });

export const Empty = z.object({}).strict().meta({ id: 'Empty' });
