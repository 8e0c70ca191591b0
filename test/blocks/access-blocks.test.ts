/** The host-access Block Kit builders: Slack's size limits, who sees buttons, escaping. */
import { describe, expect, it } from 'vitest';
import { approvalMailText, approvalMessage, approvalsMessage, mineMessage } from '../../blocks/access.js';
import type { AccessRequest, Grant } from '../../src/models/access.js';
import type { Person } from '../../src/models/person.js';

const person = (id: string, name = id): Person => ({ personId: id, name, email: `${id}@example.com`, level: 'M4', department: 'ops', manager: null, groups: [], sshKeys: [], active: true }) as unknown as Person;

function req(i: number, hosts = ['web-01'], reason = 'because'): AccessRequest {
  return {
    requestId: `AR-${String(i).padStart(6, 'A')}`.slice(0, 9),
    requester: 'bob',
    hosts,
    role: 'readonly',
    days: 1,
    reason,
    approval: {
      current: 1,
      state: 'pending',
      levels: [
        { level: 1, label: 'manager', approvers: ['alice'], decision: 'approved', decidedBy: 'alice', decidedAt: new Date(), note: null },
        { level: 2, label: 'ops', approvers: ['alice', 'erin'], decision: null, decidedBy: null, decidedAt: null, note: null },
      ],
    },
    messages: [],
    createdAt: new Date(),
    updatedAt: new Date(),
  };
}

const people = { bob: person('bob', 'Bob'), alice: person('alice', 'Alice'), erin: person('erin', 'Erin') };

describe('access blocks', () => {
  it('shows Approve/Reject only to an approver of the waiting level who did not decide an earlier one', () => {
    const d = { request: req(1), requester: people.bob, people, applications: [] };
    const has = (id: string) => JSON.stringify(approvalMessage(d, id).blocks).includes('access_approve');
    expect(has('erin')).toBe(true);
    expect(has('alice')).toBe(false);
    expect(has('bob')).toBe(false);
  });

  it('escapes what people typed, so a reason cannot mention @channel or link', () => {
    const d = { request: req(1, ['web-01'], '<!channel> see <https://evil|here>'), requester: people.bob, people, applications: [] };
    const text = JSON.stringify(approvalMessage(d, 'erin').blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('keeps the approval mail subject short with many hosts', () => {
    const hosts = Array.from({ length: 50 }, (_, i) => `web-host-number-${i}`);
    const m = approvalMailText({ request: req(1, hosts), requester: people.bob, people, applications: [] });
    expect(m.subject.length).toBeLessThanOrEqual(255);
    expect(m.subject).toContain('and 47 more');
    expect(m.text).toContain('web-host-number-49');
  });

  it('stays within 50 blocks for many grants and many approvals', () => {
    const grants = Array.from({ length: 250 }, (_, i) => ({ grantId: `g${i}abcdef`, host: `h${i}`, role: 'readonly', grantedAt: new Date(), expiresAt: new Date() }) as unknown as Grant);
    const mine = mineMessage(grants);
    expect(mine.blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(mine.blocks)).toContain('h59');
    expect(JSON.stringify(mine.blocks)).toContain('and 40 more not shown');
    for (const b of mine.blocks) expect(JSON.stringify(b).length).toBeLessThan(3200);
    const items = Array.from({ length: 20 }, (_, i) => ({ request: req(i), applications: [] }));
    const approvals = approvalsMessage({ items, people, me: 'erin' });
    expect(approvals.blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(approvals.blocks)).toContain('12 more waiting');
  });
});
