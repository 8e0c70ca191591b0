/**
 * A click in the App Home has no conversation and no response_url: its refusal can only reach
 * the clicker as a DM with the bot. Through the real Bolt app over signed HTTP and the fake
 * Slack API: the refusal arrives with its code even when conversations.open is refused (posted
 * to the user id, which Slack delivers to the person's DM with the bot), and a Refresh that
 * fails is answered instead of only logged.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedCall } from '../../src/workspace/slack-api.js';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

const HOME = { id: 'VHOME0001', type: 'home' };

describe('refusals of App Home clicks reach the clicker', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
  }, 60_000);
  afterEach(() => t.fake.failures.clear());
  afterAll(() => t?.stop());

  const dmTo = (mark: number, user: { id: string }, pred: (text: string) => boolean) =>
    t.fake.waitFor('chat.postMessage', (c: RecordedCall) => t.fake.calls.indexOf(c) >= mark && [user.id, `D${user.id}`].includes(String(c.args.channel)) && pred(String(c.args.text)));

  it('DMs the refusal of a Home button with its code', async () => {
    const mark = t.fake.calls.length;
    const res = await t.slack.blockAction(USERS.bob, { action_id: 'access_revoke', value: 'not a grant id' }, { view: HOME });
    expect(res.status).toBe(200);
    const dm = await dmTo(mark, USERS.bob, (text) => text.includes('[1100]'));
    expect(dm.args.text).toContain('unreadable grant id');
  });

  it('posts to the user id when conversations.open is refused', async () => {
    t.fake.failures.set('conversations.open', 'ratelimited');
    const mark = t.fake.calls.length;
    const res = await t.slack.blockAction(USERS.bob, { action_id: 'access_revoke', value: 'not a grant id' }, { view: HOME });
    expect(res.status).toBe(200);
    const dm = await dmTo(mark, USERS.bob, (text) => text.includes('[1100]'));
    expect(dm.args.channel).toBe(USERS.bob.id);
  });

  it('tells the clicker when Refresh cannot publish the Home tab', async () => {
    t.fake.failures.set('views.publish', 'internal_error');
    const mark = t.fake.calls.length;
    const res = await t.slack.blockAction(USERS.carol, { action_id: 'home_refresh' }, { view: HOME });
    expect(res.status).toBe(200);
    await t.fake.waitFor('views.publish', (c) => t.fake.calls.indexOf(c) >= mark);
    const dm = await dmTo(mark, USERS.carol, (text) => text.includes('[1300]'));
    expect(dm.args.text).not.toContain('internal_error'); // the Slack error stays in the log
  });
});
