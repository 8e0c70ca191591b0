/** `/opsgate whoami` and `/opsgate teams`. */
import { ResourceType, Role, type RoleGrant, type Team } from '../src/models/rbac.js';
import type { Person } from '../src/models/person.js';
import { code, context, esc, header, rowsToSections, section, type Message } from './kit.js';
import { echo } from './limits.js';

const TYPE_NAMES = Object.fromEntries(Object.entries(ResourceType).map(([k, v]) => [v, k])) as Record<number, string>;
const ROLE_NAMES = Object.fromEntries(Object.entries(Role).map(([k, v]) => [v, k])) as Record<number, string>;

export function describeGrant(g: Pick<RoleGrant, 'resourceType' | 'resourceId' | 'role' | 'subjectKind' | 'subjectId'>): string {
  const type = TYPE_NAMES[g.resourceType] ?? String(g.resourceType);
  const resource = type === 'global' ? 'global' : `${type}:${g.resourceId}`;
  const via = g.subjectKind === 'team' ? ` (via team ${g.subjectId})` : '';
  return `${ROLE_NAMES[g.role] ?? g.role} on ${resource}${via}`;
}

export interface WhoAmI {
  slackUserId: string;
  person: Person | null;
  globalAdmin: boolean;
  teams: Team[];
  grants: RoleGrant[];
}

export function whoamiMessage(w: WhoAmI): Message {
  if (!w.person) {
    const text = `:bust_in_silhouette: <@${w.slackUserId}> is not in the opsgate directory. [1201] Ask an admin to add you.`;
    return { text, blocks: [section(text)] };
  }
  const p = w.person;
  const lines = [
    `*${esc(p.name)}* (${code(p.personId)}) — ${esc(p.email)}`,
    `Level ${code(p.level)} · department ${p.department ? esc(p.department) : '—'} · manager ${p.manager ? code(p.manager) : '—'}`,
    `Groups: ${p.groups.length ? p.groups.map(code).join(' ') : '—'}`,
    `Teams: ${w.teams.length ? w.teams.map((t) => code(t.name)).join(' ') : '— (not in any team)'}`,
    `Roles: ${[w.globalAdmin ? 'global admin' : '', ...w.grants.map(describeGrant)].filter(Boolean).join('; ') || '—'}`,
    p.sshKeys.length === 0 && (p.importedSshKeys?.length ?? 0) > 0
      ? `SSH keys: ${p.importedSshKeys!.length} (imported from the old bastion; the directory lists none)`
      : `SSH keys: ${p.sshKeys.length}`,
  ];
  return { text: `You are ${echo(p.name)}`, blocks: [header('Who am I'), section(lines.join('\n'))] };
}

export function teamsMessage(teams: Team[]): Message {
  if (teams.length === 0) return { text: 'No teams yet', blocks: [section('No teams yet. An admin creates one with `/opsgate team create <name>`.')] };
  const rows = teams.map((t) => `*${esc(t.name)}*${t.organization ? ` (org ${esc(t.organization)})` : ''}: ${t.members.length ? t.members.map(code).join(' ') : '—'}`);
  return { text: `${teams.length} teams`, blocks: [header('Teams'), ...rowsToSections(rows, 15), context(`${teams.length} teams`)] };
}
