/**
 * The role accounts of seed 003 (`evans`, `readonly`; `root` always exists) as real system
 * users, so the test sshd can log people into them. Created when missing if the tests run as
 * root; otherwise the caller skips (tests, with the reason in their title) or says what is
 * missing (`npm run demo`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export type RoleAccountsStatus = { ready: true; created: string[] } | { ready: false; reason: string };

function passwdEntry(name: string): string[] | undefined {
  try {
    return execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  } catch {
    return undefined;
  }
}

/**
 * sshd without PAM refuses an account whose password field is locked (`!...`), which is
 * useradd's default; `*` means "no password" without locking key logins.
 */
function lockedPassword(name: string): boolean {
  if (process.getuid?.() !== 0) return false; // cannot read /etc/shadow; assume usable
  const line = fs
    .readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  return line?.split(':')[1]?.startsWith('!') ?? false;
}

/** Idempotent: existing accounts are checked, never changed. */
export function ensureRoleAccounts(names: string[]): RoleAccountsStatus {
  const created: string[] = [];
  const missing = names.filter((n) => !passwdEntry(n));
  if (missing.length > 0 && process.getuid?.() !== 0) {
    return { ready: false, reason: `accounts ${missing.join(', ')} are missing and only root can create them` };
  }
  for (const name of missing) {
    try {
      execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', name], { stdio: 'pipe' });
      created.push(name);
    } catch (err) {
      // 9: created meanwhile by another run.
      if ((err as { status?: number }).status !== 9) {
        return { ready: false, reason: `useradd ${name} failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` };
      }
    }
  }
  for (const name of names) {
    const entry = passwdEntry(name);
    if (!entry) return { ready: false, reason: `account ${name} is still missing` };
    const shell = entry[6] ?? '';
    try {
      fs.accessSync(shell, fs.constants.X_OK);
    } catch {
      return { ready: false, reason: `account ${name} has no usable shell (${shell || 'none'})` };
    }
    if (lockedPassword(name)) return { ready: false, reason: `account ${name} is locked in /etc/shadow; sshd without PAM refuses it (usermod -p '*' ${name})` };
  }
  return { ready: true, created };
}
