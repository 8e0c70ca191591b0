/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), the server side, as mongod runs it for the
 * mongodb driver's default mechanism.
 *
 * The server holds only the salted keys of its user (salt, iterations, StoredKey, ServerKey),
 * derived once from the password at start-up; the password is never kept. A client proves it
 * knows the password without sending it: StoredKey = H(ClientKey) and the proof is
 * ClientKey XOR HMAC(StoredKey, AuthMessage).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import saslprep from '@mongodb-js/saslprep';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** mongod's default scramSHA256IterationCount. */
const ITERATIONS = 15_000;
const SALT_BYTES = 28;

export interface ScramCredential {
  user: string;
  /** The database the user is defined on (its authSource). */
  db: string;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/** The salted keys for a user; the password itself is not kept. */
export function deriveCredential(user: string, password: string, db = 'admin', iterations = ITERATIONS): ScramCredential {
  const salt = randomBytes(SALT_BYTES);
  const salted = pbkdf2Sync(saslprep(password), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return {
    user: saslprep(user),
    db,
    salt,
    iterations,
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** Why a SCRAM exchange failed; the caller answers every one of them as mongod does (code 18). */
export class ScramFailure extends Error {}

function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new ScramFailure(`malformed SCRAM attribute '${part}'`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** RFC 5802 5.1: `=2C` and `=3D` stand for `,` and `=` in a user name. */
function decodeName(name: string): string {
  if (/=(?!2C|3D)/.test(name)) throw new ScramFailure('malformed user name');
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** One conversation: created by saslStart, finished by saslContinue. */
export class ScramConversation {
  private readonly gs2Header: string;
  private readonly clientFirstBare: string;
  private readonly serverFirst: string;
  private readonly nonce: string;
  readonly user: string;

  /** Parses the client-first message; throws ScramFailure for a bad one or an unknown user. */
  constructor(
    private readonly cred: ScramCredential,
    clientFirst: string,
  ) {
    // gs2-header: "n,," (no channel binding) or "y,," (client supports it, server does not).
    const m = /^([ny]),(?:a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!m) throw new ScramFailure('channel binding is not supported; expected a gs2 header of n,, or y,,');
    this.gs2Header = clientFirst.slice(0, clientFirst.length - m[2]!.length);
    this.clientFirstBare = m[2]!;
    const attrs = attributes(this.clientFirstBare);
    if (attrs.has('m')) throw new ScramFailure('SCRAM extensions are not supported');
    const name = attrs.get('n');
    const clientNonce = attrs.get('r');
    if (name === undefined || !clientNonce) throw new ScramFailure('client-first message lacks n= or r=');
    let user: string;
    try {
      user = saslprep(decodeName(name));
    } catch {
      throw new ScramFailure('user name is not valid SASLprep input');
    }
    if (user !== cred.user) throw new ScramFailure(`unknown user ${user}`);
    this.user = user;
    this.nonce = clientNonce + randomBytes(24).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${cred.salt.toString('base64')},i=${cred.iterations}`;
  }

  /** The server-first message, the reply to saslStart. */
  get firstReply(): string {
    return this.serverFirst;
  }

  /** Checks the client-final message's proof; returns the server-final message (`v=...`). */
  finish(clientFinal: string): string {
    const at = clientFinal.lastIndexOf(',p=');
    if (at < 0) throw new ScramFailure('client-final message lacks a proof');
    const withoutProof = clientFinal.slice(0, at);
    const attrs = attributes(withoutProof);
    if (attrs.get('c') !== Buffer.from(this.gs2Header).toString('base64')) throw new ScramFailure('channel binding does not match the gs2 header');
    if (attrs.get('r') !== this.nonce) throw new ScramFailure('nonce does not match');
    const proof = Buffer.from(clientFinal.slice(at + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const signature = hmac(this.cred.storedKey, authMessage);
    if (proof.length !== signature.length) throw new ScramFailure('proof has the wrong length');
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    if (!timingSafeEqual(createHash('sha256').update(clientKey).digest(), this.cred.storedKey)) throw new ScramFailure('wrong password');
    return `v=${hmac(this.cred.serverKey, authMessage).toString('base64')}`;
  }
}
