/**
 * Boots the real opsgate (createOpsgate) for a test: a test store, the fake Slack Web API on
 * loopback, a catalog and directory in a temp folder, and a requester that signs requests to
 * the app's /slack/events exactly as Slack does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { createOpsgate, type Opsgate } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Clock } from '../../src/clock.js';
import { FakeSlack } from './fake-slack.js';
import { SlackRequester } from './slack-requests.js';
import { startTestStore, tempDir, type TestStore } from './store.js';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const exampleCatalog = path.join(root, 'catalog');

/** Slack users matching the example directory (catalog/directory.yaml) by email. */
export const USERS = {
  erin: { id: 'UERIN', email: 'erin@example.com', name: 'erin' },
  alice: { id: 'UALICE', email: 'alice@example.com', name: 'alice' },
  carol: { id: 'UCAROL', email: 'carol@example.com', name: 'carol' },
  bob: { id: 'UBOB', email: 'bob@example.com', name: 'bob' },
  dave: { id: 'UDAVE', email: 'dave@example.com', name: 'dave' },
  stranger: { id: 'USTRANGER', email: 'stranger@elsewhere.example', name: 'stranger' },
} as const;

/** The bot scopes the repository's Slack app manifest grants. */
export function manifestScopes(): string[] {
  const manifest = YAML.parse(fs.readFileSync(path.join(root, 'slack-app-manifest.yaml'), 'utf8')) as { oauth_config: { scopes: { bot: string[] } } };
  return manifest.oauth_config.scopes.bot;
}

export interface TestOpsgate {
  /** The running app; replaced by restart(). */
  app: Opsgate;
  fake: FakeSlack;
  slack: SlackRequester;
  store: TestStore;
  catalogDir: string;
  dataDir: string;
  /** Waits until the directory sync queued at start has written people. */
  ready(): Promise<void>;
  /** Stops the app (not the store) and starts a new one on the same store and config: a bot restart. */
  restart(): Promise<void>;
  /** Starts another bot instance on the same store and config beside the first (stop it yourself). */
  second(): Promise<{ app: Opsgate; slack: SlackRequester }>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Copy of the example catalog is used unless a folder is given. */
  catalogDir?: string;
  directorySource?: string;
  env?: Record<string, string>;
  clock?: Clock;
  /** Where the app's log lines go (stderr unless given): tests that read the log pass a stream. */
  logStream?: NodeJS.WritableStream;
}

export async function startOpsgate(opts: StartOptions = {}): Promise<TestOpsgate> {
  const store = await startTestStore();
  const fake = await new FakeSlack(manifestScopes()).start();
  for (const u of Object.values(USERS)) fake.addUser(u);
  const dataDir = tempDir('opsgate-data');
  const catalogDir = opts.catalogDir ?? tempDir('catalog');
  if (!opts.catalogDir) fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    MONGODB_URI: store.dbUri,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_API_URL: fake.url,
    CATALOG_DIR: catalogDir,
    DIRECTORY_SOURCE: opts.directorySource ?? path.join(catalogDir, 'directory.yaml'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...opts.env,
  });
  const boot = () => createOpsgate(config, { logger: createLogger(config.LOG_LEVEL, opts.logStream ?? process.stderr), slackRetries: 0, processEveryMs: 200, clock: opts.clock });
  let app = await boot();
  let slack = new SlackRequester(`http://127.0.0.1:${app.port}/slack/events`, SIGNING_SECRET, () => fake.responseUrl());
  return {
    get app() {
      return app;
    },
    get slack() {
      return slack;
    },
    fake,
    store,
    catalogDir,
    dataDir,
    async ready() {
      const deadline = Date.now() + 15_000;
      // The sync's audit entry is its last write.
      while ((await app.services.audit.query({ action: 'directory.sync', actor: 'system:start' })).length === 0) {
        if (Date.now() > deadline) throw new Error('the directory sync queued at start did not run');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async restart() {
      await app.stop();
      app = await boot();
      slack = new SlackRequester(`http://127.0.0.1:${app.port}/slack/events`, SIGNING_SECRET, () => fake.responseUrl());
    },
    async second() {
      const other = await boot();
      return { app: other, slack: new SlackRequester(`http://127.0.0.1:${other.port}/slack/events`, SIGNING_SECRET, () => fake.responseUrl()) };
    },
    async stop() {
      await app.stop();
      await fake.stop();
      await store.stop();
    },
  };
}

/** The text of everything a response_url or ack carried, for assertions. */
export function textOf(message: unknown): string {
  return JSON.stringify(message);
}

/**
 * Runs a slash command and returns what the person sees: the ack body when the app answered
 * in the acknowledgement, else the next message posted to the command's response_url.
 */
export async function runCommand(t: TestOpsgate, command: string, text: string, user: { id: string }): Promise<{ status: number; text: string; blocks: unknown[] }> {
  const mark = t.fake.calls.length;
  const res = await t.slack.command(command, text, user);
  if (res.status !== 200) return { status: res.status, text: res.text, blocks: [] };
  if (res.text.trim() !== '') {
    const body = res.json() as { text?: string; blocks?: unknown[] };
    return { status: 200, text: body.text ?? '', blocks: body.blocks ?? [] };
  }
  const call = await t.fake.waitFor('response_url', (c) => t.fake.calls.indexOf(c) >= mark);
  return { status: 200, text: String(call.args.text ?? ''), blocks: (call.args.blocks as unknown[]) ?? [] };
}
