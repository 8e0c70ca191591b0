/**
 * Issue 10, "bad input, fuzzed", first layer: every parser between Slack and the services, as
 * pure functions, over many inputs. Each slash command's text, each button's value and each
 * form's metadata, each modal's state values, a request's envelope and its raw body: the
 * outcome is a typed request or a coded refusal (1100/1101/1102) whose text, as Slack would
 * show it, is short, printable and free of internals; never another kind of throw. The named
 * cases: 1 MB of text, 10,000 options, 10,000 levels of nesting, invalid UTF-8.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAccess, parseApprovalValue, parseExtendValue, parseGrantIdValue, parseHostSearch, parseHostValue, parseRejectMeta, parseRejectReason, parseRequestModal } from '../../commands/access-parse.js';
import { AccessModalBlocks, Actions, RunBlocks, TicketBlocks } from '../../commands/ids.js';
import { parseOpsgate } from '../../commands/opsgate-parse.js';
import { parseJobButton, parseJobHostsButton, parseJobs, parseRun, parseRunDecisionMeta, parseRunDecisionValue, parseRunForm, parseRunFormMeta, runFormTarget } from '../../commands/runs-parse.js';
import { readSlackInput } from '../../commands/slack-input.js';
import {
  decisionMetaSchema,
  formMetaSchema,
  parseChoiceSearch,
  parseDecisionText,
  parseDecisionValue,
  parseMeta,
  parsePickValue,
  parseSelected,
  parseTicket,
  parseTicketForm,
  parseTicketValue,
  pickerMetaSchema,
  validZone,
} from '../../commands/tickets-parse.js';
import { errorMessage, fieldError } from '../../blocks/errors.js';
import { parseSlackBody } from '../../src/adapters/slack/body-shape.js';
import { AppError } from '../../src/errors.js';
import { anyText, badUtf8, buttonValue, commandText, deepCommandText, INVALID_UTF8, manyOptions, MB_TEXT, nestedJsonText, nestedObject, stateValues, VOCAB } from './arbitraries.js';
import { CONTROL, expectCodedRefusal, fuzzRuns, INTERNALS, outcome } from './outcome.js';

/** A refusal as Slack would show it (message and form field error): coded, printable, no internals. */
function expectShownSafely(err: AppError): void {
  expectCodedRefusal(err);
  for (const shown of [errorMessage(err).text, fieldError(err)]) {
    expect(shown).toMatch(/\[11\d\d\]/);
    expect(CONTROL.test(shown)).toBe(false);
    expect(shown).not.toMatch(INTERNALS);
  }
}

/** Every string of an accepted request is within Slack's 4,000 characters. */
function expectBounded(value: unknown): void {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(4_000);
    else if (v && typeof v === 'object') stack.push(...Object.values(v));
  }
}

const COMMANDS: Array<[keyof typeof VOCAB, (text: string) => unknown]> = [
  ['opsgate', parseOpsgate],
  ['access', parseAccess],
  ['ticket', parseTicket],
  ['run', parseRun],
  ['jobs', parseJobs],
];

describe('slash-command parsers, fuzzed (1,000 runs each)', () => {
  COMMANDS.forEach(([command, parse], i) => {
    const name = `/${command}`;
    it(`${name}: any text is a request or a coded refusal`, () => {
      fc.assert(
        fc.property(deepCommandText(command), (text) => {
          const r = outcome(() => parse(text));
          if (r.ok) expectBounded(r.value);
          else expectShownSafely(r.err);
        }),
        fuzzRuns(1_000, 100 + i),
      );
    });

    it(`${name}: 1 MB of text is refused with 1100 naming the limit`, () => {
      for (const text of [MB_TEXT, `help ${MB_TEXT}`, `"${MB_TEXT}"`, Array.from({ length: 100_000 }, () => 'w').join(' ')]) {
        const r = outcome(() => parse(text));
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expectShownSafely(r.err);
          expect(r.err.code).toBe(1100);
          expect(r.err.message).toMatch(/4,?000/);
        }
      }
    });

    it(`${name}: text decoded from invalid UTF-8 is a request or a coded refusal`, () => {
      for (const text of [INVALID_UTF8.toString('utf8'), `help ${INVALID_UTF8.toString('utf8')}`, INVALID_UTF8.toString('latin1'), '\uD800', 'submit \uDFFF env:\uD800']) {
        const r = outcome(() => parse(text));
        if (!r.ok) expectShownSafely(r.err);
      }
    });
  });
});

describe('Name=value words are kept or refused, never dropped (1,000 runs each)', () => {
  const assignments = (text: string): string[] => [...text.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
  it('/run <module> … name=value: every name typed is a parameter of the request', () => {
    fc.assert(
      fc.property(commandText(VOCAB.run).map((t) => `uptime ${t}`), (text) => {
        const r = outcome(() => parseRun(text));
        if (!r.ok) return expectShownSafely(r.err);
        // A quoted word may hide an '=' inside quotes; only bare words are checked.
        if (r.value.sub === 'run' && !text.includes('"')) for (const name of assignments(text)) expect(Object.hasOwn(r.value.request.params, name)).toBe(true);
      }),
      fuzzRuns(1_000, 150),
    );
  });
  it('/ticket submit … Option=value: every option typed is a value of the request', () => {
    fc.assert(
      fc.property(commandText(VOCAB.ticket).map((t) => `submit deploy-git env:PROD ${t}`), (text) => {
        const r = outcome(() => parseTicket(text));
        if (!r.ok) return expectShownSafely(r.err);
        if (r.value.sub === 'submit' && r.value.inline && !text.includes('"')) for (const name of assignments(text)) expect(Object.hasOwn(r.value.inline.values, name)).toBe(true);
      }),
      fuzzRuns(1_000, 151),
    );
  });
  it.each(['/run uptime __proto__=x target:web-01', '/ticket submit deploy-git env:PROD __proto__=a,b'])('%s is refused with 1100 (before: the value vanished and the rest went on)', (typed) => {
    const text = typed.replace(/^\/\w+ /, '');
    const r = outcome(() => (typed.startsWith('/run') ? parseRun(text) : parseTicket(text)));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.err.toUserText()).toMatch(/^\[1100\] .*__proto__/);
  });
  it('forms: an option or parameter block named __proto__ is refused with 1100', () => {
    const parses: Array<() => unknown> = [() => parseTicketForm({ 'opt:__proto__': { v: { type: 'plain_text_input', value: 'x' } } }), () => parseRunForm({ 'param:__proto__': { v: { type: 'plain_text_input', value: 'x' } } })];
    for (const parse of parses) {
      const r = outcome(parse);
      expect(r.ok).toBe(false);
    }
  });
});

/**
 * Each button value / form metadata parser, and what it can be handed: the input guard has
 * already made an action's value a string of at most 2,000 characters or undefined, and a
 * view's private_metadata a string of at most 3,000 ('string'); three take the raw value and
 * check its kind themselves ('unknown').
 */
const BUTTONS: Array<[string, 'string' | 'unknown', (v: never) => unknown]> = [
  ['access approve/reject value', 'string', parseApprovalValue],
  ['access extend value', 'string', parseExtendValue],
  ['access reject metadata', 'string', parseRejectMeta],
  ['access revoke value (grant id)', 'string', parseGrantIdValue],
  ['access host history value', 'string', parseHostValue],
  ['access host search', 'string', (v: string) => parseHostSearch(v ?? '')],
  ['ticket decision value', 'string', parseDecisionValue],
  ['ticket run/revoke/show/log value', 'string', parseTicketValue],
  ['ticket pick value', 'string', parsePickValue],
  ['ticket form metadata', 'string', (v: string) => parseMeta(formMetaSchema, v)],
  ['ticket decision metadata', 'string', (v: string) => parseMeta(decisionMetaSchema, v)],
  ['ticket picker metadata', 'string', (v: string) => parseMeta(pickerMetaSchema, v)],
  ['ticket choice search', 'string', (v: string) => parseChoiceSearch(`${Actions.ticketChoices}|deploy-git|PROD|Tag`, v ?? '')],
  ['ticket choice search action id', 'string', (v: string) => parseChoiceSearch(v ?? '', 'x')],
  ['run approve/reject value', 'unknown', parseRunDecisionValue],
  ['run reject metadata', 'string', parseRunDecisionMeta],
  ['job hosts page / host file value', 'unknown', parseJobHostsButton],
  ['job show/term/kill value', 'unknown', parseJobButton],
  ['run form metadata', 'string', parseRunFormMeta],
];

describe('button values and form metadata, fuzzed (1,000 runs each)', () => {
  BUTTONS.forEach(([name, given, parse], i) => {
    const values = given === 'string' ? fc.option(buttonValue, { nil: undefined }) : fc.oneof({ weight: 5, arbitrary: buttonValue }, { weight: 1, arbitrary: fc.anything() });
    it(`${name}: any value is read or refused with a code`, () => {
      fc.assert(
        fc.property(values, (value) => {
          const r = outcome(() => parse(value as never));
          if (r.ok) expectBounded(r.value);
          else expectShownSafely(r.err);
        }),
        fuzzRuns(1_000, 200 + i),
      );
    });

    it(`${name}: 10,000 levels of nested JSON, 1 MB and invalid UTF-8 are refused with a code`, () => {
      for (const v of [nestedJsonText(10_000), `[${nestedJsonText(10_000)}]`, MB_TEXT, JSON.stringify({ r: MB_TEXT }), INVALID_UTF8.toString('utf8')]) {
        const r = outcome(() => parse(v as never));
        if (!r.ok) expectShownSafely(r.err);
      }
    });
  });

  it('picker selections and time zones: anything is read as a value or nothing, never thrown on', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const s = parseSelected(v);
        expect(s === undefined || typeof s === 'string').toBe(true);
        expect(typeof validZone(v)).toBe('string');
      }),
      fuzzRuns(1_000, 299),
    );
  });
});

/** Each modal submission parser, by the callback id whose listener calls it. */
const MODALS: Array<[string, (values: unknown) => unknown]> = [
  ['access_request', parseRequestModal],
  ['access_reject_reason', parseRejectReason],
  ['ticket_form', parseTicketForm],
  ['ticket_reject_reason', (v) => parseDecisionText(v, TicketBlocks.reason)],
  ['ticket_approve_comment', (v) => parseDecisionText(v, TicketBlocks.comment)],
  ['run_form (and its redraws)', (v) => runFormTarget(parseRunForm(v))],
  ['run_reject_reason', (v) => parseDecisionText(v, RunBlocks.rejectReason)],
];

describe('modal submissions (view_submission state.values), fuzzed (1,000 runs each)', () => {
  MODALS.forEach(([callbackId, parse], i) => {
    it(`${callbackId}: any state is read or refused with a code`, () => {
      fc.assert(
        fc.property(stateValues, (values) => {
          const r = outcome(() => parse(values));
          if (r.ok) expectBounded(r.value);
          else expectShownSafely(r.err);
        }),
        fuzzRuns(1_000, 300 + i),
      );
    });

    it(`${callbackId}: 10,000 picked options, 10,000 levels of nesting and 1 MB values are refused with a code or read bounded`, () => {
      const many = { selected_options: manyOptions(10_000) };
      const states = [
        { [AccessModalBlocks.hosts]: { [Actions.accessHosts]: { type: 'multi_external_select', ...many } }, [AccessModalBlocks.role]: { role: { selected_option: { value: 'readonly' } } }, [AccessModalBlocks.days]: { days: { selected_option: { value: '1' } } }, [AccessModalBlocks.reason]: { reason: { value: 'x' } } },
        { [`${TicketBlocks.optionPrefix}AnsibleHosts`]: { v: { type: 'multi_static_select', ...many } }, [TicketBlocks.flags]: { f: { type: 'checkboxes', ...many } } },
        { [RunBlocks.hosts]: { [Actions.runHosts]: { type: 'multi_external_select', ...many } }, [`${RunBlocks.paramPrefix}x`]: { v: { type: 'checkboxes', ...many } } },
        nestedObject(10_000),
        { [TicketBlocks.reason]: nestedObject(10_000), [RunBlocks.module]: { m: nestedObject(10_000) } },
        { [TicketBlocks.reason]: { r: { value: MB_TEXT } }, [TicketBlocks.comment]: { c: { value: MB_TEXT } }, [RunBlocks.rejectReason]: { r: { value: MB_TEXT } }, [AccessModalBlocks.rejectReason]: { reason: { value: MB_TEXT } } },
      ];
      for (const values of states) {
        const r = outcome(() => parse(values));
        if (r.ok) expectBounded(r.value);
        else expectShownSafely(r.err);
      }
    });
  });
});

describe('decision notes longer than the approval engine keeps', () => {
  const note = 'n'.repeat(1_001);
  it.each([
    ['an access reject reason', () => parseRejectReason({ [AccessModalBlocks.rejectReason]: { reason: { value: note } } })],
    ['a ticket approval comment (was dropped without a word)', () => parseDecisionText({ [TicketBlocks.comment]: { c: { value: note } } }, TicketBlocks.comment)],
    ['a ticket reject reason (was answered "needs a reason")', () => parseDecisionText({ [TicketBlocks.reason]: { r: { value: note } } }, TicketBlocks.reason)],
    ['a run reject reason', () => parseDecisionText({ [RunBlocks.rejectReason]: { r: { value: note } } }, RunBlocks.rejectReason)],
  ])('%s of 1,001 characters is refused with 1100 naming the limit', (_name, parse) => {
    const r = outcome(parse);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.err.toUserText()).toBe('[1100] Bad parameter: the ' + (_name.startsWith('an access') ? 'reason' : 'text') + ' is 1,001 characters; the limit is 1,000');
  });
});

describe('the request envelope and the raw body, fuzzed', () => {
  const envelope = fc.record(
    {
      type: fc.constantFrom('block_actions', 'view_submission', 'view_closed', 'block_suggestion', 'event_callback', 'shortcut', 'interactive_message', 'url_verification', undefined),
      command: fc.oneof(fc.constantFrom('/opsgate', '/access', '/ticket', '/run', '/jobs'), fc.anything()),
      user: fc.oneof(fc.record({ id: fc.oneof(fc.constantFrom('UALICE', 'W0X', 'alice', ''), fc.anything()) }), fc.anything()),
      user_id: fc.oneof(fc.constantFrom('UALICE', 'u1', ''), fc.anything()),
      team: fc.oneof(fc.record({ id: fc.oneof(fc.constantFrom('T0TEST', '../x'), fc.anything()) }), fc.constant(null), fc.anything()),
      channel: fc.oneof(fc.record({ id: fc.oneof(fc.constantFrom('D0DM', 'C0GENERAL', 'x'), fc.anything()) }), fc.anything()),
      view: fc.oneof(fc.record({ id: fc.constantFrom('V0MODAL', 'v'), callback_id: fc.constantFrom('access_request', 'ticket_form', 'x'), private_metadata: fc.string(), state: fc.record({ values: stateValues }) }, { requiredKeys: ['id'] }), fc.anything()),
      actions: fc.oneof(fc.array(fc.record({ action_id: fc.constantFrom(...Object.values(Actions)), value: buttonValue, block_id: fc.string({ maxLength: 10 }) }, { requiredKeys: ['action_id'] }), { maxLength: 6 }), fc.anything()),
      event: fc.oneof(fc.record({ type: fc.constantFrom('app_home_opened', 'message'), user: fc.oneof(fc.constant('UALICE'), fc.anything()), tab: fc.constant('home') }), fc.anything()),
      trigger_id: fc.oneof(fc.constant('1.2.3'), fc.anything()),
      response_url: fc.oneof(fc.constant('https://hooks.slack.com/x'), fc.anything()),
      value: fc.oneof(fc.string(), fc.anything()),
      action_id: fc.oneof(fc.constantFrom(Actions.accessHosts, Actions.runHosts), fc.anything()),
    },
    { requiredKeys: [] },
  );

  it('readSlackInput: any body is a typed envelope, a kind nobody handles (null) or a coded refusal (1,000 runs)', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: envelope }, { weight: 1, arbitrary: fc.anything() }), (body) => {
        const r = outcome(() => readSlackInput(body));
        if (!r.ok) return expectShownSafely(r.err);
        if (r.value) expect(r.value.userId).toMatch(/^[UW][A-Z0-9]{2,30}$/);
      }),
      fuzzRuns(1_000, 400),
    );
  });

  it('parseSlackBody: any signed body text is handed to Bolt as an object or refused with a code (1,000 runs)', () => {
    const form = fc.dictionary(fc.constantFrom('payload', 'command', 'text', 'user_id', 'ssl_check', 'x'), fc.oneof(fc.string({ maxLength: 40 }), envelope.map((e) => JSON.stringify(e) ?? '')), { maxKeys: 4 }).map((f) => new URLSearchParams(f).toString());
    const raw = fc.oneof(form, envelope.map((e) => JSON.stringify(e) ?? ''), anyText, badUtf8, fc.constantFrom('payload=%FF%FE', 'payload=%E0%A4%A', 'text=%', 'a=1&a=2', '%%%', '\uFEFF{}'));
    fc.assert(
      fc.property(raw, fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'application/x-www-form-urlencoded; charset=utf-8', undefined), (text, contentType) => {
        const r = outcome(() => parseSlackBody(text, contentType));
        if (!r.ok) throw new Error('parseSlackBody threw instead of returning its problem');
        const v = r.value;
        if ('problem' in v) expectShownSafely(v.problem);
        else expect(typeof v.body).toBe('object');
      }),
      fuzzRuns(1_000, 401),
    );
  });

  it('10,000 levels of nested JSON in every part of a body are read or refused with a code', () => {
    const deep = nestedObject(10_000);
    const bodies: unknown[] = [
      deep,
      { type: 'block_actions', user: { id: 'UALICE' }, actions: [{ action_id: Actions.accessApprove, value: 'x' }], message: deep, container: deep },
      { type: 'view_submission', user: { id: 'UALICE' }, view: { id: 'V0MODAL', callback_id: 'ticket_form', state: { values: deep } } },
      { command: '/opsgate', user_id: 'UALICE', text: 'help', extra: deep },
      { type: 'event_callback', event: { type: 'app_home_opened', user: 'UALICE', view: deep } },
    ];
    for (const b of bodies) {
      const r = outcome(() => readSlackInput(b));
      if (!r.ok) expectShownSafely(r.err);
    }
    for (const text of [nestedJsonText(10_000), `payload=${encodeURIComponent(`{"type":"block_actions","user":{"id":"UALICE"},"actions":[{"action_id":"x"}],"message":${nestedJsonText(10_000)}}`)}`]) {
      for (const ct of ['application/json', 'application/x-www-form-urlencoded']) {
        const v = parseSlackBody(text, ct);
        if ('problem' in v) expectShownSafely(v.problem);
      }
    }
  });
});
