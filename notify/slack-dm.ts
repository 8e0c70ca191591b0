/**
 * Direct messages to directory people, channel posts and updates, all through the notification
 * outbox (src/services/notifications/outbox.ts): sent at once when Slack takes them, kept and
 * sent later, in order, when it does not. Every message is fitted to Slack's limits on the way in
 * (blocks/limits.ts). None of these throws: a message the store could not even keep is logged.
 */
import type { Message } from '../blocks/kit.js';
import { fitMessage } from '../blocks/limits.js';
import type { Logger } from '../src/logger.js';
import type { Person } from '../src/models/person.js';
import type { NotificationOutbox } from '../src/services/notifications/outbox.js';
import type { Posted } from '../src/services/notifications/ports.js';

export type { Posted };

export class SlackMessenger {
  constructor(
    private readonly outbox: Pick<NotificationOutbox, 'dm' | 'post' | 'update'>,
    private readonly logger: Logger,
  ) {}

  /**
   * DMs a person: where it landed (or the outbox's ref while it waits); null when they have no
   * Slack id or Slack refused it for good.
   */
  async dm(person: Person, message: Message): Promise<Posted | null> {
    if (!person.slackId) {
      this.logger.warn({ personId: person.personId }, 'no Slack id: DM not sent (mail still goes out)');
      return null;
    }
    return this.kept(() => this.outbox.dm(person.slackId!, fitMessage(message)), { personId: person.personId }, 'DM not queued');
  }

  /** DMs whoever a Slack request came from (a user id, not a directory person). */
  dmUser(slackId: string, message: Message): Promise<Posted | null> {
    return this.kept(() => this.outbox.dm(slackId, fitMessage(message)), { slackId }, 'DM not queued');
  }

  /** Posts to a channel; the ref to update it in place, or null. */
  post(channel: string, message: Message): Promise<Posted | null> {
    return this.kept(() => this.outbox.post(channel, fitMessage(message)), { channel }, 'channel post not queued');
  }

  async update(ref: Posted, message: Message): Promise<void> {
    await this.kept(() => this.outbox.update(ref, fitMessage(message)), { ...ref }, 'message update not queued');
  }

  private async kept<T>(what: () => Promise<T>, ctx: Record<string, unknown>, failed: string): Promise<T | null> {
    try {
      return await what();
    } catch (err) {
      this.logger.error({ err: (err as Error).message, ...ctx }, `${failed} (the store could not keep it)`);
      return null;
    }
  }
}
