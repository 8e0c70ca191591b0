/**
 * A whole host-access world for end-to-end tests: two real sshd "bastions" on loopback, set up
 * as the README says for a real host (opsgate's root-owned `<keys>/%u` is the only key file
 * sshd reads for evans and readonly; root also reads the bot's own key file; StrictModes on;
 * ExposeAuthInfo yes), the role accounts, people with real key pairs in the directory, a real
 * SMTP server, and the real opsgate app talking to the fake Slack API.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { exampleCatalog, startOpsgate, USERS, type TestOpsgate } from './opsgate.js';
import { ensureRoleAccounts, type RoleAccountsStatus } from './role-accounts.js';
import { TestSmtpServer } from './smtp.js';
import { generateClientKey, rootOwnedDir, startSshd, type ClientKey, type SshdInstance } from './sshd.js';

export interface Bastion {
  name: string;
  sshd: SshdInstance;
  /** Root-owned: opsgate's file for account `a` is `<keysDir>/a`. */
  keysDir: string;
  knownHosts: string;
}

export interface AccessWorld {
  smtp: TestSmtpServer;
  bastions: Bastion[];
  bot: ClientKey;
  /** Each directory person's key pair, as their laptop holds it. */
  keys: Record<string, ClientKey>;
  dir: string;
  /** Root-owned folder holding the bastions' key folders. */
  rootDir: string;
  lines(bastion: Bastion, account: string): string[];
  /** A real ssh login; resolves with the exit code (0 = logged in) and what the remote printed. */
  login(bastion: Bastion, account: string, person: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The catalog (with directory.yaml) that lists the bastions and the people's keys. */
  catalogDir: string;
  /** What a bot in this world runs with besides the store, Slack and its data folder. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface AccessEnv extends AccessWorld {
  t: TestOpsgate;
}

export const roleAccounts: RoleAccountsStatus = ensureRoleAccounts(['evans', 'readonly']);

/** People of the example directory, plus an ops member below the approver level. */
const EXTRA_PEOPLE = [{ id: 'gina', name: 'Gina Junior', email: 'gina@example.com', level: 'P5', department: 'operations', manager: 'alice', groups: ['ops'] }];
export const GINA = { id: 'UGINA', email: 'gina@example.com', name: 'gina' };

function personKey(dir: string, id: string): ClientKey {
  const d = fs.mkdtempSync(path.join(dir, `${id}-`));
  const file = path.join(d, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${id}@laptop`, '-f', file], { stdio: 'ignore' });
  return { path: file, privateKey: fs.readFileSync(file), publicKeyLine: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

/**
 * The world without the bot: the bastions, the catalog listing them, the people's keys, the
 * SMTP server, and the environment a bot needs to run in it (in this process or as its own).
 */
export async function buildAccessWorld(opts: { dayMs: number; env?: Record<string, string> }): Promise<AccessWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-access-'));
  // sshd reads each account's key file as that account: the folders must be reachable.
  fs.chmodSync(dir, 0o755);
  const bot = generateClientKey(fs.mkdtempSync(path.join(dir, 'bot-')));
  const rootDir = rootOwnedDir('access-env');
  const bastions: Bastion[] = [];
  for (const name of ['bastion-a', 'bastion-b']) {
    const keysDir = path.join(rootDir, name, 'keys');
    const botKeys = path.join(rootDir, name, 'bot');
    fs.mkdirSync(keysDir, { recursive: true, mode: 0o755 });
    fs.mkdirSync(botKeys, { mode: 0o755 });
    fs.writeFileSync(path.join(botKeys, 'root'), bot.publicKeyLine + '\n', { mode: 0o644 });
    const sshd = await startSshd({
      authorizedKeys: `${keysDir}/%u ${botKeys}/%u`,
      strictModes: true,
      extraConfig: ['Match User evans,readonly', `  AuthorizedKeysFile ${keysDir}/%u`],
    });
    const hostKey = fs.readFileSync(path.join(sshd.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const knownHosts = path.join(dir, `${name}.known_hosts`);
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${hostKey}\n`);
    bastions.push({ name, sshd, keysDir, knownHosts });
  }

  const catalogDir = path.join(dir, 'catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const hosts = YAML.parse(fs.readFileSync(path.join(catalogDir, 'hosts.yaml'), 'utf8')) as { hosts: Array<Record<string, unknown>> };
  hosts.hosts.push(
    ...bastions.map((b) => ({
      name: b.name,
      address: '127.0.0.1',
      port: b.sshd.port,
      hostKey: b.sshd.fingerprint,
      project: 'edge',
      env: 'prod',
      authorizedKeysFile: `${b.keysDir}/%u`,
      sshdConfig: b.sshd.config,
    })),
  );
  fs.writeFileSync(path.join(catalogDir, 'hosts.yaml'), YAML.stringify(hosts));

  const keys: Record<string, ClientKey> = {};
  const directory = YAML.parse(fs.readFileSync(path.join(catalogDir, 'directory.yaml'), 'utf8')) as { people: Array<Record<string, unknown>> };
  directory.people.push(...EXTRA_PEOPLE);
  for (const p of directory.people) {
    const id = String(p.id);
    keys[id] = personKey(dir, id);
    p.sshKeys = [keys[id]!.publicKeyLine];
  }
  fs.writeFileSync(path.join(catalogDir, 'directory.yaml'), YAML.stringify(directory));

  const smtp = await TestSmtpServer.start();
  const env: Record<string, string> = {
    SSH_PRIVATE_KEY_PATH: bot.path,
    SSH_USER: 'root',
    ACCESS_DAY_MS: String(opts.dayMs),
    SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    MAIL_FROM: 'opsgate <opsgate@example.com>',
    MAIL_BACKOFF_BASE_MS: '200',
    ADMIN_CHANNEL: 'C0ADMIN',
    EXEC_CONNECT_TIMEOUT_MS: '2000',
    ...opts.env,
  };
  return {
    smtp,
    bastions,
    bot,
    keys,
    dir,
    rootDir,
    catalogDir,
    env,
    lines: (b, account) => {
      const f = path.join(b.keysDir, account);
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
    },
    login: (b, account, person) =>
      new Promise((resolve) => {
        const args = [
          ...['-F', '/dev/null', '-i', keys[person]!.path, '-p', String(b.sshd.port)],
          ...['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'StrictHostKeyChecking=yes'],
          ...['-o', `UserKnownHostsFile=${b.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5'],
          `${account}@127.0.0.1`,
          'echo "logged-in-as=$(id -un)"',
        ];
        execFile('ssh', args, { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
      }),
    async stop() {
      await smtp.stop();
      for (const b of bastions) {
        b.sshd.resume();
        await b.sshd.stop();
      }
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(rootDir, { recursive: true, force: true });
    },
  };
}

export async function startAccessEnv(opts: { dayMs: number; env?: Record<string, string> }): Promise<AccessEnv> {
  const world = await buildAccessWorld(opts);
  const t = await startOpsgate({ catalogDir: world.catalogDir, env: world.env });
  t.fake.addUser(GINA);
  return {
    ...world,
    t,
    async stop() {
      await t.stop();
      await world.stop();
    },
  };
}

export { USERS };

/** Polls until `check` holds (a generous ceiling: correctness, not speed). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | null | false>, ceilingMs = 20_000): Promise<T> {
  const until = Date.now() + ceilingMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
