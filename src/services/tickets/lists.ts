/**
 * Lists of tickets for the Slack side (`/ticket mine`, `/ticket history`, the App Home): reads
 * only, with the same visibility rule as `show` — a person sees their own tickets and those they
 * approve; everyone else's need `use` on the template (admins see all).
 */
import type { RbacService } from '../rbac.js';
import type { DirectoryService } from '../directory/directory.js';
import { OPEN_STATES, TICKET_STATES, type Ticket, type TicketModel } from '../../models/tickets.js';
import type { Person } from '../../models/person.js';
import { badParameter } from '../../errors.js';
import { ticketViewer } from './visibility.js';

export interface TicketListsDeps {
  model: TicketModel;
  directory: DirectoryService;
  rbac: RbacService;
}

export interface HistoryFilter {
  template?: string;
  env?: string;
  /** personId or a Slack id (<@U…> as typed). */
  user?: string;
  /** A state name (succeeded, failed, …) or a seed status code 0–9. */
  status?: string;
}

const LIST_LIMIT = 50;

export class TicketLists {
  constructor(private readonly deps: TicketListsDeps) {}

  /** My tickets, newest first. */
  async mine(slackUserId: string, openOnly = false): Promise<Ticket[]> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    return this.deps.model
      .find({ submitter: me.personId, ...(openOnly ? { state: { $in: [...OPEN_STATES] } } : {}) })
      .sort({ createdAt: -1 })
      .limit(LIST_LIMIT)
      .lean<Ticket[]>();
  }

  /** Everyone's tickets (the seed's audit page), filtered; only what the person may see. */
  async history(slackUserId: string, f: HistoryFilter): Promise<{ tickets: Ticket[]; people: Record<string, Person> }> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const filter: Record<string, unknown> = {};
    if (f.template) filter['template.name'] = f.template;
    if (f.env) filter.env = f.env;
    if (f.status) {
      if (/^\d$/.test(f.status)) filter.status = Number(f.status);
      else if ((TICKET_STATES as readonly string[]).includes(f.status)) filter.state = f.status;
      else throw badParameter(`status: is a state (${TICKET_STATES.join(', ')}) or a status code 0-9`, { field: 'status' });
    }
    if (f.user) {
      const slackId = /^<@([UW][A-Z0-9]+)(\|[^>]*)?>$/.exec(f.user)?.[1];
      const who = slackId ? await this.deps.directory.findBySlackUser(slackId) : await this.deps.directory.byPersonId(f.user);
      filter.submitter = who?.personId ?? f.user;
    }
    const found = await this.deps.model.find(filter).sort({ createdAt: -1 }).limit(200).lean<Ticket[]>();
    const sees = await ticketViewer(this.deps.rbac, me);
    const tickets: Ticket[] = [];
    for (const t of found) {
      if (tickets.length >= LIST_LIMIT) break;
      if (await sees(t)) tickets.push(t);
    }
    const people = Object.fromEntries((await this.deps.directory.byPersonIds([...new Set(tickets.map((t) => t.submitter))])).map((p) => [p.personId, p]));
    return { tickets, people };
  }
}
