/**
 * The plain login account the SSH benches use on their loopback sshd (`opsgate-bench`).
 *
 * Why not root: on this machine root's ~/.bashrc runs `pyenv init`, and bash sources ~/.bashrc
 * for every command sshd runs, so each command as root costs ~130 ms of CPU before it starts.
 * A real host's account does not do that; timed as root, every tool's figure is mostly pyenv.
 * This account is what a fresh Debian user is (bash, /etc/skel's files, nothing added), and
 * every tool in a bench logs in as it, so the comparison stays fair.
 *
 * Created here when missing (root only): `useradd` with /bin/bash and Debian's skel, the
 * password field `*` (no password, not locked: sshd without PAM refuses a `!`-locked account).
 * The bench fleet's key goes into the account's own ~/.ssh/authorized_keys (the account owns
 * it, mode 600), which the fleet's sshd reads besides its shared file (`%h/.ssh/authorized_keys`,
 * see `startSshdFleet`'s `extraAuthorizedKeysFiles`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const BENCH_ACCOUNT = 'opsgate-bench';

/** What sshd should read for this account, besides the fleet's shared file. */
export const BENCH_AUTHORIZED_KEYS = '%h/.ssh/authorized_keys';

export type BenchAccount =
  | { ready: true; user: string; home: string; uid: number; gid: number; created: boolean }
  | { ready: false; reason: string };

function passwdEntry(name: string): string[] | undefined {
  try {
    return execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  } catch {
    return undefined;
  }
}

function shadowPassword(name: string): string | undefined {
  const l = fs
    .readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((x) => x.startsWith(`${name}:`));
  return l?.split(':')[1];
}

/** Idempotent: makes the account where missing and unlocks it if `!`-locked; changes nothing else. */
export function ensureBenchAccount(name = BENCH_ACCOUNT): BenchAccount {
  if (process.getuid?.() !== 0) {
    const e = passwdEntry(name);
    return e ? { ready: true, user: name, home: e[5]!, uid: Number(e[2]), gid: Number(e[3]), created: false } : { ready: false, reason: `account ${name} is missing and only root can create it` };
  }
  let created = false;
  if (!passwdEntry(name)) {
    try {
      execFileSync('useradd', ['--create-home', '--skel', '/etc/skel', '--shell', '/bin/bash', '--password', '*', name], { stdio: 'pipe' });
      created = true;
    } catch (err) {
      // 9: another bench created it meanwhile.
      if ((err as { status?: number }).status !== 9) return { ready: false, reason: `useradd ${name} failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` };
    }
  }
  if (shadowPassword(name)?.startsWith('!')) execFileSync('usermod', ['-p', '*', name], { stdio: 'pipe' });
  const e = passwdEntry(name);
  if (!e) return { ready: false, reason: `account ${name} is still missing` };
  const home = e[5]!;
  if (!fs.existsSync(home)) return { ready: false, reason: `account ${name} has no home folder (${home})` };
  return { ready: true, user: name, home, uid: Number(e[2]), gid: Number(e[3]), created };
}

/**
 * Adds `publicKeyLine` to the account's ~/.ssh/authorized_keys (700 / 600, owned by the
 * account) and returns a function that takes it out again. Benches running side by side each
 * add their own fleet's key; none removes another's.
 */
export function authorizeBenchKey(account: Extract<BenchAccount, { ready: true }>, publicKeyLine: string): () => void {
  const sshDir = path.join(account.home, '.ssh');
  const file = path.join(sshDir, 'authorized_keys');
  if (!fs.existsSync(sshDir)) fs.mkdirSync(sshDir, { mode: 0o700 });
  fs.chownSync(sshDir, account.uid, account.gid);
  fs.chmodSync(sshDir, 0o700);
  const lines = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const write = (ls: string[]) => {
    fs.writeFileSync(file, ls.map((l) => l + '\n').join(''), { mode: 0o600 });
    fs.chownSync(file, account.uid, account.gid);
    fs.chmodSync(file, 0o600);
  };
  if (!lines().includes(publicKeyLine)) write([...lines(), publicKeyLine]);
  return () => write(lines().filter((l) => l !== publicKeyLine));
}

/** A second root (uid 0) with a fresh Debian home: how the expiry storm logs in (see below). */
export const BENCH_ROOT_ACCOUNT = 'opsgate-bench-root';

/**
 * A uid-0 account of its own (`useradd -o -u 0`, home under /var/lib, Debian's skel, bash,
 * password field `*`): root's powers without this machine's root ~/.bashrc, whose `pyenv init`
 * bash runs for every SSH command (~130 ms of CPU each). A real host's root has no pyenv; the
 * access gateway's scripts only need uid 0 (`id -u`), so they run unchanged. Idempotent.
 */
export function ensureBenchRootAccount(name = BENCH_ROOT_ACCOUNT): BenchAccount {
  const e0 = passwdEntry(name);
  if (e0 && e0[2] !== '0') return { ready: false, reason: `account ${name} exists with uid ${e0[2]}, not 0` };
  if (!e0) {
    if (process.getuid?.() !== 0) return { ready: false, reason: `account ${name} is missing and only root can create it` };
    try {
      execFileSync('useradd', ['--non-unique', '--uid', '0', '--gid', '0', '--create-home', '--home-dir', `/var/lib/${name}`, '--skel', '/etc/skel', '--shell', '/bin/bash', '--password', '*', name], { stdio: 'pipe' });
    } catch (err) {
      if ((err as { status?: number }).status !== 9) return { ready: false, reason: `useradd ${name} failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` };
    }
  }
  if (process.getuid?.() === 0 && shadowPassword(name)?.startsWith('!')) execFileSync('usermod', ['-p', '*', name], { stdio: 'pipe' });
  const e = passwdEntry(name);
  if (!e || e[2] !== '0') return { ready: false, reason: `account ${name} is missing or not uid 0` };
  return { ready: true, user: name, home: e[5]!, uid: 0, gid: Number(e[3]), created: !e0 };
}
