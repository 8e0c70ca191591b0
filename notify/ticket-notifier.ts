/**
 * Tells people about ops tickets (the TicketNotifier port): approval DMs and mails, every copy
 * of the DM updated in place as levels are decided, the submitter told of each decision, one
 * message in the template's channel posted when the run starts and updated in place as it
 * goes, and the result by DM and mail.
 *
 * The channel message's place is stored on the ticket (started() returns it, the executor keeps
 * it), not here: progress and the result update it from whichever instance runs, finishes or
 * recovers the ticket, also after a restart. How often progress comes is the executor's call.
 */
import { approvalMailText, approvalMessage, channelMessage, resultMailText, resultMessage, submitterDecisionMessage } from '../blocks/tickets.js';
import type { Logger } from '../src/logger.js';
import type { MessageRef } from '../src/models/approval.js';
import type { Person } from '../src/models/person.js';
import type { MailService } from '../src/services/mail.js';
import type { TicketDetails, TicketNotifier } from '../src/services/tickets/ports.js';
import type { SlackMessenger } from './slack-dm.js';

export interface TicketNotifierDeps {
  slack: SlackMessenger;
  mail: Pick<MailService, 'enqueue'>;
  logger: Logger;
}

export function ticketNotifier(deps: TicketNotifierDeps): TicketNotifier {
  const mail = async (to: Person, subject: string, text: string): Promise<void> => {
    await deps.mail.enqueue({ to: to.email, subject, text }).catch((err: Error) => deps.logger.error({ err: err.message, to: to.personId }, 'mail not queued'));
  };
  const updateApprovals = async (d: TicketDetails): Promise<void> => {
    for (const ref of d.ticket.messages) await deps.slack.update(ref, approvalMessage(d, ref.personId));
  };

  return {
    async approvalNeeded(d, _level, approvers) {
      const refs: MessageRef[] = [];
      // Every DM first, then the mails: the places are stored sooner, so fewer clicks beat them.
      for (const a of approvers) {
        const posted = await deps.slack.dm(a, approvalMessage(d, a.personId));
        if (posted) refs.push({ personId: a.personId, level: d.ticket.approval.current, ...posted });
      }
      const m = approvalMailText(d);
      for (const a of approvers) await mail(a, m.subject, m.text);
      return refs;
    },
    refreshApprovals: updateApprovals,
    async decided(d, level) {
      await updateApprovals(d);
      await deps.slack.dm(d.submitter, submitterDecisionMessage(d, level));
    },
    async started(d) {
      // "Change to reject" is over once the run starts: every copy says so.
      await updateApprovals(d);
      const channel = d.ticket.template.channel;
      if (!channel) return null;
      return deps.slack.post(channel, channelMessage(d, ''));
    },
    async progress(d, tail) {
      const ref = d.ticket.channelMessage;
      if (ref) await deps.slack.update(ref, channelMessage(d, tail));
    },
    async finished(d, tail) {
      const t = d.ticket;
      await updateApprovals(d);
      // A rejection was told with the decision; nothing ran, so the channel hears nothing.
      if (t.state === 'rejected') return;
      const ref = t.channelMessage;
      if (ref) await deps.slack.update(ref, channelMessage(d, tail));
      else if (t.template.channel && t.startedAt) await deps.slack.post(t.template.channel, channelMessage(d, tail));
      await deps.slack.dm(d.submitter, resultMessage(d, tail));
      const m = resultMailText(d, tail);
      await mail(d.submitter, m.subject, m.text);
    },
  };
}
