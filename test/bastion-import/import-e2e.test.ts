/**
 * The old bastion's export imported into a running bot with real sshd bastions: `npm run
 * import` as its own process against the bot's store; the bot's provisioning path writes the
 * valid grants' lines with their original expiry (`expiry-time`), a person whose directory
 * record has no key logs in with the key the export carried, a grant is removed at its
 * original expiry (and /metrics times how late), the old requests show in `/access all` and
 * host history, a second import changes nothing. Then `--adopt-report` lists the key lines
 * the old system left (opsgate's file, an account's home) without touching them, and a
 * person with a shell there cannot use it to read a file only root may read.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels, GrantStatus } from '../../src/models/access.js';
import type { Host } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';
import { buildKeyLine } from '../../src/services/access/authorized-keys.js';
import { adoptReport } from '../../src/services/bastion-import/adopt-report.js';
import { keyFingerprint, parsePublicKey, type ParsedPublicKey } from '../../src/services/ssh-public-key.js';
import { eventually, roleAccounts, startAccessEnv, USERS, type AccessEnv } from '../helpers/access-env.js';
import { mysqlTime, writeExport } from '../helpers/bastion-export.js';
import { metricValue } from '../helpers/metrics.js';
import { runCommand } from '../helpers/opsgate.js';
import { generateClientKey, rootOwnedDir, startSshd, type SshdInstance } from '../helpers/sshd.js';

const describeIf = roleAccounts.ready ? describe : describe.skip;
if (!roleAccounts.ready) process.stderr.write(`NOTICE: old-bastion import end-to-end tests skipped: ${roleAccounts.reason}\n`);

const DAY = 86_400_000;
const blobOf = (line: string) => (parsePublicKey(line) as ParsedPublicKey).blob;

describeIf(roleAccounts.ready ? 'import from the old bastion into a running bot' : `import from the old bastion [skipped: ${roleAccounts.ready ? '' : roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  let exportDir: string;
  const t = () => env.t;
  // Whole seconds: the old tables hold timestamps to the second.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const carolExpiry = new Date(now + 20 * DAY);
  // Soon enough to watch the normal path remove it at its original time.
  const daveExpiry = new Date(now + 25_000);

  /** `npm run import -- …` as its own process, with the bot's environment, against the bot's store. */
  async function importCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env.env, DATA_DIR: t().dataDir, LOG_LEVEL: 'error' };
    delete childEnv.MONGODB_URI;
    try {
      const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/import-main.ts', ...args, '--uri', t().store.dbUri], { env: childEnv, encoding: 'utf8', timeout: 120_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: DAY, env: { ACCESS_SWEEP_MS: '1000' } });
    await t().ready();
    // dave's directory record lists no key: only the export has one (his laptop's).
    await personModel(t().app.store.connection).updateOne({ personId: 'dave' }, { $set: { sshKeys: [] } });
    const apply = (id: number, uid: number, host_id: number, role: number, status: number, days: number, created: Date) => ({ id, uid, host_id, role, approve_uid: 4, status, days, content: `old request ${id}`, created: mysqlTime(created), updated: mysqlTime(created) });
    const task = (id: number, apply_id: number, uid: number, host_id: number, role: number, type: number, status: number, exec: Date) => ({ id, apply_id, uid, host_id, role, type, status, exec_time: mysqlTime(exec), created: mysqlTime(exec), updated: mysqlTime(exec) });
    exportDir = writeExport({
      uid_map: [
        { uid: 1, person_id: 'carol' },
        { uid: 2, person_id: 'dave' },
        { uid: 3, person_id: 'bob' },
        { uid: 4, person_id: 'alice' },
      ],
      host_map: [
        { host_id: 1, host: 'bastion-a' },
        { host_id: 2, host: 'bastion-b' },
      ],
      host_bastion_apply: [
        apply(1, 1, 1, 3, 4, 30, new Date(now - 10 * DAY)),
        apply(2, 2, 2, 2, 4, 1, new Date(now - 3_600_000)),
        apply(3, 3, 1, 1, 2, 1, new Date(now - 5 * DAY)),
        apply(4, 3, 2, 3, 1, 1, new Date(now - DAY)),
        apply(5, 1, 2, 3, 3, 7, new Date(now - 600_000)),
      ],
      host_bastion_tasks: [
        task(1, 1, 1, 1, 3, 1, 1, new Date(now - 10 * DAY + 60_000)),
        task(2, 1, 1, 1, 3, 2, 0, carolExpiry),
        task(3, 2, 2, 2, 2, 1, 1, new Date(now - 3_500_000)),
        task(4, 2, 2, 2, 2, 2, 0, daveExpiry),
      ],
      user_host: [
        { id: 1, uid: 1, host_id: 1, role: 3, status: 1, created: mysqlTime(new Date(now - 10 * DAY)), updated: mysqlTime(new Date(now - 10 * DAY)) },
        { id: 2, uid: 2, host_id: 2, role: 2, status: 1, created: mysqlTime(new Date(now - 3_500_000)), updated: mysqlTime(new Date(now - 3_500_000)) },
      ],
      user_keys: [{ uid: 2, public_key: env.keys.dave!.publicKeyLine }],
    });
  }, 90_000);
  afterAll(async () => {
    fs.rmSync(exportDir, { recursive: true, force: true });
    await env?.stop();
  });

  it('writes the valid grants through provisioning with their original expiry; a grant ends at its original time; a second run changes nothing', async () => {
    const [a, b] = env.bastions as [AccessEnv['bastions'][0], AccessEnv['bastions'][0]];
    const mark = t().fake.calls.length;
    const r = await importCli('--from', exportDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('grants in force: 3 (new 3, already there 0');
    expect(r.stdout).toContain('key lines to write: 4');

    // The bot's sweep writes them: the line is exactly what opsgate writes, with the old expiry.
    const carolLine = buildKeyLine({ grantId: 'imp-uh-1', publicKey: env.keys.carol!.publicKeyLine, expiresAt: carolExpiry });
    await eventually('carol readonly line on bastion-a', async () => env.lines(a, 'readonly').includes(carolLine));
    const daveLine = buildKeyLine({ grantId: 'imp-uh-2', publicKey: env.keys.dave!.publicKeyLine, expiresAt: daveExpiry });
    // evans opens readonly too (root > evans > readonly): both files get the line.
    await eventually('dave evans line on bastion-b', async () => env.lines(b, 'evans').includes(daveLine) && env.lines(b, 'readonly').includes(daveLine));
    // The application the old bastion never set up is set up now, for its 7 days from now.
    await eventually('carol readonly on bastion-b (carried over)', async () => env.lines(b, 'readonly').some((l) => l.endsWith('opsgate-grant:imp-ap-5')));
    const m = accessModels(t().app.store.connection);
    const carried = await m.Grant.findOne({ grantId: 'imp-ap-5' }).lean();
    expect(carried!.expiresAt!.getTime() - carried!.grantedAt!.getTime()).toBe(7 * DAY);
    // dave logs in with the key only the export had.
    const login = await env.login(b, 'evans', 'dave');
    expect(login.stdout).toContain('logged-in-as=evans');
    // Access people already had is not announced again; the carried-over one is.
    const granted = t().fake.calls.slice(mark).filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes('Access granted'));
    expect(granted.map((c) => c.args.channel)).toEqual([`D${USERS.carol.id}`]);
    expect(JSON.stringify(granted[0]!.args)).toContain('bastion-b');

    // The old requests in /access all and the host's history.
    const all = JSON.stringify((await runCommand(t(), '/access', 'all', USERS.erin)).blocks);
    for (const id of ['AR-000001', 'AR-000003', 'AR-000004', 'AR-000005']) expect(all).toContain(id);
    expect(JSON.stringify((await runCommand(t(), '/access', 'host bastion-a', USERS.erin)).blocks)).toContain('access.imported');

    // A second run: nothing new, nothing changed.
    const grantsBefore = await m.Grant.find({}).sort({ grantId: 1 }).lean();
    const again = await importCli('--from', exportDir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(new 0, already there 3');
    expect(await m.Grant.find({}).sort({ grantId: 1 }).lean()).toEqual(grantsBefore);

    // dave's grant ends at the old system's time, by the normal path; /metrics times how late.
    await eventually('dave line removed at its expiry', async () => !env.lines(b, 'evans').some((l) => l.includes('imp-uh-2')), 60_000);
    expect(Date.now()).toBeGreaterThanOrEqual(daveExpiry.getTime());
    // The line goes first, then the record (a bot killed between them removes it again).
    const ended = await eventually('dave grant recorded as ended', async () => {
      const g = await m.Grant.findOne({ grantId: 'imp-uh-2' }).lean();
      return g?.status === GrantStatus.expired ? g : null;
    });
    expect(ended).toMatchObject({ endedBy: 'system:expiry', endReason: 'expired' });
    expect((await env.login(b, 'evans', 'dave')).stdout).not.toContain('logged-in-as');
    expect(await metricValue(t().app.port, 'opsgate_access_expiry_lateness_seconds_count')).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('--adopt-report lists key lines opsgate does not manage that hold a directory person\'s key, and changes nothing', async () => {
    const a = env.bastions[0]!;
    const file = path.join(a.keysDir, 'evans');
    const stranger = generateClientKey(fs.mkdtempSync(path.join(env.dir, 'stranger-')));
    // What the old bastion left in the file sshd reads: bob's key, and a key of nobody we know.
    fs.appendFileSync(file, `${env.keys.bob!.publicKeyLine.replace(/ \S+$/, ' bob@old-bastion')}\nfrom="10.0.0.0/8" ${stranger.publicKeyLine}\n`);
    const before = fs.readFileSync(file, 'utf8');
    const r = await importCli('--adopt-report');
    expect(r.code).toBe(0);
    const bobPrint = keyFingerprint(parsePublicKey(env.keys.bob!.publicKeyLine) as ParsedPublicKey);
    expect(r.stdout).toContain(`  bastion-a\tevans\t${file}\tbob\t${bobPrint}`);
    expect(r.stdout).toContain('1 key lines not managed by opsgate belong to directory people');
    // The stranger and the bot's own key in each bastion's root file: counted, never printed.
    expect(r.stdout).toContain('other key lines not managed by opsgate (no directory person\'s key): 3');
    expect(r.stdout).not.toContain(blobOf(stranger.publicKeyLine));
    // opsgate's own lines are managed: carol's is not listed.
    expect(r.stdout).not.toMatch(/\tcarol\t/);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  }, 60_000);

  describe("an account's home", () => {
    let sshd: SshdInstance;
    let botDir: string;
    let home: string;
    const tag = `og-adopt-${process.pid}`;
    const made: string[] = [];
    beforeAll(async () => {
      botDir = rootOwnedDir('adopt-bot');
      fs.writeFileSync(path.join(botDir, 'root'), env.bot.publicKeyLine + '\n', { mode: 0o644 });
      sshd = await startSshd({ authorizedKeys: `.ssh/${tag} .ssh/${tag}-link .ssh/${tag}-secret ${botDir}/%u` });
      home = (await promisify(execFile)('getent', ['passwd', 'readonly'], { encoding: 'utf8' })).stdout.trim().split(':')[5]!;
    }, 60_000);
    afterAll(async () => {
      for (const f of made) fs.rmSync(f, { force: true });
      await sshd?.stop();
      fs.rmSync(botDir, { recursive: true, force: true });
    });

    it("reads a home's files as the account: a link to a root-only file, or a root-only file there, is reported unread", async () => {
      const sshDir = path.join(home, '.ssh');
      const uid = Number((await promisify(execFile)('id', ['-u', 'readonly'], { encoding: 'utf8' })).stdout.trim());
      if (!fs.existsSync(sshDir)) {
        fs.mkdirSync(sshDir, { mode: 0o700 });
        fs.chownSync(sshDir, uid, uid);
      }
      const own = path.join(sshDir, tag);
      fs.writeFileSync(own, env.keys.carol!.publicKeyLine + '\n', { mode: 0o600 });
      fs.chownSync(own, uid, uid);
      // The attack: the account points its file at one only root may read (alice's key there),
      // and leaves a root-only file in its own folder (dave's key).
      const rootOnly = path.join(botDir, 'root-only');
      fs.writeFileSync(rootOnly, env.keys.alice!.publicKeyLine + '\n', { mode: 0o600 });
      fs.symlinkSync(rootOnly, path.join(sshDir, `${tag}-link`));
      const secret = path.join(sshDir, `${tag}-secret`);
      fs.writeFileSync(secret, env.keys.dave!.publicKeyLine + '\n', { mode: 0o600 });
      made.push(own, path.join(sshDir, `${tag}-link`), secret);

      const host = { name: 'home-host', address: '127.0.0.1', port: sshd.port, hostKey: sshd.fingerprint, sshdConfig: sshd.config, authorizedKeysFile: `${botDir}/keys/%u` } as unknown as Host;
      const people = await personModel(t().app.store.connection).find({}).lean();
      const report = await adoptReport({
        hosts: [host],
        people: people.map((p) => ({ personId: p.personId, active: p.active, keys: [...p.sshKeys, ...(p.importedSshKeys ?? [])] })),
        run: (targets, command) => t().app.services.engine.start({ targets, command, timeoutMs: 30_000 }).done,
        toTarget: (h) => ({ transport: 'ssh', name: h.name, address: h.address, port: h.port, user: 'root', hostKey: h.hostKey }),
        keysFileFor: (h) => h.authorizedKeysFile!,
      });
      expect(report.failed).toEqual({});
      expect(report.findings.map((f) => `${f.account} ${f.file} ${f.personId}`)).toEqual([`readonly ${own} carol`]);
      expect(report.notRead).toEqual(
        expect.arrayContaining([
          { host: 'home-host', account: 'readonly', file: path.join(sshDir, `${tag}-link`), why: 'a symbolic link (not followed)' },
          { host: 'home-host', account: 'readonly', file: secret, why: 'not readable as readonly' },
        ]),
      );
      expect(report.findings.some((f) => f.personId === 'alice' || f.personId === 'dave')).toBe(false);
    }, 60_000);
  });

});
