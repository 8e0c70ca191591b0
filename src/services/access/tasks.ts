/** Queuing provisioning tasks: one `add` and one `delete` per grant, ever (unique index). */
import { TaskStatus, type AccessModels, type Grant } from '../../models/access.js';

/**
 * Queues the removal of a grant's lines at `at`. If the delete task exists already it is
 * brought forward (never pushed back) and made due again even if it ran before.
 */
export async function queueDelete(models: AccessModels, grant: Pick<Grant, 'grantId' | 'requestId' | 'host' | 'role'>, at: Date, opts: { rerun?: boolean } = {}): Promise<void> {
  await models.Task.updateOne(
    { grantId: grant.grantId, type: 'delete' },
    {
      $setOnInsert: { requestId: grant.requestId, grantId: grant.grantId, host: grant.host, role: grant.role, type: 'delete', attempts: 0, lastError: null, claimToken: null, claimUntil: null },
      $min: { execTime: at },
      ...(opts.rerun ? { $set: { status: TaskStatus.notRun } } : {}),
    },
    // A new task starts at status 0 from the schema default (mongoose sets defaults on insert).
    { upsert: true },
  );
}
