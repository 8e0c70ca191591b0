/**
 * Socket Mode: with SLACK_APP_TOKEN set the app opens its WebSocket from apps.connections.open
 * at SLACK_API_URL (never slack.com), receives a slash command as an envelope, and acks it with
 * the answer; /healthz still answers on the HTTP port.
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
    const acked = (await t.fake.sendEnvelope('slash_commands', {
      command: '/opsgate',
      text: 'help',
      user_id: USERS.bob.id,
      user_name: 'bob',
      team_id: 'T0TEST',
      channel_id: 'C0GENERAL',
      response_url: t.fake.responseUrl(),
      trigger_id: 'trigger.socket',
      api_app_id: 'A0OPSGATE',
    })) as { response_type: string; blocks: unknown[] };
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

  it('still serves /healthz over HTTP', async () => {
    const res = await fetch(`http://127.0.0.1:${t.app.port}/healthz`);
    expect(await res.json()).toMatchObject({ ok: true });
  });
});
