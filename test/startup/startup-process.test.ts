/**
 * Issue 9, "a start-up a person can read", for the process `npm start` runs (src/main.ts in its
 * own Node process), with no Slack variables, the embedded store in a temp DATA_DIR and PORT=0:
 * pretty lines when asked (LOG_FORMAT=pretty) or on a real terminal (a pty from util-linux
 * `script`), JSON lines on a pipe, each start-up saying where the store is, what was loaded, the
 * URL and the bot's public key; SIGTERM ends it with 0. A bad LOG_FORMAT stops it at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleCatalog } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/main.ts');

interface Bot {
  child: ChildProcess;
  dataDir: string;
  catalogDir: string;
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
  /** Resolves once stdout satisfies `done`; rejects if the process exits first. */
  until(done: (out: string) => boolean): Promise<string>;
  exited: Promise<number | null>;
}

const running: Bot[] = [];

/** The bot as `npm start` runs it; `viaTty` runs it under `script`, so its stdout is a terminal. */
function startBot(env: Record<string, string>, opts: { viaTty?: boolean } = {}): Bot {
  const dataDir = tempDir('startup-data');
  const catalogDir = tempDir('startup-catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const fullEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PORT: '0',
    DATA_DIR: dataDir,
    CATALOG_DIR: catalogDir,
    DIRECTORY_SOURCE: path.join(catalogDir, 'directory.yaml'),
    LOG_LEVEL: 'info',
    ...env,
  };
  const command = [process.execPath, '--import', 'tsx', main];
  // script -e: exit with the child's code; -f: flush at once; -q: no "Script started" banner.
  // `exec`: the bot replaces script's shell, so Ctrl-C on the pty reaches the bot alone.
  const child = opts.viaTty
    ? spawn('script', ['-qfec', `exec ${command.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'], env: fullEnv })
    : spawn(command[0]!, command.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: fullEnv });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const bot: Bot = {
    child,
    dataDir,
    catalogDir,
    out: () => out,
    err: () => err,
    exited,
    until: (done) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!done(out)) return;
          child.stdout!.off('data', check);
          resolve(out);
        };
        child.stdout!.on('data', check);
        void exited.then((code) => reject(new Error(`opsgate exited (${code}) first; stdout: ${out}\nstderr: ${err}`)));
        check();
      }),
  };
  running.push(bot);
  return bot;
}

const publicKeyOf = (bot: Bot) => fs.readFileSync(path.join(bot.dataDir, 'ssh', 'id_ed25519.pub'), 'utf8').trim();
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r\n/g, '\n');
/** The pretty summary is complete once the key line (the last, ending in the key's comment) is out. */
const prettySummaryDone = (out: string) => /opsgate is up[\s\S]*SSH key[\s\S]*opsgate-bot\r?\n/.test(out);

afterEach(async () => {
  for (const bot of running.splice(0)) {
    if (bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
  }
});

/** What every summary must say, checked on its text (pretty) or its message (JSON). */
function expectSummary(text: string, bot: Bot, port: number) {
  expect(text).toContain(`store      embedded, data in ${path.join(bot.dataDir, 'db')} (mongodb://127.0.0.1:`);
  expect(text).toContain(`catalog    ${bot.catalogDir}: 6 hosts, 3 projects, 5 ticket templates, 8 modules`);
  expect(text).toContain(`directory  ${path.join(bot.catalogDir, 'directory.yaml')}: 5 people`);
  // No Slack credentials: the local workspace plays Slack, and its page is the URL to open.
  expect(text).toContain(`Slack      not configured: the local workspace plays Slack at http://127.0.0.1:${port}/`);
  expect(text).toContain(`open       http://127.0.0.1:${port}/`);
  expect(text).toContain(publicKeyOf(bot));
  // The embedded store's generated password never shows.
  const password = fs.readFileSync(path.join(bot.dataDir, 'db', 'store-password'), 'utf8').trim();
  expect(password.length).toBeGreaterThan(8);
  expect(text).not.toContain(password);
}

async function stopWithSigterm(bot: Bot) {
  bot.child.kill('SIGTERM');
  expect(await bot.exited).toBe(0);
}

describe('npm start without Slack', () => {
  it('with LOG_FORMAT=pretty, says in human lines where the store is, what was loaded, the URL and the key; SIGTERM exits 0', async () => {
    const bot = startBot({ LOG_FORMAT: 'pretty' });
    const out = await bot.until(prettySummaryDone);
    const port = Number(/open {7}http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: opsgate is up$/m);
    expectSummary(out, bot, port);
    expect(out).not.toMatch(/^\{"level"/m);
    // The URL it names answers.
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    await stopWithSigterm(bot);
  }, 60_000);

  it('on a pipe without LOG_FORMAT, writes JSON lines, the summary among them as data and text; SIGTERM exits 0', async () => {
    const bot = startBot({});
    await bot.until((out) => out.split('\n').some((l) => l.includes('"startup":{')));
    const lines = bot
      .out()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { msg: string; startup?: Record<string, any> });
    const summary = lines.find((l) => l.startup)!;
    const port = Number(/:(\d+)\//.exec(summary.startup!.url)?.[1]);
    expect(summary.startup).toMatchObject({
      store: { kind: 'embedded', dataDir: path.join(bot.dataDir, 'db') },
      catalog: { dir: bot.catalogDir, hosts: 6, projects: 3, tickets: 5, modules: 8 },
      directory: { source: path.join(bot.catalogDir, 'directory.yaml'), people: 5 },
      slack: 'off',
      url: `http://127.0.0.1:${port}/`,
      workspaceUrl: `http://127.0.0.1:${port}/`,
      sshKey: { publicKey: publicKeyOf(bot), user: 'root' },
    });
    expect(summary.startup!.store.location).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
    expectSummary(summary.msg, bot, port);
    await stopWithSigterm(bot);
  }, 60_000);

  it('on a terminal without LOG_FORMAT, writes the pretty lines', async () => {
    const bot = startBot({}, { viaTty: true });
    const out = stripAnsi(await bot.until((o) => prettySummaryDone(stripAnsi(o))));
    const port = Number(/open {7}http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: opsgate is up$/m);
    expectSummary(out, bot, port);
    expect(out).not.toMatch(/^\{"level"/m);
    // Ctrl-C on the terminal: script passes it to the bot through the pty.
    bot.child.stdin!.write('\x03');
    expect(await bot.exited).toBe(0);
  }, 60_000);

  it('refuses a bad LOG_FORMAT at start, naming the variable', async () => {
    const bot = startBot({ LOG_FORMAT: 'yaml' });
    expect(await bot.exited).toBe(1);
    expect(bot.err()).toBe('opsgate: bad configuration: LOG_FORMAT: must be json or pretty (got "yaml")\n');
  }, 60_000);
});
