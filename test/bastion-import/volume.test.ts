/**
 * The import at a fifth of seed 003's yearly volumes (several write batches per collection):
 * everything planned is written, the counts agree with the plan, and a second run inserts
 * nothing. The full year's volumes and their times are `npm run bench:import`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { accessModels, GrantStatus } from '../../src/models/access.js';
import { importOldBastion } from '../../src/services/bastion-import/import.js';
import { legacyCollection } from '../../src/services/bastion-import/write-plan.js';
import { generateExport, seedDirectoryAndInventory, writeExport, type Volumes } from '../helpers/bastion-export.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';

const FIFTH: Volumes = { applications: 1460, tasks: 7300, userHosts: 2400, people: 200, hosts: 1000 };

describe('import at a fifth of a year of the old bastion', () => {
  let h: ServiceHarness;
  let dir: string;
  const now = new Date();
  beforeAll(async () => {
    h = await startServiceHarness();
    await seedDirectoryAndInventory(h.conn, FIFTH);
    dir = writeExport(generateExport(FIFTH, now));
  }, 60_000);
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await h?.stop();
  });

  it('writes what it planned, and nothing the second time', async () => {
    const opts = { timezone: 'Z', dayMs: 86_400_000, now, dryRun: false };
    const first = await importOldBastion(h.conn, dir, opts);
    expect(first.plan.problems).toEqual([]);
    const m = accessModels(h.conn);
    const valid = first.plan.grants.filter((g) => g.status === GrantStatus.valid).length;
    expect(valid).toBeGreaterThan(50);
    expect(await m.Request.countDocuments({ 'importedFrom.table': 'host_bastion_apply' })).toBe(FIFTH.applications);
    expect(await m.Application.countDocuments({})).toBe(FIFTH.applications);
    expect(await m.Grant.countDocuments({ status: GrantStatus.valid })).toBe(valid);
    expect(await m.Grant.countDocuments({})).toBe(first.plan.grants.length);
    expect(await m.Task.countDocuments({ type: 'add', status: 0 })).toBe(valid);
    expect(await h.conn.collection(legacyCollection('host_bastion_tasks')).countDocuments()).toBe(FIFTH.tasks);
    expect(await h.conn.collection(legacyCollection('user_host')).countDocuments()).toBe(FIFTH.userHosts);
    // Every grant in force expires in the future and started before now, as the old system said.
    const grants = await m.Grant.find({ status: GrantStatus.valid }).lean();
    expect(grants.every((g) => g.expiresAt!.getTime() > now.getTime() && g.grantedAt!.getTime() < now.getTime())).toBe(true);

    const second = await importOldBastion(h.conn, dir, opts);
    const w = second.written!;
    expect([w.requests, w.applications, w.grants, w.tasks, w.history, w.legacy].map((x) => x.inserted)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(w.requests.existing).toBe(FIFTH.applications);
    expect(w.legacy.existing).toBe(FIFTH.applications + FIFTH.tasks + FIFTH.userHosts);
  }, 120_000);
});
