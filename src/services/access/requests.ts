/**
 * Host access requests: asking (checked whole before anything is written), deciding each
 * approval level exactly once, and turning an approved request into grants and provisioning
 * tasks. Idempotent where a crash could interrupt it: an approved request whose applications
 * are still pending is completed by the sweep (see `materialize`).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import { ApplicationStatus, GrantStatus, OPEN_APPLICATION_STATUSES, TaskStatus, type AccessModels, type AccessRequest, type AccessRole, type Grant, type HostApplication } from '../../models/access.js';
import type { Decision } from '../../models/approval.js';
import type { Host } from '../../models/inventory.js';
import type { Person } from '../../models/person.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';
import { ApprovalEngine } from '../approvals/engine.js';
import { keysOf } from '../directory/keys.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import { GLOBAL, type RbacService } from '../rbac.js';
import { checkEntitlement, planLevels, type RequestInput } from './policy.js';
import type { AccessNotifier, RequestDetails } from './ports.js';

export interface AccessDeps {
  models: AccessModels;
  directory: DirectoryService;
  inventory: InventoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
  notifier: AccessNotifier;
  /** Asks the provisioning worker to run now. */
  kickProvisioning: () => Promise<void>;
  /** Queues asking the approvers of the level now waiting (a job: listeners must ack fast). */
  enqueueAsk: (requestId: string) => Promise<void>;
  /** Length of one day of access: a grant ending within a day may be extended. */
  dayMs: number;
}

export type DecisionResult =
  | { kind: 'decided'; decision: Decision; level: number; state: AccessRequest['approval']['state']; details: RequestDetails }
  | { kind: 'already'; decision: Decision | 'cancelled' | 'not-waiting'; by: Person | null; at: Date | null; level: number };

const ID_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

function newRequestId(): string {
  const bytes = randomBytes(6);
  return 'AR-' + [...bytes].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
}

/** The grant id of an application: derived, so creating it twice yields the same grant. */
export function grantIdFor(app: { _id: unknown }): string {
  return `g${String(app._id)}`;
}

export class AccessService {
  constructor(private readonly deps: AccessDeps) {}

  /** The approval engine under the policy in force (its qualification rule may change on reload). */
  private async engine(): Promise<ApprovalEngine<AccessRequest>> {
    const policy = await this.deps.inventory.accessPolicy();
    return new ApprovalEngine<AccessRequest>({
      model: this.deps.models.Request,
      key: 'requestId',
      requesterOf: (r) => r.requester,
      qualification: policy.qualification,
      noun: 'request',
      stillEntitled: (r, level, actor) => this.stillEntitled(r, level, actor),
    });
  }

  /** The directory today, not when the request was made, decides whether an approver still counts. */
  private async stillEntitled(r: AccessRequest, level: { rule?: string | null; label: string }, actor: Person): Promise<string | null> {
    const rule = level.rule ?? '';
    if (rule.startsWith('group:')) {
      const group = rule.slice('group:'.length);
      return actor.groups.includes(group) ? null : `you are no longer in ${group}, so you cannot decide the ${level.label} level`;
    }
    if (rule === 'manager') {
      const requester = await this.deps.directory.byPersonId(r.requester);
      const chain = requester ? await this.deps.directory.managerChain(requester) : [];
      return chain.some((p) => p.personId === actor.personId) ? null : `you are no longer in the requester's management chain, so you cannot decide the ${level.label} level`;
    }
    return null;
  }

  async details(requestId: string): Promise<RequestDetails> {
    const request = await (await this.engine()).get(requestId);
    const ids = new Set<string>([request.requester]);
    for (const l of request.approval.levels) {
      for (const a of l.approvers) ids.add(a);
      if (l.decidedBy) ids.add(l.decidedBy);
    }
    const people = Object.fromEntries((await this.deps.directory.byPersonIds([...ids])).map((p) => [p.personId, p]));
    const requester = people[request.requester];
    if (!requester) throw new AppError(ErrorCode.Internal, `requester ${request.requester} of ${requestId} is not in the directory`);
    const applications = await this.deps.models.Application.find({ requestId }).sort({ host: 1 }).lean<HostApplication[]>();
    return { request, requester, people, applications };
  }

  /** Active hosts matching what someone types in the request form; nothing for strangers. */
  async searchHosts(slackUserId: string, text: string): Promise<Host[]> {
    await this.deps.directory.requireBySlackUser(slackUserId);
    const words = text.split(/\s+/).filter((w) => /^[A-Za-z0-9_.-]+$/.test(w)).join(' ');
    return this.deps.inventory.hosts(`${words} active:true`.trim(), 100);
  }

  /** Refuses (1100) a request for a host and role the person has an open application for. */
  private async refuseIfAlreadyAsked(personId: string, input: RequestInput): Promise<void> {
    const open = await this.deps.models.Application.findOne({ requester: personId, host: { $in: input.hosts }, role: input.role, status: { $in: OPEN_APPLICATION_STATUSES } }).lean<HostApplication>();
    if (open) throw badParameter(`you already asked for ${input.role} on ${open.host} (request ${open.requestId})`, { field: 'hosts' });
  }

  /** Checks everything, then writes the request and one application per host, then asks level 1. */
  async request(slackUserId: string, raw: RequestInput): Promise<RequestDetails> {
    const { directory, inventory, models, clock } = this.deps;
    const person = await directory.requireBySlackUser(slackUserId);
    const policy = await inventory.accessPolicy();
    const input: RequestInput = { ...raw, hosts: [...new Set(raw.hosts.map((h) => h.trim()).filter(Boolean))], reason: raw.reason.trim() };
    checkEntitlement(policy, person, input);
    for (const name of input.hosts) {
      const host = await inventory.hostByName(name);
      if (!host) throw badParameter(`unknown host ${name}; /opsgate hosts lists them`, { field: 'hosts' });
      if (!host.active) throw badParameter(`host ${name} is inactive (${host.inactiveReason ?? 'not answering'}); access cannot be granted now`, { field: 'hosts' });
    }
    await this.refuseIfAlreadyAsked(person.personId, input);
    // A grant in force blocks the same request, except in its last day: that is an extension.
    const extendFrom = new Date(clock.now().getTime() + this.deps.dayMs);
    const held = await models.Grant.findOne({
      personId: person.personId,
      host: { $in: input.hosts },
      role: input.role,
      status: GrantStatus.valid,
      $or: [{ expiresAt: null }, { expiresAt: { $gt: extendFrom } }],
    }).lean<Grant>();
    if (held) throw badParameter(`you already have ${input.role} on ${held.host} until ${held.expiresAt?.toISOString() ?? 'it is set up'} (grant ${held.grantId}); an extension can be asked for in its last day`, { field: 'hosts' });
    const levels = await planLevels(policy, person, input.role, {
      managerChain: (p) => directory.managerChain(p),
      inGroup: (g) => directory.inGroup(g),
      byIds: (ids) => directory.byPersonIds(ids),
    });

    const requestId = newRequestId();
    const created = await models.Request.create({
      requestId,
      requester: person.personId,
      hosts: input.hosts,
      role: input.role,
      days: input.days,
      reason: input.reason,
      approval: {
        current: 0,
        state: 'pending',
        levels: levels.map((l, i) => ({ level: i + 1, label: l.label, rule: l.rule, approvers: l.approvers.map((p) => p.personId), decision: null, decidedBy: null, decidedAt: null, note: null })),
      },
      messages: [],
    });
    let applications: HostApplication[];
    try {
      const docs = await models.Application.insertMany(
        input.hosts.map((host) => ({ requestId, requester: person.personId, host, role: input.role, days: input.days, status: ApplicationStatus.pending, grantId: null, error: null })),
      );
      applications = docs.map((d) => d.toObject() as HostApplication).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // An identical request got its applications in first (the unique open-application
      // index): take back what this one wrote, and refuse it as the look-up above would have.
      await models.Application.deleteMany({ requestId });
      await models.Request.deleteOne({ requestId });
      await this.refuseIfAlreadyAsked(person.personId, input);
      throw badParameter(`you already asked for ${input.role} on one of ${input.hosts.join(', ')}`, { field: 'hosts' });
    }
    // One audit write for the request and its hosts (one round trip, one journal sync).
    const at = clock.now();
    await this.deps.audit.recordMany([
      { actor: person.personId, action: 'access.request', target: `access:${requestId}`, to: { hosts: input.hosts, role: input.role, days: input.days, reason: input.reason, at } },
      ...input.hosts.map((host) => ({ actor: person.personId, action: 'access.request', target: `host:${host}`, to: { requestId, role: input.role, days: input.days } })),
    ]);
    await this.deps.enqueueAsk(requestId);
    // What was just written, as details() would read it back: no second look-up of the same documents.
    const people: Record<string, Person> = { [person.personId]: person };
    for (const l of levels) for (const p of l.approvers) people[p.personId] = p;
    return { request: created.toObject() as AccessRequest, requester: person, people, applications };
  }

  /**
   * DMs and mails the approvers of the level now waiting and remembers the DMs. Run as a job;
   * running it twice asks nobody twice (people already holding a DM for the level are skipped).
   */
  async askCurrentLevel(requestId: string): Promise<number> {
    const details = await this.details(requestId);
    const { approval, messages } = details.request;
    const level = approval.levels[approval.current];
    if (approval.state !== 'pending' || !level) return 0;
    const asked = new Set(messages.filter((m) => m.level === approval.current).map((m) => m.personId));
    // Someone who decided an earlier level is not asked again: another person decides this one.
    for (const l of approval.levels.slice(0, approval.current)) if (l.decidedBy) asked.add(l.decidedBy);
    const approvers = level.approvers.filter((id) => !asked.has(id)).map((id) => details.people[id]).filter((p): p is Person => Boolean(p));
    if (approvers.length === 0) return 0;
    const refs = await this.deps.notifier.askApprovers(details, level, approvers);
    if (refs.length > 0) await this.deps.models.Request.updateOne({ requestId }, { $push: { messages: { $each: refs } } });
    return approvers.length;
  }

  /**
   * Whether `slackUserId` may decide the level a button was for: null when they may, the
   * earlier decision when the click is stale; throws 1201 when they may not.
   */
  async checkMayDecide(slackUserId: string, requestId: string, levelIndex: number): Promise<Extract<DecisionResult, { kind: 'already' }> | null> {
    const actor = await this.deps.directory.requireBySlackUser(slackUserId);
    const engine = await this.engine();
    const doc = await engine.find(requestId);
    const stale = engine.stale(doc, levelIndex);
    if (stale || !doc) return { ...stale!, by: stale?.by ? await this.deps.directory.byPersonId(stale.by) : null };
    await engine.checkApprover(doc, actor);
    return null;
  }

  /**
   * One click on Approve or Reject. Who acts is the Slack user id of the click; the request id
   * and level come from the button and only say which click this was.
   */
  async decide(slackUserId: string, requestId: string, levelIndex: number, decision: Decision, note?: string): Promise<DecisionResult> {
    const actor = await this.deps.directory.requireBySlackUser(slackUserId);
    const outcome = await (await this.engine()).decide({ id: requestId, actor, levelIndex, decision, note, now: this.deps.clock.now() });
    if (outcome.kind === 'already') {
      return { ...outcome, by: outcome.by ? await this.deps.directory.byPersonId(outcome.by) : null };
    }
    const req = outcome.doc;
    await this.deps.audit.record({
      actor: actor.personId,
      action: decision === 'approved' ? 'access.approve' : 'access.reject',
      target: `access:${requestId}`,
      from: { state: 'pending', level: outcome.level.level },
      to: { state: outcome.state, level: outcome.level.level, note: outcome.level.note },
    });
    if (outcome.state === 'rejected') {
      await this.deps.models.Application.updateMany({ requestId, status: ApplicationStatus.pending }, { $set: { status: ApplicationStatus.rejected } });
    }
    if (outcome.state === 'approved') await this.materialize(req);
    const details = await this.details(requestId);
    await this.deps.notifier.updateApprovalMessages(details);
    await this.deps.notifier.tellRequester(details, outcome.level);
    if (outcome.state === 'pending') await this.deps.enqueueAsk(requestId);
    if (outcome.state === 'approved') await this.deps.kickProvisioning();
    return { kind: 'decided', decision, level: outcome.level.level, state: outcome.state, details };
  }

  /** Withdraws a request still waiting for approval: its requester or an admin. */
  async cancel(slackUserId: string, requestId: string): Promise<RequestDetails> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const doc = await (await this.engine()).get(requestId);
    if (doc.requester !== me.personId && !(await this.deps.rbac.can(me, 'admin', GLOBAL))) {
      throw new AppError(ErrorCode.NeedPermission, 'only the requester or an admin may cancel a request');
    }
    const cancelled = await this.deps.models.Request.findOneAndUpdate({ requestId, 'approval.state': 'pending' }, { $set: { 'approval.state': 'cancelled' } }, { returnDocument: 'after' }).lean<AccessRequest>();
    if (!cancelled) throw badParameter(`request ${requestId} is no longer waiting (${doc.approval.state}); /access revoke ends a grant`);
    await this.deps.models.Application.updateMany({ requestId, status: ApplicationStatus.pending }, { $set: { status: ApplicationStatus.rejected, error: `cancelled by ${me.personId}` } });
    await this.deps.audit.record({ actor: me.personId, action: 'access.cancel', target: `access:${requestId}`, from: { state: 'pending' }, to: { state: 'cancelled' } });
    const details = await this.details(requestId);
    await this.deps.notifier.updateApprovalMessages(details);
    return details;
  }

  /**
   * Turns an approved request's pending applications into grants and `add` tasks. Safe to run
   * any number of times: grant ids derive from the application, tasks are unique per grant and
   * type, and an application moves on only from `pending`.
   */
  async materialize(req: AccessRequest): Promise<number> {
    const { models, clock } = this.deps;
    const requester = await this.deps.directory.byPersonId(req.requester);
    // Someone who left the directory since asking is not given access.
    const publicKey = requester?.active ? keysOf(requester)[0] : undefined;
    const apps = await models.Application.find({ requestId: req.requestId, status: ApplicationStatus.pending }).lean<Array<HostApplication & { _id: unknown }>>();
    let made = 0;
    for (const app of apps) {
      const grantId = grantIdFor(app);
      if (!publicKey) {
        await models.Application.updateOne({ _id: app._id, status: ApplicationStatus.pending }, { $set: { status: ApplicationStatus.failed, error: requester?.active ? 'the requester has no SSH key any more' : 'the requester left the directory' } });
        continue;
      }
      await models.Grant.updateOne(
        { grantId },
        {
          $setOnInsert: {
            grantId,
            requestId: req.requestId,
            personId: req.requester,
            host: app.host,
            role: app.role as AccessRole,
            status: GrantStatus.valid,
            days: app.days,
            publicKey,
            grantedAt: null,
            expiresAt: null,
            endedAt: null,
            endedBy: null,
            endReason: null,
            reminded: [],
          },
        },
        { upsert: true },
      );
      await models.Task.updateOne(
        { grantId, type: 'add' },
        { $setOnInsert: { requestId: req.requestId, grantId, host: app.host, role: app.role, type: 'add', status: TaskStatus.notRun, execTime: clock.now(), attempts: 0, lastError: null, claimToken: null, claimUntil: null } },
        { upsert: true },
      );
      const moved = await models.Application.updateOne({ _id: app._id, status: ApplicationStatus.pending }, { $set: { status: ApplicationStatus.provisioning, grantId } });
      made += moved.modifiedCount;
    }
    return made;
  }

  /** Approved requests left with pending applications (a crash between decision and tasks). */
  async materializeStragglers(): Promise<number> {
    const pendingIds = await this.deps.models.Application.distinct('requestId', { status: ApplicationStatus.pending });
    if (pendingIds.length === 0) return 0;
    const approved = await this.deps.models.Request.find({ requestId: { $in: pendingIds }, 'approval.state': 'approved' }).lean<AccessRequest[]>();
    let made = 0;
    for (const r of approved) made += await this.materialize(r);
    return made;
  }
}
