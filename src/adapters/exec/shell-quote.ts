/**
 * Quoting for POSIX shells (sh, dash, bash, ksh, zsh). Each function makes a value literal
 * text in one quoting context; nothing inside the value is ever expanded or parsed.
 */

/** A whole word: `it's` -> `'it'\''s'`. Safe anywhere a shell expects a word. */
export function shellQuote(value: string): string {
  return `'${escapeInSingleQuotes(value)}'`;
}

/** The body for inside an open '...': a quote closes, adds an escaped quote and reopens. */
export function escapeInSingleQuotes(value: string): string {
  return value.replaceAll("'", `'\\''`);
}

/** Inside "...": only \ $ ` and " are special there (no history expansion in scripts). */
export function escapeInDoubleQuotes(value: string): string {
  return value.replace(/[\\$`"]/g, '\\$&');
}

/** Inside a here-document with an unquoted delimiter: \ $ and ` are special, " is not. */
export function escapeInHeredoc(value: string): string {
  return value.replace(/[\\$`]/g, '\\$&');
}
