/**
 * One host's whole output of a module run as a file in the asker's DM (`/jobs output <id>
 * <host>`, the way to read a large run), for whoever may see the job (ModuleRuns.find). The log is read
 * from the chunked store as a stream of known length (never held whole); it is already
 * redacted and cut at MODULE_OUTPUT_MAX_BYTES with the cut said.
 */
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import { sendStoredLog, type FileToUser, type TicketLogSnapshots } from '../tickets/full-log.js';
import type { ModuleRuns } from './runs.js';

export type OutputFileOutcome = { kind: 'empty'; jobId: string; host: string } | { kind: 'sent'; jobId: string; host: string; filename: string; bytes: number };

export class JobOutputFile {
  constructor(private readonly deps: { runs: ModuleRuns; logs: TicketLogSnapshots | null; files: FileToUser }) {}

  async send(slackUserId: string, jobId: string, host: string): Promise<OutputFileOutcome> {
    const job = await this.deps.runs.find(slackUserId, jobId);
    const h = job.hosts.find((x) => x.name === host);
    if (!h) throw badParameter(`${jobId} did not run on ${host.slice(0, 63)}; its hosts: ${job.hosts.slice(0, 20).map((x) => x.name).join(', ')}`, { field: 'host' });
    if (!this.deps.logs) throw new AppError(ErrorCode.NotImplemented, 'full output is not kept by this bot (no log store)');
    const filename = `${jobId}-${host}.log`;
    const sent = await sendStoredLog({ logs: this.deps.logs, files: this.deps.files }, slackUserId, `${jobId}/${host}`, {
      filename,
      title: `${jobId} ${job.module.name} on ${host} — ${h.state}`,
      comment: `Output of ${job.module.name} on ${host} (${jobId}, ${h.state}${h.outputCut ? ', cut at the per-host limit' : ''}).`,
    });
    return sent ? { kind: 'sent', jobId, host, filename, bytes: sent.bytes } : { kind: 'empty', jobId, host };
  }
}
