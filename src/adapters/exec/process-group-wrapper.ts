/**
 * Remote commands run in a process group of their own whose id the bot learns, so a signal or
 * a timeout reaches every process the command started, not only the SSH channel (closing a
 * channel leaves a no-pty command running on the host).
 *
 * OpenSSH's sshd already starts each session's shell as a session and group leader. The
 * wrapper checks that (a process group named after the shell's pid exists), prints the group
 * id on a marker line and execs the script in the same process, so the exit status or signal
 * sshd reports is the script's own. Where the shell is not a group leader (other SSH servers)
 * it starts the script under `setsid -w` instead. sshd's own "signal" channel request is not
 * used: OpenSSH before 7.9 ignores it, and it reaches one process, not the group.
 */
import { shellQuote } from './shell-quote.js';

/** Record separator + tag: a line no ordinary command prints. */
const MARKER = '\x1eOPSGATE-PGID ';
const MARKER_BYTES = Buffer.from(MARKER);
/** Login-shell start-up output allowed before the marker before we give up looking. */
const MAX_SCAN_BYTES = 64 * 1024;

/** The command line sent over SSH; the login shell (sh, bash, dash, ksh, zsh) parses it. */
export function wrapInProcessGroup(script: string, shell = '/bin/sh'): string {
  const sh = shellQuote(shell);
  const printMarker = `printf '\\036OPSGATE-PGID %s\\n' "$$"`;
  const inner = `${printMarker}; exec ${sh} -c "$1"`;
  return [
    `if kill -0 -$$ 2>/dev/null; then ${printMarker}; exec ${sh} -c ${shellQuote(script)}; fi`,
    `exec setsid -w ${sh} -c ${shellQuote(inner)} opsgate ${shellQuote(script)}`,
  ].join('\n');
}

/** The kill command for a group: `kill -TERM -123` (dash's kill takes no `--`). */
export function killGroupCommand(signal: string, pgid: number): string {
  return `kill -${signal} -${pgid}`;
}

/**
 * Finds the marker line at the start of stdout, reports the group id and passes every other
 * byte through unchanged.
 */
export class PgidMarkerScanner {
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(private readonly onPgid: (pgid: number) => void) {}

  /** Returns the bytes of `chunk` that belong to the command's stdout. */
  push(chunk: Buffer): Buffer {
    if (this.done) return chunk;
    this.pending = Buffer.concat([this.pending, chunk]);
    const at = this.pending.indexOf(MARKER_BYTES);
    if (at >= 0) {
      const nl = this.pending.indexOf(0x0a, at);
      if (nl < 0) return Buffer.alloc(0);
      const pgid = Number(this.pending.subarray(at + MARKER_BYTES.length, nl).toString('latin1'));
      const out = Buffer.concat([this.pending.subarray(0, at), this.pending.subarray(nl + 1)]);
      this.finish();
      if (Number.isInteger(pgid) && pgid > 1) this.onPgid(pgid);
      return out;
    }
    if (this.pending.length > MAX_SCAN_BYTES) return this.flush();
    return Buffer.alloc(0);
  }

  /** At end of stream: whatever was held back while looking for the marker. */
  flush(): Buffer {
    const out = this.pending;
    this.finish();
    return out;
  }

  private finish(): void {
    this.done = true;
    this.pending = Buffer.alloc(0);
  }
}
