/** People, as the directory (seed 003's OA sync) describes them. */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const personSchema = new Schema(
  {
    personId: { type: String, required: true, unique: true },
    name: { type: String, required: true },
    email: { type: String, required: true, unique: true, lowercase: true },
    /** Slack user id: from the directory, else learned once from Slack by email. */
    slackId: { type: String, index: true },
    /** P1..P10 or M1..M6. */
    level: { type: String, required: true },
    department: { type: String, default: '' },
    /** personId of the manager. */
    manager: { type: String, default: null },
    groups: { type: [String], default: [] },
    sshKeys: { type: [String], default: [] },
    /**
     * Keys carried over from the old bastion (`npm run import`) for a person whose directory
     * record lists none; used only while the directory lists none (see keysOf).
     */
    importedSshKeys: { type: [String], default: [] },
    /** False once the person is no longer in the directory source (never deleted). */
    active: { type: Boolean, default: true },
    syncedAt: { type: Date },
  },
  { collection: 'people', versionKey: false, timestamps: true },
);

export type Person = InferSchemaType<typeof personSchema>;
export type PersonModel = Model<Person>;

export function personModel(conn: Connection): PersonModel {
  return modelOn<Person>(conn, 'Person', personSchema);
}
