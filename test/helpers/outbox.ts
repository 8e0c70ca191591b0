/** The bot's Slack messenger, through a real notification outbox on the test's store, to a fake Slack. */
import type { Connection } from 'mongoose';
import { SlackMessenger } from '../../notify/slack-dm.js';
import { slackDelivery } from '../../src/adapters/slack/delivery.js';
import { systemClock, type Clock } from '../../src/clock.js';
import type { Logger } from '../../src/logger.js';
import { notificationModel } from '../../src/models/notification.js';
import { NotificationOutbox, type OutboxOptions } from '../../src/services/notifications/outbox.js';

export function testOutbox(conn: Connection, apiUrl: string, logger: Logger, opts: { clock?: Clock; kick?: () => Promise<unknown> } & OutboxOptions = {}): NotificationOutbox {
  const { clock, kick, ...options } = opts;
  return new NotificationOutbox(
    { model: notificationModel(conn), delivery: slackDelivery({ token: 'xoxb-test-token', apiUrl }), clock: clock ?? systemClock, logger, kick: kick ?? (async () => undefined) },
    options,
  );
}

export function testMessenger(conn: Connection, apiUrl: string, logger: Logger, clock?: Clock): SlackMessenger {
  return new SlackMessenger(testOutbox(conn, apiUrl, logger, { clock }), logger);
}
