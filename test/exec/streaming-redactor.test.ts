/**
 * Streaming redaction gives the whole-text result however the text is cut into pieces: every
 * split offset, every pair of offsets, one character at a time, and random cuts; lines too long
 * to hold fall back to a rule that still hides every credential.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamingRedactor } from '../../src/adapters/exec/streaming-redactor.js';
import { escapeInDoubleQuotes, escapeInSingleQuotes } from '../../src/adapters/exec/shell-quote.js';
import { redact } from '../../src/services/redact.js';

const SECRETS = ['S3cr3t!', "it's a $ecret", 'pass', 'password', 'tok"en'];

const CORPUS = [
  'token=S3cr3t! and again S3cr3tS3cr3t!!\n',
  `quoted: '${escapeInSingleQuotes("it's a $ecret")}' and "${escapeInDoubleQuotes("it's a $ecret")}"\n`,
  'git clone https://deploy:hunter2@git.example.com/repo.git && echo done\n',
  'curl -s https://TOKEN123abc@api.example.com/x\tthen ftp://anon:@ftp.example.com/\n',
  'mongodb://admin:p@ss:w0rd@db.internal:27017/app?x=1 <https://a:b@c> "https://q:r@s"\n',
  'the password is password, not pass; tok"en / tok\\"en\n',
  'ssh://git@github.com/x keeps its user; https://user:pa ss@host is cut at the space\n',
  'no secrets here at all, just text with a colon: and slashes // and @ signs\n',
];

function streamed(pieces: string[], maxHold?: number): string {
  const r = new StreamingRedactor(SECRETS, maxHold);
  let out = '';
  for (const p of pieces) out += r.push(p);
  return out + r.end();
}

describe('streaming redaction equals whole-text redaction', () => {
  for (const [n, text] of CORPUS.entries()) {
    it(`corpus line ${n}: split at every offset and every pair of offsets`, () => {
      const whole = redact(text, SECRETS);
      for (let i = 0; i <= text.length; i++) {
        expect(streamed([text.slice(0, i), text.slice(i)]), `split at ${i}`).toBe(whole);
        for (let j = i; j <= text.length; j += 3) {
          expect(streamed([text.slice(0, i), text.slice(i, j), text.slice(j)]), `split at ${i},${j}`).toBe(whole);
        }
      }
      expect(streamed([...text])).toBe(whole);
    });
  }

  it('the whole corpus in random pieces', () => {
    const text = CORPUS.join('');
    const whole = redact(text, SECRETS);
    fc.assert(
      fc.property(fc.array(fc.nat(text.length), { maxLength: 40 }), (cuts) => {
        const at = [0, ...[...cuts].sort((a, b) => a - b), text.length];
        const pieces = at.slice(1).map((end, i) => text.slice(at[i], end));
        expect(streamed(pieces)).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('random texts built from secret fragments, URL parts and separators', () => {
    const parts = ['S3c', 'r3t!', 'pass', 'word', 'https://', 'u', ':', 'pw', '@', 'host', '/', ' ', '\n', "'", '"', 'tok', '"en', 'x', "it's", ' a $ecret'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...parts), { maxLength: 60 }), fc.array(fc.nat(400), { maxLength: 12 }), (words, cuts) => {
        const text = words.join('');
        const at = [0, ...cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b), text.length];
        const pieces = at.slice(1).map((end, i) => text.slice(at[i], end));
        expect(streamed(pieces)).toBe(redact(text, SECRETS));
      }),
      { numRuns: 500 },
    );
  });
});

describe('bounded hold', () => {
  it('holds no more than the limit plus the secret window on a line without separators', () => {
    const r = new StreamingRedactor(SECRETS, 1024);
    let out = '';
    for (let i = 0; i < 1000; i++) {
      out += r.push('a'.repeat(97));
      expect(r.heldChars).toBeLessThanOrEqual(1024 + 2 * 'password'.length + 97);
    }
    out += r.end();
    expect(out).toBe('a'.repeat(97_000));
  });

  it('a credential inside an over-long line is masked at every split offset', () => {
    const filler = 'x'.repeat(300);
    const text = `${filler}https://deploy:hunter2@git.example.com/${filler}S3cr3t!${filler}=ftp://TOKEN9@h/${filler} https://a:b@c/\n`;
    for (let i = 0; i <= text.length; i++) {
      const out = streamed([text.slice(0, i), text.slice(i)], 64);
      expect(out).not.toContain('hunter2');
      expect(out).not.toContain('TOKEN9');
      expect(out).not.toContain('S3cr3t!');
      expect(out).toContain(' https://a:***@c/\n');
      expect(out.startsWith(filler)).toBe(true);
    }
  });

  it('text after an over-long line is redacted exactly again', () => {
    const text = `${'y'.repeat(500)}\nhttps://u:pw@h/ S3cr3t!\n`;
    const out = streamed([...text], 100);
    expect(out).toBe(`${'y'.repeat(500)}\nhttps://u:***@h/ ***\n`);
  });
});
