/**
 * Real OpenSSH `sshd` processes on loopback ports, for the execution engine's tests and bench.
 * Each server has its own temp folder with a generated ed25519 host key, its own config and
 * pid file; all of them accept one generated client key (the bot's). Nothing listens beyond
 * 127.0.0.1.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendantsOf, fingerprintOf, freePort, generateKey, waitForBanner } from '../../src/demo/sshd.js';

// The primitives are shared with `npm run demo` (src/demo/sshd.ts); tests import them from here as before.
export { fingerprintOf, freePort };

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
  /** Every port it listens on: `port` first, then `extraPorts` of them (benches). */
  ports: number[];
  /** The sshd_config it runs with (`sshd -T -f` reads it). */
  config: string;
  /** Host-key fingerprint as OpenSSH prints it (`SHA256:...`). */
  fingerprint: string;
  dir: string;
  child: ChildProcess;
  /** What sshd wrote to stderr (it runs with -e), across restarts. */
  log(): string;
  /**
   * The host goes quiet as a hung or unplugged machine does: the listener and every
   * connection process stop (SIGSTOP), so warm connections stop answering too.
   */
  pause(): void;
  resume(): void;
  /**
   * As a host that rebooted: its open connections end, then sshd starts again on the same
   * port, with a new host key if asked (`fingerprint` and `child` are updated).
   */
  restart(opts?: { newHostKey?: boolean }): Promise<void>;
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

export function generateClientKey(dir: string): ClientKey {
  const file = path.join(dir, 'bot_ed25519');
  generateKey(file, 'opsgate-test-bot');
  return { path: file, privateKey: fs.readFileSync(file), publicKeyLine: fs.readFileSync(file + '.pub', 'utf8').trim() };
}

export interface StartSshdOptions {
  /** sshd's AuthorizedKeysFile: a file shared by the fleet, or a template with %u / %h. */
  authorizedKeys: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /** Extra environment for sshd (TZ, to check times in authorized_keys are read as UTC). */
  env?: Record<string, string>;
  /** sshd's MaxSessions: channels per connection (default 100 here; OpenSSH's own is 10). */
  maxSessions?: number;
  /** sshd's LogLevel (default ERROR); VERBOSE logs every accepted connection ("Connection from"). */
  logLevel?: string;
  /**
   * sshd's StrictModes (default off: most tests keep key files under /tmp, which is 1777).
   * With keys under rootOwnedDir() it can be on, as on a real host.
   */
  strictModes?: boolean;
  /**
   * More ports to listen on besides `port` (benches: many distinct host entries on few sshd).
   * OpenSSH listens on at most 16 sockets, so at most 15.
   */
  extraPorts?: number;
}

/** Root-owned 0755 folders for tests, each under this root-owned 0755 parent (not /tmp: 1777). */
export const ROOT_OWNED_TEST_BASE = '/var/lib/opsgate-test';

/**
 * A fresh folder root:root 0755 whose every parent is root's and not group/world-writable,
 * as sshd's StrictModes and opsgate's key-file checks want. Remove it with fs.rmSync.
 */
export function rootOwnedDir(prefix: string): string {
  fs.mkdirSync(ROOT_OWNED_TEST_BASE, { recursive: true, mode: 0o755 });
  fs.chmodSync(ROOT_OWNED_TEST_BASE, 0o755);
  const dir = fs.mkdtempSync(path.join(ROOT_OWNED_TEST_BASE, `${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
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
    const extraPorts: number[] = [];
    while (extraPorts.length < (opts.extraPorts ?? 0)) {
      const p = await freePort();
      if (p !== port && !extraPorts.includes(p)) extraPorts.push(p);
    }
    const config = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        ...extraPorts.map((p) => `Port ${p}`),
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${opts.authorizedKeys}`,
        `PubkeyAuthentication yes`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `UsePAM no`,
        `StrictModes ${opts.strictModes ? 'yes' : 'no'}`,
        // Each session names the key its connection logged in with (SSH_USER_AUTH): opsgate
        // ends a revoked key's connections by it.
        `ExposeAuthInfo yes`,
        // Tests run as root; key-only root logins are what the bot uses on real hosts too.
        `PermitRootLogin prohibit-password`,
        `UseDNS no`,
        `PrintMotd no`,
        `LogLevel ${opts.logLevel ?? 'ERROR'}`,
        // The bench opens dozens of connections to each server at once; the default
        // (10:30:100) drops unauthenticated connections beyond 10 at random.
        `MaxStartups 500`,
        `MaxSessions ${opts.maxSessions ?? 100}`,
        ...(opts.extraConfig ?? []),
        '',
      ].join('\n'),
    );
    let log = '';
    const launch = async () => {
      const child = spawn(SSHD, ['-D', '-e', '-f', config], {
        stdio: ['ignore', 'ignore', 'pipe'],
        ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      });
      child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
      const run = { child, gone: false, exited: undefined as unknown as Promise<void> };
      live.add(child);
      run.exited = new Promise<void>((resolve) =>
        child.once('exit', () => {
          run.gone = true;
          live.delete(child);
          resolve();
        }),
      );
      try {
        await waitForBanner(port, 10_000, () => run.gone);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      }
      return run;
    };
    let run: Awaited<ReturnType<typeof launch>>;
    try {
      run = await launch();
    } catch (err) {
      if (attempt < 3 && /Address already in use|exited/.test(log + String(err))) continue;
      throw new Error(`${String(err)}; sshd log: ${log}`);
    }
    let paused: number[] = [];
    const instance: SshdInstance = {
      port,
      ports: [port, ...extraPorts],
      config,
      fingerprint,
      dir,
      child: run.child,
      log: () => log,
      pause: () => {
        paused = [run.child.pid!, ...descendantsOf(run.child.pid!)];
        for (const pid of paused) signalPid(pid, 'SIGSTOP');
      },
      resume: () => {
        for (const pid of paused) signalPid(pid, 'SIGCONT');
        paused = [];
      },
      restart: async (how = {}) => {
        instance.resume();
        const connections = descendantsOf(run.child.pid!);
        if (!run.gone) run.child.kill('SIGTERM');
        await run.exited;
        for (const pid of connections) signalPid(pid, 'SIGKILL');
        if (how.newHostKey) {
          fs.rmSync(hostKey, { force: true });
          fs.rmSync(hostKey + '.pub', { force: true });
          generateKey(hostKey, 'opsgate-test-host');
          instance.fingerprint = fingerprintOf(hostKey + '.pub');
        }
        run = await launch();
        instance.child = run.child;
      },
      stop: async () => {
        instance.resume();
        if (!run.gone) run.child.kill('SIGTERM');
        await run.exited;
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
    return instance;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export interface SshdFleetOptions {
  /**
   * More AuthorizedKeysFile entries read after the fleet's shared file, e.g.
   * `%h/.ssh/authorized_keys` for a bench account that holds the key in its own home.
   */
  extraAuthorizedKeysFiles?: string[];
  /** Extra ports per sshd (see StartSshdOptions.extraPorts). */
  extraPorts?: number;
}

/** `count` sshd processes sharing one authorized bot key. Call stop() in afterAll. */
export async function startSshdFleet(count: number, extraConfig?: string[], fleetOpts: SshdFleetOptions = {}): Promise<SshdFleet> {
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
    const files = [authorizedKeys, ...(fleetOpts.extraAuthorizedKeysFiles ?? [])].join(' ');
    for (let i = 0; i < count; i++) servers.push(await startSshd({ authorizedKeys: files, extraConfig, extraPorts: fleetOpts.extraPorts }));
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

/** A person's key pair, as their laptop would hold it (ed25519, no passphrase). */
export function personKey(dir: string, comment: string): ClientKey {
  const d = fs.mkdtempSync(path.join(dir, 'person-'));
  const file = path.join(d, 'id_ed25519');
  generateKey(file, comment);
  return { path: file, privateKey: fs.readFileSync(file), publicKeyLine: fs.readFileSync(file + '.pub', 'utf8').trim() };
}

/**
 * One sshd set up the way the README's "Running it for real" says for a real host: opsgate's
 * root-owned folder (`keysDir`, one file per account) is the only key file sshd reads for
 * evans and readonly (a Match block); root also reads the bot's own key file; StrictModes on;
 * ExposeAuthInfo yes. `target` is how the bot (root, pinned host key) reaches it.
 */
export interface ReadmeHost {
  sshd: SshdInstance;
  /** Root-owned 0755, removed by stop(). */
  rootDir: string;
  keysDir: string;
  /** The gateway's AuthorizedKeysFile for this host: `<keysDir>/%u`. */
  keysFile: string;
  bot: ClientKey;
  knownHosts: string;
  /** A folder under /tmp for client-side files (keys, control sockets); removed by stop(). */
  dir: string;
  target: { transport: 'ssh'; name: string; address: string; port: number; user: string; hostKey: string };
  /** `ssh` options for logging in with `key` only, the host key pinned. */
  sshArgs(key: ClientKey): string[];
  /** A real `ssh` login that prints `logged-in-as=<account>`; the exit code (0 = in). */
  login(account: string, key: ClientKey): Promise<{ code: number; stdout: string; stderr: string }>;
  newKey(): ClientKey;
  stop(): Promise<void>;
}

export async function startReadmeHost(name: string, opts: { env?: Record<string, string> } = {}): Promise<ReadmeHost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `opsgate-${name}-`));
  const rootDir = rootOwnedDir(name);
  const keysDir = path.join(rootDir, 'keys');
  const botKeys = path.join(rootDir, 'bot');
  fs.mkdirSync(keysDir, { mode: 0o755 });
  fs.mkdirSync(botKeys, { mode: 0o755 });
  const bot = generateClientKey(fs.mkdtempSync(path.join(dir, 'bot-')));
  fs.writeFileSync(path.join(botKeys, 'root'), bot.publicKeyLine + '\n', { mode: 0o644 });
  const sshd = await startSshd({
    authorizedKeys: `${keysDir}/%u ${botKeys}/%u`,
    env: opts.env,
    strictModes: true,
    extraConfig: ['Match User evans,readonly', `  AuthorizedKeysFile ${keysDir}/%u`],
  });
  const hostKey = fs.readFileSync(path.join(sshd.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${hostKey}\n`);
  let people = 0;
  const sshArgs = (key: ClientKey): string[] => [
    ...['-F', '/dev/null', '-i', key.path, '-p', String(sshd.port), '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none'],
    ...['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10'],
  ];
  return {
    sshd,
    rootDir,
    keysDir,
    keysFile: `${keysDir}/%u`,
    bot,
    knownHosts,
    dir,
    target: { transport: 'ssh', name, address: '127.0.0.1', port: sshd.port, user: 'root', hostKey: sshd.fingerprint },
    sshArgs,
    login: (account, key) =>
      new Promise((resolve) =>
        execFile('ssh', [...sshArgs(key), `${account}@127.0.0.1`, 'echo "logged-in-as=$(id -un)"'], { timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
        ),
      ),
    newKey: () => personKey(dir, `person${++people}@laptop`),
    stop: async () => {
      await sshd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(rootDir, { recursive: true, force: true });
    },
  };
}
