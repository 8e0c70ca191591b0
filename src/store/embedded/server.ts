/**
 * The embedded MongoDB-wire-compatible server: a TCP listener that frames messages, answers
 * the OP_QUERY handshake with OP_REPLY and every OP_MSG command with an OP_MSG reply.
 *
 * A connection that sends something unparseable (bad length, unknown opcode, invalid BSON)
 * is closed with a log line; the others are not affected.
 */
import net from 'node:net';
import type { Doc } from './bson-values.js';
import { CursorRegistry } from './cursors.js';
import { asMongoError } from './errors.js';
import { MAX_MESSAGE_SIZE } from './handlers/admin.js';
import type { CommandContext } from './handlers/context.js';
import { commandName, runCommand } from './handlers/index.js';
import { Storage } from './storage.js';
import { buildMsg, buildReply, MSG_MORE_TO_COME, OP_MSG, OP_QUERY, parseMsg, parseQuery, readHeader, WireError } from './wire.js';

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const silent: StoreLogger = { info: () => undefined, warn: () => undefined };

export interface EmbeddedServerOptions {
  /** Interface to bind; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Data folder; leave out for a memory-only store (tests that need no durability). */
  dbpath?: string;
  /** Journal size that triggers compaction. */
  compactBytes?: number;
  /** Seconds between TTL passes (MongoDB's ttlMonitorSleepSecs, default 60). */
  ttlMonitorSleepSecs?: number;
  logger?: StoreLogger;
}

export class EmbeddedMongoServer {
  private readonly sockets = new Set<net.Socket>();
  private ttlTimer?: NodeJS.Timeout;
  private nextConnectionId = 1;
  private stopped = false;

  private constructor(
    private readonly server: net.Server,
    readonly storage: Storage,
    private readonly ctx: Omit<CommandContext, 'connectionId'>,
    private readonly log: StoreLogger,
  ) {}

  static async start(opts: EmbeddedServerOptions = {}): Promise<EmbeddedMongoServer> {
    const log = opts.logger ?? silent;
    const storage = Storage.open({
      dbpath: opts.dbpath,
      compactBytes: opts.compactBytes,
      onWarning: (msg) => log.warn({ dbpath: opts.dbpath }, msg),
    });
    const server = net.createServer();
    const host = opts.host ?? '127.0.0.1';
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
    const ctx: Omit<CommandContext, 'connectionId'> = {
      storage,
      cursors: new CursorRegistry(),
      startedAt: Date.now(),
      host,
      port,
      ttlMonitorSleepSecs: { value: opts.ttlMonitorSleepSecs ?? 60 },
      connections: { current: 0, totalCreated: 0 },
    };
    const s = new EmbeddedMongoServer(server, storage, ctx, log);
    server.on('connection', (sock) => s.accept(sock));
    s.scheduleTtl();
    log.info({ host, port, dbpath: opts.dbpath ?? '(memory)' }, 'embedded MongoDB-compatible store listening');
    return s;
  }

  get port(): number {
    return this.ctx.port;
  }

  get uri(): string {
    const h = this.ctx.host.includes(':') ? `[${this.ctx.host}]` : this.ctx.host;
    return `mongodb://${h}:${this.ctx.port}/`;
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
    const connectionId = this.nextConnectionId++;
    const ctx: CommandContext = { ...this.ctx, connectionId };
    this.sockets.add(sock);
    this.ctx.connections.current++;
    this.ctx.connections.totalCreated++;
    sock.setNoDelay(true);
    let buffered: Buffer[] = [];
    // Requests on one connection are answered in order, one at a time, as mongod does.
    let queue: Promise<void> = Promise.resolve();

    const fail = (reason: string): void => {
      this.log.warn({ connectionId, remote: sock.remoteAddress }, `closing connection ${connectionId}: ${reason}`);
      sock.destroy();
    };

    sock.on('data', (chunk: Buffer) => {
      buffered.push(chunk);
      let all = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered);
      while (all.length >= 4) {
        const len = all.readInt32LE(0);
        if (len < 16 || len > MAX_MESSAGE_SIZE) {
          fail(`message length ${len} is outside 16..${MAX_MESSAGE_SIZE}`);
          return;
        }
        if (all.length < len) break;
        const msg = all.subarray(0, len);
        all = all.subarray(len);
        queue = queue.then(() => this.handle(msg, ctx, sock)).catch((err) => fail(err instanceof WireError ? err.message : `internal error: ${(err as Error).message}`));
      }
      buffered = all.length > 0 ? [all] : [];
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.sockets.delete(sock);
      this.ctx.connections.current--;
    });
  }

  private async handle(msg: Buffer, ctx: CommandContext, sock: net.Socket): Promise<void> {
    if (sock.destroyed) return;
    const h = readHeader(msg);
    if (h.opCode === OP_MSG) {
      const { flags, body } = parseMsg(msg);
      const reply = await this.execute(body, ctx);
      if (flags & MSG_MORE_TO_COME) return; // the client asked for no reply
      if (!sock.destroyed) sock.write(buildMsg(this.nextRequestId(), h.requestId, reply));
      return;
    }
    if (h.opCode === OP_QUERY) {
      const { collection, query } = parseQuery(msg);
      if (!collection.endsWith('.$cmd')) {
        sock.write(buildReply(this.nextRequestId(), h.requestId, { $err: 'legacy OP_QUERY is only supported for commands', code: 5739101, ok: 0 }));
        return;
      }
      const body: Doc = (query.$query as Doc | undefined) ?? query;
      body.$db = collection.slice(0, -'.$cmd'.length);
      const reply = await this.execute(body, ctx);
      if (!sock.destroyed) sock.write(buildReply(this.nextRequestId(), h.requestId, reply));
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
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.storage.close();
  }
}
