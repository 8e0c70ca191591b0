/**
 * What the `/run` form shows a person: the modules they may run (an adminOnly module only to
 * global admins), the hosts their search finds, and how many enabled hosts the target now
 * matches. The count is the inventory's, read the way the run itself reads it (picked host
 * names, then every filter word), so what the form says is what Submit would run on; the run's
 * own checks (environments, `use` on each inventory) stay the run service's, applied on Submit.
 */
import type { Host } from '../../models/inventory.js';
import type { ModuleEntry } from '../catalog/modules-schema.js';
import type { DirectoryService } from '../directory/directory.js';
import type { InventoryService } from '../inventory.js';
import type { RbacService } from '../rbac.js';
import type { ModuleCatalog } from './catalog.js';
import { MAX_RUN_HOSTS } from './plan.js';

export interface RunFormDeps {
  catalog: ModuleCatalog;
  inventory: InventoryService;
  rbac: RbacService;
  directory: DirectoryService;
}

/** Hosts offered per search in the form's host picker (Slack shows at most 100 options). */
const HOST_CHOICES = 100;

export class RunFormService {
  constructor(private readonly deps: RunFormDeps) {}

  private async member(slackUserId: string) {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    await this.deps.rbac.requireMember(person);
    return person;
  }

  /** The modules this person may pick, in catalog order. */
  async modules(slackUserId: string): Promise<ModuleEntry[]> {
    const person = await this.member(slackUserId);
    const admin = (await this.deps.rbac.standing(person)).globalAdmin;
    return this.deps.catalog.all().filter((m) => admin || !m.adminOnly);
  }

  /** One module as the form shows it, when this person may pick it. */
  async module(slackUserId: string, name: string | null): Promise<ModuleEntry | null> {
    if (!name) return null;
    return (await this.modules(slackUserId)).find((m) => m.name === name) ?? null;
  }

  /** Hosts whose name holds the search text, for the host picker. */
  async hostChoices(slackUserId: string, query: string): Promise<Host[]> {
    await this.member(slackUserId);
    return this.deps.inventory.hosts(query.trim().split(/\s+/)[0] ?? '', HOST_CHOICES);
  }

  /** Enabled hosts the target matches now (capped at the most one run may name, plus one). */
  async count(slackUserId: string, filter: string, hosts: readonly string[]): Promise<number> {
    await this.member(slackUserId);
    const n = await this.deps.inventory.countEnabled(filter, hosts);
    return Math.min(n, MAX_RUN_HOSTS + 1);
  }
}
