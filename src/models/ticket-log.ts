/**
 * Full run logs (tickets now, module runs later), stored in chunks so a 50 MB log never comes
 * near MongoDB's 16 MB document limit and is never read whole: each chunk is one stream's text,
 * at most ~256 KB, numbered from 0 per log. A small header per log keeps the next chunk number
 * (reserved with `$inc`, so two bot instances never write the same number), the totals and
 * whether the log is complete.
 */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const LOG_STREAMS = ['stdout', 'stderr', 'system'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export const ticketLogChunkSchema = new Schema(
  {
    ticketId: { type: String, required: true },
    /** Position in the log, 0, 1, 2, ...: reading in this order gives the log as written. */
    seq: { type: Number, required: true },
    stream: { type: String, required: true, enum: LOG_STREAMS },
    /** Already redacted. */
    text: { type: String, required: true },
    /** When the first text of the chunk was appended. */
    at: { type: Date, required: true },
  },
  { collection: 'ticket_log_chunks', versionKey: false },
);

// One chunk per number: a retried write cannot duplicate text; tail and stream read by range.
ticketLogChunkSchema.index({ ticketId: 1, seq: 1 }, { unique: true });

export const ticketLogHeaderSchema = new Schema(
  {
    ticketId: { type: String, required: true, unique: true },
    /** Chunk numbers handed out so far; the next write starts here. */
    nextSeq: { type: Number, required: true, default: 0 },
    /** UTF-8 bytes of text in the log. */
    totalBytes: { type: Number, required: true, default: 0 },
    /** Newline characters in the log. */
    lines: { type: Number, required: true, default: 0 },
    /** Set by close(): the log is complete and takes no more text. */
    closed: { type: Boolean, required: true, default: false },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'ticket_logs', versionKey: false },
);

export type TicketLogChunk = InferSchemaType<typeof ticketLogChunkSchema>;
export type TicketLogHeader = InferSchemaType<typeof ticketLogHeaderSchema>;
export type TicketLogChunkModel = Model<TicketLogChunk>;
export type TicketLogHeaderModel = Model<TicketLogHeader>;

export function ticketLogModels(conn: Connection): { chunks: TicketLogChunkModel; headers: TicketLogHeaderModel } {
  return {
    chunks: modelOn<TicketLogChunk>(conn, 'TicketLogChunk', ticketLogChunkSchema),
    headers: modelOn<TicketLogHeader>(conn, 'TicketLogHeader', ticketLogHeaderSchema),
  };
}
