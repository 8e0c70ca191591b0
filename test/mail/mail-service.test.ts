/**
 * MailService on the store with a hand-moved clock: queueing and refusing, delivery through a
 * real SMTP server on loopback, backoff while the server is down, giving up with an audit entry,
 * and the claims that keep two drains (or a crashed one and its successor) from sending twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Connection } from 'mongoose';
import { simpleParser } from 'mailparser';
import { ManualClock } from '../../src/clock.js';
import { AppError } from '../../src/errors.js';
import { createMailTransport, smtpTransport, type MailTransport, type OutgoingMail, type SendResult } from '../../src/adapters/mail-transport.js';
import { auditModel } from '../../src/models/audit.js';
import { MailStatus, mailModel } from '../../src/models/mail.js';
import { AuditLog } from '../../src/services/audit.js';
import { MailService, MAIL_ACTOR, type EnqueueMailInput, type MailServiceOptions } from '../../src/services/mail.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';
import { connect, silentLogger, waitFor } from './support.js';

let store: TestStore;
let conn: Connection;
let smtp: TestSmtpServer;
const extraConns: Connection[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  store = await startTestStore();
  conn = await connect(store);
  smtp = await TestSmtpServer.start();
});

afterAll(async () => {
  await smtp?.stop();
  for (const c of extraConns) await c.close();
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
  await store?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

beforeEach(async () => {
  await mailModel(conn).deleteMany({});
  await auditModel(conn).deleteMany({});
  smtp.received.length = 0;
  await smtp.up();
});

const FROM = 'opsgate <opsgate@ops.example.com>';
const START = new Date('2025-06-01T08:00:00.000Z');

interface Bot {
  mail: MailService;
  clock: ManualClock;
  kicks: number;
}

function bot(
  opts: { transport?: MailTransport; clock?: ManualClock; conn?: Connection; kick?: () => Promise<unknown> } & MailServiceOptions = {},
): Bot {
  const c = opts.conn ?? conn;
  const clock = opts.clock ?? new ManualClock(START);
  const b: Bot = { clock, kicks: 0, mail: undefined as unknown as MailService };
  b.mail = new MailService(
    {
      model: mailModel(c),
      transport: opts.transport ?? smtpTransport(smtp.url),
      audit: new AuditLog({ model: auditModel(c), clock }),
      clock,
      logger: silentLogger,
      kick:
        opts.kick ??
        (async () => {
          b.kicks++;
        }),
    },
    { from: FROM, backoffBaseMs: 1000, ...opts },
  );
  return b;
}

const grant: EnqueueMailInput = {
  to: 'alice@example.com',
  cc: ['lead@example.com'],
  subject: 'Access granted: web-01',
  text: 'Your evans access to web-01 is ready for 7 days.',
  html: '<p>Your <b>evans</b> access to web-01 is ready for 7 days.</p>',
};

/** A transport that holds every attempt until the test lets it go: a sender frozen mid-send. */
function stalledTransport(): MailTransport & { started: number; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = {
    kind: 'smtp' as const,
    started: 0,
    release: () => release(),
    async send(msg: OutgoingMail): Promise<SendResult> {
      t.started++;
      await gate;
      return { messageId: msg.messageId };
    },
    close() {},
  };
  return t;
}

describe('enqueue', () => {
  it('stores a pending message with a Message-ID of the From domain and kicks the drain once', async () => {
    const b = bot();
    const queued = await b.mail.enqueue(grant);
    expect(queued.messageId).toMatch(/^<[0-9a-f-]{36}@ops\.example\.com>$/);
    expect(b.kicks).toBe(1);
    const doc = await mailModel(conn).findById(queued.id).lean();
    expect(doc).toMatchObject({
      to: ['alice@example.com'],
      cc: ['lead@example.com'],
      subject: 'Access granted: web-01',
      status: MailStatus.Pending,
      attempts: 0,
      messageId: queued.messageId,
      claimToken: null,
    });
    expect(doc?.nextAttemptAt).toEqual(START);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a bad To address', { to: 'alice(at)example.com' }],
    ['one bad address in a list', { to: ['alice@example.com', 'bob@'] }],
    ['a bad Cc address', { cc: ['not an address'] }],
    ['no recipient', { to: [] }],
    ['a missing subject', { subject: undefined }],
    ['a blank subject', { subject: '   ' }],
    ['a subject with a line break (header injection)', { subject: 'hi\r\nBcc: eve@example.com' }],
    ['an empty text body', { text: '' }],
  ])('refuses %s with code 1100 and stores nothing', async (_what, change) => {
    const b = bot();
    const err = await b.mail.enqueue({ ...grant, ...change } as EnqueueMailInput).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(1100);
    expect((err as AppError).toUserText()).toMatch(/^\[1100\] Bad parameter: mail not queued: /);
    expect(await mailModel(conn).countDocuments()).toBe(0);
    expect(b.kicks).toBe(0);
  });

  it('keeps the message when the kick fails: the scheduled drain will send it', async () => {
    const b = bot({ kick: () => Promise.reject(new Error('scheduler unavailable')) });
    const queued = await b.mail.enqueue(grant);
    expect(await mailModel(conn).countDocuments({ _id: queued.id, status: MailStatus.Pending })).toBe(1);
  });
});

describe('drain', () => {
  it('delivers through SMTP with the right headers and both bodies, marks it sent and audits it', async () => {
    const b = bot();
    const { id, messageId } = await b.mail.enqueue(grant);
    expect(await b.mail.drain()).toEqual({ sent: 1, retrying: 0, failed: 0, lost: 0 });

    const got = smtp.withMessageId(messageId);
    expect(got).toHaveLength(1);
    const p = got[0]!.parsed;
    expect(p.from?.value).toEqual([{ address: 'opsgate@ops.example.com', name: 'opsgate' }]);
    expect(got[0]!.envelope.to.sort()).toEqual(['alice@example.com', 'lead@example.com']);
    expect(p.subject).toBe('Access granted: web-01');
    expect(p.text?.trim()).toBe(grant.text);
    expect(p.html).toContain('<b>evans</b>');

    const doc = await mailModel(conn).findById(id).lean();
    expect(doc).toMatchObject({ status: MailStatus.Sent, attempts: 1, claimToken: null, lastError: null });
    expect(doc?.sentAt).toEqual(START);
    const audit = await auditModel(conn).find({ target: `mail:${id}` }).lean();
    expect(audit).toMatchObject([{ actor: MAIL_ACTOR, action: 'mail.sent', from: { status: 0 }, to: { status: 1, attempts: 1 } }]);
  });

  it('never sends a message again once it is marked sent', async () => {
    const b = bot();
    const { messageId } = await b.mail.enqueue(grant);
    await b.mail.drain();
    for (let i = 0; i < 3; i++) {
      b.clock.advance(24 * 60 * 60 * 1000);
      expect(await b.mail.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, lost: 0 });
    }
    expect(smtp.withMessageId(messageId)).toHaveLength(1);
  });

  it('retries with exponential backoff while the server is down and delivers once it is back', async () => {
    await smtp.stop();
    const b = bot({ maxAttempts: 5, backoffBaseMs: 1000 });
    const { id, messageId } = await b.mail.enqueue(grant);
    const doc = () => mailModel(conn).findById(id).lean();

    expect(await b.mail.drain()).toMatchObject({ retrying: 1 });
    let d = await doc();
    expect(d).toMatchObject({ status: MailStatus.Pending, attempts: 1, claimToken: null });
    expect(d?.lastError).toMatch(/ECONNREFUSED/);
    expect(d?.nextAttemptAt).toEqual(new Date(START.getTime() + 1000));

    // Not due yet: nothing is attempted.
    b.clock.advance(999);
    expect(await b.mail.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, lost: 0 });
    expect((await doc())?.attempts).toBe(1);

    b.clock.advance(1);
    expect(await b.mail.drain()).toMatchObject({ retrying: 1 });
    d = await doc();
    expect(d?.attempts).toBe(2);
    expect(d?.nextAttemptAt).toEqual(new Date(START.getTime() + 1000 + 2000)); // doubled

    await smtp.up();
    b.clock.advance(2000);
    expect(await b.mail.drain()).toMatchObject({ sent: 1 });
    expect(await doc()).toMatchObject({ status: MailStatus.Sent, attempts: 3 });
    expect(smtp.withMessageId(messageId)).toHaveLength(1);
  });

  it('caps the backoff', () => {
    const b = bot({ backoffBaseMs: 1000, backoffMaxMs: 5000 });
    expect([1, 2, 3, 4, 5, 10].map((n) => b.mail.backoffMs(n))).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('gives up after maxAttempts: status 2 and an audit entry by system:mail', async () => {
    await smtp.stop();
    const b = bot({ maxAttempts: 3, backoffBaseMs: 1000 });
    const { id } = await b.mail.enqueue(grant);
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await b.mail.drain());
      b.clock.advance(60_000);
    }
    expect(outcomes.map((o) => o.retrying)).toEqual([1, 1, 0]);
    expect(outcomes[2]).toMatchObject({ failed: 1 });
    const d = await mailModel(conn).findById(id).lean();
    expect(d).toMatchObject({ status: MailStatus.Failed, attempts: 3, claimToken: null });
    expect(d?.failedAt).toBeInstanceOf(Date);
    expect(d?.lastError).toMatch(/ECONNREFUSED/);

    const audit = await auditModel(conn).find({ target: `mail:${id}` }).lean();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'system:mail', action: 'mail.failed', from: { status: 0 }, to: { status: 2, attempts: 3 } });
    expect(audit[0]?.note).toMatch(/^gave up after 3 attempt\(s\): .*ECONNREFUSED/);

    // A failed message stays failed, even once the server is back.
    await smtp.up();
    b.clock.advance(24 * 60 * 60 * 1000);
    expect(await b.mail.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, lost: 0 });
    expect(smtp.received).toHaveLength(0);
  });

  it('stores the last error without the credentials it may contain', async () => {
    const leaky: MailTransport = {
      kind: 'smtp',
      send: () => Promise.reject(new Error('could not reach smtps://bot:hunter2@mail.example.com:465 (timeout)')),
      close() {},
    };
    const b = bot({ transport: leaky });
    const { id } = await b.mail.enqueue(grant);
    await b.mail.drain();
    const d = await mailModel(conn).findById(id).lean();
    expect(d?.lastError).toBe('could not reach smtps://bot:***@mail.example.com:465 (timeout)');
  });

  it('two bots draining at once send every message exactly once', async () => {
    const conn2 = await connect(store);
    extraConns.push(conn2);
    const clock = new ManualClock(START);
    const a = bot({ clock, instance: 'bot-a' });
    const b = bot({ clock, conn: conn2, instance: 'bot-b' });
    const N = 24;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await a.mail.enqueue({ ...grant, subject: `message ${i}` })).messageId);

    const summaries = await Promise.all([a.mail.drain(), b.mail.drain(), a.mail.drain(), b.mail.drain()]);
    expect(summaries.reduce((n, s) => n + s.sent, 0)).toBe(N);
    expect(summaries.every((s) => s.lost === 0 && s.retrying === 0)).toBe(true);
    expect(smtp.received).toHaveLength(N);
    expect(ids.map((m) => smtp.withMessageId(m).length)).toEqual(ids.map(() => 1));
    expect(await mailModel(conn).countDocuments({ status: MailStatus.Sent })).toBe(N);
  });

  it("takes over a crashed sender's claim once it expires, and the late sender's outcome is discarded", async () => {
    const clock = new ManualClock(START);
    const frozen = stalledTransport();
    const a = bot({ clock, transport: frozen, instance: 'bot-a', claimLeaseMs: 5 * 60_000, sendTimeoutMs: 60_000 });
    const b = bot({ clock, instance: 'bot-b', claimLeaseMs: 5 * 60_000, sendTimeoutMs: 60_000 });
    const { id, messageId } = await a.mail.enqueue(grant);

    const drainA = a.mail.drain();
    await waitFor('bot-a to claim the message and start sending', () => frozen.started === 1);
    expect(await mailModel(conn).findById(id).lean()).toMatchObject({ claimedBy: 'bot-a', attempts: 1 });

    // While the claim holds, nobody else touches the message.
    clock.advance(5 * 60_000 - 1);
    expect(await b.mail.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, lost: 0 });

    // bot-a is presumed dead once the claim expires: bot-b sends, with the same Message-ID.
    clock.advance(1);
    expect(await b.mail.drain()).toMatchObject({ sent: 1 });
    expect(smtp.withMessageId(messageId)).toHaveLength(1);

    // bot-a wakes up: its claim is gone, so it changes nothing.
    frozen.release();
    expect(await drainA).toEqual({ sent: 0, retrying: 0, failed: 0, lost: 1 });
    expect(await mailModel(conn).findById(id).lean()).toMatchObject({ status: MailStatus.Sent, claimedBy: 'bot-b', attempts: 2 });
    expect(await auditModel(conn).countDocuments({ target: `mail:${id}`, action: 'mail.sent' })).toBe(1);
  });

  it('gives up without sending when the last allowed attempt never finished', async () => {
    const clock = new ManualClock(START);
    const frozen = stalledTransport();
    const a = bot({ clock, transport: frozen, maxAttempts: 1 });
    const b = bot({ clock, maxAttempts: 1 });
    const { id } = await a.mail.enqueue(grant);
    const drainA = a.mail.drain();
    await waitFor('bot-a to start sending', () => frozen.started === 1);

    clock.advance(10 * 60_000); // the default claim lease
    expect(await b.mail.drain()).toMatchObject({ failed: 1, sent: 0 });
    frozen.release();
    expect(await drainA).toMatchObject({ lost: 1 });
    expect(smtp.received).toHaveLength(0);
    const d = await mailModel(conn).findById(id).lean();
    expect(d).toMatchObject({ status: MailStatus.Failed });
    expect(d?.lastError).toMatch(/did not finish/);
    expect(await auditModel(conn).countDocuments({ target: `mail:${id}`, action: 'mail.failed' })).toBe(1);
  });

  it('tries each message at most once per drain, so a dead server cannot burn all attempts at once', async () => {
    await smtp.stop();
    const b = bot({ maxAttempts: 5, backoffBaseMs: 1 });
    const { id } = await b.mail.enqueue(grant);
    b.clock.advance(60_000); // whatever the clock says, the retry is due only after this drain began
    expect(await b.mail.drain()).toMatchObject({ retrying: 1 });
    expect((await mailModel(conn).findById(id).lean())?.attempts).toBe(1);
  });

  it('refuses a claim lease that a slow attempt could outlive', () => {
    expect(() => bot({ sendTimeoutMs: 60_000, claimLeaseMs: 60_000 })).toThrow(/claimLeaseMs/);
  });
});

describe('with SMTP_URL unset', () => {
  it('writes the message to DATA_DIR/outbox as an .eml with the same headers and bodies', async () => {
    const dataDir = tempDir('mail-outbox');
    dirs.push(dataDir);
    const b = bot({ transport: createMailTransport({ dataDir }) });
    const { id, messageId } = await b.mail.enqueue(grant);
    expect(await b.mail.drain()).toMatchObject({ sent: 1 });

    const files = fs.readdirSync(path.join(dataDir, 'outbox'));
    expect(files).toHaveLength(1);
    const p = await simpleParser(fs.readFileSync(path.join(dataDir, 'outbox', files[0]!)));
    expect(p.messageId).toBe(messageId);
    expect(p.subject).toBe('Access granted: web-01');
    expect(p.text?.trim()).toBe(grant.text);
    expect(p.html).toContain('<b>evans</b>');
    expect(await mailModel(conn).findById(id).lean()).toMatchObject({ status: MailStatus.Sent });
    expect(smtp.received).toHaveLength(0);
  });
});
