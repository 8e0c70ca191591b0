/**
 * `npm run demo` as a newcomer runs it, for tests: the real entry in its own process, with the
 * given DATA_DIR and PORT=0, no Slack and nothing of an outer configuration. Its JSON log lines
 * can be awaited; stopStartedDemos() kills what is left and removes the data folders.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { followJsonLog, type JsonLog, type LogLine } from './json-log.js';

const repo = path.resolve(import.meta.dirname, '../..');

export type { LogLine };

export interface Demo extends JsonLog {
  child: ChildProcess;
}

const started: Array<{ demo: Demo; dataDir: string }> = [];

export function startDemo(dataDir: string, extraEnv: Record<string, string> = {}): Demo {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extraEnv };
  // No Slack, and nothing of an outer configuration: the demo picks its own catalog, people and key.
  for (const k of Object.keys(env)) if (/^(SLACK_|SSH_|CATALOG_DIR|DIRECTORY_SOURCE|MONGODB_URI|LOG_FORMAT)/.test(k)) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const demo: Demo = { child, ...followJsonLog(child, 'the demo') };
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
