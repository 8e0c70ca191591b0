/**
 * Deciding one level of an approval flow, exactly once. The decision is a single
 * findOneAndUpdate whose filter holds the expected state (this level, still undecided, flow
 * still pending): of two approvers clicking at once, or one clicking twice, one wins and the
 * others learn who decided and when. Who may decide is checked here on every click, from the
 * acting person, never from anything a button carries.
 */
import type { Model } from 'mongoose';
import { AppError, badParameter, ErrorCode, missingField } from '../../errors.js';
import type { ApprovalFlow, ApprovalLevel, Decision } from '../../models/approval.js';
import type { Person } from '../../models/person.js';
import { describeQualification, isQualified, type Qualification } from './qualification.js';

export interface FlowDocument {
  approval: ApprovalFlow;
}

export type DecideOutcome<T> =
  | {
      kind: 'decided';
      decision: Decision;
      /** The level just decided. */
      level: ApprovalLevel;
      /** The flow after the decision: 'pending' means the next level now waits. */
      state: ApprovalFlow['state'];
      doc: T;
    }
  | { kind: 'already'; decision: Decision | 'cancelled' | 'not-waiting'; by: string | null; at: Date | null; level: number };

export interface DecideInput {
  /** The document's business key value (e.g. a request id). */
  id: string;
  actor: Person;
  /** Index of the level the click was for; a click for an earlier level is stale. */
  levelIndex: number;
  decision: Decision;
  note?: string;
  now: Date;
}

export interface ApprovalEngineOptions<T> {
  model: Model<T>;
  /** Field holding the business key, e.g. 'requestId'. */
  key: string;
  /** The personId of whoever asked: nobody approves their own request. */
  requesterOf: (doc: T) => string;
  qualification: Qualification;
  /** What the thing is called in messages ("request", "ticket"). */
  noun: string;
  /**
   * Whether the actor still holds what made them an approver (still the manager, still in the
   * group): a reason when not. Checked on every click, after the listed-approver check.
   */
  stillEntitled?: (doc: T, level: ApprovalLevel, actor: Person) => Promise<string | null>;
}

function lastDecided(flow: ApprovalFlow): ApprovalLevel | undefined {
  return [...flow.levels].reverse().find((l) => l.decision !== null);
}

export class ApprovalEngine<T extends FlowDocument> {
  constructor(private readonly opts: ApprovalEngineOptions<T>) {}

  async get(id: string): Promise<T> {
    const doc = await this.find(id);
    if (!doc) throw badParameter(`no ${this.opts.noun} ${id}`);
    return doc;
  }

  async find(id: string): Promise<T | null> {
    return (await this.opts.model.findOne({ [this.opts.key]: id } as never).lean()) as T | null;
  }

  /**
   * What a click for `levelIndex` finds when that level is no longer waiting: who decided it (or
   * the last decision), or that the flow was cancelled; null when the click is current. A click
   * for a level never decided and not waiting, or for no such document, is `not-waiting`: a
   * button value is not trusted, so a forged one reads like a stale one.
   */
  stale(doc: T | null, levelIndex: number): Extract<DecideOutcome<T>, { kind: 'already' }> | null {
    const notWaiting = { kind: 'already', decision: 'not-waiting', by: null, at: null, level: levelIndex + 1 } as const;
    if (!doc) return notWaiting;
    const flow = doc.approval;
    if (flow.state === 'pending' && flow.current === levelIndex) return null;
    if (flow.state === 'cancelled') return { kind: 'already', decision: 'cancelled', by: null, at: null, level: levelIndex + 1 };
    const level = flow.levels[levelIndex]?.decision ? flow.levels[levelIndex] : flow.state === 'pending' || !flow.levels[levelIndex] ? undefined : lastDecided(flow);
    if (!level?.decision) return notWaiting;
    return { kind: 'already', decision: level.decision, by: level.decidedBy ?? null, at: level.decidedAt ?? null, level: level.level };
  }

  /** Checks that `actor` may decide the level now waiting; throws 1201 with the reason. */
  async checkApprover(doc: T, actor: Person): Promise<ApprovalLevel> {
    const level = this.checkListedApprover(doc, actor);
    const reason = await this.opts.stillEntitled?.(doc, level, actor);
    if (reason) throw new AppError(ErrorCode.NeedPermission, reason);
    return level;
  }

  private checkListedApprover(doc: T, actor: Person): ApprovalLevel {
    const flow = doc.approval;
    const level = flow.levels[flow.current];
    if (!level) throw new AppError(ErrorCode.BadParameter, `this ${this.opts.noun} has no level waiting for a decision`);
    if (this.opts.requesterOf(doc) === actor.personId) throw new AppError(ErrorCode.NeedPermission, `you cannot approve your own ${this.opts.noun}`);
    if (!level.approvers.includes(actor.personId)) {
      throw new AppError(ErrorCode.NeedPermission, `you are not an approver of level ${level.level} (${level.label}) of this ${this.opts.noun}`);
    }
    if (!isQualified(actor.level, this.opts.qualification)) {
      throw new AppError(ErrorCode.NeedPermission, `approvers must be ${describeQualification(this.opts.qualification)}; your level is ${actor.level}`);
    }
    if (flow.levels.some((l, i) => i < flow.current && l.decidedBy === actor.personId)) {
      throw new AppError(ErrorCode.NeedPermission, `you already approved level ${flow.levels.find((l) => l.decidedBy === actor.personId)!.level}; another approver decides this level`);
    }
    return level;
  }

  async decide(input: DecideInput): Promise<DecideOutcome<T>> {
    const note = input.note?.trim() || null;
    if (input.decision === 'rejected' && !note) throw missingField('reason (a rejection needs one)');
    if (note && note.length > 1000) throw badParameter('the note is longer than 1000 characters');
    const doc = await this.find(input.id);
    const stale = this.stale(doc, input.levelIndex);
    if (stale || !doc) return stale!;
    const flow = doc.approval;
    await this.checkApprover(doc, input.actor);

    const i = input.levelIndex;
    const isLast = i === flow.levels.length - 1;
    const nextState = input.decision === 'rejected' ? 'rejected' : isLast ? 'approved' : 'pending';
    const updated = (await this.opts.model
      .findOneAndUpdate(
        {
          [this.opts.key]: input.id,
          'approval.state': 'pending',
          'approval.current': i,
          [`approval.levels.${i}.decision`]: null,
        } as never,
        {
          $set: {
            [`approval.levels.${i}.decision`]: input.decision,
            [`approval.levels.${i}.decidedBy`]: input.actor.personId,
            [`approval.levels.${i}.decidedAt`]: input.now,
            [`approval.levels.${i}.note`]: note,
            'approval.current': input.decision === 'approved' ? i + 1 : i,
            'approval.state': nextState,
          },
        } as never,
        { returnDocument: 'after' },
      )
      .lean()) as T | null;
    if (!updated) return this.stale(await this.get(input.id), i) ?? { kind: 'already', decision: 'cancelled', by: null, at: null, level: i + 1 };
    return { kind: 'decided', decision: input.decision, level: updated.approval.levels[i]!, state: nextState, doc: updated };
  }
}
