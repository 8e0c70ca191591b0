/**
 * Properties of the command parsers over any string: the outcome is a valid request or a coded
 * AppError of the 1100 family, never another kind of throw; every string in a valid request is
 * bounded and free of control characters, and a refusal's text stays short whatever came in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAccess, parseApprovalValue, parseExtendValue, parseHostSearch, parseRejectMeta, parseRequestModal } from '../../commands/access-parse.js';
import { parseOpsgate, TEXT_LIMIT, WORD_LIMIT } from '../../commands/opsgate-parse.js';
import { AppError } from '../../src/errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** Runs a parser: its result, or the AppError it threw; anything else fails the property. */
function outcome<T>(parse: () => T): { ok: true; value: T } | { ok: false; err: AppError } {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (!(err instanceof AppError)) throw new Error(`not an AppError: ${String(err)}`);
    return { ok: false, err };
  }
}

function expectCodedRefusal(err: AppError): void {
  expect([1100, 1101, 1102]).toContain(err.code);
  // The message quotes input only cut: bounded whatever the input's size.
  expect(err.toUserText().length).toBeLessThan(400);
  expect(CONTROL.test(err.toUserText())).toBe(false);
}

/** Every string inside a valid request is bounded and printable. */
function expectBoundedStrings(value: unknown, max: number): void {
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      expect(v.length).toBeLessThanOrEqual(max);
      expect(CONTROL.test(v)).toBe(false);
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
  };
  visit(value);
}

const words = ['help', 'whoami', 'sync', 'reload', 'hosts', 'projects', 'products', 'teams', 'audit', 'grant', 'revoke', 'team', 'org', 'create', 'add', 'remove', 'use', 'admin', 'global'];
const accessWords = ['request', 'mine', 'requests', 'approvals', 'host', 'all', 'revoke', 'cancel', 'root', 'evans', 'readonly', '7d', '1d', 'web-01,web-02', 'AR-7K2M9Q'];
const prefixed = fc.tuple(fc.constantFrom('actor:', 'action:', 'target:', 'limit:', 'env:', 'org:', 'project:', 'person:', 'team:', 'state:', 'host:', 'organization:', 'inventory:', '<@U'), fc.string({ maxLength: 12 })).map(([p, s]) => p + s);
const special = fc.constantFrom('\u0000', '\u0007', '\u001b[2J', '"', "'", '  ', '\n', '\t', '1e2', '0x10', '-1', '201', '$regex', '{"$ne":null}', '…', '\uD83D\uDE00', 'x'.repeat(250));
/** Command-like texts: real words, filters and hostile pieces in any order. */
const commandText = (vocab: string[]) =>
  fc.array(fc.oneof(fc.constantFrom(...vocab), prefixed, special, fc.string({ maxLength: 20 })), { maxLength: 12 }).map((parts) => parts.join(' '));
const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ minLength: TEXT_LIMIT - 5, maxLength: TEXT_LIMIT + 5 }));

const runs = { numRuns: 1_000 };

describe('parser properties (fast-check)', () => {
  it('parseOpsgate: any string is a valid request or a coded refusal', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, commandText(words)), (text) => {
        const r = outcome(() => parseOpsgate(text));
        if (!r.ok) return expectCodedRefusal(r.err);
        expect(typeof r.value.sub).toBe('string');
        expectBoundedStrings(r.value, TEXT_LIMIT);
        if (r.value.sub === 'audit' && r.value.limit !== undefined) expect(Number.isInteger(r.value.limit) && r.value.limit >= 1 && r.value.limit <= 200).toBe(true);
        if (r.value.sub === 'hosts') for (const w of r.value.filter.split(' ')) expect(w.length).toBeLessThanOrEqual(WORD_LIMIT);
      }),
      runs,
    );
  });

  it('parseAccess: any string is a valid request or a coded refusal', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, commandText(accessWords)), (text) => {
        const r = outcome(() => parseAccess(text));
        if (!r.ok) return expectCodedRefusal(r.err);
        expectBoundedStrings(r.value, TEXT_LIMIT);
        if (r.value.sub === 'request' && r.value.inline) expect(Number.isInteger(r.value.inline.days)).toBe(true);
      }),
      runs,
    );
  });

  it('button values and form metadata: anything is a valid value or a coded refusal', () => {
    const json = fc.oneof(fc.string({ maxLength: 80 }), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ r: fc.string({ maxLength: 12 }), l: fc.oneof(fc.integer(), fc.double(), fc.string()) }).map((v) => JSON.stringify(v)));
    fc.assert(
      fc.property(json, (value) => {
        for (const parse of [parseApprovalValue, parseExtendValue, parseRejectMeta, parseHostSearch]) {
          const r = outcome(() => parse(value));
          if (!r.ok) expectCodedRefusal(r.err);
        }
      }),
      runs,
    );
  });

  it('request form values: any JSON shape is a valid request or a coded refusal', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (values) => {
        const r = outcome(() => parseRequestModal(values));
        if (!r.ok) return expectCodedRefusal(r.err);
        for (const h of r.value.hosts) expect(h).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/);
      }),
      runs,
    );
  });
});
