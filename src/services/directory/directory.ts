/**
 * People: synced from the directory source into MongoDB, and matched to Slack users (by the
 * stored Slack id, else once by email).
 */
import type { Clock } from '../../clock.js';
import { AppError, ErrorCode } from '../../errors.js';
import type { Person, PersonModel } from '../../models/person.js';
import type { AuditLog } from '../audit.js';
import { keysOf } from './keys.js';
import { loadDirectory, type DirectoryRecord } from './source.js';

/** What opsgate asks Slack about people; implemented over the Web API. */
export interface SlackPeople {
  emailOf(slackUserId: string): Promise<string | undefined>;
  idByEmail(email: string): Promise<string | undefined>;
}

export interface SyncResult {
  added: number;
  updated: number;
  unchanged: number;
  deactivated: number;
  slackIdsLearned: number;
}

export interface DirectoryDeps {
  model: PersonModel;
  audit: AuditLog;
  clock: Clock;
  slack: SlackPeople;
  /** Path or URL of the source (DIRECTORY_SOURCE). */
  source: string;
  /** Told who left the directory at a sync (access ends for them). */
  onDeactivated?: (personIds: string[]) => Promise<unknown>;
  /** Told whose SSH keys changed at a sync, with the keys now listed (grants of keys no longer listed end). */
  onKeysChanged?: (changes: Array<{ personId: string; sshKeys: string[] }>) => Promise<unknown>;
}

function sameRecord(p: Person, r: DirectoryRecord): boolean {
  return (
    p.name === r.name &&
    p.email === r.email.toLowerCase() &&
    (r.slackId === undefined || p.slackId === r.slackId) &&
    p.level === r.level &&
    p.department === r.department &&
    (p.manager ?? null) === (r.manager ?? null) &&
    JSON.stringify(p.groups) === JSON.stringify(r.groups) &&
    JSON.stringify(p.sshKeys) === JSON.stringify(r.sshKeys) &&
    p.active
  );
}

export class DirectoryService {
  constructor(private readonly deps: DirectoryDeps) {}

  /** Imports the whole source; a bad record fails the sync before anything is written. */
  async sync(actor: string): Promise<SyncResult> {
    const records = await loadDirectory(this.deps.source);
    const { model, clock } = this.deps;
    const now = clock.now();
    const existing = new Map((await model.find({}).lean<Person[]>()).map((p) => [p.personId, p]));
    const result: SyncResult = { added: 0, updated: 0, unchanged: 0, deactivated: 0, slackIdsLearned: 0 };
    const keysChanged: Array<{ personId: string; sshKeys: string[] }> = [];
    for (const r of records) {
      const old = existing.get(r.id);
      if (old && sameRecord(old, r)) {
        result.unchanged++;
        continue;
      }
      const fields = {
        name: r.name,
        email: r.email.toLowerCase(),
        level: r.level,
        department: r.department,
        manager: r.manager ?? null,
        groups: r.groups,
        sshKeys: r.sshKeys,
        active: true,
        syncedAt: now,
        ...(r.slackId ? { slackId: r.slackId } : {}),
      };
      await model.updateOne({ personId: r.id }, { $set: fields }, { upsert: true });
      // Compared as the keys that stand for the person: a directory listing its first key for
      // someone whose imported key stands now is a change, and so ends that key's grants.
      const standing = keysOf({ sshKeys: r.sshKeys, importedSshKeys: old?.importedSshKeys });
      if (old && JSON.stringify(keysOf(old)) !== JSON.stringify(standing)) keysChanged.push({ personId: r.id, sshKeys: standing });
      if (old) result.updated++;
      else result.added++;
    }
    const inSource = new Set(records.map((r) => r.id));
    const gone = [...existing.values()].filter((p) => p.active && !inSource.has(p.personId)).map((p) => p.personId);
    if (gone.length > 0) {
      await model.updateMany({ personId: { $in: gone } }, { $set: { active: false, syncedAt: now } });
      result.deactivated = gone.length;
      for (const id of gone) await this.deps.audit.record({ actor, action: 'person.deactivate', target: `person:${id}`, from: { active: true }, to: { active: false } });
      await this.deps.onDeactivated?.(gone);
    }
    if (keysChanged.length > 0) await this.deps.onKeysChanged?.(keysChanged);
    result.slackIdsLearned = await this.learnSlackIds();
    await this.deps.audit.record({ actor, action: 'directory.sync', target: 'directory:people', to: { ...result, total: records.length } });
    return result;
  }

  /** How many people the source lists now (read and validated, nothing written): for the start-up summary. */
  async countInSource(): Promise<number> {
    return (await loadDirectory(this.deps.source)).length;
  }

  /** Looks up, once, the Slack ids of active people who have none (so they can be DMed). */
  private async learnSlackIds(): Promise<number> {
    let learned = 0;
    const missing = await this.deps.model.find({ active: true, $or: [{ slackId: null }, { slackId: { $exists: false } }] }).lean<Person[]>();
    for (const p of missing) {
      const id = await this.deps.slack.idByEmail(p.email).catch(() => undefined);
      if (!id) continue;
      await this.deps.model.updateOne({ personId: p.personId }, { $set: { slackId: id } });
      learned++;
    }
    return learned;
  }

  async byPersonId(personId: string): Promise<Person | null> {
    return this.deps.model.findOne({ personId }).lean<Person>();
  }

  async byPersonIds(personIds: string[]): Promise<Person[]> {
    return this.deps.model.find({ personId: { $in: personIds } }).lean<Person[]>();
  }

  /** The directory person behind a Slack user, or null when there is none. */
  async findBySlackUser(slackUserId: string): Promise<Person | null> {
    const { model } = this.deps;
    const direct = await model.findOne({ slackId: slackUserId, active: true }).lean<Person>();
    if (direct) return direct;
    const email = await this.deps.slack.emailOf(slackUserId).catch(() => undefined);
    if (!email) return null;
    // Bound once: a second Slack account showing the same email (a guest, another org) must
    // not take over a person who is already matched.
    const byEmail = await model.findOneAndUpdate(
      { email: email.toLowerCase(), active: true, $or: [{ slackId: null }, { slackId: { $exists: false } }] },
      { $set: { slackId: slackUserId } },
      { returnDocument: 'after' },
    ).lean<Person>();
    return byEmail;
  }

  /** The person behind a Slack user; refuses (1201) anyone not in the directory. */
  async requireBySlackUser(slackUserId: string): Promise<Person> {
    const p = await this.findBySlackUser(slackUserId);
    if (!p) {
      throw new AppError(ErrorCode.NeedPermission, 'you are not in the opsgate directory; ask an admin to add you (the directory is synced from DIRECTORY_SOURCE)', {
        slackUserId,
      });
    }
    return p;
  }

  /** The manager chain of a person, nearest first. */
  async managerChain(person: Person): Promise<Person[]> {
    const chain: Person[] = [];
    const seen = new Set<string>([person.personId]);
    for (let m = person.manager; m && !seen.has(m); ) {
      seen.add(m);
      const next = await this.byPersonId(m);
      if (!next) break;
      chain.push(next);
      m = next.manager;
    }
    return chain;
  }

  /** Active members of a directory group. */
  async inGroup(group: string): Promise<Person[]> {
    return this.deps.model.find({ groups: group, active: true }).sort({ personId: 1 }).lean<Person[]>();
  }

  async count(): Promise<number> {
    return this.deps.model.countDocuments({ active: true });
  }
}
