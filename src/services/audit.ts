/** Writes and queries the audit log; every service that changes state records it here. */
import type { Clock } from '../clock.js';
import type { AuditEntry, AuditModel } from '../models/audit.js';
import { Types } from 'mongoose';
import { badParameter } from '../errors.js';

/** A filter value's longest form; the target becomes a (escaped) regular expression. */
export const AUDIT_VALUE_MAX = 200;

export interface AuditRecord {
  actor: string;
  action: string;
  target: string;
  from?: unknown;
  to?: unknown;
  note?: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  /** Matches targets starting with this text, e.g. `host:` or `host:web-01`. */
  target?: string;
  since?: Date;
  /** Entries before this instant. */
  until?: Date;
  limit?: number;
  /** Entries after this one in the newest-first order (a page's cursor: its last entry's time and id). */
  after?: { at: Date; id: string };
}

export class AuditLog {
  /** `recorded`: told each action once its entry is written (the metrics count them). */
  constructor(private readonly deps: { model: AuditModel; clock: Clock; recorded?: (action: string) => void }) {}

  async record(rec: AuditRecord): Promise<void> {
    await this.deps.model.create({ at: this.deps.clock.now(), from: null, to: null, ...rec });
    this.deps.recorded?.(rec.action);
  }

  /** Several entries in one write (one round trip however many hosts a request names). */
  async recordMany(recs: AuditRecord[]): Promise<void> {
    if (recs.length === 0) return;
    const at = this.deps.clock.now();
    await this.deps.model.insertMany(recs.map((r) => ({ at, from: null, to: null, ...r })));
    for (const r of recs) this.deps.recorded?.(r.action);
  }

  /** The newest matching entries, at most `limit` (20 unless given) and never more than `maxRows`. */
  async query(q: AuditQuery = {}, maxRows = 200): Promise<AuditEntry[]> {
    const filter: Record<string, unknown> = {};
    // Only plain, bounded strings reach the filter (an object here would be a query operator).
    for (const key of ['actor', 'action', 'target'] as const) {
      const v = q[key];
      if (v !== undefined && (typeof v !== 'string' || v.length > AUDIT_VALUE_MAX)) throw badParameter(`${key} must be text of at most ${AUDIT_VALUE_MAX} characters`);
    }
    if (q.actor) filter.actor = q.actor;
    if (q.action) filter.action = q.action;
    if (q.target) filter.target = { $regex: '^' + q.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') };
    if (q.since || q.until) filter.at = { ...(q.since ? { $gte: q.since } : {}), ...(q.until ? { $lt: q.until } : {}) };
    if (q.after) {
      if (!/^[0-9a-f]{24}$/.test(q.after.id) || Number.isNaN(q.after.at.getTime())) throw badParameter('cursor: not a cursor this API gave', { field: 'cursor' });
      const id = new Types.ObjectId(q.after.id);
      filter.$or = [{ at: { $lt: q.after.at } }, { at: q.after.at, _id: { $lt: id } }];
    }
    return this.deps.model
      .find(filter)
      .sort({ at: -1, _id: -1 })
      .limit(Math.max(1, Math.min(Number.isInteger(q.limit) ? q.limit! : 20, maxRows)))
      .lean<AuditEntry[]>();
  }
}
