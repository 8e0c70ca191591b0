/**
 * Parses the text after `/opsgate` into a typed request. Bad input becomes an AppError 1100
 * (or 1102 for a missing argument) naming what is wrong; nothing else is decided here.
 *
 * Everything is bounded here, before any service sees it: the text (Slack's own limit is 4,000
 * characters), each word, each filter value and search; control characters (a NUL reached a
 * regular expression once) are refused. Values quoted back in a refusal go through `echo`.
 */
import { echo, firstControlChar } from '../blocks/limits.js';
import { badParameter, missingField } from '../src/errors.js';
import type { Resource } from '../src/services/rbac.js';
import type { RoleName } from '../src/models/rbac.js';
import type { Who } from '../src/services/console.js';
import type { TokenScope } from '../src/models/api-token.js';
import { TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS } from '../src/services/api-tokens.js';

export const TEXT_LIMIT = 4_000;
export const WORD_LIMIT = 200;
/** A filter value (`actor:x`, `env:x`) or a search word: these become MongoDB filters. */
export const VALUE_LIMIT = 100;
/** Words in one host filter: each is one condition of the query. */
export const FILTER_WORDS_LIMIT = 20;

/** Team, organization, person and resource names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type OpsgateRequest =
  | { sub: 'help' }
  | { sub: 'whoami' }
  | { sub: 'sync' }
  | { sub: 'reload' }
  | { sub: 'hosts'; filter: string }
  | { sub: 'projects' }
  | { sub: 'products' }
  | { sub: 'teams' }
  | { sub: 'audit'; actor?: string; action?: string; target?: string; limit?: number }
  | { sub: 'audit-export'; actor?: string; action?: string; target?: string; since?: Date; until?: Date; limit: number }
  | { sub: 'grant' | 'revoke'; role: RoleName; resource: Resource; who: Who }
  | { sub: 'team-create'; name: string; organization: string | null }
  | { sub: 'team-add' | 'team-remove'; team: string; who: Who }
  | { sub: 'org-create'; name: string }
  | { sub: 'token-create'; name: string; days: number; scope: TokenScope }
  | { sub: 'token-list'; all: boolean }
  | { sub: 'token-revoke'; id: string };

/** The whole text: within Slack's limit and free of control characters (tab and newline are fine). */
export function checkText(text: string, limit = TEXT_LIMIT): string {
  if (text.length > limit) throw badParameter(`the text is ${text.length.toLocaleString('en')} characters; the limit is ${limit.toLocaleString('en')}`);
  const bad = firstControlChar(text);
  if (bad) throw badParameter(`the text contains a control character (U+${bad.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}); type it without`);
  return text;
}

/** Words, with "double" or 'single' quotes grouping; each word at most 200 characters. */
export function tokenize(text: string): string[] {
  checkText(text);
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const word = m[1] ?? m[2] ?? m[3] ?? '';
    if (word.length > WORD_LIMIT) throw badParameter(`a word is ${word.length.toLocaleString('en')} characters; the limit is ${WORD_LIMIT}`);
    out.push(word);
  }
  return out;
}

/** A value that becomes part of a query: non-empty, at most 100 characters. */
export function filterValue(key: string, value: string): string {
  if (value === '') throw badParameter(`${key}: needs a value`, { field: key });
  if (value.length > VALUE_LIMIT) throw badParameter(`the value of ${key}: is ${value.length} characters; the limit is ${VALUE_LIMIT}`, { field: key });
  return value;
}

function name(what: string, token: string): string {
  if (!NAME.test(token)) throw badParameter(`${what} must be 1-64 letters, digits, . _ - (got "${echo(token)}")`);
  return token;
}

/** Arguments beyond what a command takes are refused, named, rather than silently ignored. */
function noExtra(usage: string, extra: string[]): void {
  if (extra.length > 0) throw badParameter(`unexpected ${extra.length === 1 ? 'argument' : 'arguments'} ${extra.map((e) => `"${echo(e, 30)}"`).slice(0, 5).join(' ')}${extra.length > 5 ? ' …' : ''}; usage: ${usage}`);
}

export function parseResource(token: string | undefined): Resource {
  if (!token) throw missingField('resource');
  if (token === 'global') return { type: 'global', id: '*' };
  const m = /^(organization|org|inventory|project|template):(.*)$/.exec(token);
  if (!m) throw badParameter(`resource must be global, organization:<name>, inventory:<env>, project:<name> or template:<name> (got "${echo(token)}")`);
  const type = m[1] === 'org' ? 'organization' : (m[1] as Resource['type']);
  if (m[2] === '') throw badParameter(`${m[1]}: needs a name`);
  return { type, id: name(`the ${type} name`, m[2]!) };
}

export function parseWho(token: string | undefined): Who {
  if (!token) throw missingField('who (@user, person:<id> or team:<name>)');
  const mention = /^<@([UW][A-Z0-9]{2,30})(\|[^>]*)?>$/.exec(token);
  if (mention) return { kind: 'slack', slackUserId: mention[1]! };
  const m = /^(person|team):(.*)$/.exec(token);
  if (m) {
    if (m[2] === '') throw badParameter(`${m[1]}: needs a name`);
    return { kind: m[1] as 'person' | 'team', id: name(`the ${m[1]} id`, m[2]!) };
  }
  throw badParameter(`who must be an @mention, person:<id> or team:<name> (got "${echo(token)}")`);
}

function parseRole(token: string | undefined): RoleName {
  if (token === 'use' || token === 'admin') return token;
  if (!token) throw missingField('role (use or admin)');
  throw badParameter(`role must be use or admin (got "${echo(token)}")`);
}

/** A whole number written in decimal digits (no 1e2, 0x10, 1.0 or +5) within [min, max]. */
export function decimal(key: string, text: string, min: number, max: number): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) < min || Number(text) > max) throw badParameter(`${key} must be a whole number from ${min} to ${max} in digits (got "${echo(text, 20)}")`, { field: key });
  return Number(text);
}

/** Most entries one `/opsgate audit export` writes, and its default. */
export const AUDIT_EXPORT_MAX = 50_000;
export const AUDIT_EXPORT_DEFAULT = 10_000;

/**
 * `key:value` words, each key one of `parsers` and given at most once, its value checked as a
 * filter value (not empty, bounded) and then by its parser; any other word is refused with
 * `usage`.
 */
function keyedWords<T extends Record<string, unknown>>(args: string[], parsers: { [K in keyof T]: (value: string) => T[K] }, usage: string): Partial<T> {
  const out: Partial<T> = {};
  for (const a of args) {
    const colon = a.indexOf(':');
    const key = a.slice(0, colon);
    if (colon < 0 || !Object.hasOwn(parsers, key)) throw badParameter(`${usage} (got "${echo(a)}")`);
    const k = key as keyof T & string;
    if (out[k] !== undefined) throw badParameter(`${key}: is given twice`);
    out[k] = parsers[k](filterValue(key, a.slice(colon + 1)));
  }
  return out;
}

const text = (v: string): string => v;

function parseAudit(args: string[]): OpsgateRequest {
  if (args[0]?.toLowerCase() === 'export') return parseAuditExport(args.slice(1));
  const words = keyedWords(args, { actor: text, action: text, target: text, limit: (v) => decimal('limit', v, 1, 200) }, 'audit filters are actor:x, action:x, target:x and limit:n');
  return { sub: 'audit', ...words };
}

/** `export [actor:x] [action:x] [target:x] [since:YYYY-MM-DD] [until:YYYY-MM-DD] [limit:n]`; until is inclusive. */
function parseAuditExport(args: string[]): OpsgateRequest {
  const words = keyedWords(
    args,
    {
      actor: text,
      action: text,
      target: text,
      since: (v) => day('since', v),
      until: (v) => new Date(day('until', v).getTime() + 86_400_000),
      limit: (v) => decimal('limit', v, 1, AUDIT_EXPORT_MAX),
    },
    'audit export filters are actor:x, action:x, target:x, since:YYYY-MM-DD, until:YYYY-MM-DD and limit:n',
  );
  if (words.since && words.until && words.since >= words.until) throw badParameter('since: must be on or before until:', { field: 'since' });
  return { sub: 'audit-export', ...words, limit: words.limit ?? AUDIT_EXPORT_DEFAULT };
}

/** A calendar day in UTC, written YYYY-MM-DD and real (no 2026-02-30). */
function day(key: string, text: string): Date {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00Z`) : null;
  if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text) throw badParameter(`${key} must be a day written YYYY-MM-DD (got "${echo(text, 20)}")`, { field: key });
  return d;
}

function parseHosts(args: string[]): OpsgateRequest {
  if (args.length > FILTER_WORDS_LIMIT) throw badParameter(`a host filter has ${args.length} words; the limit is ${FILTER_WORDS_LIMIT}`);
  for (const w of args) {
    const m = /^([A-Za-z0-9_-]+):(.*)$/s.exec(w);
    if (m) filterValue(m[1]!, m[2]!);
    else filterValue('a search word', w);
  }
  return { sub: 'hosts', filter: args.join(' ') };
}

const TOKEN_USAGE = '/opsgate token create <name> [expires:30d] [scope:read|write] | token list [all] | token revoke <AT-id>';

/** `token create <name> [expires:<n>d] [scope:read|write]`, `token list [all]`, `token revoke <id>`. */
function parseToken(args: string[]): OpsgateRequest {
  const [action, ...rest] = args;
  if (action === 'create') {
    const [tokenName, ...opts] = rest;
    if (!tokenName) throw missingField('token name');
    const words = keyedWords(
      opts,
      {
        expires: (v) => {
          const m = /^(\d{1,3})d$/.exec(v);
          if (!m || Number(m[1]) < 1 || Number(m[1]) > TOKEN_MAX_DAYS) throw badParameter(`expires: must be 1d to ${TOKEN_MAX_DAYS}d (got "${echo(v, 20)}")`, { field: 'expires' });
          return Number(m[1]);
        },
        scope: (v) => {
          if (v !== 'read' && v !== 'write') throw badParameter(`scope: must be read or write (got "${echo(v, 20)}")`, { field: 'scope' });
          return v as TokenScope;
        },
      },
      `usage: ${TOKEN_USAGE}`,
    );
    return { sub: 'token-create', name: name('a token name', tokenName), days: words.expires ?? TOKEN_DEFAULT_DAYS, scope: words.scope ?? 'read' };
  }
  if (action === 'list') {
    if (rest.length > 1 || (rest[0] !== undefined && rest[0] !== 'all')) throw badParameter(`usage: ${TOKEN_USAGE}`);
    return { sub: 'token-list', all: rest[0] === 'all' };
  }
  if (action === 'revoke') {
    const [id, ...extra] = rest;
    if (!id) throw missingField('token id (AT-…, see /opsgate token list)');
    noExtra('/opsgate token revoke <AT-id>', extra);
    if (!/^AT-[0-9a-f]{10}$/.test(id)) throw badParameter(`a token id is AT- and 10 hex digits (got "${echo(id, 30)}")`, { field: 'id' });
    return { sub: 'token-revoke', id };
  }
  throw badParameter(`usage: ${TOKEN_USAGE}`);
}

export function parseOpsgate(text: string): OpsgateRequest {
  const [sub = 'help', ...args] = tokenize(text.trim());
  const verb = sub.toLowerCase();
  switch (verb) {
    case 'help':
    case 'whoami':
    case 'sync':
    case 'reload':
    case 'projects':
    case 'products':
    case 'teams':
      noExtra(`/opsgate ${verb}`, args);
      return { sub: verb } as OpsgateRequest;
    case 'hosts':
      return parseHosts(args);
    case 'audit':
      return parseAudit(args);
    case 'grant':
    case 'revoke':
      if (args.length < 3) throw badParameter(`usage: /opsgate ${verb} <use|admin> <resource> <who>`);
      noExtra(`/opsgate ${verb} <use|admin> <resource> <who>`, args.slice(3));
      return { sub: verb, role: parseRole(args[0]), resource: parseResource(args[1]), who: parseWho(args[2]) };
    case 'team': {
      const [action, teamName, third, ...extra] = args;
      if (action === 'create') {
        const usage = '/opsgate team create <name> [org:<organization>]';
        if (!teamName) throw missingField('team name');
        noExtra(usage, extra);
        if (third !== undefined && !third.startsWith('org:')) throw badParameter(`unexpected argument "${echo(third, 30)}"; usage: ${usage}`);
        if (third === 'org:') throw badParameter(`org: needs an organization name; usage: ${usage}`);
        return { sub: 'team-create', name: name('a team name', teamName), organization: third ? name('an organization name', third.slice(4)) : null };
      }
      if (action === 'add' || action === 'remove') {
        if (!teamName) throw missingField('team name');
        noExtra(`/opsgate team ${action} <team> <who>`, extra);
        return { sub: action === 'add' ? 'team-add' : 'team-remove', team: name('a team name', teamName), who: parseWho(third) };
      }
      throw badParameter('usage: /opsgate team create|add|remove ...');
    }
    case 'token':
      return parseToken(args);
    case 'org': {
      const [action, orgName, ...extra] = args;
      if (action !== 'create' || !orgName) throw badParameter('usage: /opsgate org create <name>');
      noExtra('/opsgate org create <name>', extra);
      return { sub: 'org-create', name: name('an organization name', orgName) };
    }
    default:
      throw badParameter(`unknown command "${echo(sub, 30)}"; try /opsgate help`);
  }
}
