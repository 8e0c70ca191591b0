/**
 * Audit entries as CSV for people who open it in a spreadsheet: one row per entry, times in
 * ISO 8601 UTC, `from` and `to` as JSON. A value a spreadsheet would run as a formula (`=`,
 * `+`, `-`, `@`, tab, CR first) is escaped by csv-stringify, so an entry whose note an attacker
 * wrote cannot become a formula on an admin's machine.
 */
import { stringify } from 'csv-stringify/sync';
import type { AuditEntry } from '../models/audit.js';

export const AUDIT_CSV_COLUMNS = ['at', 'actor', 'action', 'target', 'from', 'to', 'note'] as const;

export function auditCsv(entries: AuditEntry[]): string {
  const rows = entries.map((e) => [e.at.toISOString(), e.actor, e.action, e.target, json(e.from), json(e.to), e.note ?? '']);
  return stringify(rows, { header: true, columns: [...AUDIT_CSV_COLUMNS], escape_formulas: true, record_delimiter: 'windows' });
}

function json(v: unknown): string {
  return v === null || v === undefined ? '' : JSON.stringify(v);
}
