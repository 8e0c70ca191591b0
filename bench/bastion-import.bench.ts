/**
 * The old-bastion import at seed 003's yearly volumes: 7,300 applications, 36,500 tasks and
 * 12,000 user_host rows (200 people, 1,000 hosts), generated, written as CSV, then imported
 * into a fresh embedded store: the dry run, the import, and the second run (which must insert
 * nothing). Prints each run's time, what was written and the process's peak memory.
 */
import fs from 'node:fs';
import mongoose from 'mongoose';
import { importOldBastion } from '../src/services/bastion-import/import.js';
import { linesToWrite } from '../src/services/bastion-import/plan.js';
import { generateExport, seedDirectoryAndInventory, writeExport, type Volumes } from '../test/helpers/bastion-export.js';
import { startTestStore } from '../test/helpers/store.js';
import { fmt, line } from './stats.js';

export const SEED_YEAR: Volumes = { applications: 7300, tasks: 36_500, userHosts: 12_000, people: 200, hosts: 1000 };

export async function benchBastionImport(v: Volumes = SEED_YEAR): Promise<void> {
  const store = await startTestStore();
  const now = new Date();
  const dir = writeExport(generateExport(v, now));
  const conn = await mongoose.createConnection(store.dbUri).asPromise();
  try {
    await seedDirectoryAndInventory(conn, v);
    const opts = { timezone: 'Z', dayMs: 86_400_000, now };
    for (const [label, dryRun] of [['dry run', true], ['import', false], ['second run', false]] as const) {
      const t0 = performance.now();
      const r = await importOldBastion(conn, dir, { ...opts, dryRun });
      const s = (performance.now() - t0) / 1000;
      if (r.plan.problems.length > 0) throw new Error(`the generated export has problems: ${JSON.stringify(r.plan.problems.slice(0, 3))}`);
      const w = r.written;
      const valid = r.plan.grants.filter((g) => g.status === 1).length;
      line(`${label}: seconds`, fmt(s, 1));
      if (label === 'dry run') line('  planned: applications / grants in force / history grants / lines to write / skipped', `${r.plan.applications.length} / ${valid} / ${r.plan.grants.length - valid} / ${linesToWrite(r.plan)} / ${r.plan.skipped.length}`);
      if (w) line('  inserted: requests / applications / grants / tasks / audit / old rows', [w.requests, w.applications, w.grants, w.tasks, w.history, w.legacy].map((x) => x.inserted).join(' / '));
    }
    line('peak resident memory, MiB', fmt(process.resourceUsage().maxRSS / 1024, 0));
  } finally {
    await conn.close();
    await store.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchBastionImport();
}
