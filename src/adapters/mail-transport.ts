/**
 * Where outgoing mail goes: an SMTP server (SMTP_URL), or, with no server configured, `.eml`
 * files under DATA_DIR/outbox/ so a development bot loses nothing and a person can open them.
 * Both render the message with nodemailer, so what lands in the outbox is byte-for-byte what
 * SMTP would have carried.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type SendMailOptions } from 'nodemailer';

/** One fully decided message; the same value is handed to every attempt. */
export interface OutgoingMail {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html?: string;
  /** `<id@domain>`, fixed when the message was queued. */
  messageId: string;
  /** The Date header: the enqueue time, so a retry renders the same message. */
  date: Date;
}

export interface SendOptions {
  /** Aborts the attempt (the SMTP connection is closed). */
  signal?: AbortSignal;
}

export interface SendResult {
  messageId: string;
  /** Recipients the server refused while accepting the others (SMTP only). */
  rejected?: string[];
  /** The file written (outbox only). */
  file?: string;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'outbox';
  /** Resolves once the server (or the disk) has the message; rejects with MailSendError. */
  send(msg: OutgoingMail, opts?: SendOptions): Promise<SendResult>;
  close(): void;
}

/** A failed attempt, its message already free of credentials. */
export class MailSendError extends Error {
  constructor(
    message: string,
    /** nodemailer's error code, e.g. ECONNECTION, ETIMEDOUT, EENVELOPE, EABORT. */
    readonly code?: string,
    /** The SMTP reply code when the server refused something. */
    readonly responseCode?: number,
  ) {
    super(message);
    this.name = 'MailSendError';
  }
}

export interface SmtpTimeouts {
  /** Waiting for the TCP (and TLS) connection. */
  connectionTimeoutMs?: number;
  /** Waiting for the server's 220 greeting once connected. */
  greetingTimeoutMs?: number;
  /** Silence on an open connection before it is given up. */
  socketTimeoutMs?: number;
}

export interface MailTransportConfig extends SmtpTimeouts {
  /** `smtp://` or `smtps://`, credentials in the URL; unset means the outbox. */
  smtpUrl?: string;
  /** The outbox is `<dataDir>/outbox/`. */
  dataDir: string;
}

/** SMTP when a URL is configured, the outbox otherwise. */
export function createMailTransport(cfg: MailTransportConfig): MailTransport {
  return cfg.smtpUrl ? smtpTransport(cfg.smtpUrl, cfg) : outboxTransport(path.join(cfg.dataDir, 'outbox'));
}

/**
 * One connection per message: the queue sends a few dozen mails a day, and a fresh connection
 * never inherits a half-dead socket from a pool. nodemailer's defaults (2 minutes to connect,
 * 10 minutes of socket silence) would hold a drain far too long when the server is dead, so
 * the defaults here fail fast and the queue's backoff does the waiting.
 */
export function smtpTransport(url: string, timeouts: SmtpTimeouts = {}): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: timeouts.connectionTimeoutMs ?? 10_000,
    greetingTimeout: timeouts.greetingTimeoutMs ?? 10_000,
    socketTimeout: timeouts.socketTimeoutMs ?? 30_000,
    dnsTimeout: timeouts.connectionTimeoutMs ?? 10_000,
    logger: false,
  });
  const secrets = credentialsOf(url);
  return {
    kind: 'smtp',
    async send(msg, opts = {}) {
      try {
        const info = await transporter.sendMail({ ...composable(msg), signal: opts.signal });
        const rejected = info.rejected.map(String);
        return { messageId: info.messageId, ...(rejected.length > 0 ? { rejected } : {}) };
      } catch (err) {
        throw toSendError(err, secrets);
      }
    },
    close() {
      transporter.close();
    },
  };
}

/**
 * Writes each message to `<dir>/<UTC time>-<counter>-<random>.eml`: names sort by the time they
 * were written, and a name is never reused, so nothing is overwritten. The file appears under
 * its final name only once complete (written aside, then hard-linked, which fails rather than
 * replacing an existing file), so whoever watches the folder never reads half a message.
 */
export function outboxTransport(dir: string): MailTransport {
  const render = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  let counter = 0;
  return {
    kind: 'outbox',
    async send(msg, opts = {}) {
      opts.signal?.throwIfAborted();
      try {
        const info = await render.sendMail(composable(msg));
        await fs.mkdir(dir, { recursive: true });
        const stamp = new Date().toISOString().replace(/:/g, '-');
        counter = (counter + 1) % 1_000_000;
        const name = `${stamp}-${String(counter).padStart(6, '0')}-${randomBytes(4).toString('hex')}.eml`;
        const partial = path.join(dir, `.${name}.partial`);
        const file = path.join(dir, name);
        await fs.writeFile(partial, info.message as Buffer, { flag: 'wx' });
        try {
          await fs.link(partial, file);
        } finally {
          await fs.rm(partial, { force: true });
        }
        return { messageId: info.messageId, file };
      } catch (err) {
        throw toSendError(err, []);
      }
    },
    close() {
      render.close();
    },
  };
}

function composable(msg: OutgoingMail): SendMailOptions {
  return {
    from: msg.from,
    to: msg.to,
    cc: msg.cc.length > 0 ? msg.cc : undefined,
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    messageId: msg.messageId,
    date: msg.date,
  };
}

function toSendError(err: unknown, secrets: string[]): MailSendError {
  if (err instanceof MailSendError) return err;
  const e = err as { message?: unknown; code?: unknown; responseCode?: unknown };
  let message = typeof e?.message === 'string' ? e.message : String(err);
  for (const s of secrets) message = message.split(s).join('***');
  return new MailSendError(
    redactCredentials(message),
    typeof e?.code === 'string' ? e.code : undefined,
    typeof e?.responseCode === 'number' ? e.responseCode : undefined,
  );
}

/** The password in an SMTP URL, raw and percent-decoded, to scrub from error text. */
function credentialsOf(url: string): string[] {
  try {
    const pass = new URL(url).password;
    if (!pass) return [];
    const decoded = decodeURIComponent(pass);
    return decoded === pass ? [pass] : [pass, decoded];
  } catch {
    return [];
  }
}

/** `scheme://user:password@host` -> `scheme://user:***@host`, anywhere in a text. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, '$1:***@');
}
