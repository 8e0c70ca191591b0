/**
 * Looking for a test's processes in a process table: this machine's (`local`, and the loopback
 * sshd hosts share it) or a host's read over SSH. Tests give their long sleeps numbers of their
 * own, so a needle such as `sleep 123457` matches only their processes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Lines of this machine's process table (`pid pgid args`) that contain `needle`. */
export async function localPs(needle: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
  return stdout.split('\n').filter((l) => l.includes(needle) && !l.includes('ps -eo'));
}

/** Resolves once `list` finds something; throws after `tries` looks. */
export async function untilSeen(list: () => Promise<string[]>, what: string, tries = 2000): Promise<void> {
  for (let i = 0; (await list()).length === 0; i++) if (i > tries) throw new Error(`${what} never showed up`);
}

/**
 * What is left once the processes signalled have exited: a leftover would stay for hours (the
 * sleeps are long), so asking until none is left, for at most 10 s, still catches it.
 */
export async function untilGone(list: () => Promise<string[]>): Promise<string[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const left = await list();
    if (left.length === 0 || Date.now() > until) return left;
  }
}
