/** The audit log: every state change, who made it, and what it was before and after. */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const auditSchema = new Schema(
  {
    at: { type: Date, required: true, index: true },
    /** Slack user id, directory person id, or `system:<job>` for scheduled work. */
    actor: { type: String, required: true, index: true },
    action: { type: String, required: true, index: true },
    /** What was changed: `<kind>:<id>`, e.g. `host:web-01` or `mail:66f...`. */
    target: { type: String, required: true, index: true },
    from: { type: Schema.Types.Mixed, default: null },
    to: { type: Schema.Types.Mixed, default: null },
    note: { type: String },
  },
  { collection: 'audit', versionKey: false },
);

export type AuditEntry = InferSchemaType<typeof auditSchema>;
export type AuditModel = Model<AuditEntry>;

export function auditModel(conn: Connection): AuditModel {
  return modelOn<AuditEntry>(conn, 'Audit', auditSchema);
}
