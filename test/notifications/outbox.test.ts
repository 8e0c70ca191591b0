/**
 * The notification outbox as the bot runs it: two "instances" (each its own store connection,
 * Agenda and outbox, as src/app.ts builds them) on one store, the fake Slack Web API on loopback
 * answering 503 or 429 for a while. What must hold: every DM, post and update goes out once
 * Slack is back, once, in the order it was made per conversation; an update of a post made
 * during the outage lands on that post; Retry-After is honoured; a refusal for good is not
 * retried and does not hold the conversation. Waits poll the store or the fake's calls.
 */
import type { Agenda } from 'agenda';
import type { Connection } from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineNotificationJobs, notificationsDrainKick } from '../../jobs/notifications.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { NotificationStatus, notificationModel } from '../../src/models/notification.js';
import { isOutboxRef, type NotificationOutbox } from '../../src/services/notifications/outbox.js';
import { FakeSlack, type RecordedCall } from '../helpers/fake-slack.js';
import { testOutbox } from '../helpers/outbox.js';
import { startTestStore, type TestStore } from '../helpers/store.js';
import { connect, silentLogger, waitFor } from '../mail/support.js';

let store: TestStore;
let conn: Connection;
let fake: FakeSlack;
const running: Bot[] = [];

interface Bot {
  outbox: NotificationOutbox;
  agenda: Agenda;
  conn: Connection;
}

beforeAll(async () => {
  store = await startTestStore();
  conn = await connect(store);
  await notificationModel(conn).init();
  fake = await new FakeSlack().start();
});

afterEach(async () => {
  for (const b of running.splice(0)) {
    await b.agenda.stop();
    await b.conn.close();
  }
  await conn.db!.collection('agendaJobs').deleteMany({});
  await notificationModel(conn).deleteMany({});
  fake.reset();
});

afterAll(async () => {
  await fake?.stop();
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
  await store?.stop();
});

async function startBot(name: string): Promise<Bot> {
  const botConn = await connect(store);
  const agenda = createScheduler({ db: botConn.db!, logger: silentLogger, processEveryMs: 100, name });
  // Short backoff so the outage's retries fit the test; the drain's own interval is the retry tick.
  const outbox = testOutbox(botConn, fake.url, silentLogger, { kick: notificationsDrainKick(agenda), backoffBaseMs: 200, backoffMaxMs: 1000 });
  await defineNotificationJobs(agenda, { outbox }, { interval: 300, lockLifetimeMs: 5000 });
  await agenda.start();
  const bot = { outbox, agenda, conn: botConn };
  running.push(bot);
  return bot;
}

const message = (text: string) => ({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
/** Calls Slack answered with ok: what really got through. */
const delivered = (method: string): RecordedCall[] => fake.callsTo(method).filter((c) => c.reply?.ok === true);
const pendingCount = () => notificationModel(conn).countDocuments({ status: NotificationStatus.Pending });

describe('notification outbox', () => {
  it('Slack down (503) for a while: afterwards every DM, post and update is delivered once, in order per conversation', async () => {
    const [a, b] = [await startBot('bot-a'), await startBot('bot-b')];
    for (const m of ['conversations.open', 'chat.postMessage', 'chat.update']) fake.outages.set(m, { status: 503 });

    const users = ['U1', 'U2', 'U3'];
    const refs = [];
    for (let n = 0; n < 6; n++)
      for (const u of users) refs.push(await (n % 2 ? a : b).outbox.dm(u, message(`${u} message ${n}`)));
    // A channel post made during the outage, then updated three times (through both instances).
    const post = await a.outbox.post('C0RUNS', message('run started'));
    expect(post && isOutboxRef(post)).toBe(true);
    for (const [i, bot] of [a, b, a].entries()) await bot.outbox.update(post!, message(`run progress ${i + 1}`));
    await b.outbox.post('C0RUNS', message('another run started'));
    expect(refs.every((r) => r && isOutboxRef(r))).toBe(true);

    // Retried while down, and nothing got through.
    await waitFor('retries against the outage', () => fake.callsTo('conversations.open').length + fake.callsTo('chat.postMessage').length >= 6);
    expect(delivered('chat.postMessage')).toHaveLength(0);
    fake.outages.clear();
    // Sent with Slack back and older messages still queued: it must not overtake them.
    await new Promise((r) => setTimeout(r, 250)); // past the 200 ms pause, so this one is tried at once
    await a.outbox.dm('U1', message('U1 message 6'));
    await waitFor('the outbox to be empty', async () => (await pendingCount()) === 0, 30_000);

    for (const u of users) {
      const texts = delivered('chat.postMessage').filter((c) => c.args.channel === `D${u}`).map((c) => c.args.text);
      expect(texts).toEqual((u === 'U1' ? [0, 1, 2, 3, 4, 5, 6] : [0, 1, 2, 3, 4, 5]).map((n) => `${u} message ${n}`));
    }
    const inChannel = delivered('chat.postMessage').filter((c) => c.args.channel === 'C0RUNS');
    expect(inChannel.map((c) => c.args.text)).toEqual(['run started', 'another run started']);
    const postTs = (inChannel[0]!.reply as { ts: string }).ts;
    // The updates land on the post Slack made, after it; older ones still waiting were replaced by the newest.
    const updates = delivered('chat.update');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.every((c) => c.args.ts === postTs && c.args.channel === 'C0RUNS')).toBe(true);
    expect(updates.at(-1)!.args.text).toBe('run progress 3');
    expect(updates[0]!.at).toBeGreaterThanOrEqual(inChannel[0]!.at);
    const byStatus = await notificationModel(conn).aggregate<{ _id: number; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]);
    const counts = Object.fromEntries(byStatus.map((s) => [s._id, s.n]));
    expect(counts[NotificationStatus.Sent]).toBe(19 + 2 + updates.length);
    expect((counts[NotificationStatus.Sent] ?? 0) + (counts[NotificationStatus.Superseded] ?? 0)).toBe(19 + 2 + 3);
    expect(counts[NotificationStatus.Failed]).toBeUndefined();
  });

  it('with Slack up, a message goes at once and its real ref comes back', async () => {
    const a = await startBot('bot-a');
    const ref = await a.outbox.post('C0RUNS', message('hello'));
    expect(ref).toEqual({ channel: 'C0RUNS', ts: (delivered('chat.postMessage')[0]!.reply as { ts: string }).ts });
    await a.outbox.update(ref!, message('hello again'));
    expect(delivered('chat.update').map((c) => [c.args.ts, c.args.text])).toEqual([[ref!.ts, 'hello again']]);
    expect(await notificationModel(conn).countDocuments({ status: NotificationStatus.Sent })).toBe(2);
  });

  it("429 with Retry-After: nothing is tried again before Slack's Retry-After has passed, then all go in order", async () => {
    const a = await startBot('bot-a');
    fake.outages.set('chat.postMessage', { status: 429, retryAfterSec: 2 });
    for (let n = 0; n < 3; n++) await a.outbox.post('C0BUSY', message(`busy ${n}`));
    const limited = await fake.waitFor('chat.postMessage', (c) => c.reply?.httpStatus === 429);
    fake.outages.clear();
    await waitFor('the outbox to be empty', async () => (await pendingCount()) === 0, 20_000);
    const after = fake.callsTo('chat.postMessage').filter((c) => c.at > limited.at);
    expect(after.map((c) => c.args.text)).toEqual(['busy 0', 'busy 1', 'busy 2']);
    expect(after[0]!.at - limited.at).toBeGreaterThanOrEqual(2000);
  });

  it('a refusal for good (channel_not_found) is not retried and does not hold the conversation', async () => {
    const a = await startBot('bot-a');
    fake.failures.set('chat.postMessage', 'channel_not_found');
    expect(await a.outbox.post('C0GONE', message('lost cause'))).toBeNull();
    fake.failures.clear();
    const ref = await a.outbox.post('C0GONE', message('next one'));
    expect(ref && !isOutboxRef(ref)).toBe(true);
    const failed = await notificationModel(conn).findOne({ status: NotificationStatus.Failed }).lean();
    expect(failed).toMatchObject({ to: 'C0GONE', attempts: 1, lastError: 'Slack refused it: channel_not_found' });
    expect(fake.callsTo('chat.postMessage').map((c) => c.args.text)).toEqual(['lost cause', 'next one']);
  });

  it('a message whose sender died holding it goes out once after the claim lapses, and the conversation waits for it', async () => {
    const a = await startBot('bot-a');
    const model = notificationModel(conn);
    // What a bot killed mid-send leaves: a claimed entry whose lease ends soon, and a newer one behind it.
    const now = Date.now();
    await model.create({ kind: 'post', conversation: 'C0CRASH', to: 'C0CRASH', message: message('first'), attempts: 1, claimToken: 'dead-bot', claimedBy: 'dead', nextAttemptAt: new Date(now + 1500), createdAt: new Date(now - 10) });
    await a.outbox.post('C0CRASH', message('second'));
    // Queued behind the claimed one, not sent past it.
    expect(fake.callsTo('chat.postMessage')).toHaveLength(0);
    await waitFor('the outbox to be empty', async () => (await pendingCount()) === 0, 20_000);
    expect(delivered('chat.postMessage').map((c) => c.args.text)).toEqual(['first', 'second']);
  });
});
