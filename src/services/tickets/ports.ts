/**
 * What the ticket services need from outside, as interfaces: the config center that runs the
 * tasks, the store for the full log, and telling people. Implementations: the config center
 * over the execution engine (src/adapters/tickets/), the chunked log store (log-store.ts), the
 * Slack/mail notifier (notify/ticket-notifier.ts). Tests hand in their own.
 */
import type { HostResult, SignalName } from '../../adapters/exec/types.js';
import type { ApprovalLevel, MessageRef } from '../../models/approval.js';
import type { Person } from '../../models/person.js';
import type { ChannelMessageRef, Ticket } from '../../models/tickets.js';

/** The full log of a ticket, appended as it comes. Text handed in is already redacted. */
export interface TicketLogSink {
  append(ticketId: string, stream: 'stdout' | 'stderr' | 'system', text: string): Promise<void>;
  close(ticketId: string): Promise<void>;
  tail(ticketId: string, maxChars: number): Promise<string>;
}

export interface CenterRunOptions {
  timeoutMs: number;
  /** Values hidden in everything the run exposes (the template's secrets). */
  secrets: string[];
  startedBy: string;
  /**
   * A tag the task and all it starts carry in their environment (OPSGATE_RUN), so that its
   * processes can be found and stopped after the bot that started them died (stopTagged).
   */
  tag?: string;
  /** Output as it arrives, already redacted; the run waits while a returned promise is pending. */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void | Promise<void>;
}

/** A task running on a config center. */
export interface CenterRun {
  jobId: string;
  /** Never rejects: a failure is a result (redacted output, exit code, error). */
  done: Promise<HostResult>;
}

/** `local` (the bot's machine) or a host of the inventory, where ticket tasks run. */
export interface ConfigCenterRunner {
  /** Starts a script; throws AppError 1100 when the center cannot be used (unknown, disabled). */
  start(center: string, script: string, opts: CenterRunOptions): Promise<CenterRun>;
  /**
   * Stops (TERM, then KILL after `graceMs`) every process on the center still carrying `tag`:
   * the leftovers of a run whose bot died. Resolves with how many there were; null when the
   * center cannot tell (no /proc); rejects when the center cannot be reached.
   */
  stopTagged(center: string, tag: string, graceMs: number): Promise<number | null>;
  /**
   * Sends a signal (TERM, KILL, HUP, …) to the job's process group. True when it was sent;
   * false (nothing sent) when the job has finished.
   */
  signal(jobId: string, signal: SignalName): boolean;
}

/** A ticket with the people it names, for messages. */
export interface TicketDetails {
  ticket: Ticket;
  submitter: Person;
  /** Everyone named in the flow (approvers and deciders), by personId. */
  people: Record<string, Person>;
}

/**
 * The events people hear of. Every text in `details` is already redacted (commands masked,
 * output redacted by the engine); implementations render it, they never see a secret.
 */
export interface TicketNotifier {
  /** DMs (with Approve / Reject) and mails each approver of the level now waiting. */
  approvalNeeded(details: TicketDetails, level: ApprovalLevel, approvers: Person[]): Promise<MessageRef[]>;
  /**
   * Rewrites every approval DM of the ticket as it stands now (no message to the submitter):
   * for copies whose place was stored after a decision had already rewritten the others.
   */
  refreshApprovals(details: TicketDetails): Promise<void>;
  /** A level was decided (or an approval changed to a rejection): update the DMs, tell the submitter. */
  decided(details: TicketDetails, level: ApprovalLevel): Promise<void>;
  /**
   * The main task started: posts the channel message that progress updates in place. Returns
   * where it landed (stored on the ticket, so any instance can update it), or null.
   */
  started(details: TicketDetails): Promise<ChannelMessageRef | null>;
  /**
   * New output while it runs: the last part of the redacted output. The executor calls it at
   * most every `progressEveryMs`, only when the output changed; `details.ticket.channelMessage`
   * says which message to update.
   */
  progress(details: TicketDetails, tail: string): Promise<void>;
  /**
   * The ticket ended (succeeded, failed, rejected at pre-task, revoked, interrupted): the stored
   * channel message is updated in place, the submitter gets a DM and a mail.
   */
  finished(details: TicketDetails, tail: string): Promise<void>;
}
