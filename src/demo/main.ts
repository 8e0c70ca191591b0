/**
 * Entry point of `npm run demo`: what `npm start` does (src/main.ts, unchanged), on a world of
 * its own under DATA_DIR/demo. First it starts three throwaway sshd on loopback ports
 * (demo-hosts.ts), writes a demo catalog pinning them and a directory whose people have demo
 * key pairs (demo-catalog.ts), and points CATALOG_DIR, DIRECTORY_SOURCE, SSH_PRIVATE_KEY_PATH
 * and SSH_USER at them; then it hands over to src/main.ts. The sshd go when the process does
 * (SIGINT/SIGTERM, or the bot failing to start: every way out of src/main.ts is process.exit).
 *
 * What cannot be had is said and skipped, never fatal: without sshd there are no demo hosts
 * (tickets run on `local`); not as root there are no role accounts and no root-owned key
 * files, so host access grants are refused while module runs and tickets still work.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateBotKey } from '../adapters/exec/bot-key.js';
import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { writeDemoCatalog, writeDemoDirectory, type DemoHost } from './demo-catalog.js';
import { DEMO_ROLE_ACCOUNTS, startDemoHosts, unsafeFolder, type DemoHosts } from './demo-hosts.js';
import { ensureRoleAccounts } from './role-accounts.js';

const INSTALL_SSHD = 'apt-get install -y openssh-server';
const EXAMPLE_CATALOG = path.resolve(import.meta.dirname, '../../catalog');

function sshdUsable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** What the role accounts and key folders allow: whether sshd may be strict, with the reasons it may not. */
function accessReadiness(hostsDir: string, logger: Logger): boolean {
  if (process.getuid?.() !== 0) {
    logger.warn(
      `not running as root: the role accounts (${DEMO_ROLE_ACCOUNTS.join(', ')}) cannot be created and opsgate's key files cannot be root's, so host access grants will be refused; module runs and tickets log in to the demo hosts as ${os.userInfo().username}`,
    );
    return false;
  }
  const accounts = ensureRoleAccounts(DEMO_ROLE_ACCOUNTS);
  if (!accounts.ready) logger.warn(`role accounts not ready (${accounts.reason}): grants of evans or readonly cannot be used to log in; root grants still work`);
  else if (accounts.created.length > 0) logger.info({ created: accounts.created }, `created the role accounts ${accounts.created.join(', ')} (system users)`);
  const unsafe = unsafeFolder(hostsDir);
  if (unsafe) {
    logger.warn(`${unsafe}: opsgate refuses to write grants below it, so host access will fail; set DATA_DIR to a root-owned folder such as /var/lib/opsgate-demo`);
    return false;
  }
  return true;
}

async function prepare(config: Config, logger: Logger): Promise<DemoHosts | undefined> {
  const demoDir = path.join(config.DATA_DIR, 'demo');
  fs.mkdirSync(path.join(demoDir, 'hosts'), { recursive: true, mode: 0o755 });
  // sshd reads a role account's key file as that account: it must be able to pass DATA_DIR
  // (the store and the bot key stay in their own 0700 folders).
  if (process.getuid?.() === 0) fs.chmodSync(config.DATA_DIR, (fs.statSync(config.DATA_DIR).mode & 0o777) | 0o011);
  const bot = loadOrCreateBotKey(config.SSH_PRIVATE_KEY_PATH, config.DATA_DIR, logger);
  const botUser = process.getuid?.() === 0 ? 'root' : os.userInfo().username;

  let demo: DemoHosts | undefined;
  if (!sshdUsable(config.DEMO_SSHD)) {
    logger.warn(`sshd not found at ${config.DEMO_SSHD}: install it with \`${INSTALL_SSHD}\` and run npm run demo again; going on without demo hosts (tickets run on \`local\` only)`);
  } else if (!bot) {
    logger.warn('no bot SSH key (ssh-keygen missing?): going on without demo hosts');
  } else {
    const strict = accessReadiness(path.join(demoDir, 'hosts'), logger);
    try {
      demo = await startDemoHosts({ sshd: config.DEMO_SSHD, demoDir, bot, botUser, strict, logger });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'the demo hosts did not start: going on without them (tickets run on `local` only)');
    }
  }
  const hosts: DemoHost[] = demo?.hosts ?? [];
  const catalogDir = path.join(demoDir, 'catalog');
  // The demo's copy is rewritten on every run: it cannot be its own source.
  const ownCopy = !path.relative(catalogDir, config.CATALOG_DIR).startsWith('..');
  if (ownCopy) logger.warn(`CATALOG_DIR is the demo's own copy (${config.CATALOG_DIR}): copying the example catalog instead`);
  writeDemoCatalog(ownCopy ? EXAMPLE_CATALOG : config.CATALOG_DIR, catalogDir, hosts);
  const sourceDirectory = /^https?:\/\//i.test(config.DIRECTORY_SOURCE) ? path.join(config.CATALOG_DIR, 'directory.yaml') : config.DIRECTORY_SOURCE;
  const directoryFile = path.join(demoDir, 'directory.yaml');
  const people = writeDemoDirectory(sourceDirectory, directoryFile, path.join(demoDir, 'people'));

  process.env.CATALOG_DIR = catalogDir;
  process.env.DIRECTORY_SOURCE = directoryFile;
  if (bot && demo) {
    process.env.SSH_PRIVATE_KEY_PATH = bot.path;
    process.env.SSH_USER = botUser;
  }
  logger.info({ catalog: catalogDir, directory: directoryFile }, 'demo catalog and directory written');
  if (!demo) return undefined;

  for (const [name, reason] of Object.entries(demo.unreachable)) logger.warn({ host: name, reason }, `demo host ${name} did not accept the bot's key: ${reason}`);
  const reached = hosts.filter((h) => !(h.name in demo.unreachable));
  if (reached.length > 0) {
    const list = reached.map((h) => `${h.name} 127.0.0.1:${h.port} (${h.fingerprint})`).join(', ');
    logger.info({ hosts: reached.map((h) => ({ name: h.name, port: h.port, fingerprint: h.fingerprint, pid: demo.servers[hosts.indexOf(h)]!.child.pid })) }, `demo hosts ready: ${list}`);
  }
  const knownHosts = path.join(demoDir, 'known_hosts');
  const first = hosts[0]!;
  for (const p of people) {
    logger.info(
      { person: p.id, key: p.keyPath },
      `demo person ${p.id} (${p.name}): private key ${p.keyPath}; once granted: ssh -i ${p.keyPath} -o UserKnownHostsFile=${knownHosts} -p ${first.port} <root|evans|readonly>@127.0.0.1 (${first.name}; the other hosts' ports are above)`,
    );
  }
  return demo;
}

let demo: DemoHosts | undefined;
// Every way out of the process ends the demo's sshd, src/main.ts's process.exit included.
process.on('exit', () => demo?.kill());
// A signal before src/main.ts has its own handlers (it installs them once the bot is up).
const early = (signal: NodeJS.Signals) => {
  if (process.listenerCount(signal) > 1) return;
  demo?.kill();
  process.exit(0);
};
process.on('SIGINT', early);
process.on('SIGTERM', early);

let config: Config | undefined;
try {
  config = loadConfig();
} catch {
  // src/main.ts reports a bad configuration, one line per variable.
}
if (config) demo = await prepare(config, createLogger(config.LOG_LEVEL));
await import('../main.js');
