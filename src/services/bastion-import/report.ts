/** The import's report as an operator reads it at the terminal: what was read, planned, written and skipped. */
import { GrantStatus } from '../../models/access.js';
import { linesToWrite, type Plan } from './plan.js';
import type { ImportProblem } from './tables.js';
import type { Written, WriteResult } from './write-plan.js';

/** Lines of problems or skips printed; the rest is counted (and is in --report's JSON). */
export const SHOWN = 50;

const at = (p: { file: string; row: number; column?: string }) => `${p.file}${p.row > 0 ? ` row ${p.row}` : ''}${p.column ? `, column ${p.column}` : ''}`;
const n = (x: number) => x.toLocaleString('en-US');

export function problemsText(problems: ImportProblem[]): string {
  const lines = [`import refused: ${n(problems.length)} problem${problems.length === 1 ? '' : 's'} in the export; nothing was written`];
  for (const p of problems.slice(0, SHOWN)) lines.push(`  ${at(p)}: ${p.message}`);
  if (problems.length > SHOWN) lines.push(`  … and ${n(problems.length - SHOWN)} more (--report FILE lists them all)`);
  return lines.join('\n') + '\n';
}

function written(w: Written | undefined, dryRun: boolean): string {
  if (!w) return dryRun ? 'dry run: nothing written' : '';
  return `new ${n(w.inserted)}, already there ${n(w.existing)}${w.conflicts.length ? `, refused as conflicting ${n(w.conflicts.length)}: ${w.conflicts.slice(0, 10).join(' ')}` : ''}`;
}

export function reportText(folder: string, plan: Plan, result: WriteResult | undefined, files: Partial<Record<string, string>>): string {
  const dryRun = !result;
  const valid = plan.grants.filter((g) => g.status === GrantStatus.valid);
  const lines = [
    `old bastion import from ${folder}${dryRun ? ' (dry run: nothing was written)' : ''}`,
    'read:',
    ...Object.entries(plan.read).map(([table, rows]) => `  ${table}: ${n(rows)} rows${files[table] ? ` (${files[table]})` : ' (no file)'}`),
    `requests and applications: ${n(plan.applications.length)}${result ? ` (${written(result.applications, dryRun)})` : ''}`,
    `  kept with their status: ${n(plan.applications.length - plan.changed.length)}; status changed: ${n(plan.changed.length)}`,
    ...plan.changed.slice(0, SHOWN).map((c) => `    ${at(c.ref)}: ${c.why}`),
    ...(plan.changed.length > SHOWN ? [`    … and ${n(plan.changed.length - SHOWN)} more`] : []),
    `grants in force: ${n(valid.length)}${result ? ` (${written(result.grants, dryRun)}; of the rest, in force or history)` : ''}`,
    `  key lines to write: ${n(linesToWrite(plan))}, by the bot's provisioning sweep (ACCESS_SWEEP_MS) with each grant's original expiry${result ? `; tasks ${written(result.tasks, dryRun)}` : ''}`,
    `grants kept as history (expired): ${n(plan.grants.length - valid.length)}`,
    `skipped user_host rows in force: ${n(plan.skipped.length)}`,
    ...plan.skipped.slice(0, SHOWN).map((s) => `  ${at(s.ref)}: ${s.why}`),
    ...(plan.skipped.length > SHOWN ? [`  … and ${n(plan.skipped.length - SHOWN)} more (--report FILE lists them all)`] : []),
    `keys: imported for ${n(plan.keys.length)} people whose directory record lists none${result ? ` (${n(result.keysSet)} set)` : ''}; ${n(plan.keysIgnored)} people's records list keys of their own, so the export's are not used`,
    `  expired user_host rows no application leads to: ${n(plan.historyWithoutApplication)} (kept with the old rows only)`,
    `old rows kept as they were in legacy_host_bastion_apply, legacy_host_bastion_tasks, legacy_user_host: ${n(Object.values(plan.legacy).reduce((k, rows) => k + rows.length, 0))}${result ? ` (${written(result.legacy, dryRun)})` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

/** Everything, for `--report FILE`. */
export function reportJson(folder: string, plan: Plan, result: WriteResult | undefined): unknown {
  return {
    folder,
    dryRun: !result,
    problems: plan.problems,
    read: plan.read,
    applications: plan.applications.length,
    changed: plan.changed,
    grantsInForce: plan.grants.filter((g) => g.status === GrantStatus.valid).map((g) => ({ grantId: g.grantId, personId: g.personId, host: g.host, role: g.role, grantedAt: g.grantedAt, expiresAt: g.expiresAt })),
    grantsHistory: plan.grants.filter((g) => g.status !== GrantStatus.valid).length,
    linesToWrite: linesToWrite(plan),
    skipped: plan.skipped,
    keysImported: plan.keys.map((k) => ({ personId: k.personId, keys: k.keys.length })),
    keysIgnored: plan.keysIgnored,
    written: result ?? null,
  };
}
