/**
 * OpenSSH public key lines (`ssh-ed25519 AAAA... comment`), checked the way sshd reads them:
 * a known type, base64 that decodes, and a blob whose embedded type matches the line's.
 * A key that passes here can be written to authorized_keys without surprising sshd.
 */
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
