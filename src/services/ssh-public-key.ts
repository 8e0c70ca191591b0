/**
 * OpenSSH public key lines (`ssh-ed25519 AAAA... comment`), checked the way sshd reads them:
 * a known type, base64 that decodes, and a blob whose embedded type matches the line's.
 * A key that passes here can be written to authorized_keys without surprising sshd.
 */
import { createHash } from 'node:crypto';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export interface ParsedPublicKey {
  type: string;
  blob: string;
  comment: string;
}

/** Returns the parsed key, or a reason why the line is not a usable public key. */
export function parsePublicKey(line: string): ParsedPublicKey | { error: string } {
  const trimmed = line.trim();
  if (/[\r\n\0]/.test(trimmed)) return { error: 'must be a single line' };
  const [type, blob, ...rest] = trimmed.split(/\s+/);
  if (!type || !KEY_TYPES.has(type)) return { error: `unsupported key type "${type ?? ''}" (use ${[...KEY_TYPES].slice(0, 3).join(', ')}, ...)` };
  if (!blob || !/^[A-Za-z0-9+/]+={0,3}$/.test(blob)) return { error: 'key data is not base64' };
  const raw = Buffer.from(blob, 'base64');
  if (raw.length < 4) return { error: 'key data is too short' };
  const len = raw.readUInt32BE(0);
  if (len > raw.length - 4 || raw.subarray(4, 4 + len).toString('latin1') !== type) {
    return { error: `key data does not hold a ${type} key` };
  }
  return { type, blob, comment: rest.join(' ') };
}

export function isPublicKeyError(k: ParsedPublicKey | { error: string }): k is { error: string } {
  return 'error' in k;
}

/**
 * The key of an authorized_keys line, options (`from="…" command="a b"`) skipped: the first
 * word that is a key type and, with what follows, a usable key. Null for a comment, a blank
 * line or anything else.
 */
export function keyInAuthorizedKeysLine(line: string): ParsedPublicKey | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const words = trimmed.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    if (!KEY_TYPES.has(words[i]!)) continue;
    const k = parsePublicKey(words.slice(i).join(' '));
    if (!isPublicKeyError(k)) return k;
  }
  return null;
}

/** OpenSSH's fingerprint of a key: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function keyFingerprint(k: ParsedPublicKey): string {
  return 'SHA256:' + createHash('sha256').update(Buffer.from(k.blob, 'base64')).digest('base64').replace(/=+$/, '');
}
