/**
 * The mail drain as the bot runs it: Agenda on the store, real time, a real SMTP server on
 * loopback. Each "bot" here is what src/main.ts would build: its own store connection, Agenda,
 * transport and MailService. Short intervals and backoff keep the suite quick; every wait polls
 * with a generous ceiling and nothing asserts on speed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Agenda } from 'agenda';
import type { Connection } from 'mongoose';
import { systemClock } from '../../src/clock.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { smtpTransport, type MailTransport } from '../../src/adapters/mail-transport.js';
import { auditModel } from '../../src/models/audit.js';
import { MailStatus, mailModel } from '../../src/models/mail.js';
import { AuditLog } from '../../src/services/audit.js';
import { MailService, type EnqueueMailInput, type MailServiceOptions } from '../../src/services/mail.js';
import { defineMailJobs, mailDrainKick, MAIL_DRAIN } from '../../jobs/mail.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import { startTestStore, type TestStore } from '../helpers/store.js';
import { connect, silentLogger, sleep, waitFor } from './support.js';

let store: TestStore;
let conn: Connection;
let smtp: TestSmtpServer;
const running = new Set<Bot>();

beforeAll(async () => {
  store = await startTestStore();
  conn = await connect(store);
  smtp = await TestSmtpServer.start();
});

afterEach(async () => {
  for (const b of [...running]) await b.stop();
  await conn.db!.collection('agendaJobs').deleteMany({});
  await mailModel(conn).deleteMany({});
  await auditModel(conn).deleteMany({});
  smtp.received.length = 0;
  await smtp.up();
});

afterAll(async () => {
  for (const b of [...running]) await b.stop();
  await smtp?.stop();
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
  await store?.stop();
});

interface Bot {
  name: string;
  mail: MailService;
  agenda: Agenda;
  /** Stops the bot as a restart would: scheduler first, then whatever drain is still running, then the store. */
  stop(): Promise<void>;
}

async function startBot(name: string, opts: { interval?: string | number } & MailServiceOptions = {}): Promise<Bot> {
  const botConn = await connect(store);
  const agenda = createScheduler({ db: botConn.db!, logger: silentLogger, processEveryMs: 100, name });
  const transport: MailTransport = smtpTransport(smtp.url, { connectionTimeoutMs: 2000, greetingTimeoutMs: 2000 });
  const mail = new MailService(
    {
      model: mailModel(botConn),
      transport,
      audit: new AuditLog({ model: auditModel(botConn), clock: systemClock }),
      clock: systemClock,
      logger: silentLogger,
      kick: mailDrainKick(agenda),
    },
    { from: 'opsgate <opsgate@ops.example.com>', backoffBaseMs: 200, backoffMaxMs: 400, instance: name, ...opts },
  );
  // The job sees the real service; the wrapper only lets stop() wait for a drain in flight.
  const inFlight = new Set<Promise<unknown>>();
  const tracked = {
    drain: () => {
      const p = mail.drain();
      inFlight.add(p);
      return p.finally(() => inFlight.delete(p));
    },
  };
  await defineMailJobs(agenda, { mail: tracked }, { interval: opts.interval ?? '1 minute' });
  await agenda.start();
  const bot: Bot = {
    name,
    mail,
    agenda,
    async stop() {
      running.delete(bot);
      await agenda.stop();
      await Promise.allSettled([...inFlight]);
      transport.close();
      await botConn.close();
    },
  };
  running.add(bot);
  return bot;
}

const notice = (i: number): EnqueueMailInput => ({
  to: ['alice@example.com'],
  subject: `Ticket T-${i} succeeded`,
  text: `Ticket T-${i} ran its main task and post-task successfully.`,
  html: `<p>Ticket <b>T-${i}</b> succeeded.</p>`,
});

const statusOf = async (id: string) => (await mailModel(conn).findById(id).lean())?.status;

describe('mail:drain on Agenda', () => {
  it('sends right after enqueue through the kick, without waiting for the minute run', async () => {
    const bot = await startBot('bot-kick'); // repeating drain only once a minute
    // Let the first scheduled run pass, so only a kick can send what comes next.
    await waitFor('the first scheduled drain', async () => (await conn.db!.collection('agendaJobs').countDocuments({ name: MAIL_DRAIN, lastFinishedAt: { $ne: null } })) > 0);

    const { id, messageId } = await bot.mail.enqueue(notice(1));
    await waitFor('the message to be sent', async () => (await statusOf(id)) === MailStatus.Sent, 20_000);

    const got = smtp.withMessageId(messageId);
    expect(got).toHaveLength(1);
    expect(got[0]!.parsed.subject).toBe('Ticket T-1 succeeded');
    expect(got[0]!.parsed.from?.value[0]?.address).toBe('opsgate@ops.example.com');
    expect(got[0]!.parsed.html).toContain('<b>T-1</b>');
    // The kick's one-off job is removed once run; the repeating drain stays a single job.
    await waitFor('the kick job to be removed', async () => (await conn.db!.collection('agendaJobs').countDocuments({ name: MAIL_DRAIN })) === 1);
    expect(await conn.db!.collection('agendaJobs').findOne({ name: MAIL_DRAIN })).toMatchObject({ type: 'single', repeatInterval: '1 minute' });
  });

  it('a storm of queued mails shares one waiting drain, and every mail arrives once', async () => {
    // Repeating drain only once a minute: kicks send. A small batch, so the storm needs several.
    const bot = await startBot('bot-storm', { batchSize: 30 });
    const jobs = conn.db!.collection('agendaJobs');
    // One-off drains (anything but the repeating job) not yet taken by a worker.
    const waitingDrains = () => jobs.countDocuments({ name: MAIL_DRAIN, type: { $ne: 'single' }, lockedAt: null, nextRunAt: { $ne: null } });
    const oneOffDrains = () => jobs.countDocuments({ name: MAIL_DRAIN, type: { $ne: 'single' } });
    const WAVES = 6;
    const PER_WAVE = 20;
    const queued: Array<{ id: string; messageId: string }> = [];
    let mostWaiting = 0;
    let mostOneOff = 0;
    for (let w = 0; w < WAVES; w++) {
      queued.push(...(await Promise.all(Array.from({ length: PER_WAVE }, (_, i) => bot.mail.enqueue(notice(1000 + w * PER_WAVE + i))))));
      mostWaiting = Math.max(mostWaiting, await waitingDrains());
      mostOneOff = Math.max(mostOneOff, await oneOffDrains());
    }
    const N = WAVES * PER_WAVE;
    await waitFor(`${N} messages sent`, async () => {
      mostWaiting = Math.max(mostWaiting, await waitingDrains());
      mostOneOff = Math.max(mostOneOff, await oneOffDrains());
      return (await mailModel(conn).countDocuments({ status: MailStatus.Sent })) === N;
    }, 120_000);
    // At most one drain waits; with the one running beside it, two one-off jobs at the most.
    expect(mostWaiting).toBeLessThanOrEqual(1);
    expect(mostOneOff).toBeLessThanOrEqual(2);
    await waitFor('the last kick to be removed', async () => (await oneOffDrains()) === 0, 30_000);
    expect(smtp.received).toHaveLength(N);
    expect(queued.filter((q) => smtp.withMessageId(q.messageId).length !== 1)).toEqual([]);
    expect(await auditModel(conn).countDocuments({ action: 'mail.sent' })).toBe(N);
  }, 180_000);

  it('retries with backoff while the SMTP server is down and delivers once it is back, once', async () => {
    await smtp.stop();
    const bot = await startBot('bot-retry', { interval: 150 });
    const { id, messageId } = await bot.mail.enqueue(notice(2));

    await waitFor('two failed attempts', async () => ((await mailModel(conn).findById(id).lean())?.attempts ?? 0) >= 2);
    const failing = await mailModel(conn).findById(id).lean();
    expect(failing?.status).toBe(MailStatus.Pending);
    expect(failing?.lastError).toMatch(/ECONNREFUSED/);

    await smtp.up();
    await waitFor('delivery once the server is back', async () => (await statusOf(id)) === MailStatus.Sent);
    await sleep(1000); // several more drains: a second delivery would show up here
    expect(smtp.withMessageId(messageId)).toHaveLength(1);
    expect(await auditModel(conn).countDocuments({ target: `mail:${id}`, action: 'mail.sent' })).toBe(1);
  });

  it('delivers a message queued before a bot restart exactly once, by the restarted bot', async () => {
    await smtp.stop();
    const before = await startBot('bot-before-restart', { interval: 150 });
    const { id, messageId } = await before.mail.enqueue(notice(3));
    await waitFor('a failed attempt before the restart', async () => ((await mailModel(conn).findById(id).lean())?.attempts ?? 0) >= 1);
    await before.stop();
    expect(await statusOf(id)).toBe(MailStatus.Pending);

    await smtp.up();
    const after = await startBot('bot-after-restart', { interval: 150 });
    await waitFor('delivery by the restarted bot', async () => (await statusOf(id)) === MailStatus.Sent);
    expect((await mailModel(conn).findById(id).lean())?.claimedBy).toBe('bot-after-restart');

    // Restart once more and let it drain a while: nothing is sent again.
    await after.stop();
    await startBot('bot-second-restart', { interval: 150 });
    await sleep(1000);
    expect(smtp.withMessageId(messageId)).toHaveLength(1);
    expect(await conn.db!.collection('agendaJobs').countDocuments({ name: MAIL_DRAIN, type: 'single' })).toBe(1);
  });

  it('two bots on one store send every message exactly once', async () => {
    const a = await startBot('bot-a', { interval: 100 });
    const b = await startBot('bot-b', { interval: 100 });
    const N = 20;
    const queued = [];
    for (let i = 0; i < N; i++) queued.push(await (i % 2 === 0 ? a : b).mail.enqueue(notice(100 + i)));

    await waitFor(`${N} messages sent`, async () => (await mailModel(conn).countDocuments({ status: MailStatus.Sent })) === N);
    await sleep(1000); // both keep draining: a duplicate would show up here
    expect(smtp.received).toHaveLength(N);
    expect(queued.map((q) => smtp.withMessageId(q.messageId).length)).toEqual(queued.map(() => 1));
    expect(await auditModel(conn).countDocuments({ action: 'mail.sent' })).toBe(N);
  });

  it('gives up after maxAttempts with status 2 and an audit entry', async () => {
    await smtp.stop();
    const bot = await startBot('bot-give-up', { interval: 100, maxAttempts: 2, backoffBaseMs: 100 });
    const { id } = await bot.mail.enqueue(notice(4));
    await waitFor('the message to be marked failed', async () => (await statusOf(id)) === MailStatus.Failed);

    expect(await mailModel(conn).findById(id).lean()).toMatchObject({ status: MailStatus.Failed, attempts: 2 });
    const audit = await auditModel(conn).find({ target: `mail:${id}` }).lean();
    expect(audit).toMatchObject([{ actor: 'system:mail', action: 'mail.failed', to: { status: 2, attempts: 2 } }]);
    await smtp.up();
    await sleep(500);
    expect(smtp.received).toHaveLength(0);
  });
});
