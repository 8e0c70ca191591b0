/**
 * The execution engine's contracts: where a command runs, what comes back, and the shape of a
 * whole run (seed 001's `host_ok` / `host_unreachable` / `host_failed`).
 */
import { z } from 'zod';

/** A host reached over SSH with the bot's key; its host key is pinned, never learned. */
export interface SshTarget {
  transport: 'ssh';
  /** The inventory name; results are keyed by it, so it is unique within a run. */
  name: string;
  address: string;
  port: number;
  user: string;
  /**
   * The host key's fingerprint as OpenSSH prints it (`ssh-keygen -lf`, `ssh-keyscan | ssh-keygen -lf -`):
   * `SHA256:` and unpadded base64. Missing means not yet pinned: the host is refused.
   */
  hostKey?: string;
}

/** The bot's own machine (the seed's default "config center"): a child process, no SSH. */
export interface LocalTarget {
  transport: 'local';
  name: string;
}

export type HostTarget = SshTarget | LocalTarget;

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Validates targets at the boundary (inventory documents, module requests). */
export const hostTargetSchema = z.discriminatedUnion('transport', [
  z.object({
    transport: z.literal('ssh'),
    name: z.string().min(1),
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    hostKey: z.string().regex(FINGERPRINT, 'must be a fingerprint such as SHA256:<43 base64 characters>').optional(),
  }),
  z.object({ transport: z.literal('local'), name: z.string().min(1) }),
]);

/**
 * Why a host has no ordinary result. `connect`, `auth` and `hostkey` mean the command never
 * ran (the host is unreachable); `timeout` and `cancelled` mean it was stopped by us; `lost`
 * means the connection dropped after the command was sent: it may have run (in part), so it
 * is a failure, and it is never run again on its own.
 */
export type HostErrorKind = 'connect' | 'auth' | 'hostkey' | 'timeout' | 'cancelled' | 'lost';

export interface HostError {
  kind: HostErrorKind;
  message: string;
}

/** One host's outcome, node-ssh style: a non-zero exit is a result, not an exception. */
export interface HostResult {
  host: string;
  /** Redacted, and cut at the engine's output limit. */
  stdout: string;
  stderr: string;
  /** Exit code; null when the process was ended by a signal or never ran. */
  code: number | null;
  /** The signal that ended the process (`SIGTERM`, `SIGKILL`, ...), or null. */
  signal: string | null;
  durationMs: number;
  /** True when stdout or stderr was longer than the limit and cut. */
  truncated?: boolean;
  error?: HostError;
}

export interface RunResult {
  jobId: string;
  host_ok: Record<string, HostResult>;
  host_failed: Record<string, HostResult>;
  host_unreachable: Record<string, HostResult>;
}

export function isUnreachable(r: HostResult): boolean {
  return r.error?.kind === 'connect' || r.error?.kind === 'auth' || r.error?.kind === 'hostkey';
}

/** What a transport hands back for one host while the command runs. */
export interface RunningCommand {
  /** Settles once the host is done; never rejects. Output is raw (the engine redacts). */
  readonly result: Promise<HostResult>;
  /**
   * Sends a signal to the whole remote process group. Before the command has started the
   * signal is held and sent as soon as it starts, except TERM/KILL-like stops, which abort
   * the connection attempt instead (see `STOP_SIGNALS`).
   */
  signal(name: SignalName): void;
}

export interface RunCommandOptions {
  /** The script, run by the host's /bin/sh (or the engine's configured shell). */
  command: string;
  /** Whole-command limit; on expiry the process group gets TERM, then KILL after the grace. */
  timeoutMs: number;
  /** Time from TERM to KILL. */
  killGraceMs: number;
  /** Output kept per stream; the rest is dropped (the engine marks the result truncated). */
  maxOutputBytes: number;
  /**
   * Raw output as it arrives, besides what is kept. When it returns a promise the stream is
   * paused until the promise settles (backpressure reaches the process or the SSH window).
   */
  onOutput?: (stream: OutputStreamName, chunk: Buffer) => void | Promise<void>;
}

export type OutputStreamName = 'stdout' | 'stderr';

export interface Transport<T extends HostTarget = HostTarget> {
  run(target: T, opts: RunCommandOptions): RunningCommand;
  /** Lets go of what it holds open (pooled connections); commands still running are cut off. */
  close?(): Promise<void>;
}

/** Signal names without the SIG prefix, as `kill -l` prints them. */
export type SignalName = string;
