/**
 * The input guard middleware on its own, for kinds of request the HTTP and Socket Mode guards
 * already refuse (receiver-guard.test.ts, socket-mode.test.ts): should one reach Bolt some other
 * way, it is acked at once and no listener runs (before, the middleware let it through, so Bolt
 * ran the Approve listener for a legacy interactive_message, or waited 3 s for an ack).
 */
import { Writable } from 'node:stream';
import type { AllMiddlewareArgs, AnyMiddlewareArgs } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { inputGuard } from '../../commands/input-guard.js';
import { responseUrlPoster } from '../../src/adapters/slack/response-url.js';
import { createLogger } from '../../src/logger.js';

function run(body: Record<string, unknown>): Promise<{ acks: unknown[][]; nexts: number; lines: Array<{ level: number; code?: number }> }> {
  const lines: Array<{ level: number; code?: number }> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: number });
      done();
    },
  });
  const acks: unknown[][] = [];
  let nexts = 0;
  const guard = inputGuard({ poster: responseUrlPoster(undefined), logger: createLogger('debug', out) });
  const args = { body, context: {}, client: {}, ack: async (...a: unknown[]) => void acks.push(a), next: async () => void nexts++ };
  return guard(args as unknown as AnyMiddlewareArgs & AllMiddlewareArgs).then(() => ({ acks, nexts, lines }));
}

describe('input guard: kinds opsgate has no listener for', () => {
  for (const body of [
    { type: 'interactive_message', callback_id: 'access_approve', user: { id: 'UALICE' }, actions: [{ action_id: 'access_approve', value: '{"r":"AR-AAAAAA","l":0}' }] },
    { type: 'dialog_submission', callback_id: 'access_request', user: { id: 'UALICE' }, submission: {} },
    { type: 'shortcut', callback_id: 'x', user: { id: 'UALICE' }, trigger_id: '1.2.3' },
    { user: { id: 'UALICE' }, actions: [{ action_id: 'access_approve' }] },
  ]) {
    it(`acks ${String(body.type ?? 'a body without a type')} once, logs one warn line with 1100, and runs no listener`, async () => {
      const r = await run(body);
      expect(r.acks).toEqual([[]]);
      expect(r.nexts).toBe(0);
      expect(r.lines.map((l) => [l.level, l.code])).toEqual([[40, 1100]]);
    });
  }

  it('still passes a well-formed click and an event it does not listen to on to Bolt', async () => {
    const click = await run({ type: 'block_actions', user: { id: 'UALICE' }, actions: [{ action_id: 'access_approve', value: 'x' }] });
    expect([click.nexts, click.acks.length]).toEqual([1, 0]);
    const event = await run({ type: 'event_callback', event: { type: 'app_mention', user: 'UALICE' } });
    expect([event.nexts, event.acks.length]).toEqual([1, 0]);
  });
});
