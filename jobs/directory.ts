/** Directory sync: on start, daily, and on `/opsgate sync` (result posted to its response_url). */
import type { Agenda, Job } from 'agenda';
import { z } from 'zod';
import { errorMessage } from '../blocks/errors.js';
import { syncMessage } from '../blocks/inventory.js';
import type { ResponseUrlPoster } from '../src/adapters/slack/response-url.js';
import { asAppError, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import type { DirectoryService } from '../src/services/directory/directory.js';

export const DIRECTORY_SYNC = 'directory:sync';

// responseUrl is null in jobs stored without one; posts go only through the allow-listed poster.
const payload = z.object({ actor: z.string().min(1), responseUrl: z.string().url().nullish() });
export type DirectorySyncData = z.infer<typeof payload>;

export interface DirectoryJobDeps {
  directory: DirectoryService;
  poster: ResponseUrlPoster;
  logger: Logger;
}

export function defineDirectoryJobs(agenda: Agenda, deps: DirectoryJobDeps) {
  const log = deps.logger.child({ job: DIRECTORY_SYNC });
  agenda.define(
    DIRECTORY_SYNC,
    async (job: Job<DirectorySyncData>) => {
      const data = payload.parse(job.attrs.data);
      let reply;
      try {
        const r = await deps.directory.sync(data.actor);
        log.info({ ...r, actor: data.actor }, 'directory synced');
        reply = syncMessage(r);
      } catch (err) {
        const e = asAppError(err);
        log.warn({ code: e.code, err: e.message, cause: e.details?.cause }, 'directory sync failed');
        reply = errorMessage(e);
        if (!data.responseUrl && e.code === ErrorCode.Internal) throw err;
      }
      if (data.responseUrl) await deps.poster.post(data.responseUrl, reply).catch((err: Error) => log.warn({ err: err.message }, 'could not post the sync result'));
    },
    { concurrency: 1, lockLifetime: 5 * 60 * 1000 },
  );
  return {
    enqueue: async (data: DirectorySyncData): Promise<void> => {
      await agenda.now(DIRECTORY_SYNC, data);
    },
    scheduleDaily: async (): Promise<void> => {
      await agenda.every('1 day', DIRECTORY_SYNC, { actor: 'system:daily-sync' }, { skipImmediate: true });
    },
  };
}
