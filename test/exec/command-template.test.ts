/**
 * Command templates: each quoting context renders values as data. Rendered scripts are run by
 * the real shells on this machine (dash as /bin/sh, and bash), which must print every value
 * verbatim and create nothing. The same check over SSH is in ssh-engine.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { parseTemplate, renderTemplate } from '../../src/services/command-template.js';
import { hostileValues } from '../helpers/hostile-values.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-template-'));
const pwned = path.join(dir, 'pwned');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Values that would run `touch` if any of them were read as shell syntax. */
export const HOSTILE_VALUES = hostileValues(pwned);

/** Templates that put {v} in each supported spot, and what the shell should print. */
const SHAPES: { name: string; template: string; expect: (v: string) => string }[] = [
  { name: 'plain word', template: `printf '%s\\n' {v}`, expect: (v) => v + '\n' },
  { name: 'inside "..." (the seed style)', template: `printf '%s\\n' "{v}"`, expect: (v) => v + '\n' },
  { name: 'inside "..." with text around', template: `printf '%s\\n' "pre-{v}-post"`, expect: (v) => `pre-${v}-post\n` },
  { name: "inside '...'", template: `printf '%s\\n' 'pre-{v}-post'`, expect: (v) => `pre-${v}-post\n` },
  { name: 'inside $(...)', template: `x=$(printf '%s' {v}); printf '%s\\n' "$x"`, expect: (v) => v + '\n' },
  { name: 'inside "$(... "...")"', template: `printf '%s\\n' "$(printf '%s' "{v}")"`, expect: (v) => v + '\n' },
  { name: 'here-document body', template: `cat <<EOF\nvalue: {v}\nEOF\n`, expect: (v) => `value: ${v}\n` },
  { name: 'here-document with <<-', template: `cat <<-END\n\tvalue: {v}\n\tEND\n`, expect: (v) => `value: ${v}\n` },
  { name: 'comment, then code', template: `# deploying {v}\nprintf 'ok\\n'`, expect: () => 'ok\n' },
  { name: 'case subject inside $(...)', template: `r=$(case {v} in *) printf '%s' {v};; esac); printf '%s\\n' "$r"`, expect: (v) => v + '\n' },
];

/** The code parseTemplate refuses a template with, or undefined when it accepts it. */
function refusalCode(template: string): number | undefined {
  try {
    parseTemplate(template);
    return undefined;
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

function runShell(shell: string, script: string): string {
  return execFileSync(shell, ['-c', script], { encoding: 'utf8', cwd: dir });
}

describe('rendered values are data in every supported spot', () => {
  for (const shell of ['/bin/sh', '/bin/bash']) {
    for (const shape of SHAPES) {
      it(`${shape.name} (${shell})`, () => {
        const parsed = parseTemplate(shape.template);
        for (const v of HOSTILE_VALUES) {
          // Here-documents refuse values with a line starting with their delimiter (tested below).
          if (shape.template.includes('<<') && /\n\t*(EOF|END)/.test(v)) continue;
          const script = renderTemplate(parsed, { v });
          const out = runShell(shell, script);
          // $(...) drops trailing newlines of what it captures; none of the values has one.
          expect(out, `value ${JSON.stringify(v)} rendered as ${script}`).toBe(shape.expect(v));
          expect(fs.existsSync(pwned), `value ${JSON.stringify(v)} created a file`).toBe(false);
        }
      });
    }
  }
});

describe('quoting', () => {
  it('single-quotes a value in a plain word', () => {
    expect(renderTemplate('deploy -g {app}', { app: "it's" })).toBe(`deploy -g 'it'\\''s'`);
  });

  it('escapes \\ $ ` " inside double quotes', () => {
    expect(renderTemplate('echo "{v}"', { v: 'a"$b`c\\' })).toBe('echo "a\\"\\$b\\`c\\\\"');
  });

  it('renders numbers and booleans as text', () => {
    expect(renderTemplate('scale {n} {flag}', { n: 3, flag: true })).toBe(`scale '3' 'true'`);
  });

  it('turns line breaks in a comment into spaces, so a value cannot end the comment', () => {
    expect(renderTemplate('# {v}\ntrue', { v: 'a\nrm -rf /' })).toBe(`# 'a rm -rf /'\ntrue`);
  });
});

describe('literal braces', () => {
  it('keeps braces that are not a {name} placeholder', () => {
    const t = `awk '{print $1}' f; echo {a,b} {1..3}; f() { :; }`;
    expect(renderTemplate(t, {})).toBe(t);
  });

  it('writes {{name}} as the text {name}', () => {
    expect(renderTemplate('echo ${{HOME}} {{v}} {v}', { v: 'x' })).toBe(`echo \${HOME} {v} 'x'`);
  });
});

describe('errors', () => {
  function codeOf(fn: () => unknown): { code: number; message: string; details?: Record<string, unknown> } {
    try {
      fn();
    } catch (err) {
      if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
      throw err;
    }
    throw new Error('expected an AppError');
  }

  it('names a placeholder without a value (1102)', () => {
    const e = codeOf(() => renderTemplate('deploy {app} {env}', { app: 'x' }));
    expect(e.code).toBe(1102);
    expect(e.message).toContain('{env}');
    expect(e.details).toEqual({ field: 'env' });
  });

  it('does not take a value from the prototype chain', () => {
    expect(codeOf(() => renderTemplate('echo {constructor}', {})).code).toBe(1102);
  });

  it.each([
    ['inside backticks', 'echo `echo {v}`'],
    ['inside ${...}', 'echo ${x:-{v}}'],
    ['inside $((...))', 'echo $(( {v} + 1 ))'],
    ["inside $'...'", "echo $'a{v}'"],
    ['in a quoted here-document', "cat <<'EOF'\n{v}\nEOF\n"],
    ["in a here-document's delimiter", 'cat <<{v}\nx\n'],
    ['right after a backslash', 'echo \\{v}'],
    ['right after a backslash inside "..."', 'echo "\\{v}"'],
  ])('refuses a placeholder %s (1100)', (_where, template) => {
    const e = codeOf(() => parseTemplate(template));
    expect(e.code).toBe(1100);
    expect(e.message).toContain('{v}');
  });

  it('refuses a here-document value with a line starting with the delimiter (1100)', () => {
    const e = codeOf(() => renderTemplate('cat <<EOF\n{v}\nEOF\n', { v: `x\nEOF\ntouch ${pwned}` }));
    expect(e.code).toBe(1100);
  });

  it('refuses a here-document value whose first line is the delimiter, the placeholder starting a line (1100)', () => {
    const e = codeOf(() => renderTemplate('cat <<EOF\n{v}\nEOF\n', { v: `EOF\ntouch ${pwned}` }));
    expect(e.code).toBe(1100);
    expect(fs.existsSync(pwned)).toBe(false);
  });

  it('refuses a value that joins the text before it into the delimiter line (1100), and nothing runs', () => {
    const template = 'cat <<EOF\nE{msg}\nEOF\n';
    const e = codeOf(() => renderTemplate(template, { msg: `OF\ntouch ${pwned}\n:` }));
    expect(e.code).toBe(1100);
    expect(e.message).toContain('{msg}');
    // The same with <<- and a tab, and with text after the placeholder.
    expect(codeOf(() => renderTemplate('cat <<-EOF\n\tE{msg}\nEOF\n', { msg: `OF\ntouch ${pwned}` })).code).toBe(1100);
    expect(codeOf(() => renderTemplate('cat <<EOF\n{msg}F\nEOF\n', { msg: `x\nEO` })).code).toBe(1100);
    // A line that only starts with the delimiter is refused too: bash ends a here-document
    // inside $(...) at `EOF)`.
    expect(codeOf(() => renderTemplate(template, { msg: 'OF)' })).code).toBe(1100);
    // A value that only looks close renders and stays data.
    const ok = renderTemplate(template, { msg: 'x OF' });
    expect(runShell('/bin/bash', ok)).toBe('Ex OF\n');
    expect(fs.existsSync(pwned)).toBe(false);
  });

  it('refuses a NUL byte in a value (1100)', () => {
    expect(codeOf(() => renderTemplate('echo {v}', { v: 'a\0b' })).code).toBe(1100);
  });
});

describe('parseTemplate', () => {
  it('lists the variables once, in order, with the spot each lands in', () => {
    const p = parseTemplate(`run -e {sk__env} -g "{GitProjName}" '{x}' {sk__env} # {note}`);
    expect(p.variables).toEqual(['sk__env', 'GitProjName', 'x', 'note']);
    const contexts = p.parts.flatMap((part) => ('variable' in part ? [part.context] : []));
    expect(contexts).toEqual(['word', 'double', 'single', 'word', 'comment']);
  });

  it('tracks quotes across lines and after a closed $(...)', () => {
    const p = parseTemplate(`a="$(date)
{x}"; b='
{y}'; c=$(echo ")") {z}`);
    const contexts = p.parts.flatMap((part) => ('variable' in part ? [part.context] : []));
    expect(contexts).toEqual(['double', 'single', 'word']);
  });
});

/**
 * bash evaluates `a[$(cmd)]` as an array subscript wherever it reads a value as a number or a
 * variable name, quoted or not: these spots are refused at parse time. Each row is also run
 * with the value shell-quoted as a plain word would be, to show the refusal guards a real hole.
 */
describe('arithmetic contexts (bash)', () => {
  const attack = `a[$(touch ${pwned})]`;
  const q = `'${attack}'`;
  const ROWS: [string, string, string][] = [
    ['[[ -eq ]]', '[[ 1 -eq {n} ]] && echo same', `[[ 1 -eq ${q} ]] && echo same`],
    ['[[ -eq ]] with the value in "..."', '[[ "{n}" -lt 2 ]]', ''],
    ['(( ))', '(( {n} > 1 )) && echo big', `(( ${q} > 1 )) && echo big`],
    ['let', 'let x={n}', `let x=${q}`],
    ['$[ ]', 'echo $[ {n} + 1 ]', ''],
    ['an array subscript', 'a[{n}]=1', ''],
    ['unset', 'a=(1); unset {n}', `a=(1); unset ${q}`],
    ['read', 'read -r {n} </dev/null', ''],
    ['printf -v', 'printf -v {n} %s x', `printf -v ${q} %s x`],
    ['declare -i', 'declare -i x; x={n}', ''],
    ['declare -i with the value assigned in the command', 'declare -i x={n}', `declare -i x=${q}`],
    ['local -n', 'f() { local -n r={n}; echo "$r"; }; f', ''],
    ['the name of a declaration', 'declare {n}=1', ''],
    ['[[ ]] inside $(...)', 'echo $([[ {n} -eq 1 ]] && echo y)', ''],
    ['let fed by $(...)', 'let "x=$(echo {n})"', ''],
    // Found by the review: command names as the shell reads them, and other spots.
    ['builtin let', 'builtin let x={n}', `builtin let x=${q}`],
    ['command let', 'command let x={n}', `command let x=${q}`],
    ['coproc let', 'coproc let x={n}', ''],
    ['a quoted command name', '"let" x={n}', `"let" x=${q}`],
    ['an escaped command name', '\\let x={n}', `\\let x=${q}`],
    ['a line continuation', 'let \\\nx={n}', `let \\\nx=${q}`],
    ['for (( ))', 'for ((i=0; i<{n}; i++)); do :; done', `for ((i=0; i<${q}; i++)); do :; done`],
    ['[ -v ]', '[ -v {n} ]', `[ -v ${q} ]`],
    ['a compound array assignment', 'a=([{n}]=1)', `a=([${q}]=1)`],
    ['an appended compound array', 'declare -a arr; arr+=([{n}]=1)', `declare -a arr; arr+=([${q}]=1)`],
    ['wait -p', 'sleep 0 & wait -p {n} -n', `sleep 0 & wait -p ${q} -n`],
    ['builtin declare -i', 'builtin declare -i x={n}', `builtin declare -i x=${q}`],
    ['a value that reaches let through a variable', 'x={n} let y=x', `x=${q} let y=x`],
    ['a value that reaches [[ -eq ]] through a variable', 'x={n}; [[ $x -eq 1 ]]', `x=${q}; [[ $x -eq 1 ]]`],
    ['a value that reaches $(( )) through a variable', 'x={n}; echo $((x))', `x=${q}; echo $((x))`],
    ['a value that reaches a subscript through a variable', 'b=(1); x={n}; echo "${b[$x]}"', `b=(1); x=${q}; echo "\${b[$x]}"`],
    ['a value that reaches ${name:offset} through a variable', 's=abc; x={n}; echo "${s:$x}"', `s=abc; x=${q}; echo "\${s:$x}"`],
    ['a value that reaches ${!name} through a variable', 'x={n}; echo "${!x}"', `x=${q}; echo "\${!x}"`],
    ['eval', 'eval echo {n}', ''],
    ['sh -c', 'sh -c "echo {n}"', ''],
    ['ssh', 'ssh host "echo {n}"', ''],
  ];

  it.each(ROWS)('refuses a placeholder in %s (1100)', (_where, template, quotedScript) => {
    expect(refusalCode(template), template).toBe(1100);
    if (quotedScript) {
      // Quoting alone would not have saved the host: bash runs the value's command.
      try {
        execFileSync('/bin/bash', ['-c', quotedScript], { cwd: dir, stdio: 'ignore' });
      } catch {
        // Exit codes do not matter here; the file does.
      }
      expect(fs.existsSync(pwned), quotedScript).toBe(true);
      fs.rmSync(pwned);
    }
  });

  it.each([
    ['test with -eq (no arithmetic in [ ])', '[ "{n}" -eq 1 ] 2>/dev/null || echo no', 'no\n'],
    ['an assignment', 'x={n}; printf "%s\\n" "$x"', `${attack}\n`],
    ['local with a value', 'f() { local x="{n}"; printf "%s\\n" "$x"; }; f', `${attack}\n`],
    ['printf without -v', `printf '%s\\n' {n}`, `${attack}\n`],
    ['[[ ]] closed before', '[[ -n x ]] && printf "%s\\n" {n}', `${attack}\n`],
  ])('still renders a value as data in %s', (_where, template, expected) => {
    const out = runShell('/bin/bash', renderTemplate(template, { n: attack }));
    expect(out).toBe(expected);
    expect(fs.existsSync(pwned)).toBe(false);
  });
});

describe('a placeholder right after $ (review)', () => {
  it.each([
    ['in "..."', 'echo "${v}"'],
    ['in a plain word', 'echo ${v}'],
    ['in a here-document', 'cat <<EOF\n${v}\nEOF\n'],
  ])('is refused %s (1100)', (_where, template) => {
    expect(refusalCode(template)).toBe(1100);
  });

  it('still renders a literal $ before a placeholder in single quotes', () => {
    expect(runShell('/bin/sh', renderTemplate("printf '%s\\n' '${v}'", { v: '(touch x)' }))).toBe('$(touch x)\n');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  });
});
