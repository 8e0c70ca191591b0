/**
 * `/access` and the host-access interactions: the request modal (with host search), Approve /
 * Reject buttons and the reject-reason modal, extension, revoke and history buttons. Each
 * handler acks first; who acts is always the Slack user id of the request.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import {
  alreadyDecidedText,
  approvalsMessage,
  hostMessage,
  hostOptions,
  mineMessage,
  rejectModal,
  requestAcceptedMessage,
  requestFacts,
  requestModal,
  requestsMessage,
} from '../blocks/access.js';
import { errorMessage, fieldError, infoMessage } from '../blocks/errors.js';
import { HELP } from '../blocks/help.js';
import { header, section, type Message } from '../blocks/kit.js';
import { fitOptions } from '../blocks/limits.js';
import { asAppError, AppError, ErrorCode } from '../src/errors.js';
import type { SlackMessenger } from '../notify/slack-dm.js';
import type { Logger } from '../src/logger.js';
import type { GrantService } from '../src/services/access/grants.js';
import type { AccessService } from '../src/services/access/requests.js';
import type { DirectoryService } from '../src/services/directory/directory.js';
import type { InventoryService } from '../src/services/inventory.js';
import {
  parseAccess,
  parseApprovalValue,
  parseExtendValue,
  parseGrantIdValue,
  parseHostSearch,
  parseHostValue,
  parseRejectMeta,
  parseRejectReason,
  parseRequestModal,
  type AccessRequestText,
} from './access-parse.js';
import { AccessModalBlocks, Actions, Commands, Views } from './ids.js';
import { inputOf } from './input-guard.js';
import { ephemeralAck, safely } from './respond.js';

export interface AccessListenerDeps {
  access: AccessService;
  grants: GrantService;
  inventory: InventoryService;
  directory: DirectoryService;
  /** DMs through the notification outbox (notify/slack-dm.ts), so a Slack hiccup after the submit loses nothing. */
  messenger: Pick<SlackMessenger, 'dmUser'>;
  logger: Logger;
}

function accessHelp(): Message {
  const lines = HELP.filter((h) => h.usage.startsWith(Commands.access)).map((h) => `\`${h.usage}\` — ${h.summary}${h.adminOnly ? ' _(admins)_' : ''}`);
  return { text: '/access commands', blocks: [header('Host access'), section(lines.join('\n'))] };
}

async function openRequestModal(client: WebClient, triggerId: string, deps: AccessListenerDeps, prefill: Parameters<typeof requestModal>[1] = {}): Promise<void> {
  const policy = await deps.inventory.accessPolicy();
  await client.views.open({ trigger_id: triggerId, view: requestModal(policy.allowedDays, prefill) });
}

async function answer(req: AccessRequestText, user: string, deps: AccessListenerDeps): Promise<Message> {
  switch (req.sub) {
    case 'help':
      return accessHelp();
    case 'request': {
      const details = await deps.access.request(user, req.inline!);
      return requestAcceptedMessage(details);
    }
    case 'mine':
      return mineMessage(await deps.grants.mine(user));
    case 'requests': {
      const list = await deps.grants.myRequests(user);
      return requestsMessage('My requests', list.items, list.people);
    }
    case 'approvals':
      return approvalsMessage(await deps.grants.myApprovals(user));
    case 'host':
      return hostMessage(await deps.grants.host(user, req.host), false);
    case 'all': {
      const list = await deps.grants.allRequests(user, req);
      return requestsMessage('All requests', list.items, list.people);
    }
    case 'cancel': {
      const d = await deps.access.cancel(user, req.requestId);
      return infoMessage(`:no_entry_sign: Request \`${d.request.requestId}\` is cancelled; its approvers' messages say so.`);
    }
    case 'revoke': {
      const g = await deps.grants.revoke(user, req.grantId);
      return infoMessage(`:lock: Grant \`${g.grantId}\` (${g.role} on ${g.host}) is being removed; you will get a DM when it is gone.`);
    }
  }
}

const noTrigger = (): Message => errorMessage(new AppError(ErrorCode.MissingField, 'this click carries no trigger_id, so no form can open; try again'));

export function registerAccess(app: App, deps: AccessListenerDeps): void {
  app.command(Commands.access, async ({ command, ack, client, context }) => {
    const { input, reply } = inputOf(context);
    let req: AccessRequestText;
    try {
      req = parseAccess(command.text ?? '');
    } catch (err) {
      await ack(ephemeralAck(errorMessage(asAppError(err))));
      return;
    }
    if (req.sub === 'help') return void (await ack(ephemeralAck(accessHelp())));
    if (req.sub === 'request' && !req.inline) {
      await ack();
      if (!input.triggerId) return void (await reply.answer(noTrigger()));
      await openRequestModal(client, input.triggerId, deps).catch((err: unknown) => deps.logger.error({ err }, 'opening the request form failed'));
      return;
    }
    await ack();
    const message = await safely(deps.logger, `/access ${req.sub}`, () => answer(req, input.userId, deps));
    await reply.answer(message);
  });

  // Host search as the user types in the request form (people in the directory only).
  app.options(Actions.accessHosts, async ({ options, ack, context }) => {
    const { input } = inputOf(context);
    let query: string;
    try {
      query = parseHostSearch(options.value ?? '');
    } catch (err) {
      // A suggestion list cannot show an error: the refusal is the one option offered, and its
      // value is no host name, so submitting it is refused too.
      return void (await ack({ options: fitOptions([{ text: { type: 'plain_text', text: fieldError(asAppError(err)) }, value: '!refused' }]) }));
    }
    const hosts = await deps.access.searchHosts(input.userId, query).catch(() => []);
    await ack(hostOptions(hosts));
  });

  app.view(Views.accessRequest, async ({ ack, view, context }) => {
    const { input } = inputOf(context);
    try {
      const values = parseRequestModal(view.state?.values);
      const details = await deps.access.request(input.userId, values);
      await ack();
      await deps.messenger.dmUser(input.userId, requestAcceptedMessage(details));
    } catch (err) {
      const e = asAppError(err);
      if (!(err instanceof AppError)) deps.logger.error({ err }, 'access request failed');
      const field = typeof e.details?.field === 'string' && e.details.field in AccessModalBlocks ? e.details.field : AccessModalBlocks.hosts;
      await ack({ response_action: 'errors', errors: { [field]: fieldError(e) } });
    }
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessApprove, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'access approve', async () => {
      const value = parseApprovalValue(action.value);
      const r = await deps.access.decide(input.userId, value.r, value.l, 'approved');
      return r.kind === 'already' ? infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level)) : null;
    });
    if (message) await reply.tell(message);
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessReject, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'access reject', async () => {
      const value = parseApprovalValue(action.value);
      // Check now, so nobody writes a reason only to be refused.
      const stale = await deps.access.checkMayDecide(input.userId, value.r, value.l);
      if (stale) return infoMessage(alreadyDecidedText(stale.decision, stale.by, stale.at, stale.level));
      if (!input.triggerId) return noTrigger();
      const details = await deps.access.details(value.r);
      await client.views.open({ trigger_id: input.triggerId, view: rejectModal({ ...value, c: input.channelId ?? '' }, requestFacts(details.request, details.requester)) });
      return null;
    });
    if (message) await reply.tell(message);
  });

  app.view(Views.accessReject, async ({ ack, view, context }) => {
    const { input, reply } = inputOf(context);
    // Both are read before the ack, so an unreadable form is answered on the form itself.
    let reason: string;
    let meta: ReturnType<typeof parseRejectMeta>;
    try {
      reason = parseRejectReason(view.state?.values);
      meta = parseRejectMeta(view.private_metadata ?? '');
    } catch (err) {
      return void (await ack({ response_action: 'errors', errors: { [AccessModalBlocks.rejectReason]: fieldError(asAppError(err)) } }));
    }
    if (!reason) return void (await ack({ response_action: 'errors', errors: { [AccessModalBlocks.rejectReason]: '[1102] Missing field: a rejection needs a reason' } }));
    await ack();
    const message = await safely(deps.logger, 'access reject submit', async () => {
      const r = await deps.access.decide(input.userId, meta.r, meta.l, 'rejected', reason);
      return r.kind === 'already' ? infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level)) : null;
    });
    // The form was opened from a conversation (or the App Home, c = ''): answer there, else by DM.
    if (message) await reply.tell(message, meta.c || undefined);
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessExtend, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'access extend', async () => {
      const value = parseExtendValue(action.value);
      if (!input.triggerId) return noTrigger();
      await openRequestModal(client, input.triggerId, deps, { hosts: value.h, role: value.role, reason: 'extension of my current access' });
      return null;
    });
    if (message) await reply.tell(message);
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessRevoke, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'access revoke', () => answer({ sub: 'revoke', grantId: parseGrantIdValue(action.value) }, input.userId, deps));
    await reply.answer(message, { replaceOriginal: false });
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessHostHistory, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'access host history', async () => hostMessage(await deps.grants.host(input.userId, parseHostValue(action.value), true), true));
    await reply.answer(message, { replaceOriginal: true });
  });
}
