/**
 * Tells people about module runs (the RunNotifier port): one message in the module's channel,
 * posted at the start and updated in place while the run goes (the service paces progress at
 * most every ~2 s) and at the end with the buckets; the person who ran it gets the summary by
 * DM. The channel message's place is kept in memory by the instance running the job, as for
 * tickets; a module without a channel reports by DM only.
 */
import { runChannelMessage, runSummaryMessage } from '../blocks/runs.js';
import type { Logger } from '../src/logger.js';
import type { Job } from '../src/models/jobs.js';
import type { DirectoryService } from '../src/services/directory/directory.js';
import type { RunNotifier } from '../src/services/modules/ports.js';
import type { Posted, SlackMessenger } from './slack-dm.js';

export interface RunNotifierDeps {
  slack: SlackMessenger;
  directory: Pick<DirectoryService, 'byPersonId'>;
  logger: Logger;
  now?: () => number;
}

export function runNotifier(deps: RunNotifierDeps): RunNotifier {
  const now = deps.now ?? Date.now;
  const posted = new Map<string, Posted>();
  return {
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
