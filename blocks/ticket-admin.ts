/**
 * Admins' views of ticket templates: the answer to `/ticket admin activate|deactivate` and the
 * `/ticket admin list` table (catalog flag, the stored switch, what submitters get).
 */
import type { SwitchResult, TemplateState } from '../src/services/tickets/template-switch.js';
import { when } from './access.js';
import { code, context, header, rowsToSections, section, type Message } from './kit.js';

const onOff = (b: boolean): string => (b ? 'active' : 'inactive');

export function templateSwitchMessage(results: SwitchResult[]): Message {
  const rows = results.map(
    (r) =>
      `${code(r.name)} ${code(r.env)}: ${onOff(r.from)} → *${onOff(r.to)}*${r.from === r.to ? ' (unchanged)' : ''}${r.catalogActive !== r.to ? ` — the catalog says ${onOff(r.catalogActive)}; this switch wins until changed` : ''}`,
  );
  const to = results[0]?.to ?? false;
  return {
    text: `${results.length} ticket template(s) now ${onOff(to)}`,
    blocks: [
      section(`${to ? ':white_check_mark:' : ':no_entry_sign:'} Ticket templates ${to ? 'activated' : 'deactivated'}:\n${rows.join('\n')}`),
      context(to ? 'Submitters see them in the picker again.' : 'Submitters no longer see them; tickets already submitted still run. `/ticket admin list` shows every switch.'),
    ],
  };
}

export function templateStatesMessage(states: TemplateState[]): Message {
  if (states.length === 0) return { text: 'No ticket templates in the catalog', blocks: [section('No ticket templates in the catalog.')] };
  const rows = states.map(
    (s) =>
      `${s.active ? ':large_green_circle:' : ':white_circle:'} ${code(s.name)} ${code(s.env)} — ${onOff(s.active)} · catalog: ${onOff(s.catalogActive)} · ${s.override ? `switched ${onOff(s.override.active)} by ${s.override.by} ${when(s.override.at)}` : 'no switch'}`,
  );
  return { text: `Ticket templates: ${states.length}`, blocks: [header('Ticket templates'), ...rowsToSections(rows, 15), context('`/ticket admin activate|deactivate <name> [env]` switches one; the switch is kept in MongoDB and wins over the catalog’s `active:`.')] };
}
