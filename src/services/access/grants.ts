/**
 * Grants in force and what people see of them: my hosts, my requests, my approvals, a host's
 * holders and history, all requests (admins); early revocation; the daily reconcile of every
 * host's opsgate lines against MongoDB.
 */
import type { Clock } from '../../clock.js';
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import { GrantStatus, type AccessModels, type AccessRequest, type AccessRole, type Grant, type HostApplication } from '../../models/access.js';
import type { AuditEntry } from '../../models/audit.js';
import type { Person } from '../../models/person.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import { GLOBAL, type RbacService } from '../rbac.js';
import { accountsForRole } from './authorized-keys.js';
import type { AccessNotifier, DriftReport, HostKeysPort } from './ports.js';
import { isPublicKeyError, parsePublicKey } from '../ssh-public-key.js';
import { queueDelete } from './tasks.js';

export interface GrantDeps {
  models: AccessModels;
  directory: DirectoryService;
  inventory: InventoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
  notifier: AccessNotifier;
  hostKeys: HostKeysPort;
  kickProvisioning: () => Promise<void>;
}

export interface RequestSummary {
  request: AccessRequest;
  applications: HostApplication[];
}

/** Requests with the people they name (requesters, approvers, deciders), for rendering. */
export interface RequestList {
  items: RequestSummary[];
  people: Record<string, Person>;
  /** The caller's personId. */
  me: string;
}

export interface HostHolders {
  host: string;
  holders: Record<AccessRole, Array<{ person: Person | null; personId: string; grant: Grant }>>;
  events: AuditEntry[];
  moreEvents: boolean;
}

const ALL_ACCOUNTS = ['root', 'evans', 'readonly'];

export class GrantService {
  constructor(private readonly deps: GrantDeps) {}

  private async isAdmin(p: Person): Promise<boolean> {
    return this.deps.rbac.can(p, 'admin', GLOBAL);
  }

  /** My hosts: grants in force. */
  async mine(slackUserId: string): Promise<Grant[]> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    return this.deps.models.Grant.find({ personId: me.personId, status: GrantStatus.valid }).sort({ host: 1, role: 1 }).lean<Grant[]>();
  }

  private async list(me: Person, requests: AccessRequest[]): Promise<RequestList> {
    const apps = await this.deps.models.Application.find({ requestId: { $in: requests.map((r) => r.requestId) } }).lean<HostApplication[]>();
    const ids = new Set<string>();
    for (const r of requests) {
      ids.add(r.requester);
      for (const l of r.approval.levels) for (const id of [...l.approvers, l.decidedBy]) if (id) ids.add(id);
    }
    const people = Object.fromEntries((await this.deps.directory.byPersonIds([...ids])).map((p) => [p.personId, p]));
    const items = requests.map((request) => ({ request, applications: apps.filter((a) => a.requestId === request.requestId).sort((a, b) => a.host.localeCompare(b.host)) }));
    return { items, people, me: me.personId };
  }

  async myRequests(slackUserId: string, limit = 20): Promise<RequestList> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const requests = await this.deps.models.Request.find({ requester: me.personId }).sort({ createdAt: -1 }).limit(limit).lean<AccessRequest[]>();
    return this.list(me, requests);
  }

  /** Requests whose waiting level lists me as an approver. */
  async myApprovals(slackUserId: string): Promise<RequestList> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    return this.list(me, await this.waitingFor(me));
  }

  /** Pending requests whose waiting level lists `p`, oldest first. */
  private async waitingFor(p: Person): Promise<AccessRequest[]> {
    const pending = await this.deps.models.Request.find({ 'approval.state': 'pending', 'approval.levels.approvers': p.personId }).sort({ createdAt: 1 }).lean<AccessRequest[]>();
    return pending.filter((r) => r.approval.levels[r.approval.current]?.approvers.includes(p.personId));
  }

  /** What the App Home tab shows a person: their grants, open requests and waiting approvals. */
  async homeSummary(person: Person): Promise<{ grants: Grant[]; open: RequestList; approvals: RequestList }> {
    const grants = await this.deps.models.Grant.find({ personId: person.personId, status: GrantStatus.valid }).sort({ host: 1 }).lean<Grant[]>();
    const open = await this.deps.models.Request.find({ requester: person.personId, 'approval.state': 'pending' }).sort({ createdAt: -1 }).limit(10).lean<AccessRequest[]>();
    return { grants, open: await this.list(person, open), approvals: await this.list(person, await this.waitingFor(person)) };
  }

  /** Every request, newest first (admins): filter by state, host, person. */
  async allRequests(slackUserId: string, filter: { state?: string; host?: string; person?: string } = {}, limit = 30): Promise<RequestList> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireAdmin(me);
    const q: Record<string, unknown> = {};
    if (filter.state) q['approval.state'] = filter.state;
    if (filter.host) q.hosts = filter.host;
    if (filter.person) q.requester = filter.person;
    const requests = await this.deps.models.Request.find(q).sort({ createdAt: -1 }).limit(limit).lean<AccessRequest[]>();
    return this.list(me, requests);
  }

  /** Seed 003's permission table for one host, and its history (last 5, or all). */
  async host(slackUserId: string, hostName: string, allEvents = false): Promise<HostHolders> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireMember(me);
    const host = await this.deps.inventory.hostRecord(hostName);
    if (!host) throw badParameter(`unknown host ${hostName}`);
    const grants = await this.deps.models.Grant.find({ host: hostName, status: GrantStatus.valid, grantedAt: { $ne: null } }).lean<Grant[]>();
    const people = Object.fromEntries((await this.deps.directory.byPersonIds(grants.map((g) => g.personId))).map((p) => [p.personId, p]));
    const holders: HostHolders['holders'] = { root: [], evans: [], readonly: [] };
    for (const g of grants) {
      // root > evans > readonly: a root holder also holds the other two.
      for (const account of accountsForRole(g.role)) holders[account as AccessRole].push({ person: people[g.personId] ?? null, personId: g.personId, grant: g });
    }
    const limit = allEvents ? 200 : 5;
    const events = await this.deps.audit.query({ target: `host:${hostName}`, limit: limit + 1 });
    return { host: hostName, holders, events: events.slice(0, limit), moreEvents: events.length > limit };
  }

  /**
   * Who holds what, for audits (the API's `GET /grants`): grants by host, person and state
   * (`valid` in force, `expired` ended), by grant id after the cursor `after`. Global admins
   * see everyone's; anyone else only their own (asking for another person is refused, 1201).
   */
  async holdings(slackUserId: string, filter: { host?: string; person?: string; state?: 'valid' | 'expired' }, after: string | undefined, limit: number): Promise<Grant[]> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const admin = await this.isAdmin(me);
    if (!admin && filter.person !== undefined && filter.person !== me.personId) throw new AppError(ErrorCode.NeedPermission, "only admins may list other people's grants", { field: 'person' });
    const q: Record<string, unknown> = { personId: admin ? filter.person : me.personId };
    if (q.personId === undefined) delete q.personId;
    if (filter.host !== undefined) q.host = filter.host;
    if (filter.state !== undefined) q.status = GrantStatus[filter.state];
    if (after !== undefined) q.grantId = { $gt: after };
    return this.deps.models.Grant.find(q).sort({ grantId: 1 }).limit(limit).lean<Grant[]>();
  }

  /** Ends a grant now: its holder or an admin. The line is removed by the provisioning worker. */
  async revoke(slackUserId: string, grantId: string): Promise<Grant> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const grant = await this.deps.models.Grant.findOne({ grantId }).lean<Grant>();
    if (!grant) throw badParameter(`no grant ${grantId}; /access mine lists yours`);
    if (grant.personId !== me.personId && !(await this.isAdmin(me))) throw new AppError(ErrorCode.NeedPermission, 'only the holder or an admin may revoke a grant');
    if (grant.status !== GrantStatus.valid) throw badParameter(`grant ${grantId} has already ended (${grant.endReason ?? 'expired'})`);
    const now = this.deps.clock.now();
    const reason = grant.personId === me.personId ? 'revoked early by the holder' : `revoked early by ${me.personId}`;
    // Not yet on the host: end it at once so the pending add never writes it.
    const notWritten = grant.grantedAt === null;
    const updated = await this.deps.models.Grant.findOneAndUpdate(
      { grantId, status: GrantStatus.valid },
      { $set: { endedBy: me.personId, endReason: reason, ...(notWritten ? { status: GrantStatus.expired, endedAt: now } : {}) } },
      { returnDocument: 'after' },
    ).lean<Grant>();
    if (!updated) throw badParameter(`grant ${grantId} has already ended`);
    await queueDelete(this.deps.models, grant, now);
    await this.deps.audit.record({ actor: me.personId, action: 'access.revoke', target: `host:${grant.host}`, from: { grantId, status: 'valid' }, to: { grantId, reason } });
    await this.deps.kickProvisioning();
    return updated;
  }

  /**
   * People who left the directory lose their access at once: grants in force are ended (lines
   * removed by the worker), requests still waiting are cancelled.
   */
  async endAllFor(personIds: string[], reason = 'left the directory'): Promise<number> {
    if (personIds.length === 0) return 0;
    const grants = await this.deps.models.Grant.find({ personId: { $in: personIds }, status: GrantStatus.valid }).lean<Grant[]>();
    await this.endByDirectory(grants, reason);
    const pending = await this.deps.models.Request.find({ requester: { $in: personIds }, 'approval.state': 'pending' }).lean<AccessRequest[]>();
    for (const r of pending) {
      await this.deps.models.Request.updateOne({ requestId: r.requestId, 'approval.state': 'pending' }, { $set: { 'approval.state': 'cancelled' } });
      await this.deps.models.Application.updateMany({ requestId: r.requestId, status: 1 }, { $set: { status: 2, error: reason } });
      await this.deps.audit.record({ actor: 'system:directory', action: 'access.cancel', target: `access:${r.requestId}`, from: { state: 'pending' }, to: { state: 'cancelled', reason } });
    }
    if (grants.length > 0) await this.deps.kickProvisioning();
    return grants.length;
  }

  /**
   * A person's SSH key replaced in the directory (issue 13 item 8): grants made with a key no
   * longer listed end (the line is removed and that key's live connections ended by the
   * worker, which also tells the holder); grants of a key still listed stay. Keys compare by
   * type and blob, so a changed comment changes nothing.
   */
  async endForUnlistedKeys(changes: Array<{ personId: string; sshKeys: string[] }>): Promise<number> {
    const keyOf = (line: string): string | null => {
      const k = parsePublicKey(line);
      return isPublicKeyError(k) ? null : `${k.type} ${k.blob}`;
    };
    const ended: Grant[] = [];
    for (const { personId, sshKeys } of changes) {
      const listed = new Set(sshKeys.map(keyOf).filter((k): k is string => k !== null));
      const grants = await this.deps.models.Grant.find({ personId, status: GrantStatus.valid }).lean<Grant[]>();
      ended.push(...grants.filter((g) => !listed.has(keyOf(g.publicKey) ?? '')));
    }
    await this.endByDirectory(ended, 'its SSH key was removed from the directory');
    // A grant not yet written never reaches the worker's removal notice: tell its holder here.
    for (const g of ended.filter((x) => x.grantedAt === null)) {
      const holder = await this.deps.directory.byPersonId(g.personId);
      const final = await this.deps.models.Grant.findOne({ grantId: g.grantId }).lean<Grant>();
      if (holder && final) await this.deps.notifier.revoked(final, holder);
    }
    if (ended.length > 0) await this.deps.kickProvisioning();
    return ended.length;
  }

  /** Ends grants for a directory reason: at once if never written, else when the worker removed the line. */
  private async endByDirectory(grants: Grant[], reason: string): Promise<void> {
    const now = this.deps.clock.now();
    for (const g of grants) {
      const notWritten = g.grantedAt === null;
      await this.deps.models.Grant.updateOne(
        { grantId: g.grantId, status: GrantStatus.valid },
        { $set: { endedBy: 'system:directory', endReason: reason, ...(notWritten ? { status: GrantStatus.expired, endedAt: now } : {}) } },
      );
      await queueDelete(this.deps.models, g, now);
      await this.deps.audit.record({ actor: 'system:directory', action: 'access.revoke', target: `host:${g.host}`, from: { grantId: g.grantId, status: 'valid' }, to: { grantId: g.grantId, reason } });
    }
  }

  /**
   * Compares every enabled host's opsgate lines with the grants in MongoDB: lines with no valid
   * grant are removed, grants whose line is missing are reported. Unreachable hosts are listed.
   */
  async reconcile(): Promise<DriftReport> {
    const report: DriftReport = { at: this.deps.clock.now(), hostsChecked: 0, unreachable: [], removed: [], missing: [] };
    for (const host of await this.deps.inventory.activeHosts()) {
      const listed = await this.deps.hostKeys.list(host, ALL_ACCOUNTS);
      if (!listed.ok) {
        report.unreachable.push(host.name);
        continue;
      }
      report.hostsChecked++;
      // Grants being written right now (no grantedAt yet) are expected too: their line may
      // already be there, and removing it would race the worker.
      const grants = await this.deps.models.Grant.find({ host: host.name, status: GrantStatus.valid }).lean<Grant[]>();
      const expected = new Map<string, Grant>();
      for (const g of grants) for (const a of accountsForRole(g.role)) expected.set(`${a}\t${g.grantId}`, g);
      const found = new Set<string>();
      // Stray lines per grant id, all removed in one call per host (as the expiry path does).
      const strays = new Map<string, string[]>();
      for (const line of listed.lines) {
        const key = `${line.account}\t${line.grantId}`;
        found.add(key);
        if (expected.has(key)) continue;
        strays.set(line.grantId, [...(strays.get(line.grantId) ?? []), line.account]);
      }
      if (strays.size > 0) {
        const removed = await this.deps.hostKeys.removeMany(host, [...strays].map(([grantId, accounts]) => ({ grantId, accounts })));
        for (const [grantId, accounts] of strays) {
          if (removed.get(grantId)?.ok) for (const account of accounts) report.removed.push({ host: host.name, account, grantId });
        }
      }
      for (const [key, g] of expected) {
        if (!found.has(key) && g.grantedAt !== null) report.missing.push({ host: host.name, account: key.split('\t')[0]!, grantId: g.grantId, personId: g.personId });
      }
    }
    await this.deps.audit.record({ actor: 'system:reconcile', action: 'access.reconcile', target: 'access:hosts', to: { hostsChecked: report.hostsChecked, removed: report.removed.length, missing: report.missing.length, unreachable: report.unreachable } });
    if (report.removed.length > 0 || report.missing.length > 0 || report.unreachable.length > 0) await this.deps.notifier.drift(report);
    return report;
  }
}
