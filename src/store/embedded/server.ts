/**
 * The embedded MongoDB-wire-compatible server: a TCP (or TLS) listener that frames messages,
 * answers the OP_QUERY handshake with OP_REPLY and every OP_MSG command with an OP_MSG reply.
 *
 * It holds against a local attacker: every command but the handshake needs SCRAM-SHA-256
 * authentication (handlers/auth.ts); a non-loopback address is served only over TLS; the data
 * folder is 0700 with 0600 files; and one client cannot exhaust it: messages over
 * maxMessageSizeBytes are refused, the bytes buffered across all connections and the number of
 * connections are capped, and a connection whose replies are not being read is not read from.
 * Connections that have not authenticated have limits of their own (see `accept`), so a local
 * user without the password cannot take the slots the store's own clients need.
 * A connection that sends something unparseable is closed with a log line; the others are not
 * affected.
 */
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { deriveCredential, type ScramCredential } from './auth/scram.js';
import { DEFAULT_STORE_USER, PASSWORD_FILE_NAME, readOrCreatePassword } from './auth/password-file.js';
import type { Doc } from './bson-values.js';
import { CursorRegistry } from './cursors.js';
import { secureDataDir } from './data-dir-modes.js';
import { asMongoError } from './errors.js';
import { MAX_MESSAGE_SIZE } from './handlers/admin.js';
import type { CommandContext, ConnectionSession } from './handlers/context.js';
import { commandName, runCommand } from './handlers/index.js';
import { MessageReader } from './message-reader.js';
import { Storage } from './storage.js';
import { buildMsg, buildReply, MSG_MORE_TO_COME, OP_MSG, OP_QUERY, parseMsg, parseQuery, readHeader, WireError } from './wire.js';
import { drainOrClose } from './socket-drain.js';

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const silent: StoreLogger = { info: () => undefined, warn: () => undefined };

export const DEFAULT_MAX_CONNECTIONS = 1000;
/** Enough for a handful of maximum-size messages at once; far below what hurt before (1.7 GB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024;
/** Each driver needs one or two unauthenticated connections at once (its monitor, a pool connection authenticating). */
export const DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS = 64;
/** Three of the driver's 10 s heartbeats: its monitor connection never authenticates and polls hello every 10 s. */
export const DEFAULT_AUTH_TIMEOUT_MS = 30_000;
/** hello and the SASL messages are well under 1 KiB; 64 KiB leaves room for large client metadata. */
export const DEFAULT_MAX_UNAUTHENTICATED_MESSAGE_BYTES = 64 * 1024;

export interface EmbeddedServerOptions {
  /** Interface to bind; 127.0.0.1 unless told otherwise. Anything but loopback needs `tls`. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Data folder; leave out for a memory-only store (tests that need no durability). */
  dbpath?: string;
  /** Journal size that triggers compaction. */
  compactBytes?: number;
  /** Seconds between TTL passes (MongoDB's ttlMonitorSleepSecs, default 60). */
  ttlMonitorSleepSecs?: number;
  /**
   * The store's one user. Default: user `opsgate` with the password in `dbpath/store-password`
   * (generated on first start), or a random password for a memory-only store.
   */
  auth?: { user: string; password: string };
  /** PEM certificate chain and key: serve TLS (required for a non-loopback host). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest message accepted (and announced in hello); default 48,000,000 as mongod. */
  maxMessageSizeBytes?: number;
  /** Bytes buffered across every connection (unfinished and unanswered messages). */
  maxBufferedBytes?: number;
  maxConnections?: number;
  /**
   * Connections held at once that have not authenticated; when full, a new one closes the one
   * that has been silent longest. Once authenticated a connection counts only in maxConnections.
   */
  maxUnauthenticatedConnections?: number;
  /** A connection that has not authenticated is closed after this long without a message. */
  authTimeoutMs?: number;
  /** Largest message accepted from a connection that has not authenticated. */
  maxUnauthenticatedMessageBytes?: number;
  logger?: StoreLogger;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/** What the server is holding right now: the limits' counters. */
export interface ServerStats {
  connections: number;
  /** Bytes received and not yet answered, across every connection. */
  bufferedBytes: number;
  /** The highest bufferedBytes has been since start. */
  peakBufferedBytes: number;
  refusedConnections: number;
  closedForBufferLimit: number;
  /** Connections open that have not authenticated. */
  unauthenticated: number;
  /** Unauthenticated connections closed to make room for a new one, or for their silence. */
  closedUnauthenticated: number;
  /** Connections whose reading is paused because their client does not read its replies. */
  readsPaused: number;
}

interface Connection {
  id: number;
  sock: net.Socket;
  reader: MessageReader;
  /** Bytes of complete messages queued or being answered (counted until the reply is written). */
  queuedBytes: number;
  /** Set once the connection authenticated; it then leaves the unauthenticated limits for good. */
  authenticated: boolean;
  connectedAt: number;
  /** When the connection last sent a complete message; undefined until its first. */
  lastMessageAt?: number;
  /** Closes the connection when it stays silent without authenticating; cleared on authentication. */
  authTimer?: NodeJS.Timeout;
}

interface Limits {
  maxBufferedBytes: number;
  maxConnections: number;
  maxMessageSizeBytes: number;
  maxUnauthenticatedConnections: number;
  authTimeoutMs: number;
  maxUnauthenticatedMessageBytes: number;
}

export class EmbeddedMongoServer {
  private readonly connections = new Set<Connection>();
  private readonly unauthenticated = new Set<Connection>();
  /** Connections not read from until their client takes the replies already written. */
  private readonly pausedSockets = new Set<net.Socket>();
  private ttlTimer?: NodeJS.Timeout;
  private nextConnectionId = 1;
  private stopped = false;
  private bufferedBytes = 0;
  private peakBufferedBytes = 0;
  private refusedConnections = 0;
  private closedForBufferLimit = 0;
  private closedUnauthenticated = 0;

  private constructor(
    private readonly server: net.Server,
    readonly storage: Storage,
    private readonly ctx: Omit<CommandContext, 'connectionId' | 'session'>,
    private readonly log: StoreLogger,
    private readonly password: string,
    private readonly limits: Limits,
    private readonly tlsOn: boolean,
  ) {}

  static async start(opts: EmbeddedServerOptions = {}): Promise<EmbeddedMongoServer> {
    const log = opts.logger ?? silent;
    const host = opts.host ?? '127.0.0.1';
    if (!isLoopbackHost(host) && !opts.tls) {
      throw new Error(
        `refusing to listen on ${host} without TLS: a non-loopback address needs --tls-cert and --tls-key (the store's password would cross the network in a readable exchange and its data unencrypted)`,
      );
    }
    let auth = opts.auth;
    if (opts.dbpath) {
      secureDataDir(opts.dbpath);
      auth ??= { user: DEFAULT_STORE_USER, password: readOrCreatePassword(path.join(opts.dbpath, PASSWORD_FILE_NAME)) };
    }
    auth ??= { user: DEFAULT_STORE_USER, password: randomBytes(24).toString('base64url') };
    const credential: ScramCredential = deriveCredential(auth.user, auth.password);
    const storage = await Storage.open({
      dbpath: opts.dbpath,
      compactBytes: opts.compactBytes,
      onWarning: (msg) => log.warn({ dbpath: opts.dbpath }, msg),
    });
    const server = opts.tls ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }) : net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port ?? 0, host, () => resolve());
      });
    } catch (err) {
      await storage.close();
      throw err;
    }
    const port = (server.address() as net.AddressInfo).port;
    const maxMessageSizeBytes = opts.maxMessageSizeBytes ?? MAX_MESSAGE_SIZE;
    const limits: Limits = {
      maxBufferedBytes: opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxMessageSizeBytes,
      maxUnauthenticatedConnections: opts.maxUnauthenticatedConnections ?? DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
      authTimeoutMs: opts.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
      maxUnauthenticatedMessageBytes: Math.min(opts.maxUnauthenticatedMessageBytes ?? DEFAULT_MAX_UNAUTHENTICATED_MESSAGE_BYTES, maxMessageSizeBytes),
    };
    const ctx: Omit<CommandContext, 'connectionId' | 'session'> = {
      storage,
      cursors: new CursorRegistry(),
      startedAt: Date.now(),
      host,
      port,
      ttlMonitorSleepSecs: { value: opts.ttlMonitorSleepSecs ?? 60 },
      connections: { current: 0, totalCreated: 0, max: limits.maxConnections },
      credential,
      maxMessageSizeBytes: limits.maxMessageSizeBytes,
      logAuthFailure: () => undefined,
    };
    const s = new EmbeddedMongoServer(server, storage, ctx, log, auth.password, limits, Boolean(opts.tls));
    server.on(opts.tls ? 'secureConnection' : 'connection', (sock: net.Socket) => s.accept(sock));
    // A client that fails the TLS handshake never becomes a connection; say why once.
    server.on('tlsClientError', (err: Error, sock: net.Socket) => log.warn({ remote: sock.remoteAddress, err: err.message }, 'TLS handshake failed'));
    s.scheduleTtl();
    log.info(
      { host, port, dbpath: opts.dbpath ?? '(memory)', tls: Boolean(opts.tls), user: credential.user, ...limits },
      'embedded MongoDB-compatible store listening (authentication required)',
    );
    return s;
  }

  get port(): number {
    return this.ctx.port;
  }

  /** The connection string with the store's credentials: give it only to the store's own clients. */
  get uri(): string {
    const h = this.ctx.host.includes(':') ? `[${this.ctx.host}]` : this.ctx.host;
    const cred = `${encodeURIComponent(this.ctx.credential.user)}:${encodeURIComponent(this.password)}@`;
    return `mongodb://${cred}${h}:${this.ctx.port}/?authSource=${this.ctx.credential.db}${this.tlsOn ? '&tls=true' : ''}`;
  }

  stats(): ServerStats {
    return {
      connections: this.connections.size,
      bufferedBytes: this.bufferedBytes,
      peakBufferedBytes: this.peakBufferedBytes,
      refusedConnections: this.refusedConnections,
      closedForBufferLimit: this.closedForBufferLimit,
      unauthenticated: this.unauthenticated.size,
      closedUnauthenticated: this.closedUnauthenticated,
      readsPaused: this.pausedSockets.size,
    };
  }

  /**
   * The TTL monitor ticks every second and runs a pass once ttlMonitorSleepSecs have passed
   * since the last one, so a setParameter change takes effect without a restart.
   */
  private scheduleTtl(): void {
    let lastPass = Date.now();
    this.ttlTimer = setInterval(() => {
      if (this.stopped || Date.now() - lastPass < this.ctx.ttlMonitorSleepSecs.value * 1000) return;
      lastPass = Date.now();
      try {
        const n = this.storage.expireTtl();
        if (n > 0) void this.storage.commit().catch((err) => this.log.warn({ err }, 'TTL pass could not be journaled'));
      } catch (err) {
        this.log.warn({ err }, 'TTL pass failed');
      }
    }, 1000);
    this.ttlTimer.unref();
  }

  private accept(sock: net.Socket): void {
    if (this.stopped) {
      sock.destroy();
      return;
    }
    if (this.connections.size >= this.limits.maxConnections) {
      this.refusedConnections++;
      this.log.warn(
        { remote: sock.remoteAddress, open: this.connections.size },
        `connection refused because too many open connections (maxConnections ${this.limits.maxConnections})`,
      );
      sock.on('error', () => undefined);
      sock.destroy();
      return;
    }
    if (this.unauthenticated.size >= this.limits.maxUnauthenticatedConnections) this.evictSilentUnauthenticated();
    const connectionId = this.nextConnectionId++;
    const session: ConnectionSession = { conversationId: 0 };
    const ctx: CommandContext = {
      ...this.ctx,
      connectionId,
      session,
      logAuthFailure: (reason) => this.log.warn({ connectionId, remote: sock.remoteAddress }, `authentication failed on connection ${connectionId}: ${reason}`),
    };
    // Until it authenticates a connection may only send the small handshake and SASL messages.
    const conn: Connection = {
      id: connectionId,
      sock,
      reader: new MessageReader(
        this.limits.maxUnauthenticatedMessageBytes,
        this.limits.maxUnauthenticatedMessageBytes < this.limits.maxMessageSizeBytes ? 'maxUnauthenticatedMessageBytes' : 'maxMessageSizeBytes',
      ),
      queuedBytes: 0,
      authenticated: false,
      connectedAt: Date.now(),
    };
    this.connections.add(conn);
    this.unauthenticated.add(conn);
    conn.authTimer = setTimeout(() => this.closeSilent(conn), this.limits.authTimeoutMs);
    conn.authTimer.unref();
    this.ctx.connections.current++;
    this.ctx.connections.totalCreated++;
    sock.setNoDelay(true);
    // Requests on one connection are answered in order, one at a time, as mongod does.
    let queue: Promise<void> = Promise.resolve();

    const fail = (reason: string): void => {
      if (sock.destroyed) return;
      this.log.warn({ connectionId, remote: sock.remoteAddress }, `closing connection ${connectionId}: ${reason}`);
      sock.destroy();
    };

    sock.on('data', (chunk: Buffer) => {
      if (sock.destroyed) return;
      if (!this.makeRoom(chunk.length, conn)) return;
      // Counted from here until the message it completes is answered (or the socket closes).
      this.adjustBuffered(chunk.length);
      let messages: Buffer[];
      try {
        messages = conn.reader.push(chunk);
      } catch (err) {
        fail((err as Error).message);
        return;
      }
      if (messages.length > 0 && !conn.authenticated) {
        conn.lastMessageAt = Date.now();
        conn.authTimer?.refresh();
      }
      for (const msg of messages) {
        conn.queuedBytes += msg.length;
        queue = queue
          .then(() => this.handle(msg, ctx, sock))
          .then(() => {
            if (!conn.authenticated && session.user !== undefined) this.markAuthenticated(conn);
          })
          .catch((err) => fail(err instanceof WireError ? err.message : `internal error: ${(err as Error).message}`))
          .finally(() => {
            conn.queuedBytes -= msg.length;
            this.adjustBuffered(-msg.length);
          });
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(conn.authTimer);
      this.connections.delete(conn);
      this.unauthenticated.delete(conn);
      this.ctx.connections.current--;
      this.adjustBuffered(-conn.reader.bufferedBytes);
      // Queued messages are released by their own .finally as the queue runs out.
    });
  }

  /** The connection proved the password: it gets the full message size and leaves the unauthenticated cap. */
  private markAuthenticated(conn: Connection): void {
    conn.authenticated = true;
    clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    this.unauthenticated.delete(conn);
    conn.reader.setLimit(this.limits.maxMessageSizeBytes, 'maxMessageSizeBytes');
  }

  private closeUnauthenticated(conn: Connection, reason: string): void {
    this.unauthenticated.delete(conn);
    clearTimeout(conn.authTimer);
    this.closedUnauthenticated++;
    this.log.warn({ connectionId: conn.id, remote: conn.sock.remoteAddress }, `closing connection ${conn.id}: ${reason}`);
    conn.sock.destroy();
  }

  private closeSilent(conn: Connection): void {
    if (conn.authenticated || conn.sock.destroyed) return;
    this.closeUnauthenticated(conn, `not authenticated and no message for ${this.limits.authTimeoutMs} ms (authTimeoutMs)`);
  }

  /**
   * Makes room under maxUnauthenticatedConnections for a new connection by closing the
   * unauthenticated one silent longest, rather than refusing the newcomer: idle connections
   * held by someone without the password then cannot lock out a driver's monitor connection
   * (which never authenticates but sends hello every 10 s) or a pool connection about to
   * authenticate. One that never sent a message goes first (oldest first), as it is no
   * driver's: a driver sends hello as soon as it connects.
   */
  private evictSilentUnauthenticated(): void {
    const silence = (c: Connection): number => c.lastMessageAt ?? c.connectedAt - 1e13;
    let victim: Connection | undefined;
    for (const c of this.unauthenticated) if (!victim || silence(c) < silence(victim)) victim = c;
    if (!victim) return;
    this.closeUnauthenticated(
      victim,
      `silent longest of ${this.unauthenticated.size} unauthenticated connections, closed to make room for a new one (maxUnauthenticatedConnections ${this.limits.maxUnauthenticatedConnections})`,
    );
  }

  private adjustBuffered(delta: number): void {
    this.bufferedBytes += delta;
    if (this.bufferedBytes > this.peakBufferedBytes) this.peakBufferedBytes = this.bufferedBytes;
  }

  /**
   * Keeps the bytes buffered across connections under maxBufferedBytes: when a chunk would pass
   * it, the connection holding the most unfinished bytes is closed (normally the one streaming a
   * huge message nobody asked for), until the chunk fits. Returns false when that was `conn`.
   */
  private makeRoom(bytes: number, conn: Connection): boolean {
    while (this.bufferedBytes + bytes > this.limits.maxBufferedBytes) {
      let victim: Connection | undefined;
      for (const c of this.connections) {
        if (c.sock.destroyed) continue;
        if (!victim || c.reader.bufferedBytes > victim.reader.bufferedBytes) victim = c;
      }
      if (!victim || victim.reader.bufferedBytes === 0) victim = conn;
      this.closedForBufferLimit++;
      this.log.warn(
        { connectionId: victim.id, remote: victim.sock.remoteAddress, buffered: victim.reader.bufferedBytes, total: this.bufferedBytes },
        `closing connection ${victim.id}: bytes buffered across connections would pass maxBufferedBytes ${this.limits.maxBufferedBytes}`,
      );
      this.adjustBuffered(-victim.reader.bufferedBytes);
      victim.reader = new MessageReader(this.limits.maxMessageSizeBytes);
      victim.sock.destroy();
      if (victim === conn) return false;
    }
    return true;
  }

  /**
   * Writes a reply. When the socket's buffer is full (the client is not reading its replies),
   * the connection stops being read and its next request waits until the client has drained
   * what was written, so an unread client costs at most one reply of memory.
   */
  private async send(sock: net.Socket, reply: Buffer): Promise<void> {
    if (sock.destroyed || sock.write(reply)) return;
    this.pausedSockets.add(sock);
    sock.pause();
    await drainOrClose(sock);
    this.pausedSockets.delete(sock);
    if (!sock.destroyed) sock.resume();
  }

  private async handle(msg: Buffer, ctx: CommandContext, sock: net.Socket): Promise<void> {
    if (sock.destroyed) return;
    const h = readHeader(msg);
    if (h.opCode === OP_MSG) {
      const { flags, body } = parseMsg(msg);
      const reply = await this.execute(body, ctx);
      if (flags & MSG_MORE_TO_COME) return; // the client asked for no reply
      await this.send(sock, buildMsg(this.nextRequestId(), h.requestId, reply));
      return;
    }
    if (h.opCode === OP_QUERY) {
      const { collection, query } = parseQuery(msg);
      if (!collection.endsWith('.$cmd')) {
        await this.send(sock, buildReply(this.nextRequestId(), h.requestId, { $err: 'legacy OP_QUERY is only supported for commands', code: 5739101, ok: 0 }));
        return;
      }
      const body: Doc = (query.$query as Doc | undefined) ?? query;
      body.$db = collection.slice(0, -'.$cmd'.length);
      const reply = await this.execute(body, ctx);
      await this.send(sock, buildReply(this.nextRequestId(), h.requestId, reply));
      return;
    }
    throw new WireError(`unsupported opcode ${h.opCode}`);
  }

  private requestCounter = 1;
  private nextRequestId(): number {
    this.requestCounter = (this.requestCounter + 1) & 0x7fffffff;
    return this.requestCounter;
  }

  private async execute(body: Doc, ctx: CommandContext): Promise<Doc> {
    try {
      return await runCommand(body, ctx);
    } catch (err) {
      const e = asMongoError(err);
      if (e.code === 1) this.log.warn({ command: commandName(body), err }, 'command failed with an internal error');
      return e.toReply();
    }
  }

  /** Stops listening, closes every connection and the data folder. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ttlTimer);
    for (const c of this.connections) {
      clearTimeout(c.authTimer);
      c.sock.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.storage.close();
  }
}
