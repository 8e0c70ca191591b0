/**
 * The HTTP API end to end, on the real app (signed Slack requests to the Bolt app, the fake
 * Slack Web API, a real sshd host as config center and module target): tokens made with
 * `/opsgate token create` and shown once; every route with a good token; the refusals (a
 * read-only token on each write route, expired, revoked, unknown and missing tokens, another
 * person's ticket, a departed owner's token after the sync), each with seed 001's code and
 * nothing changed; bad input naming the field; a pipeline: POST /tickets → approved by a
 * signed click in Slack → POST /run → the progress stream until it ends → the final status
 * with the log's tail; module jobs, their buckets and a signal reaching the remote process;
 * every write audited with the token's owner as actor. Waits are on recorded Slack calls, the
 * progress streams and `ps` on the host, never on time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ROUTES } from '../../src/api/routes.js';
import { apiTokenModel } from '../../src/models/api-token.js';
import { ticketModel } from '../../src/models/tickets.js';
import { jobModel } from '../../src/models/jobs.js';
import { hashToken } from '../../src/services/api-tokens.js';
import { apiRequest, apiTaps, createToken, readEvents, TOKEN_RE } from '../helpers/api.js';
import { accessModels } from '../../src/models/access.js';
import { copyExampleCatalog } from '../helpers/catalog-copy.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { remotePs, type RemotePs } from '../helpers/remote-ps.js';
import { startSshdFleet, type SshdFleet } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';
import { buttonValue, dm, text } from '../helpers/ticket-slack.js';

const SLEEP = 120_000 + randomInt(0, 50_000);
/** The deploy template's secret: used for real on the host, it must be in no API answer. */
const SECRET = 'api-S3cret_value-7d1e';
/** Every API answer and stream chunk of this file. */
const answers: string[] = [];
apiTaps.add((text) => answers.push(text));
let fleet: SshdFleet;
let t: TestOpsgate;
let ps: RemotePs;
let dir: string;
let port: number;
/** Tokens by who holds them and their scope. */
const tok: Record<string, { token: string; id: string }> = {};

beforeAll(async () => {
  fleet = await startSshdFleet(1);
  const sshd = fleet.servers[0]!;
  dir = tempDir('api');
  const catalogDir = path.join(dir, 'catalog');
  const edit = copyExampleCatalog(catalogDir);
  edit('hosts.yaml', (d) => d.hosts!.push({ name: 'center-1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.fingerprint, env: 'prod', project: 'storefront', app: 'pipeline', labels: { tier: 'ci' } }));
  edit('tickets.yaml', (d) =>
    d.tickets!.push(
      {
        name: 'api-deploy',
        description: 'Deploy from a pipeline',
        env: 'PROD',
        category: 'Pipeline',
        submitGroups: ['ops', 'dev'],
        configCenter: 'center-1',
        options: [{ name: 'Tag', label: 'Git tag', text: { pattern: '^v[0-9.]+$', maxLength: 20 } }],
        secrets: { Token: { env: 'OPSGATE_API_TEST_SECRET' } },
        main: 'echo "deploying {Tag} conn=$SSH_CONNECTION token={Token}"; echo "deployed-{Tag}"',
        approval: [{ label: 'lead', approvers: { people: ['alice'] } }],
        lock: true,
        timeoutMinutes: 5,
        channel: '#deploys',
      },
      {
        name: 'api-hold',
        description: 'Waits for approval; revoked by the tests',
        env: 'PROD',
        category: 'Pipeline',
        submitGroups: ['ops', 'dev'],
        configCenter: 'center-1',
        main: 'echo never',
        approval: [{ label: 'lead', approvers: { people: ['alice'] } }],
        timeoutMinutes: 5,
        channel: '#deploys',
      },
    ),
  );
  edit('modules.yaml', (d) =>
    d.modules!.push(
      { id: 2001, name: 'api-echo', description: 'echo a word', command: 'echo "api-echo {word}"', params: [{ name: 'word', type: 'string', pattern: '^[a-z]+$' }], timeoutSeconds: 30, channel: '#ops-runs', envs: ['prod'] },
      { id: 2002, name: 'api-sleep', description: 'sleep', command: 'sleep {secs}', params: [{ name: 'secs', type: 'int', min: 1, max: 1000000 }], timeoutSeconds: 600, channel: '#ops-runs', envs: ['prod'] },
    ),
  );
  t = await startOpsgate({ catalogDir, env: { OPSGATE_API_TEST_SECRET: SECRET, SSH_PRIVATE_KEY_PATH: fleet.clientKey.path, SSH_USER: 'root', API_PROGRESS_POLL_MS: '100', API_RATE_LIMIT_PER_MINUTE: '100000', JOB_HEARTBEAT_MS: '200' } });
  await t.ready();
  port = t.app.port;
  ps = remotePs(fleet);
  // carol may use the pipeline templates (a team with `use`); bob is in a team without it (refusals are 1201, not 1202).
  for (const line of ['team create pipelines', 'team add pipelines person:carol', 'grant use template:api-deploy team:pipelines', 'grant use template:api-hold team:pipelines', 'team create builders', 'team add builders person:bob']) {
    const r = await runCommand(t, '/opsgate', line, USERS.erin);
    expect(r.text, line).toMatch(/created|added|granted/i);
  }
  for (const [key, user, args] of [
    ['erin', USERS.erin, 'erin-ci scope:write'],
    ['carol', USERS.carol, 'carol-pipeline scope:write expires:7d'],
    ['carolRead', USERS.carol, 'carol-dashboard'],
    ['bob', USERS.bob, 'bob-ci scope:write'],
    ['bobRead', USERS.bob, 'bob-read scope:read'],
  ] as const) {
    const made = await createToken(t, user, args);
    tok[key] = { token: made.token, id: made.id };
  }
}, 120_000);

afterAll(async () => {
  await ps?.close();
  await t?.stop();
  await fleet?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const after = (mark: number) => (c: RecordedCall) => t.fake.calls.indexOf(c) >= mark;
const get = (p: string, token = tok.erin!.token) => apiRequest(port, 'GET', p, { token });
const post = (p: string, body: unknown, token = tok.erin!.token) => apiRequest(port, 'POST', p, { token, body });

/** Clicks Approve in `u`'s DM for the ticket (signed, as Slack sends it). */
async function approveInSlack(u: { id: string }, ticketId: string, mark: number): Promise<void> {
  const asked = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === dm(u) && text(c).includes(ticketId) && text(c).includes('"ticket_approve"'), 30_000);
  const res = await t.slack.blockAction(u, { action_id: 'ticket_approve', value: buttonValue(asked, 'ticket_approve') }, { channel: dm(u), message_ts: String(asked.reply?.ts) });
  expect(res.status).toBe(200);
}

/** Reads the progress stream until a view satisfies `done`; that view. */
async function streamUntil(p: string, token: string, done: (view: any) => boolean): Promise<any> {
  const s = await readEvents(port, p, token, { until: (v) => v !== null && typeof v === 'object' && done(v) });
  const hit = s.events.map((e) => e.data).find((v) => v && done(v));
  if (!hit) throw new Error(`${p} ended before reaching the state waited for: ${JSON.stringify(s.events.at(-1))}`);
  return hit;
}

describe('tokens', () => {
  it('are shown once, only to their owner (ephemeral), and stored only as a SHA-256 hash', async () => {
    const mark = t.fake.calls.length;
    const made = await createToken(t, USERS.alice, 'alice-shown-once');
    const answer = await t.fake.waitFor('response_url', (c) => after(mark)(c) && text(c).includes(made.id));
    expect(answer.args.response_type).toBe('ephemeral');
    const stored = await apiTokenModel(t.app.store.connection).findOne({ tokenId: made.id }).lean();
    expect(stored).toMatchObject({ owner: 'alice', scope: 'read', revoked: false, hash: hashToken(made.token) });
    // The token text is in no stored document and no later message.
    const db = t.app.store.connection.db!;
    let dump = '';
    for (const c of await db.listCollections().toArray()) dump += JSON.stringify(await db.collection(c.name).find({}).toArray());
    expect(dump).toContain(made.id);
    expect(dump.includes(made.token)).toBe(false);
    const listed = await runCommand(t, '/opsgate', 'token list', USERS.alice);
    expect(listed.text + JSON.stringify(listed.blocks)).toContain(made.id);
    expect(TOKEN_RE.test(JSON.stringify(listed.blocks))).toBe(false);
    expect(JSON.stringify(listed.blocks).includes(stored!.hash)).toBe(false);
  });

  it('bad token commands are refused with a code and make nothing', async () => {
    const before = await apiTokenModel(t.app.store.connection).countDocuments();
    for (const [args, code] of [
      ['token create', '1102'],
      ['token create x expires:400d', '1100'],
      ['token create x scope:admin', '1100'],
      ['token create "bad name"', '1100'],
      ['token revoke nope', '1100'],
    ]) {
      const r = await runCommand(t, '/opsgate', args!, USERS.carol);
      expect(r.text + JSON.stringify(r.blocks), args).toContain(`[${code}]`);
    }
    // The same name twice while the first is in force.
    const again = await runCommand(t, '/opsgate', 'token create carol-pipeline', USERS.carol);
    expect(again.text).toContain('[1100]');
    expect(await apiTokenModel(t.app.store.connection).countDocuments()).toBe(before);
  });

  it('everyone lists their own; only admins list all, and revoke anyone’s', async () => {
    const mine = await runCommand(t, '/opsgate', 'token list', USERS.bob);
    expect(mine.text + JSON.stringify(mine.blocks)).toContain(tok.bob!.id);
    expect(JSON.stringify(mine.blocks)).not.toContain(tok.carol!.id);
    const refused = await runCommand(t, '/opsgate', 'token list all', USERS.bob);
    expect(refused.text).toContain('[1201]');
    const all = await runCommand(t, '/opsgate', 'token list all', USERS.erin);
    expect(JSON.stringify(all.blocks)).toContain(tok.bob!.id);
    expect(JSON.stringify(all.blocks)).toContain(tok.carol!.id);
    // bob cannot revoke carol's token (told it is not his), erin can revoke any.
    const victim = await createToken(t, USERS.carol, 'carol-victim scope:write');
    const bobTry = await runCommand(t, '/opsgate', `token revoke ${victim.id}`, USERS.bob);
    expect(bobTry.text).toContain('[1100]');
    expect((await get('/grants', victim.token)).status).toBe(200);
    const erinRevokes = await runCommand(t, '/opsgate', `token revoke ${victim.id}`, USERS.erin);
    expect(erinRevokes.text).toContain('revoked');
    const r = await get('/grants', victim.token);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ code: 1201 });
    expect(r.json.message).toContain('revoked');
  });
});

describe('who may call', () => {
  it('no token, a malformed or unknown token: 401 with code 1201 and WWW-Authenticate', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Basic abc' }, { authorization: 'Bearer nope' }, { authorization: `Bearer ogt_${'A'.repeat(43)}` }]) {
      const r = await apiRequest(port, 'GET', '/projects', { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.json).toMatchObject({ code: 1201, error: 'You need permission to do this' });
      expect(r.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('an expired token: 401 (its stored expiry moved into the past, as time would)', async () => {
    const made = await createToken(t, USERS.carol, 'carol-expiring expires:1d');
    expect((await get('/grants', made.token)).status).toBe(200);
    await apiTokenModel(t.app.store.connection).updateOne({ tokenId: made.id }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    const r = await get('/grants', made.token);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ code: 1201 });
    expect(r.json.message).toContain('expired');
  });

  it('a revoked token: 401 from the moment it is revoked', async () => {
    const made = await createToken(t, USERS.carol, 'carol-revoked scope:write');
    expect((await get('/grants', made.token)).status).toBe(200);
    const said = await runCommand(t, '/opsgate', `token revoke ${made.id}`, USERS.carol);
    expect(said.text).toContain('revoked');
    const tickets = await ticketModel(t.app.store.connection).countDocuments();
    const r = await post('/tickets', { template: 'api-hold', env: 'PROD' }, made.token);
    expect(r.status).toBe(401);
    expect(r.json.code).toBe(1201);
    expect(await ticketModel(t.app.store.connection).countDocuments()).toBe(tickets);
  });

  it('a read-only token on every write route: 403 with 1201, and nothing changes', async () => {
    const writes = ROUTES.filter((r) => r.scope === 'write');
    expect(writes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(['post /jobs', 'post /jobs/{id}/signal', 'post /tickets', 'post /tickets/{id}/revoke', 'post /tickets/{id}/run']);
    const conn = t.app.store.connection;
    const before = [await ticketModel(conn).countDocuments(), await jobModel(conn).countDocuments()];
    const bodies: Record<string, unknown> = { '/tickets': { template: 'api-hold', env: 'PROD' }, '/jobs': { module: 'api-echo', target: 'center-1', params: { word: 'x' } }, '/jobs/{id}/signal': { signal: 'TERM' } };
    for (const r of writes) {
      const p = r.path.replace('{id}', r.path.startsWith('/jobs') ? 'J-0000000000' : 'TK-AAAAAA');
      const res = await post(p, bodies[r.path] ?? {}, tok.carolRead!.token);
      expect(res.status, p).toBe(403);
      expect(res.json).toMatchObject({ code: 1201 });
      expect(res.json.message).toContain('scope read');
    }
    expect([await ticketModel(conn).countDocuments(), await jobModel(conn).countDocuments()]).toEqual(before);
  });

  it('a departed owner’s token: 401 once the sync sees them gone, and the token is revoked by the sync', async () => {
    const dave = await createToken(t, USERS.dave, 'dave-ci scope:write');
    expect((await get('/grants', dave.token)).status).toBe(200);
    const file = path.join(dir, 'catalog', 'directory.yaml');
    const d = YAML.parse(fs.readFileSync(file, 'utf8')) as { people: Array<{ id: string }> };
    fs.writeFileSync(file, YAML.stringify({ people: d.people.filter((p) => p.id !== 'dave') }));
    const syncs = (await t.app.services.audit.query({ action: 'directory.sync' })).length;
    await runCommand(t, '/opsgate', 'sync', USERS.erin);
    for (let i = 0; (await t.app.services.audit.query({ action: 'directory.sync' })).length === syncs; i++) {
      if (i > 300) throw new Error('the sync did not run');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stored = await apiTokenModel(t.app.store.connection).findOne({ tokenId: dave.id }).lean();
    expect(stored).toMatchObject({ revoked: true, revokedBy: 'system:directory', revokeReason: 'left the directory' });
    const r = await get('/grants', dave.token);
    expect(r.status).toBe(401);
    expect(r.json.code).toBe(1201);
    const audit = await t.app.services.audit.query({ action: 'token.revoke', target: `token:${dave.id}` });
    expect(audit[0]).toMatchObject({ actor: 'system:directory' });
  });
});

describe('reads, with a good token', () => {
  it('GET /projects, /projects/{name} (seed 000: hosts with labels, people, contacts), /hosts, /products', async () => {
    const projects = await get('/projects', tok.carolRead!.token);
    expect(projects.status).toBe(200);
    expect(projects.json.items.map((p: { name: string }) => p.name)).toEqual(['accounts', 'edge', 'storefront']);
    const page1 = await get('/projects?limit=2', tok.carolRead!.token);
    expect(page1.json.items).toHaveLength(2);
    const page2 = await get(`/projects?limit=2&cursor=${page1.json.nextCursor}`, tok.carolRead!.token);
    expect(page2.json).toMatchObject({ items: [{ name: 'storefront' }], nextCursor: null });

    const sf = await get('/projects/storefront', tok.carolRead!.token);
    expect(sf.status).toBe(200);
    expect(sf.json.contacts).toEqual(['#storefront-oncall', 'storefront-oncall@example.com']);
    expect(sf.json.people.map((p: { id: string }) => p.id).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(sf.json.hosts.find((h: { name: string }) => h.name === 'web-01')).toMatchObject({ env: 'prod', app: 'nginx', labels: { rack: 'a1', tier: 'frontend' } });
    expect((await get('/projects/nope', tok.carolRead!.token)).status).toBe(404);

    const hosts = await get(`/hosts?filter=${encodeURIComponent('env:prod tier:ci')}`, tok.carolRead!.token);
    expect(hosts.status).toBe(200);
    expect(hosts.json.items.map((h: { name: string }) => h.name)).toEqual(['center-1']);
    const all: string[] = [];
    for (let cursor: string | null = '', i = 0; cursor !== null && i < 20; i++) {
      const r: Awaited<ReturnType<typeof get>> = await get(`/hosts?limit=3${cursor ? `&cursor=${cursor}` : ''}`, tok.carolRead!.token);
      all.push(...r.json.items.map((h: { name: string }) => h.name));
      cursor = r.json.nextCursor;
    }
    expect(all).toEqual([...all].sort());
    expect(all).toContain('center-1');
    expect(new Set(all).size).toBe(all.length);

    const products = await get('/products', tok.carolRead!.token);
    expect(products.status).toBe(200);
    expect(products.json.items[0]).toEqual({ prod_name: expect.any(String), init_sls: expect.any(String), templates: expect.any(String) });
  });

  it('GET /grants and /audit: admins see everyone’s, others only their own (1201 for someone else’s)', async () => {
    // Grants as provisioning leaves them (the access flow itself is test/access/'s).
    const now = Date.now();
    const grant = (grantId: string, personId: string, host: string, status: 1 | 2) => ({ grantId, requestId: 'AR-API0001', personId, host, role: 'readonly', status, days: 1, publicKey: 'ssh-ed25519 AAAA test', grantedAt: new Date(now - 3_600_000), expiresAt: new Date(now + (status === 1 ? 1 : -1) * 3_600_000) });
    await accessModels(t.app.store.connection).Grant.insertMany([grant('gr_api_0001', 'carol', 'web-01', 1), grant('gr_api_0002', 'bob', 'web-01', 1), grant('gr_api_0003', 'carol', 'db-01', 2)]);
    const ids = (r: { json: { items: Array<{ id: string }> } }) => r.json.items.map((g) => g.id);
    expect(ids(await get('/grants?host=web-01'))).toEqual(['gr_api_0001', 'gr_api_0002']);
    expect(ids(await get('/grants?person=carol'))).toEqual(['gr_api_0001', 'gr_api_0003']);
    expect(ids(await get('/grants?state=expired'))).toEqual(['gr_api_0003']);
    const first = await get('/grants?limit=2');
    expect(ids(first)).toEqual(['gr_api_0001', 'gr_api_0002']);
    expect(ids(await get(`/grants?limit=2&cursor=${first.json.nextCursor}`))).toEqual(['gr_api_0003']);
    expect((await get('/grants?state=valid&host=web-01')).json.items[0]).toMatchObject({ id: 'gr_api_0001', request: 'AR-API0001', person: 'carol', role: 'readonly', state: 'valid', expiresAt: new Date(now + 3_600_000).toISOString() });
    const own = await get('/grants', tok.carolRead!.token);
    expect(own.status).toBe(200);
    expect(ids(own)).toEqual(['gr_api_0001', 'gr_api_0003']);
    expect(ids(await get('/grants?person=carol', tok.carolRead!.token))).toEqual(['gr_api_0001', 'gr_api_0003']);
    const other = await get('/grants?person=bob', tok.carolRead!.token);
    expect(other.status).toBe(403);
    expect(other.json).toMatchObject({ code: 1201, field: 'person' });

    const audit = await get('/audit?action=token.create&limit=2', tok.erin!.token);
    expect(audit.status).toBe(200);
    expect(audit.json.items).toHaveLength(2);
    expect(audit.json.items[0].at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const next = await get(`/audit?action=token.create&limit=2&cursor=${audit.json.nextCursor}`, tok.erin!.token);
    expect(next.status).toBe(200);
    const entries = [...audit.json.items, ...next.json.items].map((e: { id: string }) => e.id);
    expect(new Set(entries).size).toBe(entries.length);
    expect((await get('/audit', tok.carolRead!.token)).json).toMatchObject({ code: 1201 });
  });

  it('bad input is 400 with 1100 / 1102 naming the field', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['GET', '/hosts?limit=0', undefined, 1100, 'limit'],
      ['GET', '/hosts?limit=1&limit=2', undefined, 1100, 'limit'],
      ['GET', '/hosts?cursor=%7B', undefined, 1100, 'cursor'],
      ['GET', '/grants?state=maybe', undefined, 1100, 'state'],
      ['GET', '/tickets/not-a-ticket', undefined, 1100, 'id'],
      ['GET', '/projects?nope=1', undefined, 1100, 'nope'],
      ['POST', '/tickets', { env: 'PROD' }, 1102, 'template'],
      ['POST', '/tickets', { template: 'api-deploy', env: 'PROD', values: { Tag: 7 } }, 1100, 'values.Tag'],
      ['POST', '/tickets', { template: 'api-deploy', env: 'PROD', extra: 1 }, 1100, 'extra'],
      ['POST', '/tickets', { template: 'api-deploy', env: 'PROD', values: { Tag: 'not-a-tag' } }, 1100, ''],
      ['POST', '/tickets', { template: 'api-deploy', env: 'PROD', runAt: 'tomorrow' }, 1100, 'runAt'],
      ['POST', '/jobs', { target: 'center-1' }, 1102, 'module'],
      ['POST', '/jobs/J-0000000000/signal', {}, 1102, 'signal'],
    ];
    const before = await ticketModel(t.app.store.connection).countDocuments();
    for (const [method, p, body, code, field] of cases) {
      const r = await apiRequest(port, method, p, { token: tok.carol!.token, body });
      expect(r.status, `${method} ${p} ${JSON.stringify(body)}`).toBe(400);
      expect(r.json.code, p).toBe(code);
      if (field) expect(r.json.field, p).toBe(field);
    }
    const notJson = await apiRequest(port, 'POST', '/tickets', { token: tok.carol!.token, raw: '{"template":', contentType: 'application/json' });
    expect(notJson).toMatchObject({ status: 400, json: { code: 1100 } });
    const array = await apiRequest(port, 'POST', '/tickets', { token: tok.carol!.token, body: [1, 2] });
    expect(array).toMatchObject({ status: 400, json: { code: 1101 } });
    expect(await ticketModel(t.app.store.connection).countDocuments()).toBe(before);
    expect((await get('/nothing-here')).status).toBe(404);
    expect((await apiRequest(port, 'DELETE', '/tickets', { token: tok.erin!.token })).status).toBe(405);
  });
});

describe('a pipeline', () => {
  let ticketId = '';

  it('POST /tickets → approved in Slack (signed click) → POST /run → the progress stream → final status with the log tail', async () => {
    const mark = t.fake.calls.length;
    const submitted = await post('/tickets', { template: 'api-deploy', env: 'PROD', values: { Tag: 'v1.4.2' } }, tok.carol!.token);
    expect(submitted.status, submitted.text).toBe(201);
    ticketId = submitted.json.id;
    expect(ticketId).toMatch(/^TK-[A-Z0-9]{6}$/);
    expect(submitted.json).toMatchObject({ template: 'api-deploy', env: 'PROD', submitter: 'carol', values: { Tag: 'v1.4.2' }, url: `/api/v1/tickets/${ticketId}`, events: `/api/v1/tickets/${ticketId}/events` });

    // The task lock holds for the API as for Slack.
    const locked = await post('/tickets', { template: 'api-deploy', env: 'PROD', values: { Tag: 'v1.4.3' } }, tok.carol!.token);
    expect(locked.status).toBe(400);
    expect(locked.json.message).toContain(ticketId);

    // Run before approval is refused.
    const early = await post(`/tickets/${ticketId}/run`, {}, tok.carol!.token);
    expect(early.status).toBe(400);
    expect(early.json.message).toContain('not approved');

    await approveInSlack(USERS.alice, ticketId, mark);
    const approved = await streamUntil(`/tickets/${ticketId}/events`, tok.carol!.token, (v) => v.state === 'approved');
    expect(approved.approval.levels[0]).toMatchObject({ decision: 'approved', decidedBy: 'alice' });

    // Someone else's ticket: bob may neither see nor run it.
    const bobSees = await get(`/tickets/${ticketId}`, tok.bobRead!.token);
    expect(bobSees.status).toBe(403);
    expect(bobSees.json.code).toBe(1201);
    const bobRuns = await post(`/tickets/${ticketId}/run`, {}, tok.bob!.token);
    expect(bobRuns.status).toBe(403);
    expect(bobRuns.json.code).toBe(1201);
    const bobRevokes = await post(`/tickets/${ticketId}/revoke`, {}, tok.bob!.token);
    expect(bobRevokes.status).toBe(403);
    expect((await get(`/tickets/${ticketId}`, tok.carol!.token)).json.state).toBe('approved');

    // curl -X POST without a body is fine.
    const run = await apiRequest(port, 'POST', `/tickets/${ticketId}/run`, { token: tok.carol!.token });
    expect(run.status, run.text).toBe(200);
    expect(['running', 'succeeded']).toContain(run.json.state);

    const stream = await readEvents(port, `/tickets/${ticketId}/events`, tok.carol!.token);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toContain('text/event-stream');
    expect(stream.events.at(-1)!.event).toBe('end');
    const final = stream.events.at(-1)!.data;
    expect(final).toMatchObject({ id: ticketId, state: 'succeeded', final: true, status: 3, statusLabel: 'succeeded' });
    expect(final.logTail).toContain('deployed-v1.4.2');
    expect(final.logTail).toContain(`conn=127.0.0.1`);
    expect(final.phases.find((p: { phase: string }) => p.phase === 'main')).toMatchObject({ ok: true, code: 0 });

    const shown = await get(`/tickets/${ticketId}`, tok.carolRead!.token);
    expect(shown.json.logTail).toContain('deployed-v1.4.2');
    // The long poll of an ended ticket answers at once with the same final view.
    const polled = await get(`/tickets/${ticketId}/wait?timeout=60`, tok.carolRead!.token);
    expect(polled.json).toMatchObject({ state: 'succeeded', final: true, logTail: final.logTail });
    const asJob = await get(`/jobs/${ticketId}`, tok.carolRead!.token);
    expect(asJob.json).toMatchObject({ kind: 'ticket', id: ticketId, state: 'succeeded', running: false });
  });

  it('no answer carries the template’s secret or a token’s hash (the log shows the secret masked)', async () => {
    const all = answers.join('\n');
    expect(all).toContain('deployed-v1.4.2');
    expect(all).toContain('token=');
    expect(all.includes(SECRET)).toBe(false);
    for (const h of (await apiTokenModel(t.app.store.connection).find({}).lean()).map((x) => x.hash)) expect(all.includes(h)).toBe(false);
  });

  it('every write is audited with the token owner as actor and the token named', async () => {
    const submit = await t.app.services.audit.query({ action: 'api.ticket.submit', target: `ticket:${ticketId}` });
    expect(submit).toHaveLength(1);
    expect(submit[0]).toMatchObject({ actor: 'carol', note: `via API token ${tok.carol!.id} (carol-pipeline)` });
    const run = await t.app.services.audit.query({ action: 'api.ticket.run', target: `ticket:${ticketId}` });
    expect(run[0]).toMatchObject({ actor: 'carol', to: { token: tok.carol!.id, method: 'POST' } });
    // The service's own entries name the same person.
    expect((await t.app.services.audit.query({ action: 'ticket.submit', target: `ticket:${ticketId}` }))[0]).toMatchObject({ actor: 'carol' });
    // Refused writes are not audited as writes.
    expect(await t.app.services.audit.query({ action: 'api.ticket.run', actor: 'bob' })).toEqual([]);
  });

  it('POST /tickets/{id}/revoke ends a ticket waiting for approval', async () => {
    const submitted = await post('/tickets', { template: 'api-hold', env: 'PROD' }, tok.carol!.token);
    expect(submitted.status).toBe(201);
    const id = submitted.json.id;
    // The long poll: answers once the state has left `pre` (the pre-task stage) ...
    const waiting = await get(`/tickets/${id}/wait?changedFrom=pre&timeout=30`, tok.carol!.token);
    expect(waiting.status).toBe(200);
    expect(waiting.json).toMatchObject({ state: 'waiting', final: false });
    // ... and, waiting for the end of a ticket nobody approves, when its time is up.
    const t0 = Date.now();
    const timedOut = await get(`/tickets/${id}/wait?timeout=1`, tok.carol!.token);
    expect(timedOut.json).toMatchObject({ state: 'waiting', final: false });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // A token revoked while its stream is open, or while its long poll waits, is refused from then on.
    const short = await createToken(t, USERS.carol, 'carol-short-lived');
    let opened!: () => void;
    const firstEvent = new Promise<void>((r) => (opened = r));
    const streaming = readEvents(port, `/tickets/${id}/events`, short.token, { onEvent: () => opened() });
    await firstEvent;
    const polling = get(`/tickets/${id}/wait?timeout=60`, short.token);
    expect((await runCommand(t, '/opsgate', `token revoke ${short.id}`, USERS.carol)).text).toContain('revoked');
    const cut = await streaming;
    expect(cut.events[0]).toMatchObject({ event: 'ticket', data: { id, state: 'waiting' } });
    expect(cut.events.at(-1)).toMatchObject({ event: 'error', data: { code: 1201 } });
    const polled = await polling;
    expect(polled.status).toBe(401);
    expect(polled.json.message).toContain('revoked');

    const revoked = await post(`/tickets/${id}/revoke`, {}, tok.carol!.token);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json).toMatchObject({ state: 'revoked', final: true, status: 9 });
    const again = await post(`/tickets/${id}/revoke`, {}, tok.carol!.token);
    expect(again.status).toBe(400);
    expect((await t.app.services.audit.query({ action: 'api.ticket.revoke', target: `ticket:${id}` }))[0]).toMatchObject({ actor: 'carol' });
  });
});

describe('module jobs', () => {
  it('POST /jobs runs a module; GET /jobs/{id} and its stream give seed 001’s buckets', async () => {
    const started = await post('/jobs', { module: 'api-echo', target: 'center-1', params: { word: 'pipeline' } });
    expect(started.status, started.text).toBe(201);
    const id = started.json.id;
    expect(id).toMatch(/^J-[0-9a-f]{10}$/);
    const stream = await readEvents(port, `/jobs/${id}/events`, tok.erin!.token);
    const final = stream.events.at(-1)!;
    expect(final.event).toBe('end');
    expect(final.data).toMatchObject({ id, kind: 'module', state: 'done', final: true, counts: { ok: 1, failed: 0, unreachable: 0 } });
    expect(final.data.host_ok[0]).toMatchObject({ host: 'center-1', code: 0 });
    expect(final.data.host_ok[0].stdout).toContain('api-echo pipeline');
    const shown = await get(`/jobs/${id}`);
    expect(shown.json.host_ok).toHaveLength(1);
    expect((await get(`/jobs/${id}/wait`)).json).toMatchObject({ state: 'done', final: true });
    expect((await t.app.services.audit.query({ action: 'api.job.run', target: `job:${id}` }))[0]).toMatchObject({ actor: 'erin' });
    // bob (in a team, without use on inventory:prod) may not see it; an unknown job is 404.
    expect((await get(`/jobs/${id}`, tok.bobRead!.token)).json.code).toBe(1201);
    expect((await get('/jobs/J-ffffffffff')).status).toBe(404);
    // Bad parameters are the module's refusal, nothing stored.
    const jobs = await jobModel(t.app.store.connection).countDocuments();
    const bad = await post('/jobs', { module: 'api-echo', target: 'center-1', params: { word: 'NOT OK' } });
    expect(bad.status).toBe(400);
    expect(await jobModel(t.app.store.connection).countDocuments()).toBe(jobs);
  });

  it('POST /jobs/{id}/signal reaches the remote process (TERM), others may not signal', async () => {
    const started = await post('/jobs', { module: 'api-sleep', target: 'center-1', params: { secs: SLEEP } });
    expect(started.status, started.text).toBe(201);
    const id = started.json.id;
    await ps.until(`sleep ${SLEEP}`, 1);
    const bobTries = await post(`/jobs/${id}/signal`, { signal: 'TERM' }, tok.bob!.token);
    expect(bobTries.status).toBe(403);
    const signalled = await post(`/jobs/${id}/signal`, { signal: 'TERM' });
    expect(signalled.status, signalled.text).toBe(200);
    expect(await ps.gone(`sleep ${SLEEP}`)).toEqual([]);
    const stream = await readEvents(port, `/jobs/${id}/events`, tok.erin!.token);
    const final = stream.events.at(-1)!.data;
    expect(final.state).toBe('done');
    expect(final.host_ok).toEqual([]);
    expect((await t.app.services.audit.query({ action: 'api.job.signal', target: `job:${id}` }))[0]).toMatchObject({ actor: 'erin', to: { signal: 'TERM' } });
  });
});

describe('shutdown', () => {
  it('a bot stopping ends its open streams, then stops (long polls: test/api/http.test.ts)', async () => {
    const submitted = await post('/tickets', { template: 'api-hold', env: 'PROD' }, tok.carol!.token);
    const id = submitted.json.id;
    let opened!: () => void;
    const firstEvent = new Promise<void>((r) => (opened = r));
    const streaming = readEvents(port, `/tickets/${id}/events`, tok.carol!.token, { onEvent: () => opened() });
    await firstEvent;
    const t0 = Date.now();
    await t.restart();
    expect(Date.now() - t0).toBeLessThan(30_000);
    const ended = await streaming;
    expect(ended.events.length).toBeGreaterThan(0);
    expect(ended.events.every((e) => e.event === 'ticket')).toBe(true);
    port = t.app.port;
    // The new instance serves the same tokens.
    expect((await get(`/tickets/${id}`, tok.carol!.token)).json.id).toBe(id);
  });
});
