/**
 * The authorized_keys line a host-access grant puts on a host (seed 003), and the role
 * hierarchy that decides which accounts get it.
 *
 * A grant's line is exactly
 *
 *     expiry-time="YYYYMMDDHHMMZ" <key type> <base64 key> opsgate-grant:<grant id>
 *
 * `expiry-time=` makes sshd itself refuse the key once the time has passed, so a late or
 * failed revocation never extends access. The comment names the grant, so revocation and the
 * daily reconcile find opsgate's lines by their last word and leave every other line alone.
 * The requester's own comment and options are dropped: only the key type and blob are kept,
 * so nothing the requester typed can add options (`command=`, `from=`) or claim another
 * grant's id.
 *
 * Pure: no I/O. The host side is `adapters/access/host-keys.ts`.
 */
import { badParameter } from '../../errors.js';
import { ACCESS_ROLES, type AccessRole } from '../../models/access.js';
import { isPublicKeyError, parsePublicKey } from '../ssh-public-key.js';

export { ACCESS_ROLES, type AccessRole };

/**
 * The accounts a grant of `role` opens, strongest first: root > evans > readonly, and a
 * grant covers every role below it (seed 003: "root implies the other two").
 */
export function accountsForRole(role: AccessRole): AccessRole[] {
  const at = ACCESS_ROLES.indexOf(role);
  if (at < 0) throw badParameter(`unknown access role "${String(role)}" (use ${ACCESS_ROLES.join(', ')})`);
  return ACCESS_ROLES.slice(at);
}

/**
 * Grant ids travel into shell scripts and grep patterns on hosts; this alphabet has no
 * character that means anything to sh, grep, sed or an authorized_keys parser.
 */
export const GRANT_ID_PATTERN = /^[A-Za-z0-9_-]{6,40}$/;

export function isValidGrantId(id: unknown): id is string {
  return typeof id === 'string' && GRANT_ID_PATTERN.test(id);
}

/** AppError 1100 unless `id` is a usable grant id. */
export function assertGrantId(id: unknown): asserts id is string {
  if (!isValidGrantId(id)) {
    throw badParameter('a grant id is 6 to 40 characters from A-Z, a-z, 0-9, "_" and "-"', { grantId: String(id).slice(0, 80) });
  }
}

/** The comment that marks a line as one grant's: `opsgate-grant:<id>`. */
export function grantComment(grantId: string): string {
  assertGrantId(grantId);
  return `opsgate-grant:${grantId}`;
}

const MINUTE_MS = 60_000;
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * OpenSSH's `expiry-time` value for `at`, in UTC (`Z`), rounded UP to the next whole
 * minute (the format has no seconds; rounding down would end access early). A time already
 * on a whole minute is kept. AppError 1100 for an invalid date or a year outside 1970-9999.
 */
export function formatExpiryTime(at: Date): string {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw badParameter('the expiry time is not a valid date');
  const up = new Date(Math.ceil(ms / MINUTE_MS) * MINUTE_MS);
  const year = up.getUTCFullYear();
  if (year < 1970 || year > 9999) throw badParameter(`the expiry time ${at.toISOString()} is outside the years 1970-9999`);
  return `${pad(year, 4)}${pad(up.getUTCMonth() + 1)}${pad(up.getUTCDate())}${pad(up.getUTCHours())}${pad(up.getUTCMinutes())}Z`;
}

/** The instant an `expiry-time` value (`YYYYMMDDHHMMZ`) names, or null if it is not one. */
export function parseExpiryTime(value: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute] = m.slice(1).map(Number) as [number, number, number, number, number];
  const at = new Date(Date.UTC(year, month - 1, day, hour, minute));
  // Date.UTC rolls 20250231 over into March; a real timestamp survives the round trip.
  return formatExpiryTime(at) === value ? at : null;
}

export interface KeyLineInput {
  /** The requester's public key as they pasted it (`ssh-ed25519 AAAA... comment`). */
  publicKey: string;
  grantId: string;
  /** When access ends; written rounded up to the minute. */
  expiresAt: Date;
}

/**
 * The line for one grant. AppError 1100 for a key `parsePublicKey` refuses, a bad grant id
 * or a bad date; nothing the caller passes can add options or a second line.
 */
export function buildKeyLine(input: KeyLineInput): string {
  const key = parsePublicKey(input.publicKey);
  if (isPublicKeyError(key)) throw badParameter(`the public key is not usable: ${key.error}`);
  return `expiry-time="${formatExpiryTime(input.expiresAt)}" ${key.type} ${key.blob} ${grantComment(input.grantId)}`;
}

/** What an opsgate line says. */
export interface OpsgateKeyLine {
  grantId: string;
  /** The `expiry-time` instant (whole minute, UTC). */
  expiresAt: Date;
  keyType: string;
}

const OPSGATE_LINE = /^expiry-time="(\d{12}Z)" (\S+) (\S+) opsgate-grant:([A-Za-z0-9_-]{6,40})$/;

/**
 * Reads a line in exactly the shape `buildKeyLine` writes; null for anything else (lines
 * people or other tools wrote, and opsgate-tagged lines that were edited by hand).
 */
export function parseOpsgateLine(line: string): OpsgateKeyLine | null {
  const m = OPSGATE_LINE.exec(line);
  if (!m) return null;
  const [, expiry, type, blob, grantId] = m as unknown as [string, string, string, string, string];
  const expiresAt = parseExpiryTime(expiry);
  if (!expiresAt || isPublicKeyError(parsePublicKey(`${type} ${blob}`))) return null;
  return { grantId, expiresAt, keyType: type };
}

/**
 * The grant id a line is tagged with: the id in a last word `opsgate-grant:<id>` after a
 * space. This is the test revocation applies on the host (a line ending with exactly
 * ` opsgate-grant:<id>` is that grant's), so it also finds lines `parseOpsgateLine` refuses.
 */
export function grantIdOfLine(line: string): string | null {
  const m = / opsgate-grant:([A-Za-z0-9_-]{6,40})$/.exec(line);
  return m ? m[1]! : null;
}
