/**
 * The pure pieces of the ticket Slack side: the inline parser (quotes, literal hostile values,
 * coded refusals for any string), button values, the time zone arithmetic across DST, and every
 * ticket builder within Slack's limits with huge hostile data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseDecisionValue,
  parseLocalTime,
  parseTicket,
  parseTicketForm,
  parseTicketValue,
  resolveLocalTime,
  showInZone,
  ticketWords,
  validZone,
} from '../../commands/tickets-parse.js';
import { LIMITS } from '../../blocks/limits.js';
import type { Message } from '../../blocks/kit.js';
import { approvalMessage, approvalsListMessage, channelMessage, pickerModal, resultMessage, showMessage, submittedMessage, submitterDecisionMessage, ticketFormModal, ticketHomeBlocks, ticketListMessage } from '../../blocks/tickets.js';
import { fitMessage } from '../../blocks/limits.js';
import { AppError } from '../../src/errors.js';
import type { Person } from '../../src/models/person.js';
import type { Ticket } from '../../src/models/tickets.js';
import type { TicketDetails } from '../../src/services/tickets/ports.js';
import { hostileValues } from '../helpers/hostile-values.js';

describe('inline /ticket parsing', () => {
  it('reads the issue example, quotes with spaces, multiple values, at: and auto', () => {
    const r = parseTicket('submit deploy-git env:PROD AnsibleHosts=web-01,web-02 Tag=v1.4.2 Note="two words" at:2026-12-24T03:00 auto');
    expect(r).toMatchObject({
      sub: 'submit',
      inline: { template: 'deploy-git', env: 'PROD', values: { AnsibleHosts: ['web-01', 'web-02'], Tag: 'v1.4.2', Note: 'two words' }, autoRun: true, background: false, at: { year: 2026, month: 12, day: 24, hour: 3, minute: 0 } },
    });
    expect(ticketWords('a="x \\" y" b')).toEqual(['a=x " y', 'b']);
  });

  it('keeps every hostile value literally (quoted where it has spaces)', () => {
    for (const v of hostileValues('/tmp/pwned').filter((x) => !x.includes('"') && !x.includes(','))) {
      const r = parseTicket(`submit t env:PROD Tag="${v}"`);
      expect(r.sub === 'submit' && r.inline?.values.Tag).toBe(v);
    }
    const r = parseTicket(`submit t env:PROD Tag='"$(id)"'`);
    // The double quotes group; the single quotes and $(id) stay as typed.
    expect(r.sub === 'submit' && r.inline?.values.Tag).toBe(`'$(id)'`);
  });

  it('refuses what it cannot read with codes, naming the field', () => {
    const code = (text: string) => {
      try {
        parseTicket(text);
        return null;
      } catch (err) {
        return (err as AppError).toUserText();
      }
    };
    expect(code('submit deploy-git AnsibleHosts=web-01')).toMatch(/^\[1102\].*env:/);
    expect(code('submit deploy-git env:PROD Tag=v1 Tag=v2')).toMatch(/^\[1100\].*Tag/);
    expect(code('submit deploy-git env:PROD at:2026-02-30T03:00')).toMatch(/^\[1100\].*at:/);
    expect(code('submit deploy-git env:PROD Tag="open')).toMatch(/^\[1100\].*quote/);
    expect(code('show TK-1')).toMatch(/^\[1100\]/);
    expect(code('launch')).toMatch(/^\[1100\].*unknown command/);
  });

  it('any string is a valid request or a coded 1100-family refusal', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.array(fc.constantFrom('submit', 'show', 'run', 'history', 'env:PROD', 'at:', 'auto', 'A=b', '"', 'TK-AAAAAA', 'x=', '=y', 'status:9'), { maxLength: 8 }).map((w) => w.join(' '))), (text) => {
        try {
          parseTicket(text);
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect([1100, 1101, 1102]).toContain((err as AppError).code);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('button values are small JSON of a known shape; anything else is 1100/1101', () => {
    expect(parseDecisionValue('{"t":"TK-ABCDEF","l":1}')).toEqual({ t: 'TK-ABCDEF', l: 1 });
    for (const bad of ['TK-ABCDEF', '[]', 'null', '{"t":"TK-ABCDEF","l":3}', '{"t":{"$ne":null},"l":0}', '{"t":"TK-ABCDEF","l":0,"by":"x"}']) {
      expect(() => parseDecisionValue(bad)).toThrow(AppError);
    }
    expect(() => parseTicketValue('{"t":"tk-abcdef"}')).toThrow(AppError);
  });

  it('form values: selects, multi-selects, text, date and time, flags; one of date/time alone is refused', () => {
    const f = parseTicketForm({
      'opt:Hosts': { v: { selected_options: [{ value: 'a' }, { value: 'b' }] } },
      'opt:Mode': { v: { selected_option: { value: 'rolling' } } },
      'opt:Tag': { v: { value: 'v1' } },
      run_date: { date: { selected_date: '2027-01-02' } },
      run_time: { time: { selected_time: '03:04' } },
      flags: { flags: { selected_options: [{ value: 'auto' }] } },
    });
    expect(f).toMatchObject({ values: { Hosts: ['a', 'b'], Mode: 'rolling', Tag: 'v1' }, autoRun: true, background: false, at: { year: 2027, hour: 3, minute: 4 } });
    expect(() => parseTicketForm({ run_date: { date: { selected_date: '2027-01-02' } } })).toThrow(/both/);
  });
});

describe('time zones', () => {
  it('reads a wall-clock time in the zone, across DST, and shows it back with the zone', () => {
    expect(resolveLocalTime(parseLocalTime('2027-01-15T09:30'), 'Europe/Paris').toISOString()).toBe('2027-01-15T08:30:00.000Z');
    expect(resolveLocalTime(parseLocalTime('2027-07-15T09:30'), 'Europe/Paris').toISOString()).toBe('2027-07-15T07:30:00.000Z');
    expect(resolveLocalTime(parseLocalTime('2027-07-15T09:30'), 'America/New_York').toISOString()).toBe('2027-07-15T13:30:00.000Z');
    expect(resolveLocalTime(parseLocalTime('2027-07-15T09:30'), 'UTC').toISOString()).toBe('2027-07-15T09:30:00.000Z');
    expect(showInZone(new Date('2027-07-15T07:30:00Z'), 'Europe/Paris')).toBe('2027-07-15 09:30 (Europe/Paris)');
    expect(validZone('Not/AZone')).toBe('UTC');
    expect(validZone({ $ne: 1 })).toBe('UTC');
  });
});

describe('ticket builders stay within Slack limits with huge hostile data', () => {
  const big = 'x<@U1>&`'.repeat(2000);
  const person: Person = { personId: 'p1', name: big, email: 'a@b', slackId: 'U1', level: 'P7', groups: [], active: true } as unknown as Person;
  const values = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`O${i}`, Array.from({ length: 30 }, () => big.slice(0, 400))]));
  const ticket = {
    ticketId: 'TK-ABCDEF',
    template: { name: 'n', env: 'PROD', category: big, description: big, configCenter: 'local', templates: { pre: '', main: '', post: '' }, vars: {}, secretNames: [], timeoutMinutes: 1, channel: '#c', lock: true, commands: { pre: big, main: big + '```', post: big } },
    env: 'PROD',
    submitter: 'p1',
    values,
    system: {},
    state: 'waiting',
    status: 0,
    background: 'CREATED',
    runAt: new Date(),
    autoRun: true,
    runInBackground: true,
    queued: false,
    approval: { current: 0, state: 'pending', levels: [0, 1, 2].map((i) => ({ level: i + 1, label: big.slice(0, 40), rule: 'people', approvers: ['p1'], decision: null, decidedBy: null, decidedAt: null, note: big })) },
    messages: [],
    history: Array.from({ length: 200 }, () => ({ state: 'waiting', status: 0, background: null, at: new Date(), by: big, note: big })),
    phases: [{ phase: 'pre', ok: false, code: 1, signal: null, error: big, durationMs: 5, tail: big, at: new Date() }],
    startedAt: new Date(),
    startedBy: null,
    finishedAt: null,
    heartbeatAt: null,
    jobId: null,
    revokeRequested: null,
    interrupted: false,
    createdAt: new Date(),
    updatedAt: new Date(),
  } as unknown as Ticket;
  const d: TicketDetails = { ticket, submitter: person, people: { p1: person } };

  const within = (m: Message) => {
    const f = fitMessage(m);
    expect(f.blocks.length).toBeLessThanOrEqual(LIMITS.messageBlocks);
    expect(JSON.stringify(f)).not.toContain('<@U1>');
    for (const b of f.blocks as Array<{ text?: { text: string } }>) if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
  };

  it('messages', () => {
    for (const m of [approvalMessage(d, 'p1'), submittedMessage(d, 'UTC', showInZone), channelMessage(d, big), resultMessage(d, big), showMessage({ ...d, tail: big }), ticketListMessage('x', Array(300).fill(ticket)), approvalsListMessage(Array(20).fill(d), 'p1')]) within(m);
    expect(ticketHomeBlocks({ open: Array(100).fill(ticket), approvals: Array(100).fill(ticket) }).length).toBe(2);
  });

  it('the approved submitter sees Run only where Run is theirs to press: not for automatic runs; Run now for a chosen time', () => {
    const approved = (extra: Partial<Ticket>): TicketDetails => {
      const t = { ...ticket, state: 'approved', runAt: null, autoRun: false, queued: false, approval: { ...ticket.approval, state: 'approved', current: 0 }, ...extra } as Ticket;
      return { ...d, ticket: t };
    };
    const level = ticket.approval.levels[0]!;
    const buttons = (x: TicketDetails) => JSON.stringify(submitterDecisionMessage(x, { ...level, decision: 'approved', decidedBy: 'p1' }).blocks).match(/"text":"(Run|Run now)"/g) ?? [];
    expect(buttons(approved({}))).toEqual(['"text":"Run"']);
    expect(buttons(approved({ autoRun: true }))).toEqual([]);
    expect(buttons(approved({ autoRun: true, queued: true }))).toEqual([]);
    expect(buttons(approved({ runAt: new Date(Date.now() + 3_600_000) }))).toEqual(['"text":"Run now"']);
    expect(buttons(approved({ runAt: new Date(Date.now() + 3_600_000), queued: true }))).toEqual(['"text":"Run now"']);
  });

  it('views: the picker and the form within 100 blocks, options within 100 and 75 characters', () => {
    const cards = Array.from({ length: 300 }, (_, i) => ({ name: `t${i}`, env: 'PROD', category: 'C', description: big }));
    const picker = pickerModal(cards, { e: 'PROD', c: 'C' });
    expect(picker.blocks.length).toBeLessThanOrEqual(LIMITS.viewBlocks);
    const form = ticketFormModal(
      { name: 'n', env: 'PROD', category: 'C', description: big, schedule: true, background: true, autoRun: true, options: Array.from({ length: 120 }, (_, i) => ({ name: `O${i}`, label: big.slice(0, 75), multiple: i % 2 === 0, choices: Array.from({ length: 150 }, (_, j) => `${big.slice(0, 100)}${j}`), text: null })) },
      { c: '' },
      'UTC',
    );
    expect(form.blocks.length).toBeLessThanOrEqual(LIMITS.viewBlocks);
    const select = (form.blocks[1] as { element: { options: Array<{ text: { text: string } }> } }).element;
    expect(select.options.length).toBeLessThanOrEqual(LIMITS.options);
    expect(select.options.every((o) => o.text.text.length <= LIMITS.optionText)).toBe(true);
  });
});
