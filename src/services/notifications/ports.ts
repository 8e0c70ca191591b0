/** What the notification outbox needs from Slack (src/adapters/slack/delivery.ts implements it). */

/** A message as Slack takes it, already fitted to its limits. */
export interface OutgoingMessage {
  text: string;
  blocks?: unknown[];
}

/** Where a message landed: enough to update it in place. */
export interface Posted {
  channel: string;
  ts: string;
}

/**
 * Why a delivery did not happen. `retryable`: Slack could not take it now (down, 5xx, rate
 * limited, unreachable) and the same request may succeed later; otherwise Slack refused the
 * request itself (channel_not_found, invalid_blocks, …) and sending it again cannot help.
 */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** Slack's Retry-After, when it gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** Each call either resolves (Slack took it) or throws a DeliveryError. */
export interface SlackDelivery {
  dm(user: string, message: OutgoingMessage): Promise<Posted>;
  post(channel: string, message: OutgoingMessage): Promise<Posted>;
  update(ref: Posted, message: OutgoingMessage): Promise<void>;
}
