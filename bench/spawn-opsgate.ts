/** Starts serve-opsgate.ts in its own process and resolves once it serves, with its port. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ServedOpsgate {
  child: ChildProcess;
  port: number;
  /** Resolves once the process is gone. */
  exited: Promise<unknown>;
  /** The last lines the bot logged, when its stderr is piped. */
  log(): string;
}

/** `stderr: 'pipe'` leaves the bot's log on child.stderr for the caller; else it goes to this process's stderr. */
export async function spawnOpsgate(opts: { env?: Record<string, string>; stderr?: 'inherit' | 'pipe'; nodeArgs?: string[] } = {}): Promise<ServedOpsgate> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', path.join(here, 'serve-opsgate.ts')], {
    stdio: ['ignore', 'pipe', opts.stderr ?? 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  const exited = new Promise((r) => child.once('exit', r));
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`opsgate exited (${code}) before serving${log ? `; its log: ${log}` : ''}`)));
  });
  return { child, port, exited, log: () => log };
}
