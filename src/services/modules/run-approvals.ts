/**
 * Module runs that need sign-off: a module with `approval:` levels (as tickets have them) is
 * stored as a job `awaiting-approval` and nothing runs; the approvers of the level waiting get
 * a DM with Approve / Reject; each click goes through the shared approval engine (exactly once,
 * no self-approval, the approver re-checked on every click); who asked is told of each
 * decision. On the last approval the run is handed to `start` (ModuleRuns re-checks the hosts
 * and the permission, then runs it); on a rejection the job ends `rejected` and nothing ran.
 *
 * Starting is a conditional write on the job (`awaiting-approval` with an approved flow ->
 * `running`), so a stopping instance, a crash between approval and start, or two instances can
 * neither lose an approved run nor start it twice: the recurring sweep (settleStranded) starts
 * or ends whatever a decision left half done.
 */
import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { ApprovalLevel, Decision } from '../../models/approval.js';
import type { Job, JobModel } from '../../models/jobs.js';
import type { Person } from '../../models/person.js';
import { approverStillEntitled } from '../approvals/catalog-levels.js';
import { ApprovalEngine } from '../approvals/engine.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { RunNotifier } from './ports.js';

export interface RunApprovalDeps {
  model: JobModel;
  directory: DirectoryService;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  notifier?: RunNotifier;
}

export type RunDecision =
  | { kind: 'decided'; decision: Decision; level: number; job: Job }
  | { kind: 'already'; decision: Decision | 'cancelled' | 'not-waiting'; by: Person | null; at: Date | null; level: number };

/** A job as the approval engine reads it: its flow is always there for jobs that wait. */
type FlowJob = Job & { approval: NonNullable<Job['approval']> };

export class RunApprovals {
  private readonly engine: ApprovalEngine<FlowJob>;

  constructor(
    private readonly deps: RunApprovalDeps,
    /** Starts an approved run (re-checked there); never throws for a run that cannot start. */
    private readonly start: (jobId: string, by: string) => Promise<void>,
  ) {
    // As tickets: the module names its approvers, so any directory level may approve.
    this.engine = new ApprovalEngine<FlowJob>({
      model: deps.model as never,
      key: 'jobId',
      requesterOf: (j) => j.startedBy,
      qualification: { minP: 1, minM: 1 },
      noun: 'run',
      stillEntitled: async (_j, level, actor) => approverStillEntitled(level, actor),
    });
  }

  private async tell(what: string, fn: () => Promise<unknown> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.logger.warn({ event: what, err: (err as Error).message }, 'run approval notification failed');
    }
  }

  /**
   * DMs the approvers of the level now waiting who hold no DM for it yet (asking twice asks
   * nobody twice). Returns how many were asked.
   */
  async askCurrentLevel(jobId: string): Promise<number> {
    const { model, directory, notifier } = this.deps;
    const job = await model.findOne({ jobId }).lean<Job>();
    const flow = job?.approval;
    const level = flow?.levels[flow.current];
    if (!job || job.state !== 'awaiting-approval' || !flow || flow.state !== 'pending' || !level || !notifier?.approvalNeeded) return 0;
    const asked = new Set(job.messages.filter((m) => m.level === flow.current).map((m) => m.personId));
    for (const l of flow.levels.slice(0, flow.current)) if (l.decidedBy) asked.add(l.decidedBy);
    const approvers = (await directory.byPersonIds(level.approvers.filter((id) => !asked.has(id)))).filter((p) => p.active);
    if (approvers.length === 0) return 0;
    let refs: Awaited<ReturnType<NonNullable<RunNotifier['approvalNeeded']>>> = [];
    await this.tell('approvalNeeded', async () => (refs = await notifier.approvalNeeded!(job, approvers)));
    if (refs.length > 0) {
      // A decision may have landed while the DMs went out: it rewrote only the copies stored then.
      const after = await model.findOneAndUpdate({ jobId }, { $push: { messages: { $each: refs } } }, { returnDocument: 'after' }).lean<Job>();
      if (after && (after.state !== 'awaiting-approval' || after.approval?.current !== flow.current)) await this.tell('refreshApprovals', () => notifier.refreshApprovals?.(after));
    }
    return approvers.length;
  }

  /** One click on Approve or Reject: exactly once, by a listed and still-entitled approver other than who asked. */
  async decide(slackUserId: string, jobId: string, levelIndex: number, decision: Decision, note?: string): Promise<RunDecision> {
    const { directory, clock, model, audit, notifier } = this.deps;
    const actor = await directory.requireBySlackUser(slackUserId);
    const current = await model.findOne({ jobId }).lean<Job>();
    // A job that never waited for approval reads like a stale click: a button value is not trusted.
    if (!current?.approval) return { kind: 'already', decision: 'not-waiting', by: null, at: null, level: levelIndex + 1 };
    const outcome = await this.engine.decide({ id: jobId, actor, levelIndex, decision, note, now: clock.now() });
    if (outcome.kind === 'already') return { ...outcome, by: outcome.by ? await directory.byPersonId(outcome.by) : null };
    const level = outcome.level;
    await audit.record({ actor: actor.personId, action: decision === 'approved' ? 'job.approve' : 'job.reject', target: `job:${jobId}`, from: { level: level.level, state: 'pending' }, to: { level: level.level, decision, note: level.note, flow: outcome.state } });
    let job: Job = outcome.doc;
    if (outcome.state === 'rejected') job = (await this.endRejected(jobId, level)) ?? job;
    const deciders = await this.deciders(job);
    await this.tell('decided', () => notifier?.decided?.(job, level, deciders));
    await this.tell('refreshApprovals', () => notifier?.refreshApprovals?.(job));
    if (outcome.state === 'pending') await this.askCurrentLevel(jobId);
    if (outcome.state === 'approved') await this.start(jobId, actor.personId);
    return { kind: 'decided', decision, level: level.level, job: (await model.findOne({ jobId }).lean<Job>()) ?? job };
  }

  /**
   * Before the Reject form opens: the job when `slackUserId` may decide level `levelIndex` now
   * (1201 when not), or what a stale click finds (who decided, or not waiting).
   */
  async prepareDecision(slackUserId: string, jobId: string, levelIndex: number): Promise<{ kind: 'waiting'; job: Job; people: Record<string, Person> } | Extract<RunDecision, { kind: 'already' }>> {
    const actor = await this.deps.directory.requireBySlackUser(slackUserId);
    const job = (await this.deps.model.findOne({ jobId }).lean<Job>()) as FlowJob | null;
    const stale = job?.approval ? this.engine.stale(job, levelIndex) : { kind: 'already' as const, decision: 'not-waiting' as const, by: null, at: null, level: levelIndex + 1 };
    if (stale) return { ...stale, by: stale.by ? await this.deps.directory.byPersonId(stale.by) : null };
    await this.engine.checkApprover(job!, actor);
    const people = Object.fromEntries((await this.deps.directory.byPersonIds([job!.startedBy])).map((p) => [p.personId, p]));
    return { kind: 'waiting', job: job!, people };
  }

  /** The people who decided levels of `job`, for messages. */
  async deciders(job: Job): Promise<Record<string, Person>> {
    const ids = [...new Set((job.approval?.levels ?? []).map((l) => l.decidedBy).filter((x): x is string => Boolean(x)))];
    return Object.fromEntries((await this.deps.directory.byPersonIds(ids)).map((p) => [p.personId, p]));
  }

  /** The rejected run ends `rejected` (exactly once); nothing of it ever ran. */
  private async endRejected(jobId: string, level: ApprovalLevel): Promise<Job | null> {
    const { model, clock, audit } = this.deps;
    const who = level.decidedBy ? await this.deps.directory.byPersonId(level.decidedBy) : null;
    const note = `rejected at level ${level.level} (${level.label}) by ${who?.name ?? level.decidedBy ?? 'an approver'}: ${level.note ?? ''}`.trim();
    const ended = await model
      .findOneAndUpdate({ jobId, state: 'awaiting-approval', 'approval.state': 'rejected' }, { $set: { state: 'rejected', endedAt: clock.now(), note } }, { returnDocument: 'after' })
      .lean<Job>();
    if (ended) await audit.record({ actor: level.decidedBy ?? 'system:jobs', action: 'job.rejected', target: `job:${jobId}`, from: { state: 'awaiting-approval' }, to: { state: 'rejected' } });
    return ended;
  }

  /**
   * Runs a decision left half done (the bot stopped or died between the decision and the start
   * or the end): approved flows are started, rejected ones ended. Returns the job ids settled.
   */
  async settleStranded(): Promise<string[]> {
    const { model } = this.deps;
    const out: string[] = [];
    for (const j of await model.find({ state: 'awaiting-approval', 'approval.state': { $in: ['approved', 'rejected'] } }).limit(100).lean<Job[]>()) {
      if (j.approval?.state === 'approved') await this.start(j.jobId, 'system:jobs');
      else {
        const level = j.approval?.levels.find((l) => l.decision === 'rejected');
        if (level && (await this.endRejected(j.jobId, level))) await this.tell('refreshApprovals', async () => this.deps.notifier?.refreshApprovals?.((await model.findOne({ jobId: j.jobId }).lean<Job>())!));
      }
      out.push(j.jobId);
    }
    return out;
  }
}
