/**
 * What happens when handling one Slack request fails outside our listeners' own error
 * handling: Bolt's global error handler and the receivers' error hooks. Each failure is
 * logged once (with `code` and the request's `reqId`, see logger.ts), answered if nobody has
 * answered yet, and never thrown further: one request must not end the process.
 */
import type { ServerResponse } from 'node:http';
import {
  AuthorizationError,
  HTTPReceiverDeferredRequestError,
  type App,
  type ReceiverDispatchErrorHandlerArgs,
  type ReceiverProcessEventErrorHandlerArgs,
  type ReceiverUnhandledRequestHandlerArgs,
  type SocketModeReceiverProcessEventErrorHandlerArgs,
} from '@slack/bolt';
import { ErrorCode } from '../../errors.js';
import { alreadyLogged, currentRequestId, type Logger } from '../../logger.js';

/** Bolt wraps a thrown value without a `code` in an UnknownError; the original is the one to log. */
function unwrap(err: unknown): unknown {
  const original = (err as { original?: unknown } | null)?.original;
  return original ?? err;
}

export function logFailureOnce(log: Logger, err: unknown, what: string): void {
  if (alreadyLogged(err)) return;
  const e = unwrap(err);
  log.error({ err: e instanceof Error ? e : new Error(String(e)) }, what);
}

function answer500(res: ServerResponse): void {
  if (res.headersSent) return;
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: false, code: ErrorCode.Internal, error: `[${ErrorCode.Internal}] Internal error: the error was logged`, request_id: currentRequestId() }));
}

/** Bolt's global error handler: a listener threw. Logged here; the receiver then answers. */
export function installAppErrorHandler(app: App, logger: Logger): void {
  const log = logger.child({ component: 'slack' });
  app.error(async (err) => {
    logFailureOnce(log, err, 'a Slack listener failed');
    // Rejecting lets the receiver answer a request nobody acknowledged (500) instead of 404 after 3 s.
    throw err;
  });
}

export function httpReceiverHandlers(logger: Logger) {
  const log = logger.child({ component: 'slack' });
  return {
    /** A request the receiver could not even route (unknown path, or a throw while starting). */
    dispatchErrorHandler({ error, request, response }: ReceiverDispatchErrorHandlerArgs): void {
      if (error instanceof HTTPReceiverDeferredRequestError) {
        log.debug({ method: request.method, path: String(request.url).slice(0, 100) }, 'no such route');
        if (!response.headersSent) response.writeHead(404).end();
        return;
      }
      logFailureOnce(log, error, 'a Slack request could not be dispatched');
      answer500(response);
    },
    async processEventErrorHandler({ error, response }: ReceiverProcessEventErrorHandlerArgs): Promise<boolean> {
      logFailureOnce(log, error, 'a Slack request failed');
      if (response.headersSent) return false;
      if (error instanceof AuthorizationError) response.writeHead(401).end();
      else answer500(response);
      return true;
    },
    unhandledRequestHandler({ response }: ReceiverUnhandledRequestHandlerArgs): void {
      log.error({ code: ErrorCode.Internal }, 'a Slack request was not acknowledged within 3 seconds');
      if (!response.headersSent) response.writeHead(404).end();
    },
  };
}

/** Socket Mode: failures are logged and the envelope acked, so Slack does not deliver it again. */
export async function socketProcessEventErrorHandler(logger: Logger, { error }: SocketModeReceiverProcessEventErrorHandlerArgs): Promise<boolean> {
  logFailureOnce(logger.child({ component: 'slack' }), error, 'a Slack envelope failed');
  return true;
}
