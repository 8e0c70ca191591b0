/**
 * The old bastion's export into opsgate (issue 11), on a real store: every row checked before
 * anything is written (file, row and column named); statuses and times kept; valid grants
 * queued for the normal provisioning path with their original start and expiry; expired ones
 * history; keys imported only where the directory lists none; a second run changes nothing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accessModels, ApplicationStatus, GrantStatus, type Grant } from '../../src/models/access.js';
import { auditModel } from '../../src/models/audit.js';
import { inventoryModels } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';
import { importOldBastion, type ImportOptions } from '../../src/services/bastion-import/import.js';
import { importedRequestId } from '../../src/services/bastion-import/plan.js';
import { problemsText, reportText } from '../../src/services/bastion-import/report.js';
import { keysOf } from '../../src/services/directory/keys.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';
import { writeExport, type ExportTables } from '../helpers/bastion-export.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const opts: ImportOptions = { dryRun: false, timezone: '+08:00', dayMs: 86_400_000, now: NOW };

function newKeyLine(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, type.length]), type, Buffer.from([0, 0, 0, 32]), raw]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}
const CAROL_KEY = newKeyLine('carol@laptop');
const DAVE_OLD_KEY = newKeyLine('dave@old-bastion');

/** Times as the old MySQL printed them: server-local, here +08:00. */
const local = (iso: string) => new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');

function goodExport(): ExportTables {
  const apply = (id: number, uid: number, host_id: number, role: number, status: number, days: number, created: string) => ({ id, uid, host_id, role, approve_uid: 4, status, days, content: `reason ${id}`, created: local(created), updated: local(created) });
  const task = (id: number, apply_id: number, a: { uid: number; host_id: number; role: number }, type: number, status: number, exec: string) => ({ id, apply_id, ...a, type, status, exec_time: local(exec), created: local(exec), updated: local(exec) });
  const a1 = { uid: 1, host_id: 1, role: 3 };
  const a2 = { uid: 2, host_id: 2, role: 2 };
  const a9 = { uid: 4, host_id: 1, role: 1 };
  return {
    uid_map: [
      { uid: 1, person_id: 'carol' },
      { uid: 2, person_id: 'dave' },
      { uid: 3, person_id: 'bob' },
      { uid: 4, person_id: 'alice' },
      { uid: 5, person_id: 'gone' },
    ],
    host_map: [
      { host_id: 1, host: 'web-01' },
      { host_id: 2, host: 'web-02' },
      { host_id: 3, host: 'old-box' },
    ],
    host_bastion_apply: [
      apply(1, 1, 1, 3, 4, 30, '2026-11-20T08:00:00Z'),
      apply(2, 2, 2, 2, 4, 7, '2026-11-28T09:00:00Z'),
      apply(3, 3, 1, 1, 2, 1, '2026-11-29T09:00:00Z'),
      apply(4, 3, 2, 3, 1, 1, '2026-11-30T09:00:00Z'),
      apply(5, 1, 3, 3, 4, 30, '2026-11-21T09:00:00Z'),
      apply(6, 3, 1, 3, 4, 1, '2026-10-01T09:00:00Z'),
      apply(7, 1, 2, 3, 3, 30, '2026-11-30T10:00:00Z'),
      apply(8, 5, 1, 2, 4, 30, '2026-11-22T09:00:00Z'),
      apply(9, 4, 1, 1, 4, 1, '2026-11-25T09:00:00Z'),
    ],
    host_bastion_tasks: [
      task(1, 1, a1, 1, 1, '2026-11-20T09:00:00Z'),
      task(2, 1, a1, 2, 0, '2026-12-20T09:00:00Z'),
      task(3, 2, a2, 1, 2, '2026-11-28T09:30:00Z'),
      task(4, 2, a2, 1, 1, '2026-11-28T10:00:00Z'),
      task(5, 2, a2, 2, 0, '2026-12-05T10:00:00Z'),
      task(6, 9, a9, 1, 1, '2026-11-25T10:00:00Z'),
      task(7, 9, a9, 2, 0, '2026-11-26T10:00:00Z'),
    ],
    user_host: [
      { id: 1, uid: 1, host_id: 1, role: 3, status: 1, created: local('2026-11-20T09:00:00Z'), updated: local('2026-11-20T09:00:00Z') },
      { id: 2, uid: 2, host_id: 2, role: 2, status: 1, created: local('2026-11-28T10:00:00Z'), updated: local('2026-11-28T10:00:00Z') },
      { id: 3, uid: 1, host_id: 3, role: 3, status: 1, created: local('2026-11-21T10:00:00Z'), updated: local('2026-11-21T10:00:00Z') },
      { id: 4, uid: 3, host_id: 1, role: 3, status: 2, created: local('2026-10-01T10:00:00Z'), updated: local('2026-10-02T10:00:00Z') },
      { id: 5, uid: 5, host_id: 1, role: 2, status: 1, created: local('2026-11-22T10:00:00Z'), updated: local('2026-11-22T10:00:00Z') },
      { id: 6, uid: 4, host_id: 1, role: 1, status: 1, created: local('2026-11-25T10:00:00Z'), updated: local('2026-11-25T10:00:00Z') },
    ],
    user_keys: [
      { uid: 2, public_key: DAVE_OLD_KEY },
      { uid: 1, public_key: newKeyLine('carol@old-bastion') },
    ],
  };
}

describe('import from the old bastion', () => {
  let h: ServiceHarness;
  const dirs: string[] = [];
  const exportDir = (tables: ExportTables, jsonl = ['host_bastion_tasks']) => {
    const d = writeExport(tables, { jsonl });
    dirs.push(d);
    return d;
  };
  const m = () => accessModels(h.conn);
  /** Every collection holding documents, with its count. */
  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const c of await h.conn.db!.listCollections().toArray()) {
      const n = await h.conn.db!.collection(c.name).countDocuments();
      if (n > 0) out[c.name] = n;
    }
    return out;
  }

  beforeAll(async () => {
    h = await startServiceHarness();
  }, 60_000);
  afterAll(async () => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    await h?.stop();
  });
  beforeEach(async () => {
    await h.conn.dropDatabase();
    const person = (personId: string, sshKeys: string[], active = true) => ({ personId, name: personId, email: `${personId}@example.com`, level: 'P7', sshKeys, active });
    await personModel(h.conn).insertMany([person('carol', [CAROL_KEY]), person('dave', []), person('bob', [newKeyLine('bob')]), person('alice', [newKeyLine('alice')]), person('gone', [newKeyLine('gone')], false)]);
    await inventoryModels(h.conn).Host.insertMany([
      { name: 'web-01', address: '127.0.0.1', hostKey: 'SHA256:x' },
      { name: 'web-02', address: '127.0.0.1', hostKey: 'SHA256:y' },
    ]);
  });

  it('refuses rows that fail their own check, naming file, row and column, and writes nothing', async () => {
    const t = goodExport();
    t.host_bastion_apply![2]!.role = 9;
    t.host_bastion_apply![4]!.created = 'yesterday';
    t.user_host![1]!.status = 'valid';
    t.user_keys![0]!.public_key = 'ssh-ed25519 AAAA not-a-key';
    const dir = exportDir(t);
    fs.appendFileSync(path.join(dir, 'host_bastion_tasks.jsonl'), '{"id": 8, "apply_id": 1\n');
    const before = await counts();
    const r = await importOldBastion(h.conn, dir, opts);
    const found = r.plan.problems.map((p) => `${p.file}:${p.row}:${p.column ?? ''}`);
    expect(found).toEqual(expect.arrayContaining(['host_bastion_apply.csv:4:role', 'host_bastion_apply.csv:6:created', 'user_host.csv:3:status', 'user_keys.csv:2:public_key', 'host_bastion_tasks.jsonl:8:']));
    expect(problemsText(r.plan.problems)).toContain('host_bastion_apply.csv row 4, column role: must be one of 1 (root), 2 (evans), 3 (readonly) (got "9")');
    expect(r.written).toBeUndefined();
    expect(await counts()).toEqual(before);
  });

  it('refuses references that do not hold between the files, and writes nothing', async () => {
    const t = goodExport();
    t.host_bastion_tasks![0]!.apply_id = 99;
    t.host_bastion_tasks![1]!.uid = 3;
    t.user_host![2]!.host_id = 42;
    t.uid_map!.push({ uid: 6, person_id: 'nobody' });
    t.host_bastion_apply!.push({ ...t.host_bastion_apply![0]!, uid: 77 });
    const dir = exportDir(t);
    const before = await counts();
    const r = await importOldBastion(h.conn, dir, opts);
    const found = r.plan.problems.map((p) => `${p.file}:${p.row}:${p.column}: ${p.message}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'host_bastion_tasks.jsonl:1:apply_id: application 99 is not in host_bastion_apply',
        "host_bastion_tasks.jsonl:2:uid: uid 3 differs from application 1's 1",
        'user_host.csv:4:host_id: host_id 42 is not in host_map',
        'uid_map.csv:7:person_id: nobody is not in the directory (people who left stay there, inactive)',
        'host_bastion_apply.csv:11:id: id 1 appears twice (first at row 2)',
        'host_bastion_apply.csv:11:uid: uid 77 is not in uid_map',
      ]),
    );
    expect(await counts()).toEqual(before);
  });

  it('a dry run reports what it would do and writes nothing', async () => {
    const dir = exportDir(goodExport());
    const before = await counts();
    const r = await importOldBastion(h.conn, dir, { ...opts, dryRun: true });
    expect(r.plan.problems).toEqual([]);
    expect(r.written).toBeUndefined();
    expect(r.plan.grants.filter((g) => g.status === GrantStatus.valid).map((g) => g.grantId).sort()).toEqual(['imp-ap-7', 'imp-uh-1', 'imp-uh-2']);
    expect(reportText(dir, r.plan, undefined, r.files)).toContain('dry run: nothing was written');
    expect(await counts()).toEqual(before);
  });

  it('keeps statuses, original times and old ids, queues valid grants, imports keys, and changes nothing the second time', async () => {
    const dir = exportDir(goodExport());
    const r = await importOldBastion(h.conn, dir, opts);
    expect(r.plan.problems).toEqual([]);

    // Applications and their requests, with the old statuses; the waiting one is cancelled.
    const apps = await m().Application.find({}).sort({ createdAt: 1 }).lean();
    expect(apps).toHaveLength(9);
    const app = (id: number) => apps.find((a) => a.requestId === importedRequestId(id))!;
    expect(importedRequestId(1)).toBe('AR-000001');
    expect(app(1)).toMatchObject({ requester: 'carol', host: 'web-01', role: 'readonly', status: ApplicationStatus.granted, grantId: 'imp-uh-1' });
    expect(app(1).createdAt.toISOString()).toBe('2026-11-20T08:00:00.000Z');
    expect(app(3).status).toBe(ApplicationStatus.rejected);
    expect(app(4)).toMatchObject({ status: ApplicationStatus.rejected, error: expect.stringContaining('still waiting for approval in the old bastion') });
    expect(app(7)).toMatchObject({ status: ApplicationStatus.provisioning, grantId: 'imp-ap-7' });
    const req = await m().Request.findOne({ requestId: 'AR-000001' }).lean();
    expect(req!.approval).toMatchObject({ state: 'approved', levels: [{ decision: 'approved', decidedBy: 'alice' }] });
    expect((await m().Request.findOne({ requestId: importedRequestId(4) }).lean())!.approval.state).toBe('cancelled');
    expect((await m().Request.findOne({ requestId: importedRequestId(3) }).lean())!.approval.state).toBe('rejected');

    // Grants: original start and expiry (the old delete task's time), from the +08:00 export.
    const grants = new Map((await m().Grant.find({}).lean<Grant[]>()).map((g) => [g.grantId, g]));
    expect(grants.get('imp-uh-1')).toMatchObject({ personId: 'carol', status: GrantStatus.valid, publicKey: CAROL_KEY, grantedAt: new Date('2026-11-20T09:00:00Z'), expiresAt: new Date('2026-12-20T09:00:00Z') });
    const daveKey = DAVE_OLD_KEY.split(' ').slice(0, 2).join(' ');
    expect(grants.get('imp-uh-2')).toMatchObject({ personId: 'dave', role: 'evans', publicKey: daveKey, grantedAt: new Date('2026-11-28T10:00:00Z'), expiresAt: new Date('2026-12-05T10:00:00Z') });
    expect(grants.get('imp-ap-7')).toMatchObject({ personId: 'carol', host: 'web-02', grantedAt: null, expiresAt: null, days: 30 });
    expect(grants.get('imp-uh-4')).toMatchObject({ status: GrantStatus.expired, endReason: 'expired in the old bastion' });
    expect(grants.get('imp-uh-6')).toMatchObject({ status: GrantStatus.expired, endReason: 'expired before the import', expiresAt: new Date('2026-11-26T10:00:00Z') });
    expect(grants.has('imp-uh-3')).toBe(false);
    expect(grants.has('imp-uh-5')).toBe(false);
    const tasks = await m().Task.find({}).lean();
    expect(tasks.map((k) => `${k.grantId} ${k.type} ${k.status}`).sort()).toEqual(['imp-ap-7 add 0', 'imp-uh-1 add 0', 'imp-uh-2 add 0']);

    // Skipped with why, by row.
    const skipped = r.plan.skipped.map((s) => `${s.ref.file}:${s.ref.row} ${s.why}`);
    expect(skipped).toEqual([
      "user_host.csv:4 host old-box is not in opsgate's inventory",
      'user_host.csv:6 gone has left the directory',
      'user_host.csv:7 expired at 2026-11-26T10:00:00.000Z, before the import: kept as history (see --adopt-report for a line the old bastion left)',
    ]);

    // Keys: dave's directory record lists none, so the export's stands for him, marked imported.
    const dave = await personModel(h.conn).findOne({ personId: 'dave' }).lean();
    expect(dave).toMatchObject({ sshKeys: [], importedSshKeys: [daveKey] });
    expect(keysOf(dave!)).toEqual([daveKey]);
    expect((await personModel(h.conn).findOne({ personId: 'carol' }).lean())!.importedSshKeys).toEqual([]);
    expect(keysOf({ sshKeys: [CAROL_KEY], importedSshKeys: [daveKey] })).toEqual([CAROL_KEY]);

    // History at the old times, and the old rows kept as they were.
    const history = await auditModel(h.conn).find({ action: 'access.imported', target: 'host:web-01' }).sort({ at: -1 }).lean();
    expect(history.map((e) => (e.to as { requestId: string }).requestId)).toEqual(['AR-000003', 'AR-000009', 'AR-000008', 'AR-000001', 'AR-000006']);
    expect(history.at(-1)!.at.toISOString()).toBe('2026-10-01T09:00:00.000Z');
    const c = await counts();
    expect([c.legacy_host_bastion_apply, c.legacy_host_bastion_tasks, c.legacy_user_host]).toEqual([9, 7, 6]);
    const text = reportText(dir, r.plan, r.written, r.files);
    expect(text).toContain('grants in force: 3 (new 5, already there 0');
    expect(text).toContain('key lines to write: 4');
    expect(text).toContain('keys: imported for 1 people whose directory record lists none (1 set); 1 people');

    // The second run: every document is found, nothing is inserted or changed, no new audit entry.
    const again = await importOldBastion(h.conn, dir, opts);
    expect(again.written!.requests).toEqual({ inserted: 0, existing: 9, conflicts: [] });
    expect(again.written!.grants).toEqual({ inserted: 0, existing: 5, conflicts: [] });
    expect(again.written!.tasks.inserted + again.written!.legacy.inserted + again.written!.history.inserted + again.written!.keysSet).toBe(0);
    expect(await counts()).toEqual(c);
  });

  it("does not give an imported grant for access opsgate already gives, or carry a request opsgate already holds", async () => {
    await m().Grant.create({ grantId: 'gown1', requestId: 'AR-ABCDEF', personId: 'carol', host: 'web-01', role: 'readonly', days: 1, publicKey: CAROL_KEY, grantedAt: NOW, expiresAt: new Date(NOW.getTime() + 3_600_000) });
    await m().Application.create({ requestId: 'AR-GHJKLM', requester: 'carol', host: 'web-02', role: 'readonly', days: 1, status: ApplicationStatus.pending });
    const r = await importOldBastion(h.conn, exportDir(goodExport()), opts);
    expect(r.plan.skipped.map((s) => s.why)).toContain('carol already holds readonly on web-01 in opsgate (grant gown1)');
    expect(r.plan.changed.map((s) => s.why)).toContain('being set up: failed (already asked for in opsgate (AR-GHJKLM))');
    expect(await m().Grant.countDocuments({ status: GrantStatus.valid })).toBe(2);
  });

  it('runs as `npm run import` against a store URI: refusals exit 2, the report goes to stdout', async () => {
    const dir = exportDir(goodExport());
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: fs.mkdtempSync(path.join(dir, 'data-')), LOG_LEVEL: 'error' };
    delete env.MONGODB_URI;
    // Not execFileSync: the store answering the child runs in this process.
    const run = async (...args: string[]) => {
      try {
        const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/import-main.ts', ...args, '--uri', h.store.dbUri], { env, encoding: 'utf8' });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        const err = e as { code: number; stdout: string; stderr: string };
        return { code: err.code, stdout: err.stdout, stderr: err.stderr };
      }
    };
    expect((await run('--from', dir, '--adopt-report')).code).toBe(2);
    const dry = await run('--from', dir, '--dry-run', '--timezone', '+08:00');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(dry run: nothing was written)');
    expect(dry.stdout).toContain('host_bastion_apply: 9 rows (host_bastion_apply.csv)');
    fs.writeFileSync(path.join(dir, 'user_host.csv'), 'id,uid\n1,1\n');
    const bad = await run('--from', dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('user_host.csv row 1, column host_id: the header lacks host_id, role, status, created');
  }, 60_000);
});
