/**
 * Slack's mrkdwn as DOM nodes: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, links
 * `<url|text>`, user and channel mentions, `<!here>`, emoji shortcodes, and the three escapes
 * (&amp; &lt; &gt;). Everything is built with text nodes: nothing the bot sends is ever parsed
 * as HTML, and only http(s) and mailto links become links.
 */
import { EMOJI } from './emoji.js';

export interface Names {
  user(id: string): string | undefined;
  channel(id: string): string | undefined;
}

const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

const SAFE_HREF = /^(https?:\/\/|mailto:)/i;

// One alternative per kind; the first that matches at the earliest place wins.
const INLINE =
  /`([^`\n]+)`|<([^<>\n]+)>|(?<![\p{L}\p{N}*])\*(?!\s)([^*\n]+?)\*(?![\p{L}\p{N}*])|(?<![\p{L}\p{N}_])_(?!\s)([^_\n]+?)_(?![\p{L}\p{N}_])|(?<![\p{L}\p{N}~])~(?!\s)([^~\n]+?)~(?![\p{L}\p{N}~])|:([a-z0-9_+'-]+):/giu;

function el(tag: string, className: string | undefined, children: Node[]): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.append(...children);
  return e;
}

/** `<…>`: a link, a mention or a special; the fallback after `|` when there is one. */
function angle(inner: string, names: Names): Node {
  const [target = '', label] = splitOnce(inner, '|');
  if (target.startsWith('@')) {
    const id = target.slice(1);
    return el('span', 'mention', [document.createTextNode(`@${label ?? names.user(id) ?? id}`)]);
  }
  if (target.startsWith('#')) {
    const id = target.slice(1);
    return el('span', 'mention', [document.createTextNode(`#${label ?? names.channel(id) ?? id}`)]);
  }
  if (target.startsWith('!date^')) {
    const [, seconds, format = '{date_num} {time}'] = target.split('^');
    const at = new Date(Number(seconds) * 1000);
    const shown = Number.isFinite(at.getTime()) ? formatDate(at, format) : unescape(label ?? target);
    const time = el('time', 'date', [document.createTextNode(shown)]);
    if (Number.isFinite(at.getTime())) time.setAttribute('datetime', at.toISOString());
    return time;
  }
  if (target.startsWith('!')) {
    const [special = ''] = target.slice(1).split('^');
    const shown = label ?? (special === 'here' || special === 'channel' || special === 'everyone' ? `@${special}` : special);
    return el('span', 'mention', [document.createTextNode(unescape(shown))]);
  }
  const href = unescape(target);
  const text = document.createTextNode(unescape(label ?? target));
  if (!SAFE_HREF.test(href)) return text;
  const a = el('a', undefined, [text]) as HTMLAnchorElement;
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

/** Slack's `<!date^…>` tokens, in the reader's own zone as Slack shows them. */
function formatDate(at: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const fmt = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat(undefined, o).format(at);
  const tokens: Record<string, () => string> = {
    date_num: () => `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`,
    date: () => fmt({ year: 'numeric', month: 'long', day: 'numeric' }),
    date_short: () => fmt({ year: 'numeric', month: 'short', day: 'numeric' }),
    date_long: () => fmt({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    date_pretty: () => fmt({ year: 'numeric', month: 'long', day: 'numeric' }),
    date_short_pretty: () => fmt({ year: 'numeric', month: 'short', day: 'numeric' }),
    date_long_pretty: () => fmt({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    time: () => `${pad(at.getHours())}:${pad(at.getMinutes())}`,
    time_secs: () => `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`,
    ago: () => fmt({ dateStyle: 'medium', timeStyle: 'short' }),
  };
  return unescape(format).replace(/\{(\w+)\}/g, (m, t: string) => tokens[t]?.() ?? m);
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** One line's inline formatting. */
export function inline(text: string, names: Names): Node[] {
  const out: Node[] = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > at) out.push(document.createTextNode(unescape(text.slice(at, m.index))));
    at = m.index + m[0].length;
    const [, code, link, bold, italic, strike, emoji] = m;
    if (code !== undefined) out.push(el('code', undefined, [document.createTextNode(unescape(code))]));
    else if (link !== undefined) out.push(angle(link, names));
    else if (bold !== undefined) out.push(el('strong', undefined, inline(bold, names)));
    else if (italic !== undefined) out.push(el('em', undefined, inline(italic, names)));
    else if (strike !== undefined) out.push(el('s', undefined, inline(strike, names)));
    else if (emoji !== undefined) out.push(document.createTextNode(EMOJI[emoji.toLowerCase()] ?? m[0]));
  }
  if (at < text.length) out.push(document.createTextNode(unescape(text.slice(at))));
  return out;
}

/** Lines with inline formatting; consecutive `>` lines grouped into one quote. */
function paragraphs(text: string, names: Names): Node[] {
  const out: Node[] = [];
  let quote: HTMLElement | null = null;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const q = /^(?:>|&gt;) ?(.*)$/.exec(line);
    if (q) {
      if (quote) quote.append(document.createElement('br'));
      else out.push((quote = el('blockquote', undefined, [])));
      quote.append(...inline(q[1] ?? '', names));
      return;
    }
    quote = null;
    out.push(...inline(line, names));
    const next = lines[i + 1];
    if (next !== undefined && !/^(?:>|&gt;)/.test(next)) out.push(document.createElement('br'));
  });
  return out;
}

/** A whole mrkdwn text as nodes to put in a block element. */
export function mrkdwn(text: string, names: Names): Node[] {
  const out: Node[] = [];
  const parts = text.split('```');
  parts.forEach((part, i) => {
    // Odd parts sit between fences; an unclosed fence is shown as typed.
    if (i % 2 === 1 && i < parts.length - 1) out.push(el('pre', undefined, [document.createTextNode(unescape(part.replace(/^\n/, '')))]));
    else out.push(...paragraphs(i % 2 === 1 ? '```' + part : part, names));
  });
  return out;
}

/** A text object ({type: 'plain_text' | 'mrkdwn', text}) as nodes; emoji in plain text as Slack shows them. */
export function textObject(t: unknown, names: Names): Node[] {
  if (!t || typeof t !== 'object') return [];
  const o = t as { type?: unknown; text?: unknown; verbatim?: unknown };
  const text = typeof o.text === 'string' ? o.text : '';
  if (o.type === 'mrkdwn') return mrkdwn(text, names);
  return [document.createTextNode(text.replace(/:([a-z0-9_+'-]+):/gi, (m, name: string) => EMOJI[name.toLowerCase()] ?? m))];
}

/** The plain text of a text object, for labels and accessible names. */
export function plainOf(t: unknown): string {
  if (!t || typeof t !== 'object') return '';
  const text = (t as { text?: unknown }).text;
  return typeof text === 'string' ? unescape(text) : '';
}
