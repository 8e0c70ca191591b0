/**
 * `npm run demo` as a newcomer runs it, for tests: the real entry in its own process, with the
 * given DATA_DIR and PORT=0, no Slack and nothing of an outer configuration. Its JSON log lines
 * can be awaited; stopStartedDemos() kills what is left and removes the data folders.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');

export interface LogLine {
  msg: string;
  [k: string]: unknown;
}

export interface Demo {
  child: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line that `match`es, now or later; rejects if the process exits first. */
  line(match: (l: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: Array<{ demo: Demo; dataDir: string }> = [];

export function startDemo(dataDir: string, extraEnv: Record<string, string> = {}): Demo {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extraEnv };
  // No Slack, and nothing of an outer configuration: the demo picks its own catalog, people and key.
  for (const k of Object.keys(env)) if (/^(SLACK_|SSH_|CATALOG_DIR|DIRECTORY_SOURCE|MONGODB_URI|LOG_FORMAT)/.test(k)) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      for (const w of waiters.filter((w) => w.match(parsed))) (waiters.splice(waiters.indexOf(w), 1), w.resolve(parsed));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const demo: Demo = {
    child,
    lines,
    stderr: () => err,
    line: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code }) => reject(new Error(`the demo exited (${code}) first; stdout: ${lines.map((l) => l.msg).join(' | ')}; stderr: ${err}`)));
      });
    },
    exited,
  };
  started.push({ demo, dataDir });
  return demo;
}

export async function stopStartedDemos(): Promise<void> {
  for (const { demo, dataDir } of started.splice(0)) {
    if (demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGKILL');
      await demo.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
