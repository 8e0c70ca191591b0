/**
 * Ticket tasks on their config center through the execution engine: `local` is the bot's own
 * machine (the seed's default), anything else a host of the inventory reached over SSH with
 * its pinned host key. The engine redacts the declared secrets from everything it returns.
 */
import { badParameter } from '../../errors.js';
import type { Host } from '../../models/inventory.js';
import type { ConfigCenterRunner } from '../../services/tickets/ports.js';
import type { ExecutionEngine } from '../exec/engine.js';
import type { HostTarget, SshTarget } from '../exec/types.js';
import { stoppedCount, stopTaggedScript, taggedScript } from './run-tag.js';

export interface ConfigCenterDeps {
  engine: Pick<ExecutionEngine, 'start' | 'signal' | 'get'>;
  hostByName: (name: string) => Promise<Host | null>;
  toTarget: (h: Host) => SshTarget;
}

export function configCenterRunner(deps: ConfigCenterDeps): ConfigCenterRunner {
  const targetFor = async (center: string): Promise<HostTarget> => {
    if (center === 'local') return { transport: 'local', name: 'local' };
    const host = await deps.hostByName(center);
    if (!host) throw badParameter(`the config center ${center} is not in the inventory`);
    if (!host.enabled) throw badParameter(`the config center ${center} is disabled in the catalog`);
    return deps.toTarget(host);
  };
  return {
    async start(center, script, opts) {
      const target = await targetFor(center);
      const onOutput = opts.onOutput;
      const { jobId, done } = deps.engine.start({
        targets: [target],
        command: opts.tag ? taggedScript(opts.tag, script) : script,
        timeoutMs: opts.timeoutMs,
        secrets: opts.secrets,
        startedBy: opts.startedBy,
        onOutput: onOutput && ((_host, stream, text) => onOutput(stream, text)),
      });
      return {
        jobId,
        done: done.then((r) => r.host_ok[target.name] ?? r.host_failed[target.name] ?? r.host_unreachable[target.name]!),
      };
    },
    async stopTagged(center, tag, graceMs) {
      const target = await targetFor(center);
      const { done } = deps.engine.start({ targets: [target], command: stopTaggedScript(tag, graceMs / 1000), timeoutMs: graceMs + 60_000, startedBy: 'system:tickets' });
      const r = await done;
      const host = r.host_ok[target.name] ?? r.host_failed[target.name] ?? r.host_unreachable[target.name];
      if (!host || host.error || host.code !== 0) throw new Error(`stopping leftovers on ${center} failed: ${host?.error?.message ?? `exit ${host?.code ?? '-'}`} ${host?.stderr.slice(-300) ?? ''}`.trim());
      return stoppedCount(host.stdout);
    },
    signal(jobId, signal) {
      if (deps.engine.get(jobId)?.state !== 'running') return false;
      try {
        // Running but not started yet counts: a stop signal then keeps the task from starting.
        deps.engine.signal(jobId, signal);
        return true;
      } catch {
        // Finished between the check and the signal.
        return false;
      }
    },
  };
}
