/**
 * The API's limits and where it is served: requests per token (429 with Retry-After, other
 * tokens unaffected), the body cap (413, with and without a content-length), JSON only (415),
 * nothing stored by any refused request; and the API on the bot's port in the other modes:
 * the local workspace (its page's port, a token made through the workspace's own slash
 * command) and the bare health server of Socket Mode.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsgate, type Opsgate } from '../../src/app.js';
import { startHealthServer } from '../../src/adapters/slack/bolt-app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { ticketModel } from '../../src/models/tickets.js';
import { apiRequest, createToken, TOKEN_RE } from '../helpers/api.js';
import { exampleCatalog, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

const RATE = 5;
const MAX_BODY = 1024;

describe('limits', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate({ env: { API_RATE_LIMIT_PER_MINUTE: String(RATE), API_MAX_BODY_BYTES: String(MAX_BODY) } });
    await t.ready();
  }, 60_000);
  afterAll(() => t?.stop());

  it(`a token gets ${RATE} requests a minute, then 429 with Retry-After; another token is not slowed`, async () => {
    const a = await createToken(t, USERS.erin, 'busy');
    const b = await createToken(t, USERS.erin, 'quiet');
    for (let i = 0; i < RATE; i++) expect((await apiRequest(t.app.port, 'GET', '/products', { token: a.token })).status).toBe(200);
    const refused = await apiRequest(t.app.port, 'GET', '/products', { token: a.token });
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ code: 1100 });
    const wait = Number(refused.headers['retry-after']);
    // One request comes back every 60/RATE seconds.
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(Math.ceil(60 / RATE));
    expect((await apiRequest(t.app.port, 'GET', '/products', { token: b.token })).status).toBe(200);
    // Counted by route template and status class (bounded labels, never a token or an id).
    const metrics = await (await fetch(`http://127.0.0.1:${t.app.port}/metrics`)).text();
    expect(metrics).toMatch(/opsgate_api_requests_total\{route="GET \/products",status="2xx"\} (\d+)/);
    expect(Number(/opsgate_api_requests_total\{route="GET \/products",status="4xx"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).not.toContain(a.id);
  });

  it(`requests without a valid token: past ${RATE} a minute from one address they are 429, not another look-up`, async () => {
    for (let i = 0; i < RATE; i++) expect((await apiRequest(t.app.port, 'GET', '/products', { token: `ogt_${String(i).padStart(43, 'x')}` })).status).toBe(401);
    const refused = await apiRequest(t.app.port, 'GET', '/products', { token: 'nope' });
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ code: 1201 });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // A good token from the same address is not held up by them.
    const good = await createToken(t, USERS.erin, 'after-failures');
    expect((await apiRequest(t.app.port, 'GET', '/products', { token: good.token })).status).toBe(200);
  });

  it(`a body over ${MAX_BODY} bytes is 413, with or without a content-length; nothing is stored`, async () => {
    const big = { template: 'deploy-static', env: 'STAGE', values: { Ref: 'x'.repeat(MAX_BODY) } };
    const before = await ticketModel(t.app.store.connection).countDocuments();
    const tk = await createToken(t, USERS.erin, 'big-bodies scope:write');
    const declared = await apiRequest(t.app.port, 'POST', '/tickets', { token: tk.token, body: big });
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ code: 1100 });
    const streamed = await apiRequest(t.app.port, 'POST', '/tickets', { token: tk.token, body: big, chunked: true });
    expect(streamed.status).toBe(413);
    expect(await ticketModel(t.app.store.connection).countDocuments()).toBe(before);
    // Just under the cap is read (and refused for what it says, not for its size).
    const under = await apiRequest(t.app.port, 'POST', '/tickets', { token: tk.token, body: { template: 'deploy-static', env: 'STAGE', values: { Ref: 'bad ref!' } } });
    expect(under.status).toBe(400);
  });

  it('a body that is not application/json is 415; nothing is stored', async () => {
    const tk = await createToken(t, USERS.erin, 'types scope:write');
    const before = await ticketModel(t.app.store.connection).countDocuments();
    const body = JSON.stringify({ template: 'deploy-static', env: 'STAGE', values: { Ref: 'main' } });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      const r = await apiRequest(t.app.port, 'POST', '/tickets', { token: tk.token, raw: body, contentType });
      expect(r.status, contentType).toBe(415);
      expect(r.json).toMatchObject({ code: 1100, field: 'content-type' });
    }
    expect(await ticketModel(t.app.store.connection).countDocuments()).toBe(before);
    const charset = await apiRequest(t.app.port, 'POST', '/tickets', { token: tk.token, raw: body, contentType: 'application/json; charset=utf-8' });
    expect(charset.status, charset.text).toBe(201);
  });
});

describe('served on the bot’s port in every mode', () => {
  let store: TestStore;
  let app: Opsgate | undefined;
  beforeAll(async () => {
    store = await startTestStore();
  });
  afterAll(async () => {
    await app?.stop();
    await store?.stop();
  });

  it('the local workspace (no Slack configured): on the page’s port, with a token made through the workspace’s /opsgate', async () => {
    const catalogDir = tempDir('api-ws-catalog');
    fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
    const config = loadConfig({ PORT: '0', DATA_DIR: tempDir('api-ws-data'), MONGODB_URI: store.dbUri, CATALOG_DIR: catalogDir, DIRECTORY_SOURCE: path.join(catalogDir, 'directory.yaml'), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
    app = await createOpsgate(config, { logger: createLogger(config.LOG_LEVEL), slackRetries: 0, processEveryMs: 200 });
    const wsPort = app.workspace!.port!;
    for (let i = 0; (await app.services.audit.query({ action: 'directory.sync' })).length === 0; i++) {
      if (i > 300) throw new Error('no directory sync');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await apiRequest(wsPort, 'GET', '/openapi.json')).status).toBe(200);
    expect((await apiRequest(wsPort, 'GET', '/projects')).status).toBe(401);
    const erin = app.workspace!.workspace.person('erin')!;
    const sent = await fetch(`http://127.0.0.1:${wsPort}/api/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ as: 'erin', channel: `D${erin.slackId}`, text: '/opsgate token create ws-ci' }) });
    expect(sent.status).toBe(200);
    let token: string | undefined;
    for (let i = 0; !token; i++) {
      if (i > 300) throw new Error('the token never showed in the workspace');
      const st = await (await fetch(`http://127.0.0.1:${wsPort}/api/state?as=erin`)).json();
      token = TOKEN_RE.exec(JSON.stringify(st))?.[0];
      if (!token) await new Promise((r) => setTimeout(r, 50));
    }
    const projects = await apiRequest(wsPort, 'GET', '/projects', { token });
    expect(projects.status).toBe(200);
    expect(projects.json.items.length).toBeGreaterThan(0);
    // The bot's own loopback port serves it too.
    expect((await apiRequest(app.port, 'GET', '/projects', { token })).status).toBe(200);
    // The workspace's own routes are untouched.
    expect((await fetch(`http://127.0.0.1:${wsPort}/api/people`)).status).toBe(200);
  });

  it('the bare HTTP server (Socket Mode): /api/v1/ goes to the API, the rest as before', async () => {
    const seen: string[] = [];
    const api = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!(req.url ?? '').startsWith('/api/v1/')) return false;
      seen.push(req.url!);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"api":true}');
      return true;
    };
    const server = await startHealthServer(0, async () => ({ ok: true }), undefined, api);
    try {
      expect(await (await fetch(`http://127.0.0.1:${server.port}/api/v1/projects`)).json()).toEqual({ api: true });
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${server.port}/elsewhere`)).status).toBe(404);
      expect(seen).toEqual(['/api/v1/projects']);
    } finally {
      await server.close();
    }
  });
});
