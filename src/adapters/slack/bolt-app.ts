/**
 * The Bolt app in HTTP mode (`POST /slack/events`, signatures checked with the signing secret)
 * or Socket Mode (when an app-level token is given). Either way `GET /healthz` answers on the
 * HTTP port, and every Web API call goes to SLACK_API_URL when it is set.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import { boltLogger } from './bolt-logger.js';

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
  logger: Logger;
  health: () => Promise<Health>;
  /** Web API retries (Bolt's default when undefined); tests use 0. */
  retries?: number;
}

export interface RunningHttp {
  port: number;
  close(): Promise<void>;
}

function writeHealth(res: http.ServerResponse, h: Health): void {
  res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify(h));
}

/** A bare HTTP server with only /healthz, for Socket Mode and for running without Slack. */
export async function startHealthServer(port: number, health: () => Promise<Health>): Promise<RunningHttp> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') void health().then((h) => writeHealth(res, h));
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
    const app = new App({ token: opts.botToken, appToken: opts.appToken, socketMode: true, logger, clientOptions, installerOptions: { clientOptions } });
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
    endpoints: '/slack/events',
    logger,
    customRoutes: [{ path: '/healthz', method: ['GET'], handler: (_req, res) => void opts.health().then((h) => writeHealth(res, h)) }],
  });
  const app = new App({ token: opts.botToken, receiver, logger, clientOptions });
  return {
    app,
    async start() {
      const server = (await app.start(opts.port)) as http.Server;
      return { port: (server.address() as AddressInfo).port, close: () => app.stop().then(() => undefined) };
    },
  };
}
