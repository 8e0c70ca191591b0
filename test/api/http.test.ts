/**
 * The API's request handler on its own (src/api/http.ts), over a real loopback HTTP server with
 * stand-in services: a long poll waiting between its reads is answered at once when the API
 * closes (a bot stopping), the token is looked at again before each later read, and the rate
 * limiter's Retry-After follows its clock.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiHandler } from '../../src/api/http.js';
import { RateLimiter } from '../../src/api/rate-limit.js';
import type { ApiServices } from '../../src/api/routes.js';
import { createLogger } from '../../src/logger.js';
import { unauthenticated, type Caller } from '../../src/services/api-tokens.js';
import { apiRequest } from '../helpers/api.js';

const caller = { person: { personId: 'carol', slackId: 'UCAROL', active: true }, token: { tokenId: 'AT-0000000001', name: 'ci', scope: 'read' } } as unknown as Caller;
const ticket = {
  ticketId: 'TK-AAAAAA',
  template: { name: 'x', category: 'c' },
  env: 'PROD',
  state: 'waiting',
  status: 0,
  background: null,
  submitter: 'carol',
  values: {},
  runAt: null,
  autoRun: false,
  queued: false,
  approval: { state: 'pending', current: 0, levels: [] },
  phases: [],
  createdAt: new Date(),
  startedAt: null,
  finishedAt: null,
};

let server: http.Server | undefined;
let api: ApiHandler | undefined;
afterEach(async () => {
  api?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(services: Partial<ApiServices>): Promise<number> {
  api = createApiHandler(services as ApiServices, { ratePerMinute: 1000, maxBodyBytes: 1024, progressPollMs: 60_000, version: 't', logger: createLogger('silent') });
  server = http.createServer((req, res) => void (api!.handle(req, res) || res.writeHead(404).end()));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('long polls', () => {
  it('are answered with the view as it stands when the API closes', async () => {
    let reads = 0;
    let firstRead!: () => void;
    const read = new Promise<void>((r) => (firstRead = r));
    const port = await serve({
      tokens: { authenticate: async () => caller } as never,
      tickets: { show: async () => (reads++, firstRead(), { ticket, tail: 'so far' }) } as never,
    });
    const polling = apiRequest(port, 'GET', '/tickets/TK-AAAAAA/wait?timeout=60', { token: 'x' });
    await read;
    api!.close();
    const r = await polling;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: 'TK-AAAAAA', state: 'waiting', final: false, logTail: 'so far' });
    expect(reads).toBe(1);
  });

  it('look at the token again before each later read', async () => {
    let checks = 0;
    const port = await serve({
      tokens: { authenticate: async () => (++checks > 1 ? Promise.reject(unauthenticated('token AT-0000000001 was revoked')) : caller) } as never,
      tickets: { show: async () => ({ ticket, tail: '' }) } as never,
    });
    // The API polls every minute here: the handler's own wait is cut short by a 1 s timeout.
    const r = await apiRequest(port, 'GET', '/tickets/TK-AAAAAA/wait?timeout=1', { token: 'x' });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ code: 1201, message: 'token AT-0000000001 was revoked' });
    expect(checks).toBe(2);
  });
});

describe('the rate limiter', () => {
  it('gives a burst of its budget, then one request every 60/n s, with the wait in whole seconds', () => {
    let now = 0;
    const limiter = new RateLimiter(6, () => now);
    for (let i = 0; i < 6; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10);
    expect(limiter.take('b')).toBe(0);
    now += 5_000;
    expect(limiter.take('a')).toBe(5);
    now += 5_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10);
  });
});
