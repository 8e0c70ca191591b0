/**
 * The Slack notification outbox: every DM, channel post and message update the bot decides to
 * send, kept until Slack has taken it. Entries of one conversation go out one at a time, oldest
 * first (`conversation`, then `createdAt`, then `_id`); an entry that waits (backoff, or another
 * sender holding it) holds back the entries behind it in its conversation and no other.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';
import { modelOn } from './model-on.js';

export const NotificationStatus = {
  Pending: 0,
  Sent: 1,
  /** Slack refused it for good (channel_not_found, …) or it waited past the outbox's age limit. */
  Failed: 2,
  /** An update replaced by a later update of the same message before it went out. */
  Superseded: 3,
} as const;

export type NotificationStatusValue = (typeof NotificationStatus)[keyof typeof NotificationStatus];

export const NotificationKind = { Dm: 'dm', Post: 'post', Update: 'update' } as const;
export type NotificationKindValue = (typeof NotificationKind)[keyof typeof NotificationKind];

const postedSchema = new Schema({ channel: { type: String, required: true }, ts: { type: String, required: true } }, { _id: false });

export const notificationSchema = new Schema(
  {
    kind: { type: String, required: true, enum: Object.values(NotificationKind) },
    /**
     * The ordering key: `user:<slack id>` for a DM, the channel for a post, and for an update the
     * conversation of the message it updates (the channel, or the post's key while the post is
     * itself still in the outbox).
     */
    conversation: { type: String, required: true },
    /** dm: the person's Slack user id; post: the channel; update: the channel of the message. */
    to: { type: String, required: true },
    /** update: the message's ts, or `outbox:<id>` for a message still in the outbox. */
    ts: { type: String, default: null },
    /** Already fitted to Slack's limits: `{ text, blocks }`. */
    message: { type: Schema.Types.Mixed, required: true },
    status: { type: Number, required: true, enum: Object.values(NotificationStatus), default: NotificationStatus.Pending },
    attempts: { type: Number, required: true, default: 0 },
    lastError: { type: String, default: null },
    /** When a sender may next take it; while one holds it, the claim's expiry (a crashed sender's claim lapses). */
    nextAttemptAt: { type: Date, required: true },
    claimToken: { type: String, default: null },
    claimedBy: { type: String, default: null },
    /** Where Slack put it (dm, post): what later updates of an `outbox:<id>` ref resolve to. */
    posted: { type: postedSchema, default: null },
    sentAt: { type: Date, default: null },
    failedAt: { type: Date, default: null },
  },
  { collection: 'notification_outbox', versionKey: false, timestamps: true },
);

// The drain reads pending entries oldest first; a sender asks "anything older pending in my conversation?".
notificationSchema.index({ status: 1, createdAt: 1, _id: 1 });
notificationSchema.index({ conversation: 1, status: 1, createdAt: 1 });

export type NotificationDoc = InferSchemaType<typeof notificationSchema> & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export type NotificationModel = Model<NotificationDoc>;

export function notificationModel(conn: Connection): NotificationModel {
  return modelOn<NotificationDoc>(conn, 'Notification', notificationSchema);
}
