/**
 * One import of the old bastion's export: read and check the files, plan against what the
 * store holds (the directory, the inventory, opsgate's own open requests and grants), then,
 * unless it is a dry run and only if nothing is wrong, write the plan.
 */
import type { Connection } from 'mongoose';
import { accessModels, GrantStatus, OPEN_APPLICATION_STATUSES } from '../../models/access.js';
import { inventoryModels } from '../../models/inventory.js';
import { personModel } from '../../models/person.js';
import { accessKey, planImport, type Plan, type PersonFacts } from './plan.js';
import { readTables } from './read-tables.js';
import type { ReadOptions } from './tables.js';
import { writePlan, type WriteResult } from './write-plan.js';

export interface ImportOptions extends ReadOptions {
  dryRun: boolean;
  dayMs: number;
  now?: Date;
}

export interface ImportOutcome {
  plan: Plan;
  /** Absent for a dry run, and when the files have problems (nothing is written then). */
  written?: WriteResult;
  files: Partial<Record<string, string>>;
}


export async function importOldBastion(conn: Connection, folder: string, opts: ImportOptions): Promise<ImportOutcome> {
  const { tables, files, problems } = readTables(folder, opts);
  const m = accessModels(conn);
  const people = new Map<string, PersonFacts>(
    (await personModel(conn).find({}, { personId: 1, active: 1, sshKeys: 1, importedSshKeys: 1 }).lean()).map((p) => [p.personId, { personId: p.personId, active: p.active, sshKeys: p.sshKeys ?? [], importedSshKeys: p.importedSshKeys ?? [] }]),
  );
  const hosts = new Map((await inventoryModels(conn).Host.find({}, { name: 1, archived: 1 }).lean()).map((h) => [h.name, { archived: h.archived }]));
  const mine = { importedFrom: null };
  const openInOpsgate = new Map((await m.Application.find({ ...mine, status: { $in: OPEN_APPLICATION_STATUSES } }).lean()).map((a) => [accessKey(a.requester, a.host, a.role), a.requestId]));
  const heldInOpsgate = new Map((await m.Grant.find({ ...mine, status: GrantStatus.valid }).lean()).map((g) => [accessKey(g.personId, g.host, g.role), g.grantId]));
  const plan = planImport({ tables, readProblems: problems, people, hosts, openInOpsgate, heldInOpsgate, now: opts.now ?? new Date(), dayMs: opts.dayMs });
  if (plan.problems.length > 0 || opts.dryRun) return { plan, files };
  return { plan, files, written: await writePlan(conn, plan) };
}
