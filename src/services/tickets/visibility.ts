/**
 * Who may look at a ticket, one rule for `/ticket show`, the lists and `/jobs`: its submitter
 * and its approvers always; anyone else needs `use` on its template (and a team), admins all.
 */
import type { Person } from '../../models/person.js';
import type { Ticket } from '../../models/tickets.js';
import { GLOBAL, type RbacService } from '../rbac.js';

/** The submitter or one of the approvers named in its flow. */
export function involvedIn(t: Ticket, personId: string): boolean {
  return t.submitter === personId || t.approval.levels.some((l) => l.approvers.includes(personId));
}

/**
 * A reader of the rule for one person over many tickets (lists): admin standing is read once,
 * `use` once per template.
 */
export async function ticketViewer(rbac: RbacService, person: Person): Promise<(t: Ticket) => Promise<boolean>> {
  const admin = await rbac.can(person, 'admin', GLOBAL);
  const byTemplate = new Map<string, boolean>();
  return async (t) => {
    if (admin || involvedIn(t, person.personId)) return true;
    let ok = byTemplate.get(t.template.name);
    if (ok === undefined) byTemplate.set(t.template.name, (ok = await rbac.can(person, 'use', { type: 'template', id: t.template.name, organization: null })));
    return ok;
  };
}
