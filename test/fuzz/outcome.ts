/**
 * What every fuzz property asks of a parser or loader: it returns, or it throws an AppError of
 * the 1100 family whose text is short, printable and names no internals. Any other throw (a
 * TypeError, a RangeError from a recursion, a library's own error) fails the property and
 * fast-check prints the input that caused it.
 */
import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';

// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/** What a stack trace or an internal error leaks: frames, source paths, error class names. */
export const INTERNALS = /\n\s+at |\bat .*\(.*:\d+:\d+\)|node_modules|\.ts:\d+|\.js:\d+|\b(TypeError|RangeError|ReferenceError|SyntaxError|Error):/;

export type Outcome<T> = { ok: true; value: T } | { ok: false; err: AppError };

function notCoded(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  return new Error(`threw ${e.constructor.name}, not a coded AppError: ${e.message.slice(0, 300)}`);
}

export function outcome<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (!(err instanceof AppError)) throw notCoded(err);
    return { ok: false, err };
  }
}

export async function outcomeAsync<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    if (!(err instanceof AppError)) throw notCoded(err);
    return { ok: false, err };
  }
}

/** A refusal of bad input: 1100, 1101 or 1102, its text bounded and free of internals. */
export function expectCodedRefusal(err: AppError, maxLength = 600): void {
  expect([1100, 1101, 1102]).toContain(err.code);
  const text = err.toUserText();
  expect(text).toMatch(/^\[11\d\d\] /);
  expect(text.length).toBeLessThan(maxLength);
  expect(text).not.toMatch(INTERNALS);
}

/** Fixed seeds: the same inputs on every run, so a failure reproduces; the counterexample is printed. */
export const fuzzRuns = (numRuns: number, seed: number) => ({ numRuns, seed, verbose: 1 as const });
