/**
 * Outgoing mail: callers queue a message and return at once; the drain (an Agenda job, every
 * minute and right after each enqueue) sends what is due, retrying with exponential backoff and
 * giving up, with an audit entry, after `maxAttempts`.
 *
 * Sending exactly once. Each message is claimed before it is sent: one findOneAndUpdate whose
 * filter holds the expected state (pending and due), so of two drains, in one bot or in two,
 * exactly one gets it. The claim stores a random token and pushes `nextAttemptAt` to the
 * claim's expiry; marking the outcome requires the token to still be ours, and a sent message
 * (status 1) never matches a claim again. A claim left by a crashed instance simply lapses and
 * the message is due again. Every attempt is cut off (AbortSignal) well before the claim
 * expires, so a slow send cannot outlive its claim and meet a second sender.
 *
 * The one window no queue can close: the SMTP server has accepted the message, and the bot dies
 * (or loses the store) before status 1 is written. The claim then lapses and the message is sent
 * again. It goes out with the same Message-ID as the first time, fixed at enqueue, so the
 * receiving side can recognise and drop the duplicate; and the window is as short as one
 * database write.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { badParameter } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MailTransport, OutgoingMail } from '../adapters/mail-transport.js';
import { redactCredentials } from '../adapters/mail-transport.js';
import { MailStatus, type MailDoc, type MailModel } from '../models/mail.js';
import type { AuditLog } from './audit.js';
import { exponentialBackoffMs } from './backoff.js';

export const DEFAULT_MAIL_FROM = 'opsgate <opsgate@localhost>';
/** The audit actor for everything the queue does on its own. */
export const MAIL_ACTOR = 'system:mail';

const address = z.email({ message: 'is not an e-mail address' });
const addresses = z
  .union([address, z.array(address)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .refine((v) => v.length >= 1 && v.length <= 50, { message: 'needs 1 to 50 addresses' });

// A line break in a header value would let the caller write headers of their own.
const oneLine = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { message: 'is required' })
    .max(max, { message: `is longer than ${max} characters` })
    .refine((v) => !/[\r\n]/.test(v), { message: 'must be a single line' });

export const enqueueMailSchema = z.object({
  to: addresses,
  cc: addresses.optional(),
  subject: oneLine(255),
  text: z.string().min(1, { message: 'is required' }).max(200_000),
  html: z.string().min(1).max(1_000_000).optional(),
});

export type EnqueueMailInput = z.input<typeof enqueueMailSchema>;

export interface MailServiceDeps {
  model: MailModel;
  transport: MailTransport;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  /** Asks the scheduler to drain soon. If it fails the minute job still drains; it is only logged. */
  kick: () => Promise<unknown>;
}

export interface MailServiceOptions {
  /** The From header (MAIL_FROM); its domain also names the Message-IDs. */
  from?: string;
  /** Attempts before a message is marked failed (status 2). */
  maxAttempts?: number;
  /** Wait after the first failed attempt; doubled after each further one. */
  backoffBaseMs?: number;
  /** The longest wait between two attempts. */
  backoffMaxMs?: number;
  /** An attempt still running after this is aborted and counts as failed. */
  sendTimeoutMs?: number;
  /** How long a claim holds; must exceed sendTimeoutMs so a live attempt never loses its claim. */
  claimLeaseMs?: number;
  /** Messages one drain sends at most; the rest wait for the next run. */
  batchSize?: number;
  /** Names this instance in `claimedBy`. */
  instance?: string;
}

export interface QueuedMail {
  id: string;
  messageId: string;
}

export interface DrainSummary {
  sent: number;
  retrying: number;
  failed: number;
  /** Attempts whose claim another sender had taken over by the time they finished. */
  lost: number;
}

type Outcome = keyof DrainSummary;

export class MailService {
  private readonly from: string;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly sendTimeoutMs: number;
  private readonly claimLeaseMs: number;
  private readonly batchSize: number;
  private readonly instance: string;
  private readonly idDomain: string;
  private readonly log: Logger;

  constructor(
    private readonly deps: MailServiceDeps,
    opts: MailServiceOptions = {},
  ) {
    this.from = opts.from ?? DEFAULT_MAIL_FROM;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.backoffBaseMs = opts.backoffBaseMs ?? 60_000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 6 * 60 * 60 * 1000;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 2 * 60 * 1000;
    this.claimLeaseMs = opts.claimLeaseMs ?? 10 * 60 * 1000;
    this.batchSize = opts.batchSize ?? 100;
    this.instance = opts.instance ?? `${os.hostname()}:${process.pid}`;
    this.idDomain = domainOf(this.from);
    this.log = deps.logger.child({ component: 'mail' });
    if (!(this.maxAttempts >= 1)) throw new Error('mail: maxAttempts must be at least 1');
    if (!(this.backoffBaseMs > 0)) throw new Error('mail: backoffBaseMs must be positive');
    // A margin beyond the send timeout: the abort, the status write and clock skew between bots.
    if (!(this.claimLeaseMs >= this.sendTimeoutMs + 30_000)) {
      throw new Error('mail: claimLeaseMs must exceed sendTimeoutMs by at least 30 s');
    }
  }

  /**
   * Queues a message and kicks the drain. A bad address or a missing field is AppError 1100 and
   * nothing is stored.
   */
  async enqueue(input: EnqueueMailInput): Promise<QueuedMail> {
    const parsed = enqueueMailSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'message'} ${i.message}`);
      throw badParameter(`mail not queued: ${issues.join('; ')}`, { issues });
    }
    const m = parsed.data;
    const doc = await this.deps.model.create({
      to: m.to,
      cc: m.cc ?? [],
      subject: m.subject,
      text: m.text,
      html: m.html,
      status: MailStatus.Pending,
      attempts: 0,
      nextAttemptAt: this.deps.clock.now(),
      messageId: `<${randomUUID()}@${this.idDomain}>`,
    });
    const queued = { id: String(doc._id), messageId: doc.messageId };
    this.log.debug(queued, 'mail queued');
    try {
      await this.deps.kick();
    } catch (err) {
      this.log.warn({ ...queued, err: errorText(err) }, 'could not kick the mail drain; the next scheduled run sends it');
    }
    return queued;
  }

  /**
   * Sends every message that was due when the drain started (up to batchSize). Messages that fail
   * now are due again only after their backoff, so one drain tries each message once.
   */
  async drain(): Promise<DrainSummary> {
    const dueBy = this.deps.clock.now();
    const summary: DrainSummary = { sent: 0, retrying: 0, failed: 0, lost: 0 };
    for (let n = 0; n < this.batchSize; n++) {
      const claimed = await this.claimNext(dueBy);
      if (!claimed) break;
      summary[await this.attempt(claimed.doc, claimed.token)]++;
    }
    if (summary.sent + summary.retrying + summary.failed + summary.lost > 0) this.log.info(summary, 'mail drained');
    return summary;
  }

  /** The wait before the attempt after `attempts` failed ones. */
  backoffMs(attempts: number): number {
    return exponentialBackoffMs(attempts, this.backoffBaseMs, this.backoffMaxMs);
  }

  private async claimNext(dueBy: Date): Promise<{ doc: MailDoc; token: string } | null> {
    const token = randomUUID();
    const leaseEnd = new Date(this.deps.clock.now().getTime() + this.claimLeaseMs);
    const doc = await this.deps.model
      .findOneAndUpdate(
        { status: MailStatus.Pending, nextAttemptAt: { $lte: dueBy } },
        { $set: { claimToken: token, claimedBy: this.instance, nextAttemptAt: leaseEnd }, $inc: { attempts: 1 } },
        { sort: { nextAttemptAt: 1, _id: 1 }, returnDocument: 'after' },
      )
      .lean<MailDoc>();
    return doc ? { doc, token } : null;
  }

  private async attempt(doc: MailDoc, token: string): Promise<Outcome> {
    if (doc.attempts > this.maxAttempts) {
      // The last allowed attempt was claimed and never finished: its sender died mid-send.
      return this.giveUp(doc, token, 'the last attempt did not finish (its sender stopped)');
    }
    let messageId: string;
    try {
      const result = await this.deps.transport.send(this.outgoing(doc), { signal: AbortSignal.timeout(this.sendTimeoutMs) });
      messageId = result.messageId;
      if (result.rejected?.length) this.log.warn({ id: String(doc._id), rejected: result.rejected }, 'server refused some recipients');
    } catch (err) {
      return this.failedAttempt(doc, token, errorText(err));
    }
    return this.markSent(doc, token, messageId);
  }

  private outgoing(doc: MailDoc): OutgoingMail {
    return {
      from: this.from,
      to: doc.to,
      cc: doc.cc,
      subject: doc.subject,
      text: doc.text,
      ...(doc.html ? { html: doc.html } : {}),
      messageId: doc.messageId,
      date: doc.createdAt,
    };
  }

  private async markSent(doc: MailDoc, token: string, messageId: string): Promise<Outcome> {
    const now = this.deps.clock.now();
    const res = await this.deps.model.updateOne(
      { _id: doc._id, claimToken: token, status: MailStatus.Pending },
      { $set: { status: MailStatus.Sent, sentAt: now, claimToken: null } },
    );
    if (res.matchedCount === 0) return this.claimLost(doc, true);
    this.log.info({ id: String(doc._id), messageId, attempts: doc.attempts }, 'mail sent');
    await this.deps.audit.record({
      actor: MAIL_ACTOR,
      action: 'mail.sent',
      target: `mail:${String(doc._id)}`,
      from: { status: MailStatus.Pending },
      to: { status: MailStatus.Sent, attempts: doc.attempts },
    });
    return 'sent';
  }

  private async failedAttempt(doc: MailDoc, token: string, error: string): Promise<Outcome> {
    if (doc.attempts >= this.maxAttempts) return this.giveUp(doc, token, error);
    const waitMs = this.backoffMs(doc.attempts);
    const res = await this.deps.model.updateOne(
      { _id: doc._id, claimToken: token, status: MailStatus.Pending },
      { $set: { nextAttemptAt: new Date(this.deps.clock.now().getTime() + waitMs), lastError: error, claimToken: null } },
    );
    if (res.matchedCount === 0) return this.claimLost(doc);
    this.log.warn({ id: String(doc._id), attempts: doc.attempts, retryInMs: waitMs, err: error }, 'mail attempt failed; will retry');
    return 'retrying';
  }

  private async giveUp(doc: MailDoc, token: string, error: string): Promise<Outcome> {
    const res = await this.deps.model.updateOne(
      { _id: doc._id, claimToken: token, status: MailStatus.Pending },
      { $set: { status: MailStatus.Failed, failedAt: this.deps.clock.now(), lastError: error, claimToken: null } },
    );
    if (res.matchedCount === 0) return this.claimLost(doc);
    this.log.error({ id: String(doc._id), attempts: doc.attempts, err: error }, 'mail failed; giving up');
    await this.deps.audit.record({
      actor: MAIL_ACTOR,
      action: 'mail.failed',
      target: `mail:${String(doc._id)}`,
      from: { status: MailStatus.Pending },
      to: { status: MailStatus.Failed, attempts: doc.attempts },
      note: `gave up after ${doc.attempts} attempt(s): ${error}`,
    });
    return 'failed';
  }

  /**
   * Only reachable when an attempt outlived its claim, i.e. the store stalled for longer than the
   * lease minus the send timeout. Whoever holds the claim now decides the outcome.
   */
  private claimLost(doc: MailDoc, delivered = false): Outcome {
    const ctx = { id: String(doc._id), messageId: doc.messageId };
    if (delivered) this.log.error(ctx, 'mail was sent but its claim had expired; another sender may send it again (same Message-ID)');
    else this.log.warn(ctx, 'mail claim expired before the attempt finished');
    return 'lost';
  }
}

/** The domain of the From address, for Message-IDs: `opsgate <ops@example.com>` -> `example.com`. */
function domainOf(from: string): string {
  const m = /@([^\s@<>]+)>?\s*$/.exec(from);
  return m?.[1] ?? 'opsgate.invalid';
}

/** An error as one line fit for the queue and the log: credentials removed, length bounded. */
function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return redactCredentials(text).replace(/\s+/g, ' ').trim().slice(0, 500);
}
