/**
 * The provisioning worker (seed 003's minute script): runs due tasks (exec time <= now, status
 * 0 or 2), all tasks of one request together; writes grant lines (`add`) and removes them at
 * expiry (`delete`); sends the 24-hour and 1-hour reminders; and completes approved requests a
 * crash left half-done.
 *
 * Exactly once: tasks are claimed in batches by one update on their expected state and an
 * expired claim, which stamps the batch's token on each; only tasks carrying the token run, so
 * two workers (or two bot instances) never run the same task at once; an `add` task exists
 * once per grant and a `delete` task once per grant (unique index).
 *
 * Expiry storms: due `delete` tasks are grouped per host, and each host's lines go in one SSH
 * call (per 200 grants) instead of one per grant; hosts run side by side (10 at once); a pass
 * keeps claiming until nothing is due. Notices (DMs, mails) are queued and handed to the
 * notifier off that path, so Slack's rate limits never hold back a removal that is due.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { ApplicationStatus, GrantStatus, TaskStatus, type AccessModels, type Grant, type ProvisionTask } from '../../models/access.js';
import type { Host } from '../../models/inventory.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import { accountsForRole } from './authorized-keys.js';
import type { AccessNotifier, HostKeysPort, HostOpResult, SessionsEnded } from './ports.js';
import type { AccessService } from './requests.js';
import { queueDelete } from './tasks.js';
import { exponentialBackoffMs } from '../backoff.js';
import type { ProvisioningObserver } from '../run-observer.js';

export interface ProvisioningDeps {
  models: AccessModels;
  access: AccessService;
  inventory: InventoryService;
  directory: DirectoryService;
  audit: AuditLog;
  clock: Clock;
  notifier: AccessNotifier;
  hostKeys: HostKeysPort;
  /** Asks for the worker to run at `at` (just after the expiry of a grant just written; see wakeTimeFor). */
  scheduleWake: (at: Date) => Promise<void>;
  /** Told of removals at expiry and failed attempts (the metrics); none in service tests. */
  observer?: ProvisioningObserver;
}

export interface ProvisioningOptions {
  /** Length of one day of access; tests shorten it. */
  dayMs?: number;
  /** `add` attempts before the application is marked failed (5). */
  maxAddAttempts?: number;
  /** How long a claim holds before another worker may take the task over. */
  claimLeaseMs?: number;
  /** Tasks claimed at once (1,000); the requests they belong to are always claimed whole. */
  batchSize?: number;
  /** Hosts worked on at once within a batch (10). */
  hostParallelism?: number;
  /** Notices (DMs, mails) being handed over at once, off the provisioning path (4). */
  noticeParallelism?: number;
}

export interface RunSummary {
  materialized: number;
  granted: number;
  revoked: number;
  failed: number;
  retrying: number;
  reminders: number;
}

type Outcome = Exclude<keyof RunSummary, 'materialized' | 'reminders'>;
type ClaimedTask = ProvisionTask & { _id: unknown };

const DAY = 86_400_000;

/**
 * When the worker wakes for a grant expiring at `expiresAt`: the next whole second. Grants
 * provisioned together share a wake-up, so an expiry storm is a few dozen scheduler jobs, not
 * one per grant (each job is a document the scheduler searches).
 */
export function wakeTimeFor(expiresAt: Date): Date {
  return new Date(Math.ceil(expiresAt.getTime() / 1000) * 1000);
}

/** Runs `work` on every item, at most `size` at once; rethrows the first failure once all are done. */
async function inPool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = await Promise.allSettled(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
  const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (failed) throw failed.reason;
}

export class ProvisioningWorker {
  private readonly dayMs: number;
  private readonly maxAddAttempts: number;
  private readonly claimLeaseMs: number;
  private readonly batchSize: number;
  private readonly hostParallelism: number;
  private readonly noticeParallelism: number;
  /** Notices waiting to be handed to the notifier, and how many are being handed over now. */
  private readonly notices: Array<{ what: string; send: () => Promise<void> }> = [];
  private noticesActive = 0;
  private idleWaiters: Array<() => void> = [];
  /** Wake-ups this process has asked for and that are still ahead (ms since the epoch). */
  private readonly wakes = new Set<number>();

  constructor(
    private readonly deps: ProvisioningDeps,
    opts: ProvisioningOptions = {},
  ) {
    this.dayMs = opts.dayMs ?? DAY;
    this.maxAddAttempts = opts.maxAddAttempts ?? 5;
    this.claimLeaseMs = opts.claimLeaseMs ?? 5 * 60_000;
    this.batchSize = opts.batchSize ?? 1000;
    this.hostParallelism = opts.hostParallelism ?? 10;
    this.noticeParallelism = opts.noticeParallelism ?? 4;
  }

  /** Hours-before-expiry reminders, scaled with the length of a day. */
  private reminderOffsets(): Array<{ hours: number; ms: number }> {
    return [
      { hours: 24, ms: this.dayMs },
      { hours: 1, ms: this.dayMs / 24 },
    ];
  }

  /**
   * One pass: claims due tasks in batches until none is due (a batch that fails a task leaves
   * it to the next pass, so a host that is down is tried once per pass). Within a batch the
   * `delete` tasks of one host are one SSH call (per 200 grants), hosts run side by side.
   */
  async run(): Promise<RunSummary> {
    const summary: RunSummary = { materialized: 0, granted: 0, revoked: 0, failed: 0, retrying: 0, reminders: 0 };
    summary.materialized = await this.deps.access.materializeStragglers();
    const triedAndFailed: unknown[] = [];
    for (;;) {
      const batch = await this.claimBatch(triedAndFailed);
      if (batch.length === 0) break;
      for (const { task, outcome } of await this.runBatch(batch)) {
        summary[outcome]++;
        if (outcome === 'retrying' || outcome === 'failed') triedAndFailed.push(task._id);
      }
    }
    summary.reminders = await this.sendReminders();
    return summary;
  }

  /** Resolves once every notice queued so far has been handed to the notifier. */
  async idle(): Promise<void> {
    if (this.notices.length === 0 && this.noticesActive === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Asks the scheduler for a pass at the grant's expiry, unless this process already did for that second. */
  private async wakeAt(expiresAt: Date): Promise<void> {
    const at = wakeTimeFor(expiresAt).getTime();
    const now = this.deps.clock.now().getTime();
    for (const t of this.wakes) if (t < now) this.wakes.delete(t);
    if (this.wakes.has(at)) return;
    this.wakes.add(at);
    try {
      await this.deps.scheduleWake(new Date(at));
    } catch (err) {
      this.wakes.delete(at);
      throw err;
    }
  }

  /**
   * Notices leave the worker's path: Slack's rate limits or a slow mail queue must never hold
   * back a revocation that is due. Sent in order, a few at once; as before, a notice is sent
   * at most once (a crash before it is handed over loses it).
   */
  private notify(what: string, send: () => Promise<void>): void {
    this.notices.push({ what, send });
    this.pumpNotices();
  }

  private pumpNotices(): void {
    while (this.noticesActive < this.noticeParallelism && this.notices.length > 0) {
      const { what, send } = this.notices.shift()!;
      this.noticesActive++;
      void send()
        .catch((err: unknown) =>
          this.deps.audit.record({ actor: 'system:provisioning', action: 'access.notice-failed', target: what, to: { error: err instanceof Error ? err.message : String(err) } }).catch(() => undefined),
        )
        .finally(() => {
          this.noticesActive--;
          this.pumpNotices();
          if (this.notices.length === 0 && this.noticesActive === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        });
    }
  }

  /**
   * Claims the next batch of due tasks (oldest first) with one update: every claimed task
   * carries this batch's token, so no other worker runs it until the lease ends. All due
   * tasks of a request in the batch come along, as seed 003 asks.
   */
  private async claimBatch(exclude: unknown[]): Promise<ClaimedTask[]> {
    const { models, clock } = this.deps;
    const now = clock.now();
    const due = { status: { $in: [TaskStatus.notRun, TaskStatus.failed] }, execTime: { $lte: now }, $or: [{ claimUntil: null }, { claimUntil: { $lte: now } }] };
    const notTried = exclude.length > 0 ? { _id: { $nin: exclude } } : {};
    const first = await models.Task.find({ ...due, ...notTried }, { _id: 1, requestId: 1 })
      .sort({ execTime: 1 })
      .limit(this.batchSize)
      .lean<Array<{ _id: unknown; requestId: string }>>();
    if (first.length === 0) return [];
    const ids = new Map(first.map((t) => [String(t._id), t._id]));
    if (first.length === this.batchSize) {
      const rest = await models.Task.find({ ...due, ...notTried, requestId: { $in: [...new Set(first.map((t) => t.requestId))] } }, { _id: 1 }).lean<Array<{ _id: unknown }>>();
      for (const t of rest) ids.set(String(t._id), t._id);
    }
    const token = randomUUID();
    await models.Task.updateMany(
      { ...due, _id: { $in: [...ids.values()] } },
      { $set: { claimToken: token, claimUntil: new Date(now.getTime() + this.claimLeaseMs) }, $inc: { attempts: 1 } },
    );
    return models.Task.find({ _id: { $in: [...ids.values()] }, claimToken: token }).lean<ClaimedTask[]>();
  }

  /**
   * When a failed task is due again: 5 s after the first failure, doubling to at most 5
   * minutes, so a host that stays down costs one connect timeout per back-off, not per pass.
   */
  private retryAt(attempts: number): Date {
    return new Date(this.deps.clock.now().getTime() + exponentialBackoffMs(attempts, 5_000, 5 * 60_000));
  }

  /** Finishes a claimed task; false when its claim had lapsed and another worker holds it now. */
  private async finish(task: ClaimedTask, ok: boolean, error: string | null): Promise<boolean> {
    return (await this.finishAll([task], ok, error)) > 0;
  }

  /** Finishes many claimed tasks the same way in one update; returns how many were still ours. */
  private async finishAll(tasks: ClaimedTask[], ok: boolean, error: string | null): Promise<number> {
    if (tasks.length === 0) return 0;
    const retry = ok ? {} : { execTime: this.retryAt(Math.max(...tasks.map((t) => t.attempts))) };
    const r = await this.deps.models.Task.updateMany(
      { _id: { $in: tasks.map((t) => t._id) }, claimToken: tasks[0]!.claimToken },
      { $set: { status: ok ? TaskStatus.done : TaskStatus.failed, lastError: error, claimToken: null, claimUntil: null, ...retry } },
    );
    if (!ok) for (const t of tasks) this.deps.observer?.taskFailed(t.type);
    return r.modifiedCount;
  }

  private async runBatch(tasks: ClaimedTask[]): Promise<Array<{ task: ClaimedTask; outcome: Outcome }>> {
    const { models, inventory } = this.deps;
    const results: Array<{ task: ClaimedTask; outcome: Outcome }> = [];
    const grants = new Map((await models.Grant.find({ grantId: { $in: [...new Set(tasks.map((t) => t.grantId))] } }).lean<Grant[]>()).map((g) => [g.grantId, g]));
    const hosts = new Map<string, Promise<Host | null>>();
    const hostByName = (name: string) => hosts.get(name) ?? hosts.set(name, inventory.hostByName(name)).get(name)!;

    const work: Array<() => Promise<void>> = [];
    const deletesByHost = new Map<string, Array<{ task: ClaimedTask; grant: Grant }>>();
    for (const task of tasks) {
      const grant = grants.get(task.grantId);
      if (!grant) {
        work.push(async () => {
          await this.finish(task, false, `grant ${task.grantId} is missing`);
          results.push({ task, outcome: 'failed' });
        });
      } else if (task.type === 'add') {
        work.push(async () => {
          results.push({ task, outcome: await this.runAdd(task, grant, await hostByName(task.host)) });
        });
      } else {
        const list = deletesByHost.get(task.host) ?? [];
        list.push({ task, grant });
        deletesByHost.set(task.host, list);
      }
    }
    for (const [hostName, items] of deletesByHost) {
      work.push(async () => {
        for (const r of await this.runDeletes(hostName, items, await hostByName(hostName))) results.push(r);
      });
    }
    await inPool(work, this.hostParallelism, (w) => w());
    return results;
  }

  private async runAdd(task: ClaimedTask, grant: Grant, host: Host | null): Promise<Outcome> {
    const { models, clock } = this.deps;
    if (grant.status !== GrantStatus.valid) {
      // Revoked before it was ever written: nothing to add.
      await this.finish(task, true, null);
      return 'revoked';
    }
    // The clock starts at the grant, not at the request; a task run again after its bot died
    // mid-way keeps the times the first run wrote, so the line and the record agree.
    const grantedAt = grant.grantedAt ?? clock.now();
    const expiresAt = grant.expiresAt ?? new Date(grantedAt.getTime() + grant.days * this.dayMs);
    const result: HostOpResult = host
      ? await this.deps.hostKeys.add(host, accountsForRole(grant.role), { grantId: grant.grantId, publicKey: grant.publicKey, expiresAt })
      : { ok: false, unreachable: false, message: `host ${task.host} is no longer in the inventory` };
    if (result.ok) {
      // The task is finished last: a bot killed before that leaves it claimed, and the next
      // worker runs it again once the claim lapses (writing the line is idempotent). Finished
      // first, as before, a kill right after left a line on the host with no expiry queued
      // and the request provisioning for good. Only a grant still in force is marked written:
      // one revoked while its line went on must have the line taken off again.
      const marked = await models.Grant.updateOne({ grantId: grant.grantId, status: GrantStatus.valid }, { $set: { grantedAt, expiresAt } });
      if (marked.matchedCount === 0) {
        await queueDelete(models, grant, clock.now(), { rerun: true });
        await this.deps.scheduleWake(clock.now());
        await this.finish(task, true, null);
        return 'revoked';
      }
      await models.Application.updateOne({ grantId: grant.grantId }, { $set: { status: ApplicationStatus.granted, error: null } });
      await queueDelete(models, grant, expiresAt);
      await this.wakeAt(expiresAt);
      // A claim that lapsed under a slow run is another worker's now: it audits and tells.
      if (!(await this.finish(task, true, null))) return 'granted';
      await this.deps.audit.record({ actor: 'system:provisioning', action: 'access.granted', target: `host:${grant.host}`, from: null, to: { grantId: grant.grantId, personId: grant.personId, role: grant.role, expiresAt } });
      const holder = await this.deps.directory.byPersonId(grant.personId);
      // A grant carried over from the old bastion with its start is access the holder already
      // had: no "granted" notice for each. One the old bastion never set up is news.
      if (holder && !(grant.importedFrom && grant.grantedAt)) this.notify(`grant:${grant.grantId}`, () => this.deps.notifier.granted({ ...grant, grantedAt, expiresAt }, holder));
      return 'granted';
    }
    await this.finish(task, false, result.message);
    if (task.attempts < this.maxAddAttempts) return 'retrying';
    // Give up: the application failed; anything half-written is removed by a delete task.
    await models.Application.updateOne({ grantId: grant.grantId }, { $set: { status: ApplicationStatus.failed, error: result.message } });
    await models.Grant.updateOne({ grantId: grant.grantId }, { $set: { status: GrantStatus.expired, endedAt: clock.now(), endedBy: 'system:provisioning', endReason: `provisioning failed: ${result.message}` } });
    await queueDelete(models, grant, clock.now(), { rerun: true });
    await this.deps.audit.record({ actor: 'system:provisioning', action: 'access.failed', target: `host:${grant.host}`, to: { grantId: grant.grantId, error: result.message } });
    const holder = await this.deps.directory.byPersonId(grant.personId);
    if (holder) this.notify(`grant:${grant.grantId}`, () => this.deps.notifier.provisioningFailed(grant, holder, result.message));
    return 'failed';
  }

  /**
   * Removes the lines of every due grant on one host in one gateway call (per 200 grants),
   * then records each grant as ended, audits it and queues its notice.
   */
  private async runDeletes(hostName: string, items: Array<{ task: ClaimedTask; grant: Grant }>, host: Host | null): Promise<Array<{ task: ClaimedTask; outcome: Outcome }>> {
    const { models, clock } = this.deps;
    // An archived host keeps its record; its lines are still removed if it answers.
    const target = host ?? (await this.deps.inventory.hostRecord(hostName));
    const results = target
      ? await this.deps.hostKeys.removeMany(target, items.map(({ grant }) => ({ grantId: grant.grantId, accounts: accountsForRole(grant.role), publicKey: grant.publicKey })))
      : new Map<string, HostOpResult>();
    const endedAt = clock.now();
    const done: Array<{ task: ClaimedTask; grant: Grant }> = [];
    const failedBy = new Map<string, ClaimedTask[]>();
    for (const item of items) {
      const r: HostOpResult = results.get(item.grant.grantId) ?? { ok: false, unreachable: false, message: target ? 'the host gave no result for this grant' : `host ${hostName} is unknown` };
      if (r.ok) done.push(item);
      // A host that is down is retried until it answers; meanwhile sshd refuses the key by expiry-time.
      else {
        const list = failedBy.get(r.message) ?? [];
        list.push(item.task);
        failedBy.set(r.message, list);
      }
    }
    for (const [message, tasks] of failedBy) await this.finishAll(tasks, false, message);
    const outcomes: Array<{ task: ClaimedTask; outcome: Outcome }> = [...failedBy.values()].flat().map((task) => ({ task, outcome: 'retrying' as const }));
    if (done.length === 0) return outcomes;

    // An early revoke already named who ended the grant and why; expiry is the default.
    const byEnd = new Map<string, { endedBy: string; endReason: string; grantIds: string[] }>();
    for (const { grant } of done) {
      const endedBy = grant.endedBy ?? 'system:expiry';
      const endReason = grant.endReason ?? 'expired';
      const key = `${endedBy}\n${endReason}`;
      const group = byEnd.get(key) ?? { endedBy, endReason, grantIds: [] };
      group.grantIds.push(grant.grantId);
      byEnd.set(key, group);
    }
    for (const { endedBy, endReason, grantIds } of byEnd.values()) {
      await models.Grant.updateMany({ grantId: { $in: grantIds }, status: GrantStatus.valid }, { $set: { status: GrantStatus.expired, endedAt, endedBy, endReason } });
    }
    // The grants end before their tasks are finished: a bot killed in between leaves the tasks
    // claimed, run again once the claim lapses (removing a line that is gone is a no-op).
    // Finished first, as before, a kill right after left the grant valid with its line gone.
    // A claim that lapsed under a slow run is another worker's now: it audits and tells.
    const stillOurs = await this.finishAll(
      done.map((d) => d.task),
      true,
      null,
    );
    if (stillOurs === 0) return [...outcomes, ...done.map(({ task }) => ({ task, outcome: 'revoked' as const }))];
    const finals = new Map((await models.Grant.find({ grantId: { $in: done.map((d) => d.grant.grantId) } }).lean<Grant[]>()).map((g) => [g.grantId, g]));
    const sessionsOf = (grantId: string): SessionsEnded | undefined => {
      const r = results.get(grantId);
      return r?.ok ? r.sessions : undefined;
    };
    await Promise.all(
      done.map(({ grant }) => {
        const final = finals.get(grant.grantId);
        return this.deps.audit.record({
          actor: final?.endedBy ?? 'system:expiry',
          action: 'access.removed',
          target: `host:${grant.host}`,
          from: { grantId: grant.grantId, status: 'valid' },
          to: { grantId: grant.grantId, status: 'expired', reason: final?.endReason ?? 'expired', sessionsEnded: sessionsOf(grant.grantId)?.endedByGrant[grant.grantId] ?? 0 },
        });
      }),
    );
    // Once per gateway call (its result is shared by the grants it carried): the live connections it found.
    for (const sessions of new Set(done.map((d) => sessionsOf(d.grant.grantId)))) {
      if (!sessions || sessions.ended + sessions.kept === 0) continue;
      const grantIds = done.filter((d) => sessionsOf(d.grant.grantId) === sessions).map((d) => d.grant.grantId);
      await this.deps.audit.record({
        actor: 'system:provisioning',
        action: 'access.sessions-ended',
        target: `host:${hostName}`,
        to: { ended: sessions.ended, endedUnattributed: sessions.endedUnattributed, kept: sessions.kept, strays: sessions.strays, endedByGrant: sessions.endedByGrant, grantIds },
      });
    }
    // Lateness counts removals at expiry only: an early revoke has no lateness to speak of.
    for (const { grant } of done) if (!grant.endedBy && grant.expiresAt) this.deps.observer?.expiryRemoved((endedAt.getTime() - grant.expiresAt.getTime()) / 1000);
    const holders = new Map((await this.deps.directory.byPersonIds([...new Set(done.map((d) => d.grant.personId))])).map((p) => [p.personId, p]));
    for (const { grant } of done) {
      const holder = holders.get(grant.personId);
      const final = finals.get(grant.grantId);
      if (holder && final && grant.grantedAt) this.notify(`grant:${grant.grantId}`, () => this.deps.notifier.revoked(final, holder));
    }
    return [...outcomes, ...done.map(({ task }) => ({ task, outcome: 'revoked' as const }))];
  }

  /** Reminds holders 24 hours and 1 hour before expiry, once each. */
  private async sendReminders(): Promise<number> {
    const now = this.deps.clock.now().getTime();
    let sent = 0;
    for (const { hours, ms } of this.reminderOffsets()) {
      const grants = await this.deps.models.Grant.find({
        status: GrantStatus.valid,
        expiresAt: { $gt: new Date(now), $lte: new Date(now + ms) },
        reminded: { $ne: hours },
      }).lean<Grant[]>();
      for (const g of grants) {
        // Claim the reminder first so two workers never both send it.
        const claimed = await this.deps.models.Grant.updateOne({ grantId: g.grantId, reminded: { $ne: hours } }, { $push: { reminded: hours } });
        if (claimed.modifiedCount === 0) continue;
        // A grant no longer than the window (one day) gets only the one-hour reminder.
        if (hours === 24 && g.days * this.dayMs <= ms) continue;
        const holder = await this.deps.directory.byPersonId(g.personId);
        if (holder) {
          this.notify(`grant:${g.grantId}`, () => this.deps.notifier.reminder(g, holder, hours));
          sent++;
        }
      }
    }
    return sent;
  }
}
