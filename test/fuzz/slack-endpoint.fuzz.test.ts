/**
 * Issue 10, "bad input, fuzzed", second layer: the same kinds of bad input sent for real, as
 * correctly signed HTTP requests to the running bot's /slack/events (createOpsgate on a test
 * store, the fake Slack Web API on loopback). For every request: the bot answers (200, or the
 * documented 400 with a coded body for a body Bolt must not see), every refusal the person
 * sees, in the ack or in anything the fake Slack receives, carries its bracketed code and no
 * stack trace, nothing is answered with 1300 (an internal failure), no error is logged, no
 * unhandled rejection happens, and a good command still works afterwards.
 */
import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Actions, Commands, Views } from '../../commands/ids.js';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { SIGNING_SECRET, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import type { SlackResponse } from '../helpers/slack-requests.js';
import { anyText, buttonValue, deepCommandText, INVALID_UTF8, manyOptions, MB_TEXT, nestedJsonText, stateValues, VOCAB } from './arbitraries.js';
import { fuzzRuns, INTERNALS } from './outcome.js';

const FORM = 'application/x-www-form-urlencoded';
const CODE = /\[1[0-3]\d\d\]/;
/** What a refusal shown in Slack starts with (blocks/errors.ts). */
const REFUSAL = /:no_entry:|:warning:/;

interface LogLine {
  level: number;
  msg?: string;
  code?: number;
  err?: { message?: string; stack?: string };
}

describe('the Slack endpoint under fuzzed input (signed requests)', () => {
  let t: TestOpsgate;
  const logLines: LogLine[] = [];
  /** Everything wrong that was seen, named with what caused it: the tests assert it stays empty. */
  const problems: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => void rejections.push(reason);
  /** What the request being sent was, for naming a problem seen in a call that it caused. */
  let current = '';

  const users = fc.constantFrom(USERS.alice, USERS.bob, USERS.carol, USERS.erin, USERS.stranger, { id: 'UFUZZ0001', name: 'fuzz' });

  /** A call to the fake Slack: what it shows must carry a code when it refuses, and no internals. */
  function checkCall(c: RecordedCall): void {
    const text = JSON.stringify(c.args);
    if (INTERNALS.test(text)) problems.push(`${c.method} showed internals (${current}): ${text.slice(0, 300)}`);
    if (/\[1300\]/.test(text)) problems.push(`${c.method} carried 1300 (${current}): ${text.slice(0, 300)}`);
    if (REFUSAL.test(text) && !CODE.test(text)) problems.push(`${c.method} refused without a code (${current}): ${text.slice(0, 300)}`);
  }

  /** The HTTP answer to a request: acked (200) with a safe body, or a coded 400. */
  function checkAnswer(res: SlackResponse, what: string): void {
    const body = res.text.slice(0, 300);
    // The guard's documented refusals (request-guard.ts): a malformed body (400), a replayed
    // signature (409: the same random body twice within a second), a body over 4 MB (413).
    if ([400, 409, 413].includes(res.status)) {
      const j = res.json() as { code?: number; error?: string };
      if (![1100, 1101, 1102].includes(j.code ?? 0) || !/^\[11\d\d\] /.test(j.error ?? '')) problems.push(`${res.status} without a coded body (${what}): ${body}`);
      return;
    }
    if (res.status !== 200) return void problems.push(`answered ${res.status} (${what}): ${body}`);
    if (INTERNALS.test(res.text)) problems.push(`ack showed internals (${what}): ${body}`);
    if (/\[1300\]/.test(res.text)) problems.push(`ack carried 1300 (${what}): ${body}`);
    if (res.text.trim() === '') return;
    const ack = res.json() as { response_action?: string; errors?: Record<string, string>; options?: Array<{ value: string; text: { text: string } }>; text?: string };
    if (ack.response_action === 'errors') {
      for (const [block, message] of Object.entries(ack.errors ?? {})) if (!/^\[1[12]\d\d\] /.test(message)) problems.push(`form error on ${block} without a code (${what}): ${message}`);
    }
    for (const o of ack.options ?? []) if (o.value === '!refused' && !CODE.test(o.text.text)) problems.push(`refused option without a code (${what}): ${o.text.text}`);
    if (REFUSAL.test(res.text) && !CODE.test(res.text)) problems.push(`ack refused without a code (${what}): ${body}`);
  }

  async function send(what: string, request: () => Promise<SlackResponse>): Promise<SlackResponse> {
    current = what.slice(0, 200);
    const res = await request();
    checkAnswer(res, current);
    return res;
  }

  /** A body posted as given, signed over its exact bytes as Slack signs. */
  async function postBytes(body: Buffer, contentType: string): Promise<SlackResponse> {
    const ts = Math.floor(Date.now() / 1000);
    const sig = 'v0=' + createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:`).update(body).digest('hex');
    const res = await fetch(`http://127.0.0.1:${t.app.port}/slack/events`, { method: 'POST', headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': sig }, body: new Uint8Array(body) });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as unknown };
  }

  const click = (user: { id: string }, actionId: string, value: string | undefined, inView: boolean) =>
    t.slack.blockAction(user, { action_id: actionId, value }, inView ? { view: { id: 'V0HOME', type: 'home', callback_id: '', private_metadata: '' } } : { channel: 'D0DM' });
  const submit = (user: { id: string }, callbackId: string, values: unknown, metadata: string) =>
    t.slack.viewSubmission(user, { callback_id: callbackId, private_metadata: metadata, values: values as Record<string, Record<string, unknown>> });

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.startsWith('{')) logLines.push(JSON.parse(l) as LogLine);
        done();
      },
    });
    t = await startOpsgate({ logStream, env: { LOG_LEVEL: 'warn' } });
    await t.ready();
    t.fake.listeners.add(checkCall);
  }, 60_000);

  // Each test owns the problems it finds (a late call is still named with its request).
  beforeEach(() => void (problems.length = 0));

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await t?.stop();
  });

  const ALL_ACTIONS = [...Object.values(Actions), `${Actions.jobHostsPage}:1`, `${Actions.ticketChoices}|deploy-git|PROD|Tag`];
  const SUGGESTIONS = [Actions.accessHosts, Actions.runHosts, `${Actions.ticketChoices}|deploy-git|PROD|Tag`, `${Actions.ticketChoices}|x|y|z`];

  it('slash commands: any text to any of the five commands (100 runs per command)', async () => {
    const commands = Object.values(Commands);
    for (const [i, command] of commands.entries()) {
      await fc.assert(
        fc.asyncProperty(deepCommandText(command.slice(1) as keyof typeof VOCAB), users, async (text, user) => {
          await send(`${command} ${JSON.stringify(text.slice(0, 80))} by ${user.id}`, () => t.slack.command(command, text, user));
        }),
        fuzzRuns(100, 500 + i),
      );
    }
    expect(problems).toEqual([]);
  }, 240_000);

  it('buttons: any value on any action id, in a message or the App Home (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ALL_ACTIONS), fc.option(buttonValue, { nil: undefined }), users, fc.boolean(), async (actionId, value, user, inView) => {
        await send(`click ${actionId} value ${JSON.stringify(value?.slice(0, 80))} by ${user.id}`, () => click(user, actionId, value, inView));
      }),
      fuzzRuns(300, 600),
    );
    expect(problems).toEqual([]);
  }, 240_000);

  it('modal submissions: any state values and metadata for every callback id (30 runs per callback id)', async () => {
    for (const [i, callbackId] of Object.values(Views).entries()) {
      await fc.assert(
        fc.asyncProperty(stateValues, fc.oneof(buttonValue, fc.constant('')), users, async (values, metadata, user) => {
          await send(`submit ${callbackId} ${JSON.stringify(values)?.slice(0, 120)} meta ${JSON.stringify(metadata.slice(0, 60))}`, () => submit(user, callbackId, values, metadata));
        }),
        fuzzRuns(30, 700 + i),
      );
    }
    expect(problems).toEqual([]);
  }, 240_000);

  it('option searches: any text in every searched select (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SUGGESTIONS), anyText, users, async (actionId, value, user) => {
        await send(`search ${actionId} ${JSON.stringify(value.slice(0, 80))}`, () => t.slack.blockSuggestion(user, actionId, value));
      }),
      fuzzRuns(100, 800),
    );
    expect(problems).toEqual([]);
  }, 240_000);

  it('raw bodies: any signed text as a form or JSON body (150 runs)', async () => {
    const body = fc.oneof(anyText, fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.dictionary(fc.constantFrom('payload', 'command', 'text', 'user_id', 'type'), fc.oneof(anyText, fc.jsonValue().map((v) => JSON.stringify(v))), { maxKeys: 4 }).map((f) => new URLSearchParams(f).toString()));
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(FORM, 'application/json'), async (text, contentType) => {
        await send(`raw ${contentType} ${JSON.stringify(text.slice(0, 120))}`, () => t.slack.post(text, contentType));
      }),
      fuzzRuns(150, 900),
    );
    expect(problems).toEqual([]);
  }, 240_000);

  describe('named inputs', () => {
    it.each(Object.values(Commands))('%s with 1 MB of text is acked with [1100] naming the limit', async (command) => {
      const res = await send(`${command} 1 MB`, () => t.slack.command(command, MB_TEXT, USERS.alice));
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/\[1100\][^"]*4,?000/);
    });

    /** Where each form takes a multi-select: the one field that gets the 10,000 options. */
    const MULTI: Record<string, [string, string]> = {
      [Views.accessRequest]: ['hosts', Actions.accessHosts],
      [Views.ticketForm]: ['opt:AnsibleHosts', 'v'],
      [Views.runForm]: ['run_hosts', Actions.runHosts],
    };
    it.each(Object.values(Views))('%s submitted with 10,000 picked options is answered with a code', async (callbackId) => {
      const [block, action] = MULTI[callbackId] ?? ['flags', 'f'];
      const values = { [block]: { [action]: { type: 'multi_static_select', selected_options: manyOptions(10_000) } }, reason: { reason: { value: 'why' } } };
      const mark = t.fake.calls.length;
      const res = await send(`${callbackId} with 10,000 options`, () => submit(USERS.alice, callbackId, values, ''));
      expect(res.status).toBe(200);
      // A form's answer is its ack (the field error, with its code); a form nothing answers is
      // refused in the conversation instead.
      if (res.text) expect(res.text).toMatch(/"response_action":"errors".*\[11\d\d\]/);
      else await t.fake.waitFor('chat.postMessage', (c) => t.fake.calls.indexOf(c) >= mark && /\[1100\]/.test(JSON.stringify(c.args)) && c.args.channel === `D${USERS.alice.id}`);
    });

    it('10,000 levels of nested JSON as the payload, in a click and in a form are answered with a code', async () => {
      const deepPayload = await send('payload nested 10,000 levels', () => t.slack.post(`payload=${encodeURIComponent(nestedJsonText(10_000))}`, FORM));
      expect(deepPayload.status).toBe(400);
      const deepEvent = await send('event nested 10,000 levels', () => t.slack.post(`{"type":"event_callback","team_id":"T0TEST","event":{"type":"app_home_opened","user":"UALICE","tab":"home","view":${nestedJsonText(10_000)}}}`, 'application/json'));
      expect(deepEvent.status).toBe(200);
      const clickPayload = `{"type":"block_actions","user":{"id":"UALICE"},"team":{"id":"T0TEST"},"channel":{"id":"D0DM"},"trigger_id":"1.2.3","message":${nestedJsonText(10_000)},"actions":[{"action_id":"${Actions.accessApprove}","value":${JSON.stringify(nestedJsonText(300))}}]}`;
      const deepClick = await send('click nested 10,000 levels', () => t.slack.post(`payload=${encodeURIComponent(clickPayload)}`, FORM));
      expect(deepClick.status).toBe(200);
      const viewPayload = `{"type":"view_submission","user":{"id":"UALICE"},"team":{"id":"T0TEST"},"view":{"id":"V0MODAL","callback_id":"${Views.ticketForm}","private_metadata":"","state":{"values":{"opt:Tag":{"v":${nestedJsonText(10_000)}}}}}}`;
      const deepForm = await send('form nested 10,000 levels', () => t.slack.post(`payload=${encodeURIComponent(viewPayload)}`, FORM));
      expect(deepForm.status).toBe(200);
      expect(deepForm.text).toMatch(/\[11\d\d\]/);
    });

    it('a NUL in a /run target or in the run form’s project is answered with [1100] (before: [1300], an internal error)', async () => {
      for (const text of ['uptime \u0000', 'uptime target:web\u0000']) {
        const mark = t.fake.calls.length;
        const res = await send(`/run ${JSON.stringify(text)}`, () => t.slack.command('/run', text, USERS.erin));
        expect(res.status).toBe(200);
        const shown = res.text || JSON.stringify((await t.fake.waitFor('response_url', (c) => t.fake.calls.indexOf(c) >= mark)).args);
        expect(shown).toMatch(/\[1100\]/);
      }
      const values = { run_module: { [Actions.runModule]: { type: 'static_select', selected_option: { value: 'uptime' } } }, run_project: { [Actions.runTarget]: { type: 'plain_text_input', value: 'store\u0000front' } } };
      const res = await send('run form with a NUL in the project', () => submit(USERS.erin, Views.runForm, values, JSON.stringify({ c: 'C0GENERAL' })));
      expect(res.text).toMatch(/"response_action":"errors".*\[1100\]/);
    });

    it('a body over Bolt’s 4 MB is answered 413 with [1100]', async () => {
      const res = await send('a 5 MB command', () => t.slack.command('/opsgate', 'x'.repeat(5 * 1024 * 1024), USERS.alice));
      expect(res.status).toBe(413);
      expect(res.json()).toMatchObject({ code: 1100, error: expect.stringMatching(/^\[1100\] .*4,194,304 bytes/) });
    });

    it('invalid UTF-8 bytes in a signed form, payload and JSON body are answered with a code', async () => {
      const form = Buffer.concat([Buffer.from('command=%2Fopsgate&user_id=UALICE&channel_id=C0GENERAL&text=help'), INVALID_UTF8]);
      const payload = Buffer.concat([Buffer.from('payload={"type":"block_actions","user":{"id":"UALICE"},"actions":[{"action_id":"access_approve","value":"'), INVALID_UTF8, Buffer.from('"}]}')]);
      const json = Buffer.concat([Buffer.from('{"type":"event_callback","event":{"type":"app_home_opened","user":"UALICE","tab":"'), INVALID_UTF8, Buffer.from('"}}')]);
      for (const [name, body, ct] of [['form', form, FORM], ['payload', payload, FORM], ['JSON', json, 'application/json']] as const) {
        const res = await send(`invalid UTF-8 in a ${name} body`, () => postBytes(body, ct));
        expect([name, res.status]).toEqual([name, 400]);
        expect(res.json()).toMatchObject({ code: 1100, error: expect.stringMatching(/^\[1100\] .*UTF-8/) });
      }
      // Percent-encoded bad bytes are a correct form: they decode to U+FFFD and the text is read.
      const encoded = await send('percent-encoded invalid UTF-8', () => t.slack.command('/opsgate', 'help %FF', USERS.alice));
      expect(encoded.status).toBe(200);
    });
  });

  it('afterwards: a good command still works, nothing was logged as an error, no unhandled rejection', async () => {
    const help = await t.slack.command('/opsgate', 'help', USERS.alice);
    expect(help.status).toBe(200);
    expect(help.text).toContain('/opsgate');
    const mark = t.fake.calls.length;
    expect((await t.slack.command('/opsgate', 'whoami', USERS.alice)).status).toBe(200);
    const whoami = await t.fake.waitFor('response_url', (c) => t.fake.calls.indexOf(c) >= mark);
    expect(JSON.stringify(whoami.args)).toMatch(/alice/i);
    expect(problems).toEqual([]);
    // The properties did reach the listeners: many refusals came back through Slack's API, coded.
    expect(t.fake.calls.filter((c) => /\[11\d\d\]|\[12\d\d\]/.test(JSON.stringify(c.args))).length).toBeGreaterThan(50);
    expect(logLines.filter((l) => l.level >= 50).map((l) => `${l.msg} ${l.err?.message ?? ''}`)).toEqual([]);
    expect(rejections).toEqual([]);
  });
});
