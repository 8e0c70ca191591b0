/**
 * Runs one command on one host over SSH (ssh2): key authentication, a pinned host key (an
 * unknown or changed key is refused, never learned), a connect timeout, a command timeout
 * that ends the remote process group, and signals delivered to that group.
 */
import { createHash } from 'node:crypto';
import ssh2, { type ClientChannel, type ParsedKey } from 'ssh2';

// ssh2 is CommonJS: its named exports are only reachable through the default import.
const { Client, utils } = ssh2;
import { OutputBuffer } from './output-buffer.js';
import { readOutput } from './read-output.js';
import { PgidMarkerScanner, killGroupCommand, wrapInProcessGroup } from './process-group-wrapper.js';
import { STOP_SIGNALS } from './signals.js';
import type { HostError, HostResult, RunCommandOptions, RunningCommand, SignalName, SshTarget, Transport } from './types.js';

export interface SshTransportOptions {
  /** The bot's private key (OpenSSH or PEM). Parsed once here, so a bad key fails at start-up. */
  privateKey: Buffer | string;
  passphrase?: string;
  /** From TCP connect to an authenticated session. */
  connectTimeoutMs: number;
  /** Shell that runs scripts on the hosts. */
  shell?: string;
  /** How long to wait for the channel to close after KILL before dropping the connection. */
  closeWaitMs?: number;
}

/** `SHA256:` + unpadded base64 of the key blob: what `ssh-keygen -lf` prints. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** Error levels ssh2 sets on connection errors. */
type Ssh2Error = Error & { level?: string };

export class SshTransport implements Transport<SshTarget> {
  private readonly key: ParsedKey;

  constructor(private readonly opts: SshTransportOptions) {
    const parsed = utils.parseKey(opts.privateKey, opts.passphrase);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) throw new Error(`cannot read the bot's SSH private key: ${key instanceof Error ? key.message : 'empty'}`);
    if (!key.isPrivateKey()) throw new Error("the bot's SSH key is a public key; a private key is needed");
    this.key = key;
  }

  run(target: SshTarget, opts: RunCommandOptions): RunningCommand {
    return new SshRun(target, opts, this.opts, this.key);
  }
}

type Phase = 'connecting' | 'running' | 'done';

/** One command on one host, from connect to the last byte; `result` never rejects. */
class SshRun implements RunningCommand {
  readonly result: Promise<HostResult>;
  private resolve!: (r: HostResult) => void;
  private readonly client = new Client();
  private readonly started = performance.now();
  private phase: Phase = 'connecting';
  private stream?: ClientChannel;
  private pgid?: number;
  /** Signals asked for before the group id was known; sent once it is. */
  private readonly heldSignals: SignalName[] = [];
  /** The command timed out before its group id arrived: stop the group once it does. */
  private stopGroupWhenKnown = false;
  private readonly stdout: OutputBuffer;
  private readonly stderr: OutputBuffer;
  private readonly scanner: PgidMarkerScanner;
  private exit: { code: number | null; signal: string | null } = { code: null, signal: null };
  private error?: HostError;
  private hostKeyRefusal?: string;
  private stoppedBy?: SignalName;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Set when the command's channel closed: settles once its output was read to the end. */
  private channelClosed?: Promise<void>;

  constructor(
    private readonly target: SshTarget,
    private readonly opts: RunCommandOptions,
    private readonly transport: SshTransportOptions,
    key: ParsedKey,
  ) {
    this.result = new Promise((r) => (this.resolve = r));
    this.stdout = new OutputBuffer(opts.maxOutputBytes);
    this.stderr = new OutputBuffer(opts.maxOutputBytes);
    this.scanner = new PgidMarkerScanner((pgid) => {
      this.pgid = pgid;
      for (const s of this.heldSignals.splice(0)) this.sendToGroup(s);
      if (this.stopGroupWhenKnown) this.stopGroup();
    });
    this.connect(key);
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

  private connect(key: ParsedKey): void {
    const { target } = this;
    let authTried = false;
    this.client
      .on('ready', () => this.exec())
      .on('error', (err: Ssh2Error) => this.onClientError(err))
      .on('close', () => {
        // After the channel closed the command did finish; its output is still being handed over.
        if (this.channelClosed) return;
        if (this.phase !== 'done') this.finish(this.error ?? { kind: 'connect', message: 'the connection closed before the command finished' });
      });
    try {
      this.client.connect({
        host: target.address,
        port: target.port,
        username: target.user,
        readyTimeout: this.transport.connectTimeoutMs,
        // A host that dies mid-command is noticed within a minute, not at the command timeout.
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
        // The key is parsed once per transport, not once per connection.
        authHandler: (_methodsLeft, _partial, _next) => {
          if (authTried) return false;
          authTried = true;
          return { type: 'publickey', username: target.user, key };
        },
        hostVerifier: (keyBlob: Buffer) => this.verifyHostKey(keyBlob),
      });
    } catch (err) {
      this.finish({ kind: 'connect', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private verifyHostKey(keyBlob: Buffer): boolean {
    const presented = sha256Fingerprint(keyBlob);
    const pinned = this.target.hostKey;
    if (!pinned) this.hostKeyRefusal = `host key ${presented} is not pinned in the inventory; refused`;
    else if (presented !== pinned) this.hostKeyRefusal = `host key changed: the host presented ${presented}, the inventory pins ${pinned}; refused`;
    return this.hostKeyRefusal === undefined;
  }

  private onClientError(err: Ssh2Error): void {
    if (this.phase === 'done') return;
    if (this.hostKeyRefusal) this.error = { kind: 'hostkey', message: this.hostKeyRefusal };
    else if (err.level === 'client-authentication') this.error = { kind: 'auth', message: `the host refused the bot's key for ${this.target.user}` };
    else if (err.level === 'client-timeout') this.error = { kind: 'connect', message: `no SSH session within ${this.transport.connectTimeoutMs} ms` };
    else if (this.phase === 'running') this.error = { kind: 'connect', message: `connection lost while the command ran: ${err.message}` };
    else this.error = { kind: 'connect', message: err.message };
    // ssh2 closes the socket after an error; 'close' then settles the result, but a refused
    // connect may not emit it, so settle here too.
    this.finish(this.error);
  }

  private exec(): void {
    if (this.phase === 'done') return;
    const wrapped = wrapInProcessGroup(this.opts.command, this.transport.shell);
    this.client.exec(wrapped, (err, stream) => {
      if (err) {
        this.finish({ kind: 'connect', message: `the host refused to run a command: ${err.message}` });
        return;
      }
      if (this.phase === 'done') {
        stream.close();
        return;
      }
      this.phase = 'running';
      this.stream = stream;
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
    });
  }

  private onStdout(chunk: Buffer): Promise<void> | void | undefined {
    this.stdout.push(chunk);
    if (chunk.length > 0) return this.opts.onOutput?.('stdout', chunk);
  }

  /**
   * TERM to the group, KILL after the grace, then drop the connection if it still hangs. A
   * timeout can fire before the wrapper has reported its group (a loaded host is slow to start
   * the shell): then the group is stopped as soon as it is known, and only if it is still
   * unknown after the grace does the channel signal stand in, for servers that honour it.
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
        this.finish(this.error);
      }, this.opts.killGraceMs),
    );
  }

  private stopGroup(): void {
    this.sendToGroup('TERM');
    this.timers.push(
      setTimeout(() => {
        if (this.phase === 'done') return;
        this.sendToGroup('KILL');
        this.timers.push(setTimeout(() => this.finish(this.error), this.transport.closeWaitMs ?? 2000));
      }, this.opts.killGraceMs),
    );
  }

  /** `kill -SIG -PGID` on a second channel of the same connection. */
  private sendToGroup(signal: SignalName): void {
    // Signals go out until the channel closes, also after the top process exited: background
    // processes still holding its output are in the group (so the id cannot have been reused).
    if (this.phase === 'done' || this.pgid === undefined) return;
    this.client.exec(killGroupCommand(signal, this.pgid), (err, ch) => {
      if (err) {
        // The server allows no second channel (MaxSessions 1): the channel request reaches
        // at least the top process on servers that honour it.
        this.stream?.signal(signal);
        return;
      }
      ch.resume();
      ch.stderr.resume();
    });
  }

  private finish(error: HostError | undefined): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    for (const t of this.timers) clearTimeout(t);
    // A process that died from a signal we were asked to send was cancelled, not a failure.
    if (!error && this.stoppedBy && this.exit.code !== 0) {
      error = { kind: 'cancelled', message: `stopped by SIG${this.stoppedBy}` };
    }
    // A finished command gets a polite disconnect; anything cut short is dropped at once.
    if (!error && this.stream) this.client.end();
    else this.client.destroy();
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
