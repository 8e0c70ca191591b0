/**
 * The OpenAPI document at /api/v1/openapi.json against the routes that really serve: it is a
 * valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator); its paths and methods are
 * exactly the route table's; every documented route answers (no 404 / 405) and its real
 * answers validate against the documented response schema (ajv, JSON Schema 2020-12); every
 * documented request body and query is the one the route checks: what the route takes the
 * document allows, what the document forbids the route refuses (400, the field named), and a
 * query parameter the document does not list is refused. The app runs without sshd: the ticket
 * template runs on `local`, the module job meets hosts that refuse connections.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/api/routes.js';
import { apiRequest, createToken, readEvents, type ApiResponse } from '../helpers/api.js';
import { copyExampleCatalog } from '../helpers/catalog-copy.js';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';

let t: TestOpsgate;
let dir: string;
let port: number;
let token = '';
let doc: any;
let ticketId = '';
let jobId = '';

beforeAll(async () => {
  dir = tempDir('openapi');
  const catalogDir = path.join(dir, 'catalog');
  const edit = copyExampleCatalog(catalogDir);
  edit('tickets.yaml', (d) =>
    d.tickets!.push({ name: 'doc-local', description: 'runs on the bot', env: 'STAGE', category: 'Doc', submitGroups: ['ops'], configCenter: 'local', options: [{ name: 'Word', label: 'Word', text: { pattern: '^[a-z]+$', maxLength: 20 } }], main: 'echo "said {Word}"', timeoutMinutes: 1, channel: '#deploys' }),
  );
  t = await startOpsgate({ catalogDir, env: { API_PROGRESS_POLL_MS: '100', API_RATE_LIMIT_PER_MINUTE: '100000', EXEC_CONNECT_TIMEOUT_MS: '2000' } });
  await t.ready();
  port = t.app.port;
  token = (await createToken(t, USERS.erin, 'doc-check scope:write')).token;
  const r = await apiRequest(port, 'GET', '/openapi.json');
  expect(r.status).toBe(200);
  doc = r.json;
}, 90_000);

afterAll(async () => {
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const ajv = new Ajv2020({ strict: false, allErrors: true });
// The one format the document uses: an ISO 8601 instant in UTC, as every time the API gives.
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
/** A validator for one schema of the document (its $refs resolved against the document's components). */
const validatorFor = (schema: unknown) => ajv.compile({ ...(schema as object), components: doc.components });

function documented(method: string, p: string): any {
  const op = doc.paths[p]?.[method];
  if (!op) throw new Error(`${method} ${p} is not documented`);
  return op;
}

/** The answer validates against what the document says this route answers with that status. */
function expectDocumented(method: string, p: string, r: ApiResponse): void {
  const op = documented(method, p);
  const resp = op.responses[String(r.status)];
  expect(resp, `${method} ${p} answered ${r.status}, which is not documented: ${r.text.slice(0, 300)}`).toBeDefined();
  const schema = resp.content['application/json']?.schema;
  const validate = validatorFor(schema);
  expect(validate(r.json), `${method} ${p} ${r.status}: ${JSON.stringify(validate.errors)} in ${r.text.slice(0, 300)}`).toBe(true);
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document, served without a token', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents exactly the routes the API serves, method for method', () => {
    const inDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(inDoc.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    expect(doc.paths['/tickets'].post.security).toEqual([{ bearer: [] }]);
  });

  it('every documented route answers, and its answers are the documented schema', async () => {
    // Objects for the routes that name one: a ticket (runs on local) and a module job.
    const submitted = await apiRequest(port, 'POST', '/tickets', { token, body: { template: 'doc-local', env: 'STAGE', values: { Word: 'hello' } } });
    expectDocumented('post', '/tickets', submitted);
    ticketId = submitted.json.id;
    const ended = await readEvents(port, `/tickets/${ticketId}/events`, token);
    expect(ended.events.at(-1)?.data).toMatchObject({ state: 'succeeded' });
    const job = await apiRequest(port, 'POST', '/jobs', { token, body: { module: 'uptime', target: 'web-01' } });
    expectDocumented('post', '/jobs', job);
    jobId = job.json.id;
    const jobEnded = await readEvents(port, `/jobs/${jobId}/events`, token);
    expect(jobEnded.events.at(-1)?.data.host_unreachable[0]).toMatchObject({ host: 'web-01' });

    const ids: Record<string, string> = { '/projects/{name}': 'storefront', '/tickets/{id}': ticketId, '/jobs/{id}': jobId };
    const idFor = (p: string) => ids[p.replace(/\/(run|revoke|signal|events|wait)$/, '')] ?? '';
    const bodies: Record<string, unknown> = { 'post /jobs/{id}/signal': { signal: 'TERM' }, 'post /tickets/{id}/run': {}, 'post /tickets/{id}/revoke': {} };
    for (const r of ROUTES) {
      const concrete = r.path.replace(/\{\w+\}/, idFor(r.path));
      if (r.kind === 'events') {
        const s = await readEvents(port, concrete, token);
        expect(s.status, concrete).toBe(200);
        expect(s.contentType).toContain('text/event-stream');
        expect(Object.keys(documented('get', r.path).responses['200'].content)).toEqual(['text/event-stream']);
        const validate = validatorFor(documented('get', r.path).responses['200'].content['text/event-stream'].schema);
        for (const e of s.events) expect(validate(e.data), `${concrete} ${e.event}: ${JSON.stringify(validate.errors)}`).toBe(true);
        continue;
      }
      if (r.path === '/tickets' || r.path === '/jobs') continue;
      const res = r.method === 'get' ? await apiRequest(port, 'GET', concrete, { token }) : await apiRequest(port, 'POST', concrete, { token, body: bodies[`${r.method} ${r.path}`] ?? {} });
      // Run, revoke and signal on an ended ticket or job are refusals (400): documented too.
      expect([404, 405], `${r.method} ${concrete}: ${res.text.slice(0, 200)}`).not.toContain(res.status);
      expectDocumented(r.method, r.path, res);
    }
    // Refusals are the documented Error.
    expectDocumented('get', '/tickets/{id}', await apiRequest(port, 'GET', `/tickets/${ticketId}`));
    expectDocumented('get', '/jobs/{id}', await apiRequest(port, 'GET', '/jobs/J-ffffffffff', { token }));
  });

  it('request bodies: what a route takes its documented schema allows; what the schema forbids the route refuses', async () => {
    const body = (method: string, p: string) => validatorFor(documented(method, p).requestBody.content['application/json'].schema);
    const submit = body('post', '/tickets');
    const taken = { template: 'doc-local', env: 'STAGE', values: { Word: 'again' } };
    expect(submit(taken)).toBe(true);
    const ok = await apiRequest(port, 'POST', '/tickets', { token, body: taken });
    expect(ok.status).toBe(201);
    const forbidden: Array<[unknown, string]> = [
      [{ env: 'STAGE' }, 'template'],
      [{ template: 'doc-local', env: 'STAGE', surprise: true }, 'surprise'],
      [{ template: 'doc-local', env: 'STAGE', values: { Word: 3 } }, 'values.Word'],
      [{ template: 'doc-local', env: 'STAGE', runAt: 'soon' }, 'runAt'],
      [{ template: 'doc-local', env: 'STAGE', background: 'yes' }, 'background'],
    ];
    for (const [b, field] of forbidden) {
      expect(submit(b), JSON.stringify(b)).toBe(false);
      const r = await apiRequest(port, 'POST', '/tickets', { token, body: b });
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(r.json.field).toBe(field);
    }
    const run = body('post', '/jobs');
    expect(run({ module: 'uptime', target: 'web-01' })).toBe(true);
    expect(run({ target: 'web-01' })).toBe(false);
    expect((await apiRequest(port, 'POST', '/jobs', { token, body: { target: 'web-01' } })).json).toMatchObject({ code: 1102, field: 'module' });
    const signal = body('post', '/jobs/{id}/signal');
    expect(signal({ signal: 'TERM', also: 1 })).toBe(false);
    expect((await apiRequest(port, 'POST', `/jobs/${jobId}/signal`, { token, body: { signal: 'TERM', also: 1 } })).json).toMatchObject({ code: 1100, field: 'also' });
  });

  it('query parameters and path parameters: the documented ones are the ones a route reads, and no other is taken', async () => {
    for (const r of ROUTES) {
      const op = documented(r.method, r.path);
      const params = (op.parameters ?? []) as Array<{ in: string; name: string; schema: unknown }>;
      const inQuery = params.filter((p) => p.in === 'query').map((p) => p.name).sort();
      const inPath = params.filter((p) => p.in === 'path').map((p) => p.name).sort();
      expect(inQuery, `${r.method} ${r.path}`).toEqual(Object.keys((r.query as { shape?: object } | undefined)?.shape ?? {}).sort());
      expect(inPath, `${r.method} ${r.path}`).toEqual([...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort());
    }
    const limit = (documented('get', '/hosts').parameters as Array<{ name: string; schema: { maximum?: number } }>).find((p) => p.name === 'limit')!;
    expect((await apiRequest(port, 'GET', `/hosts?limit=${limit.schema.maximum}`, { token })).status).toBe(200);
    expect((await apiRequest(port, 'GET', `/hosts?limit=${limit.schema.maximum! + 1}`, { token })).json).toMatchObject({ code: 1100, field: 'limit' });
    expect((await apiRequest(port, 'GET', '/hosts?undocumented=1', { token })).json).toMatchObject({ code: 1100, field: 'undocumented' });
    const idPattern = (documented('get', '/tickets/{id}').parameters as Array<{ name: string; schema: { pattern: string } }>).find((p) => p.name === 'id')!.schema.pattern;
    expect(new RegExp(idPattern).test(ticketId)).toBe(true);
    expect(new RegExp(idPattern).test('TK-lower')).toBe(false);
    expect((await apiRequest(port, 'GET', '/tickets/TK-lower', { token })).json).toMatchObject({ code: 1100, field: 'id' });
  });
});
