/**
 * What module runs need told to people (the Slack side implements it in notify/run-notifier.ts):
 * the start, progress at most every PROGRESS interval, and the end. A notifier that fails never
 * changes the run; the service logs it.
 */
import type { Job } from '../../models/jobs.js';

export interface RunNotifier {
  started(job: Job): Promise<void>;
  progress(job: Job): Promise<void>;
  finished(job: Job): Promise<void>;
}
