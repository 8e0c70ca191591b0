/**
 * Issue 13 item 1 (and the first half of item 3): opsgate's key lines live in root-owned files
 * the role accounts cannot write or replace.
 *
 * The attack this reproduces: a grantee with a shell as `evans` loops swapping symlinks in its
 * own `~/.ssh` (the file, and the folder itself) to /etc/shadow while grants are provisioned on
 * the host. With the old layout (`%h/.ssh/authorized_keys`, rewritten by root and chowned to the
 * account) root copied /etc/shadow into a file evans then owned. Now that layout is refused
 * before any SSH, the gateway never looks into the home, and its own folder must be root's all
 * the way up. The sshd here is configured as the README says (Match block for evans and
 * readonly, StrictModes on), so a key the account appends to its own ~/.ssh/authorized_keys
 * gains it nothing.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeysGateway, type HostKeysResult } from '../../src/adapters/access/host-keys.js';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import type { SshTarget } from '../../src/adapters/exec/types.js';
import { accountsForRole, buildKeyLine, parseOpsgateLine } from '../../src/services/access/authorized-keys.js';
import { loadConfig } from '../../src/config.js';
import { ensureRoleAccounts } from '../helpers/role-accounts.js';
import { startReadmeHost, type ClientKey, type ReadmeHost } from '../helpers/sshd.js';

const HOUR = 3_600_000;
const roleAccounts = ensureRoleAccounts(['evans', 'readonly']);
const describeIf = roleAccounts.ready ? describe : describe.skip;

let host: ReadmeHost;
let dir: string;
let rootDir: string;
let keysDir: string;
let engine: ExecutionEngine;
let gateway: HostKeysGateway;
let target: SshTarget;

const home = (account: string): string => execFileSync('getent', ['passwd', account], { encoding: 'utf8' }).split(':')[5]!;
const personKey = (): ClientKey => host.newKey();
const ssh = (account: string, key: ClientKey) => host.login(account, key);

function ok<T>(r: HostKeysResult<T>): T {
  expect(r, JSON.stringify(r)).toMatchObject({ status: 'ok' });
  return (r as { value: T }).value;
}

/** Files under `root` (not following links) owned by `uid` whose text holds a line of /etc/shadow. */
function copiesOfShadow(root: string, uid: number, shadowLines: string[]): string[] {
  const found: string[] = [];
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    } else if (st.isFile() && st.uid === uid) {
      const text = fs.readFileSync(p, 'utf8');
      if (shadowLines.some((l) => text.includes(l))) found.push(p);
    }
  };
  walk(root);
  return found;
}

beforeAll(async () => {
  if (!roleAccounts.ready) return;
  host = await startReadmeHost('isolation');
  ({ dir, rootDir, keysDir, target } = host);
  engine = new ExecutionEngine({ sshPrivateKey: host.bot.privateKey, connectTimeoutMs: 10_000 });
  gateway = new HostKeysGateway({ engine, authorizedKeysFile: host.keysFile });
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

describeIf(roleAccounts.ready ? 'root-owned key files' : `root-owned key files [skipped: ${roleAccounts.ready ? '' : roleAccounts.reason}]`, () => {
  it('the default key file is root-owned, outside the homes; a %h layout is refused before any SSH', () => {
    expect(loadConfig({}).AUTHORIZED_KEYS_FILE).toBe('/etc/opsgate/authorized_keys/%u');
    expect(() => loadConfig({ AUTHORIZED_KEYS_FILE: '%h/.ssh/authorized_keys' })).toThrow(/AUTHORIZED_KEYS_FILE/);
    for (const layout of ['%h/.ssh/authorized_keys', '/home/%u/.ssh/%h']) {
      expect(() => new HostKeysGateway({ engine, authorizedKeysFile: layout }), layout).toThrow(expect.objectContaining({ code: 1100 }));
    }
  });

  it("a grantee swapping symlinks to /etc/shadow in its ~/.ssh while grants land reads nothing and owns no copy; opsgate's file stays root's", async () => {
    const evansHome = home('evans');
    const evansUid = Number(execFileSync('id', ['-u', 'evans'], { encoding: 'utf8' }));
    const shadowBefore = fs.readFileSync('/etc/shadow');
    const shadowLines = shadowBefore.toString('utf8').split('\n').filter((l) => l.includes(':'));
    // The attacker, as evans: flips ~/.ssh/authorized_keys and ~/.ssh itself between real
    // entries and symlinks to /etc/shadow and /etc, as fast as it can.
    const loop = [
      'cd "$HOME" || exit 1',
      'rm -rf .ssh .ssh-real; mkdir -p .ssh',
      'echo ready',
      'while :; do',
      '  ln -sfn /etc/shadow .ssh/authorized_keys; rm -f .ssh/authorized_keys; : > .ssh/authorized_keys',
      '  mv .ssh .ssh-real && ln -sfn /etc .ssh; rm -f .ssh; mv .ssh-real .ssh',
      'done',
    ].join('\n');
    const attacker: ChildProcess = spawn('runuser', ['-u', 'evans', '--', 'sh', '-c', loop], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve, reject) => {
        attacker.stdout!.once('data', () => resolve());
        attacker.once('exit', (code) => reject(new Error(`the attacker loop ended early (${code})`)));
      });
      const key = personKey();
      const ids = Array.from({ length: 12 }, (_, i) => `grant-race-${String(i).padStart(2, '0')}`);
      for (const grantId of ids) {
        const line = buildKeyLine({ publicKey: key.publicKeyLine, grantId, expiresAt: new Date(Date.now() + HOUR) });
        ok(await gateway.add(target, { accounts: accountsForRole('evans'), line, grantId }));
      }
      ok(await gateway.removeMany(target, { grants: ids.slice(0, 4).map((grantId) => ({ grantId, accounts: accountsForRole('evans'), publicKey: key.publicKeyLine })) }));
      ok(await gateway.list(target, ['root', 'evans', 'readonly']));
      expect(attacker.exitCode).toBeNull();

      // Nothing the account did reached opsgate's file, and no copy of a root-only file appeared.
      for (const account of ['evans', 'readonly']) {
        const file = path.join(keysDir, account);
        const st = fs.lstatSync(file);
        expect({ file: st.isFile(), uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ file: true, uid: 0, gid: 0, mode: 0o644 });
        expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => parseOpsgateLine(l)?.grantId)).toEqual(ids.slice(4));
      }
      expect(copiesOfShadow(evansHome, evansUid, shadowLines)).toEqual([]);
      expect(copiesOfShadow(keysDir, evansUid, shadowLines)).toEqual([]);
      expect(createHash('sha256').update(fs.readFileSync('/etc/shadow')).digest('hex')).toBe(createHash('sha256').update(shadowBefore).digest('hex'));
      // A real login as evans works through the root-owned file.
      expect(await ssh('evans', key)).toMatchObject({ code: 0, stdout: 'logged-in-as=evans\n' });
    } finally {
      process.kill(-attacker.pid!, 'SIGKILL');
      fs.rmSync(path.join(evansHome, '.ssh'), { recursive: true, force: true });
      fs.rmSync(path.join(evansHome, '.ssh-real'), { recursive: true, force: true });
    }
  }, 120_000);

  it('a key the account appends to its own ~/.ssh/authorized_keys gains nothing: sshd reads only opsgate\'s file for it', async () => {
    const evansHome = home('evans');
    const own = personKey();
    const granted = personKey();
    ok(await gateway.add(target, { accounts: ['evans'], grantId: 'grant-append', line: buildKeyLine({ publicKey: granted.publicKeyLine, grantId: 'grant-append', expiresAt: new Date(Date.now() + HOUR) }) }));
    try {
      // As evans: the untagged key that used to outlive every expiry.
      execFileSync('runuser', ['-u', 'evans', '--', 'sh', '-c', 'mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" && cat >> "$HOME/.ssh/authorized_keys" && chmod 600 "$HOME/.ssh/authorized_keys"'], { input: own.publicKeyLine + '\n' });
      expect(fs.statSync(path.join(evansHome, '.ssh', 'authorized_keys')).uid).toBe(Number(execFileSync('id', ['-u', 'evans'], { encoding: 'utf8' })));
      expect(await ssh('evans', granted)).toMatchObject({ code: 0 });
      const appended = await ssh('evans', own);
      expect(appended.code).toBe(255);
      expect(appended.stderr).toContain('Permission denied (publickey)');
      ok(await gateway.remove(target, { accounts: ['evans'], grantId: 'grant-append' }));
      expect((await ssh('evans', granted)).code).toBe(255);
    } finally {
      fs.rmSync(path.join(evansHome, '.ssh'), { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses, with a coded failure and no change, a key folder or parent that an account owns or that group/others may write, a symlinked folder, a symlinked or foreign file', async () => {
    const base = path.join(rootDir, 'checks');
    const evansUid = Number(execFileSync('id', ['-u', 'evans'], { encoding: 'utf8' }));
    const key = personKey();
    const tryAdd = async (template: string) => {
      const g = new HostKeysGateway({ engine, authorizedKeysFile: template });
      const line = buildKeyLine({ publicKey: key.publicKeyLine, grantId: 'grant-check', expiresAt: new Date(Date.now() + HOUR) });
      return g.add(target, { accounts: ['evans'], line, grantId: 'grant-check' });
    };
    const fresh = (name: string): string => {
      const d = path.join(base, name, 'keys');
      fs.mkdirSync(d, { recursive: true, mode: 0o755 });
      fs.chmodSync(path.join(base, name), 0o755);
      fs.chmodSync(base, 0o755);
      return d;
    };
    const cases: Array<{ name: string; setup: () => string; message: RegExp }> = [
      { name: 'owned', setup: () => (fs.chownSync(fresh('owned'), evansUid, 0), `${base}/owned/keys/%u`), message: /keys is owned by uid \d+, not root/ },
      { name: 'group', setup: () => (fs.chmodSync(fresh('group'), 0o775), `${base}/group/keys/%u`), message: /keys is writable by group or others \(mode 775\)/ },
      { name: 'world', setup: () => (fs.chmodSync(fresh('world'), 0o1777), `${base}/world/keys/%u`), message: /keys is writable by group or others \(mode 1777\)/ },
      { name: 'parent', setup: () => (fresh('parent'), fs.chownSync(path.join(base, 'parent'), evansUid, 0), `${base}/parent/keys/%u`), message: /parent is owned by uid \d+, not root/ },
      { name: 'link', setup: () => (fresh('link-real'), fs.symlinkSync(path.join(base, 'link-real'), path.join(base, 'link')), `${base}/link/keys/%u`), message: /link is a symbolic link/ },
      { name: 'file-link', setup: () => (fs.symlinkSync('/etc/shadow', path.join(fresh('file-link'), 'evans')), `${base}/file-link/keys/%u`), message: /evans is a symbolic link; refusing to follow it/ },
      { name: 'file-owned', setup: () => { const d = fresh('file-owned'); fs.writeFileSync(path.join(d, 'evans'), '', { mode: 0o644 }); fs.chownSync(path.join(d, 'evans'), evansUid, 0); return `${base}/file-owned/keys/%u`; }, message: /evans is owned by uid \d+, not root/ },
      { name: 'tmp', setup: () => (fs.mkdirSync(path.join(dir, 'keys')), `${dir}/keys/%u`), message: /\/tmp is writable by group or others \(mode 1777\)/ },
    ];
    for (const c of cases) {
      const template = c.setup();
      const folder = path.dirname(template);
      const before = fs.readdirSync(folder).sort();
      const r = await tryAdd(template);
      expect(r, c.name).toMatchObject({ status: 'failed', message: expect.stringMatching(c.message) });
      expect(fs.readdirSync(folder).sort(), c.name).toEqual(before);
    }
    // A listing and a removal refuse the same way.
    expect(await gateway.list(target, ['evans'])).toMatchObject({ status: 'ok' });
    const owned = new HostKeysGateway({ engine, authorizedKeysFile: `${base}/owned/keys/%u` });
    expect(await owned.list(target, ['evans'])).toMatchObject({ status: 'failed', message: expect.stringMatching(/owned by uid/) });
    expect(await owned.remove(target, { accounts: ['evans'], grantId: 'grant-check' })).toMatchObject({ status: 'failed', message: expect.stringMatching(/owned by uid/) });
    expect(fs.readlinkSync(path.join(base, 'file-link', 'keys', 'evans'))).toBe('/etc/shadow');
  }, 120_000);
});
