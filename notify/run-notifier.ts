/**
 * Tells people about module runs (the RunNotifier port): one message in the module's channel,
 * posted at the start and updated in place while the run goes (the service paces progress at
 * most every ~2 s) and at the end with the buckets; the person who ran it gets the summary by
 * DM. The channel message's place is kept in memory by the instance running the job, as for
 * tickets; a module without a channel reports by DM only. Runs waiting for approval: each
 * approver's DM (its place stored on the job, so every copy is redrawn in place from any
 * instance), and each decision told to who asked.
 */
import { runApprovalMessage, runDecisionMessage, runNotStartedMessage } from '../blocks/run-approvals.js';
import { runChannelMessage, runSummaryMessage } from '../blocks/runs.js';
import type { MessageRef } from '../src/models/approval.js';
import type { Person } from '../src/models/person.js';
import type { Logger } from '../src/logger.js';
import type { Job } from '../src/models/jobs.js';
import type { DirectoryService } from '../src/services/directory/directory.js';
import type { RunNotifier } from '../src/services/modules/ports.js';
import type { Posted, SlackMessenger } from './slack-dm.js';

export interface RunNotifierDeps {
  slack: SlackMessenger;
  directory: Pick<DirectoryService, 'byPersonId' | 'byPersonIds'>;
  logger: Logger;
  now?: () => number;
}

export function runNotifier(deps: RunNotifierDeps): RunNotifier {
  const now = deps.now ?? Date.now;
  const posted = new Map<string, Posted>();
  /** Who asked and who decided, by personId, for names in the messages. */
  const peopleOf = async (job: Job): Promise<Record<string, Person>> => {
    const ids = [job.startedBy, ...(job.approval?.levels ?? []).map((l) => l.decidedBy).filter((x): x is string => Boolean(x))];
    return Object.fromEntries((await deps.directory.byPersonIds([...new Set(ids)])).map((p) => [p.personId, p]));
  };
  const dmStarter = async (job: Job, message: Parameters<SlackMessenger['dm']>[1]) => {
    const who = await deps.directory.byPersonId(job.startedBy);
    if (who) await deps.slack.dm(who, message);
  };
  return {
    async approvalNeeded(job, approvers) {
      const people = await peopleOf(job);
      const refs: MessageRef[] = [];
      for (const a of approvers) {
        const at = await deps.slack.dm(a, runApprovalMessage(job, a.personId, people, now()));
        if (at) refs.push({ personId: a.personId, level: job.approval?.current ?? 0, ...at });
      }
      return refs;
    },
    async refreshApprovals(job) {
      const people = await peopleOf(job);
      for (const ref of job.messages) await deps.slack.update(ref, runApprovalMessage(job, ref.personId, people, now()));
    },
    async decided(job, level, deciders) {
      await dmStarter(job, runDecisionMessage(job, level, deciders));
    },
    async notStarted(job) {
      await dmStarter(job, runNotStartedMessage(job));
    },
    async started(job: Job) {
      if (!job.channel) return;
      const ref = await deps.slack.post(job.channel, runChannelMessage(job, now()));
      if (ref) posted.set(job.jobId, ref);
    },
    async progress(job: Job) {
      const ref = posted.get(job.jobId);
      if (ref) await deps.slack.update(ref, runChannelMessage(job, now()));
    },
    async finished(job: Job) {
      const ref = posted.get(job.jobId);
      posted.delete(job.jobId);
      if (ref) await deps.slack.update(ref, runChannelMessage(job, now()));
      const who = await deps.directory.byPersonId(job.startedBy);
      if (who) await deps.slack.dm(who, runSummaryMessage(job, now()));
      else deps.logger.warn({ jobId: job.jobId, personId: job.startedBy }, 'the person who ran the job is not in the directory: no DM');
    },
  };
}
