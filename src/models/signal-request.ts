/**
 * A signal asked for from `/jobs` (seed 000's signal_job), stored on the job it is for: a module
 * job (models/jobs.ts) or a running ticket (models/tickets.ts). Any instance may push one; the
 * instance running the job applies it (at once when it took the click, else at its next
 * heartbeat) and writes when and where it went. The shape is the same for both kinds, and so is
 * the code that applies it (services/jobs/signal-requests.ts).
 */
import { Schema, type InferSchemaType } from 'mongoose';

export const signalRequestSchema = new Schema(
  {
    requestId: { type: String, required: true },
    signal: { type: String, required: true },
    /** personId of who asked. */
    by: { type: String, required: true },
    at: { type: Date, required: true },
    /** Set by the instance running the job once it sent the signal. */
    appliedAt: { type: Date, default: null },
    appliedBy: { type: String, default: null },
    /**
     * A ticket's: the run tag of the task running when it was asked for. Sent only to that task;
     * once that task has ended it is recorded as not sent, never passed on to a later task.
     * Module jobs leave it null (the job is one run).
     */
    task: { type: String, default: null },
    /** Hosts whose process group got it (those still running then; none when nothing ran any more). */
    hosts: { type: [String], default: [] },
  },
  { _id: false },
);

export type SignalRequest = InferSchemaType<typeof signalRequestSchema>;
