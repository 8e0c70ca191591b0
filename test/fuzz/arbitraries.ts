/**
 * Generators of what a hostile or broken Slack client could send: command texts (real words of
 * each command among garbage), button values (JSON of the right keys with wrong values, and
 * anything else), and view state values of Slack's shape with every element kind and value
 * kind; plus the named big inputs (1 MB, 10,000 options, 10,000 levels, invalid UTF-8).
 */
import fc from 'fast-check';
import { AccessModalBlocks, Actions, RunBlocks, TicketBlocks } from '../../commands/ids.js';

/** Any UTF-16 unit, lone surrogates included (fast-check's strings are well-formed). */
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Bytes that are not UTF-8, decoded as Node decodes a request body (each bad byte a U+FFFD). */
export const badUtf8 = fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from([0xff, ...b, 0xc3]).toString('utf8'));

const hostile = fc.constantFrom('\u0000', '\u0007', '\u001b[2J', '\u202e', '\uFEFF', '\uD800', '\uDFFF', '"', '\\"', "'", '`', '=', ',', ':', '|', '<@UALICE>', '<@UALICE|alice>', '<!channel>', '&lt;', '&amp;', '$(id)', '{"$ne":null}', '__proto__', 'constructor', '1e2', '0x10', '-1', '9999999', '…', '\uD83D\uDE00', '\n', '\t', '  ');

export const anyText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 2, arbitrary: fc.string({ unit: utf16Unit, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: badUtf8 },
  { weight: 1, arbitrary: fc.string({ minLength: 3_990, maxLength: 4_010 }) },
);

/** Command-like text: the command's own words, `key:value` filters, hostile pieces, in any order. */
export function commandText(vocab: readonly string[]): fc.Arbitrary<string> {
  const filter = fc.tuple(fc.constantFrom('env:', 'at:', 'target:', 'project:', 'app:', 'label:', 'state:', 'host:', 'person:', 'user:', 'status:', 'actor:', 'action:', 'limit:', 'org:', 'team:', '__proto__:', 'constructor:', 'hasOwnProperty:', 'toString:', 'rack:', 'tier:'), fc.oneof(fc.string({ maxLength: 12 }), hostile)).map(([k, v]) => k + v);
  const assign = fc.tuple(fc.constantFrom('Tag', 'Branch', 'AnsibleHosts', 'lines', 'service', 'x', '_', '1bad', '__proto__', 'constructor', 'toString'), fc.oneof(fc.string({ maxLength: 12 }), hostile, fc.constant('"two words"'))).map(([k, v]) => `${k}=${v}`);
  const word = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...vocab) }, filter, assign, hostile, fc.string({ maxLength: 15 }));
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(word, { maxLength: 12 }).map((w) => w.join(' ')) },
    { weight: 1, arbitrary: anyText },
  );
}

export const VOCAB = {
  opsgate: ['help', 'whoami', 'sync', 'reload', 'hosts', 'projects', 'products', 'teams', 'audit', 'grant', 'revoke', 'team', 'org', 'create', 'add', 'remove', 'use', 'admin', 'global', 'project:storefront', 'person:alice', 'team:ops', '<@UBOB>'],
  access: ['help', 'request', 'mine', 'requests', 'approvals', 'host', 'all', 'revoke', 'cancel', 'root', 'evans', 'readonly', '1d', '7d', '30d', '365d', '0d', 'web-01', 'web-01,web-02', 'AR-7K2M9Q', 'AR-0', 'because'],
  ticket: ['help', 'submit', 'mine', 'approvals', 'run', 'show', 'revoke', 'log', 'admin', 'activate', 'deactivate', 'list', 'history', 'deploy-git', 'deploy-static', 'env:PROD', 'env:STAGE', 'at:2026-12-24T03:00', 'at:2026-02-30T25:61', 'auto', 'background', 'bg', 'TK-7K2M9Q', 'TK-', '"', '"a b"'],
  run: ['help', 'uptime', 'disk-usage', 'syslog-tail', 'shell', 'target:web-01', 'target:app:nginx', 'env:prod', 'lines=200', 'lines=abc', 'lines=', 'cmd=id', '"', '"a b"'],
  jobs: ['help', 'list', 'show', 'output', 'term', 'kill', 'signal', 'J-0123456789', 'J-abcdef0123', 'TK-7K2M9Q', 'J-', 'TERM', 'KILL', 'INT', 'SIGKILL', '9', 'web-01'],
} as const;

/** Starts that get past each command's first checks, so what follows reaches the services. */
export const PREFIXES = {
  opsgate: ['hosts', 'audit', 'grant use', 'team add ops', 'whoami'],
  access: ['request web-01 readonly 1d', 'request', 'all', 'host', 'cancel'],
  ticket: ['submit deploy-git env:PROD', 'submit deploy-static env:STAGE Tag=v1', 'history', 'admin activate'],
  run: ['uptime', 'syslog-tail target:web-01', 'disk-usage env:prod', 'shell target:web-01'],
  jobs: ['show', 'output J-0123456789', 'signal J-0123456789', 'kill'],
} as const;

/** A command's text: soup, or a start that gets far followed by soup. */
export function deepCommandText(command: keyof typeof VOCAB): fc.Arbitrary<string> {
  return fc.oneof(commandText(VOCAB[command]), fc.tuple(fc.constantFrom(...PREFIXES[command]), commandText(VOCAB[command])).map(([p, t]) => `${p} ${t}`));
}

/** A value of any JSON kind, sometimes one a schema expects. */
const fieldValue = fc.oneof(fc.constantFrom('AR-7K2M9Q', 'TK-7K2M9Q', 'J-0123456789', 'web-01', 'root', 'PROD', 'deploy-git', 'D0DM', 'approve', 'reject', 'change', 0, 1, 2, 3, -1, 1.5, 1e21, null, true, [], {}, ['web-01'], ['web-01', 'web-01']), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 50 }));

/** JSON objects with the keys our buttons and metadata use, each with any value; and anything else. */
export const buttonValue = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.constantFrom('r', 'l', 't', 'j', 'p', 'h', 'n', 'e', 'c', 'k', 'role', 'x', '__proto__'), fieldValue, { maxKeys: 4 }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '{', '{"r":', '[]', '"x"', '1', 'web-01', 'AbCdEf123456', '!refused') },
);

/** The block ids of our forms, and others. */
export const BLOCK_IDS = [
  AccessModalBlocks.hosts, AccessModalBlocks.role, AccessModalBlocks.days, AccessModalBlocks.reason, AccessModalBlocks.rejectReason,
  `${TicketBlocks.optionPrefix}Tag`, `${TicketBlocks.optionPrefix}AnsibleHosts`, `${TicketBlocks.optionPrefix}1bad`, TicketBlocks.runDate, TicketBlocks.runTime, TicketBlocks.flags, TicketBlocks.reason, TicketBlocks.comment,
  RunBlocks.module, RunBlocks.hosts, RunBlocks.project, RunBlocks.app, RunBlocks.env, RunBlocks.label, RunBlocks.count, `${RunBlocks.paramPrefix}lines`, `${RunBlocks.paramPrefix}bad name`, RunBlocks.rejectReason,
  'x', '', '__proto__',
];
const ACTION_IDS = [Actions.accessHosts, 'role', 'days', 'reason', 'value', 'pick', Actions.runModule, Actions.runHosts, Actions.runTarget, 'x'];

const option = fc.oneof(fc.record({ value: fc.oneof(fc.constantFrom('web-01', 'root', 'evans', '7d', '1', 'auto', 'background', 'true', 'uptime', '!refused'), fc.string({ maxLength: 30 })) }), fc.record({ value: fieldValue }), fieldValue);

/** One element's state in Slack's shape (any kind), with values of the right kind or not. */
const elementState = fc.record(
  {
    type: fc.constantFrom('plain_text_input', 'static_select', 'multi_static_select', 'multi_external_select', 'checkboxes', 'radio_buttons', 'datepicker', 'timepicker', 'number_input', 'x'),
    value: fc.oneof(fc.string({ maxLength: 60 }), fc.constant(null), fieldValue),
    selected_option: fc.oneof(option, fc.constant(null)),
    selected_options: fc.oneof(fc.array(option, { maxLength: 5 }), fieldValue),
    selected_date: fc.oneof(fc.constantFrom('2026-12-24', '2026-02-30', '99999-01-01', ''), fc.string({ maxLength: 12 })),
    selected_time: fc.oneof(fc.constantFrom('03:00', '25:61', '3', ''), fc.string({ maxLength: 8 })),
  },
  { requiredKeys: [] },
);

/** view.state.values: block id -> action id -> element state, sometimes another shape. */
export const stateValues = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.constantFrom(...BLOCK_IDS), fc.dictionary(fc.constantFrom(...ACTION_IDS), elementState, { maxKeys: 2 }), { maxKeys: 8 }) },
  { weight: 1, arbitrary: fc.anything() },
);

/** JSON nested `depth` levels: `{"a":{"a":…}}`, as text (JSON.stringify itself would recurse). */
export function nestedJsonText(depth: number, leaf = '1'): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

/** The same as a value, built without recursion. */
export function nestedObject(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let cur = root;
  for (let i = 0; i < depth; i++) {
    const next: Record<string, unknown> = {};
    cur.a = next;
    cur = next;
  }
  return root;
}

/** `n` picked options, as a multi-select sends them. */
export const manyOptions = (n: number, value = (i: number) => `web-${String(i).padStart(5, '0')}`) => Array.from({ length: n }, (_, i) => ({ text: { type: 'plain_text', text: value(i) }, value: value(i) }));

export const MB_TEXT = 'x'.repeat(1024 * 1024);
/** A body's bytes that are not UTF-8: an overlong NUL, a lone continuation byte, a surrogate half, 0xFF. */
export const INVALID_UTF8 = Buffer.from([0xc0, 0x80, 0x80, 0xed, 0xa0, 0x80, 0xff, 0xfe]);
