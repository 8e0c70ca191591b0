/**
 * Module runs as jobs, and job control across bot instances (seed 000: running / find_job /
 * signal_job / term_job / kill_job).
 *
 * A run is planned (plan.ts: nothing is written when it is refused), stored as a job `J-…`,
 * and handed to the execution engine. Each host's result is written into the job as it lands
 * in its bucket (seed 001's host_ok / host_failed / host_unreachable); its output streams into
 * the chunked log store as `<jobId>/<host>`, cut at a per-host cap with the cut said.
 *
 * Any instance may signal any job: the request is pushed onto the job document; the instance
 * running it applies it at once when it holds it, else at its next heartbeat, and records the
 * hosts signalled. The heartbeat is the job's lease: a job whose heartbeat is older than the
 * lease belongs to an instance that died, and the sweep marks it `lost` (never left running).
 */
import type { RunObserver } from '../run-observer.js';
import { randomBytes } from 'node:crypto';
import type { ExecutionEngine } from '../../adapters/exec/engine.js';
import { normalizeSignal, STOP_SIGNALS } from '../../adapters/exec/signals.js';
import type { HostResult, RunResult, SignalName, SshTarget } from '../../adapters/exec/types.js';
import type { Clock } from '../../clock.js';
import { AppError, asAppError, badParameter, ErrorCode, needPermission } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Host } from '../../models/inventory.js';
import type { Person } from '../../models/person.js';
import { BOT_STOPPED_HOST, type Job, type JobModel } from '../../models/jobs.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import { isMember, type RbacService } from '../rbac.js';
import type { TicketLogSink } from '../tickets/ports.js';
import { applyPendingSignals, newSignalRequest } from '../jobs/signal-requests.js';
import { flowLevels, planApprovalLevels } from '../approvals/catalog-levels.js';
import type { ModuleEntry } from '../catalog/modules-schema.js';
import type { TemplateValue } from '../command-template.js';
import { planRun, recheckApproved, targetText, type PlanDeps, type RunRequest } from './plan.js';
import type { RunNotifier } from './ports.js';
import { RunApprovals } from './run-approvals.js';

export interface ModuleRunDeps extends PlanDeps {
  model: JobModel;
  directory: DirectoryService;
  rbac: RbacService;
  audit: AuditLog;
  engine: ExecutionEngine;
  toTarget: (h: Host) => SshTarget;
  /** Full per-host output (the chunked log store). */
  log: TicketLogSink;
  clock: Clock;
  logger: Logger;
  /** This bot instance, as written on the jobs it runs. */
  instanceId: string;
  /** Told of start, progress and end (Slack); none in service tests. */
  notifier?: RunNotifier;
  /** Told of each run's end (the metrics). */
  observer?: RunObserver;
}

export interface ModuleRunOptions {
  /** EXEC_PARALLELISM: no module runs on more hosts at once. */
  maxParallelism?: number;
  /** How often a running job's heartbeat is written and its signal requests read (10 s). */
  heartbeatMs?: number;
  /** A heartbeat older than this means the instance died: the job is lost (3 heartbeats). */
  leaseMs?: number;
  /** Output stored per host; the rest is dropped and the cut said in the log (1 MiB). */
  maxOutputBytes?: number;
  /** Characters of each stream kept on the job document per host (2,000; fewer on runs so large that the tails would crowd the document). */
  tailChars?: number;
  /** Least time between two progress notices of one job (2 s). */
  progressEveryMs?: number;
  /** At shutdown, from TERM to KILL on the hosts still running (5 s). */
  killGraceMs?: number;
  /** How long shutdown() waits past the kill grace for the stopped runs to be written (10 s). */
  shutdownWaitMs?: number;
}

/** Why a job stopped by shutdown() ended early: its note. */
export const BOT_STOPPED_JOB_NOTE = "stopped by opsgate's shutdown: the hosts still running got TERM, then KILL, and ended as cancelled (opsgate stopped)";

/** Signals ask for by name in `/jobs term` and `/jobs kill`. */
export type JobSignal = string;

interface Held {
  engineJobId: string;
  applied: Set<string>;
  /** Set when this bot's shutdown stopped the job: the hosts signalled then. */
  stoppedForShutdown?: Set<string>;
}

/** What one run carries out: the module, the command as rendered (and approved), the hosts. */
interface Launch {
  module: ModuleEntry;
  command: string;
  hosts: Host[];
  params: Record<string, TemplateValue>;
}

/**
 * Characters of output tails one job document may hold over all its hosts and both streams:
 * with up to 3 UTF-8 bytes a character this keeps a 5,000-host job far below MongoDB's 16 MB
 * document limit (each host then keeps 300 characters a stream; the whole output is in the log).
 */
const TAIL_BUDGET_CHARS = 3_000_000;

/** Jobs the App Home lists in each of its two lists. */
const HOME_JOBS = 5;

const tail = (text: string, max: number) => (text.length > max ? '…' + text.slice(text.length - max + 1) : text);

/** Why a host was unreachable, in the words the issue uses. */
export function unreachableWhy(r: HostResult): 'refused' | 'timeout' | 'host key changed' | 'auth' | 'connect' {
  if (r.error?.kind === 'hostkey') return 'host key changed';
  if (r.error?.kind === 'auth') return 'auth';
  const m = r.error?.message ?? '';
  if (/ECONNREFUSED|refused/i.test(m)) return 'refused';
  if (/ETIMEDOUT|timed? ?out|within \d+ ms/i.test(m)) return 'timeout';
  return 'connect';
}

export class ModuleRuns {
  private readonly held = new Map<string, Held>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private readonly maxOutputBytes: number;
  private readonly tailChars: number;
  /** Set by shutdown(): no run starts on this instance any more. */
  private shuttingDown = false;
  /** Runs with approval levels: requests, decisions, and the start once approved. */
  readonly approvals: RunApprovals;

  constructor(
    private readonly deps: ModuleRunDeps,
    private readonly opts: ModuleRunOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.leaseMs = opts.leaseMs ?? 3 * this.heartbeatMs;
    this.maxOutputBytes = opts.maxOutputBytes ?? 1024 * 1024;
    this.tailChars = opts.tailChars ?? 2000;
    this.approvals = new RunApprovals(deps, (jobId, by) => this.startApproved(jobId, by));
  }

  private async tell(what: 'started' | 'progress' | 'finished' | 'notStarted', jobId: string, job?: Job): Promise<void> {
    const n = this.deps.notifier;
    const fn = n?.[what];
    if (!n || !fn) return;
    try {
      await fn.call(n, job ?? (await this.get(jobId)));
    } catch (err) {
      this.deps.logger.warn({ jobId, event: what, err: (err as Error).message }, 'run notification failed');
    }
  }

  /** Resolves once every run this instance started has ended and been written. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Checks the request (plan.ts), stores the job and starts it. Returns the job as stored at
   * start and `done`, which settles with the final job once every host is written. A module
   * with approval levels is stored `awaiting-approval` instead and its approvers are asked;
   * `done` is then that job (the run starts once approved, see RunApprovals).
   */
  async run(slackUserId: string, req: RunRequest): Promise<{ job: Job; done: Promise<Job> }> {
    const { model, clock, instanceId } = this.deps;
    this.refuseWhileStopping();
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    const plan = await planRun(this.deps, person, req);
    const jobId = `J-${randomBytes(5).toString('hex')}`;
    const now = clock.now();
    const levels = plan.module.approval.length > 0 ? await planApprovalLevels(this.deps.directory, plan.module.approval, person, `module ${plan.module.name}`) : [];
    const job = (
      await model.create({
        jobId,
        kind: 'module',
        module: { id: plan.module.id, name: plan.module.name, command: plan.command, adminOnly: Boolean(plan.module.adminOnly) },
        params: plan.params,
        target: { filter: targetText(req), hostNames: plan.hosts.map((h) => h.name), envs: plan.envs },
        startedBy: person.personId,
        startedBySlack: slackUserId,
        channel: plan.module.channel,
        state: levels.length > 0 ? 'awaiting-approval' : 'running',
        instanceId,
        heartbeatAt: now,
        hosts: plan.hosts.map((h) => ({ name: h.name, address: h.address, env: h.env, state: 'pending' })),
        startedAt: now,
        requestedAt: now,
        approval: levels.length > 0 ? { levels: flowLevels(levels), current: 0, state: 'pending' } : null,
      })
    ).toObject() as Job;
    if (levels.length === 0) return this.launch(job, { module: plan.module, command: plan.command, hosts: plan.hosts, params: plan.params }, person.personId, 'delete');
    await this.deps.audit.record({ actor: person.personId, action: 'job.request', target: `job:${jobId}`, to: { module: plan.module.name, command: plan.command, target: job.target.filter, hosts: plan.hosts.length, params: plan.params, state: 'awaiting-approval', levels: levels.map((l) => l.label) } });
    this.deps.logger.info({ jobId, module: plan.module.name, hosts: plan.hosts.length, by: person.personId, levels: levels.length }, 'module run awaits approval');
    await this.approvals.askCurrentLevel(jobId);
    return { job, done: Promise.resolve(job) };
  }

  private refuseWhileStopping(): void {
    if (this.shuttingDown) throw new AppError(ErrorCode.Internal, 'this opsgate instance is stopping and starts no run; try again in a moment');
  }

  /**
   * An approved run, checked again (plan.ts recheckApproved: hosts disabled meanwhile are
   * dropped, the permission of who asked holds) and started exactly once: the conditional move
   * from `awaiting-approval` to `running`. A stopping instance starts nothing (the sweep of a
   * running one does); a run that may not start any more ends `cancelled`, who asked told why.
   */
  async startApproved(jobId: string, by: string): Promise<void> {
    const { model, clock, instanceId, audit, logger } = this.deps;
    if (this.shuttingDown) return void logger.info({ jobId }, 'approved run left for another instance: this one is stopping');
    const job = await model.findOne({ jobId, state: 'awaiting-approval', 'approval.state': 'approved' }).lean<Job>();
    if (!job) return;
    const cancel = async (why: string) => {
      const ended = await model.findOneAndUpdate({ jobId, state: 'awaiting-approval' }, { $set: { state: 'cancelled', endedAt: clock.now(), note: `approved, not started: ${why}` } }, { returnDocument: 'after' }).lean<Job>();
      if (!ended) return;
      await audit.record({ actor: by, action: 'job.cancelled', target: `job:${jobId}`, from: { state: 'awaiting-approval' }, to: { state: 'cancelled', reason: why } });
      await this.tell('notStarted', jobId, ended);
      await this.approvalsRefreshed(ended);
    };
    const person = await this.deps.directory.byPersonId(job.startedBy);
    if (!person) return cancel(`${job.startedBy} is no longer in the directory`);
    let checked: Awaited<ReturnType<typeof recheckApproved>>;
    try {
      checked = await recheckApproved(this.deps, person, job.module.name, job.target.hostNames);
    } catch (err) {
      const e = asAppError(err);
      if (e.code === ErrorCode.Internal) throw err;
      return cancel(e.toUserText());
    }
    const now = clock.now();
    const keep = new Set(checked.hosts.map((h) => h.name));
    const note = checked.dropped.length > 0 ? `dropped at start: ${checked.dropped.map((d) => `${d.name} (${d.why})`).join(', ')}` : null;
    const claimed = await model
      .findOneAndUpdate(
        { jobId, state: 'awaiting-approval', 'approval.state': 'approved' },
        { $set: { state: 'running', instanceId, heartbeatAt: now, startedAt: now, hosts: job.hosts.filter((h) => keep.has(h.name)), 'target.hostNames': [...keep], 'target.envs': checked.envs, note } },
        { returnDocument: 'after' },
      )
      .lean<Job>();
    if (!claimed) return; // started or ended by another click, instance or sweep
    try {
      const started = await this.launch(claimed, { module: checked.module, command: job.module.command, hosts: checked.hosts, params: job.params as Record<string, TemplateValue> }, job.startedBy, 'cancel');
      await this.approvalsRefreshed(started.job);
    } catch (err) {
      logger.warn({ jobId, err: (err as Error).message }, 'approved run not started');
      const now = await model.findOne({ jobId }).lean<Job>();
      if (now?.state === 'cancelled') await this.tell('notStarted', jobId, now);
    }
  }

  private async approvalsRefreshed(job: Job): Promise<void> {
    try {
      await this.deps.notifier?.refreshApprovals?.(job);
    } catch (err) {
      this.deps.logger.warn({ jobId: job.jobId, err: (err as Error).message }, 'run approval notification failed');
    }
  }

  /**
   * Hands a stored `running` job to the engine. When the engine refuses it, a fresh job is
   * deleted (it never was) and an approved one ends `cancelled` (its approval stays on record).
   */
  private async launch(job: Job, plan: Launch, by: string, notStarted: 'delete' | 'cancel'): Promise<{ job: Job; done: Promise<Job> }> {
    const { model, audit, engine } = this.deps;
    const jobId = job.jobId;
    const tailChars = Math.max(100, Math.min(this.tailChars, Math.floor(TAIL_BUDGET_CHARS / (2 * plan.hosts.length))));
    const writes: Promise<unknown>[] = [];
    const bytes = new Map<string, number>();
    const logged = new Set<string>();
    const onOutput = async (host: string, stream: 'stdout' | 'stderr', text: string): Promise<void> => {
      const before = bytes.get(host) ?? 0;
      const size = Buffer.byteLength(text);
      bytes.set(host, before + size);
      if (before >= this.maxOutputBytes) return;
      logged.add(host);
      const room = this.maxOutputBytes - before;
      if (size <= room) return this.deps.log.append(`${jobId}/${host}`, stream, text);
      await this.deps.log.append(`${jobId}/${host}`, stream, Buffer.from(text).subarray(0, room).toString('utf8').replace(/\uFFFD+$/, ''));
      await this.deps.log.append(`${jobId}/${host}`, 'system', `\n[opsgate] output cut at ${this.maxOutputBytes} bytes; the rest was not kept\n`);
    };
    // Progress goes out at most every progressEveryMs; the last host's result is in the final notice.
    const every = this.opts.progressEveryMs ?? 2000;
    let lastProgress = 0;
    let progressTimer: NodeJS.Timeout | undefined;
    let ended = false;
    const progress = () => {
      if (ended || progressTimer) return;
      const wait = Math.max(0, lastProgress + every - Date.now());
      progressTimer = setTimeout(() => {
        progressTimer = undefined;
        if (ended) return;
        lastProgress = Date.now();
        writes.push(Promise.all(writes.slice()).then(() => (ended ? undefined : this.tell('progress', jobId))));
      }, wait);
      progressTimer.unref();
    };
    const onHostResult = (bucket: keyof Omit<RunResult, 'jobId'>, r: HostResult) => {
      writes.push(this.writeHost(jobId, bucket, r, bytes.get(r.host) ?? 0, tailChars, this.held.get(jobId)?.stoppedForShutdown).catch((err: Error) => this.deps.logger.warn({ jobId, host: r.host, err: err.message }, 'job host result not written')));
      progress();
    };

    // Audited before anything runs: a run (the free-form shell above all) never goes unrecorded.
    await audit.record({ actor: by, action: 'job.start', target: `job:${jobId}`, to: { module: plan.module.name, command: plan.command, target: job.target.filter, hosts: plan.hosts.length, params: plan.params } });
    let started: { jobId: string; done: Promise<RunResult> };
    if (this.shuttingDown) {
      // Stopping began while this run was being checked: it is not started here.
      if (notStarted === 'delete') await model.deleteOne({ jobId });
      else await model.updateOne({ jobId, state: 'running' }, { $set: { state: 'awaiting-approval' } }); // another instance's sweep starts it
      this.refuseWhileStopping();
    }
    try {
      started = engine.start({
        targets: plan.hosts.map((h) => this.deps.toTarget(h)),
        command: plan.command,
        timeoutMs: plan.module.timeoutSeconds * 1000,
        parallelism: Math.min(plan.module.parallelism, this.opts.maxParallelism ?? plan.module.parallelism),
        startedBy: by,
        onOutput,
        onHostResult,
      });
    } catch (err) {
      if (notStarted === 'delete') await model.deleteOne({ jobId }); // it never started
      else await model.updateOne({ jobId, state: 'running' }, { $set: { state: 'cancelled', endedAt: this.deps.clock.now(), note: `approved, not started: ${(err as Error).message}` } });
      await audit.record({ actor: by, action: 'job.not-started', target: `job:${jobId}`, to: { reason: (err as Error).message } });
      throw err;
    }
    const held: Held = { engineJobId: started.jobId, applied: new Set() };
    this.held.set(jobId, held);
    // The lease and the end are tracked from here on, whatever happens to the steps below; the
    // end notice waits for the start notice, so the channel message never goes back to running.
    let announced!: () => void;
    const startNoticed = new Promise<void>((resolve) => (announced = resolve));
    const timer = setInterval(() => void this.beat(jobId).catch((err: Error) => this.deps.logger.warn({ jobId, err: err.message }, 'job heartbeat not written')), this.heartbeatMs);
    timer.unref();
    const done = (async () => {
      try {
        await started.done;
        ended = true;
        clearTimeout(progressTimer);
        // A progress notice under way may push more; wait until nothing is pending.
        for (let n = 0; n < writes.length; n = writes.length) await Promise.all(writes);
        for (const host of logged) await this.deps.log.close(`${jobId}/${host}`).catch(() => undefined);
        const stopped = this.held.get(jobId)?.stoppedForShutdown;
        const note = stopped ? [job.note, BOT_STOPPED_JOB_NOTE].filter(Boolean).join('; ') : job.note;
        const end = await model.findOneAndUpdate({ jobId, state: 'running' }, { $set: { state: 'done', endedAt: this.deps.clock.now(), note } }, { returnDocument: 'after' }).lean<Job>();
        if (!end) this.deps.logger.warn({ jobId }, 'job was marked lost while this instance still ran it (heartbeats late)');
        const final = end ?? (await this.get(jobId));
        if (end) {
          const c = end.counts;
          const outcome = stopped ? 'interrupted' : c.failed + c.unreachable + (c.cancelled ?? 0) > 0 ? 'failed' : 'succeeded';
          this.deps.observer?.runEnded('module', outcome, ((end.endedAt?.getTime() ?? 0) - end.startedAt.getTime()) / 1000);
        }
        await startNoticed;
        await this.tell('finished', jobId, final);
        return final;
      } finally {
        clearInterval(timer);
        this.held.delete(jobId);
      }
    })();
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done)).catch(() => undefined);
    try {
      await model.updateOne({ jobId }, { $set: { engineJobId: started.jobId } });
      this.deps.logger.info({ jobId, module: plan.module.name, hosts: plan.hosts.length, by }, 'module run started');
      await this.tell('started', jobId, job);
    } finally {
      announced();
    }
    return { job, done };
  }

  private async writeHost(jobId: string, bucket: keyof Omit<RunResult, 'jobId'>, r: HostResult, outputBytes: number, tailChars: number, stoppedForShutdown?: Set<string>): Promise<void> {
    // A host this bot's shutdown stopped (or kept from starting) is cancelled, whatever its signal says; one that finished ok first stays ok.
    const cancelled = Boolean(stoppedForShutdown) && bucket !== 'host_ok' && (stoppedForShutdown!.has(r.host) || r.error?.kind === 'cancelled');
    const state = cancelled ? 'cancelled' : bucket === 'host_ok' ? 'ok' : bucket === 'host_failed' ? 'failed' : 'unreachable';
    const counter = `counts.${state}`;
    await this.deps.model.updateOne(
      { jobId, 'hosts.name': r.host },
      {
        $set: {
          'hosts.$.state': state,
          'hosts.$.code': r.code,
          'hosts.$.signal': r.signal,
          'hosts.$.durationMs': r.durationMs,
          'hosts.$.errorKind': cancelled ? 'cancelled' : (r.error?.kind ?? null),
          'hosts.$.error': cancelled ? BOT_STOPPED_HOST : (r.error?.message ?? null),
          'hosts.$.why': state === 'unreachable' ? unreachableWhy(r) : null,
          'hosts.$.stdoutTail': tail(r.stdout, tailChars),
          'hosts.$.stderrTail': tail(r.stderr, tailChars),
          'hosts.$.outputBytes': outputBytes,
          'hosts.$.outputCut': outputBytes > this.maxOutputBytes || Boolean(r.truncated),
          'hosts.$.endedAt': this.deps.clock.now(),
        },
        $inc: { [counter]: 1 },
      },
    );
  }

  /**
   * The bot is stopping (app stop): no run starts on this instance any more; every run it holds
   * gets TERM on each host still running (the remote process groups, through the engine), KILL
   * after the grace on those still going, and hosts not started yet are not started. Those
   * hosts end `cancelled` ("opsgate stopped"), the job ends `done` with its counts and a note
   * saying the shutdown stopped it, people are told (channel message, DM), all before this
   * resolves: the caller closes the engine and the store after. Gives up waiting after the
   * grace plus `shutdownWaitMs` (what is still going is logged; the lease sweep of another
   * instance ends it as lost).
   */
  async shutdown(): Promise<{ stopped: string[]; unfinished: number }> {
    const { engine, model, clock, audit, logger, instanceId } = this.deps;
    this.shuttingDown = true;
    const stopped = [...this.held.keys()];
    const grace = this.opts.killGraceMs ?? 5000;
    const signalAll = async (signal: 'TERM' | 'KILL') => {
      for (const [jobId, held] of this.held) {
        if (!held.stoppedForShutdown && signal === 'KILL') continue;
        let hosts: string[] = [];
        try {
          hosts = engine.signal(held.engineJobId, signal).signalled;
        } catch {
          continue; // its engine job ended meanwhile: nothing left to stop, it ends as it ran
        }
        held.stoppedForShutdown ??= new Set();
        for (const h of hosts) held.stoppedForShutdown.add(h);
        if (signal === 'KILL' && hosts.length === 0) continue;
        const at = clock.now();
        await model
          .updateOne({ jobId }, { $push: { signals: { ...newSignalRequest(signal, 'system:shutdown', at), appliedAt: at, appliedBy: instanceId, hosts } } })
          .catch((err: Error) => logger.warn({ jobId, err: err.message }, 'shutdown signal not recorded'));
        if (signal === 'TERM') await audit.record({ actor: 'system:shutdown', action: 'job.shutdown-stop', target: `job:${jobId}`, from: { state: 'running' }, to: { signal, hosts } }).catch(() => undefined);
      }
    };
    if (stopped.length > 0) {
      logger.info({ jobs: stopped }, 'bot stopping: module runs stopped (TERM, then KILL)');
      await signalAll('TERM');
    }
    const killer = setTimeout(() => void signalAll('KILL'), grace);
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), grace + (this.opts.shutdownWaitMs ?? 10_000))));
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), outOfTime]);
    clearTimeout(timer);
    clearTimeout(killer);
    const unfinished = outcome === 'idle' ? 0 : this.inFlight.size;
    if (unfinished > 0) logger.warn({ unfinished, jobs: [...this.held.keys()] }, 'bot stopping: module runs still going after the wait; another instance marks them lost');
    return { stopped, unfinished };
  }

  /** The lease: written while this instance runs the job; signal requests from any instance are applied here. */
  private async beat(jobId: string): Promise<void> {
    const job = await this.deps.model
      .findOneAndUpdate({ jobId, state: 'running', instanceId: this.deps.instanceId }, { $set: { heartbeatAt: this.deps.clock.now() } }, { returnDocument: 'after' })
      .lean<Job>();
    if (job) await this.applyPending(job);
  }

  private async applyPending(job: Job): Promise<void> {
    const held = this.held.get(job.jobId);
    if (!held) return;
    const sent = await applyPendingSignals(this.deps, { jobId: job.jobId }, job.signals, held.applied, (req) => {
      try {
        return this.deps.engine.signal(held.engineJobId, req.signal).signalled;
      } catch {
        // The engine's job ended between the request and now: nothing is running to signal.
        return [];
      }
    });
    for (const { request, hosts } of sent) this.deps.logger.info({ jobId: job.jobId, signal: request.signal, hosts: hosts.length }, 'job signal applied');
  }

  async get(jobId: string): Promise<Job> {
    if (typeof jobId !== 'string' || !/^J-[0-9a-f]{10}$/.test(jobId)) throw badParameter(`${String(jobId)} is not a job id (J- and 10 hex digits)`, { jobId });
    const job = await this.deps.model.findOne({ jobId }).lean<Job>();
    if (!job) throw badParameter(`no job ${jobId}`, { jobId });
    return job;
  }

  /**
   * Who may see a job (its params, per-host state and output): who started it, global admins,
   * and people holding `use` on `inventory:<env>` for every environment it touched, since its
   * output is those hosts'. A job of an adminOnly module (the free-form shell) is its starter's
   * and the admins' only: its script and output may hold anything.
   */
  private async visibility(person: Person, job: Job, admin: boolean): Promise<'visible' | 'admin-only' | 'needs-use'> {
    if (admin || job.startedBy === person.personId) return 'visible';
    if (job.module.adminOnly || this.deps.catalog.find(job.module.name)?.adminOnly) return 'admin-only';
    for (const env of job.target.envs) {
      if (!(await this.deps.rbac.can(person, 'use', { type: 'inventory', id: env, organization: null }))) return 'needs-use';
    }
    return 'visible';
  }

  private async requireVisible(person: Person, job: Job): Promise<void> {
    const seen = await this.visibility(person, job, (await this.deps.rbac.standing(person)).globalAdmin);
    if (seen === 'admin-only') throw needPermission(`${job.jobId} ran the admin-only module ${job.module.name}: only who started it and global admins may see it`, { jobId: job.jobId });
    if (seen === 'needs-use') {
      throw needPermission(`only who started ${job.jobId}, global admins and people with use on ${job.target.envs.map((e) => `inventory:${e}`).join(', ')} may see it`, { jobId: job.jobId });
    }
  }

  /** Running jobs of every instance the asker may see (visibility above), oldest first (seed 000's `running`). Members only. */
  async running(slackUserId: string): Promise<Job[]> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireMember(person);
    const admin = (await this.deps.rbac.standing(person)).globalAdmin;
    const out: Job[] = [];
    for await (const job of this.deps.model.find({ state: 'running' }).sort({ startedAt: 1 }).lean<Job[]>().cursor()) {
      if ((await this.visibility(person, job as Job, admin)) === 'visible') out.push(job as Job);
      if (out.length === 100) break;
    }
    return out;
  }

  /** One job with its per-host state and output tails (find_job), for a member who may see it. */
  async find(slackUserId: string, jobId: string): Promise<Job> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireMember(person);
    const job = await this.get(jobId);
    await this.requireVisible(person, job);
    return job;
  }

  /**
   * signal_job: the request is stored on the job, whichever instance runs it; applied at once
   * when this instance runs it. Only who started it and global admins. Returns the job with the
   * request recorded.
   */
  async signal(slackUserId: string, jobId: string, name: JobSignal): Promise<Job> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    const signal = normalizeSignal(name);
    const job = await this.get(jobId);
    if (job.startedBy !== person.personId && !(await this.deps.rbac.standing(person)).globalAdmin) {
      throw needPermission(`only who started ${jobId} or an admin may signal it`, { jobId });
    }
    if (job.state === 'awaiting-approval') return this.withdraw(person, job, signal);
    const request = newSignalRequest(signal, person.personId, this.deps.clock.now());
    const updated = await this.deps.model.findOneAndUpdate({ jobId, state: 'running' }, { $push: { signals: request } }, { returnDocument: 'after' }).lean<Job>();
    if (!updated) throw badParameter(`${jobId} already ended (${job.state})`, { jobId, state: job.state });
    await this.deps.audit.record({ actor: person.personId, action: 'job.signal', target: `job:${jobId}`, to: { signal, requestId: request.requestId } });
    if (this.held.has(jobId)) await this.applyPending(updated);
    return (await this.deps.model.findOne({ jobId }).lean<Job>()) ?? updated;
  }

  /**
   * A stop signal for a run still waiting for approval withdraws it: it ends `cancelled`
   * (nothing of it ran), its approvers' DMs lose their buttons, and a later click is answered
   * "already cancelled". Any other signal has nothing to reach yet.
   */
  private async withdraw(person: Person, job: Job, signal: string): Promise<Job> {
    const { model, clock, audit } = this.deps;
    if (!STOP_SIGNALS.has(signal as SignalName)) throw badParameter(`${job.jobId} is waiting for approval; nothing of it runs yet, so SIG${signal} has nothing to reach (a stop signal, TERM, INT, HUP, QUIT or KILL, withdraws it)`, { jobId: job.jobId });
    const note = `withdrawn by ${person.name} (SIG${signal}) while waiting for approval; nothing ran`;
    const ended = await model
      .findOneAndUpdate({ jobId: job.jobId, state: 'awaiting-approval', 'approval.state': 'pending' }, { $set: { state: 'cancelled', 'approval.state': 'cancelled', endedAt: clock.now(), note } }, { returnDocument: 'after' })
      .lean<Job>();
    if (!ended) {
      const now = await this.get(job.jobId);
      throw badParameter(`${job.jobId} was decided meanwhile (${now.state}); ${now.state === 'running' ? 'signal it again to reach its hosts' : 'nothing to withdraw'}`, { jobId: job.jobId, state: now.state });
    }
    await audit.record({ actor: person.personId, action: 'job.withdrawn', target: `job:${job.jobId}`, from: { state: 'awaiting-approval' }, to: { state: 'cancelled', signal } });
    await this.approvalsRefreshed(ended);
    return ended;
  }

  term(slackUserId: string, jobId: string): Promise<Job> {
    return this.signal(slackUserId, jobId, 'TERM');
  }

  kill(slackUserId: string, jobId: string): Promise<Job> {
    return this.signal(slackUserId, jobId, 'KILL');
  }

  /**
   * The App Home's "Module runs": running jobs the person may see (as `/jobs` lists them) and
   * their own latest runs. A person not yet a member sees none (the Home tab says why).
   */
  async homeSummary(person: Person): Promise<{ running: Job[]; recent: Job[] }> {
    const standing = await this.deps.rbac.standing(person);
    if (!isMember(standing)) return { running: [], recent: [] };
    const admin = standing.globalAdmin;
    const running: Job[] = [];
    for await (const job of this.deps.model.find({ state: 'running' }).sort({ startedAt: -1 }).lean<Job[]>().cursor()) {
      if ((await this.visibility(person, job as Job, admin)) === 'visible') running.push(job as Job);
      if (running.length === HOME_JOBS) break;
    }
    const recent = await this.deps.model.find({ startedBy: person.personId, state: { $ne: 'running' } }).sort({ startedAt: -1 }).limit(HOME_JOBS).lean<Job[]>();
    return { running, recent };
  }

  /**
   * Jobs whose lease ran out (their instance died) end as `lost`, and so do their hosts still
   * pending. Jobs this instance runs are skipped. Returns the job ids marked.
   */
  async sweepLost(): Promise<string[]> {
    const { model, clock, audit } = this.deps;
    const now = clock.now();
    const stale = await model.find({ state: 'running', heartbeatAt: { $lt: new Date(now.getTime() - this.leaseMs) } }).lean<Job[]>();
    const lost: string[] = [];
    for (const j of stale) {
      if (this.held.has(j.jobId)) continue;
      const hosts = j.hosts.map((h) => (h.state === 'pending' ? { ...h, state: 'lost', endedAt: now } : h));
      const note = `lost: instance ${j.instanceId} stopped renewing its lease (last heartbeat ${j.heartbeatAt.toISOString()})`;
      const res = await model.updateOne({ jobId: j.jobId, state: 'running', heartbeatAt: j.heartbeatAt }, { $set: { state: 'lost', endedAt: now, hosts, note } });
      if (res.modifiedCount === 0) continue;
      lost.push(j.jobId);
      await audit.record({ actor: 'system:jobs', action: 'job.lost', target: `job:${j.jobId}`, from: { state: 'running' }, to: { state: 'lost', instanceId: j.instanceId } });
    }
    return lost;
  }
}
