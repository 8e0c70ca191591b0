/**
 * The approval messages of module runs: Approve / Reject only on the copy of an approver of the
 * level waiting (not who decided an earlier level, not once decided), the decisions shown in
 * place, who asked told each outcome, and all of it within Slack's limits on a huge run.
 */
import { describe, expect, it } from 'vitest';
import { Actions, RunBlocks, Views } from '../../commands/ids.js';
import { LIMITS } from '../../blocks/limits.js';
import { runApprovalMessage, runDecisionMessage, runRejectModal } from '../../blocks/run-approvals.js';
import type { ApprovalFlow } from '../../src/models/approval.js';
import type { Job } from '../../src/models/jobs.js';
import type { Person } from '../../src/models/person.js';

const person = (personId: string, name: string) => ({ personId, name }) as Person;
const people = { carol: person('carol', 'Carol SRE'), alice: person('alice', 'Alice Ops'), erin: person('erin', 'Erin Director') };

function job(flow: ApprovalFlow, state: Job['state'] = 'awaiting-approval', hosts = 2, command = 'systemctl restart nginx'): Job {
  const at = new Date('2026-12-01T10:00:00Z');
  const names = Array.from({ length: hosts }, (_, i) => `web-${String(i).padStart(250, '0')}`.slice(0, 253));
  return {
    jobId: 'J-0123456789',
    kind: 'module',
    module: { id: 7, name: 'service-restart-prod', command, adminOnly: false },
    params: { unit: 'nginx' },
    target: { filter: 'app:nginx', hostNames: names, envs: ['prod'] },
    startedBy: 'carol',
    startedBySlack: 'UCAROL',
    channel: '#ops-runs',
    state,
    instanceId: 'i',
    heartbeatAt: at,
    engineJobId: null,
    hosts: names.map((name) => ({ name, address: '127.0.0.1', env: 'prod', state: 'pending' })),
    counts: { ok: 0, failed: 0, unreachable: 0 },
    signals: [],
    startedAt: at,
    endedAt: null,
    note: null,
    approval: flow,
    messages: [],
  } as unknown as Job;
}

const level = (n: number, label: string, approvers: string[], decision: 'approved' | 'rejected' | null = null, decidedBy: string | null = null, note: string | null = null) => ({
  level: n,
  label,
  rule: null,
  approvers,
  decision,
  decidedBy,
  decidedAt: decision ? new Date() : null,
  note,
});

const actionIds = (m: { blocks: unknown[] }) => JSON.stringify(m.blocks).match(/"action_id":"[a-z_]+"/g) ?? [];

describe('run approval messages', () => {
  it('buttons only on the copy of an approver of the level waiting; not for who decided an earlier level; none once decided', () => {
    const waitingL2: ApprovalFlow = { state: 'pending', current: 1, levels: [level(1, 'lead', ['alice'], 'approved', 'alice'), level(2, 'ops', ['alice', 'erin'])] };
    const forErin = runApprovalMessage(job(waitingL2), 'erin', people, Date.now());
    expect(actionIds(forErin)).toEqual([`"action_id":"${Actions.runApprove}"`, `"action_id":"${Actions.runReject}"`]);
    expect(JSON.stringify(forErin.blocks)).toContain('{\\"j\\":\\"J-0123456789\\",\\"l\\":1}');
    expect(JSON.stringify(forErin.blocks)).toContain(':white_check_mark: approved by Alice Ops');
    expect(actionIds(runApprovalMessage(job(waitingL2), 'alice', people, Date.now()))).toEqual([]);
    const rejected: ApprovalFlow = { state: 'rejected', current: 0, levels: [level(1, 'lead', ['alice'], 'rejected', 'alice', 'not now')] };
    const after = runApprovalMessage(job(rejected, 'rejected'), 'alice', people, Date.now());
    expect(actionIds(after)).toEqual([]);
    expect(JSON.stringify(after.blocks)).toContain(':x: rejected by Alice Ops: “not now”');
  });

  it('who asked is told each outcome', () => {
    const l1 = level(1, 'lead', ['alice'], 'approved', 'alice');
    expect(runDecisionMessage(job({ state: 'pending', current: 1, levels: [l1, level(2, 'ops', ['erin'])] }), l1, people).text).toBe(':arrow_forward: Level 1 (lead) of your run J-0123456789 was approved by Alice Ops; it now waits for level 2.');
    const l2 = level(2, 'ops', ['erin'], 'approved', 'erin');
    expect(runDecisionMessage(job({ state: 'approved', current: 2, levels: [l1, l2] }), l2, people).text).toContain('is approved (level 2, ops, by Erin Director); it starts now');
    const no = level(1, 'lead', ['alice'], 'rejected', 'alice', 'peak hours');
    expect(runDecisionMessage(job({ state: 'rejected', current: 0, levels: [no] }), no, people).text).toContain('was rejected at level 1 (lead) by Alice Ops: “peak hours”. Nothing ran.');
  });

  it('a huge run (4,000-character command, 5,000 long host names) stays within the limits; the Reject form requires its reason', () => {
    const flow: ApprovalFlow = { state: 'pending', current: 0, levels: [level(1, 'lead', ['alice'])] };
    const j = job(flow, 'awaiting-approval', 5000, 'x'.repeat(4000));
    const m = runApprovalMessage(j, 'alice', people, Date.now());
    expect(m.blocks.length).toBeLessThanOrEqual(LIMITS.messageBlocks);
    for (const b of m.blocks as Array<Record<string, any>>) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
    const modal = runRejectModal({ j: j.jobId, l: 0, c: 'D1' }, j, people);
    expect(modal.callback_id).toBe(Views.runReject);
    const input = (modal.blocks as Array<Record<string, any>>).find((b) => b.block_id === RunBlocks.rejectReason)!;
    expect(input.optional).toBeUndefined();
    expect(input.element).toMatchObject({ min_length: 1, max_length: 1000 });
    for (const b of modal.blocks as Array<Record<string, any>>) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
  });
});
