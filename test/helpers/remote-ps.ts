/**
 * What runs on a loopback sshd host, read with `ps` over SSH: for tests that signal remote
 * process groups and must see nothing left. The test hosts share this machine's process
 * table, so a needle should be unique to the test (a random sleep length).
 */
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { untilGone } from './processes.js';
import type { SshdFleet } from './sshd.js';

export interface RemotePs {
  /** Lines of `ps -eo pid,pgid,args` holding `needle`. */
  lines(needle: string): Promise<string[]>;
  /** What is left once the processes signalled have exited (processes.ts's untilGone). */
  gone(needle: string): Promise<string[]>;
  /** Waits until `count` processes hold `needle` (the command is running on that many hosts). */
  until(needle: string, count: number): Promise<void>;
  close(): Promise<void>;
}

export function remotePs(fleet: SshdFleet): RemotePs {
  const engine = new ExecutionEngine({ sshPrivateKey: fleet.clientKey.privateKey });
  const s = fleet.servers[0]!;
  const lines = async (needle: string): Promise<string[]> => {
    const r = await engine.start({ targets: [{ transport: 'ssh', name: 'ps', address: '127.0.0.1', port: s.port, user: 'root', hostKey: s.fingerprint }], command: 'ps -eo pid,pgid,args' }).done;
    return r.host_ok.ps!.stdout.split('\n').filter((l) => l.includes(needle) && !l.includes('ps -eo'));
  };
  return {
    lines,
    gone: (needle) => untilGone(() => lines(needle)),
    async until(needle, count) {
      for (let i = 0; (await lines(needle)).length < count; i++) if (i > 300) throw new Error(`${needle} never started on ${count} hosts`);
    },
    close: () => engine.close(),
  };
}
