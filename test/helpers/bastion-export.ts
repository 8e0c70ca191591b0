/**
 * Writes an old-bastion export folder (seed 003's tables) as the import reads it: CSV with a
 * header row or JSON lines, per table. Also generates one of the seed's yearly volumes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type mongoose from 'mongoose';
import { stringify } from 'csv-stringify/sync';
import { inventoryModels } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';

export type ExportRow = Record<string, string | number | null>;
export type ExportTables = Partial<Record<'host_bastion_apply' | 'host_bastion_tasks' | 'user_host' | 'user_keys' | 'uid_map' | 'host_map', ExportRow[]>>;

export function writeExport(tables: ExportTables, opts: { jsonl?: string[]; dir?: string } = {}): string {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-bastion-export-'));
  for (const [table, rows] of Object.entries(tables)) {
    if (opts.jsonl?.includes(table)) fs.writeFileSync(path.join(dir, `${table}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    else fs.writeFileSync(path.join(dir, `${table}.csv`), stringify(rows, { header: true, columns: Object.keys(rows[0] ?? {}) }));
  }
  return dir;
}

/** MySQL's timestamp text for a Date, in UTC (the import's default --timezone). */
export const mysqlTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

export interface Volumes {
  applications: number;
  tasks: number;
  userHosts: number;
  people: number;
  hosts: number;
}

/**
 * The seed's volumes: 20 applications a day for a year, 5 tasks each (add and delete on
 * several attempts), and user_host rows for people and hosts. Roughly one in ten user_host rows
 * is still valid, with an expiry ahead; the rest expired. Deterministic.
 */
export function generateExport(v: Volumes, now: Date): ExportTables {
  const day = 86_400_000;
  const start = now.getTime() - 365 * day;
  const apply: ExportRow[] = [];
  const tasks: ExportRow[] = [];
  const userHost: ExportRow[] = [];
  let taskId = 1;
  const expiry = new Map<number, number>();
  for (let i = 1; i <= v.applications; i++) {
    const created = new Date(start + Math.floor(((i - 1) * 365 * day) / v.applications));
    expiry.set(i, created.getTime() + [1, 7, 30, 365][i % 4]! * day);
    const status = i % 50 === 0 ? 2 : i % 97 === 0 ? 5 : 4;
    apply.push({ id: i, uid: 1 + (i % v.people), host_id: 1 + (i % v.hosts), role: 1 + (i % 3), approve_uid: 1 + ((i + 7) % v.people), status, days: [1, 7, 30, 365][i % 4]!, content: `fix ${i}, "quoted", with comma`, created: mysqlTime(created), updated: mysqlTime(new Date(created.getTime() + 3_600_000)) });
    const per = Math.round(v.tasks / v.applications);
    for (let k = 0; k < per && taskId <= v.tasks; k++) {
      const type = k === per - 1 ? 2 : 1;
      tasks.push({ id: taskId++, apply_id: i, uid: 1 + (i % v.people), host_id: 1 + (i % v.hosts), role: 1 + (i % 3), type, status: k < per - 2 ? 2 : type === 2 ? 0 : 1, exec_time: mysqlTime(new Date(created.getTime() + (type === 2 ? [1, 7, 30, 365][i % 4]! * day : 3_600_000 + k * 60_000))), created: mysqlTime(created), updated: mysqlTime(created) });
    }
  }
  // user_host rows name (uid, host, role) triples of applications, newest first, so each has a carrier.
  const seen = new Set<string>();
  for (let i = v.applications; i >= 1 && userHost.length < v.userHosts; i--) {
    const a = apply[i - 1]! as Record<string, string | number | null>;
    const key = `${a.uid} ${a.host_id} ${a.role}`;
    if (seen.has(key) || a.status !== 4) continue;
    seen.add(key);
    // Valid while the old bastion's delete task is still ahead.
    userHost.push({ id: userHost.length + 1, uid: a.uid!, host_id: a.host_id!, role: a.role!, status: expiry.get(i)! > now.getTime() ? 1 : 2, created: a.created!, updated: a.updated! });
  }
  // Not enough distinct triples among the applications: the rest are history rows of their own.
  for (let id = userHost.length + 1; id <= v.userHosts; id++) userHost.push({ id, uid: 1 + (id % v.people), host_id: 1 + ((id * 7) % v.hosts), role: 3, status: 2, created: mysqlTime(new Date(start)), updated: mysqlTime(new Date(start + day)) });
  return {
    host_bastion_apply: apply,
    host_bastion_tasks: tasks,
    user_host: userHost,
    uid_map: Array.from({ length: v.people }, (_, i) => ({ uid: i + 1, person_id: `p${i + 1}` })),
    host_map: Array.from({ length: v.hosts }, (_, i) => ({ host_id: i + 1, host: `h${i + 1}` })),
  };
}

/** The directory's people and the inventory's hosts the export's mapping files name. */
export async function seedDirectoryAndInventory(conn: mongoose.Connection, v: Volumes): Promise<void> {
  await personModel(conn).insertMany(Array.from({ length: v.people }, (_, i) => ({ personId: `p${i + 1}`, name: `Person ${i + 1}`, email: `p${i + 1}@example.com`, level: 'P6', sshKeys: [`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String(i).padStart(43, 'A')}`] })));
  await inventoryModels(conn).Host.insertMany(Array.from({ length: v.hosts }, (_, i) => ({ name: `h${i + 1}`, address: '127.0.0.1', hostKey: 'SHA256:bench' })));
}
