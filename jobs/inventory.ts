/**
 * The daily host check (seed 003): every enabled host must accept the bot's key; those that do
 * not are marked inactive (and active again once they answer), and the admin channel is told.
 */
import type { Agenda } from 'agenda';
import type { Logger } from '../src/logger.js';
import type { HostCheckService } from '../src/services/host-check.js';

export const HOST_CHECK = 'inventory:check-hosts';

export function defineInventoryJobs(agenda: Agenda, deps: { hostCheck: HostCheckService; logger: Logger }) {
  agenda.define(
    HOST_CHECK,
    async () => {
      const r = await deps.hostCheck.run();
      deps.logger.info({ job: HOST_CHECK, checked: r.checked, newlyInactive: r.newlyInactive, newlyActive: r.newlyActive, sshdProblems: Object.keys(r.sshdProblems) }, 'host check');
    },
    { concurrency: 1, lockLifetime: 30 * 60_000 },
  );
  return {
    runNow: async (): Promise<void> => {
      await agenda.now(HOST_CHECK, {});
    },
    scheduleDaily: async (): Promise<void> => {
      await agenda.every('1 day', HOST_CHECK, {}, { skipImmediate: true });
    },
  };
}
