/**
 * The ticket templates in force: replaced whole at every catalog (re)load. Held in memory
 * because they carry secret values, which must never reach the store; every instance reads
 * the catalog itself at start and on /opsgate reload.
 */
import type { TicketTemplate } from '../catalog/tickets-schema.js';

export class TicketCatalog {
  private templates: TicketTemplate[] = [];

  replace(templates: TicketTemplate[]): void {
    this.templates = templates;
  }

  /** Templates a submitter may see: active ones (hidden templates are never loaded as tickets). */
  active(): TicketTemplate[] {
    return this.templates.filter((t) => t.active);
  }

  /** An active template; undefined for unknown or inactive ones (they are invisible). */
  find(name: string, env: string): TicketTemplate | undefined {
    return this.templates.find((t) => t.active && t.name === name && t.env === env);
  }

  /** The template even when deactivated: a submitted ticket still runs with its secrets. */
  anyState(name: string, env: string): TicketTemplate | undefined {
    return this.templates.find((t) => t.name === name && t.env === env);
  }

  /** Every ticket of that name, active or not (an admin's switch applies to them). */
  named(name: string): TicketTemplate[] {
    return this.templates.filter((t) => t.name === name);
  }

  /** Every ticket, active or not, for the admins' list. */
  all(): TicketTemplate[] {
    return [...this.templates];
  }

  /** For RBAC: a template resource exists when some environment has a ticket of that name. */
  hasName(name: string): boolean {
    return this.templates.some((t) => t.name === name);
  }
}
