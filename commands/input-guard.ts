/**
 * Global Bolt middleware: every request's envelope is read with slack-input.ts before any
 * listener (or Bolt's own matchers, which read view.callback_id and actions[0]) runs. A bad
 * shape is acknowledged, refused with its code where the person can see it, and goes no
 * further; a good one leaves the typed ids and the way to answer in the context, which every
 * listener takes with `inputOf(context)` instead of reading the raw body.
 */
import type { AnyMiddlewareArgs, Context, Middleware } from '@slack/bolt';
import { errorMessage } from '../blocks/errors.js';
import { fitMessage } from '../blocks/limits.js';
import type { ResponseUrlPoster } from '../src/adapters/slack/response-url.js';
import { AppError, asAppError, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { replyTo, type Reply, type ReplyTarget } from './reply.js';
import { readSlackInput, slackChannelId, slackUserId, type SlackInput } from './slack-input.js';

const INPUT = 'opsgateInput';
const REPLY = 'opsgateReply';

export interface InputGuardDeps {
  poster: ResponseUrlPoster;
  logger: Logger;
}

type AckFn = (body?: unknown) => Promise<void>;

/** The pieces of a refused request that are still of Slack's shape, to tell the person why. */
function salvage(body: unknown): ReplyTarget {
  const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const user = (b.user as { id?: unknown } | undefined)?.id ?? b.user_id;
  const channel = (b.channel as { id?: unknown } | undefined)?.id ?? b.channel_id;
  return {
    userId: slackUserId.safeParse(user).success ? (user as string) : undefined,
    channelId: slackChannelId.safeParse(channel).success ? (channel as string) : undefined,
    responseUrl: typeof b.response_url === 'string' ? b.response_url : undefined,
  };
}

export function inputGuard(deps: InputGuardDeps): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const { body, context, client, next } = args;
    const ack = (args as { ack?: AckFn }).ack;
    let input: SlackInput | null;
    try {
      input = readSlackInput(body);
    } catch (err) {
      const e = asAppError(err);
      deps.logger.warn({ code: e.code, field: e.details?.field }, 'refused a Slack request of the wrong shape');
      const message = errorMessage(e);
      const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
      if ('command' in b) return void (await ack?.({ response_type: 'ephemeral', ...fitMessage(message) }));
      if (b.type === 'block_suggestion') return void (await ack?.({ options: [] }));
      await ack?.();
      await replyTo({ client, poster: deps.poster, logger: deps.logger }, salvage(body)).answer(message);
      return;
    }
    if (!input && (body as { type?: unknown }).type !== 'event_callback') {
      // A kind no listener of ours handles (the HTTP and Socket Mode guards refuse these before
      // Bolt): acked at once, so Bolt neither waits 3 s for an ack nor runs a listener that
      // matched on a callback or action id without a checked envelope.
      deps.logger.warn({ code: ErrorCode.BadParameter, type: String((body as { type?: unknown }).type).slice(0, 40) }, 'refused a Slack request of a kind opsgate does not handle');
      await ack?.();
      return;
    }
    if (input) {
      context[INPUT] = input;
      context[REPLY] = replyTo({ client, poster: deps.poster, logger: deps.logger }, input);
    }
    await next();
  };
}

/** The checked ids of this request and how to answer it (set by inputGuard). */
export function inputOf(context: Context): { input: SlackInput; reply: Reply } {
  const input = context[INPUT] as SlackInput | undefined;
  const reply = context[REPLY] as Reply | undefined;
  // Only a listener registered without the guard can get here: a wiring mistake, not input.
  if (!input || !reply) throw new AppError(ErrorCode.Internal, 'the Slack input guard is not installed');
  return { input, reply };
}
