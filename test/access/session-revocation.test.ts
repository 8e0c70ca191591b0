/**
 * Issue 13 item 3: a revocation (remove / removeMany, so expiry, early revoke, reconcile and a
 * key gone from the directory) ends the live connections that logged in with the revoked key,
 * and leaves other people's sessions on the same shared account alone.
 *
 * Real OpenSSH on both sides: the grantee keeps an `ssh -M` master open (with a session
 * command); a second person has an ordinary session on the same account. The sshd runs with
 * `ExposeAuthInfo yes`, configured as the README says.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HostKeysGateway, type HostKeysResult, type SessionsReport } from '../../src/adapters/access/host-keys.js';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import type { SshTarget } from '../../src/adapters/exec/types.js';
import { accountsForRole, buildKeyLine, type AccessRole } from '../../src/services/access/authorized-keys.js';
import { eventually } from '../helpers/access-env.js';
import { ensureRoleAccounts } from '../helpers/role-accounts.js';
import { startReadmeHost, type ClientKey, type ReadmeHost } from '../helpers/sshd.js';

const HOUR = 3_600_000;
const roleAccounts = ensureRoleAccounts(['evans', 'readonly']);
const describeIf = roleAccounts.ready ? describe : describe.skip;

let host: ReadmeHost;
let dir: string;
let gateway: HostKeysGateway;
let target: SshTarget;
const children: ChildProcess[] = [];
/** Processes a test's sessions detached (pid, command line), killed after it if still there. */
const detachedProcs: { pid: number; args: string }[] = [];

const personKey = (): ClientKey => host.newKey();
const baseArgs = (key: ClientKey): string[] => host.sshArgs(key);

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => execFile('ssh', args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })));
}

/** A long-lived ssh client; resolves once the remote printed `marker`. */
async function open(args: string[], marker: string): Promise<{ child: ChildProcess; out: () => string; exited: Promise<number | null> }> {
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(marker)) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((code) => reject(new Error(`ssh ended (${code}) before printing ${marker}: ${err}`)));
  });
  return { child, out: () => out, exited };
}

/** An `ssh -M` master of `key` on `account`, with a session command that stays. */
function master(key: ClientKey, account: string, ctl: string, command = 'echo master-up; exec sleep 600'): ReturnType<typeof open> {
  return open([...baseArgs(key), '-o', 'ControlMaster=yes', '-o', `ControlPath=${ctl}`, '-o', 'ControlPersist=no', `${account}@127.0.0.1`, command], 'master-up');
}

/** A second person's ordinary interactive-ish session: answers `pong <x>` to each line. */
function echoSession(key: ClientKey, account: string): ReturnType<typeof open> {
  return open([...baseArgs(key), `${account}@127.0.0.1`, 'echo session-up; while read l; do echo "pong $l"; done'], 'session-up');
}

async function answers(s: Awaited<ReturnType<typeof open>>, what: string): Promise<void> {
  const before = s.out().length;
  s.child.stdin!.write(`${what}\n`);
  while (!s.out().slice(before).includes(`pong ${what}`)) {
    const ended = await Promise.race([once(s.child.stdout!, 'data').then(() => false), s.exited.then(() => true)]);
    if (ended && !s.out().slice(before).includes(`pong ${what}`)) throw new Error(`the session ended instead of answering ${what}`);
  }
}

function ok<T>(r: HostKeysResult<T>): T {
  expect(r, JSON.stringify(r)).toMatchObject({ status: 'ok' });
  return (r as { value: T }).value;
}

async function grant(key: ClientKey, grantId: string, role: AccessRole): Promise<void> {
  const line = buildKeyLine({ publicKey: key.publicKeyLine, grantId, expiresAt: new Date(Date.now() + HOUR) });
  ok(await gateway.add(target, { accounts: accountsForRole(role), line, grantId }));
}

const revoke = async (grantId: string, key: ClientKey, role: AccessRole): Promise<SessionsReport> =>
  ok(await gateway.removeMany(target, { grants: [{ grantId, accounts: accountsForRole(role), publicKey: key.publicKeyLine }] })).sessions;

beforeAll(async () => {
  if (!roleAccounts.ready) return;
  host = await startReadmeHost('sessions');
  ({ dir, target } = host);
  const engine = new ExecutionEngine({ sshPrivateKey: host.bot.privateKey, connectTimeoutMs: 10_000 });
  gateway = new HostKeysGateway({ engine, authorizedKeysFile: host.keysFile });
}, 60_000);

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const { pid, args } of detachedProcs.splice(0)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() === args) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: the revocation ended it.
    }
  }
});

afterAll(async () => {
  await host?.stop();
});

describeIf(roleAccounts.ready ? 'live sessions at revocation' : `live sessions at revocation [skipped: ${roleAccounts.ready ? '' : roleAccounts.reason}]`, () => {
  it("ends the grantee's ssh -M master at revocation; another person's session on the same account keeps running", async () => {
    const grantee = personKey();
    const other = personKey();
    await grant(grantee, 'grant-master', 'evans');
    await grant(other, 'grant-other', 'evans');
    const ctl = path.join(dir, 'ctl-master');
    // Its session also leaves a detached process behind (setsid + nohup), as a grantee might. Its
    // argument is this run's own, so processes other runs left behind are not counted.
    const lingering = `sleep 6000.${process.pid}${Date.now() % 100_000}`;
    const m = await master(grantee, 'evans', ctl, `setsid nohup ${lingering} >/dev/null 2>&1 < /dev/null & echo master-up; exec sleep 600`);
    const processes = (): Array<{ pid: number; args: string }> =>
      execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
        .split('\n')
        .map((l) => /^\s*(\d+)\s+(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && m[2]!.endsWith(lingering))
        .map((m) => ({ pid: Number(m[1]), args: m[2]! }));
    // The sleep itself, once setsid and nohup have exec'ed it (`setsid nohup sleep …` and
    // `nohup sleep …` are the same process on its way there, or setsid's parent leaving).
    const detached = (): number[] => processes().filter((p) => p.args === lingering).map((p) => p.pid);
    // The master is up once its shell forked the background job, maybe before setsid and nohup
    // have exec'ed sleep: wait until only the sleep is left.
    for (const pid of await eventually('the detached process', async () => processes().length > 0 && processes().every((p) => p.args === lingering) && detached())) detachedProcs.push({ pid, args: lingering });
    expect(detached()).toHaveLength(1);
    const s = await echoSession(other, 'evans');
    // The master hands out new sessions without the key being asked again.
    expect(await run([...baseArgs(grantee), '-o', `ControlPath=${ctl}`, '-O', 'check', 'evans@127.0.0.1'])).toMatchObject({ code: 0 });
    expect(await run([...baseArgs(grantee), '-o', 'ControlMaster=no', '-o', `ControlPath=${ctl}`, 'evans@127.0.0.1', 'echo via-master'])).toMatchObject({ code: 0, stdout: 'via-master\n' });

    const sessions = await revoke('grant-master', grantee, 'evans');
    expect(sessions).toEqual({ ended: 1, endedUnattributed: 0, kept: 1, strays: 1, endedByGrant: { 'grant-master': 1 } });
    expect(detached()).toEqual([]);

    expect(await m.exited).toBe(255);
    expect((await run([...baseArgs(grantee), '-o', `ControlPath=${ctl}`, '-O', 'check', 'evans@127.0.0.1'])).code).not.toBe(0);
    const after = await run([...baseArgs(grantee), '-o', 'ControlMaster=no', '-o', `ControlPath=${ctl}`, 'evans@127.0.0.1', 'echo via-master']);
    expect(after.code).toBe(255);
    expect(after.stdout).toBe('');
    await answers(s, 'still-here');
    expect(s.child.exitCode).toBeNull();
  }, 120_000);

  it('a grantee who rewrites its SSH_USER_AUTH file to claim a valid holder\'s key is ended (fail closed); the holder is not', async () => {
    const grantee = personKey();
    const holder = personKey();
    await grant(grantee, 'grant-forger', 'readonly');
    await grant(holder, 'grant-holder', 'readonly');
    const h = await echoSession(holder, 'readonly');
    const holderBlob = holder.publicKeyLine.split(' ').slice(0, 2).join(' ');
    // Past the window after its login, the grantee's session overwrites its connection's file
    // with the holder's key; then a symlink variant on a second master: a link to the holder's
    // own, genuine file (the oldest file naming the holder's key; the forged one is newer).
    const forge = `sleep 6; printf 'publickey ${holderBlob}\\n' > "$SSH_USER_AUTH"; echo master-up; exec sleep 600`;
    const m1 = await master(grantee, 'readonly', path.join(dir, 'ctl-forge-1'), forge);
    const link = `f=$(ls -tr /tmp/sshauth.* | while read -r x; do grep -l '${holderBlob.split(' ')[1]}' "$x" && break; done); ln -sf "$f" "$SSH_USER_AUTH.l" && mv -f "$SSH_USER_AUTH.l" "$SSH_USER_AUTH"; echo master-up; exec sleep 600`;
    const m2 = await master(grantee, 'readonly', path.join(dir, 'ctl-forge-2'), link);

    const sessions = await revoke('grant-forger', grantee, 'readonly');
    expect(sessions).toEqual({ ended: 2, endedUnattributed: 2, kept: 1, strays: 0, endedByGrant: {} });
    expect(await m1.exited).toBe(255);
    expect(await m2.exited).toBe(255);
    await answers(h, 'holder-still-here');
  }, 120_000);

  // A made-up key: in no account's file, so sshd would never let it in.
  const madeUp = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake';

  /** The master is gone after revocation: its connection ended and its control socket answers no more. */
  async function expectMasterGone(m: Awaited<ReturnType<typeof master>>, ctl: string, account: string): Promise<void> {
    expect(await m.exited).toBe(255);
    const after = await run([...baseArgs(personKey()), '-o', 'ControlMaster=no', '-o', `ControlPath=${ctl}`, '-S', ctl, `${account}@127.0.0.1`, 'true']);
    expect(after.code).not.toBe(0);
  }

  it('a grantee who rewrites its own SSH_USER_AUTH at login (inside the window) to name a made-up key is ended; another holder is not', async () => {
    const grantee = personKey();
    const holder = personKey();
    await grant(grantee, 'grant-fake-own', 'evans');
    await grant(holder, 'grant-fake-holder', 'evans');
    const h = await echoSession(holder, 'evans');
    const ctl = path.join(dir, 'ctl-fake-own');
    const m = await master(grantee, 'evans', ctl, `printf 'publickey ${madeUp}\\n' > "$SSH_USER_AUTH"; echo master-up; exec sleep 600`);
    expect(await run([...baseArgs(grantee), '-o', 'ControlMaster=no', '-S', ctl, 'evans@127.0.0.1', 'true'])).toMatchObject({ code: 0 });

    const sessions = await revoke('grant-fake-own', grantee, 'evans');
    expect(sessions).toEqual({ ended: 1, endedUnattributed: 1, kept: 1, strays: 0, endedByGrant: {} });
    await expectMasterGone(m, ctl, 'evans');
    await answers(h, 'holder-still-here');
  }, 120_000);

  it('a grantee whose session points SSH_USER_AUTH at a file of its own naming a made-up key is ended', async () => {
    const grantee = personKey();
    await grant(grantee, 'grant-fake-file', 'evans');
    const ctl = path.join(dir, 'ctl-fake-file');
    const m = await master(grantee, 'evans', ctl, `f=/tmp/sshauth.mine$$; printf 'publickey ${madeUp}\\n' > $f; echo master-up; exec env SSH_USER_AUTH=$f sleep 600`);
    expect(await run([...baseArgs(grantee), '-o', 'ControlMaster=no', '-S', ctl, 'evans@127.0.0.1', 'true'])).toMatchObject({ code: 0 });

    const sessions = await revoke('grant-fake-file', grantee, 'evans');
    expect(sessions).toEqual({ ended: 1, endedUnattributed: 1, kept: 0, strays: 0, endedByGrant: {} });
    await expectMasterGone(m, ctl, 'evans');
  }, 120_000);

  it("another connection of the bot (root, the bot's key from a file outside opsgate's) is kept at a root revocation", async () => {
    const grantee = personKey();
    await grant(grantee, 'grant-root-bot', 'root');
    const bot = await echoSession(host.bot, 'root');
    const sessions = await revoke('grant-root-bot', grantee, 'root');
    // Other tests' holders may still be on evans / readonly (touched too): they are kept as well.
    expect(sessions).toMatchObject({ ended: 0, endedUnattributed: 0 });
    expect(sessions.kept).toBeGreaterThanOrEqual(1);
    await answers(bot, 'bot-still-here');
  }, 120_000);

  it('a master with no session (-N) cannot be attributed: it is waited for, then ended; the bot\'s own connection running the script is not', async () => {
    const grantee = personKey();
    await grant(grantee, 'grant-nosession', 'root');
    const ctl = path.join(dir, 'ctl-n');
    const child = spawn('ssh', [...baseArgs(grantee), '-N', '-o', 'ControlMaster=yes', '-o', `ControlPath=${ctl}`, '-o', 'ControlPersist=no', 'root@127.0.0.1'], { stdio: 'ignore' });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Logged in once the master answers a check.
    await eventually('the -N master logging in', async () => {
      if (child.exitCode !== null) throw new Error('the -N master ended before logging in');
      return (await run([...baseArgs(grantee), '-o', `ControlPath=${ctl}`, '-O', 'check', 'root@127.0.0.1'])).code === 0;
    });
    const sessions = await revoke('grant-nosession', grantee, 'root');
    expect(sessions).toMatchObject({ ended: 1, endedUnattributed: 1, endedByGrant: {} });
    expect(await exited).toBe(255);
  }, 120_000);
});
