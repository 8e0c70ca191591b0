/** `/opsgate audit`: who changed what, when, from -> to. */
import type { AuditEntry } from '../src/models/audit.js';
import { code, context, esc, header, rowsToSections, section, type Message } from './kit.js';

function brief(v: unknown): string {
  if (v === null || v === undefined) return '∅';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '…' : s;
}

export function auditMessage(entries: AuditEntry[]): Message {
  if (entries.length === 0) return { text: 'No audit entries', blocks: [section('No audit entries match.')] };
  const rows = entries.map((e) => `${code(e.at.toISOString())} *${esc(e.actor)}* ${code(e.action)} ${esc(e.target)}: ${esc(brief(e.from))} → ${esc(brief(e.to))}`);
  return { text: `${entries.length} audit entries`, blocks: [header('Audit log'), ...rowsToSections(rows, 15), context(`${entries.length} entries, newest first`)] };
}

/** `/opsgate audit export`: where the file went and whether the limit cut it. */
export function auditExportMessage(r: { filename: string; rows: number; capped: boolean }): Message {
  const text = `:page_facing_up: ${r.rows.toLocaleString('en')} audit entries sent to you as ${code(esc(r.filename))} (check your DM with opsgate).`;
  const more = r.capped ? [context('The limit was reached: older matching entries are not in the file. Narrow the filters (since:, until:) or raise limit: (at most 50,000).')] : [];
  return { text: `${r.rows} audit entries exported`, blocks: [section(text), ...more] };
}
