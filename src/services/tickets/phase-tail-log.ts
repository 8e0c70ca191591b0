/**
 * A stand-in TicketLogSink until the chunked log store is wired: it keeps nothing itself and
 * answers `tail` from the phase tails stored on the ticket (the last part of each task's
 * redacted output). Full logs need the log store (src/services/tickets/log-store.ts).
 */
import type { Ticket, TicketModel } from '../../models/tickets.js';
import type { TicketLogSink } from './ports.js';

export function phaseTailLog(model: TicketModel): TicketLogSink {
  return {
    append: async () => undefined,
    close: async () => undefined,
    async tail(ticketId, maxChars) {
      const t = await model.findOne({ ticketId }, { phases: 1 }).lean<Pick<Ticket, 'phases'>>();
      const text = (t?.phases ?? []).map((p) => `[${p.phase}]\n${p.tail}`).join('\n');
      return text.length > maxChars ? text.slice(text.length - maxChars) : text;
    },
  };
}
