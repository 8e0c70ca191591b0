/**
 * `/jobs` signals to ticket runs at the service level (real store, real Agenda, local config
 * center): a request asked for one task is never passed on to a later one, and a task that
 * outlives the signal (it traps TERM, exits 0) is not "stopped by" it. Waits are on the
 * recording notifier's events.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ticket } from '../../src/models/tickets.js';
import { localPs, untilSeen } from '../helpers/processes.js';
import { startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

const SLEEP = 70_000 + randomInt(0, 20_000) * 2;
let env: TicketsEnv;

beforeAll(async () => {
  env = await startTicketsEnv({
    tickets: () => [
      { name: 'two-step', env: 'PROD', pre: 'echo pre-ok', main: 'echo main-ok', approval: [{ label: 'lead', approvers: { people: ['alice'] } }] },
      // TERM reaches the whole process group: the sleep dies, the shell's trap runs and it exits 0.
      { name: 'trapper', env: 'PROD', main: `trap 'echo got-term' TERM; sleep ${SLEEP} & wait; echo survived; exit 0` },
    ],
  });
}, 60_000);

afterAll(() => env?.stop());

const ticket = async (id: string) => (await env.wiring.model.findOne({ ticketId: id }).lean<Ticket>())!;
const finished = async (id: string) => (await env.notifier.next('finished', id), ticket(id));

describe('ticket signals from /jobs', () => {
  it('a request asked for the pre-task and left pending is not sent to the main task: recorded as not sent, the run succeeds', async () => {
    const d = await env.wiring.tickets.submit('UBOB', { template: 'two-step', env: 'PROD', values: {} });
    const id = d.ticket.ticketId;
    const waiting = await ticket(id);
    expect(waiting.state).toBe('waiting');
    expect(waiting.runTag).toMatch(new RegExp(`^${id}-pre-`));
    // As filed while the pre-task ran, on an instance whose heartbeat came too late to send it.
    await env.wiring.model.updateOne({ ticketId: id }, { $push: { signals: { requestId: 'r-stale', signal: 'KILL', by: 'bob', at: new Date(), task: waiting.runTag } } });
    await env.wiring.tickets.decide('UALICE', id, 0, 'approved');
    await env.wiring.tickets.run('UBOB', id);
    const end = await finished(id);
    expect(end.state).toBe('succeeded');
    expect(end.signals).toEqual([expect.objectContaining({ requestId: 'r-stale', hosts: [], appliedBy: expect.any(String) })]);
    expect(end.signals![0]!.appliedAt).toBeInstanceOf(Date);
    expect(env.log.logs.get(id)).toContain('[opsgate] SIGKILL from bob (/jobs) not sent: the task it was asked for had ended');
    expect(env.log.logs.get(id)).toContain('main-ok');
  });

  it('TERM to a task that traps it and exits 0: sent and recorded, but the ticket succeeds (not stopped by it)', async () => {
    const d = await env.wiring.tickets.submit('UBOB', { template: 'trapper', env: 'PROD', values: {} });
    const id = d.ticket.ticketId;
    await untilSeen(() => localPs(`sleep ${SLEEP}`), `sleep ${SLEEP}`);
    // carol is neither the starter (bob: the scheduler ran it in his stead) nor an admin.
    await expect(env.wiring.ticketJobs.signal('UCAROL', id, 'TERM')).rejects.toMatchObject({ code: 1201 });
    await expect(env.wiring.ticketJobs.signal('UBOB', id, 'NOPE')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('unknown signal') });
    const r = await env.wiring.ticketJobs.signal('UBOB', id, 'term');
    expect(r.request).toMatchObject({ signal: 'TERM', by: 'bob', hosts: ['local'] });
    const end = await finished(id);
    expect(end.state).toBe('succeeded');
    expect(end.phases[0]).toMatchObject({ phase: 'main', ok: true, stoppedBy: null });
    expect(env.log.logs.get(id)).toContain('got-term');
    expect(env.log.logs.get(id)).toContain('survived');
  });
});
