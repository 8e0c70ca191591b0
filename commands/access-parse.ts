/**
 * Parses `/access ...` text and the access modals' values. Bad input is an AppError 1100/1102
 * naming what is wrong; nothing is decided here.
 */
import { z } from 'zod';
import { echo } from '../blocks/limits.js';
import { AppError, badParameter, ErrorCode, missingField } from '../src/errors.js';
import { ACCESS_ROLES, type AccessRole } from '../src/models/access.js';
import type { RequestInput } from '../src/services/access/policy.js';
import { AccessModalBlocks, Actions } from './ids.js';
import { checkText, decimal, filterValue, tokenize, VALUE_LIMIT } from './opsgate-parse.js';

export type AccessRequestText =
  | { sub: 'help' }
  | { sub: 'request'; inline: RequestInput | null }
  | { sub: 'mine' }
  | { sub: 'requests' }
  | { sub: 'approvals' }
  | { sub: 'host'; host: string }
  | { sub: 'all'; state?: string; host?: string; person?: string }
  | { sub: 'revoke'; grantId: string }
  | { sub: 'cancel'; requestId: string };

const HOST = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Hosts in one request (the extension button carries at most as many). */
const MAX_HOSTS = 50;
/** What the host search in the request form reads: longer text is refused, not searched. */
export const SEARCH_LIMIT = VALUE_LIMIT;

/** One word of subcommand takes no more arguments: extra ones are named, not ignored. */
function noExtra(usage: string, extra: string[]): void {
  if (extra.length > 0) throw badParameter(`unexpected ${extra.length === 1 ? 'argument' : 'arguments'} ${extra.slice(0, 5).map((e) => `"${echo(e, 30)}"`).join(' ')}; usage: ${usage}`);
}

export function parseDuration(token: string | undefined): number {
  if (!token) throw missingField('duration (1d, 7d, 30d or 365d)');
  const m = /^(\d{1,4})d?$/i.exec(token);
  if (!m) throw badParameter(`duration must look like 7d (got "${echo(token, 20)}")`, { field: 'days' });
  return decimal('duration', m[1]!, 1, 9999);
}

export function parseRole(token: string | undefined): AccessRole {
  if (!token) throw missingField('role (root, evans or readonly)');
  if (!(ACCESS_ROLES as readonly string[]).includes(token)) throw badParameter(`role must be root, evans or readonly (got "${echo(token, 30)}")`, { field: 'role' });
  return token as AccessRole;
}

/** `/access request web-01,web-02 readonly 7d need logs for incident 4411` */
function parseInlineRequest(args: string[], rawText: string): RequestInput | null {
  if (args.length === 0) return null;
  const [hostsToken, roleToken, daysToken] = args;
  const hosts = (hostsToken ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const bad = hosts.find((h) => !HOST.test(h));
  if (bad) throw badParameter(`"${echo(bad)}" is not a host name`, { field: 'hosts' });
  if (hosts.length > MAX_HOSTS) throw badParameter(`${hosts.length} hosts named; the limit is ${MAX_HOSTS}`, { field: 'hosts' });
  const role = parseRole(roleToken);
  const days = parseDuration(daysToken);
  // The reason is the rest of the text as typed, after `request <hosts> <role> <days>`.
  const m = /^\s*\S+\s+\S+\s+\S+\s+\S+\s+([\s\S]+)$/.exec(rawText);
  const reason = m?.[1]?.trim() ?? '';
  if (!reason) throw missingField('reason');
  if (/["']/.test(hostsToken ?? '')) throw badParameter('host lists are written without quotes: web-01,web-02', { field: 'hosts' });
  return { hosts, role, days, reason };
}

export function parseAccess(text: string): AccessRequestText {
  const tokens = tokenize(text.trim());
  const [sub = 'help', ...args] = tokens;
  switch (sub.toLowerCase()) {
    case 'help':
      return { sub: 'help' };
    case 'request':
      return { sub: 'request', inline: parseInlineRequest(args, text) };
    case 'mine':
    case 'requests':
    case 'approvals':
      noExtra(`/access ${sub.toLowerCase()}`, args);
      return { sub: sub.toLowerCase() as 'mine' | 'requests' | 'approvals' };
    case 'host':
      if (!args[0]) throw missingField('host name');
      if (!HOST.test(args[0])) throw badParameter(`"${echo(args[0])}" is not a host name`);
      noExtra('/access host <name>', args.slice(1));
      return { sub: 'host', host: args[0] };
    case 'all': {
      const out: { sub: 'all'; state?: string; host?: string; person?: string } = { sub: 'all' };
      for (const a of args) {
        const m = /^(state|host|person):(.*)$/s.exec(a);
        if (!m) throw badParameter(`filters are state:<pending|approved|rejected>, host:<name>, person:<id> (got "${echo(a)}")`);
        const key = m[1] as 'state' | 'host' | 'person';
        if (out[key] !== undefined) throw badParameter(`${key}: is given twice`);
        out[key] = filterValue(key, m[2]!);
      }
      return out;
    }
    case 'revoke':
      if (!args[0]) throw missingField('grant id (see /access mine)');
      if (!GRANT_ID.test(args[0])) throw badParameter(`"${echo(args[0])}" is not a grant id`);
      noExtra('/access revoke <grant>', args.slice(1));
      return { sub: 'revoke', grantId: args[0] };
    case 'cancel':
      if (!args[0]) throw missingField('request id (see /access requests)');
      if (!/^AR-[A-Z0-9]{6}$/.test(args[0])) throw badParameter(`"${echo(args[0])}" is not a request id such as AR-7K2M9Q`);
      noExtra('/access cancel <request>', args.slice(1));
      return { sub: 'cancel', requestId: args[0] };
    default:
      throw badParameter(`unknown command "${echo(sub, 30)}"; try /access help`);
  }
}

/** The Approve / Reject buttons' value: which click this is, never who may act. */
export const approvalValueSchema = z.object({ r: z.string().regex(/^AR-[A-Z0-9]{6}$/), l: z.number().int().min(0).max(2) }).strict();

/** A button value must be a JSON object (1101) of the expected shape (1100). */
export function jsonObject(value: string | undefined): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? '');
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AppError(ErrorCode.ExpectedObject, 'this button carries a value that is not an object');
  return parsed as Record<string, unknown>;
}

export function parseApprovalValue(value: string | undefined): z.infer<typeof approvalValueSchema> {
  const parsed = approvalValueSchema.safeParse(jsonObject(value));
  if (!parsed.success) throw badParameter('this button carries an unreadable value');
  return parsed.data;
}

export const rejectMetaSchema = approvalValueSchema.extend({ c: z.string().max(40) }).strict();

export function parseRejectMeta(metadata: string): z.infer<typeof rejectMetaSchema> {
  try {
    return rejectMetaSchema.parse(JSON.parse(metadata));
  } catch {
    throw badParameter('the form arrived with unreadable metadata; click Reject again');
  }
}

export const GRANT_ID = /^[A-Za-z0-9_-]{6,40}$/;

/** The Revoke button's value: a grant id. */
export function parseGrantIdValue(value: string | undefined): string {
  if (!value || !GRANT_ID.test(value)) throw badParameter('this button carries an unreadable grant id');
  return value;
}

/** The Show all history button's value: a host name. */
export function parseHostValue(value: string | undefined): string {
  if (!value || !HOST.test(value)) throw badParameter('this button carries an unreadable host name');
  return value;
}

export const extendValueSchema = z.object({ h: z.array(z.string().regex(HOST)).min(1).max(50), role: z.enum(ACCESS_ROLES) }).strict();

export function parseExtendValue(value: string | undefined): z.infer<typeof extendValueSchema> {
  const parsed = extendValueSchema.safeParse(jsonObject(value));
  if (!parsed.success) throw badParameter('this button carries an unreadable value');
  return parsed.data;
}

const option = z.object({ value: z.string().max(150) });
const modalValues = z.object({
  [AccessModalBlocks.hosts]: z.object({ [Actions.accessHosts]: z.object({ selected_options: z.array(option).max(100).default([]) }) }),
  [AccessModalBlocks.role]: z.object({ role: z.object({ selected_option: option.nullable().optional() }) }),
  [AccessModalBlocks.days]: z.object({ days: z.object({ selected_option: option.nullable().optional() }) }),
  [AccessModalBlocks.reason]: z.object({ reason: z.object({ value: z.string().nullable().optional() }) }),
});

/** The request modal's state.values as Slack sends them. */
export function parseRequestModal(values: unknown): RequestInput {
  const parsed = modalValues.safeParse(values);
  if (!parsed.success) throw badParameter('the form arrived incomplete; open it again with /access request', { field: 'hosts' });
  const v = parsed.data;
  const role = v[AccessModalBlocks.role].role.selected_option?.value;
  const days = v[AccessModalBlocks.days].days.selected_option?.value;
  if (!role) throw badParameter('choose a role', { field: 'role' });
  if (!days) throw badParameter('choose a duration', { field: 'days' });
  const hosts = v[AccessModalBlocks.hosts][Actions.accessHosts].selected_options.map((o) => o.value);
  const bad = hosts.find((h) => !HOST.test(h));
  if (bad !== undefined) throw badParameter(`"${echo(bad)}" is not a host name`, { field: 'hosts' });
  if (hosts.length > MAX_HOSTS) throw badParameter(`${hosts.length} hosts chosen; the limit is ${MAX_HOSTS}`, { field: 'hosts' });
  return {
    hosts,
    role: parseRole(role),
    days: parseDuration(days),
    reason: v[AccessModalBlocks.reason].reason.value ?? '',
  };
}

/**
 * What someone typed into the request form's host search: at most 100 characters without
 * control characters (1100 saying so), then only the words a host name can contain.
 */
export function parseHostSearch(text: string): string {
  checkText(text, SEARCH_LIMIT);
  return text;
}

/** What the approval engine keeps of a decision's note (engine.ts refuses more). */
export const NOTE_LIMIT = 1_000;

/** The reject form's reason; a form without state (a broken client) is 1100, not a crash. */
export function parseRejectReason(values: unknown): string {
  if (values === undefined || values === null) throw badParameter('the form arrived without its fields; click Reject again', { field: AccessModalBlocks.rejectReason });
  const r = z.object({ [AccessModalBlocks.rejectReason]: z.object({ reason: z.object({ value: z.string().nullable().optional() }) }) }).safeParse(values);
  const reason = r.success ? (r.data[AccessModalBlocks.rejectReason].reason.value ?? '').trim() : '';
  // Refused on the form; before, a longer one was acked and then refused by the engine in a DM.
  if (reason.length > NOTE_LIMIT) throw badParameter(`the reason is ${reason.length.toLocaleString('en')} characters; the limit is ${NOTE_LIMIT.toLocaleString('en')}`, { field: AccessModalBlocks.rejectReason });
  return reason;
}
