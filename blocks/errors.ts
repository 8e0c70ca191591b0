/** The one safe message a person sees when something is refused or fails. */
import type { AppError } from '../src/errors.js';
import { section, type Message } from './kit.js';
import { cut, LIMITS, printable } from './limits.js';

export function errorMessage(err: Pick<AppError, 'code' | 'toUserText'>): Message {
  const icon = err.code >= 1300 ? ':warning:' : ':no_entry:';
  // Error texts quote what was typed: printable and within one section, code first.
  const text = cut(printable(`${icon} ${err.toUserText()}`), LIMITS.sectionText);
  return { text, blocks: [section(text)] };
}

/** The same refusal as a form's field error (`response_action: errors`), code first. */
export function fieldError(err: Pick<AppError, 'toUserText'>): string {
  return cut(printable(err.toUserText()), LIMITS.fieldError);
}

export function infoMessage(text: string): Message {
  return { text, blocks: [section(text)] };
}
