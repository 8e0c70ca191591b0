/**
 * Module-run jobs on Agenda: the sweep that ends jobs whose instance died (their lease ran
 * out) as `lost`, and starts (or ends) runs whose approval was decided but not acted on. Agenda's lock runs each sweep on one instance; any instance may do it.
 */
import type { Agenda } from 'agenda';
import { SWEEP_LOCK_LIFETIME_MS } from '../src/adapters/scheduler.js';
import type { Logger } from '../src/logger.js';
import type { ModuleRuns } from '../src/services/modules/runs.js';

export const JOBS_SWEEP_LOST = 'modules:sweep-lost';

export function defineModuleJobs(agenda: Agenda, deps: { runs: ModuleRuns; logger: Logger }) {
  agenda.define(
    JOBS_SWEEP_LOST,
    async () => {
      const lost = await deps.runs.sweepLost();
      if (lost.length > 0) deps.logger.warn({ job: JOBS_SWEEP_LOST, lost }, 'module runs lost with their instance');
      // Approved (or rejected) runs a stopping or dead instance did not start (or end).
      const settled = await deps.runs.approvals.settleStranded();
      if (settled.length > 0) deps.logger.info({ job: JOBS_SWEEP_LOST, settled }, 'approved or rejected module runs settled');
    },
    { concurrency: 1, lockLifetime: SWEEP_LOCK_LIFETIME_MS, removeOnComplete: true },
  );
  return {
    scheduleRecurring: async (sweepMs = 60_000): Promise<void> => {
      await agenda.every(sweepMs, JOBS_SWEEP_LOST, {});
    },
  };
}
