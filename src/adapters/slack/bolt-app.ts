/**
 * The Bolt app in HTTP mode (`POST /slack/events`, signatures checked with the signing secret)
 * or Socket Mode (when an app-level token is given). Either way `GET /healthz` answers on the
 * HTTP port, and every Web API call goes to SLACK_API_URL when it is set.
 *
 * Nothing from Slack reaches Bolt unchecked: HTTP requests pass request-guard.ts (signature,
 * timestamp window, replay, body shape), Socket Mode messages socket-guard.ts (shape), and
 * whatever fails while Bolt handles them is logged once and answered by failures.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver } from '@slack/bolt';
import { currentRequestId, type Logger } from '../../logger.js';
import { boltLogger } from './bolt-logger.js';
import { httpReceiverHandlers, installAppErrorHandler, socketProcessEventErrorHandler } from './failures.js';
import { DEFAULT_REPLAY_CACHE_SIZE, ReplayCache } from './replay-cache.js';
import { guardSlackRequests } from './request-guard.js';
import { guardSocketMessages } from './socket-guard.js';

const ENDPOINT = '/slack/events';

/** Listeners find the request id in `context.requestId` (log lines carry it as `reqId` anyway). */
const requestIdProps = () => ({ requestId: currentRequestId() });

export interface Health {
  ok: boolean;
  [part: string]: unknown;
}

export interface SlackAppOptions {
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  apiUrl?: string;
  port: number;
  /** Listen on this address only (the local workspace's bot: loopback); all interfaces when unset. */
  host?: string;
  logger: Logger;
  health: () => Promise<Health>;
  /** Web API retries (Bolt's default when undefined); tests use 0. */
  retries?: number;
  /** Signatures remembered against replays (HTTP mode). */
  replayCacheSize?: number;
  /** `GET /metrics` and the ack timing (src/adapters/metrics.ts); none: no /metrics. */
  metrics?: MetricsEndpoint;
  /** The HTTP API (src/api/http.ts): answers its own paths (`/api/v1/…`) and returns true for them. */
  api?: ApiListener;
}

/** A handler that takes the requests it answers (returning true) and leaves the rest. */
export type ApiListener = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export interface MetricsEndpoint {
  text(): Promise<{ contentType: string; body: string }>;
  acked(status: number, seconds: number): void;
  /** When set, a scrape must send `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RunningHttp {
  port: number;
  close(): Promise<void>;
}

/** A health check that throws is "not healthy", never an unhandled rejection. */
function answerHealth(res: http.ServerResponse, health: () => Promise<Health>): void {
  void health()
    .catch((err: unknown): Health => ({ ok: false, error: err instanceof Error ? err.message.slice(0, 200) : 'health check failed' }))
    .then((h) => writeHealth(res, h));
}

function writeHealth(res: http.ServerResponse, h: Health): void {
  res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify(h));
}

/** Prometheus' scrape: the token (when one is set) compared in constant time. */
function answerMetrics(req: http.IncomingMessage, res: http.ServerResponse, metrics: MetricsEndpoint): void {
  if (metrics.token) {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    const wanted = Buffer.from(`Bearer ${metrics.token}`);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('metrics need the METRICS_TOKEN bearer token\n');
      return;
    }
  }
  void metrics
    .text()
    .then((m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body))
    .catch((err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown'}\n`));
}

/** A bare HTTP server with only /healthz (and /metrics, and the API), for Socket Mode and for running without Slack. */
export async function startHealthServer(port: number, health: () => Promise<Health>, metrics?: MetricsEndpoint, api?: ApiListener): Promise<RunningHttp> {
  const server = http.createServer((req, res) => {
    if (api?.(req, res)) return;
    if (req.method === 'GET' && req.url === '/healthz') answerHealth(res, health);
    else if (req.method === 'GET' && req.url === '/metrics' && metrics) answerMetrics(req, res, metrics);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** Times each Slack request from arrival to the end of the answer (what Slack waits for). */
function timedAcks(listener: http.RequestListener, metrics: MetricsEndpoint | undefined): http.RequestListener {
  if (!metrics) return listener;
  return (req, res) => {
    if (req.method === 'POST' && (req.url ?? '').split('?')[0] === ENDPOINT) {
      const start = process.hrtime.bigint();
      res.once('finish', () => metrics.acked(res.statusCode, Number(process.hrtime.bigint() - start) / 1e9));
    }
    return listener(req, res);
  };
}

export function createSlackApp(opts: SlackAppOptions): { app: App; start(): Promise<RunningHttp> } {
  const logger = boltLogger(opts.logger);
  const clientOptions = {
    ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
    ...(opts.retries !== undefined ? { retryConfig: { retries: opts.retries } } : {}),
  };
  if (opts.appToken) {
    // The Socket Mode client has its own Web API client (apps.connections.open): it must also
    // go to SLACK_API_URL when that is set.
    const receiver = new SocketModeReceiver({
      appToken: opts.appToken,
      logger,
      installerOptions: { clientOptions },
      customPropertiesExtractor: requestIdProps,
      processEventErrorHandler: (args) => socketProcessEventErrorHandler(opts.logger, args),
    });
    guardSocketMessages(receiver.client, opts.logger);
    const app = new App({ token: opts.botToken, receiver, logger, clientOptions });
    installAppErrorHandler(app, opts.logger);
    return {
      app,
      async start() {
        await app.start();
        const h = await startHealthServer(opts.port, opts.health, opts.metrics, opts.api);
        return {
          port: h.port,
          close: async () => {
            await h.close();
            await app.stop();
          },
        };
      },
    };
  }
  if (!opts.signingSecret) throw new Error('SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)');
  const receiver = new HTTPReceiver({
    signingSecret: opts.signingSecret,
    endpoints: [ENDPOINT],
    logger,
    customRoutes: [
      { path: '/healthz', method: ['GET'], handler: (_req, res) => answerHealth(res, opts.health) },
      ...(opts.metrics ? [{ path: '/metrics', method: ['GET'], handler: (req: http.IncomingMessage, res: http.ServerResponse) => answerMetrics(req, res, opts.metrics!) }] : []),
    ],
    customPropertiesExtractor: requestIdProps,
    ...httpReceiverHandlers(opts.logger),
  });
  const slackListener = timedAcks(
    guardSlackRequests(receiver.requestListener, {
      signingSecret: opts.signingSecret,
      endpoints: [ENDPOINT],
      logger: opts.logger,
      replays: new ReplayCache(opts.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE),
    }),
    opts.metrics,
  );
  // The API's paths never reach Bolt (they carry a bearer token, not Slack's signature).
  const api = opts.api;
  receiver.requestListener = api ? (req, res) => void (api(req, res) || slackListener(req, res)) : slackListener;
  const app = new App({ token: opts.botToken, receiver, logger, clientOptions });
  installAppErrorHandler(app, opts.logger);
  return {
    app,
    async start() {
      const server = (await app.start(opts.host ? { port: opts.port, host: opts.host } : opts.port)) as http.Server;
      return { port: (server.address() as AddressInfo).port, close: () => app.stop().then(() => undefined) };
    },
  };
}
