/**
 * Personal API tokens (issue 12): made, listed and revoked with `/opsgate token`, and checked
 * on every `/api/v1/` request. A token is 32 random bytes shown once; only its SHA-256 is
 * stored, so a copy of the store gives no usable token. A token acts as its owner with the
 * owner's permissions at the time of each request (RBAC is asked every time), and stops
 * working the moment it is revoked, expires, or its owner leaves the directory (the sync
 * revokes every token of people who left; a departed owner is refused even before that).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { AppError, badParameter, ErrorCode, needPermission } from '../errors.js';
import type { ApiToken, ApiTokenModel, TokenScope } from '../models/api-token.js';
import type { Person } from '../models/person.js';
import type { AuditLog } from './audit.js';
import type { DirectoryService } from './directory/directory.js';
import { GLOBAL, type RbacService } from './rbac.js';

export interface ApiTokenDeps {
  model: ApiTokenModel;
  directory: DirectoryService;
  rbac: RbacService;
  audit: AuditLog;
  clock: Clock;
}

export interface NewToken {
  name: string;
  /** Days until it expires (1–365). */
  days: number;
  scope: TokenScope;
}

/** What a listing shows of a token: never its hash. */
export type TokenInfo = Omit<ApiToken, 'hash'>;

export interface Caller {
  person: Person;
  token: TokenInfo;
}

export const TOKEN_PREFIX = 'ogt_';
export const TOKEN_MAX_DAYS = 365;
export const TOKEN_DEFAULT_DAYS = 30;
/** Tokens in force one person may hold at once. */
export const TOKENS_PER_PERSON = 20;
/** lastUsedAt is written at most this often per token (not one write per request). */
const LAST_USED_EVERY_MS = 60_000;
const TOKEN_SHAPE = /^ogt_[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** A refusal of who is calling (no, unknown, expired or revoked token): HTTP 401, code 1201. */
export function unauthenticated(message: string): AppError {
  return new AppError(ErrorCode.NeedPermission, message, { unauthenticated: true });
}

export function isUnauthenticated(err: AppError): boolean {
  return err.details?.unauthenticated === true;
}

const info = (t: ApiToken): TokenInfo => {
  const { hash: _hash, ...rest } = t as ApiToken & { _id?: unknown };
  delete (rest as { _id?: unknown })._id;
  return rest;
};

export class ApiTokenService {
  constructor(private readonly deps: ApiTokenDeps) {}

  /** Makes a token for the caller; the token text is in the answer once and nowhere else. */
  async create(slackUserId: string, req: NewToken): Promise<{ token: string; info: TokenInfo }> {
    const { model, directory, clock, audit } = this.deps;
    const person = await directory.requireBySlackUser(slackUserId);
    if (!Number.isInteger(req.days) || req.days < 1 || req.days > TOKEN_MAX_DAYS) throw badParameter(`expires: must be 1 to ${TOKEN_MAX_DAYS} days`, { field: 'expires' });
    const now = clock.now();
    const inForce = await model.countDocuments({ owner: person.personId, revoked: false, expiresAt: { $gt: now } });
    if (inForce >= TOKENS_PER_PERSON) throw badParameter(`you hold ${inForce} tokens in force, the most one person may; revoke one first (/opsgate token list)`, { field: 'name' });
    if (await model.exists({ owner: person.personId, name: req.name, revoked: false, expiresAt: { $gt: now } })) {
      throw badParameter(`you already have a token named ${req.name} in force; pick another name or revoke it first`, { field: 'name' });
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const doc = await model.create({
      tokenId: `AT-${randomBytes(5).toString('hex')}`,
      name: req.name,
      owner: person.personId,
      scope: req.scope,
      hash: hashToken(token),
      expiresAt: new Date(now.getTime() + req.days * 86_400_000),
    });
    const made = info(doc.toObject() as ApiToken);
    await audit.record({ actor: person.personId, action: 'token.create', target: `token:${made.tokenId}`, to: { name: made.name, scope: made.scope, expiresAt: made.expiresAt } });
    return { token, info: made };
  }

  /** The caller's own tokens, or (`all`, global admins only) everyone's; newest first. */
  async list(slackUserId: string, all = false): Promise<TokenInfo[]> {
    const person = await this.deps.directory.requireBySlackUser(slackUserId);
    if (all) await this.deps.rbac.requireAdmin(person);
    const docs = await this.deps.model
      .find(all ? {} : { owner: person.personId })
      .sort({ createdAt: -1 })
      .limit(200)
      .lean<ApiToken[]>();
    return docs.map(info);
  }

  /** Revokes a token: its owner or a global admin. Revoking a revoked token changes nothing. */
  async revoke(slackUserId: string, tokenId: string): Promise<{ info: TokenInfo; changed: boolean }> {
    const { model, directory, rbac, clock, audit } = this.deps;
    const person = await directory.requireBySlackUser(slackUserId);
    if (!/^AT-[0-9a-f]{10}$/.test(tokenId)) throw badParameter(`${tokenId} is not a token id (AT- and 10 hex digits)`, { field: 'id' });
    const t = await model.findOne({ tokenId }).lean<ApiToken>();
    const admin = t ? t.owner === person.personId || (await rbac.can(person, 'admin', GLOBAL)) : false;
    // Someone else's token is answered as unknown: ids of others' tokens are not confirmed.
    if (!t || !admin) throw badParameter(`no token ${tokenId} of yours`, { field: 'id' });
    const done = await model
      .findOneAndUpdate({ tokenId, revoked: false }, { $set: { revoked: true, revokedAt: clock.now(), revokedBy: person.personId, revokeReason: 'revoked' } }, { returnDocument: 'after' })
      .lean<ApiToken>();
    if (!done) return { info: info(t), changed: false };
    await audit.record({ actor: person.personId, action: 'token.revoke', target: `token:${tokenId}`, from: { revoked: false }, to: { revoked: true, owner: t.owner } });
    return { info: info(done), changed: true };
  }

  /** Every token of people who left the directory ends at the sync that saw them go. */
  async endAllFor(personIds: string[], reason = 'left the directory'): Promise<number> {
    if (personIds.length === 0) return 0;
    const { model, clock, audit } = this.deps;
    const open = await model.find({ owner: { $in: personIds }, revoked: false }).lean<ApiToken[]>();
    if (open.length === 0) return 0;
    await model.updateMany({ tokenId: { $in: open.map((t) => t.tokenId) }, revoked: false }, { $set: { revoked: true, revokedAt: clock.now(), revokedBy: 'system:directory', revokeReason: reason } });
    await audit.recordMany(open.map((t) => ({ actor: 'system:directory', action: 'token.revoke', target: `token:${t.tokenId}`, from: { revoked: false }, to: { revoked: true, owner: t.owner }, note: reason })));
    return open.length;
  }

  /**
   * Who calls with this `Authorization` header: the token's owner, active in the directory.
   * Refusals are 401s (unauthenticated()) that never say whether a token exists.
   */
  async authenticate(authorization: string | undefined): Promise<Caller> {
    const m = /^Bearer (\S+)$/.exec(authorization ?? '');
    if (!m) throw unauthenticated('send Authorization: Bearer <token> (make one with /opsgate token create <name>)');
    const given = m[1]!;
    if (!TOKEN_SHAPE.test(given)) throw unauthenticated('the token is not valid');
    const { model, clock, directory } = this.deps;
    const t = await model.findOne({ hash: hashToken(given) }).lean<ApiToken>();
    if (!t) throw unauthenticated('the token is not valid');
    const now = clock.now();
    if (t.revoked) throw unauthenticated(`token ${t.tokenId} was revoked`);
    if (t.expiresAt.getTime() <= now.getTime()) throw unauthenticated(`token ${t.tokenId} expired at ${t.expiresAt.toISOString()}`);
    const person = await directory.byPersonId(t.owner);
    if (!person || !person.active) throw unauthenticated(`the owner of token ${t.tokenId} is no longer in the directory`);
    if (!t.lastUsedAt || now.getTime() - t.lastUsedAt.getTime() >= LAST_USED_EVERY_MS) {
      await model.updateOne({ tokenId: t.tokenId }, { $set: { lastUsedAt: now } });
      t.lastUsedAt = now;
    }
    return { person, token: info(t) };
  }

  /** A write needs a token of scope write (403 otherwise: the caller is known, the token may not). */
  static requireWrite(caller: Caller): void {
    if (caller.token.scope !== 'write') throw needPermission(`token ${caller.token.tokenId} (${caller.token.name}) has scope read; writes need a token of scope write`, { scope: caller.token.scope });
  }
}
