/**
 * Every permission decision in opsgate (seed 001). Listeners never decide; they ask here.
 *
 * - A global admin (directory group `admin`, or an admin grant on the global resource) may do
 *   anything.
 * - An organization admin may do anything to the organization and to resources inside it.
 * - Anyone else must belong to a team (else 1202), and needs a grant of `use` (or `admin`,
 *   which implies `use`) on the resource, to them or to one of their teams (else 1201).
 * - Changing a team's members needs admin on the team's organization and on every resource
 *   the team holds (members inherit the team's grants).
 */
import type { Clock } from '../clock.js';
import { AppError, badParameter, ErrorCode, needPermission, notInTeam } from '../errors.js';
import type { Person } from '../models/person.js';
import { ResourceType, Role, type RbacModels, type ResourceTypeName, type RoleGrant, type RoleName, type Team } from '../models/rbac.js';
import type { AuditLog } from './audit.js';

export interface Resource {
  type: ResourceTypeName;
  /** Name of the resource; '*' for the global resource. */
  id: string;
  /** The organization the resource belongs to, when it belongs to one. */
  organization?: string | null;
}

export type Action = RoleName;

export interface Subject {
  kind: 'person' | 'team';
  id: string;
}

export const GLOBAL: Resource = { type: 'global', id: '*' };

/** Group in the directory whose members are global admins (bootstraps the first admin). */
export const ADMIN_GROUP = 'admin';

export interface RbacDeps {
  models: RbacModels;
  audit: AuditLog;
  clock: Clock;
  /** True when the named resource exists (organizations, projects, inventories, templates). */
  resourceExists: (r: Resource) => Promise<boolean>;
  /** True when a person with this id is in the directory. */
  personExists: (personId: string) => Promise<boolean>;
  /** The organization a named resource belongs to (projects name theirs in the catalog). */
  organizationOf?: (r: Resource) => Promise<string | null>;
}

export interface Standing {
  globalAdmin: boolean;
  organizationsAdmin: string[];
  teams: Team[];
  grants: RoleGrant[];
}

function describeResource(r: Resource): string {
  return r.type === 'global' ? 'opsgate (global)' : `${r.type} ${r.id}`;
}

/** A member: a global or organization admin, or someone in at least one team. */
export function isMember(s: Standing): boolean {
  return s.globalAdmin || s.organizationsAdmin.length > 0 || s.teams.length > 0;
}

export class RbacService {
  constructor(private readonly deps: RbacDeps) {}

  /** The person's teams and every grant that applies to them (direct or through a team). */
  async standing(person: Person): Promise<Standing> {
    const { Team: Teams, RoleGrant: Grants } = this.deps.models;
    const teams = await Teams.find({ members: person.personId, archived: false }).lean<Team[]>();
    const grants = await Grants.find({
      $or: [{ subjectKind: 'person', subjectId: person.personId }, { subjectKind: 'team', subjectId: { $in: teams.map((t) => t.name) } }],
    }).lean<RoleGrant[]>();
    const globalAdmin = person.groups.includes(ADMIN_GROUP) || grants.some((g) => g.resourceType === ResourceType.global && g.role === Role.admin);
    const organizationsAdmin = grants.filter((g) => g.resourceType === ResourceType.organization && g.role === Role.admin).map((g) => g.resourceId);
    return { globalAdmin, organizationsAdmin, teams, grants };
  }

  /** Allows or throws AppError 1201 / 1202, as seed 001 prescribes. */
  async require(person: Person, action: Action, resource: Resource): Promise<void> {
    const s = await this.standing(person);
    if (s.globalAdmin) return;
    // A resource named from Slack ("project:storefront") does not say its organization: look it up.
    const org = resource.type === 'organization' ? resource.id : resource.organization !== undefined ? resource.organization : ((await this.deps.organizationOf?.(resource)) ?? null);
    if (org && s.organizationsAdmin.includes(org)) return;
    if (resource.type === 'global' || resource.type === 'organization') {
      if (s.organizationsAdmin.length === 0 && s.teams.length === 0) throw notInTeam();
      throw needPermission(`you need ${action} on ${describeResource(resource)}`, { action, resource });
    }
    if (s.organizationsAdmin.length === 0 && s.teams.length === 0) throw notInTeam();
    const needed = Role[action];
    const typeNum = ResourceType[resource.type];
    const ok = s.grants.some((g) => g.resourceType === typeNum && (g.resourceId === resource.id || g.resourceId === '*') && g.role >= needed);
    if (!ok) throw needPermission(`you need ${action} on ${describeResource(resource)}`, { action, resource });
  }

  async can(person: Person, action: Action, resource: Resource): Promise<boolean> {
    try {
      await this.require(person, action, resource);
      return true;
    } catch (err) {
      if (err instanceof AppError && (err.code === ErrorCode.NeedPermission || err.code === ErrorCode.NotInTeam)) return false;
      throw err;
    }
  }

  /** Global admins only: sync, reload, audit and the like. */
  requireAdmin(person: Person): Promise<void> {
    return this.require(person, 'admin', GLOBAL);
  }

  /** Any member: a global or organization admin, or someone in at least one team (else 1202). */
  async requireMember(person: Person): Promise<void> {
    if (isMember(await this.standing(person))) return;
    throw notInTeam();
  }

  private async checkSubject(subject: Subject): Promise<void> {
    if (subject.kind === 'person') {
      if (!(await this.deps.personExists(subject.id))) throw badParameter(`no person with id ${subject.id} in the directory`);
    } else if (!(await this.deps.models.Team.exists({ name: subject.id, archived: false }))) {
      throw badParameter(`no team named ${subject.id}`);
    }
  }

  private async checkResource(resource: Resource): Promise<void> {
    if (resource.type === 'global') {
      if (resource.id !== '*') throw badParameter('the global resource has no name');
      return;
    }
    if (resource.id !== '*' && !(await this.deps.resourceExists(resource))) throw badParameter(`no ${resource.type} named ${resource.id}`);
  }

  async grant(actor: Person, subject: Subject, resource: Resource, role: RoleName): Promise<'granted' | 'already'> {
    await this.require(actor, 'admin', resource);
    if (resource.type === 'global' && role !== 'admin') throw badParameter('the global resource only has the admin role');
    await this.checkResource(resource);
    await this.checkSubject(subject);
    const key = { subjectKind: subject.kind, subjectId: subject.id, resourceType: ResourceType[resource.type], resourceId: resource.id, role: Role[role] };
    const res = await this.deps.models.RoleGrant.updateOne(key, { $setOnInsert: { ...key, grantedBy: actor.personId } }, { upsert: true });
    if (res.upsertedCount === 0) return 'already';
    await this.deps.audit.record({ actor: actor.personId, action: 'rbac.grant', target: `${subject.kind}:${subject.id}`, from: null, to: { resource, role } });
    return 'granted';
  }

  async revoke(actor: Person, subject: Subject, resource: Resource, role: RoleName): Promise<'revoked' | 'absent'> {
    await this.require(actor, 'admin', resource);
    const key = { subjectKind: subject.kind, subjectId: subject.id, resourceType: ResourceType[resource.type], resourceId: resource.id, role: Role[role] };
    const res = await this.deps.models.RoleGrant.deleteOne(key);
    if (res.deletedCount === 0) return 'absent';
    await this.deps.audit.record({ actor: actor.personId, action: 'rbac.revoke', target: `${subject.kind}:${subject.id}`, from: { resource, role }, to: null });
    return 'revoked';
  }

  async createOrganization(actor: Person, name: string): Promise<void> {
    await this.requireAdmin(actor);
    validateName(name, 'organization');
    if (await this.deps.models.Organization.exists({ name })) throw badParameter(`organization ${name} already exists`);
    await this.deps.models.Organization.create({ name });
    await this.deps.audit.record({ actor: actor.personId, action: 'organization.create', target: `organization:${name}`, to: { name } });
  }

  async createTeam(actor: Person, name: string, organization: string | null): Promise<void> {
    validateName(name, 'team');
    await this.require(actor, 'admin', organization ? { type: 'organization', id: organization } : GLOBAL);
    if (organization && !(await this.deps.models.Organization.exists({ name: organization, archived: false }))) throw badParameter(`no organization named ${organization}`);
    if (await this.deps.models.Team.exists({ name })) throw badParameter(`team ${name} already exists`);
    await this.deps.models.Team.create({ name, organization, members: [] });
    await this.deps.audit.record({ actor: actor.personId, action: 'team.create', target: `team:${name}`, to: { name, organization } });
  }

  /**
   * Members inherit every grant of their team, so whoever changes a team's members hands out
   * (or takes away) all of them: besides admin on the team's organization, the actor needs
   * admin on every resource the team holds. Without this an organization admin could join a
   * team that holds `admin global` and become global admin.
   */
  private async teamForChange(actor: Person, name: string): Promise<Team> {
    const team = await this.deps.models.Team.findOne({ name, archived: false }).lean<Team>();
    if (!team) throw badParameter(`no team named ${name}`);
    await this.require(actor, 'admin', team.organization ? { type: 'organization', id: team.organization } : GLOBAL);
    const held = await this.deps.models.RoleGrant.find({ subjectKind: 'team', subjectId: name }).lean<RoleGrant[]>();
    for (const grant of held) {
      const resource = resourceOfGrant(grant);
      if (!(await this.can(actor, 'admin', resource))) {
        throw needPermission(`team ${name} holds ${roleName(grant.role)} on ${describeResource(resource)}; changing its members needs admin there too`, { team: name, resource });
      }
    }
    return team;
  }

  async addMember(actor: Person, teamName: string, personId: string): Promise<'added' | 'already'> {
    const team = await this.teamForChange(actor, teamName);
    if (!(await this.deps.personExists(personId))) throw badParameter(`no person with id ${personId} in the directory`);
    if (team.members.includes(personId)) return 'already';
    await this.deps.models.Team.updateOne({ name: teamName }, { $addToSet: { members: personId } });
    await this.deps.audit.record({ actor: actor.personId, action: 'team.add-member', target: `team:${teamName}`, from: team.members, to: [...team.members, personId] });
    return 'added';
  }

  async removeMember(actor: Person, teamName: string, personId: string): Promise<'removed' | 'absent'> {
    const team = await this.teamForChange(actor, teamName);
    if (!team.members.includes(personId)) return 'absent';
    await this.deps.models.Team.updateOne({ name: teamName }, { $pull: { members: personId } });
    await this.deps.audit.record({
      actor: actor.personId,
      action: 'team.remove-member',
      target: `team:${teamName}`,
      from: team.members,
      to: team.members.filter((m) => m !== personId),
    });
    return 'removed';
  }

  async archiveTeam(actor: Person, teamName: string): Promise<void> {
    await this.teamForChange(actor, teamName);
    await this.deps.models.Team.updateOne({ name: teamName }, { $set: { archived: true } });
    await this.deps.audit.record({ actor: actor.personId, action: 'team.archive', target: `team:${teamName}`, from: { archived: false }, to: { archived: true } });
  }

  async teams(): Promise<Team[]> {
    return this.deps.models.Team.find({ archived: false }).sort({ name: 1 }).lean<Team[]>();
  }
}

const RESOURCE_TYPE_NAMES = new Map<number, ResourceTypeName>(Object.entries(ResourceType).map(([name, num]) => [num, name as ResourceTypeName]));

function resourceOfGrant(g: RoleGrant): Resource {
  const type = RESOURCE_TYPE_NAMES.get(g.resourceType);
  // A grant row with an unknown type cannot be checked: treat it as the strictest resource.
  if (!type) return GLOBAL;
  return type === 'global' ? GLOBAL : { type, id: g.resourceId };
}

function roleName(role: number): RoleName {
  return role >= Role.admin ? 'admin' : 'use';
}

function validateName(name: string, what: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw badParameter(`${what} names are 1-63 letters, digits, '.', '_' or '-' (got "${name}")`);
}
