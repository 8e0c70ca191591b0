/**
 * Running a ticket's tasks on its config center: the pre-task at submit, and the run (main,
 * then post whatever main's result) once approved.
 *
 * Exactly once: a run starts only by moving the ticket from `approved` to `running` in one
 * conditional write, so two Run clicks, a click and the scheduled job, or two bot instances
 * start it once. Revocation mid-run sends TERM to the remote process group, then KILL after a
 * grace; the request is stored on the ticket too, so the instance running it sees it at its
 * next heartbeat even when another instance took the click. A heartbeat on the ticket tells a
 * later start-up (or the sweep) that a run whose bot died is not running any more: it ends as
 * failed (interrupted), the lock is released, and what its task left running on the config
 * center is stopped, found by the run tag in its environment (adapters/tickets/run-tag.ts;
 * a reused pid never carries it). A bot that stops gracefully (shutdown()) does
 * not leave its runs behind: their process groups get TERM, then KILL, and they end the same way
 * at once, people told, rather than running on unwatched until a sweep notices.
 *
 * Signals from `/jobs` (any instance may take the click) are stored on the ticket and sent by
 * the instance running it, at once or at its next heartbeat, to the task that was running when
 * they were asked for (never to a later one). A task that then fails ends the ticket as failed,
 * "stopped by SIG… from …": job control, not revocation (the approval stands; the lock is
 * released as for any final state), and the post-task is skipped as on revocation.
 *
 * While a run goes, the last part of its output is pushed to the channel message every
 * `progressEveryMs` at most (progress-feed.ts); the message's place is stored on the ticket.
 *
 * Secret values are read from the catalog in memory when a command is rendered to run; what is
 * stored and shown is the masked rendering and the engine's redacted output.
 */
import type { RunObserver, RunOutcome } from '../run-observer.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { HostResult } from '../../adapters/exec/types.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { SignalRequest } from '../../models/signal-request.js';
import { TicketStatus, type PhaseResult, type Ticket, type TicketModel } from '../../models/tickets.js';
import { applyPendingSignals } from '../jobs/signal-requests.js';
import type { TicketCatalog } from './catalog.js';
import type { ConfigCenterRunner, TicketLogSink, TicketNotifier } from './ports.js';
import { ProgressFeed, tailOf } from './progress-feed.js';
import type { TicketRecords } from './records.js';
import { renderCommands } from './values.js';

/** How much of the output a message carries (a Slack section holds 3,000 characters). */
export const TAIL_CHARS = 2500;

/** Why a run stopped by shutdown() ended: in its history, and a line of its log. */
export const BOT_STOPPED_NOTE = 'interrupted: the bot stopped (shut down) while it ran';
export const BOT_STOPPED_LOG = '[opsgate] interrupted: the bot stopped (shut down); the process group got TERM, then KILL; what ran is logged above\n';

/** Why a task that failed after a `/jobs` signal ended: its ticket's history note. */
export function stoppedNote(s: { signal: string; by: string }): string {
  return `stopped by SIG${s.signal} from ${s.by} (/jobs)`;
}

export interface ExecutorDeps {
  model: TicketModel;
  records: TicketRecords;
  catalog: TicketCatalog;
  runner: ConfigCenterRunner;
  log: TicketLogSink;
  notifier: TicketNotifier;
  clock: Clock;
  logger: Logger;
  /** This bot instance, written on the tickets whose tasks it runs (`/jobs` shows it). */
  instanceId: string;
  /** Told of each run's end (the metrics). */
  observer?: RunObserver;
}

export interface ExecutorOptions {
  /** How often a running ticket's heartbeat is written (10 s). */
  heartbeatMs?: number;
  /** A heartbeat older than this means the bot running it died (3 heartbeats). */
  staleMs?: number;
  /** From TERM to KILL when a running ticket is revoked (5 s). */
  killGraceMs?: number;
  /** Least time between two progress updates of a run's channel message (3 s). */
  progressEveryMs?: number;
  /** How long shutdown() waits for the runs it stopped to end, past the kill grace (10 s). */
  shutdownWaitMs?: number;
}

/** Calls a notifier without letting a Slack or mail failure change the ticket's course. */
export async function tell(logger: Logger, what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    logger.warn({ err: (err as Error).message, event: what }, 'ticket notification failed');
  }
}

export class TicketExecutor {
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly killGraceMs: number;
  private readonly progressEveryMs: number;
  private readonly shutdownWaitMs: number;
  /** Set by shutdown(): no new run starts here, and the runs stopped end as interrupted. */
  private shuttingDown = false;
  /** Engine job ids of the phases this instance is running, by ticket. */
  private readonly jobs = new Map<string, string>();
  private readonly stopping = new Set<string>();
  /** Tickets whose run (main and post) this instance is carrying out. */
  private readonly runs = new Set<string>();
  /** Tickets stopped because this bot stops: they end as interrupted, not revoked. */
  private readonly stoppedForShutdown = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The task running now, by ticket: its run tag (signal requests name it) and phase. */
  private readonly tasks = new Map<string, { tag: string; phase: PhaseResult['phase'] }>();
  /** Signal requests sent (or found stale) by this instance, by ticket: each is handled once. */
  private readonly signalsHandled = new Map<string, Set<string>>();
  /** The last `/jobs` signal sent to the task running now, by ticket. */
  private readonly signalled = new Map<string, { signal: string; by: string }>();

  constructor(
    private readonly deps: ExecutorDeps,
    opts: ExecutorOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.staleMs = opts.staleMs ?? 3 * this.heartbeatMs;
    this.killGraceMs = opts.killGraceMs ?? 5_000;
    this.progressEveryMs = opts.progressEveryMs ?? 3_000;
    this.shutdownWaitMs = opts.shutdownWaitMs ?? 10_000;
  }

  /** Resolves once every run this instance started has ended (stop, tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Counts `p` as work of this instance that shutdown() and idle() wait for. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /** The real commands (secret values in), rendered from the ticket's snapshot. */
  private realCommands(t: Ticket): ReturnType<typeof renderCommands> {
    const template = this.deps.catalog.anyState(t.template.name, t.env);
    const secrets: Record<string, string> = {};
    for (const name of t.template.secretNames) {
      const v = template?.secretValues[name];
      if (v === undefined) throw new Error(`the secret ${name} is no longer in the catalog's ticket ${t.template.name} (${t.env})`);
      secrets[name] = v;
    }
    return renderCommands({ templates: t.template.templates, vars: t.template.vars, system: t.system, values: t.values, secrets });
  }

  private secretsOf(t: Ticket): string[] {
    const template = this.deps.catalog.anyState(t.template.name, t.env);
    return t.template.secretNames.map((n) => template?.secretValues[n]).filter((v): v is string => Boolean(v));
  }

  /** Runs one task and logs it; a center that cannot be used is a failed phase, not a throw. */
  async runPhase(t: Ticket, phase: PhaseResult['phase'], by: string, feed?: ProgressFeed): Promise<PhaseResult> {
    const { log, clock, runner, model } = this.deps;
    const at = clock.now();
    let result: HostResult;
    try {
      const script = this.realCommands(t)[phase];
      await log.append(t.ticketId, 'system', `[${phase}] on ${t.template.configCenter}: ${t.template.commands[phase]}\n`);
      // Output goes to the log as it arrives (redacted by the engine), so a long task's log
      // is never held whole: the HostResult keeps only the engine's cut copy, for the tail.
      const onOutput = (stream: 'stdout' | 'stderr', text: string) => {
        feed?.add(text);
        return log.append(t.ticketId, stream, text);
      };
      // Stored before the task starts: a bot that dies any time after can have it found again.
      const tag = `${t.ticketId}-${phase}-${randomBytes(8).toString('hex')}`;
      // Known here before the tag is stored: a signal request naming it cannot be taken for a stale one.
      this.tasks.set(t.ticketId, { tag, phase });
      await model.updateOne({ ticketId: t.ticketId }, { $set: { runTag: tag, instanceId: this.deps.instanceId } });
      const run = await runner.start(t.template.configCenter, script, { timeoutMs: t.template.timeoutMinutes * 60_000, secrets: this.secretsOf(t), startedBy: by, onOutput, tag });
      this.jobs.set(t.ticketId, run.jobId);
      const started = await model.findOneAndUpdate({ ticketId: t.ticketId }, { $set: { jobId: run.jobId } }, { returnDocument: 'after' }).lean<Ticket>();
      // A revoke, or a /jobs signal, that landed while the job was being started is applied now.
      if (this.stopping.has(t.ticketId)) this.signalNow(t.ticketId);
      if (started) await this.applySignals(started).catch((err: Error) => this.deps.logger.warn({ ticketId: t.ticketId, err: err.message }, 'ticket signals not applied; the heartbeat tries again'));
      result = await run.done;
    } catch (err) {
      result = { host: t.template.configCenter, stdout: '', stderr: '', code: null, signal: null, durationMs: 0, error: { kind: 'connect', message: (err as Error).message } };
    } finally {
      this.jobs.delete(t.ticketId);
      this.tasks.delete(t.ticketId);
      this.signalsHandled.delete(t.ticketId);
      // A pre-task revoked meanwhile is over; a run's stop mark lasts until the run ends.
      if (phase === 'pre') this.stopping.delete(t.ticketId);
    }
    const ok = !result.error && result.code === 0 && !result.signal;
    const error = result.error?.message ?? null;
    // A task that outlived the signal (trapped it, exited 0) was not stopped by it.
    const stoppedBy = ok ? null : (this.signalled.get(t.ticketId) ?? null);
    this.signalled.delete(t.ticketId);
    await log.append(t.ticketId, 'system', `[${phase}] ${ok ? 'ok' : 'failed'}: exit ${result.code ?? '-'}${result.signal ? ` signal ${result.signal}` : ''}${stoppedBy ? ` (${stoppedNote(stoppedBy)})` : error ? ` (${error})` : ''} in ${result.durationMs} ms\n`);
    const tail = tailOf([result.stdout, result.stderr].filter(Boolean).join('\n'), TAIL_CHARS);
    const phaseResult: PhaseResult = { phase, ok, code: result.code, signal: result.signal, error, durationMs: result.durationMs, tail, at, stoppedBy };
    await model.updateOne({ ticketId: t.ticketId }, { $push: { phases: phaseResult }, $set: { jobId: null } });
    return phaseResult;
  }

  /** Writes the heartbeat while `work` runs and applies a revoke stored by another instance. */
  async withHeartbeat<T>(ticketId: string, work: () => Promise<T>): Promise<T> {
    const beat = async () => {
      const t = await this.deps.model
        .findOneAndUpdate({ ticketId, state: { $in: ['pre', 'running'] } }, { $set: { heartbeatAt: this.deps.clock.now() } }, { returnDocument: 'after' })
        .lean<Ticket>();
      if (t?.revokeRequested) this.stop(ticketId);
      if (t) await this.applySignals(t);
    };
    const timer = setInterval(() => void beat().catch((err: Error) => this.deps.logger.warn({ err: err.message, ticketId }, 'ticket heartbeat not written')), this.heartbeatMs);
    timer.unref();
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * Moves an approved ticket to running (exactly once) and runs it in the background. Null
   * when it was not approved any more (already started, revoked, changed to rejected).
   */
  async claim(ticketId: string, by: string, extra: Record<string, unknown> = {}): Promise<Ticket | null> {
    // A stopping bot starts nothing: a queued run stays queued for the next instance's sweep.
    if (this.shuttingDown) return null;
    const now = this.deps.clock.now();
    return this.deps.records.transition(
      ticketId,
      { state: 'approved', ...extra },
      { state: 'running', set: { startedAt: now, startedBy: by, heartbeatAt: now }, by, action: 'start' },
    );
  }

  /** Claims and runs to the end (the scheduled and automatic runs; a job awaits it). */
  async claimAndRun(ticketId: string, by: string, extra: Record<string, unknown> = {}): Promise<Ticket | null> {
    const t = await this.claim(ticketId, by, extra);
    if (!t) return null;
    return this.track(this.execute(t, by));
  }

  /** Runs a claimed ticket in the background of this instance. */
  startClaimed(t: Ticket, by: string): void {
    void this.track(this.execute(t, by)).catch(() => undefined);
  }

  private async execute(claimed: Ticket, by: string): Promise<Ticket | null> {
    const { records, notifier, logger, log, model } = this.deps;
    const id = claimed.ticketId;
    // One feed for main and post: the message shows the run's last lines, whichever task wrote them.
    this.runs.add(id);
    const feed = new ProgressFeed(this.progressEveryMs, TAIL_CHARS, (tail) => tell(logger, 'progress', async () => notifier.progress(await records.details(id), tail)));
    try {
      await tell(logger, 'started', async () => {
        const ref = await notifier.started(await records.details(claimed));
        if (ref) await model.updateOne({ ticketId: id }, { $set: { channelMessage: { channel: ref.channel, ts: ref.ts } } });
      });
      feed.touched();
      const main = await this.withHeartbeat(id, () => this.runPhase(claimed, 'main', by, feed));
      // Stopped (revoked, or by a /jobs signal): the post-task does not run.
      const post = claimed.template.templates.post && !this.stopping.has(id) && !main.stoppedBy ? await this.withHeartbeat(id, () => this.runPhase(claimed, 'post', by, feed)) : null;
      const stopped = main.stoppedBy ?? post?.stoppedBy ?? null;
      await feed.close();
      const current = await records.get(id);
      // stop() serves revocation and shutdown alike; a stored revoke request wins over shutdown.
      const revoked = Boolean(current.revokeRequested) || (this.stopping.has(id) && !this.stoppedForShutdown.has(id));
      const interrupted = !revoked && this.stoppedForShutdown.has(id);
      const bg = claimed.background;
      // The ticket's result is the main task's; a failed post-task is in its phase result.
      const change = interrupted
        ? { state: 'failed' as const, status: TicketStatus.failed, background: bg ? ('FAILURE' as const) : null, set: { interrupted: true }, by: 'system:tickets', action: 'interrupt', note: BOT_STOPPED_NOTE }
        : revoked
        ? { state: 'revoked' as const, status: TicketStatus.revoked, background: bg ? ('REVOKED' as const) : null, by: current.revokeRequested?.by ?? by, action: 'revoke', note: 'revoked while running' }
        : stopped
        ? { state: 'failed' as const, status: TicketStatus.failed, background: bg ? ('FAILURE' as const) : null, by: stopped.by, action: 'fail', note: stoppedNote(stopped) }
        : main.ok
          ? { state: 'succeeded' as const, status: TicketStatus.succeeded, background: bg ? ('SUCCESS' as const) : null, by, action: 'succeed' }
          : { state: 'failed' as const, status: TicketStatus.failed, background: bg ? ('FAILURE' as const) : null, by, action: 'fail', note: main.error ?? `exit ${main.code ?? '-'}` };
      if (change.action === 'interrupt') await log.append(id, 'system', BOT_STOPPED_LOG).catch(() => undefined);
      const done = await records.transition(id, { state: 'running' }, change);
      if (!done) return null; // marked interrupted meanwhile (another instance thought this one dead)
      this.observeEnd(done, change.action === 'interrupt' ? 'interrupted' : change.state);
      await this.finish(done);
      return done;
    } catch (err) {
      logger.error({ err: (err as Error).message, ticketId: id }, 'ticket run failed');
      await feed.close(); // no progress update may land after the result
      const failed = await records.transition(id, { state: 'running' }, { state: 'failed', status: TicketStatus.failed, background: claimed.background ? 'FAILURE' : null, by: 'system:tickets', action: 'fail', note: 'internal error while running; see the bot log' });
      if (failed) {
        this.observeEnd(failed, 'failed');
        await this.finish(failed);
      }
      return failed;
    } finally {
      this.stopping.delete(id);
      this.stoppedForShutdown.delete(id);
      this.runs.delete(id);
    }
  }

  private observeEnd(t: Ticket, outcome: RunOutcome): void {
    const start = t.startedAt ?? t.finishedAt;
    this.deps.observer?.runEnded('ticket', outcome, start && t.finishedAt ? (t.finishedAt.getTime() - start.getTime()) / 1000 : 0);
  }

  /** A pre-task this instance stopped for shutdown (the submit path ends it as interrupted). */
  stoppedByShutdown(ticketId: string): boolean {
    return this.stoppedForShutdown.has(ticketId);
  }

  /** Closes the log and tells people the ticket ended. */
  async finish(t: Ticket): Promise<void> {
    const { log, notifier, records, logger } = this.deps;
    await log.close(t.ticketId).catch((err: Error) => logger.warn({ err: err.message, ticketId: t.ticketId }, 'ticket log not closed'));
    const tail = await log.tail(t.ticketId, TAIL_CHARS).catch(() => '');
    await tell(logger, 'finished', async () => notifier.finished(await records.details(t), tail));
  }

  /**
   * Sends the ticket's `/jobs` signal requests not handled yet: each to the task it was asked
   * for when that task runs here now, written to the log and on the request; one whose task has
   * ended is recorded as not sent. A request naming the task running here before its engine job
   * exists waits (runPhase applies it once the job has started). Only the instance running the
   * ticket calls it (its heartbeat, runPhase, or the /jobs service when the click landed here).
   */
  async applySignals(t: Ticket): Promise<void> {
    const id = t.ticketId;
    const task = this.tasks.get(id);
    const jobId = this.jobs.get(id);
    const ready = (t.signals ?? []).filter((r) => !r.appliedAt && (r.task !== task?.tag || jobId !== undefined));
    if (ready.length === 0) return;
    let handled = this.signalsHandled.get(id);
    if (!handled) this.signalsHandled.set(id, (handled = new Set()));
    const send = async (r: SignalRequest): Promise<string[]> => {
      const current = task !== undefined && jobId !== undefined && r.task === task.tag;
      const sent = current && this.deps.runner.signal(jobId, r.signal);
      if (sent) this.signalled.set(id, { signal: r.signal, by: r.by });
      const line = sent
        ? `[opsgate] SIG${r.signal} sent by ${r.by} (/jobs) to the ${task.phase}-task's process group on ${t.template.configCenter}\n`
        : `[opsgate] SIG${r.signal} from ${r.by} (/jobs) not sent: the task it was asked for had ended\n`;
      await this.deps.log.append(id, 'system', line).catch(() => undefined);
      return sent ? [t.template.configCenter] : [];
    };
    const done = await applyPendingSignals(this.deps, { ticketId: id }, ready, handled, send);
    for (const { request, hosts } of done) this.deps.logger.info({ ticketId: id, signal: request.signal, by: request.by, sent: hosts.length > 0 }, 'ticket signal applied');
  }

  /** TERM to the running phase's process group now, KILL after the grace if still running. */
  stop(ticketId: string): void {
    if (this.stopping.has(ticketId)) return;
    this.stopping.add(ticketId);
    this.signalNow(ticketId);
  }

  private signalNow(ticketId: string): void {
    const jobId = this.jobs.get(ticketId);
    if (!jobId) return;
    this.deps.runner.signal(jobId, 'TERM');
    setTimeout(() => {
      if (this.jobs.get(ticketId) === jobId) this.deps.runner.signal(jobId, 'KILL');
    }, this.killGraceMs).unref();
  }

  /**
   * The bot is stopping: nothing new starts here, every pre-task and run of this instance gets
   * TERM, then KILL after the grace (the revoke path), and ends as failed, interrupted, with a
   * log line saying why, the lock released and people told. Resolves once they have ended, or
   * after the grace plus `shutdownWaitMs` (what is still going then is logged and left to the
   * next start's recovery).
   */
  async shutdown(): Promise<{ stopped: string[]; unfinished: number }> {
    this.shuttingDown = true;
    const ids = [...new Set([...this.runs, ...this.jobs.keys()])];
    for (const id of ids) {
      this.stoppedForShutdown.add(id);
      this.stop(id);
    }
    if (ids.length > 0) this.deps.logger.info({ tickets: ids }, 'bot stopping: ticket runs stopped');
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.killGraceMs + this.shutdownWaitMs)));
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), outOfTime]);
    clearTimeout(timer);
    const unfinished = outcome === 'idle' ? 0 : this.inFlight.size;
    if (unfinished > 0) this.deps.logger.warn({ unfinished, tickets: [...this.runs, ...this.jobs.keys()] }, 'bot stopping: ticket work still going after the wait; the next start marks it interrupted');
    return { stopped: ids, unfinished };
  }

  /**
   * The processes a dead bot's task left on its config center (a no-pty SSH command outlives
   * its connection, a local task its bot): found by the run's tag, TERM then KILL. What was
   * done goes to the ticket's log.
   */
  private async stopLeftovers(ticketId: string, center: string, tag: string): Promise<void> {
    const { runner, log, logger } = this.deps;
    let line: string;
    try {
      const n = await runner.stopTagged(center, tag, this.killGraceMs);
      // `local` is the machine of the bot recovering it, which may not be the one that died.
      const where = center === 'local' ? `local (${hostname()})` : center;
      line =
        n === null
          ? `[opsgate] could not look for leftover processes on ${where} (no /proc there)`
          : n === 0
            ? `[opsgate] no leftover process of this run found on ${where}`
            : `[opsgate] ${n} leftover process(es) of this run stopped on ${where}`;
      if (n) logger.info({ ticketId, center, processes: n }, 'leftover ticket processes stopped');
    } catch (err) {
      line = `[opsgate] leftover processes on ${center} could not be stopped: ${(err as Error).message}`;
      logger.warn({ ticketId, center, err: (err as Error).message }, 'leftover ticket processes not stopped');
    }
    await log.append(ticketId, 'system', line + '\n').catch(() => undefined);
  }

  /** True when this instance runs a phase of the ticket now. */
  holds(ticketId: string): boolean {
    return this.jobs.has(ticketId);
  }

  /**
   * After a restart (and every sweep): tickets whose pre-task or run has no fresh heartbeat
   * end as failed (interrupted); approved, queued tickets whose time has come are handed to
   * `requeue` (their claim makes a second job harmless).
   */
  async recover(requeue: (ticketId: string) => Promise<void>): Promise<{ interrupted: number; requeued: number }> {
    const { model, records, clock, log } = this.deps;
    const now = clock.now();
    const stale = new Date(now.getTime() - this.staleMs);
    let interrupted = 0;
    const dead = await model.find({ state: { $in: ['pre', 'running'] }, $or: [{ heartbeatAt: null }, { heartbeatAt: { $lt: stale } }] }).lean<Ticket[]>();
    for (const t of dead) {
      if (this.holds(t.ticketId)) continue;
      const done = await records.transition(
        t.ticketId,
        { state: t.state, heartbeatAt: t.heartbeatAt },
        { state: 'failed', status: TicketStatus.failed, background: t.background ? 'FAILURE' : null, set: { interrupted: true, jobId: null }, by: 'system:tickets', action: 'interrupt', note: `interrupted: the bot stopped while the ${t.state === 'pre' ? 'pre-task' : 'run'} was in progress` },
      );
      if (!done) continue;
      interrupted++;
      await log.append(t.ticketId, 'system', `[opsgate] interrupted: the bot stopped while this ticket was in progress; what ran is logged above\n`).catch(() => undefined);
      if (t.runTag) await this.stopLeftovers(t.ticketId, t.template.configCenter, t.runTag);
      await this.finish(done);
    }
    const due = await model.find({ state: 'approved', queued: true, $or: [{ runAt: null }, { runAt: { $lte: now } }] }).lean<Ticket[]>();
    for (const t of due) await requeue(t.ticketId);
    return { interrupted, requeued: due.length };
  }
}
