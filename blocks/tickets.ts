/**
 * Ops ticket messages and views: the picker (environment → category → ticket), the ticket form,
 * the approval DM (with the exact commands that will run, secrets masked, and the pre-task's
 * result) and its decided states, the decision modals, the channel progress message, the
 * result DM, and the show / mine / approvals / history views.
 *
 * Builders get no template objects, only the fields they show (`TicketCard`, `TicketFormSpec`):
 * a template carries secret values in memory and they must not be one property away from a
 * message. A stored ticket's commands are already masked.
 */
import type { ModalView } from '@slack/types';
import { Actions, TicketBlocks, Views } from '../commands/ids.js';
import type { ApprovalLevel } from '../src/models/approval.js';
import type { Person } from '../src/models/person.js';
import { STATUS_LABELS, type PhaseResult, type Ticket } from '../src/models/tickets.js';
import type { TicketDetails } from '../src/services/tickets/ports.js';
import type { FullLogOutcome } from '../src/services/tickets/full-log.js';
import { levelLine, when } from './access.js';
import { code, context, divider, esc, header, mrkdwn, plain, rowsToSections, section, type Block, type Message } from './kit.js';
import { cut, echo, fitOptions, fitView, LIMITS, printable } from './limits.js';

/** What the picker shows of a ticket. */
export interface TicketCard {
  name: string;
  env: string;
  category: string;
  description: string;
}

export interface FormOption {
  name: string;
  label: string;
  multiple: boolean;
  /** The choices now; null for a text option. */
  choices: string[] | null;
  text: { pattern?: string; maxLength: number } | null;
  /** Set when the choices are too many for a static select: the external select's action id. */
  searchActionId?: string;
}

export interface TicketFormSpec extends TicketCard {
  options: FormOption[];
  schedule: boolean;
  background: boolean;
  autoRun: boolean;
}

export interface PickValue {
  n: string;
  e: string;
}

const opt = (text: string, value: string) => ({ text: plain(text, LIMITS.optionText), value });
const value = (v: object): string => JSON.stringify(v);

// ---- the picker and the form -----------------------------------------------------------------

/** Environment first, then category, then the tickets with their descriptions. */
export function pickerModal(cards: TicketCard[], chosen: { e: string | null; c: string | null }): ModalView {
  const envs = [...new Set(cards.map((c) => c.env))].sort();
  const blocks: Block[] = [];
  if (cards.length === 0) {
    blocks.push(section('No ticket is open to you. Ask an admin for `use` on a ticket template, or to be added to a submit group.'));
    return fitView({ type: 'modal', callback_id: Views.ticketPicker, title: plain('Ops tickets'), close: plain('Close'), blocks });
  }
  const env = chosen.e && envs.includes(chosen.e) ? chosen.e : null;
  const envSelect: Record<string, unknown> = { type: 'static_select', action_id: Actions.ticketPickEnv, placeholder: plain('Environment'), options: fitOptions(envs.map((e) => opt(e, e))) };
  if (env) envSelect.initial_option = opt(env, env);
  blocks.push(section('*1. Environment*'), { type: 'actions', block_id: 'pick_env', elements: [envSelect as never] });
  if (env) {
    const inEnv = cards.filter((c) => c.env === env);
    const categories = [...new Set(inEnv.map((c) => c.category))].sort();
    const category = chosen.c && categories.includes(chosen.c) ? chosen.c : null;
    const catSelect: Record<string, unknown> = { type: 'static_select', action_id: Actions.ticketPickCategory, placeholder: plain('Category'), options: fitOptions(categories.map((c) => opt(c, c))) };
    if (category) catSelect.initial_option = opt(category, category);
    blocks.push(section('*2. Category*'), { type: 'actions', block_id: `pick_category|${env}`, elements: [catSelect as never] });
    if (category) {
      blocks.push(section('*3. Ticket*'));
      for (const c of inEnv.filter((x) => x.category === category).slice(0, LIMITS.viewBlocks - 10)) {
        blocks.push({
          type: 'section',
          text: mrkdwn(`*${esc(c.name)}*\n${esc(c.description) || '_no description_'}`),
          accessory: { type: 'button', action_id: Actions.ticketPick, text: plain('Choose'), value: value({ n: c.name, e: c.env } satisfies PickValue) },
        });
      }
    }
  }
  return fitView({ type: 'modal', callback_id: Views.ticketPicker, private_metadata: value({ e: env, c: chosen.c }), title: plain('Ops tickets'), close: plain('Close'), blocks });
}

function optionElement(o: FormOption): Record<string, unknown> {
  const actionId = o.searchActionId ?? `v_${o.name}`;
  if (!o.choices) {
    return { type: 'plain_text_input', action_id: actionId, max_length: Math.min(o.text?.maxLength ?? 200, 3000) };
  }
  if (o.searchActionId) return { type: o.multiple ? 'multi_external_select' : 'external_select', action_id: actionId, min_query_length: 0, placeholder: plain('Type to search') };
  return { type: o.multiple ? 'multi_static_select' : 'static_select', action_id: actionId, placeholder: plain(o.multiple ? 'Choose one or more' : 'Choose one'), options: fitOptions(o.choices.map((c) => opt(c, c))) };
}

/** The form of one ticket: its options, and the run time / background / auto-run it allows. */
export function ticketFormModal(t: TicketFormSpec, meta: { c: string }, tz: string): ModalView {
  const blocks: Block[] = [section(`*${esc(t.name)}* · ${code(t.env)} · ${esc(t.category)}\n${esc(t.description)}`)];
  for (const o of t.options) {
    const hint = o.text?.pattern ? `Must match ${o.text.pattern}` : o.searchActionId ? `${o.choices?.length ?? 0} choices: type to search` : undefined;
    blocks.push({ type: 'input', block_id: `${TicketBlocks.optionPrefix}${o.name}`, label: plain(o.label), element: optionElement(o) as never, ...(hint ? { hint: plain(hint) } : {}) });
  }
  if (t.schedule) {
    blocks.push(
      { type: 'input', optional: true, block_id: TicketBlocks.runDate, label: plain('Run on (leave empty to run once approved)'), element: { type: 'datepicker', action_id: 'date' } },
      { type: 'input', optional: true, block_id: TicketBlocks.runTime, label: plain(`Run at (${tz})`), element: { type: 'timepicker', action_id: 'time' } as never },
    );
  }
  const flags = [
    ...(t.autoRun ? [{ text: plain('Run automatically once approved'), value: 'auto' }] : []),
    ...(t.background ? [{ text: plain('Run in the background'), value: 'background' }] : []),
  ];
  if (flags.length > 0) blocks.push({ type: 'input', optional: true, block_id: TicketBlocks.flags, label: plain('How it runs'), element: { type: 'checkboxes', action_id: 'flags', options: flags } });
  return fitView({
    type: 'modal',
    callback_id: Views.ticketForm,
    private_metadata: value({ n: t.name, e: t.env, c: meta.c }),
    title: plain('Submit a ticket'),
    submit: plain('Submit'),
    close: plain('Cancel'),
    blocks,
  });
}

export function choiceOptions(choices: string[], query: string): { options: Array<ReturnType<typeof opt>> } {
  const q = query.toLowerCase();
  return { options: fitOptions(choices.filter((c) => c.toLowerCase().includes(q)).slice(0, LIMITS.options).map((c) => opt(c, c))) };
}

// ---- facts shared by the messages --------------------------------------------------------------

function nameOf(people: Record<string, Person>, id: string | null): string {
  if (!id) return 'someone';
  const p = people[id];
  return p ? esc(p.name) : code(id);
}

function valuesText(t: Ticket): string {
  return namedValuesText(t.values);
}

/** `name` = `value` rows (a multiple choice's values side by side). */
export function namedValuesText(values: Record<string, string | string[]>, none = '_no options_'): string {
  const rows = Object.entries(values).map(([k, v]) => `${code(k)} = ${Array.isArray(v) ? v.map(code).join(', ') : code(v)}`);
  return rows.length ? rows.join('\n') : none;
}

/** A command in a code block; ``` inside it cannot close the block early. */
export function commandBlock(label: string, cmd: string): string {
  return `*${label}:*\n\`\`\`${esc(cut(printable(cmd).replace(/```/g, "'''"), 900))}\`\`\``;
}

export function outputBlock(text: string, max = 1200): string {
  const t = printable(text).replace(/```/g, "'''");
  // Escaped inside code blocks too: < and & would otherwise still make mentions and links.
  return '```' + esc(t.length > max ? '…' + t.slice(t.length - max + 1) : t || ' ') + '```';
}

function phase(t: Ticket, p: PhaseResult['phase']): PhaseResult | undefined {
  return [...t.phases].reverse().find((x) => x.phase === p);
}

function phaseLine(r: PhaseResult): string {
  const how = r.ok ? ':white_check_mark: ok' : `:x: failed${r.error ? ` (${esc(r.error)})` : ''}`;
  return `*${r.phase}-task* ${how} · exit ${r.code ?? '-'}${r.signal ? ` · ${esc(r.signal)}` : ''} · ${(r.durationMs / 1000).toFixed(1)} s`;
}

function runTimeText(t: Ticket, tz: string | undefined, show: (d: Date, tz: string) => string): string {
  if (!t.runAt) return t.autoRun ? 'automatically once approved' : 'by the submitter’s Run once approved';
  return `at ${tz ? show(t.runAt, tz) : new Date(t.runAt).toISOString()} · ${when(t.runAt)}`;
}

const STATE_TEXT: Record<Ticket['state'], string> = {
  pre: ':hourglass_flowing_sand: pre-task running',
  waiting: ':hourglass_flowing_sand: waiting for approval',
  approved: ':large_green_circle: approved',
  running: ':arrows_counterclockwise: running',
  succeeded: ':white_check_mark: succeeded',
  failed: ':x: failed',
  rejected: ':no_entry: rejected',
  revoked: ':no_entry_sign: revoked',
};

export function stateText(t: Ticket): string {
  const bg = t.background ? ` · ${t.background}` : '';
  return `${STATE_TEXT[t.state]} · status ${t.status} (${STATUS_LABELS[t.status] ?? '?'})${bg}${t.interrupted ? ' · interrupted' : ''}`;
}

/** The ticket's facts: who, what, where, values, how and when it runs. */
export function ticketFacts(d: TicketDetails, show: (d: Date, tz: string) => string = (x) => new Date(x).toISOString(), tz?: string): string {
  const t = d.ticket;
  return [
    `*Submitter:* ${esc(d.submitter.name)} (${code(d.submitter.personId)}) · ${when(t.createdAt)}`,
    `*Ticket:* ${code(t.template.name)} in ${code(t.env)} · ${esc(t.template.category)} · on ${code(t.template.configCenter)}`,
    `*Values:*\n${valuesText(t)}`,
    `*Runs:* ${runTimeText(t, tz, show)}${t.runInBackground ? ' · in the background' : ''}`,
  ].join('\n');
}

function commandsSection(t: Ticket): Block[] {
  const c = t.template.commands;
  return [section([c.pre ? commandBlock('Pre-task', c.pre) : '', commandBlock('Main task', c.main), c.post ? commandBlock('Post-task', c.post) : ''].filter(Boolean).join('\n'))];
}

function preSection(t: Ticket): Block[] {
  const pre = phase(t, 'pre');
  if (!pre) return t.template.commands.pre ? [context('Pre-task: not run yet')] : [];
  return [section(`${phaseLine(pre)}\n${outputBlock(pre.tail)}`)];
}

function levelsSection(d: TicketDetails): Block[] {
  const a = d.ticket.approval;
  if (a.levels.length === 0) return [context('No approval needed.')];
  return [section(a.levels.map((l, i) => levelLine(l, d.people, a.state === 'pending' && i === a.current)).join('\n'))];
}

const btn = (actionId: string, text: string, v: object, style?: 'primary' | 'danger') => ({ type: 'button' as const, action_id: actionId, text: plain(text), value: value(v), ...(style ? { style } : {}) });

/** Run (submitter, approved, not queued) and Revoke (not finished). */
function submitterButtons(t: Ticket): Block[] {
  const els = [];
  // Automatic runs start by themselves (offering Run there misleads); a chosen time may be run earlier.
  if (t.state === 'approved' && !t.queued && !t.autoRun && !t.runAt) els.push(btn(Actions.ticketRun, 'Run', { t: t.ticketId }, 'primary'));
  if (t.state === 'approved' && t.runAt) els.push(btn(Actions.ticketRun, 'Run now', { t: t.ticketId }, 'primary'));
  if (['pre', 'waiting', 'approved', 'running'].includes(t.state)) {
    els.push({ ...btn(Actions.ticketRevoke, 'Revoke', { t: t.ticketId }, 'danger'), confirm: { title: plain('Revoke the ticket?'), text: mrkdwn(`${t.ticketId} ${t.state === 'running' ? 'is stopped now' : 'will never run'}.`), confirm: plain('Revoke'), deny: plain('Keep') } });
  }
  els.push(btn(Actions.ticketShow, 'Show', { t: t.ticketId }));
  return [{ type: 'actions', block_id: `ticket:${t.ticketId}`, elements: els as never }];
}

// ---- submitter's messages ----------------------------------------------------------------------

export function submittedMessage(d: TicketDetails, tz: string, show: (d: Date, tz: string) => string): Message {
  const t = d.ticket;
  const lead =
    t.state === 'failed'
      ? `:x: Ticket ${code(t.ticketId)} (${code(t.template.name)}, ${code(t.env)}) was refused by its pre-task.`
      : `:inbox_tray: Ticket ${code(t.ticketId)} submitted: ${code(t.template.name)} in ${code(t.env)}.`;
  return {
    text: `Ticket ${t.ticketId} ${t.state === 'failed' ? 'failed at its pre-task' : 'submitted'}`,
    blocks: [section(lead), section(ticketFacts(d, show, tz)), ...preSection(t), ...levelsSection(d), context(stateText(t)), ...submitterButtons(t)],
  };
}

export function submitterDecisionMessage(d: TicketDetails, level: ApprovalLevel): Message {
  const t = d.ticket;
  const lead =
    level.decision === 'rejected'
      ? `:x: Your ticket ${code(t.ticketId)} was rejected at level ${level.level} (${esc(level.label)}) by ${nameOf(d.people, level.decidedBy)}: “${esc(level.note ?? '')}”`
      : t.approval.state === 'approved'
        ? `:white_check_mark: Your ticket ${code(t.ticketId)} is approved (level ${level.level} by ${nameOf(d.people, level.decidedBy)}).${t.queued || t.autoRun || t.runAt ? ' It runs as you chose.' : ' Press Run when you are ready.'}`
        : `:arrow_forward: Level ${level.level} of your ticket ${code(t.ticketId)} was approved by ${nameOf(d.people, level.decidedBy)}; it now waits for level ${t.approval.current + 1}.`;
  return { text: cut(printable(lead.replace(/[*`]/g, '')), LIMITS.sectionText), blocks: [section(lead), context(stateText(t)), ...submitterButtons(t)] };
}

// ---- the approval DM ---------------------------------------------------------------------------

export interface DecisionButtonValue {
  t: string;
  l: number;
}

/**
 * One approver's copy of the approval DM as it stands now: Approve / Reject while the level
 * waits for them; "Change to reject" on a level they approved until execution starts.
 */
export function approvalMessage(d: TicketDetails, forPersonId: string): Message {
  const t = d.ticket;
  const a = t.approval;
  const blocks: Block[] = [header(`Ops ticket ${t.ticketId}`), section(ticketFacts(d)), ...commandsSection(t), ...preSection(t), ...levelsSection(d), context(stateText(t))];
  const current = a.state === 'pending' && t.state === 'waiting' ? a.levels[a.current] : undefined;
  const decidedEarlier = a.levels.some((l, i) => i < a.current && l.decidedBy === forPersonId);
  if (current?.approvers.includes(forPersonId) && !decidedEarlier) {
    const v = { t: t.ticketId, l: a.current } satisfies DecisionButtonValue;
    blocks.push({ type: 'actions', block_id: `approval:${t.ticketId}`, elements: [btn(Actions.ticketApprove, 'Approve', v, 'primary'), btn(Actions.ticketApproveWithComment, 'Approve with comment…', v), btn(Actions.ticketReject, 'Reject', v, 'danger')] as never });
  }
  const mine = a.levels.findIndex((l) => l.decidedBy === forPersonId && l.decision === 'approved');
  if (mine >= 0 && ['waiting', 'approved'].includes(t.state) && !t.queued && !t.startedAt) {
    blocks.push({ type: 'actions', block_id: `change:${t.ticketId}`, elements: [btn(Actions.ticketChangeToReject, 'Change to reject', { t: t.ticketId, l: mine } satisfies DecisionButtonValue, 'danger')] as never });
  }
  return { text: `Ops ticket ${t.ticketId} from ${esc(echo(d.submitter.name))}: ${t.template.name} in ${t.env} — ${t.state}`, blocks };
}

export function approvalMailText(d: TicketDetails): { subject: string; text: string } {
  const t = d.ticket;
  const pre = phase(t, 'pre');
  return {
    subject: `[opsgate] ${d.submitter.name.slice(0, 60)} submitted ${t.template.name} (${t.env}) for approval (${t.ticketId})`,
    text: [
      `${d.submitter.name} (${d.submitter.personId}) submitted an ops ticket.`,
      '',
      `Ticket:  ${t.ticketId}`,
      `Name:    ${t.template.name} (${t.env}, ${t.template.category})`,
      `Values:  ${Object.entries(t.values).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join('  ')}`,
      '',
      'Commands that will run:',
      ...(t.template.commands.pre ? [`  pre:  ${t.template.commands.pre}`] : []),
      `  main: ${t.template.commands.main}`,
      ...(t.template.commands.post ? [`  post: ${t.template.commands.post}`] : []),
      ...(pre ? ['', `Pre-task: ${pre.ok ? 'ok' : 'failed'} (exit ${pre.code ?? '-'})`, pre.tail.slice(-1500)] : []),
      '',
      'Approve or reject it from the opsgate DM in Slack, or with /ticket approvals.',
    ].join('\n'),
  };
}

export function alreadyDecidedText(decision: string, by: Person | null, at: Date | null, level: number, noun = 'ticket'): string {
  if (decision === 'cancelled') return `This ${noun} is no longer waiting for a decision.`;
  if (decision === 'not-waiting') return `[1100] Not waiting: this ${noun} is not waiting for a decision at level ${level}; nothing changed.`;
  return `Already decided: level ${level} was ${decision} by ${by ? `${by.name} (${by.personId})` : 'someone'} at ${at ? new Date(at).toISOString() : 'an earlier time'}.`;
}

/** Approve (optional comment), Reject and Change to reject (reason required). */
export function decisionModal(kind: 'approve' | 'reject' | 'change', meta: DecisionButtonValue & { c: string }, facts: string): ModalView {
  const reject = kind !== 'approve';
  return {
    type: 'modal',
    callback_id: reject ? Views.ticketReject : Views.ticketApproveComment,
    private_metadata: value({ ...meta, k: kind }),
    title: plain(kind === 'approve' ? 'Approve ticket' : kind === 'reject' ? 'Reject ticket' : 'Change to reject'),
    submit: plain(kind === 'approve' ? 'Approve' : 'Reject'),
    close: plain('Cancel'),
    blocks: [
      section(facts),
      {
        type: 'input',
        block_id: reject ? TicketBlocks.reason : TicketBlocks.comment,
        optional: !reject,
        label: plain(reject ? 'Why? (the submitter sees this)' : 'Comment (optional)'),
        element: { type: 'plain_text_input', action_id: 'text', multiline: true, ...(reject ? { min_length: 1 } : {}), max_length: 1000 },
      },
    ],
  };
}

// ---- the channel message and the result --------------------------------------------------------

function duration(t: Ticket): string {
  if (!t.startedAt) return '';
  const end = t.finishedAt ? new Date(t.finishedAt).getTime() : Date.now();
  return `${((end - new Date(t.startedAt).getTime()) / 1000).toFixed(1)} s`;
}

function resultLine(t: Ticket): string {
  const main = phase(t, 'main');
  const post = phase(t, 'post');
  const parts = [STATE_TEXT[t.state] + (t.interrupted ? ' (interrupted: the bot stopped)' : '')];
  if (main) parts.push(`main exit ${main.code ?? '-'}${main.signal ? ` (${main.signal})` : ''}`);
  if (post) parts.push(`post ${post.ok ? 'ok' : `failed (exit ${post.code ?? '-'})`}`);
  const d = duration(t);
  if (d) parts.push(d);
  return parts.join(' · ');
}

/** The template channel's one message for a run: progress while it runs, the result at the end. */
export function channelMessage(d: TicketDetails, tail: string): Message {
  const t = d.ticket;
  const final = ['succeeded', 'failed', 'revoked', 'rejected'].includes(t.state);
  const lead = `*${esc(t.template.name)}* (${code(t.env)}) · ticket ${code(t.ticketId)} by ${esc(d.submitter.name)}`;
  const blocks: Block[] = [section(lead), section(final ? resultLine(t) : `:arrows_counterclockwise: running since ${when(t.startedAt)}`), section(outputBlock(tail))];
  blocks.push(final ? { type: 'actions', elements: [btn(Actions.ticketFullLog, 'Full log', { t: t.ticketId })] as never } : { type: 'actions', elements: [btn(Actions.ticketRevoke, 'Revoke', { t: t.ticketId }, 'danger')] as never });
  return { text: `${t.template.name} (${t.env}) ${t.ticketId}: ${final ? t.state : 'running'}`, blocks };
}

/** The submitter's DM at the end. */
export function resultMessage(d: TicketDetails, tail: string): Message {
  const t = d.ticket;
  const note = t.history.at(-1)?.note;
  const lead = `Your ticket ${code(t.ticketId)} (${code(t.template.name)}, ${code(t.env)}) ended: ${resultLine(t)}${note ? ` — ${esc(note)}` : ''}`;
  return { text: `Ticket ${t.ticketId} ${t.state}`, blocks: [section(lead), section(outputBlock(tail)), { type: 'actions', elements: [btn(Actions.ticketFullLog, 'Full log', { t: t.ticketId })] as never }] };
}

export function resultMailText(d: TicketDetails, tail: string): { subject: string; text: string } {
  const t = d.ticket;
  return {
    subject: `[opsgate] ${t.ticketId} ${t.template.name} (${t.env}): ${t.state}`,
    text: [`Your ticket ${t.ticketId} (${t.template.name}, ${t.env}) ended: ${t.state}.`, '', `Main task: ${t.template.commands.main}`, '', 'Last output:', tail.slice(-2000), '', `/ticket show ${t.ticketId} has the details.`].join('\n'),
  };
}

// ---- views -------------------------------------------------------------------------------------

export function showMessage(d: TicketDetails & { tail: string }): Message {
  const t = d.ticket;
  const history = t.history.map((h) => `${when(h.at)} ${h.state} · ${h.status} (${STATUS_LABELS[h.status] ?? '?'})${h.background ? ` · ${h.background}` : ''} · ${esc(h.by)}${h.note ? ` — ${esc(h.note)}` : ''}`);
  const phases = t.phases.map(phaseLine);
  return {
    text: `Ticket ${t.ticketId}: ${t.state}`,
    blocks: [
      header(`Ticket ${t.ticketId}`),
      section(ticketFacts(d)),
      ...commandsSection(t),
      ...levelsSection(d),
      section(`*Statuses:*\n${history.slice(-15).join('\n')}`),
      ...(phases.length ? [section(phases.join('\n'))] : []),
      section(`*Log (tail):*\n${outputBlock(d.tail, 2400)}`),
      context(stateText(t)),
      { type: 'actions', block_id: `show:${t.ticketId}`, elements: [btn(Actions.ticketFullLog, 'Full log (file)', { t: t.ticketId })] as never },
    ],
  };
}

/** The answer to a full-log request: where the file went, or that there is nothing yet. */
export function fullLogMessage(r: FullLogOutcome): Message {
  if (r.kind === 'empty') return { text: `The log of ${r.ticketId} is empty`, blocks: [section(`:page_facing_up: The log of ticket ${code(r.ticketId)} is empty so far (nothing has run yet); no file was sent.`)] };
  return { text: `Full log of ${r.ticketId} sent`, blocks: [section(`:page_facing_up: The full log of ticket ${code(r.ticketId)} (${r.bytes.toLocaleString('en-US')} bytes) is in your DM as ${code(r.filename)}.`)] };
}

function row(t: Ticket): string {
  return `${code(t.ticketId)} ${code(t.template.name)} ${code(t.env)} — ${STATE_TEXT[t.state]} · ${when(t.createdAt)}`;
}

export function ticketListMessage(title: string, tickets: Ticket[], people: Record<string, Person> = {}): Message {
  if (tickets.length === 0) return { text: `${title}: none`, blocks: [section(`*${title}:* none.`)] };
  const rows = tickets.map((t) => `${row(t)}${people[t.submitter] ? ` · ${esc(people[t.submitter]!.name)}` : ''}`);
  return { text: `${title}: ${tickets.length}`, blocks: [header(title), ...rowsToSections(rows, 15)] };
}

const MAX_APPROVALS_SHOWN = 6;

export function approvalsListMessage(items: TicketDetails[], me: string): Message {
  if (items.length === 0) return { text: 'Nothing waits for you', blocks: [section('No ticket waits for your approval.')] };
  const blocks: Block[] = [header('Tickets waiting for my approval')];
  for (const d of items.slice(0, MAX_APPROVALS_SHOWN)) blocks.push(divider(), ...approvalMessage(d, me).blocks.slice(1));
  if (items.length > MAX_APPROVALS_SHOWN) blocks.push(divider(), section(`*${items.length - MAX_APPROVALS_SHOWN} more waiting:* ${items.slice(MAX_APPROVALS_SHOWN).map((d) => code(d.ticket.ticketId)).join(' ')}`));
  return { text: `${items.length} tickets wait for you`, blocks };
}

/** The Ops tickets part of the App Home tab. */
export function ticketHomeBlocks(summary: { open: Ticket[]; approvals: Ticket[] }): Block[] {
  return [
    section(`*My open tickets*\n${summary.open.length ? summary.open.slice(0, 15).map(row).join('\n') : 'none — `/ticket` submits one'}`),
    section(`*Waiting for my approval*\n${summary.approvals.length ? summary.approvals.slice(0, 15).map(row).join('\n') + '\n`/ticket approvals` has the buttons' : 'nothing'}`),
  ];
}
