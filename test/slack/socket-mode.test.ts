/**
 * Socket Mode: with SLACK_APP_TOKEN set the app opens its WebSocket from apps.connections.open
 * at SLACK_API_URL (never slack.com), receives a slash command as an envelope, and acks it with
 * the answer; /healthz still answers on the HTTP port. Malformed messages and envelopes (issue
 * 14 item 1) are acked empty or dropped, and the bot goes on answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

describe('Socket Mode', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate({ env: { SLACK_APP_TOKEN: 'xapp-1-test-socket-mode' } });
    await t.ready();
  });
  afterAll(() => t.stop());

  it('connects through the configured API URL and answers a slash command envelope', async () => {
    expect(t.fake.socketConnected).toBe(true);
    const open = t.fake.callsTo('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(open[0]!.token).toBe('xapp-1-test-socket-mode');
    const acked = (await t.fake.sendEnvelope('slash_commands', { ...helpEnvelope, response_url: t.fake.responseUrl(), trigger_id: 'trigger.socket' })) as { response_type: string; blocks: unknown[] };
    expect(acked.response_type).toBe('ephemeral');
    expect(JSON.stringify(acked.blocks)).toContain('/opsgate whoami');
  });

  it('runs a command that answers through response_url', async () => {
    const mark = t.fake.calls.length;
    await t.fake.sendEnvelope('slash_commands', {
      command: '/opsgate',
      text: 'whoami',
      user_id: USERS.alice.id,
      user_name: 'alice',
      team_id: 'T0TEST',
      channel_id: 'C0GENERAL',
      response_url: t.fake.responseUrl(),
      trigger_id: 'trigger.socket2',
      api_app_id: 'A0OPSGATE',
    });
    const reply = await t.fake.waitFor('response_url', (c) => t.fake.calls.indexOf(c) >= mark);
    expect(JSON.stringify(reply.args)).toContain('Alice Ops');
  });

  const helpEnvelope = {
    command: '/opsgate',
    text: 'help',
    user_id: USERS.bob.id,
    user_name: 'bob',
    team_id: 'T0TEST',
    channel_id: 'C0GENERAL',
    response_url: 'http://127.0.0.1:9/unused',
    trigger_id: 'trigger.socket3',
    api_app_id: 'A0OPSGATE',
  };

  async function helpStillAnswers(): Promise<void> {
    const acked = (await t.fake.sendEnvelope('slash_commands', helpEnvelope)) as { blocks?: unknown[] };
    expect(JSON.stringify(acked.blocks)).toContain('/opsgate whoami');
  }

  // Envelopes with an id: the app acks each with an empty payload, so Slack would not send it again.
  const badEnvelopes: Array<[string, Record<string, unknown>]> = [
    ['a slash command with payload null', { type: 'slash_commands', payload: null }],
    ['a slash command with payload 123', { type: 'slash_commands', payload: 123 }],
    ['a slash command with payload []', { type: 'slash_commands', payload: [] }],
    ['an interaction with payload "x"', { type: 'interactive', payload: 'x' }],
    ['an interaction whose actions are [null]', { type: 'interactive', payload: { type: 'block_actions', user: { id: 'UBOB' }, team: null, actions: [null] } }],
    ['an events_api envelope with payload null', { type: 'events_api', payload: null }],
    ['an events_api envelope without an event', { type: 'events_api', payload: { type: 'event_callback' } }],
    ['an events_api envelope with event null', { type: 'events_api', payload: { type: 'event_callback', event: null } }],
    // A kind opsgate has no listener for: before, Bolt never acked it.
    ['a dialog_submission', { type: 'interactive', payload: { type: 'dialog_submission', callback_id: 'access_request', user: { id: 'UBOB' }, submission: {} } }],
    ['an envelope of type "error"', { type: 'error', payload: {} }],
    ['an envelope with no type', { payload: {} }],
  ];
  for (const [name, message] of badEnvelopes) {
    it(`acks ${name} empty and goes on answering`, async () => {
      const envelopeId = `bad-${Math.random().toString(16).slice(2)}`;
      const acked = await t.fake.sendRawSocketMessage(JSON.stringify({ envelope_id: envelopeId, ...message }), envelopeId);
      expect(acked).toEqual({});
      await helpStillAnswers();
    });
  }

  // Without an envelope id there is nothing to ack: the message is dropped.
  for (const raw of ['null', '[]', '"x"', '123', 'not json', '{"type":null}']) {
    it(`drops the message ${raw} and goes on answering`, async () => {
      await t.fake.sendRawSocketMessage(raw);
      await helpStillAnswers();
      expect(t.fake.socketConnected).toBe(true);
    });
  }

  it('still serves /healthz over HTTP', async () => {
    const res = await fetch(`http://127.0.0.1:${t.app.port}/healthz`);
    expect(await res.json()).toMatchObject({ ok: true });
  });
});
