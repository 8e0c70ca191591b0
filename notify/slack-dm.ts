/**
 * Direct messages to directory people: open the IM channel, post, remember where. Every
 * message is fitted to Slack's limits on the way out (blocks/limits.ts).
 */
import type { WebClient } from '@slack/web-api';
import type { Message } from '../blocks/kit.js';
import { fitMessage } from '../blocks/limits.js';
import type { Logger } from '../src/logger.js';
import type { Person } from '../src/models/person.js';

export interface Posted {
  channel: string;
  ts: string;
}

export class SlackMessenger {
  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
  ) {}

  /** DMs a person; null (logged) when they have no Slack id or Slack refuses. */
  async dm(person: Person, message: Message): Promise<Posted | null> {
    if (!person.slackId) {
      this.logger.warn({ personId: person.personId }, 'no Slack id: DM not sent (mail still goes out)');
      return null;
    }
    try {
      const im = await this.client.conversations.open({ users: person.slackId });
      const channel = im.channel?.id;
      if (!channel) throw new Error('conversations.open returned no channel');
      const m = fitMessage(message);
      const res = await this.client.chat.postMessage({ channel, text: m.text, blocks: m.blocks });
      return { channel, ts: String(res.ts) };
    } catch (err) {
      this.logger.error({ err: (err as Error).message, personId: person.personId }, 'DM failed');
      return null;
    }
  }

  /** Posts to a channel; where it landed (to update it in place), or null (logged). */
  async post(channel: string, message: Message): Promise<Posted | null> {
    try {
      const m = fitMessage(message);
      const res = await this.client.chat.postMessage({ channel, text: m.text, blocks: m.blocks });
      return { channel: String(res.channel ?? channel), ts: String(res.ts) };
    } catch (err) {
      this.logger.error({ err: (err as Error).message, channel }, 'posting to a channel failed');
      return null;
    }
  }

  async update(ref: Posted, message: Message): Promise<void> {
    try {
      const m = fitMessage(message);
      await this.client.chat.update({ channel: ref.channel, ts: ref.ts, text: m.text, blocks: m.blocks });
    } catch (err) {
      this.logger.error({ err: (err as Error).message, ...ref }, 'updating a message failed');
    }
  }
}
