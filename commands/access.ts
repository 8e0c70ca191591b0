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
import { errorMessage, infoMessage } from '../blocks/errors.js';
import { HELP } from '../blocks/help.js';
import { header, section, type Message } from '../blocks/kit.js';
import { asAppError, AppError } from '../src/errors.js';
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
  parseHostValue,
  parseRejectMeta,
  parseRejectReason,
  parseRequestModal,
  type AccessRequestText,
} from './access-parse.js';
import { AccessModalBlocks, Actions, Commands, Views } from './ids.js';
import { safely } from './respond.js';

export interface AccessListenerDeps {
  access: AccessService;
  grants: GrantService;
  inventory: InventoryService;
  directory: DirectoryService;
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

/** Tells the clicker something only they see, in the conversation they clicked in. */
async function tellClicker(client: WebClient, body: BlockAction, message: Message): Promise<void> {
  const channel = body.channel?.id ?? body.container?.channel_id;
  if (channel) await client.chat.postEphemeral({ channel, user: body.user.id, text: message.text, blocks: message.blocks });
}

export function registerAccess(app: App, deps: AccessListenerDeps): void {
  app.command(Commands.access, async ({ command, ack, respond, client }) => {
    let req: AccessRequestText;
    try {
      req = parseAccess(command.text ?? '');
    } catch (err) {
      await ack({ response_type: 'ephemeral', ...errorMessage(asAppError(err)) });
      return;
    }
    if (req.sub === 'help') return void (await ack({ response_type: 'ephemeral', ...accessHelp() }));
    if (req.sub === 'request' && !req.inline) {
      await ack();
      await openRequestModal(client, command.trigger_id, deps).catch((err: unknown) => deps.logger.error({ err }, 'opening the request form failed'));
      return;
    }
    await ack();
    const reply = await safely(deps.logger, `/access ${req.sub}`, () => answer(req, command.user_id, deps));
    await respond({ response_type: 'ephemeral', ...reply });
  });

  // Host search as the user types in the request form (people in the directory only).
  app.options(Actions.accessHosts, async ({ options, body, ack }) => {
    const hosts = await deps.access.searchHosts(body.user.id, options.value ?? '').catch(() => []);
    await ack(hostOptions(hosts));
  });

  app.view(Views.accessRequest, async ({ ack, body, view, client }) => {
    try {
      const input = parseRequestModal(view.state.values);
      const details = await deps.access.request(body.user.id, input);
      await ack();
      const im = await client.conversations.open({ users: body.user.id });
      if (im.channel?.id) await client.chat.postMessage({ channel: im.channel.id, ...requestAcceptedMessage(details) });
    } catch (err) {
      const e = asAppError(err);
      if (!(err instanceof AppError)) deps.logger.error({ err }, 'access request failed');
      const field = typeof e.details?.field === 'string' && e.details.field in AccessModalBlocks ? e.details.field : AccessModalBlocks.hosts;
      await ack({ response_action: 'errors', errors: { [field]: e.toUserText().slice(0, 150) } });
    }
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessApprove, async ({ ack, body, action, client }) => {
    await ack();
    const reply = await safely(deps.logger, 'access approve', async () => {
      const value = parseApprovalValue(action.value);
      const r = await deps.access.decide(body.user.id, value.r, value.l, 'approved');
      return r.kind === 'already' ? infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level)) : null;
    });
    if (reply) await tellClicker(client, body, reply);
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessReject, async ({ ack, body, action, client }) => {
    await ack();
    const reply = await safely(deps.logger, 'access reject', async () => {
      const value = parseApprovalValue(action.value);
      // Check now, so nobody writes a reason only to be refused.
      const stale = await deps.access.checkMayDecide(body.user.id, value.r, value.l);
      if (stale) return infoMessage(alreadyDecidedText(stale.decision, stale.by, stale.at, stale.level));
      const details = await deps.access.details(value.r);
      const channel = body.channel?.id ?? body.container?.channel_id ?? '';
      await client.views.open({ trigger_id: body.trigger_id, view: rejectModal({ ...value, c: channel }, requestFacts(details.request, details.requester)) });
      return null;
    });
    if (reply) await tellClicker(client, body, reply);
  });

  app.view(Views.accessReject, async ({ ack, body, view, client }) => {
    const reason = parseRejectReason(view.state.values);
    if (!reason) return void (await ack({ response_action: 'errors', errors: { [AccessModalBlocks.rejectReason]: '[1102] Missing field: a rejection needs a reason' } }));
    await ack();
    let channel = '';
    const reply = await safely(deps.logger, 'access reject submit', async () => {
      const meta = parseRejectMeta(view.private_metadata);
      channel = meta.c;
      const r = await deps.access.decide(body.user.id, meta.r, meta.l, 'rejected', reason);
      return r.kind === 'already' ? infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level)) : null;
    });
    if (reply && channel) await client.chat.postEphemeral({ channel, user: body.user.id, text: reply.text, blocks: reply.blocks });
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessExtend, async ({ ack, body, action, client }) => {
    await ack();
    const reply = await safely(deps.logger, 'access extend', async () => {
      const value = parseExtendValue(action.value);
      await openRequestModal(client, body.trigger_id, deps, { hosts: value.h, role: value.role, reason: 'extension of my current access' });
      return null;
    });
    if (reply) await tellClicker(client, body, reply);
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessRevoke, async ({ ack, body, action, respond }) => {
    await ack();
    const reply = await safely(deps.logger, 'access revoke', () => answer({ sub: 'revoke', grantId: parseGrantIdValue(action.value) }, body.user.id, deps));
    await respond({ response_type: 'ephemeral', replace_original: false, ...reply });
  });

  app.action<BlockAction<ButtonAction>>(Actions.accessHostHistory, async ({ ack, body, action, respond }) => {
    await ack();
    const reply = await safely(deps.logger, 'access host history', async () => hostMessage(await deps.grants.host(body.user.id, parseHostValue(action.value), true), true));
    await respond({ response_type: 'ephemeral', replace_original: true, ...reply });
  });
}
