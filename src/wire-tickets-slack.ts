/**
 * The Slack side of ops tickets: the notifier (DMs, channel messages, mail) handed to
 * wireTickets, and the `/ticket` listeners with the App Home section. Kept apart from
 * wire-tickets.ts (the domain's wiring) so the two can change without touching each other.
 */
import type { App } from '@slack/bolt';
import { ticketHomeBlocks } from '../blocks/tickets.js';
import { placeholderSection } from '../blocks/home.js';
import type { HomeSectionProvider } from '../commands/home.js';
import { registerTickets } from '../commands/tickets.js';
import { ticketNotifier } from '../notify/ticket-notifier.js';
import type { SlackMessenger } from '../notify/slack-dm.js';
import type { Logger } from './logger.js';
import type { TicketModel } from './models/tickets.js';
import type { DirectoryService } from './services/directory/directory.js';
import type { MailService } from './services/mail.js';
import type { RbacService } from './services/rbac.js';
import { TicketLists } from './services/tickets/lists.js';
import type { TicketService } from './services/tickets/tickets.js';
import { TicketFullLog, type FileToUser, type TicketLogSnapshots } from './services/tickets/full-log.js';
import type { TemplateSwitches } from './services/tickets/template-switch.js';

export function ticketSlackNotifier(deps: { slack: SlackMessenger; mail: Pick<MailService, 'enqueue'>; logger: Logger }) {
  return ticketNotifier(deps);
}

export interface TicketsSlackDeps {
  tickets: TicketService;
  model: TicketModel;
  switches: TemplateSwitches;
  /** The chunked log store the full-log file is read from (null: full logs unavailable). */
  logReader: TicketLogSnapshots | null;
  /** Puts the full-log file into the requester's DM. */
  files: FileToUser;
  directory: DirectoryService;
  rbac: RbacService;
  logger: Logger;
}

/** Registers `/ticket` and its interactions; returns the App Home section. */
export function wireTicketsSlack(app: App, deps: TicketsSlackDeps): HomeSectionProvider {
  const lists = new TicketLists({ model: deps.model, directory: deps.directory, rbac: deps.rbac });
  const fullLog = new TicketFullLog({ viewable: (u, id) => deps.tickets.viewable(u, id), logs: deps.logReader, files: deps.files });
  registerTickets(app, { tickets: deps.tickets, lists, switches: deps.switches, fullLog, directory: deps.directory, logger: deps.logger });
  return async (person) => {
    if (!person?.slackId) return placeholderSection('Ops tickets', 'Once you are in the directory, your open tickets and the tickets waiting for your approval appear here.');
    const [open, approvals] = await Promise.all([lists.mine(person.slackId, true), deps.tickets.waitingFor(person.slackId)]);
    return { title: 'Ops tickets', blocks: ticketHomeBlocks({ open, approvals }) };
  };
}
