/**
 * Issue 9, the local workspace's server side: the real opsgate started with no Slack variables
 * (PORT=0, a temp DATA_DIR) plays against its own workspace, and the test uses the workspace's
 * JSON API and server-sent events as the browser page will. Waits are on events, never on time.
 */
import fs from 'node:fs';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsgate, type Opsgate } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Change, Message } from '../../src/workspace/messages.js';
import { workspaceWanted } from '../../src/workspace/start.js';
import { exampleCatalog, startOpsgate } from '../helpers/opsgate.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

let store: TestStore;
let app: Opsgate;
let base: string;

async function bootWithoutSlack(env: Record<string, string> = {}): Promise<Opsgate> {
  const catalogDir = tempDir('ws-catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const config = loadConfig({ PORT: '0', DATA_DIR: tempDir('ws-data'), MONGODB_URI: store.dbUri, CATALOG_DIR: catalogDir, DIRECTORY_SOURCE: path.join(catalogDir, 'directory.yaml'), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env });
  return createOpsgate(config, { logger: createLogger(config.LOG_LEVEL), slackRetries: 0, processEveryMs: 200 });
}

async function post(route: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(base + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function state(as: string): Promise<{ messages: Message[]; channels: Array<{ id: string }>; people: Array<{ id: string }> }> {
  return (await (await fetch(`${base}api/state?as=${as}`)).json()) as never;
}

/** A browser's EventSource, reduced: every change `as` may see, and a wait for one. */
async function subscribe(as: string) {
  const ctl = new AbortController();
  const res = await fetch(`${base}api/events?as=${as}`, { signal: ctl.signal });
  const seen: Change[] = [];
  const waiters: Array<() => void> = [];
  void (async () => {
    let buf = '';
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '));
          buf = buf.slice(i + 2);
          if (data) seen.push(JSON.parse(data.slice(6)) as Change);
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {
      /* aborted at the end of the test */
    }
  })();
  return {
    seen,
    close: () => ctl.abort(),
    async until(pred: (c: Change) => boolean, what: string): Promise<Change> {
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          const t = setTimeout(() => reject(new Error(`no event: ${what}; seen ${JSON.stringify(seen).slice(-1500)}`)), 20_000);
          waiters.push(() => clearTimeout(t));
        });
      }
    },
  };
}

const textOf = (m: Message): string => m.text + JSON.stringify(m.blocks);

beforeAll(async () => {
  store = await startTestStore();
  app = await bootWithoutSlack();
  base = app.workspace!.url!;
  // The directory sync queued at start resolves people by email through the workspace's users.lookupByEmail.
  while ((await app.services.audit.query({ action: 'directory.sync', actor: 'system:start' })).length === 0) await new Promise((r) => setTimeout(r, 50));
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await store?.stop();
});

/** A request with a Host header of our choosing (fetch may not set one), to loopback. */
function getWithHost(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/api/state?as=carol', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('the local workspace (no Slack configured)', () => {
  it('listens on loopback only when WORKSPACE_HOST is unset, and so does the bot it delivers to', async () => {
    const ws = app.workspace!;
    expect(ws.address).toBe('127.0.0.1');
    expect(base).toBe(`http://127.0.0.1:${ws.port}/`);
    expect((await fetch(`${base}healthz`)).status).toBe(200);
    // 127.0.0.2 is loopback too, but not the address it is bound to: refused.
    await expect(fetch(`http://127.0.0.2:${ws.port}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.2:${app.port}/healthz`)).rejects.toThrow();
    // A name that is not loopback (DNS rebinding) is refused, loopback names are served.
    expect(await getWithHost(ws.port!, `attacker.example:${ws.port}`)).toBe(403);
    expect(await getWithHost(ws.port!, `localhost:${ws.port}`)).toBe(200);
  });

  it('serves the people, the catalog channels, the admin channel and one DM each', async () => {
    const s = await state('carol');
    expect(s.people.map((p) => p.id)).toEqual(expect.arrayContaining(['erin', 'alice', 'carol', 'bob', 'dave']));
    const ids = s.channels.map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['C0DEPLOYS', 'C0OPSRUNS', 'C0OPSADMIN', 'DUCAROL']));
    expect(ids).not.toContain('DUALICE');
  });

  it('/opsgate whoami: the signed command reaches the bot and its ephemeral answer is for that person only', async () => {
    const carol = await subscribe('carol');
    const res = await post('api/command', { as: 'carol', channel: '#deploys', text: '/opsgate whoami' });
    expect(res).toMatchObject({ status: 200, json: { ok: true, delivered: true, status: 200 } });
    const got = (await carol.until((c) => c.kind === 'message_posted' && /carol/i.test(textOf(c.message)), 'whoami answer')) as { message: Message };
    expect(got.message).toMatchObject({ channel: 'C0DEPLOYS', ephemeralFor: 'UCAROL', user: 'UBOT' });
    expect((await state('carol')).messages.some((m) => m.ts === got.message.ts)).toBe(true);
    expect((await state('alice')).messages.some((m) => m.ts === got.message.ts)).toBe(false);
    carol.close();
  });

  it('/opsgate help in the DM with the bot lists the commands', async () => {
    const carol = await subscribe('carol');
    expect((await post('api/command', { as: 'carol', channel: 'DUCAROL', text: '/opsgate help' })).json).toMatchObject({ ok: true, delivered: true });
    const got = (await carol.until((c) => c.kind === 'message_posted' && c.message.channel === 'DUCAROL', 'help answer')) as { message: Message };
    expect(textOf(got.message)).toContain('whoami');
    expect((await state('alice')).messages.some((m) => m.ts === got.message.ts)).toBe(false);
    carol.close();
  });

  it('a ticket run: the channel message is updated in place (chat.update), a button click brings the full log as a file', { timeout: 60_000 }, async () => {
    const alice = await subscribe('alice');
    expect((await post('api/command', { as: 'erin', channel: '#deploys', text: '/ticket submit deploy-static env:STAGE Ref=main' })).json).toMatchObject({ ok: true, delivered: true });
    const posted = (await alice.until((c) => c.kind === 'message_posted' && c.message.channel === 'C0DEPLOYS' && c.message.ephemeralFor === undefined, 'run message')) as { message: Message };
    const changed = (await alice.until((c) => c.kind === 'message_changed' && c.message.ts === posted.message.ts && /succeeded/.test(textOf(c.message)), 'run message updated')) as { message: Message };
    expect(changed.message).toMatchObject({ channel: 'C0DEPLOYS', edited: true });
    // In place: one message with that ts, now the finished one.
    const inChannel = (await state('alice')).messages.filter((m) => m.channel === 'C0DEPLOYS' && m.ts === posted.message.ts);
    expect(inChannel).toHaveLength(1);
    expect(textOf(inChannel[0]!)).toContain('succeeded');
    // Erin's submit receipt was ephemeral: not in Alice's view.
    expect((await state('alice')).messages.some((m) => /submitted/.test(m.text))).toBe(false);

    // The clicker is the person acted as: Alice (in no team) is refused, only her.
    expect((await post('api/action', { as: 'alice', channel: 'C0DEPLOYS', ts: posted.message.ts, action_id: 'ticket_full_log' })).json).toMatchObject({ ok: true, delivered: true, status: 200 });
    const refused = (await alice.until((c) => c.kind === 'message_posted' && /\[1202\]/.test(c.message.text), 'refusal')) as { message: Message };
    expect(refused.message.ephemeralFor).toBe('UALICE');

    const erin = await subscribe('erin');
    expect((await post('api/action', { as: 'erin', channel: 'C0DEPLOYS', ts: posted.message.ts, action_id: 'ticket_full_log' })).json).toMatchObject({ ok: true, delivered: true, status: 200 });
    const shared = (await erin.until((c) => c.kind === 'message_posted' && (c.message.files?.length ?? 0) > 0, 'full log file')) as { message: Message };
    const file = await fetch(`${base}api/files/${shared.message.files![0]!.id}?as=erin`);
    expect(file.status).toBe(200);
    expect(await file.text()).toContain('publishing main to /srv/www/static');
    if (shared.message.channel.startsWith('D')) expect((await fetch(`${base}api/files/${shared.message.files![0]!.id}?as=alice`)).status).toBe(404);
    erin.close();
    alice.close();
  });

  it('a modal: /access request opens one for its person, Submit with nothing filled shows the bot\'s field errors', async () => {
    const carol = await subscribe('carol');
    await post('api/command', { as: 'carol', channel: 'DUCAROL', text: '/access request' });
    const opened = (await carol.until((c) => c.kind === 'views_changed' && c.views.length === 1, 'modal opened')) as { views: Array<{ id: string }> };
    const viewId = opened.views[0]!.id;
    expect((await (await fetch(`${base}api/state?as=alice`)).json()).views.modals).toEqual([]);
    const submitted = await post('api/submit', { as: 'carol', view_id: viewId, values: {} });
    expect(submitted.status).toBe(200);
    expect(submitted.json.errors).toEqual(expect.any(Object));
    expect(Object.keys(submitted.json.errors as object).length).toBeGreaterThan(0);
    const s = (await (await fetch(`${base}api/state?as=carol`)).json()) as { views: { modals: Array<{ id: string; errors?: object }> } };
    expect(s.views.modals).toHaveLength(1);
    expect(s.views.modals[0]!.errors).toEqual(submitted.json.errors);
    carol.close();
  });

  it('App Home: opening it delivers app_home_opened and the published view is kept for that person only', async () => {
    const dave = await subscribe('dave');
    expect((await post('api/home', { as: 'dave' })).json).toMatchObject({ ok: true, delivered: true });
    const home = (await dave.until((c) => c.kind === 'home_changed', 'home published')) as unknown as { user: string; home: { id: string; view: { type: string } } };
    expect(home).toMatchObject({ user: 'UDAVE', home: { view: { type: 'home' } } });
    const s = (await (await fetch(`${base}api/state?as=dave`)).json()) as { views: { home: { id: string } | null } };
    expect(s.views.home?.id).toBe(home.home.id);
    expect(((await (await fetch(`${base}api/state?as=bob`)).json()) as { views: { home: unknown } }).views.home).toBeNull();
    dave.close();
  });

  it('refuses bad input with a coded error and delivers nothing', async () => {
    const mark = app.workspace!.workspace.api.calls.length;
    expect(await post('api/command', { as: 'carol', channel: '#deploys', text: '/nosuch thing' })).toMatchObject({ status: 400, json: { ok: false, code: 1100 } });
    expect(await post('api/command', { channel: '#deploys', text: '/opsgate help' })).toMatchObject({ status: 400, json: { ok: false, code: 1102 } });
    expect(await post('api/command', ['not', 'an', 'object'])).toMatchObject({ status: 400, json: { ok: false, code: 1101 } });
    expect(await post('api/command', { as: 'mallory', channel: '#deploys', text: '/opsgate help' })).toMatchObject({ status: 400, json: { code: 1100 } });
    expect(await post('api/command', { as: 'carol', channel: 'DUALICE', text: '/opsgate help' })).toMatchObject({ status: 400, json: { code: 1100 } });
    expect(await post('api/action', { as: 'carol', channel: 'C0DEPLOYS', ts: '1.2', action_id: 'ticket_full_log' })).toMatchObject({ status: 404, json: { code: 1100 } });
    // A cross-site form post (text/plain, no preflight) is refused.
    const plain = await fetch(`${base}api/command`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ as: 'carol', channel: '#deploys', text: '/opsgate help' }) });
    expect(plain.status).toBe(415);
    expect(app.workspace!.workspace.api.calls.length).toBe(mark);
  });

  it('WORKSPACE_HOST set: listens there and warns that anyone reaching it can act as anyone', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => lines.push(...String(c).split('\n').filter(Boolean)));
    const store2 = await startTestStore();
    const catalogDir = tempDir('ws-catalog');
    fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
    const config = loadConfig({ PORT: '0', DATA_DIR: tempDir('ws-data'), MONGODB_URI: store2.dbUri, CATALOG_DIR: catalogDir, DIRECTORY_SOURCE: path.join(catalogDir, 'directory.yaml'), LOG_LEVEL: 'info', WORKSPACE_HOST: '127.0.0.2' });
    const other = await createOpsgate(config, { logger: createLogger('info', stream), slackRetries: 0, processEveryMs: 200 });
    try {
      expect(other.workspace!.address).toBe('127.0.0.2');
      expect((await fetch(`http://127.0.0.2:${other.workspace!.port}/healthz`)).status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${other.workspace!.port}/healthz`)).rejects.toThrow();
      const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => /anyone who can reach it can act as anyone/.test(l.msg));
      expect(warning?.level).toBe(40);
    } finally {
      await other.stop();
      await store2.stop();
    }
  }, 60_000);
});

describe('with real Slack credentials', () => {
  it('no workspace: nothing but the bot answers', async () => {
    const t = await startOpsgate();
    try {
      expect(t.app.workspace).toBeUndefined();
      expect((await fetch(`http://127.0.0.1:${t.app.port}/api/state?as=carol`)).status).toBe(404);
    } finally {
      await t.stop();
    }
  }, 60_000);

  it('one Slack credential alone is enough to turn it off', () => {
    const base = { PORT: '0' };
    expect(workspaceWanted(loadConfig(base))).toBe(true);
    expect(workspaceWanted(loadConfig({ ...base, SLACK_SIGNING_SECRET: 's' }))).toBe(false);
    expect(workspaceWanted(loadConfig({ ...base, SLACK_BOT_TOKEN: 'xoxb-1' }))).toBe(false);
    expect(workspaceWanted(loadConfig({ ...base, SLACK_APP_TOKEN: 'xapp-1' }))).toBe(false);
  });
});
