/**
 * Hosts, projects and products: reloaded from the catalog (all or nothing), listed and
 * filtered for people, and marked active/inactive by the daily reachability check.
 */
import type { Clock } from '../clock.js';
import { badParameter } from '../errors.js';
import type { Host, InventoryModels, Product, Project } from '../models/inventory.js';
import type { AuditLog } from './audit.js';
import { loadCatalog } from './catalog/load.js';
import { accessPolicySchema, DEFAULT_ACCESS_POLICY, type AccessPolicy, type Catalog, type HostEntry } from './catalog/schema.js';

const ACCESS_POLICY_KEY = 'access-policy';

export interface ReloadResult {
  hosts: { added: number; updated: number; archived: number };
  projects: { added: number; updated: number; archived: number };
  products: number;
  tickets: number;
  modules: number;
}

export interface InventoryDeps {
  models: InventoryModels;
  audit: AuditLog;
  clock: Clock;
  catalogDir: string;
  /** Where tickets' `{ env: ... }` secrets are read (config.secretEnv). */
  catalogEnv?: Readonly<Record<string, string | undefined>>;
  /** Told of each catalog applied (ticket templates live outside the inventory). */
  onReload?: (catalog: Catalog) => void;
}

/** A filter word becomes an escaped regular expression: bounded here whatever the caller checked. */
export const FILTER_WORD_MAX = 100;
export const FILTER_TERMS_MAX = 60;

/**
 * How a bare word names hosts: `search` (any host whose name contains it, for pickers and
 * `/opsgate hosts`) or `exact` (that host, or a `*` glob such as `web-*`): what a run targets,
 * where `web-1` must not also hit `web-10`.
 */
export type NameMatch = 'search' | 'exact';

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function nameTerm(word: string, how: NameMatch): Record<string, unknown> {
  if (how === 'search') return { name: { $regex: escapeRegex(word), $options: 'i' } };
  return { name: { $regex: `^${word.split('*').map(escapeRegex).join('.*')}$`, $options: 'i' } };
}

/**
 * A host filter as people type it: words match the name (see NameMatch); `key:value` matches
 * env, project, app or a label. Terms of one kind are alternatives (`web-1 web-2` is either
 * host, `env:prod env:stage` either environment: one host has one name and one value per key,
 * so ANDing them would match nothing); different kinds must all hold (`web app:nginx`).
 */
export function parseHostFilter(text: string, how: NameMatch = 'search'): Record<string, unknown> {
  const filter: Record<string, unknown> = { archived: false };
  const byKind = new Map<string, Record<string, unknown>[]>();
  const add = (kind: string, term: Record<string, unknown>) => byKind.set(kind, [...(byKind.get(kind) ?? []), term]);
  // A NUL cannot be in a MongoDB regular expression (the query failed as an internal error) and
  // no control character is in a host, label or environment: refused whichever caller sent it.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) throw badParameter('a host filter contains a control character; type it without');
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length > FILTER_TERMS_MAX) throw badParameter(`a host filter has ${words.length} words; the limit is ${FILTER_TERMS_MAX}`);
  if (words.some((w) => w.length > FILTER_WORD_MAX)) throw badParameter(`a host filter word is longer than ${FILTER_WORD_MAX} characters`);
  for (const word of words) {
    const m = /^([A-Za-z0-9_-]+):(.+)$/.exec(word);
    if (!m) {
      add('name', nameTerm(word, how));
      continue;
    }
    const [, key, value] = m as unknown as [string, string, string];
    if (['env', 'project', 'app'].includes(key)) add(key, { [key]: value });
    else if (key === 'active') add(key, { active: value === 'true' || value === 'yes' });
    else add(`labels.${key}`, { [`labels.${key}`]: value });
  }
  const and = [...byKind.values()].map((terms) => (terms.length === 1 ? terms[0]! : { $or: terms }));
  if (and.length > 0) filter.$and = and;
  return filter;
}

/** Picked host names (exact, any of them) and the filter's words (bare names exact), all of which must hold. */
function namedFilter(filterText: string, names: readonly string[]): Record<string, unknown> {
  const filter = parseHostFilter(filterText, 'exact');
  if (names.length > 0) filter.name = { $in: [...names] };
  return filter;
}

export class InventoryService {
  constructor(private readonly deps: InventoryDeps) {}

  /** Validates the whole catalog folder, then applies it; a bad file changes nothing. */
  async reload(actor: string): Promise<ReloadResult> {
    const catalog = await loadCatalog(this.deps.catalogDir, { env: this.deps.catalogEnv });
    const { Host, Project, Product } = this.deps.models;
    const result: ReloadResult = { hosts: { added: 0, updated: 0, archived: 0 }, projects: { added: 0, updated: 0, archived: 0 }, products: 0, tickets: catalog.tickets.length, modules: catalog.modules.length };

    for (const h of catalog.hosts) {
      const old = await Host.findOne({ name: h.name }).lean<Host>();
      const fields = hostFields(h, old);
      await Host.updateOne({ name: h.name }, { $set: fields }, { upsert: true });
      if (old) result.hosts.updated++;
      else result.hosts.added++;
    }
    const hostNames = catalog.hosts.map((h) => h.name);
    result.hosts.archived = (await Host.updateMany({ name: { $nin: hostNames }, archived: false }, { $set: { archived: true, active: false, inactiveReason: 'removed from the catalog' } })).modifiedCount;

    for (const p of catalog.projects) {
      const res = await Project.updateOne({ name: p.name }, { $set: { ...p, archived: false } }, { upsert: true });
      if (res.upsertedCount > 0) result.projects.added++;
      else result.projects.updated++;
    }
    result.projects.archived = (await Project.updateMany({ name: { $nin: catalog.projects.map((p) => p.name) }, archived: false }, { $set: { archived: true } })).modifiedCount;

    for (const p of catalog.products) await Product.updateOne({ prod_name: p.prod_name }, { $set: p }, { upsert: true });
    result.products = catalog.products.length;
    await this.deps.models.Setting.updateOne({ _id: ACCESS_POLICY_KEY }, { $set: { value: catalog.access, updatedAt: this.deps.clock.now() } }, { upsert: true });
    this.deps.onReload?.(catalog);

    await this.deps.audit.record({ actor, action: 'catalog.reload', target: `catalog:${this.deps.catalogDir}`, to: result });
    return result;
  }

  /** The host-access policy of the last catalog reload (the defaults before any). */
  async accessPolicy(): Promise<AccessPolicy> {
    const s = await this.deps.models.Setting.findById(ACCESS_POLICY_KEY).lean();
    const parsed = accessPolicySchema.safeParse(s?.value);
    return parsed.success ? parsed.data : DEFAULT_ACCESS_POLICY;
  }

  async hosts(filterText = '', limit = 200): Promise<Host[]> {
    return this.deps.models.Host.find(parseHostFilter(filterText)).sort({ name: 1 }).limit(limit).lean<Host[]>();
  }

  /** One page of the hosts the filter matches, by name, after the host named `after` (the API's cursor). */
  async hostsPage(filterText: string, after: string | undefined, limit: number): Promise<Host[]> {
    const filter = parseHostFilter(filterText);
    if (after !== undefined) filter.name = { $gt: after };
    return this.deps.models.Host.find(filter).sort({ name: 1 }).limit(limit).lean<Host[]>();
  }

  /** A project that is not archived, by name; null when there is none. */
  async project(name: string): Promise<Project | null> {
    return this.deps.models.Project.findOne({ name, archived: false }).lean<Project>();
  }

  /** Hosts the filter matches, among `names` when some are given (the run form's picked hosts). */
  async hostsMatching(filterText: string, names: readonly string[], limit = 200): Promise<Host[]> {
    return this.deps.models.Host.find(namedFilter(filterText, names)).sort({ name: 1 }).limit(limit).lean<Host[]>();
  }

  /** How many enabled hosts `hostsMatching` would give (the run form's live count). */
  async countEnabled(filterText: string, names: readonly string[]): Promise<number> {
    return this.deps.models.Host.countDocuments({ ...namedFilter(filterText, names), enabled: true });
  }

  async hostByName(name: string): Promise<Host | null> {
    return this.deps.models.Host.findOne({ name, archived: false }).lean<Host>();
  }

  /** The host's record even when archived (history, and removing lines from retired hosts). */
  async hostRecord(name: string): Promise<Host | null> {
    return this.deps.models.Host.findOne({ name }).lean<Host>();
  }

  async activeHosts(): Promise<Host[]> {
    return this.deps.models.Host.find({ archived: false, enabled: true }).sort({ name: 1 }).lean<Host[]>();
  }

  async projects(): Promise<Project[]> {
    return this.deps.models.Project.find({ archived: false }).sort({ name: 1 }).lean<Project[]>();
  }

  async products(): Promise<Product[]> {
    return this.deps.models.Product.find({}).sort({ prod_name: 1 }).lean<Product[]>();
  }

  async projectOrganization(name: string): Promise<string | null> {
    return (await this.deps.models.Project.findOne({ name, archived: false }).lean<Project>())?.organization ?? null;
  }

  async projectExists(name: string): Promise<boolean> {
    return (await this.deps.models.Project.exists({ name, archived: false })) !== null;
  }

  async envExists(env: string): Promise<boolean> {
    return (await this.deps.models.Host.exists({ env, archived: false })) !== null;
  }

  /** Records a reachability check; returns true when the host's active flag changed. */
  async recordCheck(name: string, ok: boolean, reason: string | null): Promise<boolean> {
    const now = this.deps.clock.now();
    const res = await this.deps.models.Host.findOneAndUpdate(
      { name, archived: false, active: !ok },
      { $set: { active: ok, inactiveReason: ok ? null : reason, checkedAt: now } },
    ).lean<Host>();
    if (!res) {
      await this.deps.models.Host.updateOne({ name }, { $set: { checkedAt: now, ...(ok ? {} : { inactiveReason: reason }) } });
      return false;
    }
    await this.deps.audit.record({ actor: 'system:host-check', action: ok ? 'host.active' : 'host.inactive', target: `host:${name}`, from: { active: !ok }, to: { active: ok, reason } });
    return true;
  }
}

/** The stored fields of a catalog host; a disabled host is inactive, an enabled one keeps its check result. */
function hostFields(h: HostEntry, old: Host | null): Record<string, unknown> {
  const wasChecked = old && !old.archived && old.enabled;
  const active = h.enabled ? (wasChecked ? old.active : true) : false;
  return {
    address: h.address,
    port: h.port,
    hostKey: h.hostKey,
    project: h.project,
    app: h.app,
    env: h.env,
    labels: h.labels,
    authorizedKeysFile: h.authorizedKeysFile,
    sshdConfig: h.sshdConfig,
    enabled: h.enabled,
    active,
    inactiveReason: h.enabled ? (active ? null : (old?.inactiveReason ?? null)) : 'disabled in the catalog',
    archived: false,
  };
}
