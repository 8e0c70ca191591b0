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
 * Arithmetic is refused too, in any quoting: bash evaluates `a[$(id)]` as an array subscript,
 * running `id`, wherever it evaluates a value as a number or a variable name. So a
 * placeholder is refused inside `[[ ... ]]` (`-eq` and friends), `(( ... ))`, `$[ ... ]`, an
 * array subscript `name[...]`, the arguments of `let`, of commands that take variable names
 * (`unset`, `read`, `mapfile`, `readarray`, `getopts`, `printf -v`), in the name part of a
 * `declare`/`local`/`export`/... argument, and anywhere after such a command given `-i` or
 * `-n` (later assignments to those variables are arithmetic). The lexer sees only the
 * template, so a variable made integer elsewhere (a sourced file) is beyond it.
 *
 * Values also reach arithmetic through variables (`x={v}; [[ $x -eq 1 ]]` runs the same
 * `a[$(id)]`), so a template with placeholders may not use bash arithmetic at all: `$((...))`,
 * `((...))`, `$[...]`, `let`, `declare -i`/`-n`, `[[ ... ]]` with `-eq`-style or `-v` tests,
 * `${!name}`, `${name:offset}`, or a subscript holding an expansion (`${a[$i]}`, `a[$i]=`).
 * Such a template is refused at parse time; POSIX sh (dash) has none of these.
 * Command names are read as the shell reads them (`"let"`, `\let`, `builtin let`,
 * `command let`, a line continuation), and a value is refused where it becomes code for
 * another interpreter: `eval`, `sh -c` (and other shells), `su -c`, `ssh`.
 * A placeholder right after an unquoted or double-quoted `$` is refused: `${v}` would render
 * `$(...)` or `${...}` around the value.
 *
 * A here-document is checked again after rendering: no rendered line that a value touches may
 * start with the delimiter (`E{v}` with `OF` would otherwise close it and run what follows;
 * bash also ends one inside `$(...)` at a line such as `EOF)`).
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

/** What a code frame knows of the simple command being read, to spot arithmetic contexts. */
interface CommandState {
  /** The next word is a command name (after a separator, a keyword or an assignment). */
  atCommand: boolean;
  /** The command's name once read. */
  name: string | null;
  /** Its arguments so far (unquoted text only; quoted parts and expansions read as 'x'). */
  args: string[];
  /** Inside `[[ ... ]]`. */
  test: boolean;
}

type CodeFrame = { kind: 'code'; closer: 'none' | 'paren'; depth: number; caseDepth: number; word: string; cmd: CommandState };

type Frame =
  | CodeFrame
  | { kind: 'single' | 'double' | 'ansi' | 'backtick' | 'comment' }
  | { kind: 'param'; depth: number; text: string }
  | { kind: 'arith'; depth: number; close: '))' | ']' }
  | { kind: 'heredoc'; delimiter: string; quoted: boolean; stripTabs: boolean; line: string; lineIsPlain: boolean };

interface PendingHeredoc {
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
}

const WORD_BREAK = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);
/** Characters that end a simple command (outside `[[ ... ]]`). */
const COMMAND_BREAK = new Set(['\n', ';', '&', '|', '(', ')']);
/** Words after which the next word is still a command name. */
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', '{', '}', 'time', 'esac']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
/** A word that has opened an array subscript and not closed it yet. */
const OPEN_SUBSCRIPT = /^(?:[A-Za-z_][A-Za-z0-9_]*)?\[[^\]]*$/;
/** Commands whose arguments bash evaluates as arithmetic or as variable names. */
const NAME_OR_ARITH_COMMANDS = new Set(['let', 'unset', 'read', 'mapfile', 'readarray', 'getopts']);
/** Words that run the next word as the command (options skipped). */
const WRAPPERS = new Set(['builtin', 'command', 'coproc', 'exec', 'nohup', 'time', 'sudo', 'env', 'nice']);
/** Shells whose `-c` argument is a script. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'zsh', 'busybox']);
/** `[[ ... ]]` operators that evaluate operands as arithmetic or names. */
const ARITHMETIC_TESTS = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge', '-v', '-R']);
const DECLARATION_COMMANDS = new Set(['declare', 'typeset', 'local', 'export', 'readonly']);

function newCodeFrame(closer: 'none' | 'paren'): CodeFrame {
  return { kind: 'code', closer, depth: 0, caseDepth: 0, word: '', cmd: { atCommand: true, name: null, args: [], test: false } };
}

/** Why a placeholder in this command (at the word being read) lands in arithmetic, or null. */
function arithmeticReason(frame: CodeFrame): string | null {
  const { cmd, word } = frame;
  if (cmd.test) return 'inside [[ ... ]] (bash reads operands of -eq and the like as arithmetic)';
  if (OPEN_SUBSCRIPT.test(word)) return 'inside an array subscript (bash evaluates it as arithmetic)';
  const name = cmd.name;
  if (name === null) return null;
  if (NAME_OR_ARITH_COMMANDS.has(name)) return `an argument of ${name} (bash reads it as arithmetic or a variable name)`;
  if (name === 'eval') return 'an argument of eval (it runs as shell code)';
  if ((SHELLS.has(name) || name === 'su') && cmd.args.some((a) => /^-[A-Za-z]*c/.test(a))) return `the script of ${name} -c (it runs as shell code)`;
  if (name === 'ssh') return 'an argument of ssh (the remote shell reads it as code)';
  if ((name === '[' || name === 'test') && cmd.args.some((a) => a === '-v' || a === '-R')) return `a ${name} -v test (bash reads a variable name)`;
  if (name === 'wait' && cmd.args.some((a) => /^-[A-Za-z]*p/.test(a))) return 'an argument of wait -p (a variable name)';
  if (name === 'printf' && cmd.args.some((a) => a === '-v' || /^-[^-]*v/.test(a))) return 'an argument of printf -v (a variable name)';
  if (DECLARATION_COMMANDS.has(name)) {
    if (cmd.args.some((a) => /^[-+][A-Za-z]*[in]/.test(a))) return `in ${name} with -i or -n (bash evaluates the values as arithmetic or names)`;
    if (!word.includes('=')) return `in the name part of a ${name} argument`;
  }
  return null;
}

/**
 * A small lexer for POSIX sh, precise enough to tell which quoting context each placeholder
 * is in. It reads the template's own text (written by admins), never the values.
 */
class ShellContextLexer {
  private readonly stack: Frame[] = [newCodeFrame('none')];
  private readonly pending: PendingHeredoc[] = [];
  /** The next character is escaped by a backslash (code, "..." and here-document bodies). */
  private escaped = false;
  /** The last character seen in code context, to know where words start. */
  private prev = '\n';
  /** A `declare -i` / `-n` (or typeset, local, ...) was read: later assignments may be arithmetic. */
  private attributesDeclared = false;
  /** The first bash-arithmetic construct of the template, if any (see the header). */
  arithmeticSeen: string | null = null;
  /** The last character fed was a `$` that starts nothing yet (end of a text chunk). */
  private danglingDollar = false;
  /** Set while reading a here-document's delimiter word after `<<`. */
  private heredocOp: { stripTabs: boolean; started: boolean; text: string; quoted: boolean; quote: string } | null = null;

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  /** The innermost code frame (the command a placeholder in quotes belongs to). */
  private get code(): CodeFrame {
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const f = this.stack[i]!;
      if (f.kind === 'code') return f;
    }
    throw new Error('lexer stack without a code frame');
  }

  /** A placeholder anywhere inside an arithmetic context, at any depth, is refused. */
  private arithmeticHere(): string | null {
    if (this.attributesDeclared) return 'after a declare -i or -n (bash evaluates values assigned to such variables as arithmetic or names)';
    for (const f of this.stack) {
      if (f.kind === 'arith') return f.close === ']' ? 'inside $[ ... ]' : 'inside an arithmetic (( ... ))';
      if (f.kind === 'code') {
        // Outer frames count too: `let x=$(echo {n})` hands the output to let.
        const reason = arithmeticReason(f);
        if (reason) return reason;
      }
    }
    return null;
  }

  /** The context a placeholder at the current position lands in, or why none is safe. */
  contextHere(): { context: QuotingContext; heredocDelimiter?: string } | { refused: string } {
    if (this.escaped) return { refused: 'right after a backslash' };
    if (this.heredocOp) return { refused: "in a here-document's delimiter" };
    const top0 = this.top;
    if (this.danglingDollar && (top0.kind === 'code' || top0.kind === 'double' || (top0.kind === 'heredoc' && !top0.quoted))) {
      return { refused: 'right after a $ (the value would become ${...} or $(...))' };
    }
    const arithmetic = this.arithmeticHere();
    if (arithmetic) return { refused: arithmetic };
    const top = this.top;
    switch (top.kind) {
      case 'code':
        this.prev = 'x';
        top.word += 'x';
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
        return { refused: top.close === ']' ? 'inside $[...]' : 'inside $((...))' };
      case 'ansi':
        return { refused: "inside $'...'" };
    }
  }

  feed(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const start = i;
      const escaped = this.escaped;
      i = this.step(text, i);
      this.danglingDollar = text[start] === '$' && !escaped && i === start && start === text.length - 1;
    }
  }

  private sawArithmetic(what: string): void {
    this.arithmeticSeen ??= what;
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
      else if (top.kind === 'code') {
        // `\<newline>` joins lines; any other escaped character is literal text of the word.
        if (c !== '\n') {
          top.word += c;
          this.prev = 'x';
        }
      } else this.codeChar(c);
      return i;
    }
    switch (top.kind) {
      case 'single':
        if (c === "'") this.pop();
        else this.quotedChar(c);
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
        else if (c === '}' && top.depth-- === 0) {
          this.checkParameter(top.text);
          this.pop();
          return i;
        }
        top.text += c;
        return i;
      case 'arith':
        if (top.close === ']') {
          if (c === '[') top.depth++;
          else if (c === ']' && top.depth-- === 0) this.pop();
          return i;
        }
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
        else if (c === '$' || c === '`') return this.dollarOrBacktick(s, i);
        else this.quotedChar(c);
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

  private stepCode(top: CodeFrame, s: string, i: number): number {
    const c = s[i]!;
    const atWordStart = WORD_BREAK.has(this.prev);
    if (c === '\\') {
      this.escaped = true;
      this.prev = 'x';
      return i;
    }
    // `((` at a word start: bash's arithmetic command, or `for ((...))`.
    if (c === '(' && s[i + 1] === '(' && atWordStart && top.word === '' && !top.cmd.test) {
      this.sawArithmetic('((...))');
      this.stack.push({ kind: 'arith', depth: 0, close: '))' });
      return i + 1;
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
    const top = this.code;
    if (WORD_BREAK.has(c)) {
      if (top.word === 'case') top.caseDepth++;
      else if (top.word === 'esac' && top.caseDepth > 0) top.caseDepth--;
      this.endWord(top);
      if (COMMAND_BREAK.has(c) && !top.cmd.test) top.cmd = { atCommand: true, name: null, args: [], test: false };
    } else top.word += c;
    this.prev = c;
  }

  /** A character inside '...' or "..." belongs to the code word around it (`"let"` is let). */
  private quotedChar(c: string): void {
    const below = this.stack[this.stack.length - 2];
    if (below?.kind === 'code') below.word += c;
  }

  /** `${!name}`, `${name:offset}` and `${name[sub]}` evaluate arithmetic or names. */
  private checkParameter(text: string): void {
    if (text.startsWith('!')) this.sawArithmetic('${!name} (indirection)');
    else if (/^#?[A-Za-z_][A-Za-z0-9_]*\[/.test(text)) this.sawArithmetic('${name[subscript]}');
    else if (/^[A-Za-z_][A-Za-z0-9_]*:(?![-=?+])/.test(text) || /^[0-9@*]:(?![-=?+])/.test(text)) this.sawArithmetic('${name:offset}');
  }

  /** A word of code is complete: it names the command, is one of its arguments, or a keyword. */
  private endWord(frame: CodeFrame): void {
    // The word as the shell will see it after quote removal: `"let"` and `'let'` are let.
    const word = frame.word.replace(/["']/g, '');
    frame.word = '';
    if (word === '') return;
    const cmd = frame.cmd;
    if (cmd.test) {
      if (word === ']]') cmd.test = false;
      else if (ARITHMETIC_TESTS.has(word)) this.sawArithmetic(`[[ ... ${word} ... ]]`);
      return;
    }
    if (!cmd.atCommand) {
      cmd.args.push(word);
      if (cmd.name !== null && DECLARATION_COMMANDS.has(cmd.name) && /^[-+][A-Za-z]*[in]/.test(word)) {
        this.attributesDeclared = true;
        this.sawArithmetic(`${cmd.name} ${word}`);
      }
      return;
    }
    if (KEYWORDS.has(word) || ASSIGNMENT.test(word)) return;
    if (word === '[[') {
      cmd.test = true;
      return;
    }
    // `builtin let`, `command -p let`, `env A=1 let`: the wrapped word is the command.
    if (cmd.name !== null && WRAPPERS.has(cmd.name) && cmd.args.length === 0 && (word.startsWith('-') || word.includes('='))) return;
    if (WRAPPERS.has(word) && cmd.name === null) {
      cmd.name = word;
      return;
    }
    if (cmd.name !== null && WRAPPERS.has(cmd.name) && cmd.args.length === 0) cmd.name = null;
    cmd.atCommand = false;
    cmd.name = word;
    if (word === 'let') this.sawArithmetic('let');
  }

  /** `$(`, `$((`, `${`, `$'` and backticks open nested contexts wherever expansions work. */
  private dollarOrBacktick(s: string, i: number): number {
    const c = s[i]!;
    if (c === '`') {
      this.stack.push({ kind: 'backtick' });
      return i;
    }
    const n1 = s[i + 1];
    // An expansion inside an open subscript (`a[$i]=`, `a[$(cmd)]`) is evaluated as arithmetic.
    if (OPEN_SUBSCRIPT.test(this.code.word)) this.sawArithmetic('a subscript holding an expansion');
    if (n1 === '(' && s[i + 2] === '(') {
      this.sawArithmetic('$((...))');
      this.stack.push({ kind: 'arith', depth: 0, close: '))' });
      return i + 2;
    }
    if (n1 === '[') {
      this.sawArithmetic('$[...]');
      this.stack.push({ kind: 'arith', depth: 0, close: ']' });
      return i + 1;
    }
    if (n1 === '(') {
      this.stack.push(newCodeFrame('paren'));
      this.prev = '\n';
      return i + 1;
    }
    if (n1 === '{') {
      this.stack.push({ kind: 'param', depth: 0, text: '' });
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
    if (this.stack.length === 0) this.stack.push(newCodeFrame('none'));
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
  if (lexer.arithmeticSeen && variables.length > 0) {
    throw badParameter(
      `this template uses bash arithmetic (${lexer.arithmeticSeen}) and has placeholders ({${variables[0]}}): a value can reach the arithmetic through a variable and run code; compute with expr or a script instead`,
      { variable: variables[0], arithmetic: lexer.arithmeticSeen },
    );
  }
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
  const heredocSpans: HeredocSpan[] = [];
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
    const quoted = quoteFor(part, value);
    if (part.context === 'heredoc') heredocSpans.push({ start: out.length, end: out.length + quoted.length, delimiter: part.heredocDelimiter ?? '', variable: part.variable });
    out += quoted;
  }
  for (const span of heredocSpans) assertHeredocStaysOpen(out, span);
  return out;
}

interface HeredocSpan {
  /** Where the rendered value stands in the output. */
  start: number;
  end: number;
  delimiter: string;
  variable: string;
}

/**
 * The template's text on the value's first and last line joins the value: `E{v}` with `OF`
 * makes a line `EOF`. So no whole rendered line the value touches may start with the
 * delimiter (leading tabs stripped): bash ends a here-document inside `$(...)` at `EOF)`.
 */
function assertHeredocStaysOpen(out: string, span: HeredocSpan): void {
  const from = out.lastIndexOf('\n', span.start - 1) + 1;
  const newline = out.indexOf('\n', span.end);
  const lines = out.slice(from, newline === -1 ? out.length : newline).split('\n');
  if (lines.some((line) => line.replace(/^\t+/, '').startsWith(span.delimiter))) {
    throw badParameter(`the value of {${span.variable}} would make a line starting with the here-document's delimiter ${span.delimiter}`, { variable: span.variable });
  }
}
