/**
 * Hides secrets in text before it is stored (MongoDB, audit log) or shown (Slack, mail, logs):
 *   - credentials inside URLs: `https://user:secret@host` -> `https://user:***@host`; a
 *     user-only userinfo on http(s)/ftp (`https://TOKEN@host`, how tokens are often passed
 *     to git) -> `https://***@host`. `ssh://git@host` keeps its user: it is a login name.
 *   - every value declared secret, wherever it appears, also in its shell-quoted form
 *     (the form a rendered command template carries).
 * Redaction is done on whole texts, never chunk by chunk: a secret split across two
 * chunks would slip through. Output that arrives in pieces goes through
 * adapters/exec/streaming-redactor.ts, which holds back what could still become a match.
 */
import { escapeInDoubleQuotes, escapeInHeredoc, escapeInSingleQuotes } from '../adapters/exec/shell-quote.js';

export const MASK = '***';

// scheme://user:password@ — the password runs to the last '@' before the host, and stops at
// whitespace, '/', quotes and '<>' (characters that end a URL in running text).
const URL_USER_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@'"<>]*):([^\s/'"<>]*)@/gi;
const URL_USER_ONLY = /\b((?:https?|ftps?):\/\/)([^\s:/@'"<>]+)@/gi;

export function redactUrlCredentials(text: string): string {
  return text
    .replace(URL_USER_PASSWORD, (_m, scheme: string, user: string, password: string) =>
      // `https://TOKEN:@host` carries the token as the user: mask it like a password.
      password === '' ? `${scheme}${user === '' ? '' : MASK}:@` : `${scheme}${user}:${MASK}@`,
    )
    .replace(URL_USER_ONLY, (m, scheme: string, user: string) => (user === MASK ? m : `${scheme}${MASK}@`));
}

/**
 * The forms in which a declared secret may appear: the value itself and the escaped forms a
 * rendered command template carries (`it's` is written `it'\''s` inside single quotes,
 * `a$b` is written `a\$b` inside double quotes). Longest first, so a secret containing
 * another secret is masked whole.
 */
export function secretForms(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === '') continue;
    forms.add(s);
    forms.add(escapeInSingleQuotes(s));
    forms.add(escapeInDoubleQuotes(s));
    forms.add(escapeInHeredoc(s));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

export function redactSecrets(text: string, secrets: Iterable<string>): string {
  return maskForms(text, secretForms(secrets));
}

/** Masks every occurrence of prepared forms (from `secretForms`, longest first). */
export function maskForms(text: string, forms: readonly string[]): string {
  let out = text;
  for (const form of forms) out = out.split(form).join(MASK);
  return out;
}

/** Both redactions; the one function callers use on output, commands and error messages. */
export function redact(text: string, secrets: Iterable<string> = []): string {
  return redactUrlCredentials(redactSecrets(text, secrets));
}

/** A reusable redactor for one run: the secrets are prepared once. */
export function redactorFor(secrets: Iterable<string> = []): (text: string) => string {
  const list = [...secrets];
  return (text) => redact(text, list);
}
