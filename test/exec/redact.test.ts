/** Redaction of URL credentials and declared secrets (unit level; the engine's use is in engine-local.test.ts). */
import { describe, expect, it } from 'vitest';
import { redact, redactUrlCredentials } from '../../src/services/redact.js';
import { renderTemplate } from '../../src/services/command-template.js';

describe('URL credentials', () => {
  it.each([
    ['https://user:secret@host/x', 'https://user:***@host/x'],
    // the seed's own example (ansible git module output)
    [
      "fatal: Authentication failed for 'https://zhangsan:123123123123123@code.abc.com/Sothoryos/monitor_playbook.git/'",
      "fatal: Authentication failed for 'https://zhangsan:***@code.abc.com/Sothoryos/monitor_playbook.git/'",
    ],
    ['mongodb://app:p%40ss@db1:27017,db2/x', 'mongodb://app:***@db1:27017,db2/x'],
    ['redis://:onlypassword@cache:6379', 'redis://:***@cache:6379'],
    ['a password with @ in it: https://u:p@ss@host/', 'a password with @ in it: https://u:***@host/'],
    ['token as user: https://ghp_abc123@github.com/o/r.git', 'token as user: https://***@github.com/o/r.git'],
    ['two: http://a:b@h1 and ftp://c:d@h2.', 'two: http://a:***@h1 and ftp://c:***@h2.'],
    ['HTTPS://U:S@H', 'HTTPS://U:***@H'],
    // A token as the user with an empty password is still a token.
    ['https://user:@host/ (empty password)', 'https://***:@host/ (empty password)'],
    ['https://ghp_TOKEN:@h/p', 'https://***:@h/p'],
  ])('%s', (input, output) => {
    expect(redactUrlCredentials(input)).toBe(output);
  });

  it.each([
    'https://host:8443/path?q=a@b',
    'ssh://git@github.com/o/r.git',
    'mail me at ops@example.com',
    'https://example.com/@user',
  ])('leaves %s alone', (text) => {
    expect(redactUrlCredentials(text)).toBe(text);
  });
});

describe('declared secrets', () => {
  it('masks every occurrence, longest secret first', () => {
    expect(redact('pw=hunter2 again hunter2, db=hunter2-prod', ['hunter2', 'hunter2-prod'])).toBe('pw=*** again ***, db=***');
  });

  it('masks a secret in the escaped forms a rendered command carries', () => {
    const secret = `it's $ecret"`;
    const cmd = renderTemplate(`login {pw} "{pw}" 'x{pw}'`, { pw: secret });
    const shown = redact(cmd, [secret]);
    expect(shown).not.toContain('ecret');
    expect(shown).toBe(`login '***' "***" 'x***'`);
  });

  it('ignores empty secrets and applies URL redaction as well', () => {
    expect(redact('key=abc https://u:p@h', ['', 'abc'])).toBe('key=*** https://u:***@h');
  });
});
