/**
 * Ops tickets (seed 002): one submission of a ticket template, with the template as it was
 * when submitted (commands rendered with secrets masked; secret values are never stored),
 * the submitter's values, the approval flow, the seed's status codes and background states,
 * and every state change with its time.
 *
 * The task lock is the unique partial index on `lockKey`: the key (template name + env) is
 * set only while a locked ticket is not final and removed when it ends, so the store itself
 * refuses a second open ticket, however many submits race.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { approvalFlowSchema, messageRefSchema, type ApprovalFlow, type MessageRef } from './approval.js';
import { modelOn } from './model-on.js';
import { signalRequestSchema, type SignalRequest } from './signal-request.js';

/** Where a ticket is in its life; the last four are final. */
export const TICKET_STATES = ['pre', 'waiting', 'approved', 'running', 'succeeded', 'failed', 'rejected', 'revoked'] as const;
export type TicketState = (typeof TICKET_STATES)[number];
export const FINAL_STATES: readonly TicketState[] = ['succeeded', 'failed', 'rejected', 'revoked'];
export const OPEN_STATES: readonly TicketState[] = ['pre', 'waiting', 'approved', 'running'];

/** Seed 002's status codes, shared by foreground and background tasks. */
export const TicketStatus = {
  submitted: 0,
  succeeded: 3,
  failed: 4,
  revoked: 9,
} as const;
/** Level n (0-based) approved / rejected: 1/2, 5/6, 7/8 as the seed numbers them. */
export const LEVEL_APPROVED = [1, 5, 7] as const;
export const LEVEL_REJECTED = [2, 6, 8] as const;
export const STATUS_LABELS: Record<number, string> = {
  0: 'submitted',
  1: 'L1 approved',
  2: 'L1 rejected',
  3: 'succeeded',
  4: 'failed',
  5: 'L2 approved',
  6: 'L2 rejected',
  7: 'L3 approved',
  8: 'L3 rejected',
  9: 'revoked',
};

/**
 * Seed 002's background-task states, for tickets run in the background, at a time, or
 * automatically after approval. DONE ("finished and its queue record cleaned up") is kept for
 * the seed's vocabulary: Agenda removes finished run jobs itself, so SUCCESS/FAILURE are final.
 */
export const BACKGROUND_STATES = ['CREATED', 'WAITING', 'SUCCESS', 'FAILURE', 'REVOKED', 'DONE'] as const;
export type BackgroundState = (typeof BACKGROUND_STATES)[number];

export interface TicketCommands {
  pre: string;
  main: string;
  post: string;
}

/** The template as submitted: what runs later even if the catalog changes meanwhile. */
export interface TemplateSnapshot {
  name: string;
  env: string;
  category: string;
  description: string;
  configCenter: string;
  /** The command templates themselves ({var} placeholders), rendered again at run time. */
  templates: TicketCommands;
  /** Internal variables (not secret). */
  vars: Record<string, string | number | boolean>;
  /** Names of the secrets the commands use; their values are read from the catalog at run time. */
  secretNames: string[];
  timeoutMinutes: number;
  channel: string | null;
  lock: boolean;
  /** The commands as they will run, every value substituted, secrets masked. */
  commands: TicketCommands;
}

/** A posted Slack message: its channel id and timestamp. */
export interface ChannelMessageRef {
  channel: string;
  ts: string;
}

export interface PhaseResult {
  phase: 'pre' | 'main' | 'post';
  ok: boolean;
  code: number | null;
  signal: string | null;
  /** Why there is no ordinary exit (timeout, cancelled, unreachable, ...), redacted. */
  error: string | null;
  durationMs: number;
  /** The last part of the redacted output, for messages; the whole log is in the log store. */
  tail: string;
  at: Date;
  /** The task failed after a signal sent from `/jobs`: which, and by whom (personId). */
  stoppedBy?: { signal: string; by: string } | null;
}

export interface HistoryEntry {
  state: TicketState;
  status: number;
  background: BackgroundState | null;
  at: Date;
  by: string;
  note: string | null;
}

export interface Ticket {
  ticketId: string;
  template: TemplateSnapshot;
  env: string;
  /** personId */
  submitter: string;
  /** The options as submitted (a multiple choice as a list). */
  values: Record<string, string | string[]>;
  /** sk__name, sk__env, sk__task_name_created. */
  system: Record<string, string>;
  state: TicketState;
  status: number;
  background: BackgroundState | null;
  runAt: Date | null;
  autoRun: boolean;
  runInBackground: boolean;
  /** A run job is queued (at runAt, or now after approval): from then only revocation stops it. */
  queued: boolean;
  /** Present only while a locked ticket is open. */
  lockKey?: string | null;
  approval: ApprovalFlow;
  messages: MessageRef[];
  history: HistoryEntry[];
  phases: PhaseResult[];
  startedAt: Date | null;
  startedBy: string | null;
  finishedAt: Date | null;
  /** Refreshed while the pre-task or the run is in progress: a stale one means the bot died. */
  heartbeatAt: Date | null;
  /** The execution engine's job id of the phase now running. */
  jobId: string | null;
  /**
   * The tag in the environment of the last phase started (OPSGATE_RUN): if the bot running it
   * dies, the recovery finds and stops its leftover processes on the config center by it.
   */
  runTag: string | null;
  revokeRequested: { by: string; at: Date } | null;
  /** The bot instance running its pre-task or run (written when each task starts). */
  instanceId?: string | null;
  /**
   * Signals asked for from `/jobs` while it runs, by any instance; the instance running it
   * sends them to the running task's process group (at once or at its next heartbeat).
   */
  signals?: SignalRequest[];
  interrupted: boolean;
  /**
   * Where the run's message in the template's channel is, once posted: progress and the result
   * update it in place from whichever instance runs, finishes or recovers the ticket.
   */
  channelMessage: ChannelMessageRef | null;
  createdAt: Date;
  updatedAt: Date;
}

const commandsSchema = new Schema<TicketCommands>({ pre: { type: String, default: '' }, main: { type: String, required: true }, post: { type: String, default: '' } }, { _id: false });

const snapshotSchema = new Schema<TemplateSnapshot>(
  {
    name: { type: String, required: true },
    env: { type: String, required: true },
    category: { type: String, required: true },
    description: { type: String, default: '' },
    configCenter: { type: String, required: true },
    templates: { type: commandsSchema, required: true },
    vars: { type: Schema.Types.Mixed, default: {} },
    secretNames: { type: [String], default: [] },
    timeoutMinutes: { type: Number, required: true },
    channel: { type: String, default: null },
    lock: { type: Boolean, required: true },
    commands: { type: commandsSchema, required: true },
  },
  { _id: false, minimize: false },
);

const phaseSchema = new Schema<PhaseResult>(
  {
    phase: { type: String, enum: ['pre', 'main', 'post'], required: true },
    ok: { type: Boolean, required: true },
    code: { type: Number, default: null },
    signal: { type: String, default: null },
    error: { type: String, default: null },
    durationMs: { type: Number, required: true },
    tail: { type: String, default: '' },
    at: { type: Date, required: true },
    stoppedBy: { type: new Schema({ signal: { type: String, required: true }, by: { type: String, required: true } }, { _id: false }), default: null },
  },
  { _id: false },
);

const historySchema = new Schema<HistoryEntry>(
  {
    state: { type: String, enum: TICKET_STATES, required: true },
    status: { type: Number, required: true },
    background: { type: String, enum: [...BACKGROUND_STATES, null], default: null },
    at: { type: Date, required: true },
    by: { type: String, required: true },
    note: { type: String, default: null },
  },
  { _id: false },
);

export const ticketSchema = new Schema<Ticket>(
  {
    ticketId: { type: String, required: true, unique: true },
    template: { type: snapshotSchema, required: true },
    env: { type: String, required: true },
    submitter: { type: String, required: true, index: true },
    values: { type: Schema.Types.Mixed, default: {} },
    system: { type: Schema.Types.Mixed, default: {} },
    state: { type: String, enum: TICKET_STATES, required: true, index: true },
    status: { type: Number, min: 0, max: 9, required: true },
    background: { type: String, enum: [...BACKGROUND_STATES, null], default: null },
    runAt: { type: Date, default: null },
    autoRun: { type: Boolean, default: false },
    runInBackground: { type: Boolean, default: false },
    queued: { type: Boolean, default: false },
    lockKey: { type: String },
    approval: { type: approvalFlowSchema, required: true },
    messages: { type: [messageRefSchema], default: [] },
    history: { type: [historySchema], default: [] },
    phases: { type: [phaseSchema], default: [] },
    startedAt: { type: Date, default: null },
    startedBy: { type: String, default: null },
    finishedAt: { type: Date, default: null },
    heartbeatAt: { type: Date, default: null },
    jobId: { type: String, default: null },
    runTag: { type: String, default: null },
    revokeRequested: { type: new Schema({ by: String, at: Date }, { _id: false }), default: null },
    instanceId: { type: String, default: null },
    signals: { type: [signalRequestSchema], default: [] },
    interrupted: { type: Boolean, default: false },
    channelMessage: { type: new Schema({ channel: { type: String, required: true }, ts: { type: String, required: true } }, { _id: false }), default: null },
  },
  { collection: 'tickets', versionKey: false, timestamps: true, minimize: false },
);
ticketSchema.index({ lockKey: 1 }, { unique: true, partialFilterExpression: { lockKey: { $exists: true } } });
ticketSchema.index({ 'approval.levels.approvers': 1, 'approval.state': 1 });
ticketSchema.index({ 'template.name': 1, env: 1, createdAt: -1 });

export type TicketModel = Model<Ticket>;

export function ticketModel(conn: Connection): TicketModel {
  return modelOn<Ticket>(conn, 'Ticket', ticketSchema);
}

/** The task lock's key: one open ticket per template name and environment. */
export function lockKeyOf(name: string, env: string): string {
  return `${name}@${env}`;
}
