/**
 * Ticket runs in `/jobs` messages against Slack's limits: the list merges module runs and ticket
 * runs by start time within 50 blocks, and `/jobs show <ticketId>` keeps a huge or hostile log
 * tail inside its code block, the secret shown as its mask only.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../blocks/limits.js';
import { jobListMessage } from '../../blocks/runs.js';
import { ticketJobShowMessage, ticketSignalledMessage } from '../../blocks/ticket-jobs.js';
import type { Job } from '../../src/models/jobs.js';
import type { Ticket } from '../../src/models/tickets.js';
import type { TicketJob, TicketJobDetails } from '../../src/services/tickets/ticket-jobs.js';

const start = new Date('2026-12-01T10:00:00Z');
const at = (s: number) => new Date(start.getTime() + s * 1000);

function ticketJob(i: number): TicketJob {
  const ticket = {
    ticketId: `TK-AAAA${String(i).padStart(2, '0')}`,
    template: { name: 'deploy-git', env: 'PROD', configCenter: 'center-1', commands: { pre: '', main: 'deploy -k "***"', post: '' }, secretNames: ['Token'] },
    env: 'PROD',
    state: 'running',
    status: 1,
    phases: [],
    history: [],
    signals: [],
    instanceId: 'vm:1:abcdef',
    heartbeatAt: at(i),
  } as unknown as Ticket;
  return { ticket, phase: 'main', startedBy: 'bob', startedBySlack: 'UBOB', since: at(2 * i + 1) };
}

const moduleJob = (i: number) =>
  ({ jobId: `J-00000000${String(i).padStart(2, '0')}`, module: { name: 'uptime' }, target: { filter: 'app:web', envs: ['prod'] }, hosts: [], counts: { ok: 0, failed: 0, unreachable: 0 }, state: 'running', startedAt: at(2 * i), startedBySlack: 'UCAROL', signals: [] }) as unknown as Job;

function expectWithin(m: { text: string; blocks: unknown[] }): void {
  expect(m.blocks.length).toBeLessThanOrEqual(LIMITS.messageBlocks);
  for (const b of m.blocks as Array<Record<string, any>>) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
}

describe('ticket runs in /jobs', () => {
  it('the list holds module runs and ticket runs in start order, with Term / Kill for each, within the limits', () => {
    const m = jobListMessage(Array.from({ length: 30 }, (_, i) => moduleJob(i)), at(100).getTime(), Array.from({ length: 30 }, (_, i) => ticketJob(i)));
    expectWithin(m);
    expect(m.text).toBe('60 running jobs');
    const ids = (m.blocks as Array<Record<string, any>>).filter((b) => b.type === 'actions').map((b) => JSON.parse(b.elements.at(-1).value).j);
    expect(ids.slice(0, 4)).toEqual(['J-0000000000', 'TK-AAAA00', 'J-0000000001', 'TK-AAAA01']);
    expect(JSON.stringify(m.blocks)).toContain('… and 45 more');
    expect(JSON.stringify(m.blocks)).toContain('*deploy-git* (PROD) · ticket · main-task');
  });

  it('show: a huge, hostile log tail stays in its code block; the secret is its mask', () => {
    const d: TicketJobDetails = { ...ticketJob(1), running: true, params: { Tag: 'v1', Token: '***' }, people: {}, tail: '<!channel> ``` *bold*\n'.repeat(2000) };
    const m = ticketJobShowMessage(d, at(100).getTime());
    expectWithin(m);
    const body = JSON.stringify(m.blocks);
    expect(body).toContain('`Token` = `***`');
    expect(body).not.toContain('<!channel>');
    expect(body).not.toMatch(/``` \*bold/);
    expect(ticketSignalledMessage(d, { requestId: 'r', signal: 'KILL', by: 'bob', at: at(5), appliedAt: null, appliedBy: null, hosts: [], task: 't' }).text).toBe('SIGKILL for TK-AAAA01');
  });
});
