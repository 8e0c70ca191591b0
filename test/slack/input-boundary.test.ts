/**
 * Issue 14, replayed through the real app's signed HTTP endpoint: each bad input a hostile or
 * broken Slack client could send gets its coded answer where the person sees it, changes
 * nothing in the store, keeps replies within Slack's limits, and the bot answers a normal
 * command right after. A loopback "foreign host" proves that no response_url outside Slack's
 * hosts is ever posted to.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import type { SlackResponse } from '../helpers/slack-requests.js';

/** A host that is not Slack's, on loopback: counts every request that reaches it. */
async function foreignHost(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/not-slack/hook`, hits, close: () => new Promise((r) => server.close(() => r())) };
}

type Via = 'ack' | 'field-error' | 'options' | 'response_url' | 'ephemeral' | 'dm';

interface Case {
  name: string;
  send: () => Promise<SlackResponse>;
  via: Via;
  /** What the person must see: the code, and what the refusal says. */
  shows: RegExp[];
}

describe('Slack input boundary (issue 14)', () => {
  let t: TestOpsgate;
  let foreign: Awaited<ReturnType<typeof foreignHost>>;
  let requestId = '';

  /**
   * Everything the store holds, as one string: all but the scheduler's bookkeeping and the mail
   * queue, whose drain job updates attempts on its own clock.
   */
  async function fingerprint(): Promise<string> {
    const db = t.app.store.connection.db!;
    const names = (await db.listCollections().toArray()).map((c) => c.name).filter((n) => n !== 'agendaJobs' && n !== 'mail_queue').sort();
    const parts: string[] = [];
    for (const n of names) parts.push(n, JSON.stringify(await db.collection(n).find({}).sort({ _id: 1 }).toArray()));
    return parts.join('\n');
  }

  /** JSON of what a call carried, with quotes unescaped so patterns read like the message. */
  const textOfCall = (c: RecordedCall): string => unescaped(JSON.stringify(c.args));
  const unescaped = (json: string): string => json.replace(/\\"/g, '"');

  /** The answer the person sees for a request sent after `mark`, by the way the case names. */
  async function answerOf(res: SlackResponse, via: Via, mark: number, code: RegExp): Promise<string> {
    expect(res.status).toBe(200);
    if (via === 'ack' || via === 'field-error' || via === 'options') return unescaped(res.text);
    const method = via === 'dm' ? 'chat.postMessage' : via === 'ephemeral' ? 'chat.postEphemeral' : 'response_url';
    const call = await t.fake.waitFor(method, (c) => t.fake.calls.indexOf(c) >= mark && code.test(textOfCall(c)));
    if (via === 'dm') expect(String(call.args.channel)).toMatch(/^D/);
    return textOfCall(call);
  }

  const command = (text: string, user: { id: string } = USERS.erin, opts: Parameters<TestOpsgate['slack']['command']>[3] = {}) => () => t.slack.command('/opsgate', text, user, opts);
  const access = (text: string, user: { id: string } = USERS.bob) => () => t.slack.command('/access', text, user);

  /** A block_actions click whose parts can be anything a hostile client sends. */
  function click(parts: { user?: unknown; channel?: unknown; team?: unknown; value?: unknown; actionId?: string; view?: unknown; responseUrl?: string | null }): () => Promise<SlackResponse> {
    return () => {
      // The request id exists only once beforeAll ran: values may be given as functions.
      const value = typeof parts.value === 'function' ? (parts.value as () => unknown)() : (parts.value ?? JSON.stringify({ r: requestId, l: 0 }));
      return t.slack.interaction({
        type: 'block_actions',
        team: parts.team ?? { id: 'T0TEST' },
        user: { id: parts.user ?? USERS.alice.id, username: 'alice', team_id: 'T0TEST' },
        api_app_id: 'A0OPSGATE',
        container: parts.view ? { type: 'view', view_id: 'V0HOME' } : { type: 'message', channel_id: 'D0DM', message_ts: '1700000000.000001' },
        channel: parts.view ? undefined : (parts.channel ?? { id: 'D0DM' }),
        view: parts.view,
        trigger_id: t.slack.triggerId(),
        response_url: parts.responseUrl === null ? undefined : (parts.responseUrl ?? t.fake.responseUrl()),
        actions: [{ type: 'button', action_id: parts.actionId ?? 'access_approve', block_id: 'approval', value, action_ts: '1700000000.1' }],
      });
    };
  }
  const forged = (l: number) => () => JSON.stringify({ r: requestId, l });

  function submission(view: Record<string, unknown>): () => Promise<SlackResponse> {
    return () =>
      t.slack.interaction({ type: 'view_submission', team: { id: 'T0TEST' }, user: { id: USERS.alice.id, team_id: 'T0TEST' }, api_app_id: 'A0OPSGATE', trigger_id: t.slack.triggerId(), view: { id: 'V0MODAL', type: 'modal', ...view } });
  }

  const suggestion = (value: string) => () => t.slack.blockSuggestion(USERS.bob, 'access_hosts', value);

  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
    foreign = await foreignHost();
    // Bob asks for access; Alice (his manager) decides level 1: the target of the forged clicks.
    const sent = await runCommand(t, '/access', 'request web-01 readonly 1d read the logs', USERS.bob);
    requestId = /AR-[A-Z0-9]{6}/.exec(JSON.stringify(sent))?.[0] ?? '';
    expect(requestId).not.toBe('');
    // The ask job DMs Alice and records where: after that the request stays as it is.
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${USERS.alice.id}` && textOfCall(c).includes(requestId));
    await until(async () => (await t.app.services.access.details(requestId)).request.messages.length > 0, 'the approval DM was not recorded');
    // The approval mail goes out on the drain job's clock and audits itself: let it settle, so
    // no case's fingerprint sees it arrive.
    const db = t.app.store.connection.db!;
    const [queue, audit] = [db.collection('mail_queue'), db.collection('audit')];
    const settled = async () => (await queue.countDocuments({ status: 0 })) === 0 && (await audit.countDocuments({ action: 'mail.sent' })) === (await queue.countDocuments({ status: 1 }));
    await until(settled, 'the approval mail was not sent');
  });

  async function until(done: () => Promise<boolean>, failure: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(failure);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  afterAll(async () => {
    await foreign?.close();
    await t?.stop();
  });

  const MB = 'x'.repeat(1024 * 1024);
  const words100k = Array.from({ length: 100_000 }, (_, i) => `w${i % 10}`).join(' ');

  const cases: Case[] = [
    // item 2: ids typed at the boundary
    { name: 'user.id {"$regex":"^UALICE$"} on Approve', send: click({ user: { $regex: '^UALICE$' } }), via: 'response_url', shows: [/\[1101\]/, /user\.id/] },
    { name: 'user.id {"$ne":null} on Approve', send: click({ user: { $ne: null } }), via: 'response_url', shows: [/\[1101\]/, /user\.id/] },
    { name: 'user.id "alice" (not Slack\'s shape)', send: click({ user: 'alice' }), via: 'response_url', shows: [/\[1100\]/, /user\.id/] },
    { name: 'channel.id {"$gt":""}', send: click({ channel: { id: { $gt: '' } } }), via: 'response_url', shows: [/\[1101\]/, /channel\.id/] },
    { name: 'team.id "../x"', send: click({ team: { id: '../x' } }), via: 'response_url', shows: [/\[1100\]/, /team\.id/] },
    { name: 'button value an array', send: click({ value: () => [requestId, 0] }), via: 'response_url', shows: [/\[1101\]/, /value/] },
    { name: 'button value an object', send: click({ value: () => ({ r: requestId, l: 0 }) }), via: 'response_url', shows: [/\[1101\]/, /value/] },
    { name: 'button value JSON of an array', send: click({ value: () => JSON.stringify([requestId, 0]) }), via: 'ephemeral', shows: [/\[1101\]/] },
    { name: 'slash command user_id "alice"', send: command('whoami', { id: 'alice' }), via: 'ack', shows: [/\[1100\]/, /user_id/] },
    // item 4: forged level / request id read like a stale click
    { name: 'Approve for level 2 while level 1 waits', send: click({ value: forged(1) }), via: 'ephemeral', shows: [/\[1100\]/, /not waiting for a decision at level 2/] },
    { name: 'Approve for a request that does not exist', send: click({ value: JSON.stringify({ r: 'AR-ZZZZZZ', l: 0 }) }), via: 'ephemeral', shows: [/\[1100\]/, /not waiting/] },
    { name: 'Reject for level 3', send: click({ actionId: 'access_reject', value: forged(2) }), via: 'ephemeral', shows: [/\[1100\]/, /not waiting/] },
    // item 5: bounded at the parser
    { name: '/opsgate hosts with a 1 MB word', send: command(`hosts ${MB}`), via: 'ack', shows: [/\[1100\]/, /limit is 4,000/] },
    { name: '/opsgate hosts with 100,000 words', send: command(`hosts ${words100k}`), via: 'ack', shows: [/\[1100\]/, /limit is 4,000/] },
    { name: '/opsgate hosts with a NUL byte', send: command('hosts web\u0000-01'), via: 'ack', shows: [/\[1100\]/, /control character \(U\+0000\)/] },
    { name: '/opsgate hosts with a 30 KB word', send: command(`hosts ${'a'.repeat(30_000)}`), via: 'ack', shows: [/\[1100\]/, /limit is 4,000/] },
    { name: '/opsgate hosts with a 3,000-character word', send: command(`hosts ${'(a'.repeat(1_500)}`), via: 'ack', shows: [/\[1100\]/, /limit is 200/] },
    { name: '/opsgate hosts with 21 words', send: command(`hosts ${'web '.repeat(21)}`), via: 'ack', shows: [/\[1100\]/, /limit is 20/] },
    { name: '/opsgate audit with a 40 KB filter', send: command(`audit target:${'('.repeat(40_000)}`), via: 'ack', shows: [/\[1100\]/, /limit is 4,000/] },
    { name: '/opsgate audit with a 150-character filter', send: command(`audit target:${'('.repeat(150)}`), via: 'ack', shows: [/\[1100\]/, /limit is 100/] },
    { name: '/access with a 1 MB text', send: access(`host ${MB}`), via: 'ack', shows: [/\[1100\]/, /limit is 4,000/] },
    { name: 'host search of 1 MB', send: suggestion(MB), via: 'options', shows: [/\[1100\]/, /limit is 100/] },
    { name: 'host search with a NUL byte', send: suggestion('web\u0000'), via: 'options', shows: [/\[1100\]/, /control character/] },
    // item 6: echoes cut and printable
    { name: 'unknown command of 199 characters', send: command(`${'z'.repeat(199)}`), via: 'ack', shows: [/\[1100\]/, /unknown command "z{29}…"/] },
    { name: 'a control byte in the text', send: command('who\u0007ami'), via: 'ack', shows: [/\[1100\]/, /U\+0007/] },
    // item 8: reject form with unreadable private_metadata
    {
      name: 'reject form with unreadable private_metadata',
      send: submission({ callback_id: 'access_reject_reason', private_metadata: '{not json', state: { values: { reject_reason: { reason: { type: 'plain_text_input', value: 'no' } } } } }),
      via: 'field-error',
      shows: [/"response_action":"errors"/, /reject_reason/, /\[1100\]/],
    },
    // item 9: App Home clicks have no channel: the answer is a DM
    { name: 'forged Approve from the App Home', send: click({ view: { id: 'V0HOME', type: 'home' }, value: forged(1), responseUrl: null }), via: 'dm', shows: [/\[1100\]/, /not waiting/] },
    { name: 'unreadable Approve value from the App Home', send: click({ view: { id: 'V0HOME', type: 'home' }, value: 'not json', responseUrl: null }), via: 'dm', shows: [/\[1101\]/] },
    // item 10: forms without view.state
    { name: 'reject form without view.state', send: submission({ callback_id: 'access_reject_reason', private_metadata: JSON.stringify({ r: requestId, l: 0, c: 'D0DM' }) }), via: 'field-error', shows: [/"response_action":"errors"/, /reject_reason/, /\[1100\]/] },
    { name: 'request form without view.state', send: submission({ callback_id: 'access_request' }), via: 'field-error', shows: [/"response_action":"errors"/, /hosts/, /\[1100\]/] },
    // item 11: no usable response_url
    { name: 'forged Approve with no response_url', send: click({ value: forged(1), responseUrl: null }), via: 'ephemeral', shows: [/\[1100\]/] },
    // item 12: loose parsing
    { name: 'org create a b c d', send: command('org create a b c d'), via: 'ack', shows: [/\[1100\]/, /unexpected arguments "b" "c" "d"/] },
    { name: 'team create a org:', send: command('team create a org:'), via: 'ack', shows: [/\[1100\]/, /org: needs an organization name/] },
    { name: 'team create a org:x extra', send: command('team create a org:x extra'), via: 'ack', shows: [/\[1100\]/, /unexpected argument "extra"/] },
    { name: 'whoami extra', send: command('whoami extra'), via: 'ack', shows: [/\[1100\]/, /unexpected argument "extra"/] },
    { name: 'audit limit:1e2', send: command('audit limit:1e2'), via: 'ack', shows: [/\[1100\]/, /from 1 to 200 in digits/] },
    { name: 'audit limit:0x10', send: command('audit limit:0x10'), via: 'ack', shows: [/\[1100\]/, /from 1 to 200 in digits/] },
    { name: 'audit actor:', send: command('audit actor:'), via: 'ack', shows: [/\[1100\]/, /actor: needs a value/] },
    { name: 'grant use project: person:bob', send: command('grant use project: person:bob'), via: 'ack', shows: [/\[1100\]/, /project: needs a name/] },
    { name: '/access host web-01 web-02', send: access('host web-01 web-02'), via: 'ack', shows: [/\[1100\]/, /unexpected argument "web-02"/] },
  ];

  it.each(cases)('$name: coded answer, nothing changed, bot still answers', async (c) => {
    const before = await fingerprint();
    const mark = t.fake.calls.length;
    const res = await c.send();
    const shown = await answerOf(res, c.via, mark, c.shows[0]!);
    for (const re of c.shows) expect(shown).toMatch(re);
    // Bounded: far inside Slack's 40,000 characters, whatever the input's size.
    expect(shown.length).toBeLessThan(5_000);
    expect(await fingerprint()).toBe(before);
    const help = await runCommand(t, '/opsgate', 'help', USERS.bob);
    expect(help.text).toBe('opsgate commands');
  });

  it('acknowledges five concurrent 100,000-word host searches, each with its 1100', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => t.slack.command('/opsgate', `hosts ${words100k}`, USERS.erin)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.text).toContain('[1100]');
      expect(r.text.length).toBeLessThan(5_000);
    }
    expect((await runCommand(t, '/opsgate', 'whoami', USERS.erin)).blocks.length).toBeGreaterThan(0);
  });

  it('a forged user.id approves nothing: the request still waits at level 1 with no decision', async () => {
    const req = await t.app.services.access.details(requestId);
    expect(req.request.approval.state).toBe('pending');
    expect(req.request.approval.current).toBe(0);
    expect(req.request.approval.levels[0]!.decision).toBeNull();
    expect(await t.app.services.audit.query({ action: 'access.approve' })).toHaveLength(0);
  });

  describe('response_url outside Slack (item 3, and item 11)', () => {
    it('/opsgate whoami posts nothing to a foreign response_url; the answer comes as an ephemeral message', async () => {
      const mark = t.fake.calls.length;
      const res = await t.slack.command('/opsgate', 'whoami', USERS.alice, { responseUrl: foreign.url, channel: 'C0GENERAL' });
      expect(res.status).toBe(200);
      const e = await t.fake.waitFor('chat.postEphemeral', (c) => t.fake.calls.indexOf(c) >= mark && textOfCall(c).includes('Alice Ops'));
      expect(e.args).toMatchObject({ channel: 'C0GENERAL', user: USERS.alice.id });
      // The allow-list refuses before any request: the ephemeral comes after that refusal.
      expect(foreign.hits).toEqual([]);
    });

    it('a button (Show all history) with a foreign response_url answers ephemerally; nothing reaches the host', async () => {
      const mark = t.fake.calls.length;
      await click({ user: USERS.erin.id, actionId: 'access_host_history', value: 'web-01', responseUrl: foreign.url })();
      await t.fake.waitFor('chat.postEphemeral', (c) => t.fake.calls.indexOf(c) >= mark && textOfCall(c).includes('Host web-01'));
      expect(foreign.hits).toEqual([]);
    });

    it('/opsgate sync with a foreign response_url: first reply ephemeral, the job posts nothing there', async () => {
      const mark = t.fake.calls.length;
      await t.slack.command('/opsgate', 'sync', USERS.erin, { responseUrl: foreign.url });
      const first = await t.fake.waitFor('chat.postEphemeral', (c) => t.fake.calls.indexOf(c) >= mark && textOfCall(c).includes('Directory sync started'));
      expect(textOfCall(first)).toContain('/opsgate audit');
      const deadline = Date.now() + 15_000;
      while ((await t.app.services.audit.query({ action: 'directory.sync', actor: 'erin' })).length === 0) {
        if (Date.now() > deadline) throw new Error('the sync did not run');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(foreign.hits).toEqual([]);
    });

    it('a command with no response_url at all answers ephemerally', async () => {
      const mark = t.fake.calls.length;
      await t.slack.command('/opsgate', 'whoami', USERS.erin, { responseUrl: null });
      await t.fake.waitFor('chat.postEphemeral', (c) => t.fake.calls.indexOf(c) >= mark && textOfCall(c).includes('Erin Director'));
    });
  });
});
