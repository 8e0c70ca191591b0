/**
 * Slack's request signing, enforced by the real Bolt app over HTTP: a wrong signature, an old
 * timestamp and missing headers get 401 and change nothing; a correctly signed `/opsgate help`
 * round trip works, for anyone, even someone not in the directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signature } from '../helpers/slack-requests.js';
import { SIGNING_SECRET, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

describe('signed requests', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
  });
  afterAll(() => t.stop());

  async function auditCount(): Promise<number> {
    return (await t.app.services.audit.query({ limit: 200 })).length;
  }

  it('answers a correctly signed /opsgate help with every command', async () => {
    const res = await t.slack.command('/opsgate', 'help', USERS.stranger);
    expect(res.status).toBe(200);
    const body = res.json() as { response_type: string; text: string; blocks: Array<{ text?: { text: string } }> };
    expect(body.response_type).toBe('ephemeral');
    const text = JSON.stringify(body.blocks);
    for (const cmd of ['whoami', 'hosts', 'projects', 'products', 'sync', 'reload', 'audit', 'grant', 'revoke', 'team create']) expect(text).toContain(`/opsgate ${cmd}`);
  });

  const bad: Array<[string, Parameters<TestOpsgate['slack']['command']>[3]]> = [
    ['a wrong signature', { signature: signature('not-the-secret', Math.floor(Date.now() / 1000), 'x') }],
    ['a timestamp older than 5 minutes', { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 }],
    ['no signature header', { signature: null }],
    ['no timestamp header', { omitTimestamp: true }],
  ];
  for (const [name, opts] of bad) {
    it(`refuses ${name} with 401 and changes nothing`, async () => {
      const before = await auditCount();
      const callsBefore = t.fake.calls.length;
      // `sync` would write (a job, then audit entries) if it were let through.
      const res = await t.slack.command('/opsgate', 'sync', USERS.erin, opts);
      expect(res.status).toBe(401);
      await new Promise((r) => setTimeout(r, 500));
      expect(await auditCount()).toBe(before);
      expect(t.fake.calls.slice(callsBefore).filter((c) => c.method !== 'auth.test')).toEqual([]);
    });
  }

  it('still checks the signature over the exact body (a changed body fails)', async () => {
    const ts = Math.floor(Date.now() / 1000);
    const good = new URLSearchParams({ command: '/opsgate', text: 'help', user_id: 'U1', team_id: 'T0TEST', response_url: t.fake.responseUrl(), trigger_id: 't' }).toString();
    const sig = signature(SIGNING_SECRET, ts, good);
    const res = await t.slack.post(good.replace('help', 'sync'), 'application/x-www-form-urlencoded', { timestamp: ts, signature: sig });
    expect(res.status).toBe(401);
  });

  it('serves /healthz with the store and the scheduler', async () => {
    const res = await fetch(`http://127.0.0.1:${t.app.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, store: 'up', scheduler: 'up' });
  });
});
