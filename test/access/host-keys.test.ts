/**
 * Access grants on a host: the key line (pure), and the authorized_keys gateway against a real
 * OpenSSH sshd on loopback, checked with real `ssh` logins as the role accounts.
 *
 * The sshd is set up as the README says for a real host: opsgate's files in a root-owned folder
 * (`<root-owned>/keys/%u`, the only file sshd reads for evans and readonly), the bot's own key
 * in a file of its own for root, StrictModes on. It runs with TZ=UTC-14, so a line whose
 * `expiry-time=...Z` were read as local time would be off by 14 hours and the login checks
 * would fail.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compileKeysPath, HostKeysGateway, MAX_GRANTS_PER_REMOVE, type HostKeysResult, type Listed } from '../../src/adapters/access/host-keys.js';
import { hostKeysPort } from '../../src/adapters/access/host-keys-port.js';
import type { Host } from '../../src/models/inventory.js';
import { ExecutionEngine, type StartRunOptions } from '../../src/adapters/exec/engine.js';
import type { SshTarget } from '../../src/adapters/exec/types.js';
import { accountsForRole, buildKeyLine, formatExpiryTime, parseExpiryTime, parseOpsgateLine, type AccessRole } from '../../src/services/access/authorized-keys.js';
import { ensureRoleAccounts } from '../helpers/role-accounts.js';
import { freePort, startReadmeHost, type ClientKey, type ReadmeHost } from '../helpers/sshd.js';

const HOUR = 3_600_000;

/** The role accounts must be real users for sshd to log anyone into them. */
const roleAccounts = ensureRoleAccounts(['evans', 'readonly']);
/** A test that needs the role accounts; skipped, with the reason in its title, without them. */
const withAccounts = (title: string, fn: () => Promise<void>) =>
  roleAccounts.ready ? it(title, fn) : it.skip(`${title} [skipped: ${roleAccounts.reason}]`, fn);

let host: ReadmeHost;
let dir: string;
let keysDir: string;
let bot: ClientKey;
let engine: ExecutionEngine;
/** Runs the gateway started on the engine, to prove refusals happen before any SSH. */
const runs: StartRunOptions[] = [];
let gateway: HostKeysGateway;
let target: SshTarget;

beforeAll(async () => {
  host = await startReadmeHost('bastion-test', { env: { TZ: 'UTC-14' } });
  ({ dir, keysDir, bot, target } = host);
  engine = new ExecutionEngine({ sshPrivateKey: bot.privateKey, connectTimeoutMs: 5000 });
  gateway = new HostKeysGateway({
    engine: { start: (o) => (runs.push(o), engine.start(o)) },
    authorizedKeysFile: host.keysFile,
  });
});

afterAll(async () => {
  await host?.stop();
});

// Every test starts from: no opsgate files (the bot's key is in a file of its own).
beforeEach(() => {
  if (!keysDir) return;
  for (const name of fs.readdirSync(keysDir)) fs.rmSync(path.join(keysDir, name), { recursive: true, force: true });
});

const keysFile = (account: string): string => path.join(keysDir, account);
const read = (account: string): string => (fs.existsSync(keysFile(account)) ? fs.readFileSync(keysFile(account), 'utf8') : '');
const linesOf = (account: string): string[] => read(account).split('\n').filter(Boolean);

/** A person's key pair, as their laptop would have it. */
const requester = (): ClientKey => host.newKey();
/** A real `ssh` login with only this key; the remote prints who it is. */
const ssh = (account: string, key: ClientKey) => host.login(account, key);

async function expectLogin(account: string, key: ClientKey): Promise<void> {
  const r = await ssh(account, key);
  expect(r, `login as ${account}`).toMatchObject({ code: 0, stdout: `logged-in-as=${account}\n` });
}

async function expectRefused(account: string, key: ClientKey): Promise<void> {
  const r = await ssh(account, key);
  expect(r.code, `login as ${account} should be refused: ${r.stdout}${r.stderr}`).toBe(255);
  expect(r.stderr).toContain('Permission denied (publickey)');
}

function okValue<T>(r: HostKeysResult<T>): T {
  expect(r, JSON.stringify(r)).toMatchObject({ status: 'ok', host: 'bastion-test' });
  return (r as { value: T }).value;
}

/** Writes a grant the way the access service will: line from the key, accounts from the role. */
async function grant(key: ClientKey, grantId: string, role: AccessRole, expiresAt = new Date(Date.now() + HOUR)) {
  const line = buildKeyLine({ publicKey: key.publicKeyLine, grantId, expiresAt });
  return { line, result: await gateway.add(target, { accounts: accountsForRole(role), line, grantId }) };
}

/** Processes on this machine (the test host) blocked in the scripts' `flock -w 30 9`. */
/**
 * Scripts of this file's sshd waiting in flock. The lock is the host's (one per machine), so
 * other test runs on the same machine wait in it too: only descendants of our sshd count.
 */
function waitingInFlock(): number {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]!.trim() }));
  const parent = new Map(rows.map((r) => [r.pid, r.ppid]));
  const ours = (pid: number): boolean => {
    for (let p: number | undefined = pid, hops = 0; p && p > 1 && hops < 64; p = parent.get(p), hops++) if (p === host.sshd.child.pid) return true;
    return false;
  };
  return rows.filter((r) => r.args === 'flock -w 30 9' && ours(r.pid)).length;
}

async function waitFor(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A revocation that found no live connection of the touched accounts. */
const noSessions = { ended: 0, endedUnattributed: 0, kept: 0, strays: 0, endedByGrant: {} };

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

describe('key lines (pure)', () => {
  it('a role covers itself and every role below it: root > evans > readonly', () => {
    expect(accountsForRole('root')).toEqual(['root', 'evans', 'readonly']);
    expect(accountsForRole('evans')).toEqual(['evans', 'readonly']);
    expect(accountsForRole('readonly')).toEqual(['readonly']);
  });

  it('expiry-time is UTC and rounded up to the next whole minute', () => {
    expect(formatExpiryTime(new Date('2026-03-01T10:15:00.000Z'))).toBe('202603011015Z');
    expect(formatExpiryTime(new Date('2026-03-01T10:15:00.001Z'))).toBe('202603011016Z');
    expect(formatExpiryTime(new Date('2026-12-31T23:59:30Z'))).toBe('202701010000Z');
    expect(parseExpiryTime('202701010000Z')).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(parseExpiryTime('202602300000Z')).toBeNull();
    expect(parseExpiryTime('2026022300000')).toBeNull();
    expect(() => formatExpiryTime(new Date(Number.NaN))).toThrow(expect.objectContaining({ code: 1100 }));
  });

  it('the line keeps only the key type and blob, then the grant comment; it parses back', () => {
    const line = buildKeyLine({
      publicKey: `${ED25519} alice@laptop opsgate-grant:someone-else`,
      grantId: 'gr_0001',
      expiresAt: new Date('2026-05-04T03:02:01Z'),
    });
    expect(line).toBe(`expiry-time="202605040303Z" ${ED25519} opsgate-grant:gr_0001`);
    expect(parseOpsgateLine(line)).toEqual({ grantId: 'gr_0001', expiresAt: new Date('2026-05-04T03:03:00Z'), keyType: 'ssh-ed25519' });
    for (const foreign of [
      `${ED25519} alice@laptop`,
      `${ED25519} opsgate-grant:gr_0001`,
      `command="id" expiry-time="202605040303Z" ${ED25519} opsgate-grant:gr_0001`,
      `expiry-time="202605040303Z" ${ED25519} opsgate-grant:gr_0001 extra`,
      `expiry-time="202613040303Z" ${ED25519} opsgate-grant:gr_0001`,
    ]) {
      expect(parseOpsgateLine(foreign), foreign).toBeNull();
    }
  });

  it('hostile grant ids and keys are refused with 1100', () => {
    const expiresAt = new Date(Date.now() + HOUR);
    for (const grantId of ['abc;rm -rf /', '$(id)x', 'abc def', "abc'def", 'abc\ndef', 'short', 'x'.repeat(41), '../../etc']) {
      expect(() => buildKeyLine({ publicKey: ED25519, grantId, expiresAt }), JSON.stringify(grantId)).toThrow(expect.objectContaining({ code: 1100 }));
    }
    for (const publicKey of [
      `command="id" ${ED25519}`,
      `${ED25519}\n${ED25519} second line`,
      'ssh-ed25519 not!base64',
      `ssh-rsa ${ED25519.split(' ')[1]}`,
      '',
    ]) {
      expect(() => buildKeyLine({ publicKey, grantId: 'gr_0001', expiresAt }), JSON.stringify(publicKey)).toThrow(expect.objectContaining({ code: 1100 }));
    }
  });

  it('the key file path template: absolute, %u and %% only; never in the accounts\' homes', () => {
    expect(compileKeysPath("/etc/ssh/it's/%u")).toEqual({ shellWord: `'/etc/ssh/it'\\''s/'"$account"`, perAccountFolder: false });
    expect(compileKeysPath('/etc/opsgate/%u/keys')).toEqual({ shellWord: `'/etc/opsgate/'"$account"'/keys'`, perAccountFolder: true });
    for (const bad of ['%h/.ssh/authorized_keys', '/home/%h/keys', '.ssh/authorized_keys', '/keys/%p', '/keys/%', '/keys/', '/keys/%u\n/x', '/etc/../tmp/%u']) {
      expect(() => new HostKeysGateway({ engine, authorizedKeysFile: bad }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 1100 }));
    }
  });
});

describe('the gateway on a real sshd', () => {
  withAccounts('add writes one line with expiry-time and the grant comment per covered account; twice still leaves one', async () => {
    const alice = requester();
    const expiresAt = new Date(Date.now() + 2 * HOUR);
    const { line, result } = await grant(alice, 'grant-add-1', 'evans', expiresAt);
    expect(okValue(result)).toEqual({ accounts: [{ account: 'evans', replaced: 0 }, { account: 'readonly', replaced: 0 }] });

    const expected = `expiry-time="${formatExpiryTime(expiresAt)}" ${alice.publicKeyLine.split(' ').slice(0, 2).join(' ')} opsgate-grant:grant-add-1`;
    expect(line).toBe(expected);
    expect(linesOf('evans')).toEqual([expected]);
    expect(linesOf('readonly')).toEqual([expected]);
    expect(linesOf('root')).toEqual([]);

    const again = await gateway.add(target, { accounts: accountsForRole('evans'), line, grantId: 'grant-add-1' });
    expect(okValue(again)).toEqual({ accounts: [{ account: 'evans', replaced: 1 }, { account: 'readonly', replaced: 1 }] });
    expect(linesOf('evans')).toEqual([expected]);
    expect(linesOf('readonly')).toEqual([expected]);

    // Root's files, readable by sshd as the account, never the account's; no temp file left.
    for (const account of ['evans', 'readonly']) {
      const file = fs.statSync(keysFile(account));
      expect({ uid: file.uid, gid: file.gid, mode: file.mode & 0o777 }).toEqual({ uid: 0, gid: 0, mode: 0o644 });
    }
    expect(fs.readdirSync(keysDir).sort()).toEqual(['evans', 'readonly']);
  });

  withAccounts('real ssh logins: a grant opens every account its role covers and no other', async () => {
    const [r, e, ro] = [requester(), requester(), requester()];
    okValue((await grant(r, 'grant-login-root', 'root')).result);
    okValue((await grant(e, 'grant-login-evans', 'evans')).result);
    okValue((await grant(ro, 'grant-login-ro', 'readonly')).result);

    for (const account of ['root', 'evans', 'readonly']) await expectLogin(account, r);
    await expectRefused('root', e);
    await expectLogin('evans', e);
    await expectLogin('readonly', e);
    await expectRefused('root', ro);
    await expectRefused('evans', ro);
    await expectLogin('readonly', ro);
    // The bot still gets in as root, through its own key file.
    await expectLogin('root', bot);
  });

  withAccounts('remove deletes exactly that grant line from every account; other grants and hand-written lines stay', async () => {
    const [a, b, other] = [requester(), requester(), requester()];
    okValue((await grant(a, 'grant-rm-a', 'evans')).result);
    // Hand-written lines around opsgate's: a plain key and one whose comment merely mentions the id.
    fs.appendFileSync(keysFile('readonly'), `${other.publicKeyLine} added by hand\n${ED25519} note: opsgate-grant:grant-rm-a was here\n`);
    okValue((await grant(b, 'grant-rm-b', 'readonly')).result);
    const before = linesOf('readonly');
    expect(before).toHaveLength(4);
    await expectLogin('evans', a);
    await expectLogin('readonly', a);

    const removed = await gateway.remove(target, { accounts: accountsForRole('evans'), grantId: 'grant-rm-a' });
    expect(okValue(removed)).toEqual({
      accounts: [
        { account: 'evans', removed: 1, accountMissing: false },
        { account: 'readonly', removed: 1, accountMissing: false },
      ],
      sessions: noSessions,
    });
    expect(linesOf('evans')).toEqual([]);
    expect(linesOf('readonly')).toEqual(before.slice(1));
    expect(linesOf('root')).toEqual([]);

    await expectRefused('evans', a);
    await expectRefused('readonly', a);
    await expectLogin('readonly', b);
    await expectLogin('readonly', other);

    // Again: nothing left to remove, nothing changed.
    const again = await gateway.remove(target, { accounts: accountsForRole('evans'), grantId: 'grant-rm-a' });
    expect(okValue(again).accounts.map((x) => x.removed)).toEqual([0, 0]);
    expect(linesOf('readonly')).toEqual(before.slice(1));
  });

  withAccounts('sshd refuses a line whose expiry-time has passed; the same key with a later expiry gets in', async () => {
    const late = requester();
    const { line } = await grant(late, 'grant-expired', 'readonly', new Date(Date.now() - HOUR));
    expect(linesOf('readonly')).toEqual([line]);
    await expectRefused('readonly', late);

    const renewed = await grant(late, 'grant-expired', 'readonly', new Date(Date.now() + HOUR));
    expect(okValue(renewed.result).accounts).toEqual([{ account: 'readonly', replaced: 1 }]);
    expect(linesOf('readonly')).toEqual([renewed.line]);
    await expectLogin('readonly', late);
  });

  withAccounts("list returns opsgate's grants per account with their expiry, and hand-edited opsgate lines apart", async () => {
    const [a, b] = [requester(), requester()];
    const aExpiry = new Date(Date.now() + 5 * HOUR + 1234);
    const bExpiry = new Date(Date.now() + 24 * HOUR);
    okValue((await grant(a, 'grant-list-a', 'evans', aExpiry)).result);
    okValue((await grant(b, 'grant-list-b', 'readonly', bExpiry)).result);
    fs.appendFileSync(keysFile('readonly'), `${ED25519} opsgate-grant:hand-edited\n${ED25519} someone\n`);

    const listed = okValue<Listed>(await gateway.list(target, ['root', 'evans', 'readonly']));
    const at = (d: Date) => parseExpiryTime(formatExpiryTime(d));
    expect(listed).toEqual({
      accounts: [
        { account: 'root', accountMissing: false, grants: [], malformed: [] },
        { account: 'evans', accountMissing: false, grants: [{ grantId: 'grant-list-a', expiresAt: at(aExpiry), keyType: 'ssh-ed25519' }], malformed: [] },
        {
          account: 'readonly',
          accountMissing: false,
          grants: [
            { grantId: 'grant-list-a', expiresAt: at(aExpiry), keyType: 'ssh-ed25519' },
            { grantId: 'grant-list-b', expiresAt: at(bExpiry), keyType: 'ssh-ed25519' },
          ],
          malformed: [{ grantId: 'hand-edited', line: `${ED25519} opsgate-grant:hand-edited` }],
        },
      ],
    });
  });

  withAccounts("changes on one host wait for the host's lock, then all of them land", async () => {
    // Hold the lock the scripts take, start four grants, and see all four wait in flock.
    const lock = '/run/opsgate/authorized-keys.lock';
    fs.mkdirSync(path.dirname(lock), { recursive: true, mode: 0o700 });
    const holder = spawn('flock', [lock, 'sh', '-c', 'echo held; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout!, 'data');
      const key = requester();
      const ids = ['grant-lock-0', 'grant-lock-1', 'grant-lock-2', 'grant-lock-3'];
      const pending = ids.map((id) => grant(key, id, 'readonly'));
      await waitFor('four scripts waiting for the lock', () => waitingInFlock() === 4);
      expect(fs.existsSync(keysFile('readonly'))).toBe(false);

      holder.stdin!.end();
      for (const r of await Promise.all(pending)) okValue(r.result);
      expect(linesOf('readonly').map((l) => parseOpsgateLine(l)?.grantId).sort()).toEqual(ids);
    } finally {
      holder.kill();
    }
  });

  withAccounts('a symlinked key file is refused, not followed', async () => {
    const secret = path.join(dir, 'secret.txt');
    fs.writeFileSync(secret, 'root-only secret\n', { mode: 0o600 });
    fs.symlinkSync(secret, keysFile('evans'));
    const { result } = await grant(requester(), 'grant-symlink', 'evans');
    expect(result).toMatchObject({ status: 'failed', message: expect.stringContaining('is a symbolic link') });
    expect(fs.lstatSync(keysFile('evans')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(secret, 'utf8')).toBe('root-only secret\n');
    expect(fs.readdirSync(keysDir)).toEqual(['evans']);
  });

  withAccounts('removeMany takes many grants out of their own accounts in one call; every other line stays, untouched files are not rewritten', async () => {
    const [a, b, c, d, other] = [requester(), requester(), requester(), requester(), requester()];
    okValue((await grant(a, 'grant-many-a', 'evans')).result);
    okValue((await grant(b, 'grant-many-b', 'readonly')).result);
    okValue((await grant(c, 'grant-many-c', 'root')).result);
    okValue((await grant(d, 'grant-many-d', 'readonly')).result);
    // Lines that only look like the grants': a longer id, the id in the middle of a comment.
    const lookalikes = [`${other.publicKeyLine} opsgate-grant:grant-many-ax`, `${ED25519} note: opsgate-grant:grant-many-b was here`, `${ED25519} opsgate-grant:grant-many-c extra`];
    fs.appendFileSync(keysFile('readonly'), lookalikes.map((l) => l + '\n').join(''));
    const readonlyBefore = linesOf('readonly');
    const rootInode = fs.statSync(keysFile('root')).ino;
    await expectLogin('evans', a);
    await expectLogin('readonly', b);

    const before = runs.length;
    const r = await gateway.removeMany(target, {
      grants: [
        { grantId: 'grant-many-a', accounts: accountsForRole('evans') },
        { grantId: 'grant-many-b', accounts: accountsForRole('readonly') },
        { grantId: 'grant-many-c', accounts: accountsForRole('root') },
        { grantId: 'grant-many-gone', accounts: accountsForRole('readonly') },
      ],
    });
    expect(runs.length - before).toBe(1);
    const one = (account: string, removed: number) => ({ account, removed, accountMissing: false });
    expect(okValue(r)).toEqual({
      grants: [
        { grantId: 'grant-many-a', accounts: [one('evans', 1), one('readonly', 1)] },
        { grantId: 'grant-many-b', accounts: [one('readonly', 1)] },
        { grantId: 'grant-many-c', accounts: [one('root', 1), one('evans', 1), one('readonly', 1)] },
        { grantId: 'grant-many-gone', accounts: [one('readonly', 0)] },
      ],
      sessions: noSessions,
    });
    expect(linesOf('root')).toEqual([]);
    expect(linesOf('evans')).toEqual([]);
    const gone = ['grant-many-a', 'grant-many-b', 'grant-many-c'].map((id) => readonlyBefore.find((l) => l.endsWith(` opsgate-grant:${id}`)));
    expect(linesOf('readonly')).toEqual(readonlyBefore.filter((l) => !gone.includes(l)));
    expect(linesOf('readonly')).toEqual(expect.arrayContaining(lookalikes));
    await expectRefused('evans', a);
    await expectRefused('readonly', a);
    await expectRefused('readonly', b);
    await expectRefused('root', c);
    await expectLogin('readonly', d);
    await expectLogin('root', bot);
    // Rewritten files stay root's, 0644; no temp file is left behind.
    const st = fs.statSync(keysFile('readonly'));
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: 0, mode: 0o644 });
    expect(fs.readdirSync(keysDir).sort()).toEqual(['evans', 'readonly', 'root']);

    // Nothing of these grants left in root's file: it is not rewritten at all.
    const rootInodeAfterC = fs.statSync(keysFile('root')).ino;
    expect(rootInodeAfterC).not.toBe(rootInode);
    const again = await gateway.removeMany(target, { grants: [{ grantId: 'grant-many-c', accounts: accountsForRole('root') }] });
    expect(okValue(again).grants[0]!.accounts.map((x) => x.removed)).toEqual([0, 0, 0]);
    expect(fs.statSync(keysFile('root')).ino).toBe(rootInodeAfterC);
  });

  withAccounts('removeMany: a missing account counts as done, a missing file removes nothing, and it waits for the lock', async () => {
    const nobody = 'opsgate-nosuchacct';
    okValue((await grant(requester(), 'grant-many-lock', 'readonly')).result);
    const lock = '/run/opsgate/authorized-keys.lock';
    fs.mkdirSync(path.dirname(lock), { recursive: true, mode: 0o700 });
    const holder = spawn('flock', [lock, 'sh', '-c', 'echo held; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout!, 'data');
      const pending = gateway.removeMany(target, {
        grants: [
          { grantId: 'grant-many-lock', accounts: ['readonly'] },
          { grantId: 'grant-many-nofile', accounts: ['evans', nobody] },
        ],
      });
      await waitFor('the script waiting for the lock', () => waitingInFlock() === 1);
      expect(linesOf('readonly')).toHaveLength(1);
      holder.stdin!.end();
      expect(okValue(await pending)).toEqual({
        grants: [
          { grantId: 'grant-many-lock', accounts: [{ account: 'readonly', removed: 1, accountMissing: false }] },
          {
            grantId: 'grant-many-nofile',
            accounts: [
              { account: 'evans', removed: 0, accountMissing: false },
              { account: nobody, removed: 0, accountMissing: true },
            ],
          },
        ],
        sessions: noSessions,
      });
      expect(linesOf('readonly')).toEqual([]);
      expect(fs.existsSync(keysFile('evans'))).toBe(false);
    } finally {
      holder.kill();
    }
  });

  withAccounts(`removeMany carries ${MAX_GRANTS_PER_REMOVE} grants of 40-character ids in one call; the port splits larger sets and fails a bad id alone`, async () => {
    const key = requester();
    const id = (n: number) => `g${String(n).padStart(39, '0')}`;
    // Half of them on the host, as root (three accounts: the largest script).
    const expiresAt = new Date(Date.now() + HOUR);
    for (const account of ['root', 'evans', 'readonly']) {
      const lines = Array.from({ length: MAX_GRANTS_PER_REMOVE / 2 }, (_, n) => buildKeyLine({ publicKey: key.publicKeyLine, grantId: id(n), expiresAt }) + '\n').join('');
      fs.appendFileSync(keysFile(account), lines);
    }
    const before = runs.length;
    const r = okValue(await gateway.removeMany(target, { grants: Array.from({ length: MAX_GRANTS_PER_REMOVE }, (_, n) => ({ grantId: id(n), accounts: accountsForRole('root') })) }));
    expect(runs.length - before).toBe(1);
    expect(r.grants.map((g) => g.accounts.map((a) => a.removed).join(''))).toEqual(Array.from({ length: MAX_GRANTS_PER_REMOVE }, (_, n) => (n < MAX_GRANTS_PER_REMOVE / 2 ? '111' : '000')));
    expect(linesOf('root')).toEqual([]);
    expect(linesOf('readonly')).toEqual([]);

    // Through the port: 450 grants are three calls; a bad id fails alone, before any SSH.
    const host = { name: 'bastion-test' } as Host;
    const port = hostKeysPort(() => gateway, () => target);
    fs.appendFileSync(keysFile('readonly'), buildKeyLine({ publicKey: key.publicKeyLine, grantId: id(449), expiresAt }) + '\n');
    const many = [...Array.from({ length: 450 }, (_, n) => ({ grantId: id(n), accounts: ['readonly'] })), { grantId: "x';id;'", accounts: ['readonly'] }];
    const mark = runs.length;
    const results = await port.removeMany(host, many);
    expect(runs.length - mark).toBe(3);
    expect(results.size).toBe(451);
    expect([...results.values()].filter((x) => x.ok)).toHaveLength(450);
    expect(results.get("x';id;'")).toMatchObject({ ok: false, message: expect.stringContaining('not a grant id') });
    expect(linesOf('readonly')).toEqual([]);
  });

  it('an unknown account fails clearly and no account is touched; remove and list report it missing', async () => {
    const nobody = 'opsgate-nosuchacct';
    expect(() => execFileSync('getent', ['passwd', nobody])).toThrow();
    const line = buildKeyLine({ publicKey: requester().publicKeyLine, grantId: 'grant-unknown', expiresAt: new Date(Date.now() + HOUR) });
    const r = await gateway.add(target, { accounts: ['root', nobody], line, grantId: 'grant-unknown' });
    expect(r).toEqual({ host: 'bastion-test', status: 'failed', message: `account ${nobody} does not exist on this host (getent passwd found nothing); no account was changed` });
    expect(read('root')).toBe('');
    expect(fs.existsSync(path.join(keysDir, nobody))).toBe(false);

    expect(okValue(await gateway.remove(target, { accounts: [nobody], grantId: 'grant-unknown' }))).toEqual({
      accounts: [{ account: nobody, removed: 0, accountMissing: true }],
      sessions: noSessions,
    });
    expect(okValue(await gateway.list(target, [nobody]))).toEqual({ accounts: [{ account: nobody, accountMissing: true, grants: [], malformed: [] }] });
  });

  it('hostile grant ids, key lines and account names are refused before any SSH', async () => {
    const before = runs.length;
    const good = buildKeyLine({ publicKey: ED25519, grantId: 'grant-good', expiresAt: new Date(Date.now() + HOUR) });
    const attempts: Array<() => Promise<unknown>> = [
      () => gateway.add(target, { accounts: ['root'], line: good.replace('grant-good', "x';id;'"), grantId: "x';id;'" }),
      () => gateway.add(target, { accounts: ['root'], line: good, grantId: 'grant-other' }),
      () => gateway.add(target, { accounts: ['root'], line: `command="touch /tmp/pwned" ${good}`, grantId: 'grant-good' }),
      () => gateway.add(target, { accounts: ['root'], line: `${good}\n${ED25519} planted`, grantId: 'grant-good' }),
      () => gateway.add(target, { accounts: ['root;id'], line: good, grantId: 'grant-good' }),
      () => gateway.add(target, { accounts: ['-rf'], line: good, grantId: 'grant-good' }),
      () => gateway.add(target, { accounts: [], line: good, grantId: 'grant-good' }),
      () => gateway.add(target, { accounts: ['root', 'root'], line: good, grantId: 'grant-good' }),
      () => gateway.remove(target, { accounts: ['root'], grantId: '.*' }),
      () => gateway.remove(target, { accounts: ['root'], grantId: 'grant$(id)' }),
      () => gateway.list(target, ['$(reboot)']),
      () => gateway.removeMany(target, { grants: [] }),
      () => gateway.removeMany(target, { grants: [{ grantId: 'grant$(id)', accounts: ['root'] }] }),
      () => gateway.removeMany(target, { grants: [{ grantId: 'grant-good', accounts: ['root'] }, { grantId: 'grant-good', accounts: ['evans'] }] }),
      () => gateway.removeMany(target, { grants: [{ grantId: 'grant-good', accounts: ['root;id'] }] }),
      () => gateway.removeMany(target, { grants: Array.from({ length: MAX_GRANTS_PER_REMOVE + 1 }, (_, n) => ({ grantId: `grant-${String(n).padStart(4, '0')}`, accounts: ['root'] })) }),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toMatchObject({ code: 1100 });
    expect(runs.length).toBe(before);
    expect(read('root')).toBe('');
  });

  it('a host that is down comes back as unreachable, for add, remove, removeMany and list', async () => {
    const down: SshTarget = { ...target, name: 'down-host', port: await freePort() };
    const line = buildKeyLine({ publicKey: ED25519, grantId: 'grant-down', expiresAt: new Date(Date.now() + HOUR) });
    const results = [
      await gateway.add(down, { accounts: ['readonly'], line, grantId: 'grant-down' }),
      await gateway.remove(down, { accounts: ['readonly'], grantId: 'grant-down' }),
      await gateway.list(down, ['readonly']),
      await gateway.removeMany(down, { grants: [{ grantId: 'grant-down', accounts: ['readonly'] }] }),
    ];
    for (const r of results) expect(r).toEqual({ host: 'down-host', status: 'unreachable', message: expect.stringContaining('ECONNREFUSED') });
  });
});
