/**
 * Real OpenSSH `sshd` processes on loopback ports, for the execution engine's tests and bench.
 * Each server has its own temp folder with a generated ed25519 host key, its own config and
 * pid file; all of them accept one generated client key (the bot's). Nothing listens beyond
 * 127.0.0.1.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SSHD = '/usr/sbin/sshd';

/** sshd processes still running; killed if the test process exits without afterAll. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ClientKey {
  /** Path of the private key file (OpenSSH format, no passphrase). */
  path: string;
  privateKey: Buffer;
  publicKeyLine: string;
}

export interface SshdInstance {
  port: number;
  /** Host-key fingerprint as OpenSSH prints it (`SHA256:...`). */
  fingerprint: string;
  dir: string;
  child: ChildProcess;
  /** What sshd wrote to stderr (it runs with -e). */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdFleet {
  clientKey: ClientKey;
  servers: SshdInstance[];
  /** A fingerprint no server presents: a pinned key that does not match. */
  strangerFingerprint: string;
  stop(): Promise<void>;
}

/** Throws a clear message when the package is missing (CI installs it in .ci/run). */
export function assertSshdInstalled(): void {
  if (!fs.existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: apt-get update && apt-get install -y openssh-server`);
  }
}

export function fingerprintOf(publicKeyFile: string): string {
  // `ssh-keygen -lf` prints "256 SHA256:abc... comment (ED25519)".
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile], { encoding: 'utf8' });
  const fp = out.split(/\s+/)[1];
  if (!fp?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen output: ${out}`);
  return fp;
}

function generateKey(file: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
}

export function generateClientKey(dir: string): ClientKey {
  const file = path.join(dir, 'bot_ed25519');
  generateKey(file, 'opsgate-test-bot');
  return { path: file, privateKey: fs.readFileSync(file), publicKeyLine: fs.readFileSync(file + '.pub', 'utf8').trim() };
}

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
async function waitForBanner(port: number, deadlineMs: number, exited: () => boolean): Promise<void> {
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

export interface StartSshdOptions {
  /** sshd's AuthorizedKeysFile: a file shared by the fleet, or a template with %u / %h. */
  authorizedKeys: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /** Extra environment for sshd (TZ, to check times in authorized_keys are read as UTC). */
  env?: Record<string, string>;
}

export async function startSshd(opts: StartSshdOptions): Promise<SshdInstance> {
  assertSshdInstalled();
  // Privilege separation needs this folder; Debian creates it only when the service runs.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-sshd-'));
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  generateKey(hostKey, 'opsgate-test-host');
  const fingerprint = fingerprintOf(hostKey + '.pub');

  // A port taken between freePort() and sshd's bind makes sshd exit; try a few times.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${opts.authorizedKeys}`,
        `PubkeyAuthentication yes`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `UsePAM no`,
        `StrictModes no`,
        // Tests run as root; key-only root logins are what the bot uses on real hosts too.
        `PermitRootLogin prohibit-password`,
        `UseDNS no`,
        `PrintMotd no`,
        `LogLevel ERROR`,
        // The bench opens dozens of connections to each server at once; the default
        // (10:30:100) drops unauthenticated connections beyond 10 at random.
        `MaxStartups 500`,
        `MaxSessions 100`,
        ...(opts.extraConfig ?? []),
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    let log = '';
    child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    let gone = false;
    live.add(child);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        gone = true;
        live.delete(child);
        resolve();
      }),
    );
    try {
      await waitForBanner(port, 10_000, () => gone);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3 && /Address already in use|exited/.test(log + String(err))) continue;
      throw new Error(`${String(err)}; sshd log: ${log}`);
    }
    return {
      port,
      fingerprint,
      dir,
      child,
      log: () => log,
      stop: async () => {
        if (!gone) child.kill('SIGTERM');
        await exited;
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** `count` sshd processes sharing one authorized bot key. Call stop() in afterAll. */
export async function startSshdFleet(count: number, extraConfig?: string[]): Promise<SshdFleet> {
  assertSshdInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-sshkeys-'));
  const clientKey = generateClientKey(dir);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, clientKey.publicKeyLine + '\n', { mode: 0o600 });
  const stranger = path.join(dir, 'stranger');
  generateKey(stranger, 'not-a-host-of-ours');
  const strangerFingerprint = fingerprintOf(stranger + '.pub');

  const servers: SshdInstance[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await startSshd({ authorizedKeys, extraConfig }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return {
    clientKey,
    servers,
    strangerFingerprint,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
