/**
 * What the `/ticket` Slack tests share: the app started once per file (the real Bolt app over
 * signed HTTP with the fake Slack API), the ticket model, and readers of recorded calls.
 */
import { afterAll, beforeAll } from 'vitest';
import { ticketModel, type Ticket } from '../../src/models/tickets.js';
import type { RecordedCall } from './fake-slack.js';
import { startOpsgate, type TestOpsgate } from './opsgate.js';

export type User = { id: string };

/** A recorded call's arguments as JSON, for `includes` checks. */
export const text = (c: RecordedCall): string => JSON.stringify(c.args);

/** The fake Slack's DM channel of a user. */
export const dm = (u: User): string => `D${u.id}`;

/** The value of the button with this action id in a message's or a view's blocks (accessories too). */
export function buttonValue(call: RecordedCall, actionId: string): string {
  const blocks = (call.args.blocks ?? (call.args.view as { blocks: unknown[] })?.blocks) as Array<{ elements?: Array<{ action_id: string; value: string }>; accessory?: { action_id: string; value: string } }>;
  for (const b of blocks) {
    const e = b.elements?.find((x) => x.action_id === actionId) ?? (b.accessory?.action_id === actionId ? b.accessory : undefined);
    if (e) return e.value;
  }
  throw new Error(`no ${actionId} button in ${JSON.stringify(blocks).slice(0, 400)}`);
}

export interface TicketApp {
  /** The running app; set once the file's beforeAll ran. */
  readonly t: TestOpsgate;
  /** The app's ticket model (for counts and queries the accessors below do not cover). */
  model(): ReturnType<typeof ticketModel>;
  ticket(id: string): Promise<Ticket>;
  /** Matches calls recorded after `mark` (an index into `t.fake.calls`). */
  after(mark: number): (c: RecordedCall) => boolean;
}


/** Starts the app before the file's tests and stops it after them. */
export function useTicketApp(): TicketApp {
  let t: TestOpsgate | undefined;
  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
  }, 60_000);
  afterAll(() => t?.stop());
  const app: TicketApp = {
    get t() {
      if (!t) throw new Error('the app is not started yet');
      return t;
    },
    model: () => ticketModel(app.t.app.store.connection),
    ticket: async (id) => (await app.model().findOne({ ticketId: id }).lean<Ticket>())!,
    after: (mark) => (c) => app.t.fake.calls.indexOf(c) >= mark,
  };
  return app;
}
