/**
 * Issue 14 item 1, for the process itself: the bot runs as `npm start` does (src/main.ts in its
 * own Node process, so nothing of vitest can catch what would end it), receives every signed
 * bad body, and is still running and answering `/opsgate help` afterwards. Before the guard, the
 * first `payload=null` ended the process ("Cannot read properties of null (reading
 * 'ssl_check')").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { exampleCatalog, manifestScopes, SIGNING_SECRET, USERS } from '../helpers/opsgate.js';
import { SlackRequester } from '../helpers/slack-requests.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';
import { BAD_BODIES } from './bad-bodies.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface LogLine {
  level: number;
  msg?: string;
  port?: number;
  code?: number;
  reqId?: string;
}

describe('the bot process survives signed bad bodies', () => {
  let store: TestStore;
  let fake: FakeSlack;
  let child: ChildProcess;
  let slack: SlackRequester;
  const lines: LogLine[] = [];
  let exited: Promise<number | null>;

  beforeAll(async () => {
    store = await startTestStore();
    fake = await new FakeSlack(manifestScopes()).start();
    for (const u of Object.values(USERS)) fake.addUser(u);
    const catalogDir = tempDir('catalog');
    fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
    child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: '0',
        DATA_DIR: tempDir('opsgate-data'),
        MONGODB_URI: store.dbUri,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN: 'xoxb-test-token',
        SLACK_API_URL: fake.url,
        CATALOG_DIR: catalogDir,
        DIRECTORY_SOURCE: path.join(catalogDir, 'directory.yaml'),
        LOG_LEVEL: 'info',
      },
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr!.resume();
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`opsgate exited with ${code} before listening`)));
      readline.createInterface({ input: child.stdout! }).on('line', (text) => {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          return;
        }
        lines.push(line);
        if (line.msg === 'opsgate listening' && line.port) resolve(line.port);
      });
    });
    slack = new SlackRequester(`http://127.0.0.1:${port}/slack/events`, SIGNING_SECRET, () => fake.responseUrl());
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await fake.stop();
    await store.stop();
  });

  it('answers each with 400 and its code, logs each once, and goes on answering', async () => {
    for (const [name, contentType, body, code] of BAD_BODIES) {
      const res = await slack.post(body, contentType);
      expect([name, res.status, (res.json() as { code: number }).code]).toEqual([name, 400, code]);
      const help = await slack.command('/opsgate', 'help', USERS.stranger);
      expect([name, help.status]).toEqual([name, 200]);
    }
    expect(child.exitCode).toBe(null);
    expect(child.signalCode).toBe(null);
    // The child's log is a pipe: the refusal lines may still be on their way; one per bad body.
    const refusals = () => lines.filter((l) => l.msg === 'Slack request refused');
    while (refusals().length < BAD_BODIES.length) await new Promise((resolve) => child.stdout!.once('data', resolve));
    expect(refusals()).toHaveLength(BAD_BODIES.length);
    expect(new Set(refusals().map((l) => l.reqId)).size).toBe(BAD_BODIES.length);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('stops cleanly on SIGTERM afterwards (exit code 0)', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
