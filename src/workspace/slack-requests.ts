/**
 * Requests exactly as Slack sends them to an app: form-encoded slash commands, `payload=`
 * interactions (block_actions, view_submission, block_suggestion) and JSON Events API
 * callbacks, each signed with `v0=HMAC-SHA256(secret, "v0:{ts}:{body}")`. The tests sign with
 * these (test/helpers/slack-requests.ts) and the local workspace delivers with them.
 */
import { createHmac } from 'node:crypto';

export interface SlackResponse {
  status: number;
  text: string;
  json(): unknown;
  /** The response's headers (lower-case names), e.g. the app's `x-opsgate-request-id`. */
  headers?: Record<string, string>;
}

export function signature(secret: string, timestamp: number, body: string): string {
  return 'v0=' + createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
}

export interface PostOptions {
  /** Override the timestamp (seconds) to test replay protection. */
  timestamp?: number;
  /** Override the signature header to test tampering. */
  signature?: string | null;
  /** Leave the timestamp header out. */
  omitTimestamp?: boolean;
  /** More request headers, e.g. Slack's `x-slack-retry-num`. */
  headers?: Record<string, string>;
}

export interface SlackUserRef {
  id: string;
  name?: string;
}

/** What every interaction payload carries: the workspace, who acted, the app and the legacy token. */
function interactionEnvelope(user: SlackUserRef) {
  const handle = user.name ?? user.id.toLowerCase();
  return {
    team: { id: 'T0TEST', domain: 'opsgate-test' },
    user: { id: user.id, username: handle, name: handle, team_id: 'T0TEST' },
    api_app_id: 'A0OPSGATE',
    token: 'legacy-verification-token',
  };
}

export class SlackRequester {
  private triggerCounter = 0;
  /** The trigger id the last request carried (set before it is sent): the workspace ties views.open to its user by it. */
  lastTriggerId = '';

  constructor(
    private readonly endpoint: string,
    private readonly secret: string,
    private readonly responseUrl: () => string,
  ) {}

  async post(body: string, contentType: string, opts: PostOptions = {}): Promise<SlackResponse> {
    const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { 'content-type': contentType, ...opts.headers };
    if (!opts.omitTimestamp) headers['x-slack-request-timestamp'] = String(ts);
    const sig = opts.signature === undefined ? signature(this.secret, ts, body) : opts.signature;
    if (sig !== null) headers['x-slack-signature'] = sig;
    const res = await fetch(this.endpoint, { method: 'POST', headers, body });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as unknown, headers: Object.fromEntries(res.headers) };
  }

  private form(fields: Record<string, string>, opts?: PostOptions): Promise<SlackResponse> {
    return this.post(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded', opts);
  }

  triggerId(): string {
    this.lastTriggerId = `trigger.${++this.triggerCounter}.${Date.now()}`;
    return this.lastTriggerId;
  }

  /** A slash command, e.g. command('/opsgate', 'help', { id: 'U1' }). */
  command(command: string, text: string, user: SlackUserRef, opts?: PostOptions & { channel?: string; channelName?: string; responseUrl?: string | null }): Promise<SlackResponse> {
    const fields: Record<string, string> = {
      token: 'legacy-verification-token',
      team_id: 'T0TEST',
      team_domain: 'opsgate-test',
      channel_id: opts?.channel ?? 'C0GENERAL',
      channel_name: opts?.channelName ?? 'general',
      user_id: user.id,
      user_name: user.name ?? user.id.toLowerCase(),
      command,
      text,
      api_app_id: 'A0OPSGATE',
      is_enterprise_install: 'false',
      response_url: opts?.responseUrl === undefined ? this.responseUrl() : (opts.responseUrl ?? ''),
      trigger_id: this.triggerId(),
    };
    // responseUrl: null sends a command without one (a broken or hostile client).
    if (opts?.responseUrl === null) delete fields.response_url;
    return this.form(fields, opts);
  }

  interaction(payload: Record<string, unknown>, opts?: PostOptions): Promise<SlackResponse> {
    return this.form({ payload: JSON.stringify(payload) }, opts);
  }

  /** A button click inside a message (DM or channel). */
  blockAction(
    user: SlackUserRef,
    action: { action_id: string; block_id?: string; value?: string; type?: string; selected_option?: unknown; [picked: string]: unknown },
    where: { channel?: string; message_ts?: string; view?: Record<string, unknown>; responseUrl?: string | null; message?: Record<string, unknown>; isEphemeral?: boolean } = {},
    opts?: PostOptions,
  ): Promise<SlackResponse> {
    const container = where.view
      ? { type: 'view', view_id: where.view.id }
      : { type: 'message', message_ts: where.message_ts ?? '1700000000.000001', channel_id: where.channel ?? 'D0DM', is_ephemeral: where.isEphemeral ?? false };
    return this.interaction(
      {
        type: 'block_actions',
        ...interactionEnvelope(user),
        container,
        trigger_id: this.triggerId(),
        channel: where.view ? undefined : { id: where.channel ?? 'D0DM', name: 'directmessage' },
        message: where.view ? undefined : { type: 'message', ts: where.message_ts ?? '1700000000.000001', text: '', ...where.message },
        view: where.view,
        response_url: where.responseUrl === null ? undefined : (where.responseUrl ?? (where.view ? undefined : this.responseUrl())),
        actions: [
          {
            // What was picked (selected_option(s), selected_date, selected_time…) as Slack names it.
            ...action,
            type: action.type ?? 'button',
            action_id: action.action_id,
            block_id: action.block_id ?? 'actions',
            action_ts: String(Date.now() / 1000),
          },
        ],
      },
      opts,
    );
  }

  /** A modal submitted with Submit; `values` is `{ block_id: { action_id: value-object } }` as Slack sends it. */
  viewSubmission(
    user: SlackUserRef,
    view: { callback_id: string; private_metadata?: string; values: Record<string, Record<string, unknown>>; id?: string; hash?: string; title?: unknown; blocks?: unknown[] },
    opts?: PostOptions,
  ): Promise<SlackResponse> {
    return this.interaction(
      {
        type: 'view_submission',
        ...interactionEnvelope(user),
        trigger_id: this.triggerId(),
        view: {
          id: view.id ?? 'V0MODAL',
          type: 'modal',
          callback_id: view.callback_id,
          private_metadata: view.private_metadata ?? '',
          state: { values: view.values },
          hash: view.hash ?? 'h1',
          title: view.title ?? { type: 'plain_text', text: 'opsgate' },
          blocks: view.blocks ?? [],
        },
        response_urls: [],
      },
      opts,
    );
  }

  /** A modal closed with its Close button, for a view that asked (`notify_on_close`). */
  viewClosed(user: SlackUserRef, view: { id: string; hash: string; callback_id: string; private_metadata?: string }, opts?: PostOptions): Promise<SlackResponse> {
    return this.interaction(
      {
        type: 'view_closed',
        ...interactionEnvelope(user),
        view: { id: view.id, type: 'modal', callback_id: view.callback_id, private_metadata: view.private_metadata ?? '', hash: view.hash, state: { values: {} } },
        is_cleared: false,
      },
      opts,
    );
  }

  /** An external_select asking for options as the user types, in `view` (a stand-in modal unless given). */
  blockSuggestion(user: SlackUserRef, actionId: string, value: string, blockId = 'hosts', opts?: PostOptions, view: Record<string, unknown> = { id: 'V0MODAL', type: 'modal', callback_id: 'unknown' }): Promise<SlackResponse> {
    return this.interaction(
      {
        type: 'block_suggestion',
        ...interactionEnvelope(user),
        action_id: actionId,
        block_id: blockId,
        value,
        container: { type: 'view', view_id: view.id },
        view,
      },
      opts,
    );
  }

  /** An Events API callback, e.g. app_home_opened. */
  event(event: Record<string, unknown>, opts?: PostOptions): Promise<SlackResponse> {
    return this.post(
      JSON.stringify({
        token: 'legacy-verification-token',
        team_id: 'T0TEST',
        api_app_id: 'A0OPSGATE',
        event: { event_ts: String(Date.now() / 1000), ...event },
        type: 'event_callback',
        event_id: `Ev${Date.now()}${++this.triggerCounter}`,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ team_id: 'T0TEST', user_id: 'UBOT', is_bot: true }],
      }),
      'application/json',
      opts,
    );
  }
}
