/** Settings loaded from the catalog and shared by every bot instance through the store. */
import { Schema, type Connection, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export interface Setting {
  _id: string;
  value: unknown;
  updatedAt: Date;
}

export const settingSchema = new Schema<Setting>(
  {
    _id: { type: String, required: true },
    value: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'settings', versionKey: false },
);

export function settingModel(conn: Connection): Model<Setting> {
  return modelOn<Setting>(conn, 'Setting', settingSchema);
}
