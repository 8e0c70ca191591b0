/**
 * The outbox's way to Slack: a WebClient of its own that never retries or waits by itself (the
 * outbox does, with its backoff and Slack's Retry-After, without holding a request open for
 * minutes), and Slack's errors sorted into "try again later" and "refused for good".
 */
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { DeliveryError, type OutgoingMessage, type Posted, type SlackDelivery } from '../../services/notifications/ports.js';

export interface SlackDeliveryOptions {
  token?: string;
  /** SLACK_API_URL, when set. */
  apiUrl?: string;
  /** One call is given up after this (counts as "try again later"). */
  timeoutMs?: number;
}

// Slack's own words for "not now": the same call may well succeed later.
const TRANSIENT_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_is_restricted']);

export function slackDelivery(opts: SlackDeliveryOptions): SlackDelivery {
  const client = new WebClient(opts.token, {
    ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? 15_000,
  });
  const call = async <T>(what: () => Promise<T>): Promise<T> => {
    try {
      return await what();
    } catch (err) {
      throw asDeliveryError(err);
    }
  };
  return {
    dm: (user, m) =>
      call(async () => {
        const im = await client.conversations.open({ users: user });
        const channel = im.channel?.id;
        if (!channel) throw new DeliveryError('conversations.open returned no channel', true);
        const res = await client.chat.postMessage({ channel, ...messageArgs(m) });
        return { channel, ts: String(res.ts) };
      }),
    post: (channel, m) =>
      call(async () => {
        const res = await client.chat.postMessage({ channel, ...messageArgs(m) });
        return { channel: String(res.channel ?? channel), ts: String(res.ts) };
      }),
    update: (ref: Posted, m) =>
      call(async () => {
        await client.chat.update({ channel: ref.channel, ts: ref.ts, ...messageArgs(m) });
      }),
  };
}

function messageArgs(m: OutgoingMessage): { text: string; blocks?: never[] } {
  return { text: m.text, ...(m.blocks ? { blocks: m.blocks as never[] } : {}) };
}

export function asDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof WebAPIRateLimitedError) return new DeliveryError('Slack is rate limiting (429)', true, Math.max(1, err.retryAfter) * 1000);
  if (err instanceof WebAPIHTTPError) {
    const retryable = err.statusCode >= 500 || err.statusCode === 408 || err.statusCode === 429;
    return new DeliveryError(`Slack answered HTTP ${err.statusCode}`, retryable, retryAfterOf(err.headers));
  }
  if (err instanceof WebAPIRequestError) return new DeliveryError(`Slack could not be reached: ${err.original.message}`, true);
  if (err instanceof WebAPIPlatformError) return new DeliveryError(`Slack refused it: ${err.data.error}`, TRANSIENT_PLATFORM_ERRORS.has(err.data.error));
  // Anything else (a bug, a timeout surfaced oddly): keep the message and try again later.
  return new DeliveryError(err instanceof Error ? err.message : String(err), true);
}

function retryAfterOf(headers: Record<string, string> | undefined): number | undefined {
  const v = Number(headers?.['retry-after']);
  return Number.isFinite(v) && v > 0 ? v * 1000 : undefined;
}
