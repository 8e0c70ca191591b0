/**
 * `/ticket` and the ticket interactions: the picker (environment → category → ticket) and the
 * form, inline submit, Approve / Approve with comment / Reject / Change to reject, Run, Revoke,
 * Show, and the lists. Each handler acks first (a form's answer is its ack, so the submit gets
 * two seconds before the form closes and the answer comes by DM); who acts is always the Slack
 * user id of the request, and every rule is the ticket service's.
 */
import type { App, BlockAction, ButtonAction, StaticSelectAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { errorMessage, fieldError, infoMessage } from '../blocks/errors.js';
import { header, section, type Message } from '../blocks/kit.js';
import { fitOptions, fitView } from '../blocks/limits.js';
import {
  alreadyDecidedText,
  approvalsListMessage,
  choiceOptions,
  decisionModal,
  fullLogMessage,
  pickerModal,
  showMessage,
  submittedMessage,
  ticketFacts,
  ticketFormModal,
  ticketListMessage,
  type FormOption,
  type TicketFormSpec,
} from '../blocks/tickets.js';
import { asAppError, AppError, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import type { TicketTemplate } from '../src/services/catalog/tickets-schema.js';
import type { DirectoryService } from '../src/services/directory/directory.js';
import type { TicketLists } from '../src/services/tickets/lists.js';
import type { TicketFullLog } from '../src/services/tickets/full-log.js';
import type { TemplateSwitches } from '../src/services/tickets/template-switch.js';
import { templateStatesMessage, templateSwitchMessage } from '../blocks/ticket-admin.js';
import type { TicketDetails } from '../src/services/tickets/ports.js';
import type { SubmitInput, TicketService } from '../src/services/tickets/tickets.js';
import { Actions, Commands, TicketBlocks, Views } from './ids.js';
import { inputOf } from './input-guard.js';
import { ephemeralAck, safely, within } from './respond.js';
import {
  choicesActionId,
  decisionMetaSchema,
  formMetaSchema,
  parseChoiceSearch,
  parseDecisionText,
  parseDecisionValue,
  parseMeta,
  parsePickValue,
  parseSelected,
  parseTicket,
  parseTicketForm,
  parseTicketValue,
  resolveLocalTime,
  showInZone,
  validZone,
  type LocalTime,
  type TicketRequest,
} from './tickets-parse.js';

export interface TicketListenerDeps {
  tickets: TicketService;
  lists: TicketLists;
  switches: TemplateSwitches;
  fullLog: TicketFullLog;
  directory: DirectoryService;
  logger: Logger;
}

/** A static select holds 100 options; longer lists are searched (external select). */
const STATIC_CHOICES = 100;
/** How long a form's submit may take before the form closes and the answer goes by DM. */
const FORM_ANSWER_MS = 2_000;

const HELP_LINES = [
  '`/ticket` — pick a ticket (environment, category, ticket) and fill in its form',
  '`/ticket submit <name> env:<ENV> Opt=value Multi=a,b Text="with spaces" [at:2026-12-24T03:00] [auto] [background]` — the same, typed; times are in your Slack time zone',
  '`/ticket mine` · `/ticket approvals` — my tickets · tickets waiting for my approval (with buttons)',
  '`/ticket run <id>` · `/ticket revoke <id>` · `/ticket show <id>` — run once approved · stop it · details and the log’s tail',
  '`/ticket log <id>` — the whole log as a file in your DM (the Full log button does the same)',
  '`/ticket history [name] [env:x] [user:x] [status:x]` — everyone’s runs you may see',
  '`/ticket admin activate|deactivate <name> [env]` · `/ticket admin list` — admins: switch a template on or off for submitters (all its environments without env), and see every switch',
];
const helpMessage = (): Message => ({ text: '/ticket commands', blocks: [header('Ops tickets'), section(HELP_LINES.join('\n'))] });
const noTrigger = (): Message => errorMessage(new AppError(ErrorCode.MissingField, 'this click carries no trigger_id, so no form can open; try again'));

/** The submitter's Slack time zone (users.info tz); UTC when Slack does not say. */
async function zoneOf(client: WebClient, userId: string, logger: Logger): Promise<string> {
  try {
    const res = await client.users.info({ user: userId });
    return validZone((res.user as { tz?: unknown } | undefined)?.tz);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'users.info failed; times read as UTC');
    return 'UTC';
  }
}

function runAtOf(at: LocalTime | null, tz: string): Date | null {
  return at ? resolveLocalTime(at, tz) : null;
}

/** What the form shows of a template (never its secrets), with each option's choices now. */
async function formSpec(t: TicketTemplate, deps: TicketListenerDeps): Promise<TicketFormSpec> {
  const options: FormOption[] = [];
  for (const o of t.options) {
    const choices = o.text ? null : ((await deps.tickets.choicesOf(t, o)) ?? []);
    options.push({
      name: o.name,
      label: o.label,
      multiple: o.multiple,
      choices,
      text: o.text ?? null,
      ...(choices && choices.length > STATIC_CHOICES ? { searchActionId: choicesActionId(t.name, t.env, o.name) } : {}),
    });
  }
  return { name: t.name, env: t.env, category: t.category, description: t.description, options, schedule: t.schedule, background: t.background, autoRun: t.autoRun };
}

async function openPicker(client: WebClient, triggerId: string, userId: string, deps: TicketListenerDeps): Promise<void> {
  const cards = await deps.tickets.submittable(userId);
  await client.views.open({ trigger_id: triggerId, view: pickerModal(cards, { e: null, c: null }) });
}

async function answer(req: Exclude<TicketRequest, { sub: 'help' }>, user: string, client: WebClient, deps: TicketListenerDeps): Promise<Message> {
  switch (req.sub) {
    case 'submit': {
      const s = req.inline!;
      // The zone is asked of Slack only when a time is read or shown (most submits have none).
      let tz = s.at ? await zoneOf(client, user, deps.logger) : undefined;
      const input: SubmitInput = { template: s.template, env: s.env, values: s.values, runAt: tz ? runAtOf(s.at, tz) : null, autoRun: s.autoRun, background: s.background };
      const d = await deps.tickets.submit(user, input);
      tz ??= d.ticket.runAt ? await zoneOf(client, user, deps.logger) : 'UTC';
      return submittedMessage(d, tz, showInZone);
    }
    case 'mine':
      return ticketListMessage('My tickets', await deps.lists.mine(user));
    case 'approvals': {
      const waiting = await deps.tickets.waitingFor(user);
      const me = await deps.directory.requireBySlackUser(user);
      const details = await Promise.all(waiting.slice(0, 10).map((t) => deps.tickets.show(user, t.ticketId)));
      return approvalsListMessage(details, me.personId);
    }
    case 'run': {
      const d = await deps.tickets.run(user, req.ticketId);
      return infoMessage(`:arrow_forward: Ticket \`${d.ticket.ticketId}\` is running${d.ticket.template.channel ? `; progress in ${d.ticket.template.channel}` : ''}. The result comes by DM.`);
    }
    case 'revoke': {
      const d = await deps.tickets.revoke(user, req.ticketId);
      return infoMessage(d.ticket.state === 'revoked' ? `:no_entry_sign: Ticket \`${d.ticket.ticketId}\` is revoked; it will not run.` : `:octagonal_sign: Ticket \`${d.ticket.ticketId}\` is being stopped (TERM, then KILL); the result follows.`);
    }
    case 'show':
      return showMessage(await deps.tickets.show(user, req.ticketId));
    case 'history': {
      const { tickets, people } = await deps.lists.history(user, req);
      return ticketListMessage('Ticket history', tickets, people);
    }
    case 'log':
      return fullLogMessage(await deps.fullLog.send(user, req.ticketId));
    case 'admin-switch':
      return templateSwitchMessage(await deps.switches.set(user, req.active, req.name, req.env));
    case 'admin-list':
      return templateStatesMessage(await deps.switches.list(user));
  }
}

/** Which block of the form a refusal belongs to (a form's errors must name one of its blocks). */
function errorBlock(e: AppError, blocks: string[]): string {
  const field = typeof e.details?.field === 'string' ? e.details.field : '';
  const wanted = field === 'at' ? TicketBlocks.runDate : field === 'auto' || field === 'background' ? TicketBlocks.flags : blocks.includes(field) ? field : `${TicketBlocks.optionPrefix}${field}`;
  return blocks.includes(wanted) ? wanted : (blocks[0] ?? TicketBlocks.flags);
}

export function registerTickets(app: App, deps: TicketListenerDeps): void {
  app.command(Commands.ticket, async ({ command, ack, client, context }) => {
    const { input, reply } = inputOf(context);
    let req: TicketRequest;
    try {
      req = parseTicket(command.text ?? '');
    } catch (err) {
      return void (await ack(ephemeralAck(errorMessage(asAppError(err)))));
    }
    if (req.sub === 'help') return void (await ack(ephemeralAck(helpMessage())));
    await ack();
    if (req.sub === 'submit' && !req.inline) {
      if (!input.triggerId) return void (await reply.answer(noTrigger()));
      const failed = await safely(deps.logger, '/ticket picker', async () => (await openPicker(client, input.triggerId!, input.userId, deps), null));
      if (failed) await reply.answer(failed);
      return;
    }
    const r = req;
    await reply.answer(await safely(deps.logger, `/ticket ${req.sub}`, () => answer(r, input.userId, client, deps)));
  });

  // The picker: choosing an environment, then a category, redraws it in place.
  const redrawPicker = async (client: WebClient, userId: string, viewId: string | undefined, chosen: { e: string | null; c: string | null }) => {
    if (!viewId) return;
    await client.views.update({ view_id: viewId, view: pickerModal(await deps.tickets.submittable(userId), chosen) });
  };
  app.action<BlockAction<StaticSelectAction>>(Actions.ticketPickEnv, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const failed = await safely(deps.logger, 'ticket pick env', async () => (await redrawPicker(client, input.userId, input.viewId, { e: parseSelected(action.selected_option) ?? null, c: null }), null));
    if (failed) await reply.tell(failed);
  });
  app.action<BlockAction<StaticSelectAction>>(Actions.ticketPickCategory, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    // The category select's block id carries the environment it lists (pick_category|<env>).
    const env = (action.block_id ?? '').split('|')[1] ?? null;
    const failed = await safely(deps.logger, 'ticket pick category', async () => (await redrawPicker(client, input.userId, input.viewId, { e: env, c: parseSelected(action.selected_option) ?? null }), null));
    if (failed) await reply.tell(failed);
  });

  // A ticket chosen: the picker becomes its form.
  app.action<BlockAction<ButtonAction>>(Actions.ticketPick, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const failed = await safely(deps.logger, 'ticket pick', async () => {
      const pick = parsePickValue(action.value);
      const t = await deps.tickets.submittableTemplate(input.userId, pick.n, pick.e);
      const view = ticketFormModal(await formSpec(t, deps), { c: '' }, await zoneOf(client, input.userId, deps.logger));
      if (input.viewId) await client.views.update({ view_id: input.viewId, view });
      else if (input.triggerId) await client.views.open({ trigger_id: input.triggerId, view });
      else return noTrigger();
      return null;
    });
    if (failed) await reply.tell(failed);
  });

  // A long script-choice list, searched as the submitter types.
  app.options(new RegExp(`^${Actions.ticketChoices}\\|`), async ({ options, ack, context }) => {
    const { input } = inputOf(context);
    try {
      const q = parseChoiceSearch(String((options as { action_id?: unknown }).action_id ?? ''), options.value ?? '');
      const t = await deps.tickets.submittableTemplate(input.userId, q.name, q.env);
      const o = t.options.find((x) => x.name === q.option);
      await ack(choiceOptions((o ? await deps.tickets.choicesOf(t, o) : null) ?? [], q.query));
    } catch (err) {
      await ack({ options: fitOptions([{ text: { type: 'plain_text', text: fieldError(asAppError(err)) }, value: '!refused' }]) });
    }
  });

  app.view(Views.ticketForm, async ({ ack, view, client, context }) => {
    const { input, reply } = inputOf(context);
    const blocks = Object.keys(view.state?.values ?? {});
    let work: Promise<TicketDetails>;
    let tz = 'UTC';
    try {
      const meta = parseMeta(formMetaSchema, view.private_metadata);
      const form = parseTicketForm(view.state?.values);
      tz = form.at ? await zoneOf(client, input.userId, deps.logger) : 'UTC';
      work = deps.tickets.submit(input.userId, { template: meta.n, env: meta.e, values: form.values, runAt: runAtOf(form.at, tz), autoRun: form.autoRun, background: form.background });
    } catch (err) {
      return void (await ack({ response_action: 'errors', errors: { [errorBlock(asAppError(err), blocks)]: fieldError(asAppError(err)) } }));
    }
    // The pre-task runs inside submit: a quick refusal is shown on the form, a slow answer by DM.
    const r = await within(work, FORM_ANSWER_MS);
    if (r.done && 'error' in r) {
      const e = asAppError(r.error);
      if (!(r.error instanceof AppError)) deps.logger.error({ err: r.error }, 'ticket submit failed');
      return void (await ack({ response_action: 'errors', errors: { [errorBlock(e, blocks)]: fieldError(e) } }));
    }
    await ack();
    const message = r.done ? submittedMessage(r.value, tz, showInZone) : await safely(deps.logger, 'ticket submit', async () => submittedMessage(await work, tz, showInZone));
    await reply.tell(message);
  });

  const decideNow = async (userId: string, ticketId: string, level: number, decision: 'approved' | 'rejected', note?: string): Promise<Message | null> => {
    const r = await deps.tickets.decide(userId, ticketId, level, decision, note);
    return r.kind === 'already' ? infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level)) : null;
  };

  app.action<BlockAction<ButtonAction>>(Actions.ticketApprove, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'ticket approve', async () => {
      const v = parseDecisionValue(action.value);
      return decideNow(input.userId, v.t, v.l, 'approved');
    });
    if (message) await reply.tell(message);
  });

  // Reject, Approve with comment and Change to reject open a form first.
  const openDecision = (kind: 'approve' | 'reject' | 'change') =>
    async ({ ack, action, client, context }: { ack: () => Promise<void>; action: ButtonAction; client: WebClient; context: Parameters<typeof inputOf>[0] }) => {
      const { input, reply } = inputOf(context);
      await ack();
      const message = await safely(deps.logger, `ticket ${kind} form`, async () => {
        const v = parseDecisionValue(action.value);
        const d = await deps.tickets.show(input.userId, v.t);
        const t = d.ticket;
        if (kind !== 'change' && (t.state !== 'waiting' || t.approval.current !== v.l)) {
          const l = t.approval.levels[v.l];
          return infoMessage(alreadyDecidedText(l?.decision ?? 'not-waiting', l?.decidedBy ? (d.people[l.decidedBy] ?? null) : null, l?.decidedAt ?? null, v.l + 1));
        }
        if (!input.triggerId) return noTrigger();
        await client.views.open({ trigger_id: input.triggerId, view: fitView(decisionModal(kind, { ...v, c: input.channelId ?? '' }, ticketFacts(d))) });
        return null;
      });
      if (message) await reply.tell(message);
    };
  app.action<BlockAction<ButtonAction>>(Actions.ticketApproveWithComment, openDecision('approve'));
  app.action<BlockAction<ButtonAction>>(Actions.ticketReject, openDecision('reject'));
  app.action<BlockAction<ButtonAction>>(Actions.ticketChangeToReject, openDecision('change'));

  const decisionSubmit = (blockId: string) =>
    async ({ ack, view, context }: { ack: (r?: object) => Promise<void>; view: { private_metadata?: string; state?: { values?: unknown } }; context: Parameters<typeof inputOf>[0] }) => {
      const { input, reply } = inputOf(context);
      let meta: ReturnType<typeof parseMeta<typeof decisionMetaSchema>>;
      let text: string;
      try {
        meta = parseMeta(decisionMetaSchema, view.private_metadata);
        text = parseDecisionText(view.state?.values, blockId);
      } catch (err) {
        return void (await ack({ response_action: 'errors', errors: { [blockId]: fieldError(asAppError(err)) } }));
      }
      if (meta.k !== 'approve' && !text) return void (await ack({ response_action: 'errors', errors: { [blockId]: '[1102] Missing field: a rejection needs a reason' } }));
      await ack();
      const message = await safely(deps.logger, `ticket ${meta.k}`, async () => {
        if (meta.k === 'change') {
          const d = await deps.tickets.changeToReject(input.userId, meta.t, meta.l, text);
          return infoMessage(`:no_entry: Your approval of level ${meta.l + 1} of \`${d.ticket.ticketId}\` is now a rejection; it will not run.`);
        }
        return decideNow(input.userId, meta.t, meta.l, meta.k === 'approve' ? 'approved' : 'rejected', text || undefined);
      });
      if (message) await reply.tell(message, meta.c || undefined);
    };
  const onReject = decisionSubmit(TicketBlocks.reason);
  const onApprove = decisionSubmit(TicketBlocks.comment);
  app.view(Views.ticketReject, async ({ ack, view, context }) => onReject({ ack: (r) => ack(r as never), view, context }));
  app.view(Views.ticketApproveComment, async ({ ack, view, context }) => onApprove({ ack: (r) => ack(r as never), view, context }));

  const byTicketButton = (sub: 'run' | 'revoke' | 'show' | 'log') =>
    async ({ ack, action, client, context }: { ack: () => Promise<void>; action: ButtonAction; client: WebClient; context: Parameters<typeof inputOf>[0] }) => {
      const { input, reply } = inputOf(context);
      await ack();
      const message = await safely(deps.logger, `ticket ${sub}`, () => answer({ sub, ticketId: parseTicketValue(action.value) }, input.userId, client, deps));
      await reply.answer(message, { replaceOriginal: false });
    };
  app.action<BlockAction<ButtonAction>>(Actions.ticketRun, byTicketButton('run'));
  app.action<BlockAction<ButtonAction>>(Actions.ticketRevoke, byTicketButton('revoke'));
  app.action<BlockAction<ButtonAction>>(Actions.ticketShow, byTicketButton('show'));
  app.action<BlockAction<ButtonAction>>(Actions.ticketFullLog, byTicketButton('log'));
}
