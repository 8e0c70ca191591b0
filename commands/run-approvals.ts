/**
 * Approve / Reject of a module run waiting for approval (the approver's DM), and the Reject
 * form's submit (a reason is required). Each handler acks first; who decides is the request's
 * Slack user id, and every rule (listed approver, not who asked, still entitled, exactly once)
 * is the run approvals service's. A stale or second click is answered "already decided".
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { errorMessage, fieldError, infoMessage } from '../blocks/errors.js';
import type { Message } from '../blocks/kit.js';
import { fitView } from '../blocks/limits.js';
import { runRejectModal } from '../blocks/run-approvals.js';
import { alreadyDecidedText } from '../blocks/tickets.js';
import { AppError, asAppError, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import type { RunApprovals, RunDecision } from '../src/services/modules/run-approvals.js';
import { Actions, RunBlocks, Views } from './ids.js';
import { inputOf } from './input-guard.js';
import { safely } from './respond.js';
import { parseRunDecisionMeta, parseRunDecisionValue } from './runs-parse.js';
import { parseDecisionText } from './tickets-parse.js';

export interface RunApprovalListenerDeps {
  approvals: RunApprovals;
  logger: Logger;
}

const already = (r: Extract<RunDecision, { kind: 'already' }>): Message => infoMessage(alreadyDecidedText(r.decision, r.by, r.at, r.level, 'run'));

function decidedMessage(r: RunDecision): Message {
  if (r.kind === 'already') return already(r);
  const j = r.job;
  if (r.decision === 'rejected') return infoMessage(`:x: You rejected \`${j.jobId}\` at level ${r.level}; nothing runs.`);
  return infoMessage(j.state === 'awaiting-approval' ? `:white_check_mark: You approved level ${r.level} of \`${j.jobId}\`; the next level decides now.` : `:white_check_mark: You approved \`${j.jobId}\`; it is ${j.state === 'running' || j.state === 'done' ? 'running' : j.state}.`);
}

export function registerRunApprovals(app: App, deps: RunApprovalListenerDeps): void {
  app.action<BlockAction<ButtonAction>>(Actions.runApprove, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    await reply.tell(
      await safely(deps.logger, 'run approve', async () => {
        const v = parseRunDecisionValue(action.value);
        return decidedMessage(await deps.approvals.decide(input.userId, v.j, v.l, 'approved'));
      }),
    );
  });

  // Reject opens the reason form; only an approver of the level waiting gets it.
  app.action<BlockAction<ButtonAction>>(Actions.runReject, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const message = await safely(deps.logger, 'run reject form', async () => {
      const v = parseRunDecisionValue(action.value);
      const r = await deps.approvals.prepareDecision(input.userId, v.j, v.l);
      if (r.kind === 'already') return already(r);
      if (!input.triggerId) return errorMessage(new AppError(ErrorCode.MissingField, 'this click carries no trigger_id, so no form can open; try again'));
      await client.views.open({ trigger_id: input.triggerId, view: fitView(runRejectModal({ ...v, c: input.channelId ?? '' }, r.job, r.people)) });
      return null;
    });
    if (message) await reply.tell(message);
  });

  app.view(Views.runReject, async ({ ack, view, context }) => {
    const { input, reply } = inputOf(context);
    let meta: ReturnType<typeof parseRunDecisionMeta>;
    let reason: string;
    try {
      meta = parseRunDecisionMeta(view.private_metadata);
      reason = parseDecisionText(view.state?.values, RunBlocks.rejectReason);
    } catch (err) {
      return void (await ack({ response_action: 'errors', errors: { [RunBlocks.rejectReason]: fieldError(asAppError(err)) } }));
    }
    if (!reason) return void (await ack({ response_action: 'errors', errors: { [RunBlocks.rejectReason]: '[1102] Missing field: a rejection needs a reason' } }));
    await ack();
    await reply.tell(await safely(deps.logger, 'run reject', async () => decidedMessage(await deps.approvals.decide(input.userId, meta.j, meta.l, 'rejected', reason))), meta.c || undefined);
  });
}
