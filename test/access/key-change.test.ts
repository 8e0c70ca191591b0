/**
 * Issue 13 item 8: a person's SSH key replaced in the directory. At the next sync, grants made
 * with a key no longer listed end (line removed, that key's live connections ended, audited,
 * the holder told); a grant made with a key still listed stays. Through the real sync, the
 * real worker and real sshd logins.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels, ApplicationStatus, GrantStatus, type Grant } from '../../src/models/access.js';
import { eventually, roleAccounts, startAccessEnv, USERS, type AccessEnv, type Bastion } from '../helpers/access-env.js';
import { runCommand } from '../helpers/opsgate.js';
import { personKey, type ClientKey } from '../helpers/sshd.js';

const describeIf = roleAccounts.ready ? describe : describe.skip;

describeIf(roleAccounts.ready ? 'a key replaced in the directory' : `a key replaced in the directory [skipped: ${roleAccounts.ready ? '' : roleAccounts.reason}]`, () => {
  let env: AccessEnv;
  beforeAll(async () => {
    env = await startAccessEnv({ dayMs: 60_000, env: { ACCESS_SWEEP_MS: '1000' } });
    await env.t.ready();
  }, 60_000);
  afterAll(() => env?.stop());

  /** Dave's keys in the directory source, then an admin's /opsgate sync (and its result). */
  async function listDaveKeys(keys: ClientKey[]): Promise<void> {
    const file = path.join(env.dir, 'catalog', 'directory.yaml');
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { people: Array<{ id: string; sshKeys?: string[] }> };
    doc.people.find((p) => p.id === 'dave')!.sshKeys = keys.map((k) => k.publicKeyLine);
    fs.writeFileSync(file, YAML.stringify(doc));
    await env.t.app.services.directory.sync('test:admin');
  }

  /** Dave asks, Alice approves; resolves with the grant once its line is on the host. */
  async function granted(host: string, role: string): Promise<Grant> {
    const t = env.t;
    const requestId = /Request (AR-[A-Z0-9]{6}) sent/.exec((await runCommand(t, '/access', `request ${host} ${role} 7d on-call`, USERS.dave)).text)![1]!;
    const dm = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DUALICE' && JSON.stringify(c.args).includes(requestId) && JSON.stringify(c.args).includes('access_approve'));
    const value = (dm.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((x) => x.type === 'actions')!.elements![0]!.value;
    await t.slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: 'DUALICE' });
    await eventually('granted', async () => (await t.app.services.access.details(requestId)).applications[0]?.status === ApplicationStatus.granted, 30_000);
    return (await accessModels(t.app.store.connection).Grant.findOne({ requestId }).lean<Grant>())!;
  }

  /** A live session of `key` as `account`, answering nothing; resolves once logged in. */
  async function liveSession(b: Bastion, account: string, key: ClientKey): Promise<{ exited: Promise<number | null> }> {
    const args = ['-F', '/dev/null', '-i', key.path, '-p', String(b.sshd.port), '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', `UserKnownHostsFile=${b.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', `${account}@127.0.0.1`, 'echo up; exec sleep 600'];
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      void exited.then((code) => reject(new Error(`ssh ended (${code}) before logging in`)));
    });
    return { exited };
  }

  it('ends the grant of a key no longer listed (line, live session, audit, notice) and keeps the grant of a key still listed', async () => {
    const [a, b] = env.bastions as [Bastion, Bastion];
    const oldKey = env.keys.dave!;
    const newKey = personKey(env.dir, 'dave@new-laptop');
    env.keys['dave-new'] = newKey;
    const onOld = await granted(a.name, 'evans');
    expect(onOld.publicKey).toBe(oldKey.publicKeyLine);
    // Dave adds a new key first (the old one still listed): nothing ends.
    await listDaveKeys([newKey, oldKey]);
    const onNew = await granted(b.name, 'readonly');
    expect(onNew.publicKey).toBe(newKey.publicKeyLine);
    const m = accessModels(env.t.app.store.connection);
    expect(await m.Grant.countDocuments({ grantId: { $in: [onOld.grantId, onNew.grantId] }, status: GrantStatus.valid })).toBe(2);
    expect(await env.login(a, 'evans', 'dave')).toMatchObject({ code: 0 });
    const session = await liveSession(a, 'evans', oldKey);
    const mark = env.t.fake.calls.length;

    // The old key leaves the directory.
    await listDaveKeys([newKey]);
    const ended = await eventually('old-key grant ended', async () => (await m.Grant.findOne({ grantId: onOld.grantId, status: GrantStatus.expired }).lean<Grant>()) ?? undefined, 30_000);
    expect(ended).toMatchObject({ endedBy: 'system:directory', endReason: 'its SSH key was removed from the directory' });
    expect(env.lines(a, 'evans').some((l) => l.includes(onOld.grantId))).toBe(false);
    expect(await session.exited).toBe(255);
    expect(await env.login(a, 'evans', 'dave')).toMatchObject({ code: 255 });
    expect(await env.login(a, 'readonly', 'dave')).toMatchObject({ code: 255 });

    // The grant of the key still listed is untouched and still logs in.
    expect(await m.Grant.findOne({ grantId: onNew.grantId }).lean<Grant>()).toMatchObject({ status: GrantStatus.valid, endReason: null });
    expect(await env.login(b, 'readonly', 'dave-new')).toMatchObject({ code: 0, stdout: 'logged-in-as=readonly\n' });

    const audit = env.t.app.services.audit;
    expect(await audit.query({ action: 'access.revoke', target: `host:${a.name}` })).toEqual([expect.objectContaining({ actor: 'system:directory', to: { grantId: onOld.grantId, reason: 'its SSH key was removed from the directory' } })]);
    expect(await audit.query({ action: 'access.revoke', target: `host:${b.name}` })).toEqual([]);
    expect(await audit.query({ action: 'access.removed', target: `host:${a.name}` })).toEqual([expect.objectContaining({ to: expect.objectContaining({ grantId: onOld.grantId, sessionsEnded: 1 }) })]);
    const notice = await env.t.fake.waitFor('chat.postMessage', (c) => env.t.fake.calls.indexOf(c) >= mark && JSON.stringify(c.args).includes('was removed') && JSON.stringify(c.args).includes(onOld.grantId));
    expect(JSON.stringify(notice.args)).toContain('its SSH key was removed from the directory');
  }, 120_000);
});
