/**
 * Module runs as jobs (seed 000's running / find_job / signal_job, seed 001's result buckets).
 * One document per run, written by the instance that runs it; any instance may add a signal
 * request, which the running instance applies at its next heartbeat. A job whose heartbeat is
 * older than the lease ends as `lost`: its instance died, and it is never left `running`.
 * Full per-host output lives in the chunked log store (log `<jobId>/<host>`); the document keeps
 * each host's tails only.
 */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { approvalFlowSchema, messageRefSchema, type ApprovalFlow, type MessageRef } from './approval.js';
import { modelOn } from './model-on.js';
import { signalRequestSchema } from './signal-request.js';

/**
 * `awaiting-approval` while a module with approval levels waits for its approvers (nothing
 * runs); then `running`, or `rejected` (nothing ran), or `cancelled` (approved, but nothing
 * could start: the starter lost permission, every host was disabled meanwhile, ...).
 */
export const JOB_STATES = ['awaiting-approval', 'running', 'done', 'lost', 'rejected', 'cancelled'] as const;
/**
 * `pending` until the host's result is in; then its bucket, or `lost` with the job, or
 * `cancelled` when this bot stopped (shut down) while the host ran or waited its turn.
 */
export const HOST_STATES = ['pending', 'ok', 'failed', 'unreachable', 'lost', 'cancelled'] as const;
/** What a host stopped by this bot's shutdown says, and the job's note then. */
export const BOT_STOPPED_HOST = 'opsgate stopped';
/** Why a host was unreachable, as people read it. */
export const UNREACHABLE_WHY = ['refused', 'timeout', 'host key changed', 'auth', 'connect'] as const;

const hostResultSchema = new Schema(
  {
    name: { type: String, required: true },
    address: { type: String, required: true },
    env: { type: String, default: null },
    state: { type: String, enum: HOST_STATES, required: true, default: 'pending' },
    code: { type: Number, default: null },
    signal: { type: String, default: null },
    durationMs: { type: Number, default: null },
    /** The engine's error kind (connect, auth, hostkey, timeout, cancelled, lost) and message (redacted). */
    errorKind: { type: String, default: null },
    error: { type: String, default: null },
    why: { type: String, enum: [...UNREACHABLE_WHY, null], default: null },
    stdoutTail: { type: String, default: '' },
    stderrTail: { type: String, default: '' },
    /** Bytes of output the host produced, and whether the stored log was cut at the cap. */
    outputBytes: { type: Number, default: 0 },
    outputCut: { type: Boolean, default: false },
    endedAt: { type: Date, default: null },
  },
  { _id: false },
);

export const jobSchema = new Schema(
  {
    jobId: { type: String, required: true, unique: true },
    kind: { type: String, enum: ['module'], required: true, default: 'module' },
    module: {
      id: { type: Number, required: true },
      name: { type: String, required: true },
      /** The rendered command as it ran (the shell module's script included: it is audited). */
      command: { type: String, required: true },
      /** The module was for global admins only: its jobs are shown only to who started them and admins. */
      adminOnly: { type: Boolean, default: false },
    },
    /** The checked parameter values (modules declare no secret parameters). */
    params: { type: Schema.Types.Mixed, default: {} },
    /** The inventory filter as typed, and the hosts it matched then. */
    target: {
      filter: { type: String, required: true },
      hostNames: { type: [String], default: [] },
      envs: { type: [String], default: [] },
    },
    /** personId and Slack user id of who started it. */
    startedBy: { type: String, required: true },
    startedBySlack: { type: String, default: null },
    channel: { type: String, default: null },
    state: { type: String, enum: JOB_STATES, required: true, index: true },
    /** The bot instance that runs it, and its lease: refreshed every heartbeat. */
    instanceId: { type: String, required: true },
    heartbeatAt: { type: Date, required: true },
    engineJobId: { type: String, default: null },
    hosts: { type: [hostResultSchema], default: [] },
    counts: {
      ok: { type: Number, default: 0 },
      failed: { type: Number, default: 0 },
      unreachable: { type: Number, default: 0 },
      /** Hosts stopped (or never started) because this bot shut down; absent until one is. */
      cancelled: { type: Number },
    },
    signals: { type: [signalRequestSchema], default: [] },
    startedAt: { type: Date, required: true },
    endedAt: { type: Date, default: null },
    /** Why it is lost, stopped by the bot's shutdown, cancelled or changed at its start. */
    note: { type: String, default: null },
    /** When it was asked for (a run waiting for approval starts later: startedAt is then its start). */
    requestedAt: { type: Date, default: null },
    /** The module's approval levels (as tickets'); null for modules without any. */
    approval: { type: approvalFlowSchema, default: null },
    /** Where each approver's DM went, to update every copy in place as levels are decided. */
    messages: { type: [messageRefSchema], default: [] },
  },
  { collection: 'jobs', versionKey: false },
);

type JobDoc = InferSchemaType<typeof jobSchema>;
/** Nested paths are always written (required or defaulted); mongoose's inference leaves them nullable. */
export type Job = Omit<JobDoc, 'module' | 'target' | 'counts' | 'approval' | 'messages'> & {
  module: NonNullable<JobDoc['module']>;
  target: NonNullable<JobDoc['target']>;
  counts: NonNullable<JobDoc['counts']>;
  approval: ApprovalFlow | null;
  messages: MessageRef[];
};
export type JobHost = InferSchemaType<typeof hostResultSchema>;
export type JobModel = Model<JobDoc>;

export function jobModel(conn: Connection): JobModel {
  return modelOn<JobDoc>(conn, 'Job', jobSchema);
}
