/**
 * What people see of a run, through the real Slack notifier (fake Slack Web API on loopback)
 * and the real mail queue (SMTP on loopback): the channel message updated in place with the
 * last lines while the task runs, never more often than the setting, secrets masked; its place
 * stored on the ticket so another instance (a fresh notifier) updates the same message; the
 * submitter's mail at the end. Waits are on Slack calls and notifier events, never on time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticketNotifier } from '../../notify/ticket-notifier.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { smtpTransport } from '../../src/adapters/mail-transport.js';
import { createLogger } from '../../src/logger.js';
import { mailModel } from '../../src/models/mail.js';
import type { Ticket } from '../../src/models/tickets.js';
import { MailService } from '../../src/services/mail.js';
import type { ApprovalLevel } from '../../src/models/approval.js';
import type { Person } from '../../src/models/person.js';
import type { TicketDetails, TicketNotifier } from '../../src/services/tickets/ports.js';
import { wireTickets } from '../../src/wire-tickets.js';
import { FakeSlack, type RecordedCall } from '../helpers/fake-slack.js';
import { localPs, untilGone, untilSeen } from '../helpers/processes.js';
import { testMessenger } from '../helpers/outbox.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import { RecordingNotifier, startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

const SECRET = 'pr0gress-s3cret-value-19';
/** The setting under test: least time between two writes of a running ticket's channel message. */
const EVERY_MS = 400;
const CHANNEL = '#progress';
// A sleep of its own, so ps sees only this file's process.
const SLEEP = 60_000 + randomInt(0, 20_000) * 2;
const logger = createLogger('silent');

/** Forwards to the real notifier and records each event once it has been handled. */
class Observed extends RecordingNotifier {
  /** Runs between the approval DMs being posted and their places being handed back (a click in that gap). */
  beforeRefsReturned: ((d: TicketDetails) => Promise<void>) | null = null;
  constructor(private readonly inner: TicketNotifier) {
    super();
  }
  override async approvalNeeded(d: TicketDetails, level: ApprovalLevel, approvers: Person[]) {
    const refs = await this.inner.approvalNeeded(d, level, approvers);
    await this.beforeRefsReturned?.(d);
    await super.approvalNeeded(d, level, approvers);
    return refs;
  }
  override async refreshApprovals(d: TicketDetails) {
    await this.inner.refreshApprovals(d);
    await super.refreshApprovals(d);
  }
  override async decided(d: TicketDetails, level: ApprovalLevel) {
    await this.inner.decided(d, level);
    await super.decided(d, level);
  }
  override async started(d: TicketDetails) {
    const ref = await this.inner.started(d);
    await super.started(d);
    return ref;
  }
  override async progress(d: TicketDetails, tail: string) {
    await this.inner.progress(d, tail);
    await super.progress(d, tail);
  }
  override async finished(d: TicketDetails, tail: string) {
    await this.inner.finished(d, tail);
    await super.finished(d, tail);
  }
}

let fake: FakeSlack;
let smtp: TestSmtpServer;
let mail: MailService;
let observed: Observed;
let env: TicketsEnv;

beforeAll(async () => {
  fake = await new FakeSlack().start();
  smtp = await TestSmtpServer.start();
  env = await startTicketsEnv({
    env: { OPSGATE_PROGRESS_TOKEN: SECRET },
    executor: { progressEveryMs: EVERY_MS },
    notifier: ({ conn, audit, clock }) => {
      mail = new MailService({ model: mailModel(conn), transport: smtpTransport(smtp.url), audit, clock, logger, kick: async () => undefined });
      return (observed = new Observed(ticketNotifier({ slack: testMessenger(conn, fake.url, logger, clock), mail, logger })));
    },
    tickets: () => [
      {
        name: 'chatty',
        env: 'STAGE',
        channel: CHANNEL,
        secrets: { Token: { env: 'OPSGATE_PROGRESS_TOKEN' } },
        options: [{ name: 'Go', label: 'Go file', text: { maxLength: 300 } }],
        // Prints a line every 0.1 s until the test creates the go file (at most a minute).
        main: 'i=0; while [ ! -e "{Go}" ] && [ $i -lt 600 ]; do i=$(expr $i + 1); echo "line $i token={Token}"; sleep 0.1; done; echo "stopped looping"',
      },
      { name: 'gated', env: 'STAGE', main: 'echo gated', approval: [{ label: 'lead', approvers: { people: ['alice'] } }] },
      { name: 'dying', env: 'STAGE', channel: CHANNEL, main: `echo "begin {sk__task_name_created}"; sleep ${SLEEP}; echo never`, lock: true },
    ],
  });
}, 60_000);
afterAll(async () => {
  await env?.stop();
  await smtp?.stop();
  await fake?.stop();
});

const text = (c: RecordedCall): string => JSON.stringify(c.args);
const ticket = async (id: string): Promise<Ticket> => env.wiring.records.get(id);
const after = (mark: number) => (c: RecordedCall) => fake.calls.indexOf(c) >= mark;
/** The highest "line N" a message shows. */
const lastLine = (c: RecordedCall): number => Math.max(0, ...[...text(c).matchAll(/line (\d+) token/g)].map((m) => Number(m[1])));

describe('the channel message while a ticket runs', () => {
  it('is updated in place with the growing last lines, at most every progressEveryMs, secrets masked; the result lands in the same message; the submitter gets a mail', async () => {
    const go = path.join(env.dir, 'go-chatty');
    const mark = fake.calls.length;
    const d = await env.wiring.tickets.submit('UBOB', { template: 'chatty', env: 'STAGE', values: { Go: go } });
    const id = d.ticket.ticketId;
    const isUpdate = (c: RecordedCall) => after(mark)(c) && c.args.channel === CHANNEL && text(c).includes(id);
    const first = await fake.waitFor('chat.update', (c) => isUpdate(c) && lastLine(c) > 0, 20_000);
    await fake.waitFor('chat.update', (c) => isUpdate(c) && lastLine(c) > lastLine(first), 20_000);
    fs.writeFileSync(go, '');
    const final = await fake.waitFor('chat.update', (c) => isUpdate(c) && text(c).includes('succeeded'), 20_000);

    const ref = (await ticket(id)).channelMessage;
    expect(ref).toMatchObject({ channel: CHANNEL, ts: expect.any(String) });
    const mine = fake.calls.filter((c) => after(mark)(c) && c.args.channel === CHANNEL && text(c).includes(id));
    // One post, then updates of that message only.
    expect(mine.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    expect(mine[0]!.method).toBe('chat.postMessage');
    const updates = mine.slice(1);
    expect(updates.every((c) => c.method === 'chat.update' && c.args.ts === ref!.ts)).toBe(true);
    const progress = updates.slice(0, updates.indexOf(final));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    // Growing output: each update shows later lines than the one before.
    for (let i = 1; i < progress.length; i++) expect(lastLine(progress[i]!)).toBeGreaterThan(lastLine(progress[i - 1]!));
    // The post and every progress update at least the setting apart, as Slack received them.
    const writes = [mine[0]!, ...progress];
    for (let i = 1; i < writes.length; i++) expect(writes[i]!.at - writes[i - 1]!.at, `write ${i}`).toBeGreaterThanOrEqual(EVERY_MS);
    expect(text(progress[0]!)).toContain('token=***');
    expect(JSON.stringify(fake.calls)).not.toContain(SECRET);
    expect(text(final)).toContain('stopped looping');

    // The submitter's mail: queued by finished(), delivered through SMTP.
    await observed.next('finished', id);
    expect((await mail.drain()).sent).toBeGreaterThanOrEqual(1);
    const got = smtp.received.filter((m) => m.envelope.to.includes('bob@example.com') && String(m.parsed.subject).includes(id));
    expect(got).toHaveLength(1);
    expect(got[0]!.parsed.subject).toContain('succeeded');
    expect(got[0]!.parsed.text).toContain('stopped looping');
    expect(got[0]!.raw.toString()).not.toContain(SECRET);
  });
});

describe("the channel message's place is on the ticket", () => {
  it('a fresh notifier of another instance (recovering a run it thinks dead) updates the same message instead of posting a new one', async () => {
    const mark = fake.calls.length;
    const d = await env.wiring.tickets.submit('UBOB', { template: 'dying', env: 'STAGE', values: {} });
    const id = d.ticket.ticketId;
    await observed.next('started', id);
    // The main task runs once the message is posted and its place stored.
    await untilSeen(() => localPs(`sleep ${SLEEP}`), 'the sleep');
    const ref = (await ticket(id)).channelMessage!;
    expect(ref).toMatchObject({ channel: CHANNEL });

    // Another instance: its own notifier (nothing in memory), its own scheduler, a clock an
    // hour ahead so this instance's heartbeats look stale to it.
    const later = { now: () => new Date(Date.now() + 3_600_000) };
    const other = wireTickets(
      { ...env.core, agenda: createScheduler({ db: env.conn.db!, logger, processEveryMs: 100 }), clock: later },
      { log: env.log, notifier: ticketNotifier({ slack: testMessenger(env.conn, fake.url, logger, later), mail, logger }) },
    );
    const r = await other.executor.recover(async () => undefined);
    expect(r.interrupted).toBe(1);
    expect(await ticket(id)).toMatchObject({ state: 'failed', interrupted: true });
    const mine = fake.calls.filter((c) => after(mark)(c) && c.args.channel === CHANNEL && text(c).includes(id));
    expect(mine.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    const last = mine.at(-1)!;
    expect(last).toMatchObject({ method: 'chat.update', args: { channel: CHANNEL, ts: ref.ts } });
    expect(text(last)).toContain('failed (interrupted: the bot stopped)');

    // This instance's run, stopped, ends quietly: the ticket is already final.
    env.wiring.executor.stop(id);
    await env.wiring.executor.idle();
    expect(await untilGone(() => localPs(`sleep ${SLEEP}`))).toEqual([]);
    expect(fake.calls.filter((c) => after(mark)(c) && c.method === 'chat.postMessage' && c.args.channel === CHANNEL && text(c).includes(id))).toHaveLength(1);
    expect((await ticket(id)).history.filter((h) => h.state === 'failed')).toHaveLength(1);
  });
});

describe('approval DMs', () => {
  it('an approver who decides before the place of their DM is stored still sees their copy rewritten with the decision', async () => {
    const mark = fake.calls.length;
    let decidedInGap = false;
    observed.beforeRefsReturned = async (d) => {
      observed.beforeRefsReturned = null;
      const r = await env.wiring.tickets.decide('UALICE', d.ticket.ticketId, 0, 'approved');
      decidedInGap = r.kind === 'decided';
    };
    const d = await env.wiring.tickets.submit('UBOB', { template: 'gated', env: 'STAGE', values: {} });
    const id = d.ticket.ticketId;
    // The ask runs as a job: its event is recorded once the click in the gap has been made.
    await observed.next('approvalNeeded', id);
    expect(decidedInGap).toBe(true);
    const posted = fake.calls.find((c) => after(mark)(c) && c.method === 'chat.postMessage' && text(c).includes(id) && text(c).includes('Approve'))!;
    expect(posted).toBeDefined();
    // Alice's DM channel: the only message of this ticket posted there is her approval copy.
    const rewritten = await fake.waitFor('chat.update', (c) => after(mark)(c) && c.args.channel === posted.args.channel && text(c).includes(id) && text(c).includes('approved'), 20_000);
    expect(text(rewritten)).not.toContain('"action_id":"ticket_approve"');
    expect((await ticket(id)).state).toBe('approved');
  });
});
