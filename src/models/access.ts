/**
 * Host access (seed 003): a request (one submission, its approval flow), one application per
 * host (host_bastion_apply), provisioning tasks (host_bastion_tasks) and grants (user_host).
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { modelOn } from './model-on.js';
import { approvalFlowSchema, messageRefSchema, type ApprovalFlow, type MessageRef } from './approval.js';

/** Seed 003's roles, strongest first; each is also the name of the account on the host. */
export const ACCESS_ROLES = ['root', 'evans', 'readonly'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

/** host_bastion_apply.status */
export const ApplicationStatus = { pending: 1, rejected: 2, provisioning: 3, granted: 4, failed: 5 } as const;
export type ApplicationStatusValue = (typeof ApplicationStatus)[keyof typeof ApplicationStatus];
/** Application statuses that block an identical request: still waiting or being set up. */
export const OPEN_APPLICATION_STATUSES: ApplicationStatusValue[] = [ApplicationStatus.pending, ApplicationStatus.provisioning];
/** host_bastion_tasks.status */
export const TaskStatus = { notRun: 0, done: 1, failed: 2 } as const;
/** user_host.status */
export const GrantStatus = { valid: 1, expired: 2 } as const;

export interface AccessRequest {
  requestId: string;
  requester: string;
  hosts: string[];
  role: AccessRole;
  days: number;
  reason: string;
  approval: ApprovalFlow;
  messages: MessageRef[];
  importedFrom?: { table: string; id: number } | null;
  createdAt: Date;
  updatedAt: Date;
}

export const accessRequestSchema = new Schema<AccessRequest>(
  {
    requestId: { type: String, required: true, unique: true },
    requester: { type: String, required: true, index: true },
    hosts: { type: [String], required: true },
    role: { type: String, enum: ACCESS_ROLES, required: true },
    days: { type: Number, required: true },
    reason: { type: String, required: true },
    approval: { type: approvalFlowSchema, required: true },
    messages: { type: [messageRefSchema], default: [] },
    importedFrom: { type: Schema.Types.Mixed, default: null },
  },
  { collection: 'access_requests', versionKey: false, timestamps: true },
);
accessRequestSchema.index({ 'approval.levels.approvers': 1, 'approval.state': 1 });

export interface HostApplication {
  requestId: string;
  requester: string;
  host: string;
  role: AccessRole;
  days: number;
  status: ApplicationStatusValue;
  grantId: string | null;
  error: string | null;
  importedFrom?: { table: string; id: number } | null;
  createdAt: Date;
  updatedAt: Date;
}

export const hostApplicationSchema = new Schema<HostApplication>(
  {
    requestId: { type: String, required: true, index: true },
    requester: { type: String, required: true },
    host: { type: String, required: true },
    role: { type: String, enum: ACCESS_ROLES, required: true },
    days: { type: Number, required: true },
    status: { type: Number, enum: Object.values(ApplicationStatus), required: true },
    grantId: { type: String, default: null },
    error: { type: String, default: null },
    importedFrom: { type: Schema.Types.Mixed, default: null },
  },
  { collection: 'access_applications', versionKey: false, timestamps: true },
);
hostApplicationSchema.index({ requester: 1, status: 1 });
hostApplicationSchema.index({ host: 1, role: 1, status: 1 });
// One open application per requester, host and role, kept by the store: two identical
// requests arriving at the same instant both pass the service's look-up before either writes,
// and only this index lets exactly one through (the other gets E11000). `$in` in a partial
// filter needs MongoDB 6.0 or later.
export const OPEN_APPLICATION_INDEX = 'open_application_once';
hostApplicationSchema.index(
  { requester: 1, host: 1, role: 1 },
  { unique: true, name: OPEN_APPLICATION_INDEX, partialFilterExpression: { status: { $in: OPEN_APPLICATION_STATUSES } } },
);

export interface ProvisionTask {
  requestId: string;
  grantId: string;
  host: string;
  role: AccessRole;
  type: 'add' | 'delete';
  status: 0 | 1 | 2;
  execTime: Date;
  attempts: number;
  lastError: string | null;
  /** Claim by a running worker: its token and until when it holds. */
  claimToken: string | null;
  claimUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const provisionTaskSchema = new Schema<ProvisionTask>(
  {
    requestId: { type: String, required: true, index: true },
    grantId: { type: String, required: true, index: true },
    host: { type: String, required: true },
    role: { type: String, enum: ACCESS_ROLES, required: true },
    type: { type: String, enum: ['add', 'delete'], required: true },
    status: { type: Number, enum: [0, 1, 2], default: 0 },
    execTime: { type: Date, required: true },
    attempts: { type: Number, default: 0 },
    lastError: { type: String, default: null },
    claimToken: { type: String, default: null },
    claimUntil: { type: Date, default: null },
  },
  { collection: 'access_tasks', versionKey: false, timestamps: true },
);
provisionTaskSchema.index({ status: 1, execTime: 1 });
// One task of each type per grant: provisioning and revocation happen exactly once.
provisionTaskSchema.index({ grantId: 1, type: 1 }, { unique: true });

export interface Grant {
  grantId: string;
  requestId: string;
  personId: string;
  host: string;
  role: AccessRole;
  status: 1 | 2;
  /** Days asked for; the grant lasts this long from the moment it is written. */
  days: number;
  /** The public key line written to the host (without options), for reconcile and audits. */
  publicKey: string;
  grantedAt: Date | null;
  expiresAt: Date | null;
  /** Set when access ended: expiry, early revoke or reconcile. */
  endedAt: Date | null;
  endedBy: string | null;
  endReason: string | null;
  /** Hours-before-expiry reminders already sent (24, 1). */
  reminded: number[];
  /** Set on grants carried over from the old bastion (`npm run import`): the old table and id. */
  importedFrom?: { table: string; id: number } | null;
  createdAt: Date;
  updatedAt: Date;
}

export const grantSchema = new Schema<Grant>(
  {
    grantId: { type: String, required: true, unique: true },
    requestId: { type: String, required: true },
    personId: { type: String, required: true, index: true },
    host: { type: String, required: true, index: true },
    role: { type: String, enum: ACCESS_ROLES, required: true },
    status: { type: Number, enum: [1, 2], default: 1 },
    days: { type: Number, required: true },
    publicKey: { type: String, required: true },
    grantedAt: { type: Date, default: null },
    expiresAt: { type: Date, default: null, index: true },
    endedAt: { type: Date, default: null },
    endedBy: { type: String, default: null },
    endReason: { type: String, default: null },
    reminded: { type: [Number], default: [] },
    importedFrom: { type: Schema.Types.Mixed, default: null },
  },
  { collection: 'access_grants', versionKey: false, timestamps: true },
);

export interface AccessModels {
  Request: Model<AccessRequest>;
  Application: Model<HostApplication>;
  Task: Model<ProvisionTask>;
  Grant: Model<Grant>;
}

export function accessModels(conn: Connection): AccessModels {
  return {
    Request: modelOn(conn, 'AccessRequest', accessRequestSchema),
    Application: modelOn(conn, 'HostApplication', hostApplicationSchema),
    Task: modelOn(conn, 'ProvisionTask', provisionTaskSchema),
    Grant: modelOn(conn, 'Grant', grantSchema),
  };
}
