/** The one safe message a person sees when something is refused or fails. */
import type { AppError } from '../src/errors.js';
import { section, type Message } from './kit.js';

export function errorMessage(err: Pick<AppError, 'code' | 'toUserText'>): Message {
  const icon = err.code >= 1300 ? ':warning:' : ':no_entry:';
  const text = `${icon} ${err.toUserText()}`;
  return { text, blocks: [section(text)] };
}

export function infoMessage(text: string): Message {
  return { text, blocks: [section(text)] };
}
