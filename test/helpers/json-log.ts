/**
 * A child process's JSON log lines (pino on stdout), kept and awaitable: `line(match)` resolves
 * with the first line that matches, now or later, and rejects if the process exits first.
 */
import type { ChildProcess } from 'node:child_process';

export interface LogLine {
  msg: string;
  [k: string]: unknown;
}

export interface JsonLog {
  lines: LogLine[];
  stderr(): string;
  line(match: (l: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function followJsonLog(child: ChildProcess, name: string): JsonLog {
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let err = '';
  let buffered = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.on('data', (c: Buffer) => {
    buffered += c.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(text) as LogLine;
      } catch {
        parsed = { msg: text };
      }
      lines.push(parsed);
      for (const w of waiters.filter((x) => x.match(parsed))) (waiters.splice(waiters.indexOf(w), 1), w.resolve(parsed));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    lines,
    stderr: () => err,
    exited,
    line: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`${name} exited (${code ?? signal}) first; stdout: ${lines.map((l) => l.msg).join(' | ').slice(-2000)}; stderr: ${err.slice(-2000)}`)),
        );
      });
    },
  };
}
