/**
 * The notification outbox: every DM, channel post and update goes through MongoDB, so a Slack
 * that is down or rate limiting for minutes loses nothing. A message is stored first, then sent
 * at once when its conversation has nothing older waiting; otherwise (or when Slack cannot take
 * it now) the drain, an Agenda job, sends it later with backoff and Slack's Retry-After.
 *
 * In order, per conversation. A sender (the inline one, or a drain in any instance) sends only
 * the oldest pending entry of a conversation: the inline sender checks after storing its entry
 * that nothing older is pending, and the drain stops at the first entry of a conversation that
 * is not due (held by another sender, or backing off). Conversations do not wait for each other.
 *
 * Once. As the mail queue does (src/services/mail.ts): each attempt is a claim, one
 * findOneAndUpdate whose filter holds the expected state, with a random token; only the
 * claim's holder marks the outcome, and a claim left by a crashed sender lapses. The window no
 * outbox closes: Slack took the message and the bot died before `sent` was written; the claim
 * lapses and the message goes again.
 *
 * Refs. A dm or post that could not go at once returns `{ channel: <its conversation>, ts:
 * 'outbox:<id>' }`; callers keep it as they keep any ref, and an update of it is queued in the
 * same conversation (behind the post) and resolved to the real message when it is sent. An
 * update replaces any older update of the same message still waiting (only the newest content
 * matters), so a running job's progress does not pile up during an outage.
 *
 * Nothing the bot decided depends on a post: these methods fail only if the store does.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { UpdateQuery } from 'mongoose';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import { exponentialBackoffMs } from '../backoff.js';
import { NotificationKind, NotificationStatus, type NotificationDoc, type NotificationKindValue, type NotificationModel } from '../../models/notification.js';
import { DeliveryError, type OutgoingMessage, type Posted, type SlackDelivery } from './ports.js';

const PLACEHOLDER = 'outbox:';

export interface OutboxDeps {
  model: NotificationModel;
  delivery: SlackDelivery;
  clock: Clock;
  logger: Logger;
  /** Asks the scheduler for a drain soon; the repeating drain covers a failed kick. */
  kick: () => Promise<unknown>;
}

export interface OutboxOptions {
  /** Wait after the first failed attempt; doubled after each further one. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A message still not sent this long after it was queued is given up (status failed). */
  maxAgeMs?: number;
  /** How long a claim holds: longer than one Slack call can take (the delivery's timeout). */
  claimLeaseMs?: number;
  /** Entries one drain looks at. */
  batchSize?: number;
  /** Conversations one drain sends to at the same time. */
  parallelism?: number;
  /** Sent and given-up entries are deleted after this (the refs of older messages no longer resolve). */
  keepMs?: number;
  instance?: string;
}

export interface OutboxDrainSummary {
  sent: number;
  retrying: number;
  failed: number;
  lost: number;
}

type Outcome = 'sent' | 'retrying' | 'failed' | 'lost' | 'waiting';

interface NewEntry {
  kind: NotificationKindValue;
  conversation: string;
  to: string;
  ts?: string;
  message: OutgoingMessage;
}

export function isOutboxRef(ref: Posted): boolean {
  return ref.ts.startsWith(PLACEHOLDER);
}

export class NotificationOutbox {
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly maxAgeMs: number;
  private readonly claimLeaseMs: number;
  private readonly batchSize: number;
  private readonly parallelism: number;
  private readonly keepMs: number;
  private readonly instance: string;
  private readonly log: Logger;
  /** After Slack could not take a message, inline sends queue straight away until then. */
  private pausedUntil = 0;
  private lastPrune = 0;

  constructor(
    private readonly deps: OutboxDeps,
    opts: OutboxOptions = {},
  ) {
    this.backoffBaseMs = opts.backoffBaseMs ?? 2_000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 60_000;
    this.maxAgeMs = opts.maxAgeMs ?? 24 * 3_600_000;
    this.claimLeaseMs = opts.claimLeaseMs ?? 60_000;
    this.batchSize = opts.batchSize ?? 500;
    this.parallelism = opts.parallelism ?? 4;
    this.keepMs = opts.keepMs ?? 30 * 86_400_000;
    this.instance = opts.instance ?? `${os.hostname()}:${process.pid}`;
    this.log = deps.logger.child({ component: 'outbox' });
  }

  /** DMs a Slack user; the message's ref, a placeholder while it waits, or null if Slack refused it for good. */
  dm(user: string, message: OutgoingMessage): Promise<Posted | null> {
    return this.send({ kind: NotificationKind.Dm, conversation: `user:${user}`, to: user, message });
  }

  post(channel: string, message: OutgoingMessage): Promise<Posted | null> {
    return this.send({ kind: NotificationKind.Post, conversation: channel, to: channel, message });
  }

  async update(ref: Posted, message: OutgoingMessage): Promise<void> {
    await this.send({ kind: NotificationKind.Update, conversation: ref.channel, to: ref.channel, ts: ref.ts, message });
  }

  /** Sends what is due, each conversation in order; entries that fail now wait for their backoff. */
  async drain(): Promise<OutboxDrainSummary> {
    const summary: OutboxDrainSummary = { sent: 0, retrying: 0, failed: 0, lost: 0 };
    await this.giveUpOld();
    await this.pruneOld();
    if (this.deps.clock.now().getTime() < this.pausedUntil) return summary;
    const pending = await this.deps.model
      .find({ status: NotificationStatus.Pending })
      .sort({ createdAt: 1, _id: 1 })
      .limit(this.batchSize)
      .lean<NotificationDoc[]>();
    const byConversation = new Map<string, NotificationDoc[]>();
    for (const d of pending) {
      const list = byConversation.get(d.conversation);
      if (list) list.push(d);
      else byConversation.set(d.conversation, [d]);
    }
    const queue = [...byConversation.values()];
    const worker = async (): Promise<void> => {
      for (let list = queue.shift(); list; list = queue.shift()) await this.drainConversation(list, summary);
    };
    await Promise.all(Array.from({ length: Math.min(this.parallelism, queue.length) }, worker));
    if (summary.sent + summary.retrying + summary.failed + summary.lost > 0) this.log.info(summary, 'notifications drained');
    return summary;
  }

  backoffMs(attempts: number): number {
    return exponentialBackoffMs(attempts, this.backoffBaseMs, this.backoffMaxMs);
  }

  private async send(entry: NewEntry): Promise<Posted | null> {
    const now = this.deps.clock.now();
    const token = randomUUID();
    const paused = now.getTime() < this.pausedUntil;
    // Stored already claimed by this sender, so no drain takes it while we decide.
    const doc = (
      await this.deps.model.create({
        ...entry,
        ts: entry.ts ?? null,
        status: NotificationStatus.Pending,
        attempts: paused ? 0 : 1,
        nextAttemptAt: paused ? now : new Date(now.getTime() + this.claimLeaseMs),
        claimToken: paused ? null : token,
        claimedBy: paused ? null : this.instance,
      })
    ).toObject() as NotificationDoc;
    if (entry.kind === NotificationKind.Update) await this.supersedeOlderUpdates(doc);
    if (paused) return this.queued(doc, 'Slack could not take messages a moment ago');
    if (await this.olderPending(doc)) {
      await this.release(doc, token);
      return this.queued(doc, 'older messages of the conversation are still waiting');
    }
    const outcome = await this.attempt(doc, token);
    if (outcome.outcome === 'sent') {
      if (await this.anotherPending(doc)) await this.kick();
      return outcome.posted;
    }
    if (outcome.outcome === 'failed') return null;
    return this.queued(doc, 'Slack could not take it now');
  }

  private async queued(doc: NotificationDoc, why: string): Promise<Posted> {
    this.log.info({ id: String(doc._id), kind: doc.kind, conversation: doc.conversation, why }, 'notification queued');
    await this.kick();
    return { channel: doc.conversation, ts: `${PLACEHOLDER}${String(doc._id)}` };
  }

  private async kick(): Promise<void> {
    try {
      await this.deps.kick();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not kick the notification drain; its next scheduled run sends the message');
    }
  }

  private async drainConversation(list: NotificationDoc[], summary: OutboxDrainSummary): Promise<void> {
    for (const d of list) {
      const now = this.deps.clock.now();
      if (now.getTime() < this.pausedUntil || d.nextAttemptAt > now) return;
      const token = randomUUID();
      const claimed = await this.deps.model
        .findOneAndUpdate(
          { _id: d._id, status: NotificationStatus.Pending, nextAttemptAt: { $lte: now } },
          { $set: { claimToken: token, claimedBy: this.instance, nextAttemptAt: new Date(now.getTime() + this.claimLeaseMs) }, $inc: { attempts: 1 } },
          { returnDocument: 'after' },
        )
        .lean<NotificationDoc>();
      // Taken by another sender, superseded or given up since the read: the conversation waits for the next run.
      if (!claimed) return;
      const { outcome } = await this.attempt(claimed, token);
      if (outcome === 'waiting') return;
      summary[outcome]++;
      if (outcome === 'retrying' || outcome === 'lost') return;
    }
  }

  private async attempt(doc: NotificationDoc, token: string): Promise<{ outcome: Outcome; posted: Posted | null }> {
    const message = doc.message as OutgoingMessage;
    let posted: Posted | null = null;
    try {
      if (doc.kind === NotificationKind.Dm) posted = await this.deps.delivery.dm(doc.to, message);
      else if (doc.kind === NotificationKind.Post) posted = await this.deps.delivery.post(doc.to, message);
      else {
        const ref = await this.resolve(doc);
        if (ref === 'waiting') return { outcome: await this.release(doc, token), posted: null };
        if (ref === 'gone') return { outcome: await this.giveUp(doc, token, 'the message it updates was never posted'), posted: null };
        await this.deps.delivery.update(ref, message);
      }
    } catch (err) {
      const e = err instanceof DeliveryError ? err : new DeliveryError(err instanceof Error ? err.message : String(err), true);
      if (!e.retryable) return { outcome: await this.giveUp(doc, token, e.message), posted: null };
      return { outcome: await this.retryLater(doc, token, e), posted: null };
    }
    this.pausedUntil = 0;
    return { outcome: await this.markSent(doc, token, posted), posted };
  }

  /** The real message an update is for; an `outbox:<id>` ref is the post's, once it has gone. */
  private async resolve(doc: NotificationDoc): Promise<Posted | 'waiting' | 'gone'> {
    if (!doc.ts) return 'gone';
    if (!doc.ts.startsWith(PLACEHOLDER)) return { channel: doc.to, ts: doc.ts };
    const id = doc.ts.slice(PLACEHOLDER.length);
    const post = /^[0-9a-f]{24}$/.test(id) ? await this.deps.model.findById(id).lean<NotificationDoc>() : null;
    if (post?.status === NotificationStatus.Sent && post.posted) return { channel: post.posted.channel, ts: post.posted.ts };
    if (post?.status === NotificationStatus.Pending) return 'waiting';
    return 'gone';
  }

  private async olderPending(doc: NotificationDoc): Promise<boolean> {
    const older = await this.deps.model.exists({
      conversation: doc.conversation,
      status: NotificationStatus.Pending,
      $or: [{ createdAt: { $lt: doc.createdAt } }, { createdAt: doc.createdAt, _id: { $lt: doc._id } }],
    });
    return older !== null;
  }

  private async anotherPending(doc: NotificationDoc): Promise<boolean> {
    return (await this.deps.model.exists({ conversation: doc.conversation, status: NotificationStatus.Pending, _id: { $ne: doc._id } })) !== null;
  }

  /** Older updates of the same message that no sender holds: only the newest content needs to go. */
  private async supersedeOlderUpdates(doc: NotificationDoc): Promise<void> {
    await this.deps.model.updateMany(
      { kind: NotificationKind.Update, to: doc.to, ts: doc.ts, status: NotificationStatus.Pending, claimToken: null, _id: { $ne: doc._id }, createdAt: { $lte: doc.createdAt } },
      { $set: { status: NotificationStatus.Superseded } },
    );
  }

  /** Changes the entry only while this sender still holds its claim; whether it did. */
  private async whileClaimed(doc: NotificationDoc, token: string, update: UpdateQuery<NotificationDoc>): Promise<boolean> {
    return (await this.deps.model.updateOne({ _id: doc._id, claimToken: token, status: NotificationStatus.Pending }, update)).matchedCount > 0;
  }

  /** Gives back a claim whose attempt was not made: due at once, and not counted. */
  private async release(doc: NotificationDoc, token: string): Promise<Outcome> {
    await this.whileClaimed(doc, token, { $set: { claimToken: null, nextAttemptAt: this.deps.clock.now() }, $inc: { attempts: -1 } });
    return 'waiting';
  }

  private async markSent(doc: NotificationDoc, token: string, posted: Posted | null): Promise<Outcome> {
    if (!(await this.whileClaimed(doc, token, { $set: { status: NotificationStatus.Sent, sentAt: this.deps.clock.now(), claimToken: null, posted } }))) {
      this.log.error({ id: String(doc._id) }, 'notification was sent but its claim had expired; another sender may send it again');
      return 'lost';
    }
    return 'sent';
  }

  private async retryLater(doc: NotificationDoc, token: string, err: DeliveryError): Promise<Outcome> {
    const now = this.deps.clock.now().getTime();
    const waitMs = Math.max(err.retryAfterMs ?? 0, this.backoffMs(doc.attempts));
    // Slack's Retry-After holds for every call of this kind, not just this one: pause them all.
    this.pausedUntil = Math.max(this.pausedUntil, now + (err.retryAfterMs ?? this.backoffBaseMs));
    if (!(await this.whileClaimed(doc, token, { $set: { claimToken: null, nextAttemptAt: new Date(now + waitMs), lastError: err.message } }))) return 'lost';
    this.log.warn({ id: String(doc._id), kind: doc.kind, attempts: doc.attempts, retryInMs: waitMs, err: err.message }, 'notification not delivered; will retry');
    return 'retrying';
  }

  private async giveUp(doc: NotificationDoc, token: string, why: string): Promise<Outcome> {
    if (!(await this.whileClaimed(doc, token, { $set: { status: NotificationStatus.Failed, failedAt: this.deps.clock.now(), claimToken: null, lastError: why } }))) return 'lost';
    this.log.error({ id: String(doc._id), kind: doc.kind, to: doc.to, err: why }, 'notification not delivered; giving up');
    return 'failed';
  }

  /** Entries that waited past maxAgeMs and no sender holds: told in the log, and out of the way. */
  private async giveUpOld(): Promise<void> {
    const now = this.deps.clock.now();
    const res = await this.deps.model.updateMany(
      { status: NotificationStatus.Pending, createdAt: { $lt: new Date(now.getTime() - this.maxAgeMs) }, nextAttemptAt: { $lte: now } },
      { $set: { status: NotificationStatus.Failed, failedAt: now, claimToken: null, lastError: `not delivered within ${Math.round(this.maxAgeMs / 60_000)} minutes` } },
    );
    if (res.modifiedCount > 0) this.log.error({ count: res.modifiedCount }, 'notifications given up: Slack did not take them in time');
  }

  private async pruneOld(): Promise<void> {
    const now = this.deps.clock.now().getTime();
    if (now - this.lastPrune < 3_600_000) return;
    this.lastPrune = now;
    await this.deps.model.deleteMany({
      status: { $in: [NotificationStatus.Sent, NotificationStatus.Failed, NotificationStatus.Superseded] },
      createdAt: { $lt: new Date(now - this.keepMs) },
    });
  }
}
