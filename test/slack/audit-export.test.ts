/**
 * `/opsgate audit export` end to end through the real Bolt app: the matching audit entries,
 * oldest first, arrive as a CSV file in the admin's DM (the fake Slack's upload endpoint holds
 * the bytes), parse back to exactly the entries, and a value written to look like a formula
 * stays text. Non-admins are refused with 1202 and nothing is uploaded; bad filters get 1100.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

describe('/opsgate audit export', () => {
  let t: TestOpsgate;
  const run = (text: string, user: { id: string } = USERS.erin) => runCommand(t, '/opsgate', text, user);
  const uploads = () => [...t.fake.uploads.values()].filter((u) => u.filename.startsWith('opsgate-audit-'));

  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
    const audit = t.app.services.audit;
    await audit.record({ actor: 'alice', action: 'test.export', target: 'host:web-01', from: { status: 1 }, to: { status: 2, note: 'a, "quoted" value' } });
    await audit.record({ actor: 'bob', action: 'test.export', target: 'host:web-02', note: '=HYPERLINK("http://evil.example/","click")' });
    await audit.record({ actor: 'carol', action: 'test.export', target: 'host:web-03', note: 'two\nlines, and +1 at the start of none' });
  }, 60_000);
  afterAll(() => t?.stop());

  it('sends the matching entries, oldest first, as a CSV file in the DM', async () => {
    const reply = await run('audit export action:test.export');
    expect(JSON.stringify(reply.blocks)).toMatch(/3 audit entries sent to you as/);
    const [upload] = uploads();
    expect(upload?.completed?.channel).toBe(`D${USERS.erin.id}`);
    expect(upload!.completed!.comment).toBe('3 audit entries (action:test.export), oldest first.');
    const rows = parse(t.fake.uploadedBytes(upload!.fileId), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => [r.actor, r.action, r.target])).toEqual([
      ['alice', 'test.export', 'host:web-01'],
      ['bob', 'test.export', 'host:web-02'],
      ['carol', 'test.export', 'host:web-03'],
    ]);
    expect(Object.keys(rows[0]!)).toEqual(['at', 'actor', 'action', 'target', 'from', 'to', 'note']);
    expect(rows[0]!.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(JSON.parse(rows[0]!.to!)).toEqual({ status: 2, note: 'a, "quoted" value' });
    // A formula stays text: the cell starts with a quote mark, as spreadsheets read it.
    expect(rows[1]!.note).toBe(`'=HYPERLINK("http://evil.example/","click")`);
    expect(rows[2]!.note).toBe('two\nlines, and +1 at the start of none');
    // The export is itself audited.
    const [entry] = await t.app.services.audit.query({ action: 'audit.export' });
    expect(entry).toMatchObject({ actor: 'erin', target: 'audit:export', note: 'action:test.export', to: { rows: 3 } });
  });

  it('says when the limit cut the export, and keeps the newest entries', async () => {
    const reply = await run('audit export action:test.export limit:2');
    expect(JSON.stringify(reply.blocks)).toMatch(/2 audit entries sent/);
    expect(JSON.stringify(reply.blocks)).toContain('The limit was reached');
    const last = uploads().at(-1)!;
    const rows = parse(t.fake.uploadedBytes(last.fileId), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => r.actor)).toEqual(['bob', 'carol']);
  });

  it('filters by day: an until: before today finds none', async () => {
    const reply = await run('audit export action:test.export since:2020-01-01 until:2020-12-31');
    expect(JSON.stringify(reply.blocks)).toMatch(/0 audit entries sent/);
  });

  it('refuses non-admins (1202) and bad filters (1100), uploading nothing', async () => {
    const before = uploads().length;
    expect(JSON.stringify((await run('audit export', USERS.bob)).blocks)).toContain('[1202]');
    for (const [text, shows] of [
      ['audit export since:2026-02-30', /since must be a day written YYYY-MM-DD/],
      ['audit export until:yesterday', /until must be a day written YYYY-MM-DD/],
      ['audit export limit:50001', /limit must be a whole number from 1 to 50000/],
      ['audit export since:2026-05-02 until:2026-05-01', /since: must be on or before until:/],
      ['audit export colour:red', /audit export filters are actor:x/],
      ['audit export actor:a actor:b', /actor: is given twice/],
    ] as const) {
      const shown = JSON.stringify((await run(text)).blocks);
      expect(shown, text).toContain('[1100]');
      expect(shown, text).toMatch(shows);
    }
    expect(uploads()).toHaveLength(before);
  });
});
