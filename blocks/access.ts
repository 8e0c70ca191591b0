/** Host access messages: the approval DM and its decided states, notices, views, modals. */
import type { ModalView } from '@slack/types';
import { AccessModalBlocks, Actions, Views } from '../commands/ids.js';
import type { AccessRequest, AccessRole, Grant, HostApplication } from '../src/models/access.js';
import type { ApprovalLevel } from '../src/models/approval.js';
import type { AuditEntry } from '../src/models/audit.js';
import type { Person } from '../src/models/person.js';
import type { DriftReport, RequestDetails } from '../src/services/access/ports.js';
import type { HostHolders, RequestList, RequestSummary } from '../src/services/access/grants.js';
import { code, context, divider, esc, header, mrkdwn, plain, rowsToSections, section, type Block, type Message } from './kit.js';
import { cut, echo, fitOptions, LIMITS, printable } from './limits.js';

const STATUS_TEXT: Record<number, string> = { 1: 'pending', 2: 'rejected', 3: 'provisioning', 4: 'granted', 5: 'failed' };

/** Times as Slack renders them in the reader's time zone, with a UTC fallback. */
export function when(d: Date | null | undefined): string {
  if (!d) return '—';
  const secs = Math.floor(new Date(d).getTime() / 1000);
  return `<!date^${secs}^{date_short_pretty} {time}|${new Date(d).toISOString().replace('.000Z', 'Z')}>`;
}

function nameOf(people: Record<string, Person>, id: string | null): string {
  if (!id) return 'someone';
  const p = people[id];
  return p ? `${esc(p.name)} (${code(id)})` : code(id);
}

export function levelLine(l: ApprovalLevel, people: Record<string, Person>, current: boolean): string {
  if (l.decision === 'approved') return `:white_check_mark: Level ${l.level} (${esc(l.label)}) approved by ${nameOf(people, l.decidedBy)} at ${when(l.decidedAt)}${l.note ? ` — “${esc(l.note)}”` : ''}`;
  if (l.decision === 'rejected') return `:x: Level ${l.level} (${esc(l.label)}) rejected by ${nameOf(people, l.decidedBy)} at ${when(l.decidedAt)}: “${esc(l.note ?? '')}”`;
  const who = l.approvers.map((a) => nameOf(people, a)).join(', ');
  return `${current ? ':hourglass_flowing_sand:' : ':white_circle:'} Level ${l.level} (${esc(l.label)}) ${current ? 'waiting for' : 'then'} ${who}`;
}

export function requestFacts(r: AccessRequest, requester: Person): string {
  return [
    `*Requester:* ${esc(requester.name)} (${code(requester.personId)}, ${esc(requester.level)}${requester.department ? `, ${esc(requester.department)}` : ''})`,
    `*Hosts:* ${r.hosts.map(code).join(' ')}`,
    `*Role:* ${code(r.role)}   *Duration:* ${r.days} day${r.days === 1 ? '' : 's'}`,
    `*Reason:* ${esc(r.reason)}`,
  ].join('\n');
}

function stateLine(r: AccessRequest): string {
  if (r.approval.state === 'approved') return ':white_check_mark: *Approved* — access is being set up on the hosts.';
  if (r.approval.state === 'rejected') return ':x: *Rejected*.';
  if (r.approval.state === 'cancelled') return ':no_entry_sign: *Cancelled*.';
  return `:hourglass_flowing_sand: *Waiting for level ${r.approval.current + 1}.*`;
}

export interface ApprovalButtonValue {
  r: string;
  l: number;
}

/**
 * The approval DM, as every approver's copy shows it now. Buttons appear only on the copy of
 * someone who may decide the level now waiting.
 */
export function approvalMessage(d: RequestDetails, forPersonId: string): Message {
  const r = d.request;
  const current = r.approval.state === 'pending' ? r.approval.levels[r.approval.current] : undefined;
  const blocks: Block[] = [
    header(`Host access request ${r.requestId}`),
    section(requestFacts(r, d.requester)),
    section(r.approval.levels.map((l, i) => levelLine(l, d.people, r.approval.state === 'pending' && i === r.approval.current)).join('\n')),
    context(stateLine(r)),
  ];
  const decidedEarlier = r.approval.levels.some((l, i) => i < r.approval.current && l.decidedBy === forPersonId);
  if (current?.approvers.includes(forPersonId) && !decidedEarlier) {
    const value = JSON.stringify({ r: r.requestId, l: r.approval.current } satisfies ApprovalButtonValue);
    blocks.push({
      type: 'actions',
      block_id: `approval:${r.requestId}`,
      elements: [
        { type: 'button', action_id: Actions.accessApprove, style: 'primary', text: plain('Approve'), value },
        { type: 'button', action_id: Actions.accessReject, style: 'danger', text: plain('Reject'), value },
      ],
    });
  }
  return { text: `Host access request ${r.requestId} from ${echo(d.requester.name)}: ${r.role} on ${hostsBrief(r.hosts)} — ${r.approval.state}`, blocks };
}

export function requesterDecisionMessage(d: RequestDetails, level: ApprovalLevel): Message {
  const r = d.request;
  const lead =
    level.decision === 'rejected'
      ? `:x: Your host access request ${code(r.requestId)} was rejected at level ${level.level} by ${nameOf(d.people, level.decidedBy)}: “${esc(level.note ?? '')}”`
      : r.approval.state === 'approved'
        ? `:white_check_mark: Your host access request ${code(r.requestId)} is approved (level ${level.level} by ${nameOf(d.people, level.decidedBy)}). Access is being set up.`
        : `:arrow_forward: Level ${level.level} of your request ${code(r.requestId)} was approved by ${nameOf(d.people, level.decidedBy)}; it now waits for level ${r.approval.current + 1}.`;
  return { text: cut(printable(lead.replace(/[*`]/g, '')), LIMITS.sectionText), blocks: [section(lead), context(`${r.role} on ${r.hosts.join(', ')}, ${r.days}d`)] };
}

export function requestAcceptedMessage(d: RequestDetails): Message {
  const r = d.request;
  const text = `:inbox_tray: Request ${code(r.requestId)} sent: ${code(r.role)} on ${r.hosts.map(code).join(' ')} for ${r.days}d.`;
  return { text: `Request ${r.requestId} sent`, blocks: [section(text), section(r.approval.levels.map((l, i) => levelLine(l, d.people, i === 0)).join('\n'))] };
}

export function alreadyDecidedText(decision: string, by: Person | null, at: Date | null, level: number): string {
  if (decision === 'cancelled') return 'This request is no longer waiting for a decision.';
  // A level index or request id no flow is waiting for: the button is stale or was altered.
  if (decision === 'not-waiting') return `[1100] Not waiting: this request is not waiting for a decision at level ${level}; nothing changed.`;
  return `Already decided: level ${level} was ${decision} by ${by ? `${by.name} (${by.personId})` : 'someone'} at ${at ? new Date(at).toISOString() : 'an earlier time'}.`;
}

function grantLine(g: Grant): string {
  return `${code(g.host)} as ${code(g.role)} — granted ${when(g.grantedAt)}, expires ${when(g.expiresAt)} · grant ${code(g.grantId)}`;
}

export function grantedMessage(g: Grant): Message {
  const text = `:key: Access granted: ${grantLine(g)}\nLog in with \`ssh ${g.role}@${g.host}\` using the key in your directory record.`;
  return { text: `Access granted: ${g.role} on ${g.host}`, blocks: [section(text)] };
}

export function provisioningFailedMessage(g: Grant, error: string): Message {
  const text = `:warning: Access ${code(g.role)} on ${code(g.host)} could not be set up: ${esc(error)}. Nothing is left on the host; ask again once it is fixed.`;
  return { text: `Access on ${g.host} failed`, blocks: [section(text)] };
}

export function revokedMessage(g: Grant): Message {
  const why = g.endReason && g.endReason !== 'expired' ? esc(g.endReason) : 'it expired';
  const text = `:lock: Access ${code(g.role)} on ${code(g.host)} was removed (${why}) at ${when(g.endedAt)}. Grant ${code(g.grantId)}.`;
  return { text: `Access removed: ${g.role} on ${g.host}`, blocks: [section(text)] };
}

export interface ExtendButtonValue {
  h: string[];
  role: AccessRole;
}

export function reminderMessage(g: Grant, hoursLeft: number): Message {
  const text = `:alarm_clock: Your ${code(g.role)} access on ${code(g.host)} ends in about ${hoursLeft} hour${hoursLeft === 1 ? '' : 's'} (${when(g.expiresAt)}).`;
  return {
    text: `Access on ${g.host} ends in ${hoursLeft}h`,
    blocks: [
      section(text),
      {
        type: 'actions',
        elements: [{ type: 'button', action_id: Actions.accessExtend, text: plain('Request extension'), value: JSON.stringify({ h: [g.host], role: g.role } satisfies ExtendButtonValue) }],
      },
    ],
  };
}

export function driftMessage(r: DriftReport): Message {
  const lines = [
    `:mag: Access reconcile: ${r.hostsChecked} hosts checked at ${when(r.at)}.`,
    ...r.removed.map((x) => `• removed ${code(x.grantId)} from ${code(x.account)} on ${code(x.host)} (no valid grant)`),
    ...r.missing.map((x) => `• missing: ${code(x.grantId)} of ${code(x.personId)} for ${code(x.account)} on ${code(x.host)}`),
    ...(r.unreachable.length ? [`• unreachable: ${r.unreachable.map(code).join(' ')}`] : []),
  ];
  return { text: `Access reconcile: ${r.removed.length} removed, ${r.missing.length} missing, ${r.unreachable.length} unreachable`, blocks: rowsToSections(lines) };
}

/** Hosts for a one-line summary: the first few, then how many more (mail subjects are capped). */
export function hostsBrief(hosts: string[], shown = 3): string {
  return hosts.length <= shown ? hosts.join(', ') : `${hosts.slice(0, shown).join(', ')} and ${hosts.length - shown} more`;
}

export function approvalMailText(d: RequestDetails): { subject: string; text: string } {
  const r = d.request;
  return {
    subject: `[opsgate] ${d.requester.name.slice(0, 60)} asks for ${r.role} on ${hostsBrief(r.hosts)} (${r.requestId})`,
    text: [
      `${d.requester.name} (${d.requester.personId}, ${d.requester.level}) asks for host access.`,
      '',
      `Request: ${r.requestId}`,
      `Hosts:   ${r.hosts.join(', ')}`,
      `Role:    ${r.role}`,
      `Days:    ${r.days}`,
      `Reason:  ${r.reason}`,
      '',
      'Approve or reject it from the opsgate DM in Slack, or with /access approvals.',
    ].join('\n'),
  };
}

// ---- views ----------------------------------------------------------------------------------

/** Slack allows 50 blocks in a message (LIMITS): lists are cut with a note. */
const MAX_BUTTON_ROWS = LIMITS.messageBlocks - 20;
const MAX_APPROVALS_SHOWN = 8;

export function mineMessage(grants: Grant[]): Message {
  if (grants.length === 0) return { text: 'You hold no host access', blocks: [section('You hold no host access. `/access request` asks for some.')] };
  const blocks: Block[] = [header('My hosts')];
  for (const g of grants.slice(0, MAX_BUTTON_ROWS)) {
    blocks.push({
      type: 'section',
      text: mrkdwn(grantLine(g)),
      accessory: { type: 'button', action_id: Actions.accessRevoke, text: plain('Revoke now'), value: g.grantId, confirm: { title: plain('Revoke access?'), text: mrkdwn(`Remove your ${g.role} access on ${g.host} now?`), confirm: plain('Revoke'), deny: plain('Keep') } },
    });
  }
  const rest = grants.slice(MAX_BUTTON_ROWS);
  if (rest.length > 0) blocks.push(...rowsToSections(rest.map(grantLine), 12, 15), context(`${rest.length} more grants listed without buttons; \`/access revoke <grant>\` ends one.`));
  return { text: `${grants.length} grants`, blocks };
}

function applicationsLine(apps: HostApplication[]): string {
  return apps.map((a) => `${code(a.host)} ${STATUS_TEXT[a.status] ?? a.status}${a.error ? ` (${esc(a.error)})` : ''}`).join(' · ');
}

export function requestsMessage(title: string, items: RequestSummary[], people: Record<string, Person> = {}): Message {
  if (items.length === 0) return { text: `${title}: none`, blocks: [section(`*${title}:* none.`)] };
  const rows = items.map(({ request: r, applications }) => {
    const who = people[r.requester] ? `${esc(people[r.requester]!.name)} · ` : '';
    return `*${r.requestId}* ${who}${code(r.role)} ${r.days}d — ${r.approval.state} · ${when(r.createdAt)}\n   ${applicationsLine(applications)}\n   _${esc(r.reason)}_`;
  });
  return { text: `${title}: ${items.length}`, blocks: [header(title), ...rowsToSections(rows, 8)] };
}

export function approvalsMessage({ items, people, me }: RequestList): Message {
  if (items.length === 0) return { text: 'Nothing waits for you', blocks: [section('Nothing waits for your approval.')] };
  const blocks: Block[] = [header('Waiting for my approval')];
  for (const { request } of items.slice(0, MAX_APPROVALS_SHOWN)) {
    const requester = people[request.requester];
    if (!requester) continue;
    const msg = approvalMessage({ request, requester, people, applications: [] }, me);
    blocks.push(divider(), ...msg.blocks.slice(1));
  }
  if (items.length > MAX_APPROVALS_SHOWN) {
    const more = items.slice(MAX_APPROVALS_SHOWN).map(({ request: r }) => `${code(r.requestId)} ${code(r.role)} on ${esc(hostsBrief(r.hosts))}`);
    blocks.push(divider(), section(`*${more.length} more waiting* (decide these first, then look again):\n${more.join('\n')}`));
  }
  return { text: `${items.length} requests wait for you`, blocks };
}

export function hostMessage(h: HostHolders, showAll: boolean): Message {
  const roleRow = (role: AccessRole): string =>
    `*${role}:* ${h.holders[role].length ? h.holders[role].map((x) => `${x.person ? esc(x.person.name) : code(x.personId)} (until ${when(x.grant.expiresAt)})`).join(', ') : '—'}`;
  const events = h.events.map((e: AuditEntry) => `${when(e.at)} ${code(e.action)} by ${esc(e.actor)}`);
  const blocks: Block[] = [header(`Host ${h.host}`), section((['root', 'evans', 'readonly'] as const).map(roleRow).join('\n')), section(`*History${showAll ? '' : ' (last 5)'}:*\n${events.join('\n') || '—'}`)];
  if (h.moreEvents && !showAll) {
    blocks.push({ type: 'actions', elements: [{ type: 'button', action_id: Actions.accessHostHistory, text: plain('Show all history'), value: h.host }] });
  }
  return { text: `Host ${h.host}`, blocks };
}

// ---- modals ---------------------------------------------------------------------------------

export interface RequestModalPrefill {
  hosts?: string[];
  role?: AccessRole;
  days?: number;
  reason?: string;
}

const ROLE_LABELS: Record<AccessRole, string> = { root: 'root (ops only)', evans: 'evans', readonly: 'readonly' };

function option(text: string, value: string): { text: { type: 'plain_text'; text: string; emoji: boolean }; value: string } {
  return { text: plain(text), value };
}

export function requestModal(allowedDays: number[], prefill: RequestModalPrefill = {}): ModalView {
  const roleOptions = (['readonly', 'evans', 'root'] as const).map((r) => option(ROLE_LABELS[r], r));
  const dayOptions = allowedDays.map((d) => option(`${d} day${d === 1 ? '' : 's'}`, String(d)));
  const hostsElement: Record<string, unknown> = { type: 'multi_external_select', action_id: Actions.accessHosts, placeholder: plain('Type a host name'), min_query_length: 0 };
  if (prefill.hosts?.length) hostsElement.initial_options = prefill.hosts.map((h) => option(h, h));
  const roleElement: Record<string, unknown> = { type: 'static_select', action_id: 'role', options: roleOptions };
  if (prefill.role) roleElement.initial_option = roleOptions.find((o) => o.value === prefill.role);
  const daysElement: Record<string, unknown> = { type: 'static_select', action_id: 'days', options: dayOptions };
  const initialDays = dayOptions.find((o) => o.value === String(prefill.days ?? ''));
  if (initialDays) daysElement.initial_option = initialDays;
  return {
    type: 'modal',
    callback_id: Views.accessRequest,
    title: plain('Host access'),
    submit: plain('Request'),
    close: plain('Cancel'),
    blocks: [
      { type: 'input', block_id: AccessModalBlocks.hosts, label: plain('Hosts'), element: hostsElement as never },
      { type: 'input', block_id: AccessModalBlocks.role, label: plain('Role'), element: roleElement as never },
      { type: 'input', block_id: AccessModalBlocks.days, label: plain('Duration'), element: daysElement as never },
      {
        type: 'input',
        block_id: AccessModalBlocks.reason,
        label: plain('Reason'),
        element: { type: 'plain_text_input', action_id: 'reason', multiline: true, max_length: 500, ...(prefill.reason ? { initial_value: prefill.reason } : {}) },
      },
    ],
  };
}

/** What the reject modal carries: which click, and the conversation to answer in. */
export interface RejectModalMeta extends ApprovalButtonValue {
  c: string;
}

export function rejectModal(meta: RejectModalMeta, requestText: string): ModalView {
  return {
    type: 'modal',
    callback_id: Views.accessReject,
    private_metadata: JSON.stringify(meta),
    title: plain('Reject request'),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      section(requestText),
      { type: 'input', block_id: AccessModalBlocks.rejectReason, label: plain('Why? (the requester sees this)'), element: { type: 'plain_text_input', action_id: 'reason', multiline: true, min_length: 1, max_length: 1000 } },
    ],
  };
}

export function hostOptions(hosts: Array<{ name: string; env?: string | null; project?: string | null }>): { options: Array<ReturnType<typeof option>> } {
  return { options: fitOptions(hosts.slice(0, LIMITS.options).map((h) => option(`${h.name}${h.env ? ` · ${h.env}` : ''}${h.project ? ` · ${h.project}` : ''}`, h.name))) };
}

/** The Host access part of the App Home tab. */
export function accessHomeBlocks(summary: { grants: Grant[]; open: RequestList; approvals: RequestList }): Block[] {
  const blocks: Block[] = [];
  blocks.push(section(`*My hosts*\n${summary.grants.length ? summary.grants.map(grantLine).join('\n') : 'none — `/access request` asks for access'}`));
  blocks.push(section(`*My pending requests*\n${summary.open.items.length ? summary.open.items.map(({ request: r }) => `${code(r.requestId)} ${code(r.role)} on ${r.hosts.map(code).join(' ')} — waiting for level ${r.approval.current + 1}`).join('\n') : 'none'}`));
  if (summary.approvals.items.length === 0) blocks.push(section('*Waiting for my approval*\nnothing'));
  else blocks.push(section('*Waiting for my approval*'), ...approvalsMessage(summary.approvals).blocks.slice(1));
  return blocks;
}
