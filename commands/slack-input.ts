/**
 * The parts of Slack's payloads our listeners use, typed with zod before any listener runs.
 * A payload is data from outside: `user.id` could be `{"$regex": …}` or `{"$ne": null}`, and
 * such a value reaching a MongoDB filter matched someone else. So every id is a string of
 * Slack's shape, every value a button carries is a bounded string, and anything else is a
 * coded refusal (1101 where an object or string was due and something else came, 1100 for a
 * string of the wrong form) that changes nothing.
 */
import { z } from 'zod';
import { AppError, ErrorCode } from '../src/errors.js';

export const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,30}$/);
export const slackChannelId = z.string().regex(/^[CDG][A-Z0-9]{2,30}$/);
export const slackTeamId = z.string().regex(/^[TE][A-Z0-9]{2,30}$/);
export const slackViewId = z.string().regex(/^V[A-Z0-9]{1,30}$/);
export const triggerId = z.string().regex(/^[\w.-]{1,200}$/);
/** Any string here; whether it may be posted to is the response_url allow-list's call. */
export const responseUrl = z.string().max(2_000);

/** What a listener may rely on, whatever kind of request it is. */
export interface SlackInput {
  kind: 'command' | 'action' | 'view' | 'options' | 'event';
  userId: string;
  channelId?: string;
  teamId?: string;
  viewId?: string;
  triggerId?: string;
  responseUrl?: string;
}

const idObject = <T extends z.ZodType>(id: T) => z.object({ id });
const team = idObject(slackTeamId).nullish();
const channel = idObject(slackChannelId).nullish();

const command = z.object({
  command: z.string().max(64),
  // The text is bounded by the parser (with a message that names the limit), not here.
  text: z.string().optional(),
  user_id: slackUserId,
  channel_id: slackChannelId.optional(),
  team_id: slackTeamId.optional(),
  trigger_id: triggerId.optional(),
  response_url: responseUrl.optional(),
});

/** A button or select: the value is a string when present (buttons carry small JSON documents). */
const action = z.object({
  action_id: z.string().max(255),
  block_id: z.string().max(255).optional(),
  value: z.string().max(2_000).optional(),
});

const view = z.object({
  id: slackViewId,
  callback_id: z.string().max(255).optional(),
  private_metadata: z.string().max(3_000).optional(),
  // state may be absent (a broken client): the view listeners refuse that with 1100 themselves.
  state: z.object({ values: z.record(z.string(), z.unknown()) }).optional(),
});

const blockActions = z.object({
  type: z.literal('block_actions'),
  user: idObject(slackUserId),
  team,
  channel,
  container: z.object({ channel_id: slackChannelId.optional(), view_id: slackViewId.optional() }).nullish(),
  view: view.partial({ callback_id: true }).nullish(),
  trigger_id: triggerId.optional(),
  response_url: responseUrl.optional(),
  actions: z.array(action).min(1).max(5),
});

const viewSubmission = z.object({
  type: z.enum(['view_submission', 'view_closed']),
  user: idObject(slackUserId),
  team,
  view,
  trigger_id: triggerId.optional(),
});

const blockSuggestion = z.object({
  type: z.literal('block_suggestion'),
  user: idObject(slackUserId),
  team,
  action_id: z.string().max(255),
  // Bounded by the search parser, which says the limit.
  value: z.string(),
});

/** The one event opsgate listens to; other events carry other shapes of `user` and are not read. */
const homeOpened = z.object({
  type: z.literal('event_callback'),
  team_id: slackTeamId.optional(),
  event: z.object({ type: z.literal('app_home_opened'), user: slackUserId, channel: slackChannelId.optional() }),
});

/** Where a bad value sits and what was wrong with it, for the refusal. */
function refusal(error: z.ZodError): AppError {
  const issue = error.issues[0]!;
  const where = issue.path.join('.') || 'the payload';
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return new AppError(ErrorCode.MissingField, `${where} is required`, { field: where });
    // A non-string where a string is due (an object as user.id, an array as a button value).
    return new AppError(ErrorCode.ExpectedObject, `${where} does not have the type Slack sends`, { field: where });
  }
  return new AppError(ErrorCode.BadParameter, `${where} is not in the form Slack sends`, { field: where });
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  // reportInput: tells a missing field (1102) from one of the wrong type (1101).
  const r = schema.safeParse(body, { reportInput: true });
  if (!r.success) throw refusal(r.error);
  return r.data;
}

/**
 * Reads the envelope of any request Bolt hands us; throws a coded AppError for a bad shape.
 * Returns null for kinds we have no listener for (events other than app_home_opened pass on to
 * Bolt, which acks them itself; any other kind the input guard acks and stops).
 */
export function readSlackInput(body: unknown): SlackInput | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new AppError(ErrorCode.ExpectedObject, 'the request is not an object');
  const b = body as Record<string, unknown>;
  if (typeof b.command === 'string' || 'command' in b) {
    const c = parse(command, b);
    return { kind: 'command', userId: c.user_id, channelId: c.channel_id, teamId: c.team_id, triggerId: c.trigger_id, responseUrl: c.response_url };
  }
  switch (b.type) {
    case 'block_actions': {
      const a = parse(blockActions, b);
      return {
        kind: 'action',
        userId: a.user.id,
        channelId: a.channel?.id ?? a.container?.channel_id,
        teamId: a.team?.id,
        viewId: a.view?.id ?? a.container?.view_id,
        triggerId: a.trigger_id,
        responseUrl: a.response_url,
      };
    }
    case 'view_submission':
    case 'view_closed': {
      const v = parse(viewSubmission, b);
      return { kind: 'view', userId: v.user.id, teamId: v.team?.id, viewId: v.view.id, triggerId: v.trigger_id };
    }
    case 'block_suggestion': {
      const s = parse(blockSuggestion, b);
      return { kind: 'options', userId: s.user.id, teamId: s.team?.id };
    }
    case 'event_callback': {
      if ((b.event as { type?: unknown } | undefined)?.type !== 'app_home_opened') return null;
      const e = parse(homeOpened, b);
      return { kind: 'event', userId: e.event.user, channelId: e.event.channel, teamId: e.team_id };
    }
    default:
      // Shortcuts, legacy interactive messages, dialogs and other kinds: opsgate has no listener
      // for them, and the input guard acks them without letting any listener run.
      return null;
  }
}
