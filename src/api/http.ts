/**
 * `/api/v1/` on the bot's HTTP port: the one request handler every HTTP server of the bot
 * (Bolt's receiver, the bare health server, the local workspace's page) hands these paths to.
 *
 * In order: the route (404 / 405), the token (401: none, unknown, expired, revoked, or its owner
 * gone), the token's rate (429 with Retry-After), its scope (403 for a read token on a write),
 * then for a body: JSON only (415) and at most `maxBodyBytes` (413); then the zod schemas
 * (400 with 1100 / 1101 / 1102 naming the field), the service (its AppErrors: 403 for 1200s,
 * 404 for an unknown id, 400 for bad input), and the response schema. Every error body is
 * `{code, error, message, field?}` with seed 001's code. A successful write is audited with
 * the token's owner as actor and the token named.
 */
import type http from 'node:http';
import type { z } from 'zod';
import { AppError, asAppError, ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { ApiTokenService, isUnauthenticated, type Caller } from '../services/api-tokens.js';
import { openApiDocument } from './openapi.js';
import { RateLimiter } from './rate-limit.js';
import { ROUTES, type ApiRoute, type ApiServices, type EventsRoute, type JsonRoute, type RouteContext } from './routes.js';
import { API_BASE } from './views.js';

export interface ApiOptions {
  /** Requests one token may make per minute (per instance). */
  ratePerMinute: number;
  maxBodyBytes: number;
  /** How often a progress stream reads the ticket or job again. */
  progressPollMs: number;
  version: string;
  logger: Logger;
  /** The rate limiter's clock (tests). */
  now?: () => number;
  /** Told each answered request: its route (`GET /tickets/{id}`, or `other`) and status (the metrics). */
  observe?: (route: string, status: number) => void;
}

export interface ApiHandler {
  /** True when the request is the API's (its path is under /api/v1/): it is then answered. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Ends every open progress stream (at shutdown, so the server can close). */
  close(): void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly appError: AppError,
    readonly headers: Record<string, string> = {},
  ) {
    super(appError.message);
  }
}

const KEEPALIVE_MS = 15_000;
const JSON_TYPE = /^application\/json\s*(;.*)?$/i;
/** A service's "no ticket TK-…", "no job J-…", "no project x": the id names nothing. */
const NOT_FOUND = /^no (ticket|job|project|grant|token) /;

function statusOf(err: AppError): number {
  if (isUnauthenticated(err)) return 401;
  if (err.code >= 1200 && err.code < 1300) return 403;
  if (err.code >= 1100 && err.code < 1200) return NOT_FOUND.test(err.message) ? 404 : 400;
  if (err.code === ErrorCode.NotImplemented) return 501;
  return err.details?.storeUnavailable ? 503 : 500;
}

export function errorBody(err: AppError): { code: number; error: string; message: string; field?: string } {
  const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
  return { code: err.code, error: err.title, message: err.message, ...(field ? { field } : {}) };
}

/** zod's first issue as seed 001's codes: 1102 for a field that is absent, else 1100, naming the field. */
function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String);
  const field = path.join('.') || where;
  let at: unknown = value;
  for (const k of path) at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[k] : undefined;
  if (issue.code === 'invalid_type' && at === undefined && path.length > 0) throw new HttpError(400, new AppError(ErrorCode.MissingField, `${field} is required`, { field }));
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    throw new HttpError(400, new AppError(ErrorCode.BadParameter, `${keys.map((k) => (path.length ? `${path.join('.')}.${k}` : k)).join(', ')}: not a field of this ${where}`, { field: keys[0] ?? field }));
  }
  throw new HttpError(400, new AppError(ErrorCode.BadParameter, `${field}: ${issue.message}`, { field }));
}

function pathPattern(path: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  const re = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, n: string) => (names.push(n), '([^/]+)'));
  return { re: new RegExp(`^${re}$`), names };
}

export function createApiHandler(services: ApiServices, opts: ApiOptions): ApiHandler {
  const limiter = new RateLimiter(opts.ratePerMinute, opts.now);
  const compiled = ROUTES.map((r) => ({ route: r, ...pathPattern(r.path) }));
  /** Open progress streams and long polls: each ends (answers) when the API closes. */
  const streams = new Set<() => void>();
  let closing = false;
  /** A long poll's wait between two reads; resolves false at once when the API is closing. */
  const sleep = (maxMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (closing) return resolve(false);
      const wake = () => {
        clearTimeout(timer);
        streams.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        streams.delete(wake);
        resolve(true);
      }, Math.min(opts.progressPollMs, maxMs));
      streams.add(wake);
    });
  // Failed authentications per client address: past the token rate they are 429, not another look-up.
  const failures = new RateLimiter(opts.ratePerMinute, opts.now);
  let document: string | undefined;

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
    res.end(JSON.stringify(body));
  };

  function readBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<unknown> {
    const length = Number(req.headers['content-length'] ?? NaN);
    const type = String(req.headers['content-type'] ?? '');
    const chunked = req.headers['transfer-encoding'] !== undefined;
    // A POST with nothing in it (curl -X POST) is an empty object.
    if (!chunked && (length === 0 || Number.isNaN(length)) && type === '') return Promise.resolve({});
    if (!JSON_TYPE.test(type)) throw new HttpError(415, new AppError(ErrorCode.BadParameter, `content-type: must be application/json (got ${JSON.stringify(type.slice(0, 80)) || 'none'})`, { field: 'content-type' }));
    const tooBig = () => new HttpError(413, new AppError(ErrorCode.BadParameter, `the request body is over ${opts.maxBodyBytes} bytes`), { connection: 'close' });
    if (length > opts.maxBodyBytes) throw tooBig();
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > opts.maxBodyBytes) {
          over = true;
          // The answer goes now; whatever else comes is dropped with the connection.
          res.once('finish', () => req.destroy());
          reject(tooBig());
        } else chunks.push(c);
      });
      req.on('end', () => {
        if (over) return;
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() === '') return resolve({});
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new HttpError(400, new AppError(ErrorCode.BadParameter, 'the request body is not JSON')));
        }
      });
      req.on('error', reject);
    });
  }

  async function audited(route: JsonRoute, result: unknown, ctx: RouteContext<unknown, unknown, unknown>, req: http.IncomingMessage): Promise<void> {
    if (!route.audited) return;
    const a = route.audited(result, ctx as never);
    const t = ctx.caller.token;
    await services.audit.record({
      actor: ctx.caller.person.personId,
      action: a.action,
      target: a.target,
      to: { method: req.method, path: (req.url ?? '').split('?')[0], token: t.tokenId, ...a.detail },
      note: `via API token ${t.tokenId} (${t.name})`,
    });
  }

  function stream(route: EventsRoute, ctx: RouteContext<unknown, Record<string, never>, Record<string, never>>, req: http.IncomingMessage, res: http.ServerResponse, first: { view: unknown; final: boolean }, stillValid: () => Promise<unknown>): void {
    const name = route.path.startsWith('/tickets') ? 'ticket' : 'job';
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let last = '';
    let n = 0;
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    const end = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      clearInterval(keepalive);
      streams.delete(end);
      res.end();
    };
    streams.add(end);
    // The client went away (or the answer ended): stop reading for it.
    res.on('close', end);
    const emit = (snap: { view: unknown; final: boolean }) => {
      const data = JSON.stringify(route.response.parse(snap.view));
      if (data !== last) res.write(`event: ${name}\nid: ${++n}\ndata: ${data}\n\n`);
      last = data;
      if (snap.final) {
        res.write(`event: end\nid: ${++n}\ndata: ${data}\n\n`);
        end();
      }
    };
    const poll = () => {
      if (closed) return;
      stillValid()
        .then(() => route.snapshot(ctx as never))
        .then((snap) => {
          if (closed) return;
          emit(snap);
          if (!closed) timer = setTimeout(poll, opts.progressPollMs);
        })
        .catch((err: unknown) => {
          if (closed) return;
          const e = asAppError(err);
          if (e.code === ErrorCode.Internal) opts.logger.error({ err, path: route.path }, 'API progress stream failed');
          res.write(`event: error\ndata: ${JSON.stringify(errorBody(e))}\n\n`);
          end();
        });
    };
    res.write('retry: 2000\n\n');
    emit(first);
    if (!closed) timer = setTimeout(poll, opts.progressPollMs);
  }

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://api');
    const sub = url.pathname.slice(API_BASE.length) || '/';
    const method = (req.method ?? 'GET').toLowerCase();
    if (sub === '/openapi.json') {
      if (method !== 'get') throw new HttpError(405, new AppError(ErrorCode.BadParameter, `${req.method} is not served here; use GET`), { allow: 'GET' });
      document ??= JSON.stringify(openApiDocument(ROUTES, opts.version));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end(document);
    }
    const onPath = compiled.map((c) => ({ ...c, m: c.re.exec(sub) })).filter((c) => c.m);
    if (onPath.length === 0) throw new HttpError(404, new AppError(ErrorCode.BadParameter, `no route ${sub} in ${API_BASE} (the list: ${API_BASE}/openapi.json)`));
    const hit = onPath.find((c) => c.route.method === method);
    if (!hit) throw new HttpError(405, new AppError(ErrorCode.BadParameter, `${req.method} is not served on ${sub}; use ${onPath.map((c) => c.route.method.toUpperCase()).join(' or ')}`), { allow: onPath.map((c) => c.route.method.toUpperCase()).join(', ') });
    const route: ApiRoute = hit.route;

    const caller: Caller = await services.tokens.authenticate(req.headers.authorization).catch((err: unknown) => {
      const wait = err instanceof AppError && isUnauthenticated(err) ? failures.take(`addr:${req.socket.remoteAddress ?? '?'}`) : 0;
      if (wait > 0) throw new HttpError(429, new AppError(ErrorCode.NeedPermission, `too many requests without a valid token from this address; try again in ${wait} s`), { 'retry-after': String(wait) });
      throw err;
    });
    const wait = limiter.take(caller.token.tokenId);
    if (wait > 0) throw new HttpError(429, new AppError(ErrorCode.BadParameter, `token ${caller.token.tokenId} made more than ${opts.ratePerMinute} requests in a minute; try again in ${wait} s`), { 'retry-after': String(wait) });
    if (route.scope === 'write') ApiTokenService.requireWrite(caller);
    if (!caller.person.slackId) throw new AppError(ErrorCode.NeedPermission, `the owner of token ${caller.token.tokenId} has no Slack user id in the directory yet`);

    const raw: Record<string, string> = {};
    hit.names.forEach((n, i) => {
      try {
        raw[n] = decodeURIComponent(hit.m![i + 1]!);
      } catch {
        raw[n] = hit.m![i + 1]!;
      }
    });
    const params = route.params ? parseWith(route.params, raw, 'path') : {};
    const queryObj: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      if (Object.hasOwn(queryObj, k)) throw new HttpError(400, new AppError(ErrorCode.BadParameter, `${k}: given twice`, { field: k }));
      queryObj[k] = v;
    }
    const query = route.query ? parseWith(route.query, queryObj, 'query') : {};
    if (!route.query && Object.keys(queryObj).length > 0) throw new HttpError(400, new AppError(ErrorCode.BadParameter, `${Object.keys(queryObj)[0]}: this route takes no query parameters`, { field: Object.keys(queryObj)[0] }));
    let body: unknown = {};
    if (route.kind === 'json' && route.method === 'post') {
      const parsed = await readBody(req, res);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, new AppError(ErrorCode.ExpectedObject, 'the request body must be a JSON object'));
      body = route.body ? parseWith(route.body, parsed, 'body') : {};
    }
    // A long poll or a stream outlives its first look: the token is checked again before each
    // later read, so one revoked (or whose owner left) meanwhile stops being answered.
    const stillValid = () => services.tokens.authenticate(req.headers.authorization);
    const pause = async (maxMs: number): Promise<boolean> => (await sleep(maxMs)) && (await stillValid(), true);
    const ctx = { actor: caller.person.slackId, caller, params, query, body, services, pause } as RouteContext<unknown, never, never>;
    if (route.kind === 'events') return stream(route, ctx as never, req, res, await route.snapshot(ctx as never), stillValid);
    const result = await route.handle(ctx as never);
    const out = route.response.parse(result);
    // The write happened (and the service audited it): a failure of the API's own entry is
    // logged, never answered as a failure a pipeline would retry into a second write.
    await audited(route, out, ctx, req).catch((err: unknown) => opts.logger.error({ err, path: route.path }, 'API audit entry not written'));
    send(res, route.status, out);
  }

  return {
    handle(req, res) {
      const path = (req.url ?? '').split('?')[0]!;
      if (path !== API_BASE && !path.startsWith(`${API_BASE}/`)) return false;
      // One line per request (writes at info): method, path, status, never a header or a body.
      const started = performance.now();
      res.once('finish', () => {
        const line = { method: req.method, path: path.slice(0, 200), status: res.statusCode, ms: Math.round(performance.now() - started) };
        if (req.method === 'POST') opts.logger.info(line, 'API request');
        else opts.logger.debug(line, 'API request');
        const sub = path.slice(API_BASE.length);
        const hit = compiled.find((c) => c.route.method === (req.method ?? '').toLowerCase() && c.re.test(sub));
        opts.observe?.(hit ? `${hit.route.method.toUpperCase()} ${hit.route.path}` : sub === '/openapi.json' ? 'GET /openapi.json' : 'other', res.statusCode);
      });
      serve(req, res).catch((err: unknown) => {
        if (err instanceof HttpError) return send(res, err.status, errorBody(err.appError), { ...err.headers, ...(err.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
        const e = asAppError(err);
        const status = statusOf(e);
        if (status >= 500) opts.logger.error({ err, path }, 'API request failed');
        send(res, status, errorBody(e), status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      });
      return true;
    },
    close() {
      closing = true;
      for (const end of [...streams]) end();
    },
  };
}
