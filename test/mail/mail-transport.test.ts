/**
 * The two mail transports on their own: SMTP to a real server on loopback (headers, both
 * bodies, credentials, failing fast on a dead server) and the `.eml` outbox.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import {
  createMailTransport,
  MailSendError,
  outboxTransport,
  redactCredentials,
  smtpTransport,
  type OutgoingMail,
} from '../../src/adapters/mail-transport.js';
import { startSilentServer, TestSmtpServer } from '../helpers/smtp.js';
import { tempDir } from '../helpers/store.js';

const dirs: string[] = [];
const servers: TestSmtpServer[] = [];

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function message(over: Partial<OutgoingMail> = {}): OutgoingMail {
  return {
    from: 'opsgate <opsgate@ops.example.com>',
    to: ['alice@example.com', 'bob@example.org'],
    cc: ['carol@example.net'],
    subject: 'Access granted: web-01 (evans, 7 days)',
    text: 'Your access to web-01 is ready.\nIt expires in 7 days.',
    html: '<p>Your access to <b>web-01</b> is ready.</p>',
    messageId: '<4b1c7e0e-1111-4f7a-9d6e-0a0b0c0d0e0f@ops.example.com>',
    date: new Date('2025-03-04T05:06:07.000Z'),
    ...over,
  };
}

describe('SMTP transport', () => {
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    servers.push(smtp);
  });

  it('delivers one message with From, To, Cc, Subject, Date, Message-ID and both bodies', async () => {
    const transport = smtpTransport(smtp.url);
    const msg = message();
    const result = await transport.send(msg);
    transport.close();

    expect(result.messageId).toBe(msg.messageId);
    const got = smtp.withMessageId(msg.messageId);
    expect(got).toHaveLength(1);
    const mail = got[0]!;
    expect(mail.envelope.from).toBe('opsgate@ops.example.com');
    expect(mail.envelope.to.sort()).toEqual(['alice@example.com', 'bob@example.org', 'carol@example.net']);
    const p = mail.parsed;
    expect(p.from?.value).toEqual([{ address: 'opsgate@ops.example.com', name: 'opsgate' }]);
    expect(addressesOf(p.to)).toEqual(['alice@example.com', 'bob@example.org']);
    expect(addressesOf(p.cc)).toEqual(['carol@example.net']);
    expect(p.subject).toBe(msg.subject);
    expect(p.date?.toISOString()).toBe('2025-03-04T05:06:07.000Z');
    expect(p.text?.trim()).toBe(msg.text);
    expect(p.html).toContain('<b>web-01</b>');
    expect(p.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
  });

  it('sends a text-only message as a single text/plain part', async () => {
    const transport = smtpTransport(smtp.url);
    const msg = message({ html: undefined, cc: [], messageId: '<text-only-1@ops.example.com>' });
    await transport.send(msg);
    transport.close();

    const p = smtp.withMessageId(msg.messageId)[0]!.parsed;
    expect(p.html).toBe(false);
    expect(p.cc).toBeUndefined();
    expect(p.headers.get('content-type')).toMatchObject({ value: 'text/plain' });
  });

  it('logs in with the credentials in SMTP_URL', async () => {
    const authed = await TestSmtpServer.start({ auth: { user: 'mailer', pass: 's3cret/with:odd@chars' } });
    servers.push(authed);
    const transport = smtpTransport(authed.url);
    await transport.send(message({ messageId: '<auth-1@ops.example.com>' }));
    transport.close();
    expect(authed.withMessageId('<auth-1@ops.example.com>')).toHaveLength(1);
  });

  it('fails with a MailSendError when the server refuses the connection', async () => {
    const down = await TestSmtpServer.down();
    const transport = smtpTransport(down.url);
    const err = await transport.send(message()).catch((e: unknown) => e);
    transport.close();
    expect(err).toBeInstanceOf(MailSendError);
    // nodemailer reports a refused connection as a socket error.
    expect((err as MailSendError).code).toBe('ESOCKET');
    expect((err as MailSendError).message).toMatch(/ECONNREFUSED/);
  });

  it('gives up on a server that accepts the connection but never greets', async () => {
    const silent = await startSilentServer();
    try {
      const transport = smtpTransport(`smtp://127.0.0.1:${silent.port}`, { greetingTimeoutMs: 300 });
      const err = await transport.send(message()).catch((e: unknown) => e);
      transport.close();
      expect(err).toBeInstanceOf(MailSendError);
      expect((err as MailSendError).code).toBe('ETIMEDOUT');
    } finally {
      await silent.stop();
    }
  });

  it('stops an attempt when its signal aborts', async () => {
    const silent = await startSilentServer();
    try {
      const transport = smtpTransport(`smtp://127.0.0.1:${silent.port}`);
      const err = await transport.send(message(), { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
      transport.close();
      expect(err).toBeInstanceOf(MailSendError);
      expect((err as MailSendError).code).toBe('EABORT');
    } finally {
      await silent.stop();
    }
  });

  it('never puts the SMTP password into an error', async () => {
    const authed = await TestSmtpServer.start({ auth: { user: 'mailer', pass: 'right-password' } });
    servers.push(authed);
    const url = `smtp://mailer:wrong-p%40ss@127.0.0.1:${authed.port}`;
    const err = (await smtpTransport(url).send(message()).catch((e: unknown) => e)) as MailSendError;
    expect(err).toBeInstanceOf(MailSendError);
    expect(err.code).toBe('EAUTH');
    expect(err.message).not.toMatch(/wrong-p/);
    expect(authed.received).toHaveLength(0);
  });
});

describe('redactCredentials', () => {
  it('hides the password of any URL in a text and keeps the rest', () => {
    expect(redactCredentials('connect to smtps://bot:hunter2@mail.example.com:465 failed')).toBe(
      'connect to smtps://bot:***@mail.example.com:465 failed',
    );
    expect(redactCredentials('a mongodb://u:p%40x@h/db and smtp://h:25')).toBe('a mongodb://u:***@h/db and smtp://h:25');
  });
});

describe('outbox transport', () => {
  it('is chosen when no SMTP_URL is configured, and SMTP when one is', () => {
    const dir = tempDir('outbox-choice');
    dirs.push(dir);
    const outbox = createMailTransport({ dataDir: dir });
    const smtp = createMailTransport({ dataDir: dir, smtpUrl: 'smtp://127.0.0.1:2525' });
    expect([outbox.kind, smtp.kind]).toEqual(['outbox', 'smtp']);
    outbox.close();
    smtp.close();
  });

  it('writes each message as a complete .eml under DATA_DIR/outbox, names sorting by time, none overwritten', async () => {
    const dataDir = tempDir('outbox');
    dirs.push(dataDir);
    const transport = createMailTransport({ dataDir });
    const first = await transport.send(message({ messageId: '<first@ops.example.com>' }));
    const second = await transport.send(message({ messageId: '<second@ops.example.com>', subject: 'second' }));
    // The same message again (a retry) is a new file, not a replacement.
    const again = await transport.send(message({ messageId: '<second@ops.example.com>', subject: 'second' }));
    transport.close();

    const outbox = path.join(dataDir, 'outbox');
    const names = fs.readdirSync(outbox);
    expect(names).toHaveLength(3);
    expect(names.every((n) => n.endsWith('.eml'))).toBe(true); // no partial files left behind
    expect([first.file, second.file, again.file].map((f) => path.basename(f!))).toEqual([...names].sort());

    const parsed = await simpleParser(fs.readFileSync(first.file!));
    expect(parsed.messageId).toBe('<first@ops.example.com>');
    expect(parsed.from?.value).toEqual([{ address: 'opsgate@ops.example.com', name: 'opsgate' }]);
    expect(addressesOf(parsed.to)).toEqual(['alice@example.com', 'bob@example.org']);
    expect(parsed.subject).toBe('Access granted: web-01 (evans, 7 days)');
    expect(parsed.text?.trim()).toBe('Your access to web-01 is ready.\nIt expires in 7 days.');
    expect(parsed.html).toContain('<b>web-01</b>');
    expect((await simpleParser(fs.readFileSync(again.file!))).subject).toBe('second');
  });

  it('refuses an already aborted attempt without writing', async () => {
    const dir = path.join(tempDir('outbox-abort'), 'outbox');
    dirs.push(path.dirname(dir));
    const err = await outboxTransport(dir)
      .send(message(), { signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

type AddressField = import('mailparser').AddressObject | import('mailparser').AddressObject[] | undefined;

function addressesOf(field: AddressField): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field];
  return list.flatMap((a) => a.value.map((v) => v.address ?? ''));
}
