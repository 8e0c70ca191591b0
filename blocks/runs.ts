/**
 * Module runs and jobs in Slack: the channel message while a run goes (hosts done / total,
 * ok / failed / unreachable, elapsed, Term / Kill) and at its end (seed 001's buckets, each
 * host's exit code and duration, why unreachable ones were, the first lines of output for
 * small runs), the DM summary, `/jobs` (module runs and ticket runs side by side) and
 * `/jobs show`. Pure data in, data out.
 */
import type { ModalView } from '@slack/types';
import { Actions, Views } from '../commands/ids.js';
import type { Job, JobHost } from '../src/models/jobs.js';
import type { OutputFileOutcome } from '../src/services/modules/output-file.js';
import type { TicketJob } from '../src/services/tickets/ticket-jobs.js';
import { code, context, esc, header, plain, section, type Block, type Message } from './kit.js';
import { fitView, printable } from './limits.js';

/** Up to this many hosts, the result shows each host's first lines of output. */
export const SMALL_RUN_HOSTS = 10;
const FIRST_LINES = 5;
/** Jobs listed by `/jobs` (three blocks each, within a message's 50). */
export const LISTED_JOBS = 15;

/** A job button's value: `{"j":"J-…"}` (checked with zod on the way back in). */
export interface JobButtonValue {
  j: string;
}
const btn = (actionId: string, text: string, jobId: string, style?: 'primary' | 'danger') => ({
  type: 'button' as const,
  action_id: actionId,
  text: plain(text),
  value: JSON.stringify({ j: jobId } satisfies JobButtonValue),
  ...(style ? { style } : {}),
});

/** Show / Term / Kill for a job: a module run's `J-…` or a ticket run's `TK-…`. */
export const jobControls = (jobId: string, show = true): Block => ({
  type: 'actions',
  block_id: `job:${jobId}`,
  elements: [...(show ? [btn(Actions.jobShow, 'Show', jobId)] : []), btn(Actions.jobTerm, 'Term', jobId), btn(Actions.jobKill, 'Kill', jobId, 'danger')] as never,
});
const controls = (j: Job, show = true): Block => jobControls(j.jobId, show);

/** A duration as people read it: `1.2 s`, `42 s`. */
export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function finishedCount(j: Job): number {
  return j.counts.ok + j.counts.failed + j.counts.unreachable + (j.counts.cancelled ?? 0);
}

export function title(j: Job): string {
  return `${j.module.name} on ${j.hosts.length} host${j.hosts.length === 1 ? '' : 's'}`;
}

function countsLine(j: Job): string {
  const cancelled = j.counts.cancelled ? ` · :heavy_minus_sign: ${j.counts.cancelled} cancelled` : '';
  return `:white_check_mark: ${j.counts.ok} ok · :x: ${j.counts.failed} failed · :electric_plug: ${j.counts.unreachable} unreachable${cancelled}`;
}

const STATE_LEAD: Record<Job['state'], string> = {
  'awaiting-approval': ':lock: awaiting approval',
  running: ':hourglass_flowing_sand: running',
  done: ':checkered_flag: done',
  lost: ':ghost: lost',
  rejected: ':no_entry: rejected',
  cancelled: ':heavy_minus_sign: cancelled',
};

/** How long the job ran, or has run so far. */
const elapsed = (j: Job, nowMs: number): string => seconds((j.endedAt ? j.endedAt.getTime() : nowMs) - j.startedAt.getTime());

export function lead(j: Job, nowMs: number): string {
  const state = STATE_LEAD[j.state];
  return `${state} · ${finishedCount(j)} / ${j.hosts.length} hosts done · ${countsLine(j)} · ${elapsed(j, nowMs)} elapsed\n<@${j.startedBySlack ?? j.startedBy}> · target ${code(j.target.filter)} · \`${j.jobId}\``;
}

function hostLine(h: JobHost): string {
  const parts = [`*${esc(h.name)}*`];
  if (h.state === 'unreachable') parts.push(`unreachable (${h.why ?? 'connect'})`);
  else if (h.state === 'lost') parts.push('lost with its instance');
  else if (h.state === 'cancelled') parts.push(`cancelled (${h.error ?? 'opsgate stopped'})`);
  else if (h.state === 'pending') parts.push('running');
  else parts.push(h.signal ? `signal ${h.signal}` : `exit ${h.code ?? '-'}`);
  if (h.durationMs !== null && h.durationMs !== undefined && h.state !== 'pending') parts.push(seconds(h.durationMs));
  if (h.outputCut) parts.push('output cut');
  return parts.join(' · ');
}

function firstLines(h: JobHost, max = 400): string {
  const text = printable([h.stdoutTail, h.stderrTail].filter(Boolean).join('\n')).replace(/```/g, "'''");
  const lines = text.split('\n').slice(0, FIRST_LINES).join('\n');
  return lines.length > max ? lines.slice(0, max - 1) + '…' : lines;
}

const BUCKETS: Array<[JobHost['state'], string]> = [
  ['ok', 'host_ok'],
  ['failed', 'host_failed'],
  ['unreachable', 'host_unreachable'],
  ['lost', 'lost'],
  ['cancelled', 'cancelled'],
];

/** The buckets with each host; first lines of output for small runs. */
function bucketBlocks(j: Job): Block[] {
  const out: Block[] = [];
  const small = j.hosts.length <= SMALL_RUN_HOSTS;
  for (const [state, label] of BUCKETS) {
    const hosts = j.hosts.filter((h) => h.state === state);
    if (hosts.length === 0) continue;
    if (small) {
      // One section per host: ten hosts' first lines would not fit one section's 3,000 characters.
      out.push(section(`*${label}* (${hosts.length})`));
      for (const h of hosts) {
        const lines = state === 'unreachable' ? esc(h.error ?? '') : esc(firstLines(h));
        out.push(section(`${hostLine(h)}${lines ? `\n\`\`\`${lines}\`\`\`` : ''}`));
      }
    } else {
      const shown = hosts.slice(0, 40).map(hostLine);
      out.push(section(`*${label}* (${hosts.length})\n${shown.join('\n')}${hosts.length > shown.length ? `\n… and ${hosts.length - shown.length} more` : ''}`));
    }
  }
  return out;
}

/**
 * The final message's way into the per-host view (the modal, with each host's output file);
 * large runs also get every host's output in one file.
 */
function perHostButton(j: Job): Block {
  const large = j.hosts.length > SMALL_RUN_HOSTS;
  const elements = [btn(Actions.jobHosts, large ? 'Per-host view and output files' : 'Per-host view', j.jobId, 'primary'), ...(large ? [btn(Actions.jobOutputAll, 'Whole output as a file', j.jobId)] : [])];
  return { type: 'actions', block_id: `job_hosts:${j.jobId}`, elements } as never;
}

/** The channel message while the run goes, and (final) at its end. */
export function runChannelMessage(j: Job, nowMs: number): Message {
  const blocks: Block[] = [header(title(j)), section(lead(j, nowMs))];
  if (j.state === 'running') blocks.push(controls(j));
  else {
    blocks.push(...bucketBlocks(j));
    if (j.note) blocks.push(context(esc(j.note)));
    if (j.hosts.length > SMALL_RUN_HOSTS) blocks.push(context(`Per-host state and output tails: \`/jobs show ${j.jobId}\`; a host's whole output as a file: \`/jobs output ${j.jobId} <host>\`, every host's: \`/jobs output ${j.jobId}\``));
    blocks.push(perHostButton(j));
  }
  return { text: `${title(j)}: ${j.state}, ${finishedCount(j)}/${j.hosts.length} done, ${j.counts.ok} ok, ${j.counts.failed} failed, ${j.counts.unreachable} unreachable`, blocks };
}

/** The summary the person who ran it gets by DM. */
export function runSummaryMessage(j: Job, nowMs: number): Message {
  return { text: `Your run ${j.jobId} (${j.module.name}) ended: ${j.counts.ok} ok, ${j.counts.failed} failed, ${j.counts.unreachable} unreachable${j.counts.cancelled ? `, ${j.counts.cancelled} cancelled` : ''}`, blocks: [header(`Your run: ${title(j)}`), section(lead(j, nowMs)), ...bucketBlocks(j), ...(j.note ? [context(esc(j.note))] : []), perHostButton(j)] };
}

export function runStartedMessage(j: Job): Message {
  if (j.state === 'awaiting-approval') {
    const level = j.approval?.levels[j.approval.current];
    return { text: `${j.jobId} waits for approval`, blocks: [section(`:lock: \`${j.jobId}\`: ${esc(title(j))} (${j.target.envs.join(', ')}) waits for approval${level ? ` (level ${level.level} of ${j.approval!.levels.length}: ${esc(level.label)})` : ''}; nothing runs until it is approved. You are told of each decision by DM.`)] };
  }
  const where = j.channel ? `; progress in ${j.channel}` : '';
  return { text: `Started ${j.jobId}`, blocks: [section(`:arrow_forward: Started \`${j.jobId}\`: ${esc(title(j))} (${j.target.envs.join(', ')})${esc(where)}. The summary comes by DM.`), controls(j)] };
}

/** A ticket run in the list: what (template, env, task), who, where (config center), since, instance. */
export function ticketJobLine(t: TicketJob, nowMs: number): string {
  const k = t.ticket;
  return `*${esc(k.template.name)}* (${esc(k.env)}) · ticket · ${t.phase}-task\n:hourglass_flowing_sand: running · <@${t.startedBySlack ?? t.startedBy}> · on ${code(k.template.configCenter)} · since ${seconds(nowMs - t.since.getTime())} · instance ${code(k.instanceId ?? 'unknown')} · \`${k.ticketId}\``;
}

/** `/jobs`: running jobs of every instance, module runs and ticket runs by start time, with Show / Term / Kill. */
export function jobListMessage(jobs: Job[], nowMs: number, tickets: TicketJob[] = []): Message {
  const total = jobs.length + tickets.length;
  if (total === 0) return { text: 'No running jobs', blocks: [section('No module run and no ticket task is running.')] };
  const entries = [
    ...jobs.map((j) => ({ at: j.startedAt.getTime(), blocks: [section(`*${esc(title(j))}*\n${lead(j, nowMs)}`), controls(j)] })),
    ...tickets.map((t) => ({ at: t.since.getTime(), blocks: [section(ticketJobLine(t, nowMs)), jobControls(t.ticket.ticketId)] })),
  ].sort((a, b) => a.at - b.at);
  const blocks: Block[] = [header(`Running jobs (${total})`)];
  for (const e of entries.slice(0, LISTED_JOBS)) blocks.push(...e.blocks);
  if (total > LISTED_JOBS) blocks.push(context(`… and ${total - LISTED_JOBS} more`));
  return { text: `${total} running jobs`, blocks };
}

/** A run's approval levels, as `/jobs show` lists them. */
function approvalLine(j: Job): string {
  if (!j.approval) return '';
  const levels = j.approval.levels.map((l) => `${l.level} ${esc(l.label)}: ${l.decision ? `${l.decision} by ${esc(l.decidedBy ?? '?')}${l.note ? ` (“${esc(l.note)}”)` : ''}` : l.level - 1 === j.approval!.current && j.approval!.state === 'pending' ? 'waiting' : 'not yet'}`);
  return `\n*Approval* ${levels.join(' · ')}`;
}

/** `/jobs show` (find_job): params, per-host state, output tails, signals. */
export function jobShowMessage(j: Job, nowMs: number): Message {
  const params = Object.entries((j.params ?? {}) as Record<string, unknown>).map(([k, v]) => `${esc(k)}=${code(String(v))}`);
  const signals = j.signals.map((s) => `${s.signal} by ${esc(s.by)} ${s.appliedAt ? `→ ${s.hosts.length} host(s)` : '(not applied yet)'}`);
  const blocks: Block[] = [
    header(title(j)),
    section(lead(j, nowMs)),
    section(`*Command* ${code(j.module.command)}${params.length ? `\n*Params* ${params.join(' ')}` : ''}${signals.length ? `\n*Signals* ${signals.join('; ')}` : ''}${approvalLine(j)}${j.note ? `\n${esc(j.note)}` : ''}`),
  ];
  const hosts = j.hosts.slice(0, 30);
  for (const h of hosts) {
    const out = firstLines(h, 600);
    blocks.push(section(`${hostLine(h)}${h.state === 'unreachable' ? `\n${esc(h.error ?? '')}` : out ? `\n\`\`\`${esc(out)}\`\`\`` : ''}`));
  }
  if (j.hosts.length > hosts.length) blocks.push(context(`… and ${j.hosts.length - hosts.length} more hosts`));
  if (j.state === 'running') blocks.push(controls(j, false));
  return { text: `Job ${j.jobId}: ${j.state}`, blocks };
}

export function signalledMessage(j: Job, signal: string): Message {
  if (j.state === 'cancelled' && j.approval?.state === 'cancelled') {
    return { text: `${j.jobId} withdrawn`, blocks: [section(`:heavy_minus_sign: \`${j.jobId}\` (${esc(j.module.name)}) was waiting for approval and is withdrawn; nothing ran.`)] };
  }
  const last = j.signals.at(-1);
  const applied = last?.appliedAt ? `sent to ${last.hosts.length} host(s) still running` : 'recorded; the instance running it applies it at its next heartbeat';
  return { text: `${signal} for ${j.jobId}`, blocks: [section(`:octagonal_sign: SIG${esc(signal)} for \`${j.jobId}\` (${esc(j.module.name)}): ${applied}.`)] };
}

export function outputFileMessage(o: OutputFileOutcome): Message {
  const text =
    o.kind === 'empty'
      ? `${o.host ?? 'No host'} printed nothing in ${o.jobId}; no file sent.`
      : `:page_facing_up: ${o.filename} (${o.bytes} bytes${o.hosts ? `, ${o.hosts} hosts` : ''}) is in your DM.`;
  return { text, blocks: [section(esc(text))] };
}

/** Hosts on one page of the per-host view (each a section with its first lines and a File button). */
export const HOSTS_PAGE = 10;

/** A per-host view button's value: which job, which page or which host (checked with zod on the way back). */
export interface JobHostsValue {
  j: string;
  p?: number;
  h?: string;
}

/**
 * The per-host view of a job (a modal, paged by HOSTS_PAGE hosts): each host's bucket, exit
 * code, duration and first lines of output, with a button sending its whole output as a file
 * (the `/jobs output` path: the way to read a large run); Previous / Next redraw it in place.
 */
export function jobHostsModal(j: Job, page: number): ModalView {
  const order = new Map(BUCKETS.map(([state], i) => [state, i]));
  const hosts = [...j.hosts].sort((a, b) => (order.get(a.state) ?? 9) - (order.get(b.state) ?? 9) || a.name.localeCompare(b.name));
  const pages = Math.max(1, Math.ceil(hosts.length / HOSTS_PAGE));
  const p = Math.min(Math.max(0, page), pages - 1);
  const label = new Map(BUCKETS);
  const blocks: Block[] = [section(lead(j, j.endedAt?.getTime() ?? j.startedAt.getTime()))];
  for (const h of hosts.slice(p * HOSTS_PAGE, (p + 1) * HOSTS_PAGE)) {
    const lines = h.state === 'unreachable' ? esc(h.error ?? '') : esc(firstLines(h));
    blocks.push({
      ...section(`\`${label.get(h.state) ?? h.state}\` ${hostLine(h)}${lines ? `\n\`\`\`${lines}\`\`\`` : ''}`),
      accessory: { type: 'button', action_id: Actions.jobHostFile, text: plain('Output file'), value: JSON.stringify({ j: j.jobId, h: h.name } satisfies JobHostsValue) },
    } as Block);
  }
  const nav = [
    ...(p > 0 ? [{ type: 'button', action_id: `${Actions.jobHostsPage}:prev`, text: plain('Previous'), value: JSON.stringify({ j: j.jobId, p: p - 1 } satisfies JobHostsValue) }] : []),
    ...(p < pages - 1 ? [{ type: 'button', action_id: `${Actions.jobHostsPage}:next`, text: plain('Next'), value: JSON.stringify({ j: j.jobId, p: p + 1 } satisfies JobHostsValue) }] : []),
  ];
  blocks.push(context(`Hosts ${hosts.length === 0 ? 0 : p * HOSTS_PAGE + 1}–${Math.min(hosts.length, (p + 1) * HOSTS_PAGE)} of ${hosts.length} · page ${p + 1} / ${pages}`));
  if (nav.length > 0) blocks.push({ type: 'actions', block_id: 'job_hosts_nav', elements: nav } as never);
  return fitView({
    type: 'modal',
    callback_id: Views.jobHosts,
    title: plain(`${j.jobId} hosts`),
    close: plain('Close'),
    private_metadata: JSON.stringify({ j: j.jobId }),
    blocks: blocks as never,
  });
}

function homeRow(j: Job, nowMs: number): string {
  const state = j.state === 'running' ? `${finishedCount(j)} / ${j.hosts.length} done` : j.state;
  return `\`${j.jobId}\` *${esc(j.module.name)}* · ${state} · ${j.counts.ok} ok, ${j.counts.failed} failed, ${j.counts.unreachable} unreachable · ${elapsed(j, nowMs)}`;
}

/** The Module runs part of the App Home tab: running jobs the person may see, and their latest runs. */
export function runsHomeBlocks(summary: { running: Job[]; recent: Job[] }, nowMs: number): Block[] {
  return [
    section(`*Running now*\n${summary.running.length ? summary.running.map((j) => homeRow(j, nowMs)).join('\n') + '\n`/jobs` has Term / Kill' : 'nothing'}`),
    section(`*My latest runs*\n${summary.recent.length ? summary.recent.map((j) => homeRow(j, nowMs)).join('\n') + '\n`/jobs show <id>` for hosts and output' : 'none — `/run` starts one'}`),
  ];
}
