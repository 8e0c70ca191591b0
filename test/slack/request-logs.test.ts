/**
 * Issue 14 item 7, read from the real app's log stream (LOG_LEVEL debug, so every line Bolt and
 * our code write is there): a 1 MB command costs the log a bounded number of bytes; a failing
 * request is one error line with its code and request id; a refused one is one warn line.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_ID_HEADER } from '../../src/adapters/slack/request-guard.js';
import { boundForLog, createLogger, LOG_ARRAY_LIMIT, LOG_STRING_LIMIT } from '../../src/logger.js';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import type { SlackResponse } from '../helpers/slack-requests.js';
import { form } from './bad-bodies.js';

const FORM = 'application/x-www-form-urlencoded';
const MB = 1024 * 1024;

interface Line {
  raw: string;
  level: number;
  msg?: string;
  reqId?: string;
  code?: number;
}

/** Collects every log line the app writes; `next()` resolves on the next one. */
class LogCapture extends Writable {
  readonly lines: Line[] = [];
  private readonly events = new EventEmitter();
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const raw of chunk.toString().split('\n')) {
      if (raw === '') continue;
      this.lines.push({ raw, ...(JSON.parse(raw) as Omit<Line, 'raw'>) });
    }
    this.events.emit('line');
    done();
  }
  of(reqId: string): Line[] {
    return this.lines.filter((l) => l.reqId === reqId);
  }
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise((resolve) => this.events.once('line', resolve));
  }
}

describe('request logs', () => {
  let t: TestOpsgate;
  const log = new LogCapture();
  beforeAll(async () => {
    t = await startOpsgate({ env: { LOG_LEVEL: 'debug' }, logStream: log });
    await t.ready();
  });
  afterAll(() => t.stop());

  const idOf = (res: SlackResponse): string => {
    const id = res.headers?.[REQUEST_ID_HEADER];
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    return id!;
  };

  /** Sends a slash command and waits until its answer is out (in the ack, or posted to its response_url). */
  async function command(text: string, command = '/opsgate', user: { id: string } = USERS.erin, answered = true): Promise<{ res: SlackResponse; reqId: string }> {
    const responseId = `logs-${Math.random().toString(16).slice(2)}`;
    const res = await t.slack.post(
      form({ command, text, user_id: user.id, team_id: 'T0TEST', channel_id: 'C0GENERAL', api_app_id: 'A0OPSGATE', response_url: t.fake.responseUrl(responseId), trigger_id: t.slack.triggerId() }),
      FORM,
    );
    expect(res.status).toBe(200);
    if (answered && res.text === '') await t.fake.waitFor('response_url', (c) => c.args.response_id === responseId);
    return { res, reqId: idOf(res) };
  }

  for (const [name, text] of [
    ['a 1 MB search word', `hosts ${'a'.repeat(MB)}`],
    ['a 1 MB unknown subcommand', 'x'.repeat(MB)],
    ['100,000 search words', `hosts ${'ab '.repeat(100_000)}`],
  ] as const) {
    it(`logs ${name} in a bounded number of bytes`, async () => {
      const from = log.lines.length;
      const { reqId } = await command(text);
      const written = log.lines.slice(from);
      expect(Math.max(...written.map((l) => l.raw.length))).toBeLessThan(4096);
      expect(written.reduce((n, l) => n + l.raw.length, 0)).toBeLessThan(64 * 1024);
      const mine = log.of(reqId);
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.reduce((n, l) => n + l.raw.length, 0)).toBeLessThan(16 * 1024);
    });
  }

  it('logs a request that fails in a listener once, at error, with its code and request id', async () => {
    t.fake.failures.set('views.open', 'internal_error');
    try {
      // `/access request` acks at once and opens the form: no answer to wait for.
      const { reqId } = await command('request', '/access', USERS.carol, false);
      await t.fake.waitFor('views.open');
      await log.until(() => log.of(reqId).some((l) => l.level >= 50));
      // The request is over once Bolt is done with it: one more request, answered, fences it.
      await command('help');
      const errors = log.of(reqId).filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.code).toBe(1300);
    } finally {
      t.fake.failures.delete('views.open');
    }
  });

  it('logs an interaction no listener handles once, at warn, with 1100, acked at once (before: 404 after Bolt’s 3 s, an error)', async () => {
    const res = await t.slack.blockAction(USERS.erin, { action_id: 'no_listener_for_this', value: 'x' });
    expect(res.status).toBe(200);
    expect(log.of(idOf(res)).filter((l) => l.level >= 40).map((l) => [l.level, l.code, l.msg])).toEqual([[40, 1100, 'refused a Slack request no listener handles']]);
  });

  it('logs a refused request once, at warn, with its code and without its body', async () => {
    const res = await t.slack.post(form({ payload: 'null', filler: 'y'.repeat(100_000) }), FORM);
    expect(res.status).toBe(400);
    const lines = log.of(idOf(res));
    expect(lines.map((l) => [l.level, l.code, l.msg])).toEqual([[40, 1101, 'Slack request refused']]);
    expect(lines[0]!.raw.length).toBeLessThan(1000);
  });

  it('logs an interaction of a kind opsgate does not handle once, at warn, with 1100, and no error', async () => {
    // Before: Bolt routed this legacy interactive_message to the Approve listener (500, an error with a stack).
    const res = await t.slack.interaction({ type: 'interactive_message', callback_id: 'access_approve', user: { id: USERS.alice.id }, actions: [{ name: 'access_approve', action_id: 'access_approve', value: '{"r":"AR-AAAAAA","l":0}' }] });
    expect(res.status).toBe(400);
    expect(log.of(idOf(res)).map((l) => [l.level, l.code, l.msg])).toEqual([[40, 1100, 'Slack request refused']]);
  });

  it('cuts strings, arrays and depth in any logged object, and names the code of a logged error', () => {
    const bounded = boundForLog({ s: 'z'.repeat(MB), a: Array.from({ length: 1000 }, (_, i) => i), d: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } }) as { s: string; a: unknown[]; d: unknown };
    expect(bounded.s.length).toBeLessThan(LOG_STRING_LIMIT + 30);
    expect(bounded.s).toContain('…');
    expect(bounded.a).toHaveLength(LOG_ARRAY_LIMIT + 1);
    expect(JSON.stringify(bounded.d)).toContain('[…]');
    const out = new LogCapture();
    createLogger('info', out).error({ err: new Error('q'.repeat(MB)) });
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]!.raw.length).toBeLessThan(4096);
    expect(out.lines[0]!.code).toBe(1300);
  });
});
