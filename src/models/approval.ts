/**
 * The approval flow embedded in anything that needs sign-off (host access now, ops tickets
 * later): ordered levels, each with its approvers and, once decided, who decided what, when
 * and why.
 */
import { Schema } from 'mongoose';

export const DECISIONS = ['approved', 'rejected'] as const;
export type Decision = (typeof DECISIONS)[number];

export const approvalLevelSchema = new Schema(
  {
    /** 1-based, as people say it ("level 2"). */
    level: { type: Number, required: true },
    label: { type: String, required: true },
    /** How approvers were chosen (`manager`, `group:<name>`, `people`): re-checked on every click. */
    rule: { type: String, default: null },
    /** personIds allowed to decide this level (computed when the request is made). */
    approvers: { type: [String], default: [] },
    decision: { type: String, enum: [...DECISIONS, null], default: null },
    decidedBy: { type: String, default: null },
    decidedAt: { type: Date, default: null },
    /** Reject reason (required) or approve comment (optional). */
    note: { type: String, default: null },
  },
  { _id: false },
);

export const approvalFlowSchema = new Schema(
  {
    levels: { type: [approvalLevelSchema], default: [] },
    /** Index of the level waiting for a decision; equals levels.length once all approved. */
    current: { type: Number, default: 0 },
    state: { type: String, enum: ['pending', 'approved', 'rejected', 'cancelled'], default: 'pending', index: true },
  },
  { _id: false },
);

export interface ApprovalLevel {
  level: number;
  label: string;
  rule?: string | null;
  approvers: string[];
  decision: Decision | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  note: string | null;
}

export interface ApprovalFlow {
  levels: ApprovalLevel[];
  current: number;
  state: 'pending' | 'approved' | 'rejected' | 'cancelled';
}

/** Where an approval DM was posted, so every copy can be updated in place. */
export const messageRefSchema = new Schema(
  {
    personId: { type: String, required: true },
    /** Index of the level the message asked this person to decide. */
    level: { type: Number, required: true },
    channel: { type: String, required: true },
    ts: { type: String, required: true },
  },
  { _id: false },
);

export interface MessageRef {
  personId: string;
  level: number;
  channel: string;
  ts: string;
}
