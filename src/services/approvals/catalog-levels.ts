/**
 * Approval levels as the catalog writes them (tickets.yaml, modules.yaml: a label and its
 * approvers, a group or named people), turned into the levels of an approval flow when
 * something is asked for, and the check, on every click, that an approver still holds what
 * made them one. Tickets and module runs share both: one rule for who approves.
 */
import { badParameter } from '../../errors.js';
import type { ApprovalLevel } from '../../models/approval.js';
import type { Person } from '../../models/person.js';
import type { TicketApprovalLevel } from '../catalog/tickets-schema.js';
import type { DirectoryService } from '../directory/directory.js';

export interface PlannedLevel {
  label: string;
  rule: string;
  approvers: Person[];
}

/**
 * Each level's approvers from the directory now; nobody approves their own request, so the
 * requester is left out, and a level left with nobody is refused (1100) naming `what`.
 */
export async function planApprovalLevels(directory: Pick<DirectoryService, 'inGroup' | 'byPersonIds'>, levels: readonly TicketApprovalLevel[], requester: Person, what: string): Promise<PlannedLevel[]> {
  const out: PlannedLevel[] = [];
  for (const [i, l] of levels.entries()) {
    const found = 'group' in l.approvers ? await directory.inGroup(l.approvers.group) : (await directory.byPersonIds(l.approvers.people)).filter((p) => p.active);
    const approvers = found.filter((p) => p.personId !== requester.personId);
    if (approvers.length === 0) throw badParameter(`approval level ${i + 1} (${l.label}) of ${what} has no approver other than you; ask an admin to fix the catalog`, { field: 'approval' });
    out.push({ label: l.label, rule: 'group' in l.approvers ? `group:${l.approvers.group}` : 'people', approvers });
  }
  return out;
}

/** The stored levels of a new flow (nothing decided yet). */
export function flowLevels(planned: readonly PlannedLevel[]): ApprovalLevel[] {
  return planned.map((l, i) => ({ level: i + 1, label: l.label, rule: l.rule, approvers: l.approvers.map((p) => p.personId), decision: null, decidedBy: null, decidedAt: null, note: null }));
}

/** The directory now, not at the request, decides whether an approver still counts: a reason when not. */
export function approverStillEntitled(level: { rule?: string | null; label: string }, actor: Person): string | null {
  if (!actor.active) return 'you are no longer active in the directory';
  const rule = level.rule ?? '';
  if (rule.startsWith('group:')) {
    const group = rule.slice('group:'.length);
    return actor.groups.includes(group) ? null : `you are no longer in ${group}, so you cannot decide the ${level.label} level`;
  }
  return null;
}
