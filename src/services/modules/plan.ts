/**
 * Everything checked before a module run starts, in the order a person fixes it: the module,
 * who may run it, its parameters, the hosts the target matches, their environments, and `use`
 * on each environment's inventory (`inventory:prod` for prod hosts). Any refusal is an AppError
 * with its code and nothing has been written or started. A run that waited for approval is
 * checked again when it is to start (recheckApproved): hosts disabled meanwhile are dropped,
 * and who asked must still be allowed.
 */
import type { Host } from '../../models/inventory.js';
import type { Person } from '../../models/person.js';
import { badParameter, needPermission } from '../../errors.js';
import { renderTemplate, type TemplateValue } from '../command-template.js';
import type { ModuleEntry } from '../catalog/modules-schema.js';
import type { InventoryService } from '../inventory.js';
import type { RbacService } from '../rbac.js';
import type { ModuleCatalog } from './catalog.js';
import { checkParams } from './params.js';

/** What a person asks for: `/run syslog-tail target:app:nginx env:prod lines=200`. */
export interface RunRequest {
  module: string;
  /** An inventory filter as InventoryService reads it: host names, project:, app:, env:, label:value. */
  target: string;
  params: Readonly<Record<string, unknown>>;
  /** Hosts picked by name (the /run form): the target's words then narrow these. */
  hosts?: readonly string[];
}

/** The target as stored on the job and shown: the picked hosts, then the filter's words. */
export function targetText(req: Pick<RunRequest, 'target' | 'hosts'>): string {
  return [req.hosts?.length ? `hosts:${req.hosts.join(',')}` : '', req.target.trim()].filter(Boolean).join(' ');
}

export interface RunPlan {
  module: ModuleEntry;
  params: Record<string, TemplateValue>;
  /** The command that runs on every host. */
  command: string;
  hosts: Host[];
  envs: string[];
}

export interface PlanDeps {
  catalog: ModuleCatalog;
  inventory: InventoryService;
  rbac: RbacService;
}

/** Hosts one run may name at most: a filter matching more is refused, never cut silently. */
export const MAX_RUN_HOSTS = 5000;

export async function planRun(deps: PlanDeps, person: Person, req: RunRequest): Promise<RunPlan> {
  const module = deps.catalog.find(req.module);
  if (!module) {
    const names = deps.catalog.all().map((m) => m.name);
    throw badParameter(`no module named ${req.module}; modules: ${names.join(', ') || '(none in the catalog)'}`, { module: req.module });
  }
  if (module.adminOnly && !(await deps.rbac.standing(person)).globalAdmin) {
    throw needPermission(`module ${module.name} is for global admins only`, { module: module.name });
  }

  const params = checkParams(module, req.params);
  const raw = module.params.find((p) => p.type === 'string' && p.raw);
  // The catalog allows a raw parameter only as the whole command of an adminOnly module.
  const command = raw ? String(params[raw.name]) : renderTemplate(module.command, params);
  if (command.trim() === '') throw badParameter(`module ${module.name}: the command is empty`);

  const filter = req.target.trim();
  const names = req.hosts ?? [];
  if (names.length > MAX_RUN_HOSTS) throw badParameter(`${names.length} hosts are picked; the limit is ${MAX_RUN_HOSTS}`, { field: 'target' });
  if (!filter && names.length === 0) throw badParameter('name a target: host names, project:<name>, app:<category>, env:<env> or <label>:<value>', { field: 'target' });
  const found = await deps.inventory.hostsMatching(filter, names, MAX_RUN_HOSTS + 1);
  if (found.length > MAX_RUN_HOSTS) throw badParameter(`the target matches more than ${MAX_RUN_HOSTS} hosts; narrow it`, { field: 'target' });
  const hosts = found.filter((h) => h.enabled);
  if (hosts.length === 0) throw badParameter(`no enabled host matches ${targetText(req)}`, { field: 'target', target: targetText(req) });

  const outside = hosts.find((h) => !h.env || !module.envs.includes(h.env));
  if (outside) {
    throw badParameter(`module ${module.name} may touch only ${module.envs.join(', ')}; ${outside.name} is in ${outside.env ?? 'no environment'}`, { host: outside.name, env: outside.env });
  }
  const envs = [...new Set(hosts.map((h) => h.env!))].sort();
  for (const env of envs) await deps.rbac.require(person, 'use', { type: 'inventory', id: env, organization: null });
  return { module, params, command, hosts, envs };
}

/** What an approved run may still do when it is to start: the hosts left, and those dropped. */
export interface ApprovedStart {
  module: ModuleEntry;
  hosts: Host[];
  envs: string[];
  /** Planned hosts no longer there or no longer enabled, with why. */
  dropped: Array<{ name: string; why: string }>;
}

/**
 * The checks of planRun again, for a run approved after it was planned: the module is still
 * in the catalog, its planned hosts still exist, are enabled and in its envs (the others are
 * dropped), and the person who asked may still run it there. Throws the refusal (nothing
 * starts); none of the planned hosts left is 1100.
 */
export async function recheckApproved(deps: PlanDeps, person: Person, moduleName: string, hostNames: readonly string[]): Promise<ApprovedStart> {
  const module = deps.catalog.find(moduleName);
  if (!module) throw badParameter(`module ${moduleName} is no longer in the catalog`, { module: moduleName });
  if (!person.active) throw needPermission(`${person.personId} is no longer active in the directory`);
  if (module.adminOnly && !(await deps.rbac.standing(person)).globalAdmin) throw needPermission(`module ${module.name} is for global admins only`, { module: module.name });
  const found = new Map((await deps.inventory.hostsMatching('', hostNames, MAX_RUN_HOSTS + 1)).map((h) => [h.name, h]));
  const hosts: Host[] = [];
  const dropped: ApprovedStart['dropped'] = [];
  for (const name of hostNames) {
    const h = found.get(name);
    if (!h) dropped.push({ name, why: 'no longer in the inventory' });
    else if (!h.enabled) dropped.push({ name, why: 'disabled' });
    else if (!h.env || !module.envs.includes(h.env)) dropped.push({ name, why: `in ${h.env ?? 'no environment'}, which ${module.name} may no longer touch` });
    else hosts.push(h);
  }
  if (hosts.length === 0) throw badParameter(`none of the planned hosts can run it any more (${dropped.map((d) => `${d.name}: ${d.why}`).join('; ')})`);
  const envs = [...new Set(hosts.map((h) => h.env!))].sort();
  for (const env of envs) await deps.rbac.require(person, 'use', { type: 'inventory', id: env, organization: null });
  return { module, hosts, envs, dropped };
}
