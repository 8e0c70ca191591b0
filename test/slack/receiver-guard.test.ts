/**
 * Issue 14 items 1 and 13 through the real HTTP endpoint: correctly signed bodies that are not
 * a JSON object (or whose fields Bolt routes on are of the wrong kind) get a 400 with a coded
 * body and never reach Bolt, and the bot goes on answering; timestamps in the future are
 * refused like stale ones; an identical signed request is refused the second time (409), or
 * acknowledged without being handled again when it says it is Slack's retry.
 *
 * The process-level proof (the bot's own process survives, not just this test worker) is in
 * bad-body-process.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_ID_HEADER } from '../../src/adapters/slack/request-guard.js';
import { signature, type SlackResponse } from '../helpers/slack-requests.js';
import { BAD_BODIES, form } from './bad-bodies.js';
import { SIGNING_SECRET, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

describe('the Slack endpoint checks body shape, timestamps and replays before Bolt', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
  });
  afterAll(() => t.stop());

  async function helpStillAnswers(): Promise<void> {
    const res = await t.slack.command('/opsgate', 'help', USERS.stranger);
    expect(res.status).toBe(200);
    expect(JSON.stringify((res.json() as { blocks: unknown[] }).blocks)).toContain('/opsgate whoami');
  }

  function expectCoded(res: SlackResponse, status: number, code: number): void {
    expect(res.status).toBe(status);
    const body = res.json() as { ok: boolean; code: number; error: string; request_id: string };
    expect(body).toMatchObject({ ok: false, code });
    expect(body.error.startsWith(`[${code}] `)).toBe(true);
    expect(body.error.length).toBeLessThan(200);
    expect(body.request_id).toBe(res.headers?.[REQUEST_ID_HEADER]);
  }

  for (const [name, contentType, body, code] of BAD_BODIES) {
    it(`answers a signed ${name} with 400 / ${code}, then still answers /opsgate help`, async () => {
      const res = await t.slack.post(body, contentType);
      expectCoded(res, 400, code);
      await helpStillAnswers();
    });
  }

  // Kinds of interaction Bolt routes but opsgate has no listener for. Before the guard knew them,
  // the legacy interactive_message reached the Approve listener without a checked envelope (500,
  // 1300) and the others waited Bolt's 3 s for an ack and got a 404.
  const unhandled: Array<[string, Record<string, unknown>]> = [
    ['interactive_message naming the Approve action', { type: 'interactive_message', callback_id: 'access_approve', user: { id: USERS.alice.id }, actions: [{ name: 'access_approve', action_id: 'access_approve', value: '{"r":"AR-AAAAAA","l":0}' }], response_url: 'http://127.0.0.1:1/x' }],
    ['dialog_submission', { type: 'dialog_submission', callback_id: 'access_request', user: { id: USERS.alice.id }, submission: {}, response_url: 'http://127.0.0.1:1/x' }],
    ['dialog_suggestion', { type: 'dialog_suggestion', callback_id: 'access_hosts', action_id: 'access_hosts', user: { id: USERS.alice.id }, value: 'web', name: 'hosts' }],
    ['dialog_cancellation', { type: 'dialog_cancellation', callback_id: 'access_request', user: { id: USERS.alice.id } }],
    ['shortcut', { type: 'shortcut', callback_id: 'x', user: { id: USERS.alice.id }, trigger_id: '1.2.3' }],
    ['message_action', { type: 'message_action', callback_id: 'access_approve', user: { id: USERS.alice.id }, trigger_id: '1.2.3', channel: { id: 'C123' }, message: {} }],
    ['payload with actions but no type', { user: { id: USERS.alice.id }, actions: [{ action_id: 'access_approve', value: '{"r":"AR-AAAAAA","l":0}' }] }],
  ];
  for (const [name, payload] of unhandled) {
    it(`refuses a signed ${name} at once with 400 / 1100, before any listener, then still answers /opsgate help`, async () => {
      const res = await t.slack.interaction(payload);
      expectCoded(res, 400, 1100);
      await helpStillAnswers();
    });
  }

  it('refuses an interaction type opsgate does not handle sent as a JSON body too (Bolt routes those alike)', async () => {
    const res = await t.slack.post(JSON.stringify({ type: 'interactive_message', callback_id: 'access_approve', user: { id: USERS.alice.id }, actions: [{ action_id: 'access_approve', value: '{"r":"AR-AAAAAA","l":0}' }] }), JSON_TYPE);
    expectCoded(res, 400, 1100);
    expect(res.text).toContain('interactive_message');
  });

  it('answers a url_verification challenge of Slack’s form as Bolt does', async () => {
    const challenge = '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P';
    const res = await t.slack.post(JSON.stringify({ token: 'legacy', challenge, type: 'url_verification' }), JSON_TYPE);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ challenge });
  });

  for (const [name, challenge] of [
    ['of 3 MB', 'x'.repeat(3_000_000)],
    ['of 101 characters', 'a'.repeat(101)],
    ['with markup in it', '<script>alert(1)</script>'],
    ['that is empty', ''],
    ['that is an object', { $ne: null }],
    ['that is missing', undefined],
  ] as const) {
    it(`refuses a signed url_verification challenge ${name} with 400 / 1100 and does not echo it`, async () => {
      const res = await t.slack.post(JSON.stringify({ token: 'legacy', challenge, type: 'url_verification' }), JSON_TYPE);
      expectCoded(res, 400, 1100);
      expect(res.text.length).toBeLessThan(300);
    });
  }

  it('checks the signature first: an unsigned or wrongly signed bad body is a 401, not a 400', async () => {
    const ts = Math.floor(Date.now() / 1000);
    expect((await t.slack.post(form({ payload: 'null' }), FORM, { signature: null })).status).toBe(401);
    expect((await t.slack.post('null', JSON_TYPE, { signature: signature('not-the-secret', ts, 'null'), timestamp: ts })).status).toBe(401);
    await helpStillAnswers();
  });

  it('still lets Slack’s unsigned ssl_check through (answered 200 by Bolt, nothing else done)', async () => {
    const res = await t.slack.post(form({ ssl_check: '1', token: 'x' }), FORM, { signature: null });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
  });

  it('refuses a timestamp more than 5 minutes in the future with 401 and changes nothing', async () => {
    const auditBefore = (await t.app.services.audit.query({ limit: 200 })).length;
    const mark = t.fake.calls.length;
    // `sync` would write (a job, then audit entries) if it were let through.
    const res = await t.slack.command('/opsgate', 'sync', USERS.erin, { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
    expect(res.status).toBe(401);
    expect(res.text).toBe('');
    // A later request is handled to its end; had the refused one been let through, its reply would be there first.
    const later = await t.slack.command('/opsgate', 'whoami', USERS.erin);
    expect(later.status).toBe(200);
    await t.fake.waitFor('response_url', (c) => t.fake.calls.indexOf(c) >= mark);
    expect(t.fake.calls.slice(mark).filter((c) => c.method === 'response_url')).toHaveLength(1);
    expect((await t.app.services.audit.query({ limit: 200 })).length).toBe(auditBefore);
  });

  it('accepts a timestamp a little ahead of our clock (Slack’s clock may run fast)', async () => {
    const res = await t.slack.command('/opsgate', 'help', USERS.stranger, { timestamp: Math.floor(Date.now() / 1000) + 4 * 60 });
    expect(res.status).toBe(200);
  });

  /** One signed `/opsgate whoami`, kept as bytes so it can be sent again exactly. */
  function whoamiBytes(responseId: string): { body: string; timestamp: number } {
    const body = form({ command: '/opsgate', text: 'whoami', user_id: USERS.alice.id, user_name: 'alice', team_id: 'T0TEST', channel_id: 'C0GENERAL', api_app_id: 'A0OPSGATE', response_url: t.fake.responseUrl(responseId), trigger_id: 'trigger.replay' });
    return { body, timestamp: Math.floor(Date.now() / 1000) };
  }

  async function repliesTo(responseId: string): Promise<number> {
    // The first delivery's reply, then one more command's: replies are posted concurrently, so
    // the fence alone does not prove the first is in; a handled duplicate would be in by then.
    await t.fake.waitFor('response_url', (c) => c.args.response_id === responseId);
    const marker = `fence-${responseId}`;
    const fence = form({ command: '/opsgate', text: 'whoami', user_id: USERS.alice.id, team_id: 'T0TEST', channel_id: 'C0GENERAL', response_url: t.fake.responseUrl(marker), trigger_id: 'trigger.fence' });
    expect((await t.slack.post(fence, FORM)).status).toBe(200);
    await t.fake.waitFor('response_url', (c) => c.args.response_id === marker);
    return t.fake.callsTo('response_url').filter((c) => c.args.response_id === responseId).length;
  }

  it('refuses an identical replay of a signed request with 409 and a coded body; the request is handled once', async () => {
    const { body, timestamp } = whoamiBytes('replayed');
    expect((await t.slack.post(body, FORM, { timestamp })).status).toBe(200);
    const again = await t.slack.post(body, FORM, { timestamp });
    expectCoded(again, 409, 1100);
    expect(again.text).toContain('already received');
    expect(await repliesTo('replayed')).toBe(1);
  });

  it('acknowledges a duplicate that says it is Slack’s retry (200, empty) without handling it again', async () => {
    const { body, timestamp } = whoamiBytes('retried');
    expect((await t.slack.post(body, FORM, { timestamp })).status).toBe(200);
    const retry = await t.slack.post(body, FORM, { timestamp, headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } });
    expect(retry.status).toBe(200);
    expect(retry.text).toBe('');
    expect(await repliesTo('retried')).toBe(1);
  });

  it('hands a retry signed anew (a new timestamp) to Bolt as before: acked and handled', async () => {
    const mark = t.fake.calls.length;
    const event = { type: 'app_home_opened', user: USERS.alice.id, channel: 'D0HOME', tab: 'home' };
    expect((await t.slack.event(event)).status).toBe(200);
    const retry = await t.slack.event(event, { timestamp: Math.floor(Date.now() / 1000) + 1, headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } });
    expect(retry.status).toBe(200);
    // Bolt handles both deliveries (the home tab is published twice); its listeners see context.retryNum.
    const publishedSince = () => t.fake.calls.slice(mark).filter((c) => c.method === 'views.publish').length;
    await t.fake.waitFor('views.publish', () => publishedSince() === 2);
  });

  it('still refuses a changed body under a seen signature as a bad signature (401), not as a replay', async () => {
    const { body, timestamp } = whoamiBytes('changed');
    const sig = signature(SIGNING_SECRET, timestamp, body);
    expect((await t.slack.post(body, FORM, { timestamp, signature: sig })).status).toBe(200);
    expect((await t.slack.post(body.replace('whoami', 'sync'), FORM, { timestamp, signature: sig })).status).toBe(401);
  });

  it('answers a body over Bolt’s 4 MB limit with 413', async () => {
    const res = await t.slack.post(form({ command: '/opsgate', text: 'x'.repeat(4 * 1024 * 1024) }), FORM);
    expect(res.status).toBe(413);
    await helpStillAnswers();
  });
});
