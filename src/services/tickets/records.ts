/**
 * Ticket state changes, one way for all of them: a single findOneAndUpdate whose filter holds
 * the expected state (so of two racing changes exactly one applies), the history entry pushed
 * in the same write, the lock released in the same write when the state is final, and an audit
 * entry for each change that happened.
 */
import type { Clock } from '../../clock.js';
import { AppError, ErrorCode } from '../../errors.js';
import type { Person } from '../../models/person.js';
import { FINAL_STATES, type BackgroundState, type Ticket, type TicketModel, type TicketState } from '../../models/tickets.js';
import type { AuditLog } from '../audit.js';
import type { DirectoryService } from '../directory/directory.js';
import type { TicketDetails } from './ports.js';

export interface RecordsDeps {
  model: TicketModel;
  audit: AuditLog;
  clock: Clock;
  directory: DirectoryService;
}

export interface Change {
  state?: TicketState;
  status?: number;
  background?: BackgroundState | null;
  /** Other fields set in the same write. */
  set?: Record<string, unknown>;
  push?: Record<string, unknown>;
  by: string;
  /** Audit action, without the `ticket.` prefix. */
  action: string;
  note?: string | null;
}

export class TicketRecords {
  constructor(private readonly deps: RecordsDeps) {}

  async find(ticketId: string): Promise<Ticket | null> {
    // A button or a typed id is text of a known shape before it reaches a filter.
    if (typeof ticketId !== 'string' || !/^TK-[A-Z0-9]{6}$/.test(ticketId)) return null;
    return this.deps.model.findOne({ ticketId }).lean<Ticket>();
  }

  async get(ticketId: string): Promise<Ticket> {
    const t = await this.find(ticketId);
    if (!t) throw new AppError(ErrorCode.BadParameter, `no ticket ${String(ticketId).slice(0, 40)}`, { field: 'ticket' });
    return t;
  }

  /**
   * Applies `change` if the ticket still matches `expect`; null when it did not (someone else
   * changed it first).
   */
  async transition(ticketId: string, expect: Record<string, unknown>, change: Change): Promise<Ticket | null> {
    const now = this.deps.clock.now();
    const set: Record<string, unknown> = { ...change.set };
    if (change.state !== undefined) set.state = change.state;
    if (change.status !== undefined) set.status = change.status;
    if (change.background !== undefined) set.background = change.background;
    const final = change.state !== undefined && FINAL_STATES.includes(change.state);
    if (final) set.finishedAt = now;
    const before = await this.deps.model
      .findOneAndUpdate(
        { ticketId, ...expect },
        {
          $set: set,
          ...(change.push ? { $push: change.push } : {}),
          ...(final ? { $unset: { lockKey: 1 } } : {}),
        },
        { returnDocument: 'before' },
      )
      .lean<Ticket>();
    if (!before) return null;
    // The history entry names the new values, or the old ones this change kept.
    const entry = {
      state: change.state ?? before.state,
      status: change.status ?? before.status,
      background: change.background !== undefined ? change.background : before.background,
      at: now,
      by: change.by,
      note: change.note ?? null,
    };
    const after = await this.deps.model.findOneAndUpdate({ ticketId }, { $push: { history: entry } }, { returnDocument: 'after' }).lean<Ticket>();
    await this.deps.audit.record({
      actor: change.by,
      action: `ticket.${change.action}`,
      target: `ticket:${ticketId}`,
      from: { state: before.state, status: before.status, background: before.background },
      to: { state: entry.state, status: entry.status, background: entry.background, ...(change.note ? { note: change.note } : {}) },
    });
    return after;
  }

  async details(ticketOrId: Ticket | string): Promise<TicketDetails> {
    const ticket = typeof ticketOrId === 'string' ? await this.get(ticketOrId) : ticketOrId;
    const ids = new Set<string>([ticket.submitter]);
    for (const l of ticket.approval.levels) {
      for (const a of l.approvers) ids.add(a);
      if (l.decidedBy) ids.add(l.decidedBy);
    }
    const people: Record<string, Person> = Object.fromEntries((await this.deps.directory.byPersonIds([...ids])).map((p) => [p.personId, p]));
    const submitter = people[ticket.submitter];
    if (!submitter) throw new AppError(ErrorCode.Internal, `submitter ${ticket.submitter} of ${ticket.ticketId} is not in the directory`);
    return { ticket, submitter, people };
  }
}
