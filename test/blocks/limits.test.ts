/**
 * Structural tests of every message builder against Slack's limits (blocks/limits.ts): fed
 * huge and hostile data, each stays within text 40,000, section 3,000, header 150, 50 blocks
 * per message, 100 per view and 100 options, with no control character left anywhere.
 */
import { describe, expect, it } from 'vitest';
import { approvalsMessage, hostMessage, hostOptions, mineMessage, requestsMessage } from '../../blocks/access.js';
import { auditMessage } from '../../blocks/audit.js';
import { errorMessage, fieldError } from '../../blocks/errors.js';
import { helpMessage } from '../../blocks/help.js';
import { homeView } from '../../blocks/home.js';
import { hostCheckMessage, hostsMessage, productsMessage, projectsMessage } from '../../blocks/inventory.js';
import type { Message } from '../../blocks/kit.js';
import { cut, echo, fitMessage, LIMITS, printable } from '../../blocks/limits.js';
import { teamsMessage, whoamiMessage } from '../../blocks/people.js';
import { AppError, ErrorCode } from '../../src/errors.js';
import type { AuditEntry } from '../../src/models/audit.js';
import type { Host, Product, Project } from '../../src/models/inventory.js';
import type { Person } from '../../src/models/person.js';
import type { Team } from '../../src/models/rbac.js';
import type { Grant } from '../../src/models/access.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const HOSTILE = 'x\u0000y\u0007z\u001b[2J' + 'long'.repeat(2_000);

/** Walks a message or view and checks every text against Slack's limits. */
function expectWithinSlack(blocks: unknown[], maxBlocks: number, text?: string): void {
  if (text !== undefined) {
    expect(text.length).toBeLessThanOrEqual(LIMITS.text);
    expect(CONTROL.test(text)).toBe(false);
  }
  expect(blocks.length).toBeLessThanOrEqual(maxBlocks);
  for (const b of blocks as Array<Record<string, any>>) {
    if (b.type === 'section' && b.text) expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.plainText);
    if (b.type === 'context') for (const e of b.elements) expect(e.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
  }
  expect(CONTROL.test(JSON.stringify(blocks).replace(/\\u00[0-9a-f]{2}/gi, (m) => JSON.parse(`"${m}"`)))).toBe(false);
}

const msg = (m: Message): void => expectWithinSlack(m.blocks, LIMITS.messageBlocks, m.text);
const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

const host = (i: number): Host => ({ name: `h${i}-${HOSTILE.slice(0, 60)}`, address: HOSTILE, port: 22, env: HOSTILE, project: 'p', app: 'a', active: i % 2 === 0, inactiveReason: HOSTILE }) as unknown as Host;
const person = (id: string): Person => ({ personId: id, name: HOSTILE, email: HOSTILE, level: 'M4', department: HOSTILE, manager: HOSTILE, groups: many(50, () => HOSTILE.slice(0, 100)), sshKeys: [], active: true }) as unknown as Person;

describe('Slack limits (one rule for every builder)', () => {
  it('cut, echo and printable: cut with …, control characters replaced, surrogate pairs kept whole', () => {
    expect(cut('abcdef', 4)).toBe('abc…');
    expect(cut('abc', 4)).toBe('abc');
    expect(cut('ab\uD83D\uDE00cd', 4)).toBe('ab…');
    expect(echo('a\u0000b'.repeat(100), 10)).toHaveLength(10);
    expect(printable('a\u0000b\u0007c\td\ne')).toBe('a\uFFFDb\uFFFDc\td\ne');
  });

  it('fitMessage keeps any message within 40,000 text, 3,000 per section and 50 blocks', () => {
    const huge: Message = { text: 'x'.repeat(1_048_646), blocks: many(400, () => ({ type: 'section', text: { type: 'mrkdwn', text: HOSTILE } })) };
    const fitted = fitMessage(huge);
    msg(fitted);
    expect(fitted.text.endsWith('…')).toBe(true);
    expect(JSON.stringify(fitted.blocks.at(-1))).toContain('more blocks not shown');
  });

  it('errors: a 1 MB message is cut, code first; field errors fit 150', () => {
    const e = new AppError(ErrorCode.BadParameter, HOSTILE.repeat(100));
    const m = errorMessage(e);
    msg(m);
    expect(m.text).toMatch(/^:no_entry: \[1100\]/);
    expect(fieldError(e).length).toBeLessThanOrEqual(LIMITS.fieldError);
    expect(fieldError(e)).toMatch(/^\[1100\]/);
  });

  it('inventory, people, audit and help builders stay within limits with huge hostile data', () => {
    msg(helpMessage());
    msg(hostsMessage(many(1_000, host), HOSTILE, 100));
    msg(hostsMessage([], HOSTILE, 100));
    msg(projectsMessage(many(500, (i) => ({ name: `p${i}${HOSTILE}`, organization: HOSTILE, description: HOSTILE, hosts: many(20, () => HOSTILE.slice(0, 60)), people: [], contacts: [HOSTILE] }) as unknown as Project)));
    msg(productsMessage(many(500, () => ({ prod_name: HOSTILE, init_sls: HOSTILE, templates: HOSTILE }) as unknown as Product)));
    msg(teamsMessage(many(500, (i) => ({ name: `t${i}${HOSTILE.slice(0, 60)}`, organization: HOSTILE, members: many(30, () => HOSTILE.slice(0, 60)) }) as unknown as Team)));
    msg(whoamiMessage({ slackUserId: 'UALICE', person: person('alice'), globalAdmin: true, teams: [], grants: [] }));
    msg(auditMessage(many(500, () => ({ at: new Date(), actor: HOSTILE, action: HOSTILE, target: HOSTILE, from: { x: HOSTILE }, to: null }) as unknown as AuditEntry)));
    msg(hostCheckMessage({ newlyInactive: many(300, (i) => `h${i}`), newlyActive: many(300, (i) => `k${i}`), failures: { h1: HOSTILE } }));
  });

  it('access builders stay within limits', () => {
    const grants = many(250, (i) => ({ grantId: `g${i}abcdef`, host: HOSTILE.slice(0, 63), role: 'readonly', grantedAt: new Date(), expiresAt: new Date() }) as unknown as Grant);
    msg(mineMessage(grants));
    msg(requestsMessage('All', []));
    msg(hostMessage({ host: 'web-01', holders: { root: [], evans: [], readonly: many(300, (i) => ({ personId: `p${i}`, person: person(`p${i}`), grant: grants[0]! })) }, events: [], moreEvents: false } as never, false));
    msg(approvalsMessage({ items: [], people: {}, me: 'x' } as never));
  });

  it('the Home view stays within 100 blocks however many sections', () => {
    const view = homeView(person('alice'), many(80, (i) => ({ title: `s${i}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: HOSTILE } }] })));
    expectWithinSlack(view.blocks, LIMITS.viewBlocks);
  });

  it('host options: at most 100, each text within 75', () => {
    const o = hostOptions(many(300, (i) => ({ name: `h${i}`, env: HOSTILE, project: HOSTILE })));
    expect(o.options).toHaveLength(LIMITS.options);
    for (const x of o.options) expect(x.text.text.length).toBeLessThanOrEqual(LIMITS.optionText);
  });
});
