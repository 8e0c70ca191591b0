/**
 * Module runs waiting for approval in Slack: the approver's DM (who asked, the module, the
 * command as it will run, the hosts, each level's decision so far) with Approve / Reject while
 * their level waits, redrawn in place once decided; what who asked is told of each decision;
 * the Reject form (a reason is required). Pure data in, data out.
 */
import type { ModalView } from '@slack/types';
import { Actions, RunBlocks, Views } from '../commands/ids.js';
import type { ApprovalLevel } from '../src/models/approval.js';
import type { Job } from '../src/models/jobs.js';
import type { Person } from '../src/models/person.js';
import { code, context, esc, header, plain, section, type Block, type Message } from './kit.js';
import { cut, LIMITS } from './limits.js';
import { lead, title } from './runs.js';

/** An Approve / Reject button's value: the job and the level the click is for (checked with zod on the way back). */
export interface RunDecisionValue {
  j: string;
  l: number;
}

const nameOf = (people: Record<string, Person>, id: string | null | undefined) => (id ? esc(people[id]?.name ?? id) : 'someone');

function levelsText(j: Job, people: Record<string, Person>): string {
  const flow = j.approval;
  if (!flow) return '';
  return flow.levels
    .map((l) => {
      const state = l.decision
        ? `${l.decision === 'approved' ? ':white_check_mark: approved' : ':x: rejected'} by ${nameOf(people, l.decidedBy)}${l.note ? `: “${esc(l.note)}”` : ''}`
        : flow.state === 'pending' && flow.current === l.level - 1
          ? ':hourglass_flowing_sand: waiting'
          : 'not yet';
      return `*Level ${l.level}* (${esc(l.label)}): ${state}`;
    })
    .join('\n');
}

function facts(j: Job, people: Record<string, Person>): string {
  const params = Object.entries((j.params ?? {}) as Record<string, unknown>).map(([k, v]) => `${esc(k)}=${code(String(v))}`);
  const hosts = j.target.hostNames.slice(0, 30).map(esc).join(', ') + (j.target.hostNames.length > 30 ? ` … and ${j.target.hostNames.length - 30} more` : '');
  return [
    `*Asked by* ${nameOf(people, j.startedBy)} (<@${j.startedBySlack ?? j.startedBy}>)`,
    `*Module* ${esc(j.module.name)} · *Target* ${code(j.target.filter)} (${j.target.envs.join(', ')})`,
    // A long script is cut here so the hosts still show (the section itself is cut at Slack's limit).
    `*Will run* ${code(cut(j.module.command, 1500))}${params.length ? `\n*Params* ${cut(params.join(' '), 600)}` : ''}`,
    `*Hosts (${j.target.hostNames.length})* ${hosts}`,
  ].join('\n');
}

/**
 * One approver's copy of the DM as it stands: Approve / Reject while the level waits for them,
 * the decisions (and the run's state) once it has moved on.
 */
export function runApprovalMessage(j: Job, forPersonId: string, people: Record<string, Person>, nowMs: number): Message {
  const flow = j.approval;
  const blocks: Block[] = [header(`Approve a run: ${title(j)}`), section(facts(j, people)), section(levelsText(j, people)), context(`\`${j.jobId}\` · ${lead(j, nowMs).split('\n')[0]}`)];
  const current = flow && flow.state === 'pending' && j.state === 'awaiting-approval' ? flow.levels[flow.current] : undefined;
  const decidedEarlier = flow?.levels.some((l, i) => i < flow.current && l.decidedBy === forPersonId);
  if (current?.approvers.includes(forPersonId) && !decidedEarlier) {
    const v = JSON.stringify({ j: j.jobId, l: flow!.current } satisfies RunDecisionValue);
    blocks.push({
      type: 'actions',
      block_id: `run_approval:${j.jobId}`,
      elements: [
        { type: 'button', action_id: Actions.runApprove, text: plain('Approve'), value: v, style: 'primary' },
        { type: 'button', action_id: Actions.runReject, text: plain('Reject'), value: v, style: 'danger' },
      ],
    } as never);
  }
  return { text: `Run ${j.jobId} (${j.module.name} on ${j.target.hostNames.length} hosts) from ${people[j.startedBy]?.name ?? j.startedBy}: ${j.state}`, blocks };
}

/** What who asked is told of one decision. */
export function runDecisionMessage(j: Job, level: ApprovalLevel, people: Record<string, Person>): Message {
  const by = nameOf(people, level.decidedBy);
  const text =
    level.decision === 'rejected'
      ? `:x: Your run ${code(j.jobId)} (${esc(title(j))}) was rejected at level ${level.level} (${esc(level.label)}) by ${by}: “${esc(level.note ?? '')}”. Nothing ran.`
      : j.approval?.state === 'approved'
        ? `:white_check_mark: Your run ${code(j.jobId)} (${esc(title(j))}) is approved (level ${level.level}, ${esc(level.label)}, by ${by}); it starts now${j.channel ? `, progress in ${esc(j.channel)}` : ''}. The summary comes by DM.`
        : `:arrow_forward: Level ${level.level} (${esc(level.label)}) of your run ${code(j.jobId)} was approved by ${by}; it now waits for level ${(j.approval?.current ?? 0) + 1}.`;
  return { text: cut(text.replace(/[*`]/g, ''), LIMITS.sectionText), blocks: [section(text)] };
}

/** Approved, but it could not start (the note says why). */
export function runNotStartedMessage(j: Job): Message {
  const text = `:heavy_minus_sign: Your approved run ${code(j.jobId)} (${esc(title(j))}) did not start: ${esc(j.note ?? 'see /jobs show')}`;
  return { text: cut(text.replace(/[*`]/g, ''), LIMITS.sectionText), blocks: [section(text)] };
}

/** The Reject form: the reason is required (who asked reads it). */
export function runRejectModal(meta: RunDecisionValue & { c: string }, j: Job, people: Record<string, Person>): ModalView {
  return {
    type: 'modal',
    callback_id: Views.runReject,
    private_metadata: JSON.stringify(meta),
    title: plain('Reject run'),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      section(facts(j, people)),
      {
        type: 'input',
        block_id: RunBlocks.rejectReason,
        label: plain('Why? (who asked sees this)'),
        element: { type: 'plain_text_input', action_id: 'text', multiline: true, min_length: 1, max_length: 1000 },
      },
    ] as never,
  };
}
