/**
 * Host access jobs: asking approvers (queued by the request, so Slack gets its ack at once),
 * the provisioning worker (every minute, right after approval, and at each grant's expiry),
 * and the daily reconcile.
 */
import type { Agenda, Job } from 'agenda';
import { z } from 'zod';
import type { Logger } from '../src/logger.js';
import type { GrantService } from '../src/services/access/grants.js';
import type { ProvisioningWorker } from '../src/services/access/provisioning.js';
import type { AccessService } from '../src/services/access/requests.js';

export const ACCESS_ASK = 'access:ask';
export const ACCESS_PROVISION = 'access:provision';
export const ACCESS_RECONCILE = 'access:reconcile';

const askPayload = z.object({ requestId: z.string().regex(/^AR-[A-Z0-9]{6}$/) });

export interface AccessJobDeps {
  access: AccessService;
  worker: ProvisioningWorker;
  grants: GrantService;
  logger: Logger;
}

/**
 * Defines the jobs; returns the functions services use to queue them. `lockLifetimeMs`: how
 * long a pass's Agenda lock holds when its bot dies mid-pass. The tasks' own claims keep a
 * pass that outlives it safe, so it is the tasks' claim lease (5 minutes):
 * with the old 10 minutes, a bot killed during the minute sweep stopped the sweep on every
 * instance for 10 minutes, twice as long as the tasks it held stayed claimed.
 */
export function defineAccessJobs(agenda: Agenda, opts: { lockLifetimeMs?: number } = {}) {
  const lockLifetime = opts.lockLifetimeMs ?? 5 * 60_000;
  let deps: AccessJobDeps | undefined;
  const need = (): AccessJobDeps => {
    if (!deps) throw new Error('access jobs ran before their services were attached');
    return deps;
  };
  agenda.define(
    ACCESS_ASK,
    async (job: Job<{ requestId: string }>) => {
      const { requestId } = askPayload.parse(job.attrs.data);
      await need().access.askCurrentLevel(requestId);
    },
    { concurrency: 5, removeOnComplete: true },
  );
  agenda.define(
    ACCESS_PROVISION,
    async () => {
      const summary = await need().worker.run();
      if (Object.values(summary).some((n) => n > 0)) need().logger.info({ job: ACCESS_PROVISION, ...summary }, 'provisioning pass');
    },
    // One pass at a time per instance; tasks carry their own claims across instances.
    { concurrency: 1, lockLifetime, removeOnComplete: true },
  );
  agenda.define(
    ACCESS_RECONCILE,
    async () => {
      const r = await need().grants.reconcile();
      need().logger.info({ job: ACCESS_RECONCILE, hosts: r.hostsChecked, removed: r.removed.length, missing: r.missing.length, unreachable: r.unreachable.length }, 'access reconcile');
    },
    { concurrency: 1, lockLifetime: 30 * 60_000 },
  );
  return {
    /** The services the jobs call, attached once built (they need the enqueue functions first). */
    attach(d: AccessJobDeps): void {
      deps = d;
    },
    enqueueAsk: async (requestId: string): Promise<void> => {
      await agenda.now(ACCESS_ASK, { requestId });
    },
    kickProvisioning: async (): Promise<void> => {
      await agenda.now(ACCESS_PROVISION, {});
    },
    scheduleWake: async (at: Date): Promise<void> => {
      await agenda.schedule(at, ACCESS_PROVISION, {});
    },
    /** The sweep (seed 003: every minute) and the daily reconcile; a first sweep runs at once. */
    scheduleRecurring: async (sweepMs = 60_000): Promise<void> => {
      await agenda.every(sweepMs, ACCESS_PROVISION, {});
      await agenda.every('1 day', ACCESS_RECONCILE, {}, { skipImmediate: true });
    },
  };
}
