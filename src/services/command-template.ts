/**
 * Command templates: ticket tasks and modules are shell scripts with `{var}` placeholders.
 *
 * A value is data, never shell syntax. Every value is quoted for the spot it lands in:
 *   - in a plain word (`deploy -g {app}`)              -> `'...'`, with ' written '\''
 *   - inside "..." (`-g "{app}"`, the seed's style)     -> \ $ ` " escaped with a backslash
 *   - inside '...' (`echo 'app={app}'`)                -> ' written '\''
 *   - in an unquoted here-document body                 -> \ $ ` escaped
 *   - in a # comment                                    -> quoted, line breaks turned to spaces
 * Spots where no quoting is safe are refused when the template is parsed (AppError 1100):
 * inside backticks, ${...}, $((...)), $'...', a quoted here-document, a here-document's
 * delimiter, or right after a backslash. Single-quoting alone would not do: inside "..." or
 * a here-document a quoted `'$(id)'` still runs `id`.
 *
 * Literal braces: a brace that is not part of `{name}` stays as written (`awk '{print $1}'`,
 * `{a,b}`), and `{{name}}` is the text `{name}` itself, so `${{HOME}}` renders `${HOME}`.
 *
 * Values reach the shell that runs the rendered script verbatim; a template that hands a value
 * on to another interpreter (`eval`, `sh -c`, `ssh host ...`) must quote it for that one too.
 */
import { AppError, ErrorCode, badParameter } from '../errors.js';
import { escapeInDoubleQuotes, escapeInHeredoc, escapeInSingleQuotes, shellQuote } from '../adapters/exec/shell-quote.js';

export type TemplateValue = string | number | boolean;

/** Where a placeholder sits in the shell script. */
export type QuotingContext = 'word' | 'single' | 'double' | 'heredoc' | 'comment';

export type TemplatePart = { text: string } | { variable: string; context: QuotingContext; heredocDelimiter?: string };

export interface ParsedTemplate {
  parts: TemplatePart[];
  /** Each variable the template uses, once, in order of first use. */
  variables: string[];
}

const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

type Frame =
  | { kind: 'code'; closer: 'none' | 'paren'; depth: number; caseDepth: number }
  | { kind: 'single' | 'double' | 'ansi' | 'backtick' | 'comment' }
  | { kind: 'param'; depth: number }
  | { kind: 'arith'; depth: number }
  | { kind: 'heredoc'; delimiter: string; quoted: boolean; stripTabs: boolean; line: string; lineIsPlain: boolean };

interface PendingHeredoc {
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
}

const WORD_BREAK = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);

/**
 * A small lexer for POSIX sh, precise enough to tell which quoting context each placeholder
 * is in. It reads the template's own text (written by admins), never the values.
 */
class ShellContextLexer {
  private readonly stack: Frame[] = [{ kind: 'code', closer: 'none', depth: 0, caseDepth: 0 }];
  private readonly pending: PendingHeredoc[] = [];
  /** The next character is escaped by a backslash (code, "..." and here-document bodies). */
  private escaped = false;
  /** The last character seen in code context, to know where words start. */
  private prev = '\n';
  private word = '';
  /** Set while reading a here-document's delimiter word after `<<`. */
  private heredocOp: { stripTabs: boolean; started: boolean; text: string; quoted: boolean; quote: string } | null = null;

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  /** The context a placeholder at the current position lands in, or why none is safe. */
  contextHere(): { context: QuotingContext; heredocDelimiter?: string } | { refused: string } {
    if (this.escaped) return { refused: 'right after a backslash' };
    if (this.heredocOp) return { refused: "in a here-document's delimiter" };
    const top = this.top;
    switch (top.kind) {
      case 'code':
        this.prev = 'x';
        this.word += 'x';
        return { context: 'word' };
      case 'single':
        return { context: 'single' };
      case 'double':
        return { context: 'double' };
      case 'comment':
        return { context: 'comment' };
      case 'heredoc':
        if (top.quoted) return { refused: 'in a here-document with a quoted delimiter' };
        top.lineIsPlain = false;
        return { context: 'heredoc', heredocDelimiter: top.delimiter };
      case 'backtick':
        return { refused: 'inside backticks (use $(...) instead)' };
      case 'param':
        return { refused: 'inside ${...}' };
      case 'arith':
        return { refused: 'inside $((...))' };
      case 'ansi':
        return { refused: "inside $'...'" };
    }
  }

  feed(text: string): void {
    for (let i = 0; i < text.length; i++) i = this.step(text, i);
  }

  /** Consumes the character at i (and any it belongs with); returns the last index used. */
  private step(s: string, i: number): number {
    const c = s[i]!;
    const next = s[i + 1];
    const top = this.top;
    if (this.heredocOp) return this.stepHeredocDelimiter(s, i);
    if (this.escaped) {
      this.escaped = false;
      if (top.kind === 'heredoc') this.heredocChar(top, c);
      else this.codeChar(c);
      return i;
    }
    switch (top.kind) {
      case 'single':
        if (c === "'") this.pop();
        return i;
      case 'ansi':
      case 'backtick':
        if (c === '\\') return i + 1;
        if ((top.kind === 'ansi' && c === "'") || (top.kind === 'backtick' && c === '`')) this.pop();
        return i;
      case 'comment':
        if (c === '\n') {
          this.pop();
          return this.step(s, i);
        }
        return i;
      case 'param':
        if (c === '\\') return i + 1;
        if (c === '{') top.depth++;
        else if (c === '}' && top.depth-- === 0) this.pop();
        return i;
      case 'arith':
        if (c === '(') top.depth++;
        else if (c === ')') {
          if (top.depth > 0) top.depth--;
          else if (next === ')') {
            this.pop();
            return i + 1;
          }
        }
        return i;
      case 'double':
        if (c === '\\') this.escaped = true;
        else if (c === '"') this.pop();
        else return this.dollarOrBacktick(s, i);
        return i;
      case 'heredoc':
        if (!top.quoted) {
          if (c === '\\') {
            this.escaped = true;
            top.lineIsPlain = false;
            return i;
          }
          if (c === '$' || c === '`') {
            top.lineIsPlain = false;
            return this.dollarOrBacktick(s, i);
          }
        }
        this.heredocChar(top, c);
        return i;
      case 'code':
        return this.stepCode(top, s, i);
    }
  }

  private stepCode(top: Extract<Frame, { kind: 'code' }>, s: string, i: number): number {
    const c = s[i]!;
    const atWordStart = WORD_BREAK.has(this.prev);
    if (c === '\\') {
      this.escaped = true;
      this.word += 'x';
      this.prev = 'x';
      return i;
    }
    if (c === '#' && atWordStart) {
      this.stack.push({ kind: 'comment' });
      return i;
    }
    if (c === "'") this.stack.push({ kind: 'single' });
    else if (c === '"') this.stack.push({ kind: 'double' });
    else if (c === '$' || c === '`') {
      this.codeChar('x');
      return this.dollarOrBacktick(s, i);
    } else if (c === '<' && s[i + 1] === '<' && s[i + 2] !== '<') {
      const stripTabs = s[i + 2] === '-';
      this.heredocOp = { stripTabs, started: false, text: '', quoted: false, quote: '' };
      this.codeChar('<');
      return stripTabs ? i + 2 : i + 1;
    } else if (c === '<' && s[i + 1] === '<' && s[i + 2] === '<') {
      this.codeChar('<');
      return i + 2;
    } else if (c === '(') top.depth++;
    else if (c === ')') {
      if (top.depth > 0) top.depth--;
      // An unmatched ')' inside `case ... esac` ends a pattern, not the $( ... ).
      else if (top.closer === 'paren' && top.caseDepth === 0) {
        this.pop();
        return i;
      }
    } else if (c === '\n' && this.pending.length > 0) {
      this.codeChar(c);
      this.startNextHeredoc();
      return i;
    }
    this.codeChar(c);
    return i;
  }

  private codeChar(c: string): void {
    const top = this.top;
    if (WORD_BREAK.has(c)) {
      if (top.kind === 'code') {
        if (this.word === 'case') top.caseDepth++;
        else if (this.word === 'esac' && top.caseDepth > 0) top.caseDepth--;
      }
      this.word = '';
    } else this.word += c;
    this.prev = c;
  }

  /** `$(`, `$((`, `${`, `$'` and backticks open nested contexts wherever expansions work. */
  private dollarOrBacktick(s: string, i: number): number {
    const c = s[i]!;
    if (c === '`') {
      this.stack.push({ kind: 'backtick' });
      return i;
    }
    const n1 = s[i + 1];
    if (n1 === '(' && s[i + 2] === '(') {
      this.stack.push({ kind: 'arith', depth: 0 });
      return i + 2;
    }
    if (n1 === '(') {
      this.stack.push({ kind: 'code', closer: 'paren', depth: 0, caseDepth: 0 });
      this.prev = '\n';
      this.word = '';
      return i + 1;
    }
    if (n1 === '{') {
      this.stack.push({ kind: 'param', depth: 0 });
      return i + 1;
    }
    if (n1 === "'" && this.top.kind === 'code') {
      this.stack.push({ kind: 'ansi' });
      return i + 1;
    }
    return i;
  }

  /** Reads the word after `<<`: blanks, then characters up to a word break; quotes mark it quoted. */
  private stepHeredocDelimiter(s: string, i: number): number {
    const op = this.heredocOp!;
    const c = s[i]!;
    if (op.quote) {
      if (c === op.quote) op.quote = '';
      else op.text += c;
      return i;
    }
    if (!op.started && (c === ' ' || c === '\t')) return i;
    if (op.started && WORD_BREAK.has(c)) {
      this.pending.push({ delimiter: op.text, quoted: op.quoted, stripTabs: op.stripTabs });
      this.heredocOp = null;
      this.prev = 'x';
      return this.step(s, i);
    }
    op.started = true;
    if (c === "'" || c === '"') {
      op.quoted = true;
      op.quote = c;
    } else if (c === '\\') {
      op.quoted = true;
      op.text += s[i + 1] ?? '';
      return i + 1;
    } else op.text += c;
    return i;
  }

  private startNextHeredoc(): void {
    const h = this.pending.shift();
    if (h) this.stack.push({ kind: 'heredoc', ...h, line: '', lineIsPlain: true });
  }

  private heredocChar(top: Extract<Frame, { kind: 'heredoc' }>, c: string): void {
    if (c !== '\n') {
      top.line += c;
      return;
    }
    const line = top.stripTabs ? top.line.replace(/^\t+/, '') : top.line;
    const ends = top.lineIsPlain && line === top.delimiter;
    top.line = '';
    top.lineIsPlain = true;
    if (ends) {
      this.pop();
      this.startNextHeredoc();
    }
  }

  private pop(): void {
    const popped = this.stack.pop();
    if (popped?.kind === 'code' && popped.closer === 'paren') this.prev = 'x';
    if (this.stack.length === 0) this.stack.push({ kind: 'code', closer: 'none', depth: 0, caseDepth: 0 });
  }
}

/** Splits a template into text and placeholders and finds each placeholder's quoting context. */
export function parseTemplate(template: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  const variables: string[] = [];
  const lexer = new ShellContextLexer();
  let text = '';
  let last = 0;
  const flushText = (t: string) => {
    text += t;
    lexer.feed(t);
  };
  for (const m of template.matchAll(PLACEHOLDER)) {
    flushText(template.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1] !== undefined) {
      flushText(`{${m[1]}}`);
      continue;
    }
    const variable = m[2]!;
    const where = lexer.contextHere();
    if ('refused' in where) {
      throw badParameter(`{${variable}} is ${where.refused}: a value cannot be quoted safely there; put it in a plain word or in "..."`, {
        variable,
        offset: m.index,
      });
    }
    if (text) parts.push({ text });
    text = '';
    parts.push({ variable, ...where });
    if (!variables.includes(variable)) variables.push(variable);
  }
  flushText(template.slice(last));
  if (text) parts.push({ text });
  return { parts, variables };
}

function quoteFor(part: Extract<TemplatePart, { variable: string }>, value: string): string {
  switch (part.context) {
    case 'word':
      return shellQuote(value);
    case 'single':
      return escapeInSingleQuotes(value);
    case 'double':
      return escapeInDoubleQuotes(value);
    case 'comment':
      return shellQuote(value.replace(/[\r\n]+/g, ' '));
    case 'heredoc': {
      // A line of the value equal to the delimiter would end the here-document early and
      // turn the rest of the value into commands. The first line counts too: the placeholder
      // may stand at the start of a line of the template.
      const delimiter = part.heredocDelimiter ?? '';
      if (value.split('\n').some((line) => line.replace(/^\t+/, '').startsWith(delimiter))) {
        throw badParameter(`the value of {${part.variable}} contains a line starting with the here-document's delimiter ${delimiter}`, {
          variable: part.variable,
        });
      }
      return escapeInHeredoc(value);
    }
  }
}

/**
 * Renders a template with values. A placeholder without a value is AppError 1102 naming it;
 * a value containing a NUL byte (which no shell can carry) is AppError 1100.
 */
export function renderTemplate(template: string | ParsedTemplate, values: Readonly<Record<string, TemplateValue>>): string {
  const parsed = typeof template === 'string' ? parseTemplate(template) : template;
  let out = '';
  for (const part of parsed.parts) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    if (!Object.hasOwn(values, part.variable)) {
      throw new AppError(ErrorCode.MissingField, `{${part.variable}} has no value`, { field: part.variable });
    }
    const value = String(values[part.variable]);
    if (value.includes('\0')) throw badParameter(`the value of {${part.variable}} contains a NUL byte`, { variable: part.variable });
    out += quoteFor(part, value);
  }
  return out;
}
