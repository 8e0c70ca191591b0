/**
 * From the old bastion's rows to what opsgate will hold: pure, no I/O. Checks every reference
 * between the files first (a problem anywhere means nothing is planned), then turns
 *
 * - each `host_bastion_apply` row into a request with one application, keeping its status
 *   (a request still waiting is cancelled: its approvers are not asked again in Slack);
 * - each valid `user_host` row into a grant with its original start and expiry, provisioned by
 *   the normal `add` task (the line goes on the host with `expiry-time`), or into history when
 *   its expiry has passed; an application still being set up becomes a grant the same way;
 * - `user_keys` into imported keys for people whose directory record has none.
 *
 * Old ids are kept in every new id (`AR-0…`, `imp-uh-…`, ids derived from the old id), so a
 * second run plans the same documents and writes nothing new.
 */
import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import { ApplicationStatus, GrantStatus, TaskStatus, type AccessRole, type ApplicationStatusValue, type Grant } from '../../models/access.js';
import { accountsForRole } from '../access/authorized-keys.js';
import { ROLE_BY_CODE, type ApplyRow, type ImportProblem, type RowRef, type Tables, type TaskRow, type UserHostRow } from './tables.js';

export interface PersonFacts {
  personId: string;
  active: boolean;
  sshKeys: string[];
  importedSshKeys: string[];
}

export interface PlanInput {
  tables: Tables;
  /** Problems found while reading the files: with any, nothing is planned. */
  readProblems?: ImportProblem[];
  people: Map<string, PersonFacts>;
  /** Host names the inventory knows (archived ones included: history may name them). */
  hosts: Map<string, { archived: boolean }>;
  /** opsgate's own open applications and valid grants (not imported), by `person host role`. */
  openInOpsgate: Map<string, string>;
  heldInOpsgate: Map<string, string>;
  now: Date;
  /** The length of a day of access (ACCESS_DAY_MS). */
  dayMs: number;
}

export interface ImportedFrom {
  table: 'host_bastion_apply' | 'user_host';
  id: number;
}

/** A grant as access_grants holds it, naming the old row it came from. */
export type PlannedGrant = Omit<Grant, 'importedFrom'> & { importedFrom: ImportedFrom };

export interface Skip {
  ref: RowRef;
  why: string;
}

export interface Plan {
  problems: ImportProblem[];
  requests: Array<Record<string, unknown> & { requestId: string }>;
  applications: Array<Record<string, unknown> & { _id: Types.ObjectId }>;
  grants: PlannedGrant[];
  addTasks: Array<Record<string, unknown> & { grantId: string }>;
  history: Array<Record<string, unknown> & { _id: Types.ObjectId }>;
  /** The old rows as they were, by table (`legacy_<table>`), so nothing of the old system is lost. */
  legacy: Record<'host_bastion_apply' | 'host_bastion_tasks' | 'user_host', Array<Record<string, unknown> & { _id: number }>>;
  /** Expired user_host rows no application leads to: kept only among the old rows. */
  historyWithoutApplication: number;
  keys: Array<{ personId: string; keys: string[] }>;
  /** Valid rows that give no grant, and why. */
  skipped: Skip[];
  /** Applications whose status could not be kept as it was, and why. */
  changed: Skip[];
  /** People whose directory record has keys of its own: the export's are not used. */
  keysIgnored: number;
  read: Record<keyof Tables, number>;
}

/** Ids above this do not fit the six characters of a request id (`AR-0` + five in base 36). */
export const MAX_KEPT_ID = 36 ** 5 - 1;
export const IMPORT_ACTOR = 'system:import';

/** The request id an old application keeps: `AR-0` and its id in base 36 (random ids never hold a 0). */
export function importedRequestId(applyId: number): string {
  return 'AR-0' + applyId.toString(36).toUpperCase().padStart(5, '0');
}

/** A stable ObjectId for an old row, so a second import finds the document the first one wrote. */
export function importedObjectId(kind: string, id: number): Types.ObjectId {
  return new Types.ObjectId(createHash('sha256').update(`opsgate-import:${kind}:${id}`).digest().subarray(0, 12));
}

const STATUS_NAMES: Record<number, string> = { 1: 'waiting', 2: 'rejected', 3: 'being set up', 4: 'granted', 5: 'failed' };
/** How the plan and its inputs (openInOpsgate, heldInOpsgate) name one person's access to a host and role. */
export const accessKey = (personId: string, host: string, role: string) => `${personId} ${host} ${role}`;
const keyOf = accessKey;

function checkUnique<T extends { ref: RowRef }>(rows: T[], column: keyof T & string, problems: ImportProblem[]): Map<unknown, T> {
  const seen = new Map<unknown, T>();
  for (const r of rows) {
    const v = r[column];
    const first = seen.get(v);
    if (first) problems.push({ ...r.ref, column, message: `${column} ${String(v)} appears twice (first at row ${first.ref.row})` });
    else seen.set(v, r);
  }
  return seen;
}

/** Every reference between the files, checked before anything is planned. */
function checkReferences(input: PlanInput, problems: ImportProblem[]) {
  const t = input.tables;
  const applies = checkUnique(t.host_bastion_apply, 'id', problems) as Map<number, ApplyRow>;
  checkUnique(t.host_bastion_tasks, 'id', problems);
  checkUnique(t.user_host, 'id', problems);
  const uidMap = new Map<number, string>();
  for (const m of checkUnique(t.uid_map, 'uid', problems).values()) {
    if (!input.people.has(m.person_id)) problems.push({ ...m.ref, column: 'person_id', message: `${m.person_id} is not in the directory (people who left stay there, inactive)` });
    else uidMap.set(m.uid, m.person_id);
  }
  const hostMap = new Map<number, string>();
  for (const m of checkUnique(t.host_map, 'host_id', problems).values()) hostMap.set(m.host_id, m.host);
  const mappedUids = new Set(t.uid_map.map((m) => m.uid));
  const needUid = (r: { ref: RowRef }, column: string, uid: number) => {
    if (!mappedUids.has(uid)) problems.push({ ...r.ref, column, message: `uid ${uid} is not in uid_map` });
  };
  const needHost = (r: { ref: RowRef }, host: number) => {
    if (!hostMap.has(host)) problems.push({ ...r.ref, column: 'host_id', message: `host_id ${host} is not in host_map` });
  };
  for (const a of t.host_bastion_apply) {
    needUid(a, 'uid', a.uid);
    needHost(a, a.host_id);
    if (a.approve_uid !== 0) needUid(a, 'approve_uid', a.approve_uid);
    if (a.id > MAX_KEPT_ID) problems.push({ ...a.ref, column: 'id', message: `ids above ${MAX_KEPT_ID} cannot be kept in a request id` });
  }
  for (const k of t.host_bastion_tasks) {
    needUid(k, 'uid', k.uid);
    needHost(k, k.host_id);
    const a = applies.get(k.apply_id);
    if (!a) problems.push({ ...k.ref, column: 'apply_id', message: `application ${k.apply_id} is not in host_bastion_apply` });
    else {
      for (const c of ['uid', 'host_id', 'role'] as const) {
        if (a[c] !== k[c]) problems.push({ ...k.ref, column: c, message: `${c} ${k[c]} differs from application ${a.id}'s ${a[c]}` });
      }
    }
  }
  for (const u of t.user_host) {
    needUid(u, 'uid', u.uid);
    needHost(u, u.host_id);
  }
  for (const k of t.user_keys) needUid(k, 'uid', k.uid);
  return { applies, uidMap, hostMap };
}

export function planImport(input: PlanInput): Plan {
  const t = input.tables;
  const read = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.length])) as Plan['read'];
  const problems: ImportProblem[] = [...(input.readProblems ?? [])];
  const plan: Plan = { problems, requests: [], applications: [], grants: [], addTasks: [], history: [], legacy: { host_bastion_apply: [], host_bastion_tasks: [], user_host: [] }, historyWithoutApplication: 0, keys: [], skipped: [], changed: [], keysIgnored: 0, read };
  // Rows that failed their own check are missing: their references would only add noise.
  if (problems.length > 0) return plan;
  const { uidMap, hostMap } = checkReferences(input, problems);
  if (problems.length > 0) return plan;
  const person = (uid: number) => input.people.get(uidMap.get(uid)!)!;
  const host = (hostId: number) => hostMap.get(hostId)!;
  const role = (code: number) => ROLE_BY_CODE[code]!;

  // Keys first: a grant below may need a key that only the export has.
  const exported = new Map<string, string[]>();
  for (const k of t.user_keys) {
    const id = uidMap.get(k.uid)!;
    const list = exported.get(id) ?? [];
    if (!list.includes(k.public_key)) list.push(k.public_key);
    exported.set(id, list);
  }
  const keyFor = new Map<string, string | undefined>();
  for (const p of input.people.values()) keyFor.set(p.personId, p.sshKeys[0] ?? p.importedSshKeys[0]);
  for (const [personId, keys] of exported) {
    const p = input.people.get(personId)!;
    if (p.sshKeys.length > 0) {
      plan.keysIgnored++;
      continue;
    }
    if (JSON.stringify(p.importedSshKeys) !== JSON.stringify(keys)) plan.keys.push({ personId, keys });
    keyFor.set(personId, keys[0]);
  }

  const tasksOf = new Map<number, TaskRow[]>();
  for (const k of t.host_bastion_tasks) tasksOf.set(k.apply_id, [...(tasksOf.get(k.apply_id) ?? []), k]);
  // The application behind a grant: the newest one granted or being set up for the same person, host and role.
  const carriers = new Map<string, ApplyRow>();
  for (const a of [...t.host_bastion_apply].sort((x, y) => x.created.getTime() - y.created.getTime() || x.id - y.id)) {
    if (a.status === ApplicationStatus.granted || a.status === ApplicationStatus.provisioning) carriers.set(keyOf(person(a.uid).personId, host(a.host_id), role(a.role)), a);
  }

  /** Why a grant for this person, host and role cannot be made now; null when it can. */
  const cannotGrant = (personId: string, hostName: string, r: AccessRole): string | null => {
    const p = input.people.get(personId)!;
    if (!p.active) return `${personId} has left the directory`;
    const h = input.hosts.get(hostName);
    if (!h) return `host ${hostName} is not in opsgate's inventory`;
    if (h.archived) return `host ${hostName} is no longer in the catalog`;
    if (!keyFor.get(personId)) return `${personId} has no SSH key in the directory or in user_keys`;
    const held = input.heldInOpsgate.get(keyOf(personId, hostName, r));
    if (held) return `${personId} already holds ${r} on ${hostName} in opsgate (grant ${held})`;
    return null;
  };

  const recorded = new Map<string, number>();
  for (const u of t.user_host) recorded.set(keyOf(person(u.uid).personId, host(u.host_id), role(u.role)), u.id);
  const appStatus = new Map<number, { status: ApplicationStatusValue; grantId: string | null; error: string | null }>();
  const granted = new Set<string>();
  const addGrant = (g: Omit<PlannedGrant, 'reminded' | 'endedAt' | 'endedBy' | 'endReason' | 'status' | 'publicKey'> & { expired?: { at: Date; reason: string } }) => {
    const { expired, ...rest } = g;
    plan.grants.push({
      ...rest,
      publicKey: keyFor.get(g.personId) ?? 'unknown (not recorded by the old bastion)',
      status: expired ? GrantStatus.expired : GrantStatus.valid,
      endedAt: expired?.at ?? null,
      endedBy: expired ? IMPORT_ACTOR : null,
      endReason: expired?.reason ?? null,
      reminded: [],
    });
    if (!expired) {
      granted.add(keyOf(g.personId, g.host, g.role));
      plan.addTasks.push({ requestId: g.requestId, grantId: g.grantId, host: g.host, role: g.role, type: 'add', status: TaskStatus.notRun, execTime: input.now, attempts: 0, lastError: null, claimToken: null, claimUntil: null, createdAt: input.now, updatedAt: input.now });
    }
  };

  // user_host: valid rows become grants (or history once past their expiry); expired ones history.
  for (const u of t.user_host) {
    const p = person(u.uid);
    const name = host(u.host_id);
    const r = role(u.role);
    const key = keyOf(p.personId, name, r);
    const carrier = carriers.get(key);
    if (!carrier) {
      if (u.status === GrantStatus.valid) plan.skipped.push({ ref: u.ref, why: `no application granted or being set up in host_bastion_apply for ${p.personId}, ${name} and ${r}, so its expiry is unknown` });
      else plan.historyWithoutApplication++;
      continue;
    }
    const tasks = tasksOf.get(carrier.id) ?? [];
    const added = tasks.filter((k) => k.type === 1 && k.status === TaskStatus.done).sort((a, b) => (b.exec_time?.getTime() ?? 0) - (a.exec_time?.getTime() ?? 0))[0];
    const removal = tasks.find((k) => k.type === 2 && k.exec_time);
    const grantedAt = added?.exec_time ?? added?.updated ?? carrier.updated ?? carrier.created;
    const expiresAt = removal?.exec_time ?? new Date(grantedAt.getTime() + carrier.days * input.dayMs);
    const base = { grantId: `imp-uh-${u.id}`, requestId: importedRequestId(carrier.id), personId: p.personId, host: name, role: r, days: carrier.days, grantedAt, expiresAt, importedFrom: { table: 'user_host' as const, id: u.id }, createdAt: u.created, updatedAt: u.updated ?? u.created };
    if (u.status === GrantStatus.expired) {
      addGrant({ ...base, expired: { at: u.updated ?? expiresAt, reason: 'expired in the old bastion' } });
      continue;
    }
    if (granted.has(key)) {
      plan.skipped.push({ ref: u.ref, why: `another user_host row already grants ${r} on ${name} to ${p.personId}` });
      continue;
    }
    if (expiresAt.getTime() <= input.now.getTime()) {
      plan.skipped.push({ ref: u.ref, why: `expired at ${expiresAt.toISOString()}, before the import: kept as history (see --adopt-report for a line the old bastion left)` });
      addGrant({ ...base, expired: { at: expiresAt, reason: 'expired before the import' } });
      continue;
    }
    const why = cannotGrant(p.personId, name, r);
    if (why) {
      plan.skipped.push({ ref: u.ref, why });
      continue;
    }
    addGrant(base);
    appStatus.set(carrier.id, { status: carrier.status, grantId: base.grantId, error: null });
  }

  for (const a of t.host_bastion_apply) {
    const p = person(a.uid);
    const name = host(a.host_id);
    const r = role(a.role);
    const key = keyOf(p.personId, name, r);
    let state = appStatus.get(a.id) ?? { status: a.status, grantId: null, error: null };
    if (a.status === ApplicationStatus.pending) {
      state = { status: ApplicationStatus.rejected, grantId: null, error: 'still waiting for approval in the old bastion at the import; ask again with /access request' };
      plan.changed.push({ ref: a.ref, why: 'waiting for approval: cancelled (approvals do not carry over)' });
    } else if (a.status === ApplicationStatus.provisioning && !state.grantId) {
      // Approved and not yet set up: set up now, unless a newer one for the same access is carried.
      const why =
        carriers.get(key) !== a
          ? `superseded by application ${carriers.get(key)!.id}`
          : recorded.has(key)
            ? `user_host row ${recorded.get(key)} already records this access`
            : input.openInOpsgate.has(key)
              ? `already asked for in opsgate (${input.openInOpsgate.get(key)})`
              : cannotGrant(p.personId, name, r);
      if (why) {
        state = { status: ApplicationStatus.failed, grantId: null, error: `not carried over from the old bastion: ${why}` };
        plan.changed.push({ ref: a.ref, why: `being set up: failed (${why})` });
      } else {
        const grantId = `imp-ap-${a.id}`;
        addGrant({ grantId, requestId: importedRequestId(a.id), personId: p.personId, host: name, role: r, days: a.days, grantedAt: null, expiresAt: null, importedFrom: { table: 'host_bastion_apply', id: a.id }, createdAt: a.created, updatedAt: a.updated ?? a.created });
        state = { status: ApplicationStatus.provisioning, grantId, error: null };
      }
    }
    const requestId = importedRequestId(a.id);
    const approver = a.approve_uid ? uidMap.get(a.approve_uid)! : null;
    const decided = a.status !== ApplicationStatus.pending;
    const decision = a.status === ApplicationStatus.rejected ? 'rejected' : 'approved';
    const updatedAt = a.updated ?? a.created;
    plan.requests.push({
      requestId,
      requester: p.personId,
      hosts: [name],
      role: r,
      days: a.days,
      reason: a.content || '(no reason was given in the old bastion)',
      approval: {
        current: decided && decision === 'approved' ? 1 : 0,
        state: !decided ? 'cancelled' : decision,
        levels: [{ level: 1, label: 'old bastion', rule: null, approvers: approver ? [approver] : [], decision: decided ? decision : null, decidedBy: decided ? approver : null, decidedAt: decided ? updatedAt : null, note: null }],
      },
      messages: [],
      importedFrom: { table: 'host_bastion_apply', id: a.id },
      createdAt: a.created,
      updatedAt,
    });
    plan.applications.push({ _id: importedObjectId('host_bastion_apply', a.id), requestId, requester: p.personId, host: name, role: r, days: a.days, ...state, importedFrom: { table: 'host_bastion_apply', id: a.id }, createdAt: a.created, updatedAt });
    // Host history (the audit, newest first) shows the old applications at their own time.
    plan.history.push({
      _id: importedObjectId('audit:host_bastion_apply', a.id),
      at: a.created,
      actor: IMPORT_ACTOR,
      action: 'access.imported',
      target: `host:${name}`,
      from: null,
      to: { requestId, personId: p.personId, role: r, days: a.days, status: STATUS_NAMES[a.status], oldId: a.id },
    });
  }
  for (const table of ['host_bastion_apply', 'host_bastion_tasks', 'user_host'] as const) {
    plan.legacy[table] = (t[table] as Array<{ id: number; ref: RowRef }>).map(({ ref: _ref, ...row }) => ({ ...row, _id: row.id }));
  }
  return plan;
}

/** Key lines the plan's valid grants will write: one per account the role opens (root opens three). */
export function linesToWrite(plan: Plan): number {
  return plan.grants.filter((g) => g.status === GrantStatus.valid).reduce((n, g) => n + accountsForRole(g.role).length, 0);
}

export type { UserHostRow };
