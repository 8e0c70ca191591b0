/**
 * Slack's size limits and the one rule every message follows: an echoed value is made
 * printable and cut with "…", and a message or view never exceeds what Slack accepts. Slack
 * drops an oversized message whole, so the person would see nothing at all; cutting keeps the
 * answer (and its error code) readable.
 */
import type { HomeView, ModalView } from '@slack/types';
import type { Block, Message } from './kit.js';

export const LIMITS = {
  /** A message's top-level `text`. */
  text: 40_000,
  /** A section's (or context element's) mrkdwn text. */
  sectionText: 3_000,
  /** plain_text in headers, buttons, options and modal titles. */
  plainText: 150,
  /** An option's text in a select menu. */
  optionText: 75,
  messageBlocks: 50,
  viewBlocks: 100,
  /** Options in a static or external select. */
  options: 100,
  /** A response_action: errors message per field. */
  fieldError: 150,
  /** An echoed value inside one of our own sentences ("got …"). */
  echo: 60,
} as const;

// Control characters except tab, newline and carriage return, plus DEL and the C1 range: shown as U+FFFD.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

/** The first control character in `text` (what input parsers refuse), or null. */
export function firstControlChar(text: string): string | null {
  return new RegExp(CONTROL.source).exec(text)?.[0] ?? null;
}

/** Replaces control characters so nothing raw reaches Slack (or a terminal reading logs). */
export function printable(text: string): string {
  return text.replace(CONTROL, '\uFFFD');
}

/** Cuts to at most `max` characters (UTF-16 units), ending in "…" when cut. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  // Do not split a surrogate pair.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
  return text.slice(0, end) + '…';
}

/** A value a person typed, quoted back in one of our sentences: printable and short. */
export function echo(value: string, max: number = LIMITS.echo): string {
  return cut(printable(value), max);
}

type AnyBlock = Record<string, unknown> & { type: string };

function fitText<T>(t: T, max: number): T {
  if (!t || typeof t !== 'object') return t;
  const o = t as { text?: unknown };
  if (typeof o.text !== 'string') return t;
  return { ...t, text: cut(printable(o.text), max) };
}

/** One block within its own limits: section/context text, header and field texts. */
export function fitBlock(block: Block): Block {
  const b = block as unknown as AnyBlock;
  switch (b.type) {
    case 'section': {
      const out: AnyBlock = { ...b };
      if (b.text) out.text = fitText(b.text, LIMITS.sectionText);
      if (Array.isArray(b.fields)) out.fields = (b.fields as unknown[]).slice(0, 10).map((f) => fitText(f, 2_000));
      return out as unknown as Block;
    }
    case 'context':
      return { ...b, elements: ((b.elements as unknown[]) ?? []).slice(0, 10).map((e) => fitText(e, LIMITS.sectionText)) } as unknown as Block;
    case 'header':
      return { ...b, text: fitText(b.text, LIMITS.plainText) } as unknown as Block;
    default:
      return block;
  }
}

function fitBlocks(blocks: Block[], max: number): Block[] {
  const fitted = blocks.map(fitBlock);
  if (fitted.length <= max) return fitted;
  const note: Block = { type: 'context', elements: [{ type: 'mrkdwn', text: `… ${fitted.length - (max - 1)} more blocks not shown` }] };
  return [...fitted.slice(0, max - 1), note];
}

/** A message as Slack accepts it: text, every block and the block count within limits. */
export function fitMessage<M extends Message>(m: M): M {
  return { ...m, text: cut(printable(m.text), LIMITS.text), blocks: fitBlocks(m.blocks, LIMITS.messageBlocks) };
}

/** A modal or Home view as Slack accepts it (100 blocks). */
export function fitView<V extends HomeView | ModalView>(v: V): V {
  return { ...v, blocks: fitBlocks(v.blocks as Block[], LIMITS.viewBlocks) };
}

/** At most 100 options, each text within 75 characters. */
export function fitOptions<O extends { text: { text: string } }>(options: O[]): O[] {
  return options.slice(0, LIMITS.options).map((o) => ({ ...o, text: { ...o.text, text: cut(printable(o.text.text), LIMITS.optionText) } }));
}
