/**
 * Checks that every enabled host accepts the bot's key (a `true` over SSH with the pinned host
 * key) and records the result: hosts that fail become inactive with the reason, hosts that
 * answer again become active. The admin channel hears about every change.
 */
import type { RunResult, SshTarget } from '../adapters/exec/types.js';
import type { Host } from '../models/inventory.js';
import type { InventoryService } from './inventory.js';

export interface HostCheckResult {
  checked: number;
  newlyInactive: string[];
  newlyActive: string[];
  failures: Record<string, string>;
}

export interface HostCheckDeps {
  inventory: InventoryService;
  /** Runs a command on SSH targets (the execution engine). */
  run: (targets: SshTarget[], command: string) => Promise<RunResult>;
  toTarget: (host: Host) => SshTarget;
  /** Tells admins (a Slack channel); optional. */
  notifyAdmins: (result: HostCheckResult) => Promise<void>;
}

export class HostCheckService {
  constructor(private readonly deps: HostCheckDeps) {}

  async run(): Promise<HostCheckResult> {
    const hosts = await this.deps.inventory.activeHosts();
    const result: HostCheckResult = { checked: hosts.length, newlyInactive: [], newlyActive: [], failures: {} };
    if (hosts.length === 0) return result;
    const run = await this.deps.run(hosts.map(this.deps.toTarget), 'true');
    for (const h of hosts) {
      const ok = run.host_ok[h.name];
      const bad = run.host_unreachable[h.name] ?? run.host_failed[h.name];
      const reason = ok ? null : `unreachable at the daily check: ${bad?.error?.message ?? bad?.stderr.trim() ?? 'no answer'}`.slice(0, 300);
      if (reason) result.failures[h.name] = reason;
      const changed = await this.deps.inventory.recordCheck(h.name, Boolean(ok), reason);
      if (changed) (ok ? result.newlyActive : result.newlyInactive).push(h.name);
    }
    if (result.newlyInactive.length > 0 || result.newlyActive.length > 0) await this.deps.notifyAdmins(result);
    return result;
  }
}
