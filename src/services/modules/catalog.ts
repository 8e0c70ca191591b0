/**
 * The modules in force: replaced whole at every catalog (re)load, on every instance (each reads
 * the catalog itself at start and on /opsgate reload), like the ticket templates.
 */
import type { ModuleEntry } from '../catalog/modules-schema.js';

export class ModuleCatalog {
  private modules: ModuleEntry[] = [];

  replace(modules: ModuleEntry[]): void {
    this.modules = modules;
  }

  find(name: string): ModuleEntry | undefined {
    return this.modules.find((m) => m.name === name);
  }

  all(): ModuleEntry[] {
    return [...this.modules];
  }
}
