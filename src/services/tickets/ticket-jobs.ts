/**
 * Ticket runs as jobs for `/jobs` (seed 000's running / find_job / signal_job): a ticket whose
 * pre-task or run (main, then post) is in progress, on any bot instance.
 *
 * Who sees one follows the ticket rule (visibility.ts). Who may signal one is who started the
 * task running now — whoever pressed Run; the submitter for the pre-task and for automatic and
 * scheduled runs, which the scheduler starts in the submitter's stead — and global admins. A
 * signal is stored on the ticket (its history and audit entry in the same change) naming the
 * task then running, and sent by the instance running it (TicketExecutor.applySignals): at once
 * when that is this instance, else at its next heartbeat.
 */
import { normalizeSignal } from '../../adapters/exec/signals.js';
import type { Clock } from '../../clock.js';
import { badParameter, needPermission } from '../../errors.js';
import type { Person } from '../../models/person.js';
import type { SignalRequest } from '../../models/signal-request.js';
import type { Ticket, TicketModel } from '../../models/tickets.js';
import type { DirectoryService } from '../directory/directory.js';
import { newSignalRequest } from '../jobs/signal-requests.js';
import { GLOBAL, type RbacService } from '../rbac.js';
import type { TicketExecutor } from './executor.js';
import type { TicketDetails, TicketLogSink } from './ports.js';
import type { TicketRecords } from './records.js';
import { maskedSecrets } from './values.js';
import { ticketViewer } from './visibility.js';

export type TicketPhase = 'pre' | 'main' | 'post';

/** A ticket with a task in progress, as `/jobs` lists it. */
export interface TicketJob {
  ticket: Ticket;
  phase: TicketPhase;
  /** personId (and Slack id) of who started the task running now. */
  startedBy: string;
  startedBySlack: string | null;
  since: Date;
}

/** `/jobs show <ticketId>`: the ticket (commands masked as stored), its people and the log's tail. */
export interface TicketJobDetails extends TicketJob {
  running: boolean;
  /** The submitted values and the template's secrets, each secret as the mask (as the stored commands carry them). */
  params: Record<string, string | string[]>;
  people: Record<string, Person>;
  tail: string;
}

export interface TicketJobsDeps {
  model: TicketModel;
  records: TicketRecords;
  executor: Pick<TicketExecutor, 'holds' | 'applySignals'>;
  log: Pick<TicketLogSink, 'tail'>;
  directory: DirectoryService;
  rbac: RbacService;
  clock: Clock;
  /** The ticket rule for one ticket (TicketService.viewable): 1201 / 1202 for anyone else. */
  viewable: (slackUserId: string, ticketId: string) => Promise<TicketDetails>;
}

/** Tickets listed at most; the message shows fewer. */
const LIST_LIMIT = 100;
const TAIL_CHARS = 2500;

/** A task is in progress: any run, and the pre-task of a template that has one. */
export function hasRunningTask(t: Ticket): boolean {
  return t.state === 'running' || (t.state === 'pre' && Boolean(t.template.templates.pre));
}

/** The task in progress: `pre` before approval, then main until its result is in, then post; of a ticket not running, the last one run. */
export function phaseOf(t: Ticket): TicketPhase {
  if (t.state === 'pre') return 'pre';
  if (t.state === 'running') return t.phases.some((p) => p.phase === 'main') ? 'post' : 'main';
  return t.phases.at(-1)?.phase ?? 'main';
}

/** Who started the task running now: whoever pressed Run; the submitter for the pre-task and the runs the scheduler starts. */
export function starterOf(t: Ticket): string {
  if (t.state === 'pre' || !t.startedBy || t.startedBy.startsWith('system:')) return t.submitter;
  return t.startedBy;
}

function sinceOf(t: Ticket): Date {
  return (t.state === 'pre' ? t.createdAt : t.startedAt) ?? t.updatedAt;
}

/** Why a ticket cannot be signalled now, in its words. */
function notRunning(t: Ticket): Error {
  const why =
    t.state === 'approved'
      ? t.queued
        ? `it is approved and queued to run${t.runAt ? ` at ${t.runAt.toISOString()}` : ''}; /ticket revoke stops it before it runs`
        : 'it is approved and waits for its Run; /ticket revoke withdraws it'
      : t.state === 'waiting'
        ? `it waits for approval (level ${t.approval.current + 1}); /ticket revoke withdraws it`
        : t.state === 'pre'
          ? 'its pre-task has not started'
          : `it has already ended (${t.state})`;
  return badParameter(`ticket ${t.ticketId} is not running a task: ${why}`, { ticketId: t.ticketId, state: t.state });
}

export class TicketJobs {
  constructor(private readonly deps: TicketJobsDeps) {}

  private async asJobs(tickets: Ticket[]): Promise<TicketJob[]> {
    const ids = [...new Set(tickets.map(starterOf))];
    const slack = new Map((await this.deps.directory.byPersonIds(ids)).map((p) => [p.personId, p.slackId ?? null]));
    return tickets.map((t) => ({ ticket: t, phase: phaseOf(t), startedBy: starterOf(t), startedBySlack: slack.get(starterOf(t)) ?? null, since: sinceOf(t) }));
  }

  /** Tickets with a task in progress on any instance that the asker may see, oldest first. */
  async running(slackUserId: string): Promise<TicketJob[]> {
    const me = await this.deps.directory.requireBySlackUser(slackUserId);
    const sees = await ticketViewer(this.deps.rbac, me);
    const found = await this.deps.model
      .find({ $or: [{ state: 'running' }, { state: 'pre', 'template.templates.pre': { $nin: ['', null] } }] })
      .sort({ createdAt: 1 })
      .limit(500)
      .lean<Ticket[]>();
    const shown: Ticket[] = [];
    for (const t of found) {
      if (shown.length === LIST_LIMIT) break;
      if (hasRunningTask(t) && (await sees(t))) shown.push(t);
    }
    return this.asJobs(shown);
  }

  /** One ticket as a job (find_job), running or not, for someone the ticket rule lets see it. */
  async find(slackUserId: string, ticketId: string): Promise<TicketJobDetails> {
    const d = await this.deps.viewable(slackUserId, ticketId);
    const [job] = await this.asJobs([d.ticket]);
    const tail = await this.deps.log.tail(ticketId, TAIL_CHARS).catch(() => '');
    const params = { ...d.ticket.values, ...maskedSecrets(d.ticket.template.secretNames) };
    return { ...job!, running: hasRunningTask(d.ticket), params, people: d.people, tail };
  }

  /**
   * signal_job for a ticket: stored on it with a history entry and an audit entry, naming the
   * task running now; sent at once when this instance runs that task. Returns the ticket as a
   * job and the request as it stands after (applied or not yet).
   */
  async signal(slackUserId: string, ticketId: string, name: string): Promise<{ job: TicketJob; request: SignalRequest }> {
    const { directory, records, rbac, clock, executor } = this.deps;
    const me = await directory.requireBySlackUser(slackUserId);
    const signal = normalizeSignal(name);
    for (let attempt = 0; ; attempt++) {
      const t = await records.get(ticketId);
      const starter = starterOf(t);
      if (starter !== me.personId && !(await rbac.can(me, 'admin', GLOBAL))) {
        throw needPermission(`only who started the task of ${ticketId} (${starter}) or an admin may signal it`, { ticketId });
      }
      if (!hasRunningTask(t)) throw notRunning(t);
      const request = { ...newSignalRequest(signal, me.personId, clock.now()), task: t.runTag };
      // Expecting the task read above: a request is never filed against a task that ended meanwhile.
      const filed = await records.transition(
        ticketId,
        { state: t.state, runTag: t.runTag },
        { push: { signals: request }, by: me.personId, action: 'signal', note: `SIG${signal} asked for by ${me.personId} (/jobs) for the ${phaseOf(t)}-task` },
      );
      if (!filed) {
        if (attempt < 3) continue;
        throw notRunning(await records.get(ticketId));
      }
      if (executor.holds(ticketId)) await executor.applySignals(filed);
      const now = await records.get(ticketId);
      const [job] = await this.asJobs([now]);
      return { job: job!, request: now.signals?.find((r) => r.requestId === request.requestId) ?? (request as SignalRequest) };
    }
  }
}
