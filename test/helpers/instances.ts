/**
 * Several real bot processes (`npm start`'s entry point, src/main.ts) on one store process
 * (`npm run db`'s), as production runs them on one MongoDB: each instance its own PORT and
 * DATA_DIR, all with the same Slack app (signing secret, token, the fake Slack Web API) and
 * the same catalog. Each of Slack's deliveries goes to the instance the test sends it to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';
import { withDatabase } from '../../src/store/connect.js';
// Type only: access-env sets up role accounts when it is loaded.
import type { AccessWorld } from './access-env.js';
import { FakeSlack, type FakeUser } from './fake-slack.js';
import { followJsonLog, type LogLine } from './json-log.js';
import { manifestScopes, SIGNING_SECRET, USERS } from './opsgate.js';
import { SlackRequester } from './slack-requests.js';
import { spawnStore, type StoreProcess } from './store-process.js';
import { tempDir } from './store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Instance {
  index: number;
  child: ChildProcess;
  port: number;
  slack: SlackRequester;
  lines: LogLine[];
  /** The first log line that matches, now or later; rejects if the process exits first. */
  line(match: (l: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

export interface Instances {
  store: StoreProcess;
  /** The store's URI with the database opsgate uses. */
  dbUri: string;
  all: Instance[];
  /** A live instance picked at random: where Slack's load balancer would send the next request. */
  any(): Instance;
  /** Starts one more instance (or again the one at `index` after it died). */
  start(index?: number): Promise<Instance>;
  stop(): Promise<void>;
}

export interface InstancesOptions {
  count: number;
  fake: FakeSlack;
  catalogDir: string;
  env?: Record<string, string>;
}

function spawnInstance(index: number, dbUri: string, opts: InstancesOptions, dataDir: string): Promise<Instance> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    DATA_DIR: dataDir,
    MONGODB_URI: dbUri,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_API_URL: opts.fake.url,
    CATALOG_DIR: opts.catalogDir,
    DIRECTORY_SOURCE: path.join(opts.catalogDir, 'directory.yaml'),
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    ...opts.env,
  };
  delete env.SLACK_APP_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const { lines, line, exited } = followJsonLog(child, `instance ${index}`);
  return line((l) => l.msg === 'opsgate listening').then((l) => {
    const port = Number(l.port);
    return {
      index,
      child,
      port,
      slack: new SlackRequester(`http://127.0.0.1:${port}/slack/events`, SIGNING_SECRET, () => opts.fake.responseUrl()),
      lines,
      line,
      exited,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
  });
}

export async function startInstances(opts: InstancesOptions): Promise<Instances> {
  const dbpath = tempDir('instances-store');
  const store = await spawnStore(dbpath);
  const dbUri = withDatabase(store.uri, 'opsgate');
  const dataDirs: string[] = [];
  const all: Instance[] = [];
  const start = async (index = all.length): Promise<Instance> => {
    dataDirs[index] ??= tempDir(`instance-${index}`);
    const i = await spawnInstance(index, dbUri, opts, dataDirs[index]!);
    all[index] = i;
    return i;
  };
  // One after the other: the first creates the indexes and the directory; the others join it.
  for (let n = 0; n < opts.count; n++) await start();
  return {
    store,
    dbUri,
    all,
    any() {
      const live = all.filter((i) => i.alive());
      if (live.length === 0) throw new Error('no instance is running');
      return live[randomInt(live.length)]!;
    },
    start,
    async stop() {
      for (const i of all) {
        if (i.alive()) i.child.kill('SIGTERM');
      }
      await Promise.all(all.map((i) => i.exited));
      store.child.kill('SIGTERM');
      await store.exited;
      for (const d of [...dataDirs, dbpath]) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * A slash command sent to one instance: what the person sees (the ack's body, or else the
 * response_url post that follows it). Throws on any answer but 200.
 */
export async function say(fake: FakeSlack, via: Instance, command: string, words: string, user: { id: string }, timeoutMs?: number): Promise<string> {
  const mark = fake.calls.length;
  const res = await via.slack.command(command, words, user);
  if (res.status !== 200) throw new Error(`${command} ${words}: HTTP ${res.status} ${res.text}`);
  return res.text.trim() ? res.text : JSON.stringify((await fake.waitFor('response_url', (c) => fake.calls.indexOf(c) >= mark, timeoutMs)).args);
}

export interface InstanceFleet {
  fake: FakeSlack;
  bots: Instances;
  /** The test's own connection to the instances' database. */
  db: mongoose.Connection;
  /** Stops the instances, the store and the fake Slack (the world is the test's to stop). */
  stop(): Promise<void>;
}

/**
 * `count` instances in an access world: a fake Slack that knows the example directory's people
 * (and `users`), the world's catalog and settings (plus `env`); resolves once the first
 * instance has synced the directory.
 */
export async function startFleet(world: AccessWorld, opts: { count: number; users?: FakeUser[]; env?: Record<string, string> }): Promise<InstanceFleet> {
  const fake = await new FakeSlack(manifestScopes()).start();
  for (const u of [...Object.values(USERS), ...(opts.users ?? [])]) fake.addUser(u);
  const bots = await startInstances({ count: opts.count, fake, catalogDir: world.catalogDir, env: { ...world.env, ...opts.env } });
  await bots.all[0]!.line((l) => l.msg === 'directory synced');
  const db = await mongoose.createConnection(bots.dbUri).asPromise();
  return {
    fake,
    bots,
    db,
    async stop() {
      await db.close();
      await bots.stop();
      await fake.stop();
    },
  };
}
