/**
 * A module run's output as a file in the asker's DM, for whoever may see the job
 * (ModuleRuns.find): one host's (`/jobs output <id> <host>`, the per-host view's Output file),
 * or every host's in one file (`/jobs output <id>`, the final message's button on large runs),
 * each host under a header line with its bucket, exit code and duration. Logs are read from
 * the chunked store as streams of known length (never held whole); they are already redacted
 * and cut at MODULE_OUTPUT_MAX_BYTES with the cut said.
 */
import { Readable } from 'node:stream';
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import type { Job, JobHost } from '../../models/jobs.js';
import { sendStoredLog, type FileToUser, type TicketLogSnapshots } from '../tickets/full-log.js';
import type { ModuleRuns } from './runs.js';

export type OutputFileOutcome =
  | { kind: 'empty'; jobId: string; host?: string }
  | { kind: 'sent'; jobId: string; host?: string; filename: string; bytes: number; hosts?: number };

/** The order hosts come in the whole-output file: as the buckets of the final message. */
const ORDER: Record<string, number> = { ok: 0, failed: 1, unreachable: 2, cancelled: 3, lost: 4, pending: 5 };

function hostHeader(h: JobHost): string {
  const end = h.state === 'unreachable' ? `unreachable (${h.why ?? 'connect'})` : h.signal ? `signal ${h.signal}` : h.code !== null && h.code !== undefined ? `exit ${h.code}` : h.state;
  const took = h.durationMs !== null && h.durationMs !== undefined ? ` · ${(h.durationMs / 1000).toFixed(1)} s` : '';
  return `===== ${h.name} · ${h.state} · ${end}${took}${h.outputCut ? ' · output cut at the per-host limit' : ''} =====\n`;
}

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

  /** Every host's output of an ended job in one file; hosts that printed nothing say so. */
  async sendAll(slackUserId: string, jobId: string): Promise<OutputFileOutcome> {
    const job = await this.deps.runs.find(slackUserId, jobId);
    if (job.state === 'running' || job.state === 'awaiting-approval') throw badParameter(`${jobId} is ${job.state}; its whole output comes once it ended (one host's now: /jobs output ${jobId} <host>)`, { jobId });
    if (!this.deps.logs) throw new AppError(ErrorCode.NotImplemented, 'full output is not kept by this bot (no log store)');
    const logs = this.deps.logs;
    const hosts = [...job.hosts].sort((a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || a.name.localeCompare(b.name));
    const parts: Array<{ header: Buffer; snap: Awaited<ReturnType<TicketLogSnapshots['snapshot']>>; empty: Buffer }> = [];
    try {
      for (const h of hosts) {
        const snap = await logs.snapshot(`${jobId}/${h.name}`);
        const empty = Buffer.from(snap ? '' : h.state === 'unreachable' ? `${h.error ?? 'unreachable'}\n` : '(no output)\n');
        parts.push({ header: Buffer.from(hostHeader(h)), snap, empty });
      }
      const bytes = parts.reduce((n, p) => n + p.header.length + (p.snap?.bytes ?? 0) + p.empty.length, 0);
      async function* body(): AsyncGenerator<Buffer> {
        for (const p of parts) {
          yield p.header;
          if (p.snap) for await (const chunk of p.snap.body) yield chunk as Buffer;
          if (p.empty.length) yield p.empty;
        }
      }
      const filename = `${jobId}.log`;
      await this.deps.files.sendToUser(slackUserId, {
        filename,
        title: `${jobId} ${job.module.name} on ${job.hosts.length} hosts — ${job.state}`,
        comment: `Output of ${job.module.name} on every host of ${jobId} (${countsText(job)}).`,
        bytes,
        body: Readable.from(body(), { objectMode: false }),
      });
      return { kind: 'sent', jobId, filename, bytes, hosts: hosts.length };
    } finally {
      for (const p of parts) p.snap?.body.destroy();
    }
  }
}

function countsText(j: Job): string {
  return `${j.counts.ok} ok, ${j.counts.failed} failed, ${j.counts.unreachable} unreachable`;
}
