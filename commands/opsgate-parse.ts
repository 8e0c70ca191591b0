/**
 * Parses the text after `/opsgate` into a typed request. Bad input becomes an AppError 1100
 * (or 1102 for a missing argument) naming what is wrong; nothing else is decided here.
 */
import { badParameter, missingField } from '../src/errors.js';
import type { Resource } from '../src/services/rbac.js';
import type { RoleName } from '../src/models/rbac.js';
import type { Who } from '../src/services/console.js';

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
  | { sub: 'grant' | 'revoke'; role: RoleName; resource: Resource; who: Who }
  | { sub: 'team-create'; name: string; organization: string | null }
  | { sub: 'team-add' | 'team-remove'; team: string; who: Who }
  | { sub: 'org-create'; name: string };

export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

export function parseResource(token: string | undefined): Resource {
  if (!token) throw missingField('resource');
  if (token === 'global') return { type: 'global', id: '*' };
  const m = /^(organization|org|inventory|project|template):(.+)$/.exec(token);
  if (!m) throw badParameter(`resource must be global, organization:<name>, inventory:<env>, project:<name> or template:<name> (got "${token}")`);
  const type = m[1] === 'org' ? 'organization' : (m[1] as Resource['type']);
  return { type, id: m[2]! };
}

export function parseWho(token: string | undefined): Who {
  if (!token) throw missingField('who (@user, person:<id> or team:<name>)');
  const mention = /^<@([UW][A-Z0-9]+)(\|[^>]*)?>$/.exec(token);
  if (mention) return { kind: 'slack', slackUserId: mention[1]! };
  const m = /^(person|team):(.+)$/.exec(token);
  if (m) return { kind: m[1] as 'person' | 'team', id: m[2]! };
  throw badParameter(`who must be an @mention, person:<id> or team:<name> (got "${token}")`);
}

function parseRole(token: string | undefined): RoleName {
  if (token === 'use' || token === 'admin') return token;
  if (!token) throw missingField('role (use or admin)');
  throw badParameter(`role must be use or admin (got "${token}")`);
}

function parseAudit(args: string[]): OpsgateRequest {
  const req: { sub: 'audit'; actor?: string; action?: string; target?: string; limit?: number } = { sub: 'audit' };
  for (const a of args) {
    const m = /^(actor|action|target|limit):(.+)$/.exec(a);
    if (!m) throw badParameter(`audit filters are actor:x, action:x, target:x and limit:n (got "${a}")`);
    if (m[1] === 'limit') {
      const n = Number(m[2]);
      if (!Number.isInteger(n) || n < 1 || n > 200) throw badParameter('limit must be a whole number from 1 to 200');
      req.limit = n;
    } else req[m[1] as 'actor' | 'action' | 'target'] = m[2]!;
  }
  return req;
}

export function parseOpsgate(text: string): OpsgateRequest {
  const [sub = 'help', ...args] = tokenize(text.trim());
  switch (sub.toLowerCase()) {
    case 'help':
    case 'whoami':
    case 'sync':
    case 'reload':
    case 'projects':
    case 'products':
    case 'teams':
      return { sub: sub.toLowerCase() } as OpsgateRequest;
    case 'hosts':
      return { sub: 'hosts', filter: args.join(' ') };
    case 'audit':
      return parseAudit(args);
    case 'grant':
    case 'revoke':
      if (args.length !== 3) throw badParameter(`usage: /opsgate ${sub} <use|admin> <resource> <who>`);
      return { sub: sub as 'grant' | 'revoke', role: parseRole(args[0]), resource: parseResource(args[1]), who: parseWho(args[2]) };
    case 'team': {
      const [verb, name, third] = args;
      if (verb === 'create') {
        if (!name) throw missingField('team name');
        if (third !== undefined && !third.startsWith('org:')) throw badParameter(`usage: /opsgate team create <name> [org:<organization>]`);
        return { sub: 'team-create', name, organization: third ? third.slice(4) : null };
      }
      if (verb === 'add' || verb === 'remove') {
        if (!name) throw missingField('team name');
        return { sub: verb === 'add' ? 'team-add' : 'team-remove', team: name, who: parseWho(third) };
      }
      throw badParameter('usage: /opsgate team create|add|remove ...');
    }
    case 'org':
      if (args[0] !== 'create' || !args[1]) throw badParameter('usage: /opsgate org create <name>');
      return { sub: 'org-create', name: args[1] };
    default:
      throw badParameter(`unknown command "${sub}"; try /opsgate help`);
  }
}
