/**
 * Who may ask for what, and who approves it (seed 003, catalog/access.yaml). Pure functions
 * over the policy and directory data; every refusal is an AppError with its code.
 */
import { keysOf } from '../directory/keys.js';
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import type { AccessRole } from '../../models/access.js';
import type { Person } from '../../models/person.js';
import { isQualified } from '../approvals/qualification.js';
import type { AccessPolicy } from '../catalog/schema.js';

export interface RequestInput {
  hosts: string[];
  role: AccessRole;
  days: number;
  reason: string;
}

/** Refuses what the requester may not ask for: roles and durations reserved to groups. */
export function checkEntitlement(policy: AccessPolicy, person: Person, input: RequestInput): void {
  const needGroup = policy.restrictedRoles[input.role];
  if (needGroup && !person.groups.includes(needGroup)) {
    throw new AppError(ErrorCode.NeedPermission, `only members of ${needGroup} may ask for ${input.role}`, { field: 'role' });
  }
  if (!policy.allowedDays.includes(input.days)) {
    throw badParameter(`duration must be one of ${policy.allowedDays.map((d) => `${d}d`).join(', ')} (got ${input.days}d)`, { field: 'days' });
  }
  if (input.days > policy.maxDaysWithoutGroup && !person.groups.includes(policy.longGroup)) {
    throw new AppError(ErrorCode.NeedPermission, `only members of ${policy.longGroup} may ask for more than ${policy.maxDaysWithoutGroup} days`, { field: 'days' });
  }
  if (keysOf(person).length === 0) {
    throw badParameter('your directory record has no SSH public key; ask for it to be added to the directory, then request again');
  }
  if (input.reason.trim().length < 3) throw badParameter('give a reason (at least 3 characters)', { field: 'reason' });
  if (input.reason.length > 500) throw badParameter('the reason is longer than 500 characters', { field: 'reason' });
  if (input.hosts.length === 0) throw badParameter('choose at least one host', { field: 'hosts' });
  if (input.hosts.length > 50) throw badParameter('at most 50 hosts per request', { field: 'hosts' });
}

export interface PlannedLevel {
  label: string;
  /** How the approvers were chosen: `manager`, `group:<name>` or `people`. */
  rule: string;
  approvers: Person[];
}

export interface PeopleLookup {
  managerChain(person: Person): Promise<Person[]>;
  inGroup(group: string): Promise<Person[]>;
  byIds(ids: string[]): Promise<Person[]>;
}

/**
 * The approval levels for a request, in order, each with the qualified people who may decide
 * it. A level nobody qualified can decide refuses the request (1100) before anything is written.
 */
export async function planLevels(policy: AccessPolicy, requester: Person, role: AccessRole, people: PeopleLookup): Promise<PlannedLevel[]> {
  const qualified = (p: Person): boolean => p.active && p.personId !== requester.personId && isQualified(p.level, policy.qualification);
  const levels: PlannedLevel[] = [];
  // People who must decide an earlier level (its only approver) cannot decide a later one too.
  const committed = new Set<string>();
  for (const entry of policy.levels) {
    if (entry.roles && !entry.roles.includes(role)) continue;
    let approvers: Person[];
    let rule: string;
    if (entry.approvers === 'manager') {
      const next = (await people.managerChain(requester)).find(qualified);
      approvers = next ? [next] : [];
      rule = 'manager';
    } else if ('group' in entry.approvers) {
      approvers = (await people.inGroup(entry.approvers.group)).filter(qualified);
      rule = `group:${entry.approvers.group}`;
    } else {
      approvers = (await people.byIds(entry.approvers.people)).filter(qualified);
      rule = 'people';
    }
    if (approvers.filter((a) => !committed.has(a.personId)).length === 0) {
      throw badParameter(`nobody qualified is left to approve the ${entry.label} level of your request; ask an admin to check the directory and catalog/access.yaml`);
    }
    if (approvers.length === 1) committed.add(approvers[0]!.personId);
    levels.push({ label: entry.label, rule, approvers });
  }
  if (levels.length === 0) throw badParameter(`the access policy has no approval level for ${role}; ask an admin to fix catalog/access.yaml`);
  return levels;
}
