/**
 * Runs one command on one host over SSH (ssh2): key authentication, a pinned host key (an
 * unknown or changed key is refused, never learned), a connect timeout, a command timeout
 * that ends the remote process group, and signals delivered to that group. Connections come
 * from a warm pool (ssh-pool.ts): each command is a new channel on the host's connection.
 */
import ssh2, { type ClientChannel, type ParsedKey } from 'ssh2';

// ssh2 is CommonJS: its named exports are only reachable through the default import.
const { utils } = ssh2;
import type { Logger } from '../../logger.js';
import { OutputBuffer } from './output-buffer.js';
import { readOutput } from './read-output.js';
import { PgidMarkerScanner, killGroupCommand, wrapInProcessGroup } from './process-group-wrapper.js';
import { STOP_SIGNALS } from './signals.js';
import { openExec, SshConnectionPool, type Lease } from './ssh-pool.js';
import type { HostError, HostResult, RunCommandOptions, RunningCommand, SignalName, SshTarget, Transport } from './types.js';

export { sha256Fingerprint } from './ssh-pool.js';

export interface SshPoolSettings {
  /** How long an unused connection stays open (default 60 s; 0: no pooling). */
  idleTimeoutMs?: number;
  /** Connections kept open at most (default 256). */
  maxConnections?: number;
  /** SSH keepalive pings (default 15 s; four unanswered drop the connection). */
  keepaliveIntervalMs?: number;
  /** The hosts' sshd MaxSessions (default 10, OpenSSH's default). */
  channelsPerConnection?: number;
}

export interface SshTransportOptions {
  /** The bot's private key (OpenSSH or PEM). Parsed once here, so a bad key fails at start-up. */
  privateKey: Buffer | string;
  passphrase?: string;
  /** From TCP connect to an authenticated session. */
  connectTimeoutMs: number;
  /** Shell that runs scripts on the hosts. */
  shell?: string;
  /** How long to wait for the channel to close after KILL before giving up on it. */
  closeWaitMs?: number;
  pool?: SshPoolSettings;
  logger?: Logger;
}

/**
 * Tries of one command on fresh connections when the pooled one turned out dead (or refused a
 * channel) before the command was sent.
 */
const MAX_ATTEMPTS = 3;
/** Shortest wait for a command's channel before its connection counts as dead. */
const CHANNEL_WAIT_MIN_MS = 10_000;
/** Longest wait for one `kill -SIG -PGID` to have run before the next signal goes anyway. */
const SIGNAL_DELIVERY_WAIT_MS = 10_000;
/** Tries when a host refused a channel because ours filled its MaxSessions. */
const MAX_ATTEMPTS_WHEN_CROWDED = 10;

export class SshTransport implements Transport<SshTarget> {
  readonly pool: SshConnectionPool;

  constructor(private readonly opts: SshTransportOptions) {
    const parsed = utils.parseKey(opts.privateKey, opts.passphrase);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) throw new Error(`cannot read the bot's SSH private key: ${key instanceof Error ? key.message : 'empty'}`);
    if (!key.isPrivateKey()) throw new Error("the bot's SSH key is a public key; a private key is needed");
    this.pool = new SshConnectionPool({
      key: key as ParsedKey,
      connectTimeoutMs: opts.connectTimeoutMs,
      idleTimeoutMs: opts.pool?.idleTimeoutMs ?? 60_000,
      maxConnections: opts.pool?.maxConnections ?? 256,
      keepaliveIntervalMs: opts.pool?.keepaliveIntervalMs ?? 15_000,
      channelsPerConnection: opts.pool?.channelsPerConnection ?? 10,
      logger: opts.logger,
    });
  }

  run(target: SshTarget, opts: RunCommandOptions): RunningCommand {
    return new SshRun(target, opts, this.opts, this.pool);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

type Phase = 'connecting' | 'running' | 'done';

/** One command on one host, from getting a channel to the last byte; `result` never rejects. */
class SshRun implements RunningCommand {
  readonly result: Promise<HostResult>;
  private resolve!: (r: HostResult) => void;
  private readonly started = performance.now();
  private phase: Phase = 'connecting';
  private lease?: Lease;
  private stream?: ClientChannel;
  private pgid?: number;
  /** The signals handed to the host so far, in order (see sendToGroup). */
  private signalsSent: Promise<void> = Promise.resolve();
  /** Signals asked for before the group id was known; sent once it is. */
  private readonly heldSignals: SignalName[] = [];
  /** The command timed out before its group id arrived: stop the group once it does. */
  private stopGroupWhenKnown = false;
  /** The grace ended with the group still unknown: waiting for it to KILL it at once. */
  private lateGroupWait?: NodeJS.Timeout;
  private readonly stdout: OutputBuffer;
  private readonly stderr: OutputBuffer;
  private readonly scanner: PgidMarkerScanner;
  private exit: { code: number | null; signal: string | null } = { code: null, signal: null };
  private error?: HostError;
  private stoppedBy?: SignalName;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Set when the command's channel closed: settles once its output was read to the end. */
  private channelClosed?: Promise<void>;

  constructor(
    private readonly target: SshTarget,
    private readonly opts: RunCommandOptions,
    private readonly transport: SshTransportOptions,
    private readonly pool: SshConnectionPool,
  ) {
    this.result = new Promise((r) => (this.resolve = r));
    this.stdout = new OutputBuffer(opts.maxOutputBytes);
    this.stderr = new OutputBuffer(opts.maxOutputBytes);
    this.scanner = new PgidMarkerScanner((pgid) => {
      this.pgid = pgid;
      for (const s of this.heldSignals.splice(0)) this.sendToGroup(s);
      if (!this.stopGroupWhenKnown) return;
      if (this.lateGroupWait === undefined) return this.stopGroup();
      // Past the grace already: no TERM first, the group gets KILL at once.
      clearTimeout(this.lateGroupWait);
      this.killGroupThenAwaitClose();
    });
    void this.start();
  }

  signal(name: SignalName): void {
    if (this.phase === 'done') return;
    if (STOP_SIGNALS.has(name)) this.stoppedBy ??= name;
    if (this.phase === 'connecting' && STOP_SIGNALS.has(name)) {
      this.finish({ kind: 'cancelled', message: `stopped by SIG${name} before the command started` });
      return;
    }
    if (this.pgid === undefined) this.heldSignals.push(name);
    else this.sendToGroup(name);
  }

  /**
   * Gets a channel and starts the command on it. A pooled connection may have died while it
   * sat idle (a host rebooted, sshd restarted): then the command goes to a new connection, but
   * only when it cannot have started (see `openExec`); a command the host may have begun is
   * reported as lost, never sent twice.
   */
  private async start(): Promise<void> {
    const wrapped = wrapInProcessGroup(this.opts.command, this.transport.shell);
    for (let attempt = 1; ; attempt++) {
      const lease = await this.pool.acquire(this.target);
      if ('error' in lease) return this.finish(lease.error);
      if (this.phase === 'done') return lease.release();
      // A host that froze under a pooled connection answers nothing, not even a refusal: the
      // channel gets the connect timeout's budget (at least CHANNEL_WAIT_MIN_MS, as a loaded
      // host forks the session first), then the connection is dropped (a channel still being
      // opened then fails as never sent, and goes to a new connection).
      const channelWaitMs = this.channelWaitMs();
      const wedged = setTimeout(() => lease.drop(`no answer to a channel request within ${channelWaitMs} ms`), channelWaitMs);
      const outcome = await openExec(lease.client, wrapped, (stream) => this.run(lease, stream));
      clearTimeout(wedged);
      if ('stream' in outcome) return;
      // A channel refused while others of ours are open on it is the host's MaxSessions: the
      // share converges on it, so a few more tries are fine. A refusal on an otherwise unused
      // connection is the host saying no.
      const retry = !outcome.started && (outcome.refused ? lease.sharedWith() > 0 && attempt < MAX_ATTEMPTS_WHEN_CROWDED : lease.reused && attempt < MAX_ATTEMPTS);
      const connectionAlive = lease.isOpen();
      // A refused channel means the host allows fewer sessions than we assumed. A failure
      // before the command was sent means the connection is gone. A failed exec request on a
      // connection still open is the host saying no; on one that closed, it may have run.
      lease.release(outcome.refused ? { lowerShare: true } : !outcome.started ? { broken: true } : {});
      if (this.isDone()) return;
      if (retry) {
        this.transport.logger?.debug({ host: this.target.name, attempt, why: outcome.error }, 'pooled SSH connection unusable before the command was sent; trying a new one');
        continue;
      }
      return this.finish(
        outcome.started && !connectionAlive
          ? { kind: 'lost', message: `the connection was lost just as the command was sent (${outcome.error}); it may have run, so it is not run again` }
          : { kind: 'connect', message: `the host refused to run a command: ${outcome.error}` },
      );
    }
  }

  /** A stop signal may have finished the run while it waited (TypeScript narrows the field). */
  private isDone(): boolean {
    return this.phase === 'done';
  }

  private run(lease: Lease, stream: ClientChannel): void {
    if (this.phase === 'done') {
      // Stopped while the channel opened: nothing of it is wanted.
      stream.close();
      lease.release({ retire: true });
      return;
    }
    this.lease = lease;
    this.phase = 'running';
    this.stream = stream;
    lease.onClose((why) => {
      // After the channel closed the command did finish; its output is still being handed over.
      if (this.channelClosed) return;
      this.error ??= { kind: 'lost', message: `connection lost while the command ran (${why}); it may have run in part, so it is not run again` };
      // ssh2 ends the channel next: what arrived before the loss is read out, then 'close'
      // below settles the result. Should it not, the result does not wait for it.
      this.timers.push(setTimeout(() => this.finish(this.error), this.closeWaitMs()));
    });
    // No input: a command that reads stdin sees end-of-file instead of waiting forever.
    stream.end();
    void readOutput(stream, (chunk) => this.onStdout(this.scanner.push(chunk)));
    // ssh2 emits 'close' once stdout has ended; stderr may still hold data while a slow
    // output listener has it paused, so the result waits for it too.
    const stderrEnded = readOutput(stream.stderr, (chunk) => {
      this.stderr.push(chunk);
      return this.opts.onOutput?.('stderr', chunk);
    });
    stream.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: code ?? null, signal: signal ?? null };
    });
    stream.on('close', () => {
      const rest = this.onStdout(this.scanner.flush());
      this.channelClosed = Promise.all([rest, stderrEnded]).then(() => undefined);
      void this.channelClosed.then(() => this.finish(this.error));
    });
    this.timers.push(setTimeout(() => this.onTimeout(), this.opts.timeoutMs));
  }

  private onStdout(chunk: Buffer): Promise<void> | void | undefined {
    this.stdout.push(chunk);
    if (chunk.length > 0) return this.opts.onOutput?.('stdout', chunk);
  }

  /**
   * TERM to the group, KILL after the grace, then drop the connection if it still hangs. A
   * timeout can fire before the wrapper has reported its group (a loaded host is slow to start
   * the shell): then the group is stopped as soon as it is known, and only if it is still
   * unknown after the grace does the channel signal stand in, for servers that honour it
   * (the OpenSSH 9.2 of the tests does not). A shell slower than timeout and grace still starts the
   * command later, so the run waits for the group id (as long as for a channel, see
   * CHANNEL_WAIT_MIN_MS) and KILLs the group once it comes: the command does not run on
   * unattended, and the result says how it ended.
   */
  private onTimeout(): void {
    if (this.phase === 'done') return;
    this.error = { kind: 'timeout', message: `command did not finish within ${this.opts.timeoutMs} ms; its process group was terminated` };
    if (this.pgid !== undefined) {
      this.stopGroup();
      return;
    }
    this.stopGroupWhenKnown = true;
    this.timers.push(
      setTimeout(() => {
        if (this.phase === 'done' || this.pgid !== undefined) return;
        this.stream?.signal('KILL');
        this.lateGroupWait = setTimeout(() => this.finish(this.error), this.channelWaitMs());
        this.timers.push(this.lateGroupWait);
      }, this.opts.killGraceMs),
    );
  }

  /** How long a channel request may go unanswered before the connection counts as dead. */
  private channelWaitMs(): number {
    return Math.max(this.transport.connectTimeoutMs, CHANNEL_WAIT_MIN_MS);
  }

  private closeWaitMs(): number {
    return this.transport.closeWaitMs ?? 2000;
  }

  private stopGroup(): void {
    this.sendToGroup('TERM');
    this.timers.push(
      setTimeout(() => {
        if (this.phase === 'done') return;
        this.killGroupThenAwaitClose();
      }, this.opts.killGraceMs),
    );
  }

  private killGroupThenAwaitClose(): void {
    // The wait for the channel to close starts once the KILL was delivered (it may queue
    // behind a TERM a slow host is still starting).
    void this.sendToGroup('KILL').then(() => {
      if (this.phase !== 'done') this.timers.push(setTimeout(() => this.finish(this.error), this.closeWaitMs()));
    });
  }

  /**
   * `kill -SIG -PGID` on a second channel of the same connection. Signals are delivered in the
   * order asked: each `kill` starts once the one before it has ended. The host's shell may take
   * a while to start the `kill` (a loaded host, a heavy login shell), and a KILL sent after the
   * grace must not overtake the TERM it follows: the process gets TERM first, as promised.
   */
  private sendToGroup(signal: SignalName): Promise<void> {
    this.signalsSent = this.signalsSent.then(() => this.deliver(signal));
    return this.signalsSent;
  }

  private deliver(signal: SignalName): Promise<void> {
    // Signals go out until the channel closes, also after the top process exited: background
    // processes still holding its output are in the group (so the id cannot have been reused).
    if (this.phase === 'done' || this.pgid === undefined || !this.lease) return Promise.resolve();
    // The pool keeps one channel per connection free for this (see ssh-pool.ts). A host that
    // froze while the command ran answers no channel request: after the same wait as for a
    // command's channel the connection is dropped, which ends the run (lease.onClose) instead
    // of leaving it, and the signals queued behind this one, waiting for ever.
    const lease = this.lease;
    const channelWaitMs = this.channelWaitMs();
    const wedged = setTimeout(() => lease.drop(`no answer to the channel for SIG${signal} within ${channelWaitMs} ms`), channelWaitMs);
    return openExec(lease.client, killGroupCommand(signal, this.pgid)).then(
      (outcome) =>
        new Promise<void>((delivered) => {
          clearTimeout(wedged);
          if ('stream' in outcome) {
            outcome.stream.resume();
            outcome.stream.stderr.resume();
            // A `kill` that never ends must not hold the signals after it for ever.
            const cap = setTimeout(delivered, SIGNAL_DELIVERY_WAIT_MS);
            outcome.stream.once('close', () => {
              clearTimeout(cap);
              delivered();
            });
            return;
          }
          // The server allows no second channel (MaxSessions 1): the channel request reaches
          // at least the top process on servers that honour it.
          if (!this.channelClosed) this.stream?.signal(signal);
          delivered();
        }),
    );
  }

  private finish(error: HostError | undefined): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    for (const t of this.timers) clearTimeout(t);
    // A process that died from a signal we were asked to send was cancelled, not a failure.
    if (!error && this.stoppedBy && this.exit.code !== 0) {
      error = { kind: 'cancelled', message: `stopped by SIG${this.stoppedBy}` };
    }
    // A command cut short (timeout, stop, a channel that never closed) gives up its channel;
    // its connection takes no new commands and closes once the others on it ended, as a
    // channel that did not close after KILL may be stuck. A finished one goes back warm.
    if (this.stream && !this.channelClosed) {
      // Output held back while the scanner looked for the wrapper's marker is output too.
      this.stdout.push(this.scanner.flush());
      this.stream.close();
      this.lease?.release({ retire: true });
    } else this.lease?.release();
    this.resolve({
      host: this.target.name,
      stdout: this.stdout.text(),
      stderr: this.stderr.text(),
      code: this.exit.code,
      signal: this.exit.signal,
      durationMs: Math.round(performance.now() - this.started),
      truncated: this.stdout.overflowed || this.stderr.overflowed,
      ...(error ? { error } : {}),
    });
  }
}
