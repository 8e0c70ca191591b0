/**
 * Which ticket templates submitters may use now: the catalog's `active:` flag, overridden by
 * an admin's switch stored in MongoDB (`/ticket admin activate|deactivate <name> [env]`).
 *
 * The catalog is code and in memory per bot instance, so a switch kept there would be lost at
 * `/opsgate reload` or a restart and unseen by other instances; the store holds it instead and
 * is read at every listing and lookup (one small collection, a handful of documents).
 *
 * The admin's switch wins either way: activating a template whose yaml says `active: false`
 * makes it submittable, and deactivating hides it even if the yaml later says `active: true`.
 * A switched-off template is invisible in the picker and refused at submit; tickets submitted
 * before still run (the executor reads templates whatever their state).
 */
import type { Clock } from '../../clock.js';
import { badParameter } from '../../errors.js';
import type { TicketTemplateSwitch, TicketTemplateSwitchModel } from '../../models/ticket-template-switch.js';
import type { AuditLog } from '../audit.js';
import type { TicketTemplate } from '../catalog/tickets-schema.js';
import type { DirectoryService } from '../directory/directory.js';
import type { RbacService } from '../rbac.js';
import type { TicketCatalog } from './catalog.js';

export interface TemplateSwitchDeps {
  model: TicketTemplateSwitchModel;
  catalog: TicketCatalog;
  directory: DirectoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
}

/** One template's state as admins see it. */
export interface TemplateState {
  name: string;
  env: string;
  /** The catalog's `active:`. */
  catalogActive: boolean;
  /** The admin's switch, or null when none was set. */
  override: { active: boolean; by: string; at: Date } | null;
  /** What submitters get: the switch when set, else the catalog's flag. */
  active: boolean;
}

/** What one switch changed. */
export interface SwitchResult {
  name: string;
  env: string;
  from: boolean;
  to: boolean;
  catalogActive: boolean;
}

const key = (name: string, env: string): string => `${name}\u0000${env}`;

export class TemplateSwitches {
  constructor(private readonly deps: TemplateSwitchDeps) {}

  private async overrides(): Promise<Map<string, TicketTemplateSwitch>> {
    const docs = await this.deps.model.find({}).limit(10_000).lean<TicketTemplateSwitch[]>();
    return new Map(docs.map((d) => [key(d.name, d.env), d]));
  }

  private static effective(t: TicketTemplate, o: TicketTemplateSwitch | undefined): boolean {
    return o ? o.active : t.active;
  }

  /** The templates submitters may use now. */
  async active(): Promise<TicketTemplate[]> {
    const o = await this.overrides();
    return this.deps.catalog.all().filter((t) => TemplateSwitches.effective(t, o.get(key(t.name, t.env))));
  }

  /** A template submitters may use now; undefined for unknown or switched-off ones (they are invisible). */
  async find(name: string, env: string): Promise<TicketTemplate | undefined> {
    const t = this.deps.catalog.anyState(name, env);
    if (!t) return undefined;
    const o = await this.deps.model.findOne({ name, env }).lean<TicketTemplateSwitch>();
    return TemplateSwitches.effective(t, o ?? undefined) ? t : undefined;
  }

  /** Every template with its catalog flag and switch (admins only). */
  async list(slackUserId: string): Promise<TemplateState[]> {
    await this.requireAdmin(slackUserId);
    const o = await this.overrides();
    return this.deps.catalog
      .all()
      .map((t) => {
        const s = o.get(key(t.name, t.env));
        return { name: t.name, env: t.env, catalogActive: t.active, override: s ? { active: s.active, by: s.by, at: s.at } : null, active: TemplateSwitches.effective(t, s) };
      })
      .sort((a, b) => a.name.localeCompare(b.name) || a.env.localeCompare(b.env));
  }

  /**
   * Switches a template on or off in `env`, or in every environment that has it. Admins only
   * (1201 naming the rule); an unknown name or environment is 1100 naming it and writes nothing.
   * Each environment switched gets an audit entry (actor, from, to).
   */
  async set(slackUserId: string, active: boolean, name: string, env?: string): Promise<SwitchResult[]> {
    const admin = await this.requireAdmin(slackUserId);
    const named = this.deps.catalog.named(name);
    if (named.length === 0) throw badParameter(`no ticket template named ${name} in the catalog`, { field: 'name' });
    const targets = env === undefined ? named : named.filter((t) => t.env === env);
    if (targets.length === 0) throw badParameter(`ticket template ${name} has no environment ${env} (it has ${named.map((t) => t.env).join(', ')})`, { field: 'env' });
    const now = this.deps.clock.now();
    const out: SwitchResult[] = [];
    for (const t of targets) {
      const before = await this.deps.model
        .findOneAndUpdate({ name: t.name, env: t.env }, { $set: { active, by: admin, at: now } }, { upsert: true, returnDocument: 'before' })
        .lean<TicketTemplateSwitch>();
      const from = TemplateSwitches.effective(t, before ?? undefined);
      await this.deps.audit.record({
        actor: admin,
        action: active ? 'ticket.template.activate' : 'ticket.template.deactivate',
        target: `template:${t.name}/${t.env}`,
        from: { active: from, override: before ? before.active : null },
        to: { active, override: active },
      });
      out.push({ name: t.name, env: t.env, from, to: active, catalogActive: t.active });
    }
    return out;
  }

  /** The admin's personId; 1201 (or 1202) from RBAC otherwise. */
  private async requireAdmin(slackUserId: string): Promise<string> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireAdmin(person);
    return person.personId;
  }
}
