/**
 * The data folder is the store's whole content: only its owner may enter it (0700) and read or
 * write its files (0600), so another local user can neither read the documents nor the
 * password file. Modes are set on every start, so a folder made by an older version (0755 with
 * 0644 files) is tightened too.
 */
import fs from 'node:fs';
import path from 'node:path';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export function secureDataDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  tighten(dir);
}

function tighten(dir: string): void {
  fs.chmodSync(dir, DIR_MODE);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) tighten(p);
    else if (entry.isFile()) fs.chmodSync(p, FILE_MODE);
  }
}
