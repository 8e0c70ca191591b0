/**
 * Throwaway OpenSSH `sshd` processes on loopback for `npm run demo` (the tests' sshd helper
 * uses the same pieces). Each one gets its own folder: a generated ed25519 host key, its own
 * sshd_config and pid file. Nothing listens beyond 127.0.0.1, and nothing of the machine's own
 * sshd (`/etc/ssh`) or anyone's `~/.ssh` is read or written.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const DEFAULT_SSHD = '/usr/sbin/sshd';

/** An ed25519 key pair without passphrase (`file` and `file.pub`), as ssh-keygen writes it. */
export function generateKey(file: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
}

/** The public key's fingerprint as OpenSSH prints it (`SHA256:...`). */
export function fingerprintOf(publicKeyFile: string): string {
  // `ssh-keygen -lf` prints "256 SHA256:abc... comment (ED25519)".
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile], { encoding: 'utf8' });
  const fp = out.split(/\s+/)[1];
  if (!fp?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen output: ${out}`);
  return fp;
}

/** A loopback port nobody listens on right now (another process may take it before sshd binds). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port answers with an SSH banner. */
export async function waitForBanner(port: number, deadlineMs: number, exited: () => boolean): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once('data', (d) => done(d.toString().startsWith('SSH-')));
      sock.once('error', () => done(false));
    });
    if (ok) return;
    if (exited()) throw new Error('sshd exited before accepting connections');
    if (Date.now() > end) throw new Error(`sshd on port ${port} did not answer within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Processes under `pid` (sshd's connection and session processes), from /proc. */
export function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent !== p) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

export interface DemoSshdOptions {
  /** Path of the sshd binary. */
  sshd: string;
  /** The host's folder: host key, sshd_config and pid file live here. */
  dir: string;
  /** sshd_config lines after the common ones (AuthorizedKeysFile, Match blocks, StrictModes). */
  config: string[];
}

export interface DemoSshd {
  port: number;
  /** Host-key fingerprint (`SHA256:...`): what the demo catalog pins. */
  fingerprint: string;
  /** The `algorithm base64` public host key, for a known_hosts line. */
  publicHostKey: string;
  /** The sshd_config it runs with (the host check's `sshd -T -f`). */
  configFile: string;
  child: ChildProcess;
  /** Ends the listener and every connection it spawned; synchronous, so it can run in an exit handler. */
  kill(): void;
}

/**
 * Starts one sshd in the foreground (`-D -e`) on a free loopback port. The host key is kept in
 * `dir` across runs (the fingerprint people pinned stays the same); generated when missing.
 */
export async function startDemoSshd(opts: DemoSshdOptions): Promise<DemoSshd> {
  // Privilege separation needs this folder; Debian creates it only when its own service runs.
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(opts.dir, 'ssh_host_ed25519_key');
  if (!fs.existsSync(hostKey)) generateKey(hostKey, 'opsgate-demo-host');
  const fingerprint = fingerprintOf(`${hostKey}.pub`);
  const publicHostKey = fs.readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  const configFile = path.join(opts.dir, 'sshd_config');
  // A port taken between freePort() and sshd's bind makes sshd exit; try a few times.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    fs.writeFileSync(
      configFile,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(opts.dir, 'sshd.pid')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        // Each session names the key its connection logged in with: revocation ends that key's connections.
        'ExposeAuthInfo yes',
        'UseDNS no',
        'PrintMotd no',
        'LogLevel ERROR',
        ...opts.config,
        '',
      ].join('\n'),
    );
    let log = '';
    const child = spawn(opts.sshd, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    let gone = false;
    child.once('exit', () => (gone = true));
    child.once('error', (err) => ((gone = true), (log += String(err))));
    try {
      await waitForBanner(port, 15_000, () => gone);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw new Error(`${String(err)}; sshd said: ${log.trim()}`);
    }
    const kill = () => {
      // The listener's exit leaves its connections running: end them too.
      const pids = child.pid === undefined || gone ? [] : [child.pid, ...descendantsOf(child.pid)];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
    };
    return { port, fingerprint, publicHostKey, configFile, child, kill };
  }
}
