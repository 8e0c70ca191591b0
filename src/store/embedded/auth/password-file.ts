/**
 * The store's password, kept in a file only its owner can read: generated on first use, read
 * back on every later start, so the bot and `npm run db` on the same data folder agree on it.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';

/** The user the embedded store creates unless told another. */
export const DEFAULT_STORE_USER = 'opsgate';
/** Its password's file name inside the data folder. */
export const PASSWORD_FILE_NAME = 'store-password';

export function readOrCreatePassword(file: string): string {
  try {
    fs.writeFileSync(file, randomBytes(24).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const password = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (password === '') throw new Error(`password file ${file} is empty`);
  return password;
}
