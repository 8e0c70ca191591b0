/**
 * The app's wiring of ticket logs: task output streams from the engine into the chunked log
 * store in MongoDB as it arrives (not once at the end), redacted, and `show` reads its tail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TicketLogStore } from '../../src/services/tickets/log-store.js';
import { startTicketsEnv, type TicketsEnv } from '../helpers/tickets-env.js';

const SECRET = 'wIred-s3cret-value-77';
let env: TicketsEnv;

beforeAll(async () => {
  env = await startTicketsEnv({
    log: 'store',
    env: { OPSGATE_WIRE_TOKEN: SECRET },
    tickets: () => [
      {
        name: 'streamed',
        env: 'STAGE',
        secrets: { Token: { env: 'OPSGATE_WIRE_TOKEN' } },
        // Enough output for several chunks, the secret among it, and a marker at the end.
        main: 'i=0; while [ $i -lt 3000 ]; do echo "line $i token={Token} padding-padding-padding-padding-padding-padding-padding-padding"; i=$(expr $i + 1); done; echo last-line',
      },
    ],
  });
});
afterAll(() => env?.stop());

describe('ticket logs in the store', () => {
  it('streams a run into chunks in MongoDB, secrets masked, and shows the tail', async () => {
    const d = await env.wiring.tickets.submit('UBOB', { template: 'streamed', env: 'STAGE', values: {} });
    const id = d.ticket.ticketId;
    const done = await env.notifier.next('finished', id);
    expect(done).toBeDefined();
    expect(env.wiring.log).toBeInstanceOf(TicketLogStore);
    const store = env.wiring.log as TicketLogStore;
    const header = await store.header(id);
    expect(header?.closed).toBe(true);
    const db = env.conn.db!;
    const chunks = await db.collection('ticket_log_chunks').find({ ticketId: id }).sort({ seq: 1 }).toArray();
    expect(chunks.length).toBeGreaterThan(1);
    const text = chunks.map((c) => String(c.text)).join('');
    expect(text).toContain('line 0 token=***');
    expect(text).toContain('line 2999 token=***');
    expect(text).toContain('last-line');
    expect(text).not.toContain(SECRET);
    expect(await env.dump()).not.toContain(SECRET);
    const shown = await env.wiring.tickets.show('UBOB', id);
    expect(shown.tail).toContain('last-line');
    expect(shown.tail.length).toBeLessThanOrEqual(2500);
  });
});
