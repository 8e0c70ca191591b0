/** `/opsgate help`: every command with one line each. */
import { Commands } from '../commands/ids.js';
import { context, header, section, type Message } from './kit.js';

export interface HelpEntry {
  usage: string;
  summary: string;
  adminOnly?: boolean;
}

/** The single list of commands: help text and the README are written from it. */
export const HELP: HelpEntry[] = [
  { usage: `${Commands.opsgate} help`, summary: 'this list' },
  { usage: `${Commands.opsgate} whoami`, summary: 'your directory record, groups, teams and roles' },
  { usage: `${Commands.opsgate} hosts [filter]`, summary: 'hosts in the inventory; filter by name words or env:/project:/app:/label:value' },
  { usage: `${Commands.opsgate} projects`, summary: 'projects with their hosts, people and contacts' },
  { usage: `${Commands.opsgate} products`, summary: 'the products collection (prod_name, init_sls, templates)' },
  { usage: `${Commands.opsgate} teams`, summary: 'teams and their members' },
  { usage: `${Commands.opsgate} sync`, summary: 'sync the people directory now', adminOnly: true },
  { usage: `${Commands.opsgate} reload`, summary: 'reload the catalog (hosts, projects, products)', adminOnly: true },
  { usage: `${Commands.opsgate} audit [actor:x] [action:x] [target:x] [limit:n]`, summary: 'the audit log, newest first', adminOnly: true },
  { usage: `${Commands.opsgate} audit export [actor:x] [action:x] [target:x] [since:YYYY-MM-DD] [until:YYYY-MM-DD] [limit:n]`, summary: 'the matching audit entries as a CSV file in your DM (up to 50,000)', adminOnly: true },
  { usage: `${Commands.opsgate} grant <use|admin> <resource> <who>`, summary: 'give a role; resource: global, organization:x, inventory:<env>, project:x, template:x; who: @user, person:<id>, team:<name>', adminOnly: true },
  { usage: `${Commands.opsgate} revoke <use|admin> <resource> <who>`, summary: 'take a role back', adminOnly: true },
  { usage: `${Commands.opsgate} team create <name> [org:<organization>]`, summary: 'create a team', adminOnly: true },
  { usage: `${Commands.opsgate} team add|remove <team> <who>`, summary: 'change team membership', adminOnly: true },
  { usage: `${Commands.opsgate} org create <name>`, summary: 'create an organization', adminOnly: true },
  { usage: `${Commands.opsgate} token create <name> [expires:30d] [scope:read|write]`, summary: 'a personal API token for /api/v1/ (shown once; acts as you; read unless scope:write)' },
  { usage: `${Commands.opsgate} token list [all]`, summary: 'your API tokens (all: everyone\'s, admins)' },
  { usage: `${Commands.opsgate} token revoke <AT-id>`, summary: 'revoke an API token (yours; admins: any)' },
  { usage: `${Commands.access} request`, summary: 'ask for time-limited login access to hosts (a form; or inline: <host,host> <root|evans|readonly> <7d> <reason>)' },
  { usage: `${Commands.access} mine`, summary: 'hosts you can log in to, until when, with a revoke button' },
  { usage: `${Commands.access} requests`, summary: 'your access requests and their status' },
  { usage: `${Commands.access} approvals`, summary: 'access requests waiting for your decision' },
  { usage: `${Commands.access} host <name>`, summary: 'who holds root / evans / readonly on a host, and its history' },
  { usage: `${Commands.access} all [state:x] [host:x] [person:x]`, summary: 'every access request', adminOnly: true },
  { usage: `${Commands.access} revoke <grant>`, summary: 'end a grant now (its holder or an admin)' },
  { usage: `${Commands.access} cancel <request>`, summary: 'withdraw a request still waiting for approval' },
];

export function helpMessage(): Message {
  const lines = HELP.map((h) => `\`${h.usage}\` — ${h.summary}${h.adminOnly ? ' _(admins)_' : ''}`);
  return {
    text: 'opsgate commands',
    blocks: [header('opsgate commands'), section(lines.join('\n')), context('Every refusal carries a code: 1100 bad parameter, 1200 permission (1201 need permission, 1202 not in a team), 1300 internal.')],
  };
}
