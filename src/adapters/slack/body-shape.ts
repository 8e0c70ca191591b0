/**
 * The shape a Slack request body must have before Bolt reads it. Bolt trusts the body: it reads
 * `body.ssl_check` of whatever JSON.parse returned (a `null` there threw outside every handler
 * and ended the process) and then walks `event`, `actions`, `user`, `team`, `channel`, `view`…
 * to route the request. This module checks exactly those fields, and only their kind (object,
 * string, array of objects): what a listener does with the values is the listener's business.
 *
 * The body is parsed here the way Bolt parses it (node:querystring for a body whose content type
 * is exactly `application/x-www-form-urlencoded`, JSON.parse otherwise), so what is checked is
 * what Bolt will see.
 */
import { parse as parseQuery } from 'node:querystring';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../errors.js';

const FORM = 'application/x-www-form-urlencoded';

const jsonObject = z.looseObject({});

/** The fields of an Events API `event` that Bolt reads before any listener runs. */
const eventShape = z.looseObject({
  type: z.string(),
  user: z.union([z.string(), jsonObject]).optional(),
  channel: z.union([z.string(), jsonObject]).optional(),
  item: jsonObject.optional(),
  subteam: jsonObject.optional(),
});

/** The top-level fields Bolt reads while routing; `team` and `enterprise` are null for org-wide installs. */
const routedBody = z.looseObject({
  type: z.string().optional(),
  command: z.string().optional(),
  event: eventShape.optional(),
  authorizations: z.array(jsonObject).optional(),
  actions: z.array(jsonObject).optional(),
  user: jsonObject.optional(),
  channel: jsonObject.optional(),
  team: jsonObject.nullable().optional(),
  enterprise: jsonObject.nullable().optional(),
  view: jsonObject.optional(),
  container: jsonObject.optional(),
  message: jsonObject.optional(),
  response_url: z.string().optional(),
  response_urls: z.array(jsonObject).optional(),
});

/**
 * The kinds of body opsgate has listeners for (plus what the Events API itself sends). Bolt routes
 * other kinds too: a legacy `interactive_message` with an `actions[0].action_id` of ours reached
 * the Approve listener, and `dialog_submission`, `shortcut`, `message_action`… found no listener,
 * so Bolt never acked them and answered 404 after 3 s. A slash command has no `type`.
 */
export const HANDLED_BODY_TYPES: ReadonlySet<string> = new Set([
  'block_actions',
  'block_suggestion',
  'view_submission',
  'view_closed',
  'event_callback',
  'url_verification',
  'app_rate_limited',
]);

/**
 * Slack's challenges are short tokens; Bolt echoes whatever came (a signed 3 MB one was sent back
 * whole), so anything else is refused.
 */
const urlChallenge = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/);

/** Names what is wrong with a body that is a JSON object, or undefined when Bolt may have it. */
export function bodyShapeProblem(body: unknown): AppError | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new AppError(ErrorCode.ExpectedObject, `the request body must be a JSON object, not ${kindOf(body)}`);
  }
  const r = routedBody.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join('.') || 'body';
    return new AppError(ErrorCode.ExpectedObject, `\`${field}\` has the wrong kind of value`, { field, issue: issue.message });
  }
  const { type, command } = r.data;
  if (command === undefined && (type === undefined || !HANDLED_BODY_TYPES.has(type))) {
    return new AppError(ErrorCode.BadParameter, type === undefined ? 'the request has no `type`' : `opsgate does not handle Slack requests of type \`${cut(type)}\``, { field: 'type' });
  }
  if (type === 'url_verification' && !urlChallenge.safeParse((body as { challenge?: unknown }).challenge).success) {
    return new AppError(ErrorCode.BadParameter, '`challenge` must be at most 100 letters, digits, `_` or `-`', { field: 'challenge' });
  }
  return undefined;
}

/** The body as Bolt will parse it, or a coded reason why Bolt must not have it. */
export function parseSlackBody(raw: string, contentType: string | undefined): { body: Record<string, unknown> } | { problem: AppError } {
  let body: unknown;
  if (contentType === FORM) {
    const fields = parseQuery(raw);
    for (const [name, value] of Object.entries(fields)) {
      // Bolt would hand a repeated field to listeners as an array where Slack sends one string.
      if (Array.isArray(value)) return { problem: new AppError(ErrorCode.BadParameter, `the form field \`${cut(name)}\` is repeated`) };
    }
    if (fields.payload === undefined) body = fields;
    else {
      const parsed = parseJson(fields.payload as string, 'the form field `payload`');
      if ('problem' in parsed) return parsed;
      body = parsed.value;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return { problem: new AppError(ErrorCode.ExpectedObject, `the form field \`payload\` must be a JSON object, not ${kindOf(body)}`) };
      }
    }
  } else {
    const parsed = parseJson(raw, 'the request body');
    if ('problem' in parsed) return parsed;
    body = parsed.value;
  }
  const problem = bodyShapeProblem(body);
  return problem ? { problem } : { body: body as Record<string, unknown> };
}

function parseJson(text: string, what: string): { value: unknown } | { problem: AppError } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { problem: new AppError(ErrorCode.BadParameter, `${what} is not valid JSON`) };
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function cut(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
