/** Tells people about host access: approval DMs (updated in place), notices, mail. */
import {
  approvalMailText,
  approvalMessage,
  driftMessage,
  grantedMessage,
  provisioningFailedMessage,
  reminderMessage,
  requesterDecisionMessage,
  revokedMessage,
} from '../blocks/access.js';
import { code, esc, header, rowsToSections, type Message } from '../blocks/kit.js';
import type { Logger } from '../src/logger.js';
import type { Grant } from '../src/models/access.js';
import type { MessageRef } from '../src/models/approval.js';
import type { Person } from '../src/models/person.js';
import type { AccessNotifier } from '../src/services/access/ports.js';
import type { MailService } from '../src/services/mail.js';
import type { SlackMessenger } from './slack-dm.js';

export interface AccessNotifierDeps {
  slack: SlackMessenger;
  mail: Pick<MailService, 'enqueue'>;
  logger: Logger;
  /** Channel for admin notices (drift); logged only when unset. */
  adminChannel?: string;
}

export function accessNotifier(deps: AccessNotifierDeps): AccessNotifier {
  const mail = async (to: Person, subject: string, text: string): Promise<void> => {
    await deps.mail.enqueue({ to: to.email, subject, text }).catch((err: Error) => deps.logger.error({ err: err.message, to: to.personId }, 'mail not queued'));
  };
  const grantMail = (g: Grant, what: string): string => `${what}\n\nHost:    ${g.host}\nAccount: ${g.role}\nGrant:   ${g.grantId}\nGranted: ${g.grantedAt?.toISOString() ?? '-'}\nExpires: ${g.expiresAt?.toISOString() ?? '-'}\n`;

  return {
    async askApprovers(details, _level, approvers) {
      const refs: MessageRef[] = [];
      const m = approvalMailText(details);
      for (const a of approvers) {
        const posted = await deps.slack.dm(a, approvalMessage(details, a.personId));
        if (posted) refs.push({ personId: a.personId, level: details.request.approval.current, ...posted });
        await mail(a, m.subject, m.text);
      }
      return refs;
    },
    async updateApprovalMessages(details) {
      for (const ref of details.request.messages) await deps.slack.update(ref, approvalMessage(details, ref.personId));
    },
    async tellRequester(details, level) {
      await deps.slack.dm(details.requester, requesterDecisionMessage(details, level));
    },
    async granted(grant, holder) {
      await deps.slack.dm(holder, grantedMessage(grant));
      await mail(holder, `[opsgate] Access granted: ${grant.role} on ${grant.host}`, grantMail(grant, 'Your host access is in place.'));
    },
    async provisioningFailed(grant, holder, error) {
      await deps.slack.dm(holder, provisioningFailedMessage(grant, error));
    },
    async revoked(grant, holder) {
      await deps.slack.dm(holder, revokedMessage(grant));
      await mail(holder, `[opsgate] Access removed: ${grant.role} on ${grant.host}`, grantMail(grant, `Your host access was removed (${grant.endReason ?? 'expired'}).`));
    },
    async reminder(grant, holder, hoursLeft) {
      await deps.slack.dm(holder, reminderMessage(grant, hoursLeft));
    },
    async drift(report) {
      if (deps.adminChannel) await deps.slack.post(deps.adminChannel, driftMessage(report));
      else deps.logger.warn({ removed: report.removed.length, missing: report.missing.length, unreachable: report.unreachable }, 'access drift (set ADMIN_CHANNEL to be told in Slack)');
    },
  };
}

/**
 * The daily host check's notice about hosts whose sshd does not read opsgate's root-owned key
 * files as the README's "Running it for real" says (built here, beside the other access notices).
 */
export function sshdProblemsMessage(problems: Record<string, string>): Message {
  const rows = Object.entries(problems).map(([host, problem]) => `:warning: ${code(host)}: ${esc(problem)}`);
  return { text: `Host check: ${rows.length} hosts whose sshd does not read opsgate's key files as it must`, blocks: [header("sshd settings for opsgate's key files"), ...rowsToSections(rows, 10, 10)] };
}
