/**
 * The demo's three hosts: one sshd each on a loopback port, set up as the README's "Host sshd
 * settings" say for a real host, with every file under DATA_DIR/demo/hosts/<name>/:
 *
 *   ssh_host_ed25519_key   the host key (kept across runs: the pinned fingerprint stays)
 *   sshd_config            its own config; never /etc/ssh
 *   keys/<account>         opsgate's key files, root-owned (what grants write)
 *   bot/<user>             the bot's public key, for the account it logs in as
 *
 * sshd reads `keys/%u` and `bot/%u` for root and only `keys/%u` for evans and readonly, with
 * StrictModes on. opsgate's gateway refuses to write key files in a folder that is not root's
 * or sits below a group- or world-writable folder (such as /tmp): the demo says so when
 * DATA_DIR is such a place, and runs sshd without StrictModes so the rest still works.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ExecutionEngine } from '../adapters/exec/engine.js';
import type { Logger } from '../logger.js';
import { DEMO_HOSTS, type DemoHost } from './demo-catalog.js';
import { startDemoSshd, type DemoSshd } from './sshd.js';

/** The accounts a grant opens besides root; the demo sshd lets them read opsgate's files only. */
export const DEMO_ROLE_ACCOUNTS = ['evans', 'readonly'];

/**
 * Why key files under `dir` would be refused by opsgate (and by sshd's StrictModes): the first
 * folder from `dir` up to `/` that is a symlink, not root's, or writable by group or others.
 */
export function unsafeFolder(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = fs.lstatSync(d);
    if (st.isSymbolicLink()) return `${d} is a symlink`;
    if (st.uid !== 0) return `${d} is not owned by root`;
    if ((st.mode & 0o022) !== 0) return `${d} is writable by group or others`;
    if (d === path.dirname(d)) return undefined;
  }
}

export interface DemoHostsOptions {
  sshd: string;
  /** DATA_DIR/demo */
  demoDir: string;
  bot: { privateKey: Buffer; publicKeyLine: string };
  /** The account the bot logs in as (root, or the demo's own user when not run as root). */
  botUser: string;
  /** Whether the key folders may be strict (root, in a tree opsgate accepts). */
  strict: boolean;
  logger: Logger;
}

export interface DemoHosts {
  hosts: DemoHost[];
  servers: DemoSshd[];
  /** Host names the bot could not run `true` on, with the reason. */
  unreachable: Record<string, string>;
  /** Synchronous: safe in an exit handler. */
  kill(): void;
}

export async function startDemoHosts(opts: DemoHostsOptions): Promise<DemoHosts> {
  const servers: DemoSshd[] = [];
  const hosts: DemoHost[] = [];
  const kill = () => servers.forEach((s) => s.kill());
  try {
    for (const spec of DEMO_HOSTS) {
      const dir = path.join(opts.demoDir, 'hosts', spec.name);
      const keysDir = path.join(dir, 'keys');
      const botDir = path.join(dir, 'bot');
      // 0755: sshd reads each account's file as that account.
      for (const d of [dir, keysDir, botDir]) {
        fs.mkdirSync(d, { recursive: true, mode: 0o755 });
        fs.chmodSync(d, 0o755);
      }
      fs.writeFileSync(path.join(botDir, opts.botUser), opts.bot.publicKeyLine + '\n', { mode: 0o644 });
      const server = await startDemoSshd({
        sshd: opts.sshd,
        dir,
        config: [
          `AuthorizedKeysFile ${keysDir}/%u ${botDir}/%u`,
          `StrictModes ${opts.strict ? 'yes' : 'no'}`,
          // At the end: the shared accounts read opsgate's file and nothing else.
          `Match User ${DEMO_ROLE_ACCOUNTS.join(',')}`,
          `    AuthorizedKeysFile ${keysDir}/%u`,
        ],
      });
      servers.push(server);
      hosts.push({ ...spec, port: server.port, fingerprint: server.fingerprint, authorizedKeysFile: `${keysDir}/%u`, sshdConfig: server.configFile });
    }
    fs.writeFileSync(path.join(opts.demoDir, 'known_hosts'), servers.map((s) => `[127.0.0.1]:${s.port} ${s.publicHostKey}\n`).join(''));
    return { hosts, servers, unreachable: await reachEach(hosts, opts), kill };
  } catch (err) {
    kill();
    throw err;
  }
}

/** Logs in to each host with the bot's key and its pinned host key, as opsgate will. */
async function reachEach(hosts: DemoHost[], opts: DemoHostsOptions): Promise<Record<string, string>> {
  const engine = new ExecutionEngine({ sshPrivateKey: opts.bot.privateKey, logger: opts.logger, connectTimeoutMs: 15_000 });
  try {
    const targets = hosts.map((h) => ({ transport: 'ssh' as const, name: h.name, address: '127.0.0.1', port: h.port, user: opts.botUser, hostKey: h.fingerprint }));
    const result = await engine.start({ targets, command: 'true', timeoutMs: 60_000, startedBy: 'system:demo' }).done;
    const unreachable: Record<string, string> = {};
    for (const [name, r] of Object.entries({ ...result.host_failed, ...result.host_unreachable })) unreachable[name] = r.error?.message ?? `exit ${r.code ?? r.signal ?? '?'}`;
    return unreachable;
  } finally {
    await engine.close();
  }
}
