/**
 * What `/opsgate` does, as plain data: each method identifies the caller, checks permission
 * through RbacService and returns what the listener renders. No Slack types here.
 */
import type { AuditEntry } from '../models/audit.js';
import type { Host, Product, Project } from '../models/inventory.js';
import type { Person } from '../models/person.js';
import type { RoleGrant, RoleName, Team } from '../models/rbac.js';
import { AppError, badParameter, ErrorCode } from '../errors.js';
import { Readable } from 'node:stream';
import type { AuditLog, AuditQuery } from './audit.js';
import { auditCsv } from './audit-csv.js';
import type { FileToUser } from './tickets/full-log.js';
import type { DirectoryService } from './directory/directory.js';
import type { InventoryService, ReloadResult } from './inventory.js';
import type { RbacService, Resource, Subject } from './rbac.js';
import type { ApiTokenService, NewToken, TokenInfo } from './api-tokens.js';

export type Who = { kind: 'slack'; slackUserId: string } | Subject;

export interface WhoAmIData {
  slackUserId: string;
  person: Person | null;
  globalAdmin: boolean;
  teams: Team[];
  grants: RoleGrant[];
}

export interface ConsoleDeps {
  directory: DirectoryService;
  rbac: RbacService;
  inventory: InventoryService;
  audit: AuditLog;
  /** Queues a directory sync; its result is posted to `responseUrl` when given. */
  enqueueSync: (req: { actor: string; responseUrl?: string }) => Promise<void>;
  /** Files into a person's DM (audit export); none without Slack. */
  files?: FileToUser;
  /** Personal API tokens (`/opsgate token`). */
  tokens: ApiTokenService;
}

export interface AuditExportResult {
  filename: string;
  rows: number;
  /** The limit was reached: older matching entries were left out. */
  capped: boolean;
}

export const HOST_LIST_LIMIT = 100;

export interface ProjectDetails {
  project: Project;
  /** The project's hosts still in the inventory, in the project's order. */
  hosts: Host[];
  /** The people the project lists who are in the directory. */
  people: Person[];
}

/**
 * The caller's Slack user id goes into directory queries: it must be a plain string of Slack's
 * shape, never an object a query would read as an operator (the listeners check it too).
 */
function slackUser(id: unknown): string {
  if (typeof id !== 'string' || !/^[UW][A-Z0-9]{2,30}$/.test(id)) throw new AppError(ErrorCode.ExpectedObject, 'the caller is not a Slack user id');
  return id;
}

export class ConsoleService {
  constructor(private readonly deps: ConsoleDeps) {}

  private actor(slackUserId: string): Promise<Person> {
    return this.deps.directory.requireBySlackUser(slackUser(slackUserId));
  }

  private async member(slackUserId: string): Promise<Person> {
    const person = await this.actor(slackUserId);
    await this.deps.rbac.requireMember(person);
    return person;
  }

  private async admin(slackUserId: string): Promise<Person> {
    const person = await this.actor(slackUserId);
    await this.deps.rbac.requireAdmin(person);
    return person;
  }

  async whoami(slackUserId: string): Promise<WhoAmIData> {
    const person = await this.deps.directory.findBySlackUser(slackUser(slackUserId));
    if (!person) return { slackUserId, person: null, globalAdmin: false, teams: [], grants: [] };
    const s = await this.deps.rbac.standing(person);
    return { slackUserId, person, globalAdmin: s.globalAdmin, teams: s.teams, grants: s.grants };
  }

  async hosts(slackUserId: string, filter: string): Promise<Host[]> {
    await this.member(slackUserId);
    return this.deps.inventory.hosts(filter, HOST_LIST_LIMIT);
  }

  /** One page of hosts for the API: by name, after `after`, at most `limit`. Members only. */
  async hostsPage(slackUserId: string, filter: string, after: string | undefined, limit: number): Promise<Host[]> {
    await this.member(slackUserId);
    return this.deps.inventory.hostsPage(filter, after, limit);
  }

  /** Seed 000's project record: its hosts (with their labels), its people and its contacts. Members only. */
  async project(slackUserId: string, name: string): Promise<ProjectDetails> {
    await this.member(slackUserId);
    const project = await this.deps.inventory.project(name);
    if (!project) throw badParameter(`no project ${name}`, { field: 'name' });
    const hosts = (await Promise.all(project.hosts.map((h) => this.deps.inventory.hostByName(h)))).filter((h): h is Host => h !== null);
    const people = await this.deps.directory.byPersonIds(project.people);
    return { project, hosts, people };
  }

  async projects(slackUserId: string): Promise<Project[]> {
    await this.member(slackUserId);
    return this.deps.inventory.projects();
  }

  async products(slackUserId: string): Promise<Product[]> {
    await this.member(slackUserId);
    return this.deps.inventory.products();
  }

  async teams(slackUserId: string): Promise<Team[]> {
    await this.member(slackUserId);
    return this.deps.rbac.teams();
  }

  async requestSync(slackUserId: string, responseUrl?: string): Promise<void> {
    const person = await this.admin(slackUserId);
    // A stored job turns an undefined field into null: leave it out instead.
    await this.deps.enqueueSync({ actor: person.personId, ...(responseUrl ? { responseUrl } : {}) });
  }

  async reload(slackUserId: string): Promise<ReloadResult> {
    const person = await this.admin(slackUserId);
    return this.deps.inventory.reload(person.personId);
  }

  async audit(slackUserId: string, q: AuditQuery): Promise<AuditEntry[]> {
    await this.admin(slackUserId);
    return this.deps.audit.query(q);
  }

  /** The matching entries, oldest first, as a CSV file in the admin's DM; the export is audited too. */
  async exportAudit(slackUserId: string, q: AuditQuery & { limit: number }): Promise<AuditExportResult> {
    const person = await this.admin(slackUserId);
    if (!this.deps.files) throw new AppError(ErrorCode.Internal, 'files cannot be sent here (no Slack file uploads configured)');
    const entries = (await this.deps.audit.query(q, q.limit)).reverse();
    const csv = Buffer.from(auditCsv(entries), 'utf8');
    const filename = `opsgate-audit-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}Z.csv`;
    const filters = (['actor', 'action', 'target'] as const).filter((k) => q[k]).map((k) => `${k}:${q[k]}`);
    if (q.since) filters.push(`since:${q.since.toISOString()}`);
    if (q.until) filters.push(`until:${q.until.toISOString()}`);
    await this.deps.files.sendToUser(slackUserId, {
      filename,
      title: 'opsgate audit export',
      bytes: csv.length,
      body: Readable.from([csv]),
      comment: `${entries.length} audit entries${filters.length ? ` (${filters.join(' ')})` : ''}, oldest first.`,
    });
    await this.deps.audit.record({ actor: person.personId, action: 'audit.export', target: 'audit:export', to: { rows: entries.length }, note: filters.join(' ') || 'all entries' });
    return { filename, rows: entries.length, capped: entries.length === q.limit };
  }

  private async subject(who: Who): Promise<Subject> {
    if (who.kind !== 'slack') return who;
    const p = await this.deps.directory.findBySlackUser(slackUser(who.slackUserId));
    if (!p) throw badParameter(`<@${who.slackUserId}> is not in the opsgate directory`);
    return { kind: 'person', id: p.personId };
  }

  async grant(slackUserId: string, role: RoleName, resource: Resource, who: Who): Promise<'granted' | 'already'> {
    const actor = await this.actor(slackUserId);
    return this.deps.rbac.grant(actor, await this.subject(who), resource, role);
  }

  async revoke(slackUserId: string, role: RoleName, resource: Resource, who: Who): Promise<'revoked' | 'absent'> {
    const actor = await this.actor(slackUserId);
    return this.deps.rbac.revoke(actor, await this.subject(who), resource, role);
  }

  async createTeam(slackUserId: string, name: string, organization: string | null): Promise<void> {
    const actor = await this.actor(slackUserId);
    await this.deps.rbac.createTeam(actor, name, organization);
  }

  async changeTeam(slackUserId: string, op: 'add' | 'remove', team: string, who: Who): Promise<string> {
    const actor = await this.actor(slackUserId);
    const subject = await this.subject(who);
    if (subject.kind !== 'person') throw badParameter('only people can be team members');
    return op === 'add' ? this.deps.rbac.addMember(actor, team, subject.id) : this.deps.rbac.removeMember(actor, team, subject.id);
  }

  /** A new API token for the caller: its text is in the answer once (an ephemeral message) and stored only as a hash. */
  createToken(slackUserId: string, req: NewToken): Promise<{ token: string; info: TokenInfo }> {
    return this.deps.tokens.create(slackUser(slackUserId), req);
  }

  /** The caller's tokens, or everyone's (`all`, global admins). */
  listTokens(slackUserId: string, all: boolean): Promise<TokenInfo[]> {
    return this.deps.tokens.list(slackUser(slackUserId), all);
  }

  revokeToken(slackUserId: string, tokenId: string): Promise<{ info: TokenInfo; changed: boolean }> {
    return this.deps.tokens.revoke(slackUser(slackUserId), tokenId);
  }

  async createOrganization(slackUserId: string, name: string): Promise<void> {
    const actor = await this.actor(slackUserId);
    await this.deps.rbac.createOrganization(actor, name);
  }
}
