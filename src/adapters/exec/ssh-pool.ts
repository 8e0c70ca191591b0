/**
 * A warm SSH connection pool (what OpenSSH's ControlPersist and mitogen buy Ansible): one
 * authenticated ssh2 connection per target, kept open for a while after use, and each command
 * on a new channel of it. A pool belongs to one transport, so to one bot key: its connections
 * are keyed by address, port, login and the pinned host key.
 *
 * - **Host keys.** Every connect checks the presented key against the pin, exactly as a
 *   one-off connection did; the pin is part of the key, so a changed pin never reuses a
 *   connection checked against the old one, and a host whose key changed while we were
 *   away is refused at the reconnect.
 * - **Idle timeout.** A connection no command uses is closed after `idleTimeoutMs` (0: at
 *   once, i.e. no pooling).
 * - **Cap.** At most `maxConnections` are kept open: opening one more first closes the least
 *   recently used idle one. When every open connection is busy the new one is opened anyway,
 *   beyond the cap, and the pool shrinks back as connections go idle: waiting would couple
 *   unrelated runs (a ten-minute ticket run would hold up the host check) while EXEC_PARALLELISM
 *   already bounds how many hosts are worked at once.
 * - **Channels.** sshd allows `MaxSessions` channels per connection (10 by default). Up to
 *   `channelsPerConnection - 1` commands share a connection; the last channel stays free for
 *   the `kill -SIG -PGID` that a signal or timeout sends alongside. More commands to the same
 *   host open a second connection. A host with a lower MaxSessions refuses a channel: the
 *   connection's share is lowered and the caller tries again (see `openExec`).
 * - **Keepalive.** SSH-level pings every `keepaliveIntervalMs`; four unanswered ones drop the
 *   connection, so a host that died under an idle connection is noticed without a command.
 * - **Dead connections.** One that closed leaves the pool at once; commands on it are told
 *   (`Lease.onClose`). Whether a command may be tried again on a new connection is
 *   `openExec`'s answer: only when it cannot have started.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import ssh2, { type ClientChannel, type ParsedKey } from 'ssh2';
import type { Logger } from '../../logger.js';
import type { HostError, SshTarget } from './types.js';

const { Client } = ssh2;

export interface SshPoolOptions {
  key: ParsedKey;
  /** From TCP connect to an authenticated session. */
  connectTimeoutMs: number;
  /** How long an unused connection stays open; 0 closes it as soon as its last command ends. */
  idleTimeoutMs: number;
  /** Connections kept open at most (busy ones may go beyond it; see the file header). */
  maxConnections: number;
  keepaliveIntervalMs: number;
  /** Channels sshd allows per connection (its MaxSessions). */
  channelsPerConnection: number;
  logger?: Logger;
}

/** Why a connection left the pool, as `closed` events report it. */
export type CloseReason = 'idle' | 'evicted' | 'lost' | 'retired' | 'pool-closed';

export interface PoolEvents {
  /** A connection was authenticated and its host key checked. */
  opened: [{ target: string }];
  closed: [{ target: string; reason: CloseReason }];
}

/** `SHA256:` + unpadded base64 of the key blob: what `ssh-keygen -lf` prints. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** Error levels ssh2 sets on connection errors. */
type Ssh2Error = Error & { level?: string; reason?: unknown };

/** One command's hold on a channel of a pooled connection. */
export interface Lease {
  readonly client: ssh2.Client;
  /** The connection was already up and used before this lease: it may have died meanwhile. */
  readonly reused: boolean;
  /** The connection is still up. */
  isOpen(): boolean;
  /** Other commands holding channels of the same connection. */
  sharedWith(): number;
  /**
   * Called once if the connection closes while the lease is held; returns an unsubscribe.
   * `message` says why (ssh2's last error, or a plain "closed").
   */
  onClose(cb: (message: string) => void): () => void;
  /**
   * Gives the channel back. `retire`: take no new commands on this connection and close it
   * once its other commands ended (a command was cut short and its channel may be stuck).
   * `lowerShare`: the host refused a channel, so fewer commands share this connection.
   * `broken`: the connection is unusable; drop it now.
   */
  release(how?: { retire?: boolean; lowerShare?: boolean; broken?: boolean }): void;
  /** Drops the connection now (it stopped answering); every command on it is told `why`. */
  drop(why: string): void;
}

class Connection {
  readonly client = new Client();
  state: 'connecting' | 'ready' | 'closed' = 'connecting';
  leases = 0;
  /** Commands allowed at once; lowered when the host refuses a channel. */
  share: number;
  /** Set once it served a command (its next user may find it died meanwhile). */
  used = false;
  retired = false;
  lastUsed = 0;
  idleTimer?: NodeJS.Timeout;
  closeReason?: CloseReason;
  lastError?: string;
  readonly closeListeners = new Set<(message: string) => void>();
  /** Settles once authenticated (undefined) or failed (why). */
  readonly ready: Promise<HostError | undefined>;
  /** Authenticated at some point (a connect that failed never was). */
  opened = false;
  /** Out of the pool (closed, or failed to connect). */
  forgotten = false;
  readonly gone: Promise<void>;
  markGone!: () => void;

  constructor(
    readonly poolKey: string,
    readonly label: string,
    share: number,
    ready: (c: Connection) => Promise<HostError | undefined>,
  ) {
    this.share = share;
    this.gone = new Promise((r) => (this.markGone = r));
    this.ready = ready(this);
  }
}

export class SshConnectionPool extends EventEmitter<PoolEvents> {
  private readonly byKey = new Map<string, Connection[]>();
  /** Sockets not yet closed. */
  private open = 0;
  /** Of those, the ones not on their way out: what the cap counts. */
  private kept = 0;
  private closing = false;
  /** Connections opened since the pool started (tests and benches read it). */
  connectsTotal = 0;
  /** Leases on a connection that had served before, and acquires that failed, by kind (for /metrics). */
  readonly stats = { reused: 0, failed: { connect: 0, auth: 0, hostkey: 0 } as Record<string, number> };

  constructor(private readonly opts: SshPoolOptions) {
    super();
  }

  /** Open connections, busy or idle. */
  get size(): number {
    return this.open;
  }

  /**
   * A channel's worth of a connection to `target`: an idle or not yet full one if there is
   * one, else a new connection. Never rejects: a host that cannot be reached comes back as
   * `{ error }` (connect, auth or hostkey).
   */
  async acquire(target: SshTarget): Promise<Lease | { error: HostError }> {
    if (this.closing) return { error: { kind: 'connect', message: 'the SSH pool is closed (opsgate is stopping)' } };
    const key = poolKey(target);
    const list = this.byKey.get(key) ?? [];
    // Not one on its way out: a connection told to close may still look open for a moment.
    let conn = list.find((c) => c.state !== 'closed' && !c.closeReason && !c.retired && c.leases < c.share);
    if (!conn) {
      this.makeRoom();
      conn = this.connect(target, key);
      this.byKey.set(key, [...list, conn]);
    }
    const reused = conn.state === 'ready' && conn.used;
    conn.leases++;
    conn.used = true;
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    const error = await conn.ready;
    if (error) {
      conn.leases--;
      this.stats.failed[error.kind] = (this.stats.failed[error.kind] ?? 0) + 1;
      return { error };
    }
    if (conn.state === 'closed') {
      conn.leases--;
      this.stats.failed.connect!++;
      return { error: { kind: 'connect', message: `the connection closed before the command started: ${conn.lastError ?? 'closed by the host'}` } };
    }
    if (reused) this.stats.reused++;
    return this.leaseOn(conn, reused);
  }

  /** Closes every connection (app stop); commands still running on them are cut off. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.byKey.values()].flat();
    for (const c of all) this.closeConnection(c, 'pool-closed');
    await Promise.all(all.map((c) => c.gone));
  }

  private leaseOn(conn: Connection, reused: boolean): Lease {
    let released = false;
    const mine = new Set<(message: string) => void>();
    return {
      client: conn.client,
      reused,
      isOpen: () => conn.state === 'ready',
      sharedWith: () => conn.leases - (released ? 0 : 1),
      onClose: (cb) => {
        mine.add(cb);
        conn.closeListeners.add(cb);
        return () => {
          mine.delete(cb);
          conn.closeListeners.delete(cb);
        };
      },
      drop: (why) => {
        conn.lastError ??= why;
        this.closeConnection(conn, 'lost');
      },
      release: (how = {}) => {
        if (released) return;
        released = true;
        for (const cb of mine) conn.closeListeners.delete(cb);
        conn.leases--;
        conn.lastUsed = performance.now();
        if (how.lowerShare) conn.share = Math.max(1, Math.min(conn.share, conn.leases));
        if (how.retire) conn.retired = true;
        if (how.broken) this.closeConnection(conn, 'lost');
        else this.whenReleased(conn);
      },
    };
  }

  private whenReleased(conn: Connection): void {
    if (conn.state === 'closed' || conn.closeReason || conn.leases > 0) return;
    if (conn.retired) return this.closeConnection(conn, 'retired');
    if (this.closing || this.opts.idleTimeoutMs === 0) return this.closeConnection(conn, 'idle');
    if (this.kept > this.opts.maxConnections) return this.closeConnection(conn, 'evicted');
    conn.idleTimer = setTimeout(() => this.closeConnection(conn, 'idle'), this.opts.idleTimeoutMs);
    // An idle connection alone should not keep the process waiting for the timer.
    conn.idleTimer.unref();
  }

  /** At the cap, closes the least recently used idle connection (if every one is busy, none). */
  private makeRoom(): void {
    if (this.kept < this.opts.maxConnections) return;
    let lru: Connection | undefined;
    for (const list of this.byKey.values()) {
      for (const c of list) if (c.state === 'ready' && !c.closeReason && c.leases === 0 && (!lru || c.lastUsed < lru.lastUsed)) lru = c;
    }
    if (lru) this.closeConnection(lru, 'evicted');
  }

  private closeConnection(conn: Connection, reason: CloseReason): void {
    if (conn.closeReason) return;
    conn.closeReason = reason;
    if (!conn.forgotten) this.kept--;
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    // An idle connection gets a polite disconnect; one with commands on it is dropped.
    if (conn.leases === 0) conn.client.end();
    else conn.client.destroy();
  }

  private connect(target: SshTarget, key: string): Connection {
    const label = `${target.user}@${target.address}:${target.port}`;
    this.open++;
    this.kept++;
    this.connectsTotal++;
    return new Connection(key, label, Math.max(1, this.opts.channelsPerConnection - 1), (conn) => {
      let hostKeyRefusal: string | undefined;
      let authTried = false;
      const client = conn.client;
      const outcome = new Promise<HostError | undefined>((resolve) => {
        client
          .on('ready', () => {
            conn.state = 'ready';
            conn.opened = true;
            this.opts.logger?.debug({ target: label }, 'ssh connection opened');
            this.emit('opened', { target: label });
            resolve(undefined);
          })
          .on('error', (err: Ssh2Error) => {
            conn.lastError = err.message;
            if (conn.state !== 'connecting') return;
            if (hostKeyRefusal) resolve({ kind: 'hostkey', message: hostKeyRefusal });
            else if (err.level === 'client-authentication') resolve({ kind: 'auth', message: `the host refused the bot's key for ${target.user}` });
            else if (err.level === 'client-timeout') resolve({ kind: 'connect', message: `no SSH session within ${this.opts.connectTimeoutMs} ms` });
            else resolve({ kind: 'connect', message: err.message });
          })
          .on('close', () => {
            const wasOpen = conn.opened;
            this.forget(conn);
            if (!wasOpen) resolve({ kind: 'connect', message: conn.lastError ?? 'the connection closed before the SSH session was ready' });
            else {
              const reason = conn.closeReason ?? 'lost';
              this.opts.logger?.debug({ target: label, reason }, 'ssh connection closed');
              this.emit('closed', { target: label, reason });
            }
            const message = conn.lastError ?? (conn.closeReason === 'pool-closed' ? 'opsgate is stopping' : 'closed by the host');
            for (const cb of [...conn.closeListeners]) cb(message);
            conn.closeListeners.clear();
          });
        try {
          client.connect({
            host: target.address,
            port: target.port,
            username: target.user,
            readyTimeout: this.opts.connectTimeoutMs,
            keepaliveInterval: this.opts.keepaliveIntervalMs,
            keepaliveCountMax: 4,
            // The key is parsed once per transport, not once per connection.
            authHandler: (_methodsLeft, _partial, _next) => {
              if (authTried) return false;
              authTried = true;
              return { type: 'publickey', username: target.user, key: this.opts.key };
            },
            hostVerifier: (keyBlob: Buffer) => {
              const presented = sha256Fingerprint(keyBlob);
              const pinned = target.hostKey;
              if (!pinned) hostKeyRefusal = `host key ${presented} is not pinned in the inventory; refused`;
              else if (presented !== pinned) hostKeyRefusal = `host key changed: the host presented ${presented}, the inventory pins ${pinned}; refused`;
              return hostKeyRefusal === undefined;
            },
          });
          // The handshake and each command are small request/answer packets, which Nagle's
          // algorithm holds back for a delayed ACK: measured 87 ms to open a channel without
          // this, 2 ms with it (loopback).
          client.setNoDelay(true);
        } catch (err) {
          resolve({ kind: 'connect', message: err instanceof Error ? err.message : String(err) });
        }
      });
      // A connect that failed leaves the pool at once (ssh2 does not always emit 'close' then).
      return outcome.then((error) => {
        if (error) {
          this.forget(conn);
          client.destroy();
        }
        return error;
      });
    });
  }

  /** Takes a connection out of the pool's books; safe to call twice. */
  private forget(conn: Connection): void {
    conn.state = 'closed';
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    if (conn.forgotten) return;
    conn.forgotten = true;
    this.open--;
    if (!conn.closeReason) this.kept--;
    const list = (this.byKey.get(conn.poolKey) ?? []).filter((c) => c !== conn);
    if (list.length) this.byKey.set(conn.poolKey, list);
    else this.byKey.delete(conn.poolKey);
    conn.markGone();
  }
}

function poolKey(t: SshTarget): string {
  return JSON.stringify([t.address, t.port, t.user, t.hostKey ?? null]);
}

/**
 * What opening a command's channel gave: the channel, or why not and whether the command
 * may have started.
 *
 * `started: false` only when the exec request never left: the connection was not writable,
 * the channel was refused (the host's MaxSessions, `refused: true`), or the connection closed
 * while the channel was still being opened (ssh2 then fails the open with "No response from
 * server"). Once the channel is open ssh2 sends the exec request, and every failure after that
 * ("Unable to exec", "Channel is not open") counts as started: the host may have run it, so it
 * is never run again (a second `systemctl restart` or key-file write is not ours to risk).
 */
export type ExecOutcome = { stream: ClientChannel } | { error: string; started: boolean; refused: boolean };

export function openExec(client: ssh2.Client, command: string, onOpen?: (stream: ClientChannel) => void): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    try {
      client.exec(command, (err: Error | undefined, stream?: ClientChannel) => {
        if (!err && stream) {
          // Synchronously: ssh2 may hand over the exit status in the same read as the channel,
          // and an 'exit' listener attached a microtask later would miss it.
          onOpen?.(stream);
          return resolve({ stream });
        }
        const e: Ssh2Error = err ?? new Error('no channel');
        // ssh2 sets `reason` only on a CHANNEL_OPEN_FAILURE from the server.
        const refused = e.reason !== undefined;
        const neverSent = refused || e.message === 'No response from server' || e.message === 'No free channels available';
        resolve({ error: e.message, started: !neverSent, refused });
      });
    } catch (err) {
      // ssh2 throws "Not connected" when the socket is gone: nothing was sent.
      resolve({ error: err instanceof Error ? err.message : String(err), started: false, refused: false });
    }
  });
}
