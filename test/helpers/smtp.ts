/**
 * A real SMTP server (`smtp-server`) on 127.0.0.1 for mail tests. It keeps every message it
 * accepted, raw and parsed, and can be stopped and started again on the same port to play a
 * mail server that goes down and comes back.
 */
import net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  /** When it was accepted (ms since the epoch). */
  at: number;
}

export interface TestSmtpOptions {
  /** Require AUTH with these credentials (plain text over loopback). */
  auth?: { user: string; pass: string };
}

export class TestSmtpServer {
  /** Everything accepted so far, across restarts. */
  readonly received: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  /** Called after each accepted message (waitFor's wake-ups). */
  private arrivals: Array<() => void> = [];

  private constructor(
    readonly port: number,
    private readonly opts: TestSmtpOptions,
  ) {}

  /** Starts on a free loopback port. */
  static async start(opts: TestSmtpOptions = {}): Promise<TestSmtpServer> {
    const smtp = new TestSmtpServer(await freePort(), opts);
    await smtp.up();
    return smtp;
  }

  /** A server that reserves a free port but is not listening yet (the mail server is down). */
  static async down(opts: TestSmtpOptions = {}): Promise<TestSmtpServer> {
    return new TestSmtpServer(await freePort(), opts);
  }

  /** `smtp://[user:pass@]127.0.0.1:<port>` */
  get url(): string {
    const a = this.opts.auth;
    const cred = a ? `${encodeURIComponent(a.user)}:${encodeURIComponent(a.pass)}@` : '';
    return `smtp://${cred}127.0.0.1:${this.port}`;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Accepted messages carrying this Message-ID. */
  withMessageId(messageId: string): ReceivedMail[] {
    return this.received.filter((m) => m.parsed.messageId === messageId);
  }

  /** Resolves with the first accepted message matching `pred`, already here or yet to come. */
  waitFor(pred: (m: ReceivedMail) => boolean, timeoutMs = 20_000): Promise<ReceivedMail> {
    const hit = this.received.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.received.find(pred);
        if (!m) return;
        clearTimeout(timer);
        this.arrivals = this.arrivals.filter((a) => a !== check);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.arrivals = this.arrivals.filter((a) => a !== check);
        reject(new Error(`no matching mail within ${timeoutMs} ms; received: ${this.received.map((m) => `${m.envelope.to.join(',')}: ${m.parsed.subject ?? ''}`).join(' | ')}`));
      }, timeoutMs);
      this.arrivals.push(check);
    });
  }

  async up(): Promise<void> {
    if (this.server) return;
    const auth = this.opts.auth;
    const options: SMTPServerOptions = {
      secure: false,
      // Plain SMTP on loopback: no STARTTLS offered, so no certificate is needed.
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: !auth,
      allowInsecureAuth: true,
      logger: false,
      closeTimeout: 1000,
      onAuth: (a, _session, cb) => {
        if (auth && a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
        else cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', cb);
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          // Recorded before the 250 reply, so a sender that saw success finds the message here.
          simpleParser(raw)
            .then((parsed) => {
              this.received.push({
                envelope: {
                  from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                  to: session.envelope.rcptTo.map((r) => r.address),
                },
                raw,
                parsed,
                at: Date.now(),
              });
              for (const a of [...this.arrivals]) a();
              cb();
            })
            .catch(cb);
        });
      },
    };
    const server = new SMTPServer(options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        // A sender killed mid-session resets its connection (the kill loop): smtp-server reports
        // it here, and unheard it would end the test process. The message is simply not taken.
        server.on('error', () => undefined);
        resolve();
      });
    });
    this.server = server;
  }

  /** Stops listening; connection attempts are refused until up() again. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A loopback TCP server that accepts connections and never says a word (a hung mail server). */
export async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
