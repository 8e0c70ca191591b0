/** Small Block Kit constructors; everything in blocks/ is pure data in, data out. */
import type { KnownBlock } from '@slack/types';
import { cut, LIMITS, printable } from './limits.js';

export type Block = KnownBlock;

export interface Message {
  text: string;
  blocks: Block[];
}

/** Slack limits a section's text to 3000 characters; longer text is cut with "…" (limits.ts). */
export function mrkdwn(text: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: cut(printable(text), LIMITS.sectionText) };
}

export function plain(text: string, max: number = LIMITS.plainText): { type: 'plain_text'; text: string; emoji: boolean } {
  return { type: 'plain_text', text: cut(printable(text), max), emoji: true };
}

export function section(text: string): Block {
  return { type: 'section', text: mrkdwn(text) };
}

export function header(text: string): Block {
  return { type: 'header', text: plain(text) };
}

export function context(text: string): Block {
  return { type: 'context', elements: [mrkdwn(text)] };
}

export function divider(): Block {
  return { type: 'divider' };
}

/** Escapes text for mrkdwn so user-supplied values cannot inject mentions or links. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function code(text: string): string {
  return '`' + esc(text).replace(/`/g, "'") + '`';
}

/**
 * Splits rows into sections of at most `size` lines (a section holds 3000 characters), at
 * most `maxSections` of them (a message holds 50 blocks); rows beyond are counted in a note.
 */
export function rowsToSections(rows: string[], size = 20, maxSections = LIMITS.messageBlocks - 10): Block[] {
  const out: Block[] = [];
  const shown = Math.min(rows.length, size * maxSections);
  for (let i = 0; i < shown; i += size) out.push(section(rows.slice(i, Math.min(i + size, shown)).join('\n')));
  if (rows.length > shown) out.push(context(`… and ${rows.length - shown} more not shown`));
  return out;
}
