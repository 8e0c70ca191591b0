/**
 * What `npm start` says first: where the store is, what catalog and directory were loaded, how
 * Slack is reached (or what the bot serves without it), the URL to open and the SSH key to
 * authorize. Pure: facts in, lines out; src/main.ts logs them once.
 *
 * Secrets never reach these lines: a MongoDB URI is shown as its hosts and database only (its
 * user, password and options are dropped), a directory URL goes through sourceForDisplay, and
 * no token or signing secret is among the facts at all.
 */
import { ConnectionString } from 'mongodb-connection-string-url';
import { sourceForDisplay } from './services/directory/source.js';
import { redactUrlCredentials } from './services/redact.js';

/** Error messages are ours but may quote a file: cut so one bad catalog cannot flood the summary. */
const PROBLEM_LIMIT = 300;

export type Loaded<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface StartupFacts {
  store: { kind: 'embedded'; dataDir: string; uri: string } | { kind: 'mongodb'; uri: string };
  catalog: { dir: string } & Loaded<{ hosts: number; projects: number; tickets: number; modules: number }>;
  directory: { source: string } & Loaded<{ people: number }>;
  slack: 'http' | 'socket' | 'off';
  /** The local workspace's address (issue 9), when it serves in place of Slack. */
  workspaceUrl?: string;
  /** The HTTP port the bot listens on. */
  port: number;
  /** The bot's SSH identity; undefined when there is none. */
  sshKey?: { publicKey: string; path: string };
  sshUser: string;
}

export interface StartupSummary {
  /** First line of the log record: the headline. */
  title: string;
  /** One entry per topic, in order: [label, text]. */
  lines: Array<[string, string]>;
  /** The same, for machines: no secrets, no credentials. */
  data: Record<string, unknown>;
}

/**
 * `mongodb://host1:27017,host2:27017/db` out of a MongoDB URI: its hosts and database, parsed
 * as the driver parses it; user, password and options (which may carry tokens) are dropped. A
 * URI the parser refuses is not shown at all (the driver refuses it too).
 */
export function mongoLocationForDisplay(uri: string): string {
  let cs: ConnectionString;
  try {
    cs = new ConnectionString(uri);
  } catch {
    return '(a MongoDB URI that cannot be parsed; not shown)';
  }
  const scheme = cs.isSRV ? 'mongodb+srv://' : 'mongodb://';
  const hosts = cs.hosts.filter((h) => /^[A-Za-z0-9._\-:[\]%]+$/.test(h));
  const db = /^\/[A-Za-z0-9._-]*$/.test(cs.pathname) ? cs.pathname : '/';
  return `${scheme}${hosts.join(',')}${db}`;
}

/** A directory source as it may be shown: a path as given, a URL without credentials or query. */
export function directorySourceForDisplay(source: string): string {
  if (!/^https?:\/\//i.test(source)) return source;
  try {
    return sourceForDisplay(new URL(source));
  } catch {
    return '(a URL that cannot be parsed)';
  }
}

function cutProblem(p: string): string {
  const shown = redactUrlCredentials(p);
  return shown.length > PROBLEM_LIMIT ? `${shown.slice(0, PROBLEM_LIMIT)}…` : shown;
}
const problem = (p: string): string => `NOT LOADED: ${cutProblem(p)}`;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function startupSummary(f: StartupFacts): StartupSummary {
  const base = `http://127.0.0.1:${f.port}`;
  const storeLocation = mongoLocationForDisplay(f.store.uri);
  const store = f.store.kind === 'embedded' ? `embedded, data in ${f.store.dataDir} (${storeLocation}, loopback only)` : `MongoDB at ${storeLocation}`;

  const c = f.catalog;
  const catalog = c.ok
    ? `${c.dir}: ${plural(c.value.hosts, 'host')}, ${plural(c.value.projects, 'project')}, ${plural(c.value.tickets, 'ticket template')}, ${plural(c.value.modules, 'module')}`
    : `${c.dir}: ${problem(c.problem)} (fix it, then /opsgate reload)`;
  const d = f.directory;
  const source = directorySourceForDisplay(d.source);
  const directory = d.ok ? `${source}: ${plural(d.value.people, 'person', 'people')}` : `${source}: ${problem(d.problem)}`;

  let slack: string;
  let open: string;
  if (f.slack === 'http') {
    slack = `on, HTTP mode: Slack sends requests to ${base}/slack/events (behind your public HTTPS address)`;
    open = `${base}/healthz`;
  } else if (f.slack === 'socket') {
    slack = 'on, Socket Mode (no public address needed)';
    open = `${base}/healthz`;
  } else if (f.workspaceUrl) {
    slack = `not configured: the local workspace plays Slack at ${f.workspaceUrl}`;
    open = f.workspaceUrl;
  } else {
    slack = 'not configured: the bot serves GET /healthz only. To answer Slack set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (HTTP) or with SLACK_APP_TOKEN (Socket Mode)';
    open = `${base}/healthz`;
  }

  const sshKey = f.sshKey
    ? `add to ${f.sshUser}'s ~/.ssh/authorized_keys on every host (key file ${f.sshKey.path}):\n${f.sshKey.publicKey}`
    : 'none: SSH work (host access, runs on hosts, host checks) fails. Set SSH_PRIVATE_KEY_PATH, or install ssh-keygen so the bot generates one under DATA_DIR/ssh';

  return {
    title: 'opsgate is up',
    lines: [
      ['store', store],
      ['catalog', catalog],
      ['directory', directory],
      ['Slack', slack],
      ['open', open],
      ['SSH key', sshKey],
    ],
    data: {
      store: f.store.kind === 'embedded' ? { kind: 'embedded', dataDir: f.store.dataDir, location: storeLocation } : { kind: 'mongodb', location: storeLocation },
      catalog: c.ok ? { dir: c.dir, ...c.value } : { dir: c.dir, problem: cutProblem(c.problem) },
      directory: d.ok ? { source, ...d.value } : { source, problem: cutProblem(d.problem) },
      slack: f.slack,
      ...(f.workspaceUrl ? { workspaceUrl: f.workspaceUrl } : {}),
      url: open,
      sshKey: f.sshKey ? { publicKey: f.sshKey.publicKey, path: f.sshKey.path, user: f.sshUser } : null,
    },
  };
}

/** The summary as one block of text: the title, then each topic on its own line(s), labels aligned. */
export function summaryText(s: StartupSummary): string {
  const width = Math.max(...s.lines.map(([label]) => label.length));
  const indent = ' '.repeat(width + 4);
  const body = s.lines.map(([label, text]) => `  ${label.padEnd(width)}  ${text.split('\n').join(`\n${indent}`)}`);
  return [s.title, ...body].join('\n');
}
