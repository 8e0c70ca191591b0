/**
 * Writes a plan into the store, each document once: inserts keyed by the ids the plan kept
 * from the old rows, so a second run (or a run after one cut off halfway) inserts only what
 * is missing and changes nothing that is there, even what the bot has moved on since (a grant
 * written, then expired). Order matters for a cut-off run: requests and applications before
 * the grants they lead to, grants before the tasks that write them.
 */
import os from 'node:os';
import type { Collection, Document } from 'mongodb';
import type { Connection } from 'mongoose';
import { accessModels } from '../../models/access.js';
import { auditModel } from '../../models/audit.js';
import { personModel } from '../../models/person.js';
import { IMPORT_ACTOR, linesToWrite, type Plan } from './plan.js';

/** Where the old rows are kept as they were: `legacy_host_bastion_apply` and so on. */
export const legacyCollection = (table: string) => `legacy_${table}`;
const BATCH = 1000;

export interface Written {
  inserted: number;
  /** Already in the store from an earlier run. */
  existing: number;
  /** Refused by another unique rule (an open application or grant made meanwhile), by key. */
  conflicts: string[];
}

export interface WriteResult {
  requests: Written;
  applications: Written;
  grants: Written;
  tasks: Written;
  history: Written;
  legacy: Written;
  keysSet: number;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  err?: { code?: number };
}

/**
 * Inserts what is not there yet. Each batch first looks up which of its keys exist (a second
 * run is then reads only); a duplicate on `key` at insert (written meanwhile) also counts as
 * there, while one on another unique index is a real conflict.
 */
async function insertOnce(coll: Collection, docs: Document[], key: string): Promise<Written> {
  const out: Written = { inserted: 0, existing: 0, conflicts: [] };
  const present = async (keys: unknown[]) => new Set((await coll.find({ [key]: { $in: keys } }, { projection: { [key]: 1 } }).toArray()).map((d) => String(d[key])));
  for (let i = 0; i < docs.length; i += BATCH) {
    const batch = docs.slice(i, i + BATCH);
    const there = await present(batch.map((d) => d[key]));
    const missing = batch.filter((d) => !there.has(String(d[key])));
    out.existing += batch.length - missing.length;
    if (missing.length === 0) continue;
    try {
      out.inserted += (await coll.insertMany(missing, { ordered: false })).insertedCount;
    } catch (err) {
      const list = (err as { writeErrors?: WriteErrorLike[] | WriteErrorLike }).writeErrors;
      const errors = Array.isArray(list) ? list : list ? [list] : [];
      if (errors.length === 0 || errors.some((e) => (e.code ?? e.err?.code) !== 11000)) throw err;
      out.inserted += missing.length - errors.length;
      const dupKeys = errors.map((e) => missing[e.index]![key]);
      const nowThere = await present(dupKeys);
      for (const k of dupKeys) {
        if (nowThere.has(String(k))) out.existing++;
        else out.conflicts.push(String(k));
      }
    }
  }
  return out;
}

export async function writePlan(conn: Connection, plan: Plan): Promise<WriteResult> {
  const m = accessModels(conn);
  const people = personModel(conn);
  // The unique indexes are what make a second run insert nothing: the store may never have had
  // a bot start on it (an import before the first start), so they are made here too.
  await Promise.all([m.Request, m.Application, m.Grant, m.Task].map((model) => model.createIndexes()));
  let keysSet = 0;
  for (const { personId, keys } of plan.keys) {
    // Only while the directory lists no key: a key added since wins over the export's.
    const r = await people.updateOne({ personId, 'sshKeys.0': { $exists: false } }, { $set: { importedSshKeys: keys } });
    keysSet += r.modifiedCount;
  }
  const requests = await insertOnce(m.Request.collection, plan.requests, 'requestId');
  const applications = await insertOnce(m.Application.collection, plan.applications, '_id');
  const grants = await insertOnce(m.Grant.collection, plan.grants, 'grantId');
  // Only tasks of grants this run wrote or an earlier one did: a grant refused as a conflict gets none.
  const refused = new Set(grants.conflicts);
  const tasks = await insertOnce(m.Task.collection, plan.addTasks.filter((t) => !refused.has(t.grantId)), 'grantId');
  const history = await insertOnce(auditModel(conn).collection, plan.history, '_id');
  const legacy: Written = { inserted: 0, existing: 0, conflicts: [] };
  for (const [table, rows] of Object.entries(plan.legacy)) {
    const w = await insertOnce(conn.collection(legacyCollection(table)), rows, '_id');
    legacy.inserted += w.inserted;
    legacy.existing += w.existing;
  }
  const result = { requests, applications, grants, tasks, history, legacy, keysSet };
  const changed = keysSet + [requests, applications, grants, tasks, history, legacy].reduce((n, w) => n + w.inserted, 0);
  // A run that changed nothing leaves no trace either: running it twice changes nothing.
  if (changed > 0) {
    await auditModel(conn).create({
      at: new Date(),
      actor: IMPORT_ACTOR,
      action: 'migration.import',
      target: 'migration:old-bastion',
      from: null,
      to: { ranBy: `${os.userInfo().username}@${os.hostname()}`, read: plan.read, inserted: Object.fromEntries(Object.entries(result).map(([k, v]) => [k, typeof v === 'number' ? v : v.inserted])), linesToWrite: linesToWrite(plan), skipped: plan.skipped.length },
    });
  }
  return result;
}
