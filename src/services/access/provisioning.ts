/**
 * The provisioning worker (seed 003's minute script): runs due tasks (exec time <= now, status
 * 0 or 2), all tasks of one request together; writes grant lines (`add`) and removes them at
 * expiry (`delete`); sends the 24-hour and 1-hour reminders; and completes approved requests a
 * crash left half-done.
 *
 * Exactly once: each task is claimed with a findOneAndUpdate on its expected state and an
 * expired claim, so two workers (or two bot instances) never run the same task at once; an
 * `add` task exists once per grant and a `delete` task once per grant (unique index).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { ApplicationStatus, GrantStatus, TaskStatus, type AccessModels, type Grant, type ProvisionTask } from '../../models/access.js';
import type { Host } from '../../models/inventory.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import { accountsForRole } from './authorized-keys.js';
import type { AccessNotifier, HostKeysPort, HostOpResult } from './ports.js';
import type { AccessService } from './requests.js';

export interface ProvisioningDeps {
  models: AccessModels;
  access: AccessService;
  inventory: InventoryService;
  directory: DirectoryService;
  audit: AuditLog;
  clock: Clock;
  notifier: AccessNotifier;
  hostKeys: HostKeysPort;
  /** Asks for the worker to run at `at` (the expiry of a grant just written). */
  scheduleWake: (at: Date) => Promise<void>;
}

export interface ProvisioningOptions {
  /** Length of one day of access; tests shorten it. */
  dayMs?: number;
  /** `add` attempts before the application is marked failed (5). */
  maxAddAttempts?: number;
  /** How long a claim holds before another worker may take the task over. */
  claimLeaseMs?: number;
}

export interface RunSummary {
  materialized: number;
  granted: number;
  revoked: number;
  failed: number;
  retrying: number;
  reminders: number;
}

const DAY = 86_400_000;

export class ProvisioningWorker {
  private readonly dayMs: number;
  private readonly maxAddAttempts: number;
  private readonly claimLeaseMs: number;

  constructor(
    private readonly deps: ProvisioningDeps,
    opts: ProvisioningOptions = {},
  ) {
    this.dayMs = opts.dayMs ?? DAY;
    this.maxAddAttempts = opts.maxAddAttempts ?? 5;
    this.claimLeaseMs = opts.claimLeaseMs ?? 5 * 60_000;
  }

  /** Hours-before-expiry reminders, scaled with the length of a day. */
  private reminderOffsets(): Array<{ hours: number; ms: number }> {
    return [
      { hours: 24, ms: this.dayMs },
      { hours: 1, ms: this.dayMs / 24 },
    ];
  }

  async run(): Promise<RunSummary> {
    const summary: RunSummary = { materialized: 0, granted: 0, revoked: 0, failed: 0, retrying: 0, reminders: 0 };
    summary.materialized = await this.deps.access.materializeStragglers();
    const now = this.deps.clock.now();
    const due = await this.deps.models.Task.find({
      status: { $in: [TaskStatus.notRun, TaskStatus.failed] },
      execTime: { $lte: now },
      $or: [{ claimUntil: null }, { claimUntil: { $lte: now } }],
    })
      .sort({ execTime: 1 })
      .limit(500)
      .lean<Array<ProvisionTask & { _id: unknown }>>();
    // All tasks of one request together, as seed 003 asks.
    const byRequest = new Map<string, Array<ProvisionTask & { _id: unknown }>>();
    for (const t of due) byRequest.set(t.requestId, [...(byRequest.get(t.requestId) ?? []), t]);
    for (const tasks of byRequest.values()) {
      const outcomes = await Promise.all(tasks.map((t) => this.runTask(t)));
      for (const o of outcomes) if (o) summary[o]++;
    }
    summary.reminders = await this.sendReminders();
    return summary;
  }

  /** Claims a task; null when another worker has it (or it is no longer due). */
  private async claim(task: ProvisionTask & { _id: unknown }): Promise<(ProvisionTask & { _id: unknown }) | null> {
    const now = this.deps.clock.now();
    return this.deps.models.Task.findOneAndUpdate(
      { _id: task._id, status: { $in: [TaskStatus.notRun, TaskStatus.failed] }, execTime: { $lte: now }, $or: [{ claimUntil: null }, { claimUntil: { $lte: now } }] },
      { $set: { claimToken: randomUUID(), claimUntil: new Date(now.getTime() + this.claimLeaseMs) }, $inc: { attempts: 1 } },
      { returnDocument: 'after' },
    ).lean<ProvisionTask & { _id: unknown }>();
  }

  private async finish(task: ProvisionTask & { _id: unknown }, ok: boolean, error: string | null): Promise<void> {
    await this.deps.models.Task.updateOne(
      { _id: task._id, claimToken: task.claimToken },
      { $set: { status: ok ? TaskStatus.done : TaskStatus.failed, lastError: error, claimToken: null, claimUntil: null } },
    );
  }

  private async runTask(candidate: ProvisionTask & { _id: unknown }): Promise<keyof RunSummary | null> {
    const task = await this.claim(candidate);
    if (!task) return null;
    const grant = await this.deps.models.Grant.findOne({ grantId: task.grantId }).lean<Grant>();
    if (!grant) {
      await this.finish(task, false, `grant ${task.grantId} is missing`);
      return 'failed';
    }
    const host = await this.deps.inventory.hostByName(task.host);
    return task.type === 'add' ? this.runAdd(task, grant, host) : this.runDelete(task, grant, host);
  }

  private async runAdd(task: ProvisionTask & { _id: unknown }, grant: Grant, host: Host | null): Promise<keyof RunSummary> {
    const { models, clock } = this.deps;
    if (grant.status !== GrantStatus.valid) {
      // Revoked before it was ever written: nothing to add.
      await this.finish(task, true, null);
      return 'revoked';
    }
    const grantedAt = clock.now();
    const expiresAt = new Date(grantedAt.getTime() + grant.days * this.dayMs);
    const result: HostOpResult = host
      ? await this.deps.hostKeys.add(host, accountsForRole(grant.role), { grantId: grant.grantId, publicKey: grant.publicKey, expiresAt })
      : { ok: false, unreachable: false, message: `host ${task.host} is no longer in the inventory` };
    if (result.ok) {
      await this.finish(task, true, null);
      // The clock starts at the grant, not at the request.
      await models.Grant.updateOne({ grantId: grant.grantId }, { $set: { grantedAt, expiresAt } });
      await models.Application.updateOne({ grantId: grant.grantId }, { $set: { status: ApplicationStatus.granted, error: null } });
      await models.Task.updateOne(
        { grantId: grant.grantId, type: 'delete' },
        { $setOnInsert: { requestId: grant.requestId, grantId: grant.grantId, host: grant.host, role: grant.role, type: 'delete', status: TaskStatus.notRun, execTime: expiresAt, attempts: 0, lastError: null, claimToken: null, claimUntil: null } },
        { upsert: true },
      );
      await this.deps.scheduleWake(expiresAt);
      await this.deps.audit.record({ actor: 'system:provisioning', action: 'access.granted', target: `host:${grant.host}`, from: null, to: { grantId: grant.grantId, personId: grant.personId, role: grant.role, expiresAt } });
      const holder = await this.deps.directory.byPersonId(grant.personId);
      if (holder) await this.deps.notifier.granted({ ...grant, grantedAt, expiresAt }, holder);
      return 'granted';
    }
    await this.finish(task, false, result.message);
    if (task.attempts < this.maxAddAttempts) return 'retrying';
    // Give up: the application failed; anything half-written is removed by a delete task.
    await models.Application.updateOne({ grantId: grant.grantId }, { $set: { status: ApplicationStatus.failed, error: result.message } });
    await models.Grant.updateOne({ grantId: grant.grantId }, { $set: { status: GrantStatus.expired, endedAt: clock.now(), endedBy: 'system:provisioning', endReason: `provisioning failed: ${result.message}` } });
    await models.Task.updateOne(
      { grantId: grant.grantId, type: 'delete' },
      { $setOnInsert: { requestId: grant.requestId, grantId: grant.grantId, host: grant.host, role: grant.role, type: 'delete', status: TaskStatus.notRun, execTime: clock.now(), attempts: 0, lastError: null, claimToken: null, claimUntil: null } },
      { upsert: true },
    );
    await this.deps.audit.record({ actor: 'system:provisioning', action: 'access.failed', target: `host:${grant.host}`, to: { grantId: grant.grantId, error: result.message } });
    const holder = await this.deps.directory.byPersonId(grant.personId);
    if (holder) await this.deps.notifier.provisioningFailed(grant, holder, result.message);
    return 'failed';
  }

  private async runDelete(task: ProvisionTask & { _id: unknown }, grant: Grant, host: Host | null): Promise<keyof RunSummary> {
    const { models, clock } = this.deps;
    // An archived host keeps its record; its lines are still removed if it answers.
    const target = host ?? (await this.deps.inventory.hostRecord(task.host));
    const result: HostOpResult = target
      ? await this.deps.hostKeys.remove(target, accountsForRole(grant.role), grant.grantId)
      : { ok: false, unreachable: false, message: `host ${task.host} is unknown` };
    if (!result.ok) {
      // A host that is down is retried until it answers; meanwhile sshd refuses the key by expiry-time.
      await this.finish(task, false, result.message);
      return 'retrying';
    }
    await this.finish(task, true, null);
    const ended = await models.Grant.findOneAndUpdate(
      { grantId: grant.grantId, status: GrantStatus.valid },
      { $set: { status: GrantStatus.expired, endedAt: clock.now(), endedBy: grant.endedBy ?? 'system:expiry', endReason: grant.endReason ?? 'expired' } },
      { returnDocument: 'after' },
    ).lean<Grant>();
    const final = ended ?? (await models.Grant.findOne({ grantId: grant.grantId }).lean<Grant>());
    await this.deps.audit.record({
      actor: final?.endedBy ?? 'system:expiry',
      action: 'access.removed',
      target: `host:${grant.host}`,
      from: { grantId: grant.grantId, status: 'valid' },
      to: { grantId: grant.grantId, status: 'expired', reason: final?.endReason ?? 'expired' },
    });
    const holder = await this.deps.directory.byPersonId(grant.personId);
    if (holder && final && grant.grantedAt) await this.deps.notifier.revoked(final, holder);
    return 'revoked';
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
          await this.deps.notifier.reminder(g, holder, hours);
          sent++;
        }
      }
    }
    return sent;
  }
}
