/**
 * Ticket runs as `/jobs` shows them: `/jobs show <ticketId>` (find_job: params with the secrets
 * masked, the task in progress and its command as stored, masked; center, instance and
 * heartbeat, signals, the log's tail) and the answer to a signal. The list's line is in
 * runs.ts beside the module runs'. Pure data in, data out.
 */
import type { SignalRequest } from '../src/models/signal-request.js';
import type { TicketJob, TicketJobDetails } from '../src/services/tickets/ticket-jobs.js';
import { code, context, esc, header, section, type Block, type Message } from './kit.js';
import { jobControls, seconds } from './runs.js';
import { commandBlock, namedValuesText, outputBlock, stateText } from './tickets.js';

function signalLine(s: SignalRequest): string {
  const where = s.appliedAt ? (s.hosts.length ? `sent to ${s.hosts.map(esc).join(', ')}` : 'not sent (its task had ended)') : 'not applied yet';
  return `SIG${esc(s.signal)} by ${esc(s.by)} · ${where}`;
}

/** `/jobs show <ticketId>`. */
export function ticketJobShowMessage(d: TicketJobDetails, nowMs: number): Message {
  const t = d.ticket;
  const who = `<@${d.startedBySlack ?? d.startedBy}>`;
  const lead = d.running ? `:hourglass_flowing_sand: running · ${d.phase}-task · since ${seconds(nowMs - d.since.getTime())}` : stateText(t);
  const beat = t.heartbeatAt ? `heartbeat ${seconds(Math.max(0, nowMs - new Date(t.heartbeatAt).getTime()))} ago` : 'no heartbeat';
  const blocks: Block[] = [
    header(`Ticket ${t.ticketId}: ${t.template.name} (${t.env})`),
    section(`${lead}\n${who} · on ${code(t.template.configCenter)} · instance ${code(t.instanceId ?? 'unknown')} · ${beat}`),
    section(`*Params:*\n${namedValuesText(d.params, '_none_')}`),
    section(commandBlock(`${d.phase[0]!.toUpperCase()}${d.phase.slice(1)}-task`, t.template.commands[d.phase] || ' ')),
  ];
  const signals = t.signals ?? [];
  if (signals.length) blocks.push(section(`*Signals:*\n${signals.slice(-10).map(signalLine).join('\n')}`));
  blocks.push(section(`*Log (tail):*\n${outputBlock(d.tail, 2400)}`));
  if (d.running) blocks.push(jobControls(t.ticketId, false));
  else blocks.push(context(`Not running: \`/ticket show ${t.ticketId}\` has its history and full log.`));
  return { text: `Ticket ${t.ticketId}: ${d.running ? `running (${d.phase}-task)` : t.state}`, blocks };
}

/** The answer to `/jobs signal|term|kill <ticketId>` and the Term / Kill buttons. */
export function ticketSignalledMessage(job: TicketJob, request: SignalRequest): Message {
  const t = job.ticket;
  const what = request.appliedAt
    ? request.hosts.length
      ? `sent to the ${job.phase}-task's process group on ${code(t.template.configCenter)}`
      : 'not sent: the task it was asked for had ended'
    : `recorded; the instance running it (${code(t.instanceId ?? 'unknown')}) sends it at its next heartbeat`;
  return { text: `SIG${request.signal} for ${t.ticketId}`, blocks: [section(`:octagonal_sign: SIG${esc(request.signal)} for \`${t.ticketId}\` (${esc(t.template.name)}, ${esc(t.env)}): ${what}.`)] };
}
