/** Inventory listings: hosts, projects, products, and the reload / sync summaries. */
import type { Host, Product, Project } from '../src/models/inventory.js';
import type { ReloadResult } from '../src/services/inventory.js';
import type { SyncResult } from '../src/services/directory/directory.js';
import { code, context, esc, header, rowsToSections, section, type Message } from './kit.js';

export function hostsMessage(hosts: Host[], filter: string, limit: number): Message {
  if (hosts.length === 0) return { text: 'No hosts match', blocks: [section(filter ? `No hosts match ${code(filter)}.` : 'The inventory has no hosts yet.')] };
  const rows = hosts.map((h) => {
    const state = h.active ? ':large_green_circle:' : `:red_circle: _${esc(h.inactiveReason ?? 'inactive')}_`;
    const where = [h.env && `env ${code(h.env)}`, h.project && `project ${code(h.project)}`, h.app && `app ${code(h.app)}`].filter(Boolean).join(' · ');
    return `${state} *${esc(h.name)}* ${esc(h.address)}:${h.port}${where ? ' — ' + where : ''}`;
  });
  const more = hosts.length >= limit ? ` (first ${limit}; narrow the filter)` : '';
  return {
    text: `${hosts.length} hosts`,
    blocks: [header(filter ? `Hosts matching ${filter}` : 'Hosts'), ...rowsToSections(rows), context(`${hosts.length} hosts${more}`)],
  };
}

export function projectsMessage(projects: Project[]): Message {
  if (projects.length === 0) return { text: 'No projects', blocks: [section('The catalog has no projects yet.')] };
  const rows = projects.map(
    (p) =>
      `*${esc(p.name)}*${p.organization ? ` (org ${esc(p.organization)})` : ''}${p.description ? ` — ${esc(p.description)}` : ''}\n` +
      `   hosts: ${p.hosts.length ? p.hosts.map(code).join(' ') : '—'} · people: ${p.people.length ? p.people.map(code).join(' ') : '—'} · contacts: ${p.contacts.length ? p.contacts.map(esc).join(', ') : '—'}`,
  );
  return { text: `${projects.length} projects`, blocks: [header('Projects'), ...rowsToSections(rows, 10), context(`${projects.length} projects`)] };
}

export function productsMessage(products: Product[]): Message {
  if (products.length === 0) return { text: 'No products', blocks: [section('The products collection (`conf`) is empty.')] };
  const rows = products.map((p) => `*${esc(p.prod_name)}* — init_sls: ${p.init_sls ? code(p.init_sls) : '—'} · templates: ${p.templates ? code(p.templates) : '—'}`);
  return { text: `${products.length} products`, blocks: [header('Products'), ...rowsToSections(rows), context(`${products.length} products (collection conf)`)] };
}

export function reloadMessage(r: ReloadResult): Message {
  const text =
    `:white_check_mark: Catalog reloaded. Hosts: ${r.hosts.added} added, ${r.hosts.updated} updated, ${r.hosts.archived} archived. ` +
    `Projects: ${r.projects.added} added, ${r.projects.updated} updated, ${r.projects.archived} archived. Products: ${r.products}. Ticket templates: ${r.tickets}. Modules: ${r.modules}.`;
  return { text, blocks: [section(text)] };
}

export function syncMessage(r: SyncResult): Message {
  const text = `:white_check_mark: Directory synced: ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.deactivated} deactivated; ${r.slackIdsLearned} Slack ids learned by email.`;
  return { text, blocks: [section(text)] };
}

/** The host check's notice to admins: which hosts stopped answering, which came back. */
export function hostCheckMessage(r: { newlyInactive: string[]; newlyActive: string[]; failures: Record<string, string> }): Message {
  const rows = [
    ...r.newlyInactive.map((h) => `:red_circle: ${code(h)} is now inactive: ${esc(r.failures[h] ?? 'no answer')}`),
    ...r.newlyActive.map((h) => `:large_green_circle: ${code(h)} answers again`),
  ];
  return { text: `Host check: ${r.newlyInactive.length} inactive, ${r.newlyActive.length} back`, blocks: [header('Host check'), ...rowsToSections(rows, 15, 10)] };
}
