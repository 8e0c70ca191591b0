/**
 * The Slack notification outbox through an outage: 2,000 DMs to 200 people (10 each) made by
 * two outboxes on one store while the fake Slack answers 503, then Slack back: how long the
 * queue takes to drain through the Agenda drain, messages per second, and a check that every
 * person got their 10 in order, once. Also the cost of a message with Slack up (sent at once).
 */
import type { Agenda } from 'agenda';
import mongoose from 'mongoose';
import { defineNotificationJobs, notificationsDrainKick } from '../jobs/notifications.js';
import { createScheduler } from '../src/adapters/scheduler.js';
import { createLogger } from '../src/logger.js';
import { NotificationStatus, notificationModel } from '../src/models/notification.js';
import type { NotificationOutbox } from '../src/services/notifications/outbox.js';
import { FakeSlack } from '../test/helpers/fake-slack.js';
import { testOutbox } from '../test/helpers/outbox.js';
import { startTestStore } from '../test/helpers/store.js';
import { fmt, line, summarize } from './stats.js';

const PEOPLE = 200;
const EACH = 10;
const logger = createLogger('silent');

export async function benchOutbox(): Promise<void> {
  const store = await startTestStore();
  const fake = await new FakeSlack().start();
  const conns: mongoose.Connection[] = [];
  const agendas: Agenda[] = [];
  const bots: NotificationOutbox[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const conn = await mongoose.createConnection(store.dbUri).asPromise();
      const agenda = createScheduler({ db: conn.db!, logger, processEveryMs: 200, name: `bench-${i}` });
      const outbox = testOutbox(conn, fake.url, logger, { kick: notificationsDrainKick(agenda) });
      await defineNotificationJobs(agenda, { outbox }, { interval: 1000 });
      conns.push(conn);
      agendas.push(agenda);
      bots.push(outbox);
    }
    const model = notificationModel(conns[0]!);
    await model.init();
    process.stdout.write(`\noutbox: ${PEOPLE * EACH} DMs to ${PEOPLE} people from two instances, Slack down (503) while they are made\n`);
    for (const m of ['conversations.open', 'chat.postMessage']) fake.outages.set(m, { status: 503 });
    const queuedStart = performance.now();
    for (let n = 0; n < EACH; n++) await Promise.all(Array.from({ length: PEOPLE }, (_, p) => bots[p % 2]!.dm(`U${p}`, { text: `p${p} message ${n}` })));
    const queuedMs = performance.now() - queuedStart;
    line('queueing during the outage, ms per message', fmt(queuedMs / (PEOPLE * EACH), 2));
    for (const a of agendas) await a.start();
    fake.outages.clear();
    const drainStart = performance.now();
    while ((await model.countDocuments({ status: NotificationStatus.Pending })) > 0) await new Promise((r) => setTimeout(r, 100));
    const drainSec = (performance.now() - drainStart) / 1000;
    line('drain after Slack is back, s / messages per s', `${fmt(drainSec, 1)} / ${fmt((PEOPLE * EACH) / drainSec, 0)}`);
    const sent = fake.callsTo('chat.postMessage').filter((c) => c.reply?.ok === true);
    let inOrder = 0;
    for (let p = 0; p < PEOPLE; p++) {
      const texts = sent.filter((c) => c.args.channel === `DU${p}`).map((c) => c.args.text);
      if (texts.join('|') === Array.from({ length: EACH }, (_, n) => `p${p} message ${n}`).join('|')) inOrder++;
    }
    line('people with all their DMs once and in order', `${inOrder} / ${PEOPLE}`);

    const samples: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await bots[i % 2]!.post(`C${i % 20}`, { text: `up ${i}` });
      samples.push(performance.now() - t0);
    }
    const s = summarize(samples);
    line('a post with Slack up (stored, sent, marked), median / p99 ms', `${fmt(s.median, 2)} / ${fmt(s.p99, 2)}`);
  } finally {
    for (const a of agendas) await a.stop();
    for (const c of conns) await c.close();
    await fake.stop();
    await store.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchOutbox();
}
