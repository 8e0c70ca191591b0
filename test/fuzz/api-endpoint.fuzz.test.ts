/**
 * The HTTP API under fuzzed input, sent for real to the running bot's /api/v1/ with good tokens
 * (and with bad ones): any path below a route, any query string, any JSON body (operator
 * objects such as {"$ne": null} where strings belong, deep nesting, huge numbers, the shell
 * injection corpus as option values), any content type. For every request: the answer is one
 * of the documented statuses with a JSON body carrying seed 001's code (never 1300, never a
 * stack trace or a source path), nothing is logged as an error, no rejection goes unhandled,
 * no file the injection corpus names appears, and a good request still works afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/api/routes.js';
import { apiRequest, createToken, type ApiResponse } from '../helpers/api.js';
import { hostileValues } from '../helpers/hostile-values.js';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';
import { fuzzRuns, INTERNALS } from './outcome.js';

const STATUSES = new Set([200, 201, 400, 401, 403, 404, 405, 413, 415]);

describe('the HTTP API under fuzzed input', () => {
  let t: TestOpsgate;
  const errors: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => void rejections.push(reason);
  const tokens: string[] = [];
  const pwned = path.join(tempDir('api-fuzz'), 'pwned');

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50) errors.push(l.slice(0, 400));
        done();
      },
    });
    t = await startOpsgate({ logStream, env: { LOG_LEVEL: 'warn', API_RATE_LIMIT_PER_MINUTE: '1000000' } });
    await t.ready();
    tokens.push((await createToken(t, USERS.erin, 'fuzz-admin scope:write')).token, (await createToken(t, USERS.bob, 'fuzz-bob scope:write')).token, (await createToken(t, USERS.carol, 'fuzz-read')).token);
  }, 60_000);

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await t?.stop();
  });

  /** How often each status was answered: the properties must reach past the refusals too. */
  const seen = new Map<number, number>();

  function check(r: ApiResponse, what: string): void {
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
    expect(STATUSES.has(r.status), `${what} → ${r.status} ${r.text.slice(0, 300)}`).toBe(true);
    expect(INTERNALS.test(r.text), `${what} showed internals: ${r.text.slice(0, 300)}`).toBe(false);
    if (r.status >= 400) {
      expect(r.json?.code, `${what}: ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(1100);
      expect(r.json.code, `${what}: ${r.text.slice(0, 300)}`).toBeLessThan(1300);
      expect(typeof r.json.message).toBe('string');
    }
  }

  const segment = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('TK-AAAAAA', 'J-0000000000', 'storefront', '..', '%00', '%2e%2e', 'TK-' + 'A'.repeat(500), '{id}', '$ne'));
  const routePath = fc.tuple(fc.constantFrom(...ROUTES.map((r) => r.path)), segment).map(([p, s]) => p.replace(/\{\w+\}/, encodeURIComponent(s)));
  const query = fc.dictionary(fc.oneof(fc.constantFrom('limit', 'cursor', 'filter', 'host', 'person', 'state', 'action', 'since', 'host[$ne]'), fc.string({ maxLength: 10 })), fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('0', '-1', '1e9', '201', 'valid', '2026-13-45T00:00:00Z', '{"$gt":""}')), { maxKeys: 4 });
  const operator = fc.constantFrom({ $ne: null }, { $gt: '' }, { $where: 'sleep(1000)' }, [], [[[]]], null, 1e308, -0, true);
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({ template: fc.oneof(fc.constantFrom('deploy-static', 'deploy-git'), fc.string(), operator), env: fc.oneof(fc.constantFrom('STAGE', 'PROD'), operator), values: fc.oneof(fc.dictionary(fc.constantFrom('Ref', 'Tag', 'Mode', 'AnsibleHosts', '__proto__', 'constructor'), fc.oneof(fc.constantFrom(...hostileValues(pwned)), operator)), operator) }, { requiredKeys: [] }),
    fc.record({ module: fc.oneof(fc.constantFrom('uptime', 'disk-usage', 'shell'), fc.string(), operator), target: fc.oneof(fc.string(), operator, fc.constant('web-* env:prod')), params: fc.oneof(fc.dictionary(fc.constantFrom('path', 'unit', 'lines', 'script'), fc.oneof(fc.constantFrom(...hostileValues(pwned)), operator, fc.integer())), operator) }, { requiredKeys: [] }),
    fc.record({ signal: fc.oneof(fc.constantFrom('TERM', 'KILL', 'SIGFOO', '9', ''), operator) }, { requiredKeys: [] }),
  );

  it('any path, query and body, with any of three tokens (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), routePath, query, body, fc.constantFrom(0, 1, 2), async (method, p, q, b, who) => {
        const qs = new URLSearchParams(q).toString();
        const full = `${p}${qs ? `?${qs}` : ''}`;
        const r = await apiRequest(t.app.port, method, full, { token: tokens[who], ...(method === 'GET' ? {} : { body: b }) });
        check(r, `${method} ${full} ${JSON.stringify(b).slice(0, 200)}`);
      }),
      fuzzRuns(300, 1212),
    );
    expect(fs.existsSync(pwned)).toBe(false);
    expect(errors).toEqual([]);
    expect(rejections).toEqual([]);
    for (const status of [200, 400, 403, 404, 405]) expect(seen.get(status) ?? 0, `${status} in ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
  }, 240_000);

  it('raw bodies, content types and authorization headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('{', '[1,', '{"a":' + '['.repeat(5000), '\u0000', '{"template":"deploy-static","env":"STAGE","values":{"Ref":"main"}}')),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', '', 'multipart/form-data', 'APPLICATION/JSON'),
        fc.oneof(fc.constant(undefined), fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`), fc.string({ maxLength: 80 }), fc.constant(`Bearer ${tokens[0]}`)),
        async (raw, contentType, authorization) => {
          const r = await apiRequest(t.app.port, 'POST', '/tickets', { raw, contentType, headers: authorization === undefined ? {} : { authorization } });
          check(r, `POST /tickets ${contentType} ${JSON.stringify(raw).slice(0, 100)} ${authorization?.slice(0, 20)}`);
        },
      ),
      fuzzRuns(200, 1213),
    );
    expect(errors).toEqual([]);
    // Still answering.
    expect((await apiRequest(t.app.port, 'GET', '/projects', { token: tokens[0] })).status).toBe(200);
  }, 240_000);
});
