/**
 * The execution engine: runs one command on many hosts with bounded parallelism, as a job with
 * an id that can be listed, inspected and signalled (seed 000: running / find_job /
 * signal_job / term_job / kill_job). Results come back in seed 001's three buckets.
 *
 * Everything a job exposes (its command, every host's stdout, stderr and error message) is
 * redacted first: credentials inside URLs and the values the caller declared secret.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { badParameter } from '../../errors.js';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import { redactorFor } from '../../services/redact.js';
import { LocalTransport } from './local-transport.js';
import { OutputTap, type OutputListener } from './output-tap.js';
import { normalizeSignal, STOP_SIGNALS } from './signals.js';
import type { SshConnectionPool } from './ssh-pool.js';
import { SshTransport, type SshPoolSettings } from './ssh-transport.js';
import { hostTargetSchema, isUnreachable, type HostResult, type HostTarget, type LocalTarget, type RunCommandOptions, type RunResult, type RunningCommand, type SignalName, type SshTarget, type Transport } from './types.js';

/**
 * Extra bytes kept past the output limit so a secret or URL that straddles the limit is still
 * recognised whole before the text is cut.
 */
const REDACTION_SLACK_BYTES = 4096;

export interface ExecutionEngineOptions {
  /** The bot's SSH private key; without it only `local` targets can run. */
  sshPrivateKey?: Buffer | string;
  sshPassphrase?: string;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Used when a run names none. Default 10 minutes. */
  defaultTimeoutMs?: number;
  /** Hosts worked on at once when a run names no bound. Default 50. */
  parallelism?: number;
  /** Time between TERM and KILL when a command times out. Default 5 s. */
  killGraceMs?: number;
  /** Output kept per host and stream. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Finished jobs kept for `get()`. Default 200. */
  keepFinishedJobs?: number;
  /** Shell that runs commands on hosts and locally. Default /bin/sh. */
  shell?: string;
  /** The warm SSH connection pool (ssh-pool.ts): idle timeout, cap, keepalive, channels. */
  sshPool?: SshPoolSettings;
  /** Replaces the transports (tests). */
  transports?: { ssh?: Transport<SshTarget>; local?: Transport<LocalTarget> };
  logger?: Logger;
  clock?: Clock;
}

export interface StartRunOptions {
  targets: HostTarget[];
  /** The rendered script (see services/command-template.ts). */
  command: string;
  timeoutMs?: number;
  parallelism?: number;
  /** Values to hide in everything the job exposes (declared secret variables). */
  secrets?: string[];
  /** Who started it (Slack user id), for listings and logs. */
  startedBy?: string;
  /**
   * Live output, per host and stream, in arrival order, already redacted (secrets split
   * across chunks included); what is held back for redaction comes at the end, before `done`
   * settles. The next piece waits for the returned promise, and the host's output is paused
   * meanwhile, so a slow consumer (a log store) is never outrun. The promise must settle: a
   * listener that hangs holds the run. A listener that throws stops live output for that host
   * only. Results keep their stdout/stderr as without it (cut at the output limit).
   */
  onOutput?: OutputListener;
  /** Told of each host's result as it lands in its bucket (already redacted and cut); errors are the caller's. */
  onHostResult?: (bucket: keyof Omit<RunResult, 'jobId'>, result: HostResult) => void;
}

const startSchema = z.object({
  targets: z.array(hostTargetSchema).min(1, 'at least one host is needed'),
  command: z.string().min(1, 'the command is empty'),
  timeoutMs: z.number().int().positive().optional(),
  parallelism: z.number().int().positive().optional(),
  secrets: z.array(z.string()).optional(),
  startedBy: z.string().optional(),
  onOutput: z.custom<OutputListener>((v) => typeof v === 'function', 'onOutput must be a function').optional(),
  onHostResult: z.custom<NonNullable<StartRunOptions['onHostResult']>>((v) => typeof v === 'function', 'onHostResult must be a function').optional(),
});

export type JobState = 'running' | 'done';

/** What `running()` and `get()` show; all text already redacted. */
export interface JobInfo {
  jobId: string;
  state: JobState;
  command: string;
  startedBy?: string;
  startedAt: Date;
  finishedAt?: Date;
  hosts: number;
  /** Hosts not started yet, running now, and finished. */
  progress: { queued: number; running: number; finished: number };
  signals: { name: SignalName; at: Date }[];
  /** Present once the job is done. */
  result?: RunResult;
}

interface Job {
  info: JobInfo;
  active: Map<string, RunningCommand>;
  stoppedBy?: SignalName;
}

export class ExecutionEngine {
  private readonly jobs = new Map<string, Job>();
  private readonly transports: { ssh?: Transport<SshTarget>; local: Transport<LocalTarget> };
  private readonly clock: Clock;

  constructor(private readonly opts: ExecutionEngineOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    const ssh =
      opts.transports?.ssh ??
      (opts.sshPrivateKey !== undefined
        ? new SshTransport({
            privateKey: opts.sshPrivateKey,
            passphrase: opts.sshPassphrase,
            connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
            shell: opts.shell,
            pool: opts.sshPool,
            logger: opts.logger,
          })
        : undefined);
    this.transports = { ssh, local: opts.transports?.local ?? new LocalTransport({ shell: opts.shell }) };
  }

  /**
   * Starts a run and returns at once. `done` never rejects: every host ends in one of the
   * three buckets. Bad input (no hosts, duplicate names, no SSH key for SSH hosts) is
   * AppError 1100, thrown here.
   */
  start(input: StartRunOptions): { jobId: string; done: Promise<RunResult> } {
    const parsed = startSchema.safeParse(input);
    if (!parsed.success) throw badParameter(parsed.error.issues.map((i) => `${i.path.join('.') || 'run'}: ${i.message}`).join('; '));
    const run = parsed.data;
    const names = new Set<string>();
    for (const t of run.targets) {
      if (names.has(t.name)) throw badParameter(`host ${t.name} is listed twice`, { host: t.name });
      names.add(t.name);
    }
    if (run.targets.some((t) => t.transport === 'ssh') && !this.transports.ssh) {
      throw badParameter('SSH hosts need the bot SSH key, which is not configured');
    }

    const jobId = this.newJobId();
    const redact = redactorFor(run.secrets);
    const job: Job = {
      info: {
        jobId,
        state: 'running',
        command: redact(run.command),
        startedBy: run.startedBy,
        startedAt: this.clock.now(),
        hosts: run.targets.length,
        progress: { queued: run.targets.length, running: 0, finished: 0 },
        signals: [],
      },
      active: new Map(),
    };
    this.jobs.set(jobId, job);
    this.opts.logger?.info({ jobId, hosts: run.targets.length, startedBy: run.startedBy }, 'job started');

    const done = this.runAll(job, run.targets, {
      command: run.command,
      timeoutMs: run.timeoutMs ?? this.opts.defaultTimeoutMs ?? 600_000,
      parallelism: run.parallelism ?? this.opts.parallelism ?? 50,
      redact,
      secrets: run.secrets ?? [],
      onOutput: run.onOutput,
      onHostResult: run.onHostResult,
    });
    return { jobId, done };
  }

  /**
   * Closes the pooled SSH connections (app stop). Runs still going on them end as `lost`;
   * stop them first (signal) when that matters.
   */
  async close(): Promise<void> {
    await Promise.all([this.transports.ssh?.close?.(), this.transports.local.close?.()]);
  }

  /** The SSH transport's connection pool, when the engine built it (tests and benches read it). */
  get sshPool(): SshConnectionPool | undefined {
    return this.transports.ssh instanceof SshTransport ? this.transports.ssh.pool : undefined;
  }

  /** Jobs still running, oldest first. */
  running(): JobInfo[] {
    return [...this.jobs.values()].filter((j) => j.info.state === 'running').map((j) => structuredClone(j.info));
  }

  /** A running or recently finished job. */
  get(jobId: string): JobInfo | undefined {
    const job = this.jobs.get(jobId);
    return job && structuredClone(job.info);
  }

  /**
   * Sends a signal (TERM, KILL, HUP, USR1, ...) to the process groups of every host the job
   * is running on. TERM, KILL, INT, HUP and QUIT also stop the job: hosts not started yet are
   * not started and end as `cancelled`. Returns the hosts signalled. Unknown job or signal
   * name: AppError 1100.
   */
  signal(jobId: string, name: string): { signalled: string[] } {
    const sig = normalizeSignal(name);
    const job = this.jobs.get(jobId);
    if (!job || job.info.state !== 'running') throw badParameter(`no running job ${jobId}`, { jobId });
    job.info.signals.push({ name: sig, at: this.clock.now() });
    if (STOP_SIGNALS.has(sig)) job.stoppedBy ??= sig;
    for (const cmd of job.active.values()) cmd.signal(sig);
    this.opts.logger?.info({ jobId, signal: sig, hosts: job.active.size }, 'job signalled');
    return { signalled: [...job.active.keys()] };
  }

  private async runAll(
    job: Job,
    targets: HostTarget[],
    run: { command: string; timeoutMs: number; parallelism: number; redact: (t: string) => string; secrets: string[]; onOutput?: OutputListener; onHostResult?: StartRunOptions['onHostResult'] },
  ): Promise<RunResult> {
    const result: RunResult = { jobId: job.info.jobId, host_ok: {}, host_failed: {}, host_unreachable: {} };
    const limit = this.opts.maxOutputBytes ?? 1024 * 1024;
    const record = (r: HostResult) => {
      const clean = this.cleanResult(r, run.redact, limit);
      const bucket = clean.error ? (isUnreachable(clean) ? 'host_unreachable' : 'host_failed') : clean.code === 0 && !clean.signal ? 'host_ok' : 'host_failed';
      result[bucket][clean.host] = clean;
      job.info.progress.finished++;
      try {
        run.onHostResult?.(bucket, structuredClone(clean));
      } catch (err) {
        this.opts.logger?.warn({ jobId: job.info.jobId, host: clean.host, err: (err as Error).message }, 'onHostResult threw');
      }
    };

    // A small worker pool rather than a generic limiter: a stopped job must be able to skip
    // the hosts still waiting, which needs control over the queue.
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const target = targets[next++]!;
        job.info.progress.queued--;
        if (job.stoppedBy) {
          record(cancelledBeforeStart(target.name, job.stoppedBy));
          continue;
        }
        job.info.progress.running++;
        const tap = run.onOutput && new OutputTap(target.name, run.secrets, run.onOutput, this.opts.logger);
        const runOpts: RunCommandOptions = {
          command: run.command,
          timeoutMs: run.timeoutMs,
          killGraceMs: this.opts.killGraceMs ?? 5000,
          maxOutputBytes: limit + REDACTION_SLACK_BYTES,
          ...(tap ? { onOutput: (stream, chunk) => tap.write(stream, chunk) } : {}),
        };
        const cmd = target.transport === 'local' ? this.transports.local.run(target, runOpts) : this.transports.ssh!.run(target, runOpts);
        job.active.set(target.name, cmd);
        try {
          const raw = await cmd.result;
          await tap?.end();
          record(raw);
        } finally {
          job.active.delete(target.name);
          job.info.progress.running--;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(run.parallelism, targets.length) }, worker));
    } finally {
      job.info.state = 'done';
      job.info.finishedAt = this.clock.now();
      job.info.result = result;
      this.forgetOldJobs();
    }
    this.opts.logger?.info(
      {
        jobId: job.info.jobId,
        ok: Object.keys(result.host_ok).length,
        failed: Object.keys(result.host_failed).length,
        unreachable: Object.keys(result.host_unreachable).length,
      },
      'job finished',
    );
    return structuredClone(result);
  }

  /** Redacts, then cuts to the limit (in that order, so a secret at the cut is still found). */
  private cleanResult(r: HostResult, redact: (t: string) => string, limit: number): HostResult {
    const cut = (t: string) => (t.length > limit ? t.slice(0, limit) : t);
    const stdout = redact(r.stdout);
    const stderr = redact(r.stderr);
    return {
      ...r,
      stdout: cut(stdout),
      stderr: cut(stderr),
      truncated: Boolean(r.truncated) || stdout.length > limit || stderr.length > limit,
      ...(r.error ? { error: { ...r.error, message: redact(r.error.message) } } : {}),
    };
  }

  private forgetOldJobs(): void {
    const keep = this.opts.keepFinishedJobs ?? 200;
    const finished = [...this.jobs.values()].filter((j) => j.info.state === 'done');
    for (const j of finished.slice(0, Math.max(0, finished.length - keep))) this.jobs.delete(j.info.jobId);
  }

  private newJobId(): string {
    // Short enough to type in Slack (`/job kill 3f9c2a1b7d04`), random enough not to collide.
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.jobs.has(id));
    return id;
  }
}

function cancelledBeforeStart(host: string, signal: SignalName): HostResult {
  return {
    host,
    stdout: '',
    stderr: '',
    code: null,
    signal: null,
    durationMs: 0,
    error: { kind: 'cancelled', message: `not started: the job was stopped by SIG${signal}` },
  };
}
