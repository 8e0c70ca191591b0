/**
 * How an answer reaches the person, whatever the request carried. A response_url is used only
 * when it is on Slack's hosts (the allow-list in response-url.ts); without one (App Home clicks,
 * forms, a missing or foreign response_url) the answer goes as an ephemeral message in the
 * conversation, else as a DM. Every message is fitted to Slack's limits on the way out.
 */
import type { WebClient } from '@slack/web-api';
import type { Message } from '../blocks/kit.js';
import { fitMessage } from '../blocks/limits.js';
import type { ResponseUrlPoster } from '../src/adapters/slack/response-url.js';
import type { Logger } from '../src/logger.js';

export interface ReplyTarget {
  /** Validated Slack user id (or undefined when the request had none of Slack's shape). */
  userId?: string;
  channelId?: string;
  responseUrl?: string;
}

export interface Reply {
  /** The request's response_url when it is on Slack's hosts, else undefined. */
  readonly responseUrl: string | undefined;
  /** The answer to a command or click: response_url, else ephemeral in the channel, else DM. */
  answer(message: Message, opts?: { replaceOriginal?: boolean }): Promise<void>;
  /** Something only the clicker sees where they clicked (or in `channel`), else by DM. */
  tell(message: Message, channel?: string): Promise<void>;
}

export interface ReplyDeps {
  client: WebClient;
  poster: ResponseUrlPoster;
  logger: Logger;
}

export function replyTo(deps: ReplyDeps, to: ReplyTarget): Reply {
  const { client, poster, logger } = deps;
  const responseUrl = poster.allows(to.responseUrl) ? to.responseUrl : undefined;

  async function ephemeral(m: Message, channel: string | undefined): Promise<boolean> {
    if (!channel || !to.userId) return false;
    try {
      await client.chat.postEphemeral({ channel, user: to.userId, text: m.text, blocks: m.blocks });
      return true;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'ephemeral answer failed; trying a DM');
      return false;
    }
  }

  async function dm(m: Message): Promise<boolean> {
    if (!to.userId) return false;
    let channel: string = to.userId;
    try {
      const im = await client.conversations.open({ users: to.userId });
      if (im.channel?.id) channel = im.channel.id;
    } catch (err) {
      // The last way left (an App Home click has no conversation): Slack delivers a message
      // addressed to a user id into that person's DM with the bot, without conversations.open.
      logger.warn({ err: (err as Error).message }, 'opening the DM failed; posting to the user id');
    }
    try {
      await client.chat.postMessage({ channel, text: m.text, blocks: m.blocks });
      return true;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'DM answer failed');
      return false;
    }
  }

  async function viaResponseUrl(m: Message, replaceOriginal: boolean | undefined): Promise<boolean> {
    if (!responseUrl) return false;
    try {
      await poster.post(responseUrl, { response_type: 'ephemeral', ...(replaceOriginal === undefined ? {} : { replace_original: replaceOriginal }), ...m });
      return true;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'response_url answer failed; trying another way');
      return false;
    }
  }

  const lost = (): void => logger.warn({ user: to.userId }, 'an answer could not be delivered (no usable response_url, channel or user)');

  return {
    responseUrl,
    async answer(message, opts = {}) {
      const m = fitMessage(message);
      if ((await viaResponseUrl(m, opts.replaceOriginal)) || (await ephemeral(m, to.channelId)) || (await dm(m))) return;
      lost();
    },
    async tell(message, channel) {
      const m = fitMessage(message);
      if ((await ephemeral(m, channel ?? to.channelId)) || (await dm(m))) return;
      lost();
    },
  };
}
