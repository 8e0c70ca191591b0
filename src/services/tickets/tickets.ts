/**
 * Ops tickets (seed 002): submitting (everything checked before anything is written), the task
 * lock, the pre-task, approval levels through the shared approval engine, changing an approval
 * into a rejection until execution starts, Run, revocation, and queries. Who acts is always
 * the Slack user id of the request; ids and levels from buttons only say which click it was.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { badParameter, missingField, needPermission } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ApprovalLevel, Decision } from '../../models/approval.js';
import type { Person } from '../../models/person.js';
import { LEVEL_APPROVED, LEVEL_REJECTED, lockKeyOf, TicketStatus, type PhaseResult, type Ticket, type TicketModel } from '../../models/tickets.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';
import { approverStillEntitled, flowLevels, planApprovalLevels, type PlannedLevel } from '../approvals/catalog-levels.js';
import { ApprovalEngine } from '../approvals/engine.js';
import type { AuditLog } from '../audit.js';
import type { TicketOption, TicketTemplate } from '../catalog/tickets-schema.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import { GLOBAL, type RbacService } from '../rbac.js';
import type { TicketCatalog } from './catalog.js';
import { BOT_STOPPED_LOG, BOT_STOPPED_NOTE, stoppedNote, tell, type TicketExecutor } from './executor.js';
import type { ConfigCenterRunner, TicketDetails, TicketLogSink, TicketNotifier } from './ports.js';
import type { TicketRecords } from './records.js';
import type { TemplateSwitches } from './template-switch.js';
import { involvedIn } from './visibility.js';
import { checkValues, maskedSecrets, renderCommands, systemValues, type SubmittedValues } from './values.js';

export interface TicketDeps {
  model: TicketModel;
  records: TicketRecords;
  catalog: TicketCatalog;
  /** Which templates submitters may use now (the catalog's flag, or an admin's stored switch). */
  switches: TemplateSwitches;
  executor: TicketExecutor;
  runner: ConfigCenterRunner;
  log: TicketLogSink;
  notifier: TicketNotifier;
  directory: DirectoryService;
  inventory: InventoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  /** Queues asking the approvers of the level now waiting. */
  enqueueAsk: (ticketId: string) => Promise<void>;
  /** Queues the run now (no approval, or auto-run after approval). */
  enqueueRun: (ticketId: string) => Promise<void>;
  /** Queues the run at the ticket's chosen time. */
  scheduleRun: (ticketId: string, at: Date) => Promise<void>;
  /** Removes a queued run (revoked before its time, or run earlier by hand). */
  cancelRun: (ticketId: string) => Promise<void>;
}

export interface SubmitInput {
  template: string;
  env: string;
  values: SubmittedValues;
  /** A chosen run time (templates with `schedule`). */
  runAt?: Date | null;
  /** Run in the background (templates with `background`). */
  background?: boolean;
  /** Run automatically once approved (templates with `autoRun`). */
  autoRun?: boolean;
}

export type TicketDecision =
  | { kind: 'decided'; decision: Decision; level: number; details: TicketDetails }
  | { kind: 'already'; decision: Decision | 'cancelled' | 'not-waiting'; by: Person | null; at: Date | null; level: number };

const ID_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Choices scripts run when a form opens: they must answer quickly. */
const CHOICES_SCRIPT_TIMEOUT_MS = 30_000;
const MAX_CHOICES = 1000;

function newTicketId(): string {
  return 'TK-' + [...randomBytes(6)].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
}

export class TicketService {
  constructor(private readonly deps: TicketDeps) {}

  /** Tickets approve with any directory level: the template names its approvers. */
  private engine(): ApprovalEngine<Ticket> {
    return new ApprovalEngine<Ticket>({
      model: this.deps.model,
      key: 'ticketId',
      requesterOf: (t) => t.submitter,
      qualification: { minP: 1, minM: 1 },
      noun: 'ticket',
      stillEntitled: async (_t, level, actor) => this.stillEntitled(level, actor),
    });
  }

  /** The directory now, not at submit, decides whether an approver still counts. */
  private async stillEntitled(level: { rule?: string | null; label: string }, actor: Person): Promise<string | null> {
    return approverStillEntitled(level, actor);
  }

  /** A template submitters may use now; 1100 for unknown or switched-off ones (they are invisible). */
  private async template(name: string, env: string): Promise<TicketTemplate> {
    const t = await this.deps.switches.find(name, env);
    if (!t) throw badParameter(`no ticket ${name} in ${env}`, { field: 'template' });
    return t;
  }

  /** A template `slackUserId` may submit now (the form, its choice search): 1100 / 1201 / 1202 otherwise. */
  async submittableTemplate(slackUserId: string, name: string, env: string): Promise<TicketTemplate> {
    const t = await this.template(name, env);
    await this.checkMaySubmit(await this.deps.directory.requireBySlackUser(slackUserId), t);
    return t;
  }

  /** Checks that `person` may submit `t`; 1201 / 1202 naming the rule that refuses. */
  async checkMaySubmit(person: Person, t: TicketTemplate): Promise<void> {
    if (t.submitGroups.length > 0 && !t.submitGroups.some((g) => person.groups.includes(g))) {
      throw needPermission(`submitGroups of ${t.name} (${t.env}): only members of ${t.submitGroups.join(', ')} may submit it`, { rule: 'submitGroups' });
    }
    if (t.submitRequiresProject) {
      const inProject = (await this.deps.inventory.projects()).some((p) => p.people.includes(person.personId));
      if (!inProject) throw needPermission(`submitRequiresProject of ${t.name} (${t.env}): you must first be listed among the people of a project`, { rule: 'submitRequiresProject' });
    }
    await this.deps.rbac.require(person, 'use', { type: 'template', id: t.name, organization: null });
  }

  /** The tickets `slackUserId` may submit, for the picker (environment, category, ticket). */
  async submittable(slackUserId: string): Promise<TicketTemplate[]> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    const out: TicketTemplate[] = [];
    for (const t of await this.deps.switches.active()) {
      if (await this.checkMaySubmit(person, t).then(() => true, () => false)) out.push(t);
    }
    return out;
  }

  /** The choices of an option now: the static list, the inventory's, or the script's lines. */
  async choicesOf(t: TicketTemplate, o: TicketOption): Promise<string[] | null> {
    if (o.choices) return o.choices;
    if (o.choicesFrom === 'conf.prod_name') return (await this.deps.inventory.products()).map((p) => p.prod_name);
    if (o.choicesFrom === 'hosts.name') return (await this.deps.inventory.hosts('', 1000)).map((h) => h.name);
    if (o.choicesFrom === 'projects.name') return (await this.deps.inventory.projects()).map((p) => p.name);
    if (!o.choicesScript) return null;
    const script = renderCommands({
      templates: { pre: '', main: o.choicesScript, post: '' },
      vars: t.vars,
      system: { sk__name: t.name, sk__env: t.env },
      values: {},
      secrets: { ...t.secretValues },
    }).main;
    const run = await this.deps.runner.start(t.configCenter, script, { timeoutMs: CHOICES_SCRIPT_TIMEOUT_MS, secrets: Object.values(t.secretValues), startedBy: 'system:tickets' });
    const r = await run.done;
    if (r.error || r.code !== 0) throw badParameter(`the choices of option ${o.name} could not be listed: ${r.error?.message ?? `exit ${r.code}`} ${r.stderr.slice(-300)}`.trim(), { field: o.name });
    return [...new Set(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean))].slice(0, MAX_CHOICES);
  }

  /** Submits a ticket: checks, lock, pre-task, then approval or the run. */
  async submit(slackUserId: string, input: SubmitInput): Promise<TicketDetails> {
    const { directory, clock, model, records } = this.deps;
    const person = await directory.requireBySlackUser(slackUserId);
    const t = await this.template(input.template, input.env);
    await this.checkMaySubmit(person, t);
    const now = clock.now();
    const runAt = input.runAt ?? null;
    if (runAt) {
      if (!t.schedule) throw badParameter(`${t.name} cannot be scheduled; leave the run time out`, { field: 'at' });
      if (!(runAt instanceof Date) || Number.isNaN(runAt.getTime())) throw badParameter('the run time is not a time', { field: 'at' });
      if (runAt.getTime() <= now.getTime()) throw badParameter(`the run time ${runAt.toISOString()} is in the past`, { field: 'at' });
    }
    if (input.background && !t.background) throw badParameter(`${t.name} cannot run in the background`, { field: 'background' });
    if (input.autoRun && !t.autoRun) throw badParameter(`${t.name} does not offer running automatically once approved`, { field: 'auto' });

    const choices = new Map<string, string[]>();
    for (const o of t.options) {
      if (Object.hasOwn(input.values, o.name) && !o.text) choices.set(o.name, (await this.choicesOf(t, o)) ?? []);
    }
    const values = checkValues(t, input.values, choices);
    const levels = await this.planLevels(t, person);
    const system = systemValues(t, now);
    const templates = { pre: t.pre, main: t.main, post: t.post };
    // Rendering with the real secrets checks the values (here-document rules, NUL); only the masked form is kept.
    renderCommands({ templates, vars: t.vars, system, values, secrets: { ...t.secretValues } });
    const commands = renderCommands({ templates, vars: t.vars, system, values, secrets: maskedSecrets(Object.keys(t.secrets)) });
    const background = input.background || runAt || input.autoRun ? 'CREATED' : null;

    const doc = {
      template: {
        name: t.name,
        env: t.env,
        category: t.category,
        description: t.description,
        configCenter: t.configCenter,
        templates,
        vars: t.vars,
        secretNames: Object.keys(t.secrets),
        timeoutMinutes: t.timeoutMinutes,
        channel: t.channel,
        lock: t.lock,
        commands,
      },
      env: t.env,
      submitter: person.personId,
      values,
      system,
      state: 'pre' as const,
      status: TicketStatus.submitted,
      background,
      runAt,
      autoRun: Boolean(input.autoRun),
      runInBackground: Boolean(input.background),
      queued: false,
      ...(t.lock ? { lockKey: lockKeyOf(t.name, t.env) } : {}),
      approval: {
        current: 0,
        state: levels.length > 0 ? ('pending' as const) : ('approved' as const),
        levels: flowLevels(levels),
      },
      history: [{ state: 'pre' as const, status: TicketStatus.submitted, background, at: now, by: person.personId, note: null }],
      heartbeatAt: now,
    };
    const created = await this.insertLocked(doc, t);
    const ticketId = created.ticketId;
    await this.deps.audit.record({ actor: person.personId, action: 'ticket.submit', target: `ticket:${ticketId}`, from: null, to: { template: t.name, env: t.env, values, runAt, state: 'pre', status: TicketStatus.submitted } });
    // Tracked: a bot that stops while the pre-task runs waits for the ticket to be ended.
    await this.deps.executor.track((async () => this.afterPre(created, await this.runPre(created, person.personId), person.personId))());
    return records.details(ticketId);
  }

  /**
   * Inserts the ticket and returns it as stored (no read back); the unique lock index refuses a
   * second open one, named in the refusal.
   */
  private async insertLocked(doc: Record<string, unknown>, t: TicketTemplate): Promise<Ticket> {
    for (let attempt = 0; ; attempt++) {
      const ticketId = newTicketId();
      try {
        return (await this.deps.model.create({ ...doc, ticketId })).toObject() as Ticket;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const key = (err as { keyPattern?: Record<string, unknown> }).keyPattern;
        if (key && 'ticketId' in key && attempt < 3) continue;
        const open = await this.deps.model.findOne({ lockKey: lockKeyOf(t.name, t.env) }).lean<Ticket>();
        // The open one may have ended between the insert and this read: try again.
        if (!open && attempt < 3) continue;
        const who = open ? await this.deps.directory.byPersonId(open.submitter) : null;
        throw badParameter(
          open
            ? `task lock: ticket ${open.ticketId} of ${t.name} (${t.env}), submitted by ${who?.name ?? open.submitter}, is still open (${open.state}); a new one can be submitted once it has finished`
            : `task lock: another ticket of ${t.name} (${t.env}) is still open`,
          { field: 'template', openTicket: open?.ticketId },
        );
      }
    }
  }

  /** Each level's approvers from the directory now; nobody approves their own ticket. */
  private planLevels(t: TicketTemplate, submitter: Person): Promise<PlannedLevel[]> {
    return planApprovalLevels(this.deps.directory, t.approval, submitter, t.name);
  }

  /** The pre-task, when there is one; null when there is none. */
  private async runPre(t: Ticket, by: string): Promise<PhaseResult | null> {
    if (!t.template.templates.pre) return null;
    return this.deps.executor.withHeartbeat(t.ticketId, () => this.deps.executor.runPhase(t, 'pre', by));
  }

  private async afterPre(t: Ticket, pre: PhaseResult | null, by: string): Promise<void> {
    const { records, executor } = this.deps;
    if (pre && !pre.ok) {
      const interrupted = executor.stoppedByShutdown(t.ticketId);
      if (interrupted) await this.deps.log.append(t.ticketId, 'system', BOT_STOPPED_LOG).catch(() => undefined);
      const failed = await records.transition(
        t.ticketId,
        { state: 'pre' },
        interrupted
          ? { state: 'failed', status: TicketStatus.failed, background: t.background ? 'FAILURE' : null, set: { interrupted: true }, by: 'system:tickets', action: 'interrupt', note: BOT_STOPPED_NOTE }
          : pre.stoppedBy
            ? { state: 'failed', status: TicketStatus.failed, background: t.background ? 'FAILURE' : null, by: pre.stoppedBy.by, action: 'fail', note: `the pre-task was ${stoppedNote(pre.stoppedBy)}` }
            : { state: 'failed', status: TicketStatus.failed, background: t.background ? 'FAILURE' : null, by, action: 'fail', note: 'the pre-task failed' },
      );
      if (failed) await executor.finish(failed);
      return;
    }
    if (t.approval.levels.length > 0) {
      if (await records.transition(t.ticketId, { state: 'pre' }, { state: 'waiting', by, action: 'pre-ok', note: pre ? 'pre-task succeeded' : null })) await this.deps.enqueueAsk(t.ticketId);
      return;
    }
    const approved = await records.transition(t.ticketId, { state: 'pre' }, { state: 'approved', by, action: 'pre-ok', note: 'no approval needed' });
    // The seed's "execute directly from the submit page", unless a time was chosen.
    if (approved) await this.queue(approved, by);
  }

  /** Queues the run of an approved ticket: at its time, or now. */
  private async queue(t: Ticket, by: string): Promise<void> {
    const queued = await this.deps.records.transition(t.ticketId, { state: 'approved', queued: false }, { set: { queued: true }, background: t.background ? 'WAITING' : null, by, action: 'queue', note: t.runAt ? `runs at ${t.runAt.toISOString()}` : 'runs now' });
    if (!queued) return;
    if (t.runAt) await this.deps.scheduleRun(t.ticketId, t.runAt);
    else await this.deps.enqueueRun(t.ticketId);
  }

  /**
   * Approved tickets that chose a time or "run automatically" are queued right after the
   * approval is written; a bot that died between the two left them approved and unqueued,
   * waiting for a Run nobody is offered. The sweep queues those the approval left alone for
   * longer than `graceMs`, once (the queue's conditional write).
   */
  async queueStranded(graceMs: number): Promise<number> {
    const before = new Date(this.deps.clock.now().getTime() - graceMs);
    const stranded = await this.deps.model
      .find({ state: 'approved', queued: false, $or: [{ autoRun: true }, { runAt: { $ne: null } }], updatedAt: { $lt: before } })
      .limit(100)
      .lean<Ticket[]>();
    for (const t of stranded) await this.queue(t, 'system:tickets');
    return stranded.length;
  }

  /**
   * DMs the approvers of the level now waiting. Run as a job; running it twice asks nobody
   * twice (people already holding a DM for the level are skipped).
   */
  async askCurrentLevel(ticketId: string): Promise<number> {
    const details = await this.deps.records.details(ticketId);
    const { approval, messages, state } = details.ticket;
    const level = approval.levels[approval.current];
    if (state !== 'waiting' || approval.state !== 'pending' || !level) return 0;
    const asked = new Set(messages.filter((m) => m.level === approval.current).map((m) => m.personId));
    for (const l of approval.levels.slice(0, approval.current)) if (l.decidedBy) asked.add(l.decidedBy);
    const approvers = level.approvers.filter((id) => !asked.has(id)).map((id) => details.people[id]).filter((p): p is Person => Boolean(p));
    if (approvers.length === 0) return 0;
    let refs: Awaited<ReturnType<TicketNotifier['approvalNeeded']>> = [];
    await tell(this.deps.logger, 'approvalNeeded', async () => (refs = await this.deps.notifier.approvalNeeded(details, level, approvers)));
    if (refs.length > 0) {
      // An approver may have decided between seeing the DM and its place being stored: that
      // decision rewrote only the copies stored then, so these are brought up to date now.
      const after = await this.deps.model.findOneAndUpdate({ ticketId }, { $push: { messages: { $each: refs } } }, { returnDocument: 'after' }).lean<Ticket>();
      if (after && (after.state !== 'waiting' || after.approval.current !== approval.current)) {
        const now = await this.deps.records.details(after);
        await tell(this.deps.logger, 'refreshApprovals', () => this.deps.notifier.refreshApprovals(now));
      }
    }
    return approvers.length;
  }

  /** One click on Approve or Reject: exactly once, by a listed and still-entitled approver. */
  async decide(slackUserId: string, ticketId: string, levelIndex: number, decision: Decision, note?: string): Promise<TicketDecision> {
    const { directory, records, clock } = this.deps;
    const actor = await directory.requireBySlackUser(slackUserId);
    const outcome = await this.engine().decide({ id: ticketId, actor, levelIndex, decision, note, now: clock.now() });
    if (outcome.kind === 'already') return { ...outcome, by: outcome.by ? await directory.byPersonId(outcome.by) : null };
    const i = outcome.level.level - 1;
    const levelNote = outcome.level.note;
    let t: Ticket | null;
    if (outcome.state === 'rejected') {
      t = await records.transition(ticketId, { state: 'waiting' }, { state: 'rejected', status: LEVEL_REJECTED[i], by: actor.personId, action: 'reject', note: levelNote });
    } else if (outcome.state === 'approved') {
      t = await records.transition(ticketId, { state: 'waiting' }, { state: 'approved', status: LEVEL_APPROVED[i], by: actor.personId, action: 'approve', note: levelNote });
    } else {
      t = await records.transition(ticketId, { state: 'waiting' }, { status: LEVEL_APPROVED[i], by: actor.personId, action: 'approve', note: levelNote });
    }
    const details = await records.details(ticketId);
    await tell(this.deps.logger, 'decided', () => this.deps.notifier.decided(details, outcome.level));
    if (outcome.state === 'rejected' && t) await this.deps.executor.finish(t);
    if (outcome.state === 'pending') await this.deps.enqueueAsk(ticketId);
    // Automatic after approval, or at the chosen time: queued now, and only revocation stops it.
    if (outcome.state === 'approved' && t && (t.autoRun || t.runAt)) await this.queue(t, actor.personId);
    return { kind: 'decided', decision, level: outcome.level.level, details: await records.details(ticketId) };
  }

  /**
   * The seed's change of mind: an approver turns their approval of a level into a rejection,
   * until execution starts. A ticket queued to run (at its time, or automatically) can only be
   * revoked.
   */
  async changeToReject(slackUserId: string, ticketId: string, levelIndex: number, reason: string): Promise<TicketDetails> {
    const { directory, records, clock, model } = this.deps;
    const actor = await directory.requireBySlackUser(slackUserId);
    const why = reason?.trim();
    if (!why) throw missingField('reason (a rejection needs one)');
    if (why.length > 1000) throw badParameter('the reason is longer than 1000 characters');
    if (!Number.isInteger(levelIndex) || levelIndex < 0 || levelIndex > 2) throw badParameter('no such approval level', { field: 'level' });
    const before = await records.get(ticketId);
    const level = before.approval.levels[levelIndex];
    if (!level || level.decidedBy !== actor.personId || level.decision !== 'approved') {
      throw needPermission(`only the approver who approved level ${levelIndex + 1} may change it to a rejection`);
    }
    const entitled = await this.stillEntitled(level, actor);
    if (entitled) throw needPermission(entitled);
    const now = clock.now();
    const t = await records.transition(
      ticketId,
      { state: { $in: ['waiting', 'approved'] }, queued: false, startedAt: null, [`approval.levels.${levelIndex}.decidedBy`]: actor.personId, [`approval.levels.${levelIndex}.decision`]: 'approved' },
      {
        state: 'rejected',
        status: LEVEL_REJECTED[levelIndex],
        set: {
          [`approval.levels.${levelIndex}.decision`]: 'rejected',
          [`approval.levels.${levelIndex}.decidedAt`]: now,
          [`approval.levels.${levelIndex}.note`]: why,
          'approval.state': 'rejected',
        },
        by: actor.personId,
        action: 'change-to-reject',
        note: why,
      },
    );
    if (!t) {
      const cur = (await model.findOne({ ticketId }).lean<Ticket>())!;
      if (cur.startedAt) throw badParameter(`ticket ${ticketId} started running at ${cur.startedAt.toISOString()}; only revocation stops it now`);
      if (cur.queued) throw badParameter(`ticket ${ticketId} is queued to run${cur.runAt ? ` at ${cur.runAt.toISOString()}` : ''}; only revocation stops it now`);
      throw badParameter(`ticket ${ticketId} is ${cur.state}; its approval cannot be changed`);
    }
    const details = await records.details(t);
    await tell(this.deps.logger, 'decided', () => this.deps.notifier.decided(details, t.approval.levels[levelIndex]!));
    await this.deps.executor.finish(t);
    return details;
  }

  /**
   * The submitter's Run (button or `/ticket run`): starts an approved ticket now, exactly once,
   * also one queued for later (its job is then removed). Returns at once; the run goes on.
   */
  async run(slackUserId: string, ticketId: string): Promise<TicketDetails> {
    const { directory, records, executor } = this.deps;
    const actor = await directory.requireBySlackUser(slackUserId);
    const t = await records.get(ticketId);
    if (t.submitter !== actor.personId && !(await this.deps.rbac.can(actor, 'admin', GLOBAL))) throw needPermission('only the submitter (or an admin) may run a ticket');
    const claimed = await executor.claim(ticketId, actor.personId);
    if (!claimed) {
      const cur = await records.get(ticketId);
      if (cur.state === 'running') throw badParameter(`ticket ${ticketId} is already running (since ${cur.startedAt?.toISOString() ?? '?'})`);
      if (cur.state === 'waiting' || cur.state === 'pre') throw badParameter(`ticket ${ticketId} is not approved yet (${cur.state === 'pre' ? 'pre-task running' : `level ${cur.approval.current + 1} waiting`})`);
      throw badParameter(`ticket ${ticketId} has already ended (${cur.state})`);
    }
    if (claimed.runAt) await this.deps.cancelRun(ticketId);
    executor.startClaimed(claimed, actor.personId);
    return records.details(claimed);
  }

  /**
   * Revokes a ticket that has not finished: its submitter or an admin. Before it runs it never
   * runs (a queued job is removed); while it runs its process group gets TERM, then KILL, and
   * it ends as revoked with the log so far.
   */
  async revoke(slackUserId: string, ticketId: string): Promise<TicketDetails> {
    const { directory, records, executor, clock } = this.deps;
    const actor = await directory.requireBySlackUser(slackUserId);
    const t = await records.get(ticketId);
    if (t.submitter !== actor.personId && !(await this.deps.rbac.can(actor, 'admin', GLOBAL))) throw needPermission('only the submitter (or an admin) may revoke a ticket');
    const revoked = await records.transition(
      ticketId,
      { state: { $in: ['pre', 'waiting', 'approved'] } },
      {
        state: 'revoked',
        status: TicketStatus.revoked,
        background: t.background ? 'REVOKED' : null,
        set: { 'approval.state': t.approval.state === 'pending' ? 'cancelled' : t.approval.state },
        by: actor.personId,
        action: 'revoke',
        note: 'revoked before it ran',
      },
    );
    if (revoked) {
      await this.deps.cancelRun(ticketId);
      if (t.state === 'pre') executor.stop(ticketId);
      await executor.finish(revoked);
      return records.details(revoked);
    }
    const asked = await this.deps.model
      .findOneAndUpdate({ ticketId, state: 'running', revokeRequested: null }, { $set: { revokeRequested: { by: actor.personId, at: clock.now() } } }, { returnDocument: 'after' })
      .lean<Ticket>();
    if (asked) {
      await this.deps.audit.record({ actor: actor.personId, action: 'ticket.revoke-requested', target: `ticket:${ticketId}`, from: { state: 'running' }, to: { state: 'running', revokeRequested: true } });
      // The instance running it stops it now; another one at its next heartbeat.
      executor.stop(ticketId);
      return records.details(asked);
    }
    const cur = await records.get(ticketId);
    if (cur.state === 'running') throw badParameter(`ticket ${ticketId} is already being revoked`);
    throw badParameter(`ticket ${ticketId} has already ended (${cur.state})`);
  }

  /**
   * A ticket `slackUserId` may look at (`/ticket show`, its full log): the submitter, its
   * approvers, and others with `use` on the template (1201) and a team (1202); admins all.
   */
  async viewable(slackUserId: string, ticketId: string): Promise<TicketDetails> {
    const actor = await this.deps.directory.requireBySlackUser(slackUserId);
    const details = await this.deps.records.details(ticketId);
    const t = details.ticket;
    if (!involvedIn(t, actor.personId)) await this.deps.rbac.require(actor, 'use', { type: 'template', id: t.template.name, organization: null });
    return details;
  }

  /** A ticket for `/ticket show`, with its log's tail. */
  async show(slackUserId: string, ticketId: string): Promise<TicketDetails & { tail: string }> {
    const details = await this.viewable(slackUserId, ticketId);
    return { ...details, tail: await this.deps.log.tail(ticketId, 2500).catch(() => '') };
  }

  /** Tickets waiting for `slackUserId`'s decision now. */
  async waitingFor(slackUserId: string): Promise<Ticket[]> {
    const actor = await this.deps.directory.requireBySlackUser(slackUserId);
    const candidates = await this.deps.model.find({ state: 'waiting', 'approval.state': 'pending', 'approval.levels.approvers': actor.personId }).sort({ createdAt: 1 }).limit(100).lean<Ticket[]>();
    return candidates.filter((t) => t.approval.levels[t.approval.current]?.approvers.includes(actor.personId) && t.submitter !== actor.personId);
  }

  /** The level a ticket waits on, for messages. */
  static waitingLevel(t: Ticket): ApprovalLevel | undefined {
    return t.approval.state === 'pending' ? t.approval.levels[t.approval.current] : undefined;
  }
}
