/**
 * What module runs need told to people (the Slack side implements it in notify/run-notifier.ts):
 * the start, progress at most every PROGRESS interval, and the end; for modules with approval
 * levels, the approvers' DMs (every copy updated in place as levels are decided) and each
 * decision told to who asked. A notifier that fails never changes the run; the service logs it.
 */
import type { ApprovalLevel, MessageRef } from '../../models/approval.js';
import type { Job } from '../../models/jobs.js';
import type { Person } from '../../models/person.js';

export interface RunNotifier {
  started(job: Job): Promise<void>;
  progress(job: Job): Promise<void>;
  finished(job: Job): Promise<void>;
  /** DMs each approver of the level now waiting; returns where each DM went. */
  approvalNeeded?(job: Job, approvers: Person[]): Promise<MessageRef[]>;
  /** Brings every stored approval DM up to date (decided, started, rejected). */
  refreshApprovals?(job: Job): Promise<void>;
  /** Tells who asked of a level's decision (`job` as it stands after it). */
  decided?(job: Job, level: ApprovalLevel, deciders: Record<string, Person>): Promise<void>;
  /** Tells who asked that the approved run could not start (why is the job's note). */
  notStarted?(job: Job): Promise<void>;
}
