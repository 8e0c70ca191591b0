/**
 * An admin's switch of a ticket template on or off (`/ticket admin activate|deactivate`). The
 * templates themselves are code (catalog/tickets.yaml, held in memory per bot instance); the
 * switch lives in MongoDB so it outlives `/opsgate reload` and restarts, and every instance
 * sharing the store sees it. One document per template name and environment.
 */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const ticketTemplateSwitchSchema = new Schema(
  {
    name: { type: String, required: true },
    env: { type: String, required: true },
    /** What the admin chose; it wins over the catalog's `active:` either way. */
    active: { type: Boolean, required: true },
    /** personId of the admin. */
    by: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'ticket_template_switches', versionKey: false },
);

ticketTemplateSwitchSchema.index({ name: 1, env: 1 }, { unique: true });

export type TicketTemplateSwitch = InferSchemaType<typeof ticketTemplateSwitchSchema>;
export type TicketTemplateSwitchModel = Model<TicketTemplateSwitch>;

export function ticketTemplateSwitchModel(conn: Connection): TicketTemplateSwitchModel {
  return modelOn<TicketTemplateSwitch>(conn, 'TicketTemplateSwitch', ticketTemplateSwitchSchema);
}
