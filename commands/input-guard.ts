/**
 * Global Bolt middleware: every request's envelope is read with slack-input.ts before any
 * listener (or Bolt's own matchers, which read view.callback_id and actions[0]) runs. A bad
 * shape is acknowledged, refused with its code where the person can see it, and goes no
 * further; a good one leaves the typed ids and the way to answer in the context, which every
 * listener takes with `inputOf(context)` instead of reading the raw body.
 */
import type { AnyMiddlewareArgs, Context, Middleware } from '@slack/bolt';
import { errorMessage, fieldError } from '../blocks/errors.js';
import { plain } from '../blocks/kit.js';
import { echo, fitMessage, fitOptions } from '../blocks/limits.js';
import type { ResponseUrlPoster } from '../src/adapters/slack/response-url.js';
import type { RouteKind, Routes } from '../src/adapters/slack/routes.js';
import { AppError, asAppError, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { replyTo, type Reply, type ReplyTarget } from './reply.js';
import { readSlackInput, slackChannelId, slackUserId, type SlackInput } from './slack-input.js';

const INPUT = 'opsgateInput';
const REPLY = 'opsgateReply';

export interface InputGuardDeps {
  poster: ResponseUrlPoster;
  logger: Logger;
  /** The listeners' routes: a request none of them answers is refused here at once. */
  routes?: Routes;
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

/** The route a checked request asks for: its command, action id, view callback id or options action id. */
function routeOf(input: SlackInput, body: Record<string, unknown>): { kind: RouteKind; id: string; viewType?: string } | null {
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  switch (input.kind) {
    case 'command':
      return { kind: 'command', id: str(body.command) };
    case 'action':
      return { kind: 'action', id: str((body.actions as Array<{ action_id?: unknown }>)[0]?.action_id) };
    case 'view':
      return { kind: 'view', id: str((body.view as { callback_id?: unknown }).callback_id), viewType: str(body.type) };
    case 'options':
      return { kind: 'options', id: str(body.action_id) };
    default:
      return null;
  }
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
      const route = routeOf(input, body as Record<string, unknown>);
      if (route && deps.routes && !deps.routes.handles(route.kind, route.id, route.viewType)) {
        // No listener would ack it: Bolt would wait 3 s and answer 404. Refused now, where the
        // person sees it (a view_closed has nobody to tell).
        deps.logger.warn({ code: ErrorCode.BadParameter, route: route.kind, id: route.id.slice(0, 80) }, 'refused a Slack request no listener handles');
        const e = new AppError(ErrorCode.BadParameter, route.kind === 'command' ? `opsgate has no command ${echo(route.id, 40)}` : 'opsgate has nothing that answers this; open the message or form again', { field: route.kind });
        if (route.kind === 'command') return void (await ack?.({ response_type: 'ephemeral', ...fitMessage(errorMessage(e)) }));
        if (route.kind === 'options') return void (await ack?.({ options: fitOptions([{ text: plain(fieldError(e)), value: '!refused' }]) }));
        await ack?.();
        if (route.viewType !== 'view_closed') await (context[REPLY] as Reply).tell(errorMessage(e));
        return;
      }
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
