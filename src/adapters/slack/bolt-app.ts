/**
 * The Bolt app in HTTP mode (`POST /slack/events`, signatures checked with the signing secret)
 * or Socket Mode (when an app-level token is given). Either way `GET /healthz` answers on the
 * HTTP port, and every Web API call goes to SLACK_API_URL when it is set.
 *
 * Nothing from Slack reaches Bolt unchecked: HTTP requests pass request-guard.ts (signature,
 * timestamp window, replay, body shape), Socket Mode messages socket-guard.ts (shape), and
 * whatever fails while Bolt handles them is logged once and answered by failures.ts.
 */
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

/** A bare HTTP server with only /healthz, for Socket Mode and for running without Slack. */
export async function startHealthServer(port: number, health: () => Promise<Health>): Promise<RunningHttp> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') answerHealth(res, health);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
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
        const h = await startHealthServer(opts.port, opts.health);
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
    customRoutes: [{ path: '/healthz', method: ['GET'], handler: (_req, res) => answerHealth(res, opts.health) }],
    customPropertiesExtractor: requestIdProps,
    ...httpReceiverHandlers(opts.logger),
  });
  receiver.requestListener = guardSlackRequests(receiver.requestListener, {
    signingSecret: opts.signingSecret,
    endpoints: [ENDPOINT],
    logger: opts.logger,
    replays: new ReplayCache(opts.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE),
  });
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
