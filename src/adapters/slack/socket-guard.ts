/**
 * The gate in front of Bolt in Socket Mode. The Socket Mode client trusts what comes over the
 * WebSocket: it reads `message.type` of whatever JSON.parse returned (`null` throws), reads
 * `payload.event.type` of an `events_api` envelope (each throws in an async handler nobody
 * awaits: an unhandled rejection, which ends the process), and it emits the envelope's `type`
 * as an event name, so an envelope could pose as one of the client's own events (`error`,
 * `connected`, `slack_event`…).
 *
 * So every message is checked before the client sees it: a JSON object whose `type` is one
 * Slack sends; for envelopes an `envelope_id` and a `payload` of the shape Bolt routes on
 * (body-shape.ts). A bad envelope with an id is acked empty (Slack would otherwise deliver it
 * again) and logged once with its code; one without an id is logged and dropped.
 *
 * This relies on two internals of @slack/socket-mode 3 (its `ws_message` event and its `send`);
 * guardSocketMessages throws at start-up if the first is not as expected.
 *
 * The connection itself is authenticated (the app-level token opened it), so there is no
 * signature or replay check here. Each envelope gets a request id like an HTTP request.
 */
import type { SocketModeReceiver } from '@slack/bolt';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../errors.js';
import { newRequestId, runInRequest, type Logger } from '../../logger.js';
import { bodyShapeProblem } from './body-shape.js';

const CONTROL_TYPES = new Set(['hello', 'disconnect']);
const ENVELOPE_TYPES = new Set(['events_api', 'slash_commands', 'interactive']);

const envelope = z.looseObject({
  type: z.string(),
  envelope_id: z.string().min(1).max(200),
  payload: z.unknown(),
  retry_attempt: z.number().int().optional(),
  retry_reason: z.string().optional(),
  accepts_response_payload: z.boolean().optional(),
});

type SocketModeClient = SocketModeReceiver['client'];
type MessageHandler = (data: unknown, isBinary: boolean) => unknown;

/** What is wrong with one WebSocket message, or undefined when the client may have it. */
export function socketMessageProblem(text: string): { problem: AppError; envelopeId?: string } | undefined {
  let message: unknown;
  try {
    message = JSON.parse(text) as unknown;
  } catch {
    return { problem: new AppError(ErrorCode.BadParameter, 'the message is not valid JSON') };
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return { problem: new AppError(ErrorCode.ExpectedObject, 'the message must be a JSON object') };
  const type = (message as { type?: unknown }).type;
  if (typeof type === 'string' && CONTROL_TYPES.has(type)) return undefined;
  const parsed = envelope.safeParse(message);
  const envelopeId = typeof (message as { envelope_id?: unknown }).envelope_id === 'string' ? (message as { envelope_id: string }).envelope_id.slice(0, 200) : undefined;
  if (!parsed.success) return { envelopeId, problem: new AppError(ErrorCode.BadParameter, `the envelope's \`${parsed.error.issues[0]!.path.join('.') || 'type'}\` is missing or of the wrong kind`) };
  if (!ENVELOPE_TYPES.has(parsed.data.type)) return { envelopeId, problem: new AppError(ErrorCode.BadParameter, 'unknown envelope type') };
  const problem = bodyShapeProblem(parsed.data.payload);
  if (problem) return { envelopeId, problem };
  if (parsed.data.type === 'events_api' && (parsed.data.payload as { event?: unknown }).event === undefined) return { envelopeId, problem: new AppError(ErrorCode.MissingField, 'an events_api payload needs `event`') };
  return undefined;
}

/** Puts the check in front of the client's own message handler (the client's `ws_message` event). */
export function guardSocketMessages(client: SocketModeClient, logger: Logger): void {
  const log = logger.child({ component: 'slack-guard' });
  const handlers = client.listeners('ws_message') as MessageHandler[];
  if (handlers.length !== 1) throw new Error(`the Socket Mode client has ${handlers.length} message handlers, expected 1: @slack/socket-mode changed, check socket-guard.ts`);
  const original = handlers[0]!;
  client.removeAllListeners('ws_message');
  client.on('ws_message', (data: unknown, isBinary: boolean) => {
    runInRequest(newRequestId(), () => {
      if (isBinary) return; // the client ignores binary messages too
      const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString() : String(data);
      const bad = socketMessageProblem(text);
      if (!bad) {
        Promise.resolve(original.call(client, data, isBinary)).catch((err: unknown) => log.error({ err }, 'handling a Socket Mode message failed'));
        return;
      }
      log.warn({ code: bad.problem.code, reason: bad.problem.message, envelopeId: bad.envelopeId }, 'Socket Mode message refused');
      // `send` is how the client acks an envelope; it is private in the typings only.
      if (bad.envelopeId) (client as unknown as { send(id: string, body: object): Promise<void> }).send(bad.envelopeId, {}).catch((err: unknown) => log.warn({ err }, 'acking a refused envelope failed'));
    });
  });
}
