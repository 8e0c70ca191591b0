/**
 * A script-choice list longer than a static select holds (150 lines from `seq`) becomes an
 * external select searched as the submitter types; a value outside the script's lines is
 * refused on the form; a ticket without approval runs right after submit and its result DM
 * arrives. Through the real app over signed HTTP, on `local`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedCall } from '../helpers/fake-slack.js';
import { exampleCatalog, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';

const LONG_LIST = `
  - name: long-list
    description: Pick one of many
    env: STAGE
    category: Misc
    submitGroups: []
    configCenter: local
    options:
      - { name: Item, label: Item, choicesScript: "seq 1 150" }
    main: 'echo item {Item}'
    lock: false
`;

describe('/ticket with a long script-choice list', () => {
  let t: TestOpsgate;
  const text = (c: RecordedCall) => JSON.stringify(c.args);
  const after = (mark: number) => (c: RecordedCall) => t.fake.calls.indexOf(c) >= mark;

  beforeAll(async () => {
    const catalogDir = tempDir('catalog');
    fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
    fs.appendFileSync(path.join(catalogDir, 'tickets.yaml'), LONG_LIST);
    t = await startOpsgate({ catalogDir });
    await t.ready();
  }, 60_000);
  afterAll(() => t?.stop());

  it('searches the list as one types, refuses a value outside it, and runs a chosen one', async () => {
    const erin = USERS.erin;
    const view = { id: 'V0PICKER' };
    let mark = t.fake.calls.length;
    await t.slack.blockAction(erin, { action_id: 'ticket_pick', value: JSON.stringify({ n: 'long-list', e: 'STAGE' }) }, { view });
    const form = await t.fake.waitFor('views.update', (c) => after(mark)(c) && text(c).includes('ticket_form'));
    const actionId = 'ticket_choices|long-list|STAGE|Item';
    expect(text(form)).toContain('"external_select"');
    expect(text(form)).toContain(actionId);

    const found = (await t.slack.blockSuggestion(erin, actionId, '14', 'opt:Item')).json() as { options: Array<{ value: string }> };
    expect(found.options.map((o) => o.value)).toEqual(['14', '114', ...Array.from({ length: 10 }, (_, i) => String(140 + i))]);
    const forged = (await t.slack.blockSuggestion(erin, 'ticket_choices|no-such|STAGE|Item', '1', 'opt:Item')).json() as { options: Array<{ value: string; text: { text: string } }> };
    expect(forged.options).toEqual([expect.objectContaining({ value: '!refused' })]);
    expect(forged.options[0]!.text.text).toContain('[1100]');

    const meta = (form.args.view as { private_metadata: string }).private_metadata;
    const pick = (v: string) => ({ 'opt:Item': { [actionId]: { type: 'external_select', selected_option: { value: v } } } });
    const refused = await t.slack.viewSubmission(erin, { callback_id: 'ticket_form', private_metadata: meta, values: pick('151') });
    expect(refused.json()).toMatchObject({ response_action: 'errors', errors: { 'opt:Item': expect.stringContaining('[1100]') } });

    mark = t.fake.calls.length;
    expect((await t.slack.viewSubmission(erin, { callback_id: 'ticket_form', private_metadata: meta, values: pick('149') })).text).toBe('');
    const result = await t.fake.waitFor('chat.postMessage', (c) => after(mark)(c) && c.args.channel === `D${erin.id}` && text(c).includes('ended'), 20_000);
    expect(text(result)).toContain('succeeded');
    expect(text(result)).toContain('item 149');
  }, 60_000);
});
