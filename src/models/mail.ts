/**
 * The outgoing mail queue (seed 003's `mail_queue`: address, subject, content, status 0/1/2),
 * with what a retrying, multi-instance sender needs on top: attempts, the last error, when to
 * try next, a claim, and a Message-ID fixed at enqueue time.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';
import { modelOn } from './model-on.js';

/** The seed's status codes. Retries keep a message at Pending; only the outcome changes it. */
export const MailStatus = {
  Pending: 0,
  Sent: 1,
  Failed: 2,
} as const;

export type MailStatusValue = (typeof MailStatus)[keyof typeof MailStatus];

export const mailSchema = new Schema(
  {
    to: { type: [String], required: true },
    cc: { type: [String], default: [] },
    subject: { type: String, required: true },
    text: { type: String, required: true },
    html: { type: String },
    status: { type: Number, required: true, enum: Object.values(MailStatus), default: MailStatus.Pending },
    /** Attempts started so far: counted when a sender claims the message, so a send that kills the process still counts. */
    attempts: { type: Number, required: true, default: 0 },
    /** Why the last attempt failed, credentials removed. */
    lastError: { type: String, default: null },
    /**
     * When a sender may next pick the message up. While a sender holds the claim this is the
     * claim's expiry, so a claim left by a crashed instance lapses by itself and the message
     * becomes due again; one index then serves every "what is due" query.
     */
    nextAttemptAt: { type: Date, required: true },
    /** Random per-claim token; a sender finishes only a message whose token is still its own. */
    claimToken: { type: String, default: null },
    /** Instance name of the current or last claimant, for people reading the queue. */
    claimedBy: { type: String, default: null },
    sentAt: { type: Date, default: null },
    failedAt: { type: Date, default: null },
    /**
     * `<uuid@domain>`, generated at enqueue and reused by every attempt, so a message resent after
     * a crash carries the same Message-ID and the receiving side can recognise the duplicate.
     */
    messageId: { type: String, required: true, unique: true },
  },
  { collection: 'mail_queue', versionKey: false, timestamps: true },
);

// The drain asks "pending and due, oldest first" on every run.
mailSchema.index({ status: 1, nextAttemptAt: 1 });

export type MailDoc = InferSchemaType<typeof mailSchema> & { _id: Types.ObjectId };
export type MailModel = Model<MailDoc>;

export function mailModel(conn: Connection): MailModel {
  return modelOn<MailDoc>(conn, 'Mail', mailSchema);
}
