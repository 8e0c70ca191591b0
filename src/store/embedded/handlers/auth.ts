/**
 * Authentication commands (saslStart, saslContinue, logout) and the rule mongod applies before
 * any command: a connection that has not authenticated may only run the handshake and the
 * few commands mongod marks as needing no authentication; everything else answers code 13.
 */
import { Binary } from 'bson';
import type { Doc } from '../bson-values.js';
import { ScramConversation, ScramFailure, SCRAM_SHA_256 } from '../auth/scram.js';
import { ErrorCodes, MongoError } from '../errors.js';
import type { CommandContext, Handler } from './context.js';

/** mongod's commands with requiresAuth() false (getnonce and authenticate are gone since 6.0). */
const WITHOUT_AUTH = new Set(['hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue', 'ping', 'buildInfo', 'buildinfo', 'logout']);

export function checkAuthorized(name: string, ctx: CommandContext): void {
  if (ctx.session.user !== undefined || WITHOUT_AUTH.has(name)) return;
  throw new MongoError(ErrorCodes.Unauthorized, `command ${name} requires authentication`);
}

function authFailed(): MongoError {
  // mongod says the same for an unknown user, a wrong password and a malformed exchange.
  return new MongoError(ErrorCodes.AuthenticationFailed, 'Authentication failed.');
}

function payloadText(v: unknown): string {
  if (v instanceof Binary) return Buffer.from(v.buffer.subarray(0, v.position)).toString('utf8');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'string') return v;
  throw new MongoError(ErrorCodes.BadValue, 'SASL payload must be binary data');
}

function payloadOf(text: string): Binary {
  return new Binary(Buffer.from(text, 'utf8'));
}

/** Starts a conversation; the reply carries the server-first message. */
export function startSasl(cmd: Doc, db: string, ctx: CommandContext): Doc {
  if (cmd.mechanism !== SCRAM_SHA_256) {
    throw new MongoError(ErrorCodes.MechanismUnavailable, `Received authentication for mechanism ${String(cmd.mechanism)} which is not enabled`);
  }
  const s = ctx.session;
  s.conversation = undefined;
  if (db !== ctx.credential.db) throw authFailed();
  try {
    s.conversation = new ScramConversation(ctx.credential, payloadText(cmd.payload));
  } catch (err) {
    if (err instanceof ScramFailure) {
      ctx.logAuthFailure(err.message);
      throw authFailed();
    }
    throw err;
  }
  s.conversationId++;
  return { conversationId: s.conversationId, done: false, payload: payloadOf(s.conversation.firstReply), ok: 1 };
}

const saslStart: Handler = (cmd, db, ctx) => startSasl(cmd, db, ctx);

const saslContinue: Handler = (cmd, _db, ctx) => {
  const s = ctx.session;
  const conv = s.conversation;
  s.conversation = undefined;
  if (!conv || Number(cmd.conversationId) !== s.conversationId) {
    throw new MongoError(ErrorCodes.ProtocolError, 'No SASL session state found');
  }
  let final: string;
  try {
    final = conv.finish(payloadText(cmd.payload));
  } catch (err) {
    if (err instanceof ScramFailure) {
      ctx.logAuthFailure(err.message);
      throw authFailed();
    }
    throw err;
  }
  s.user = conv.user;
  // With the driver's skipEmptyExchange the conversation ends here, as mongod ends it.
  return { conversationId: s.conversationId, done: true, payload: payloadOf(final), ok: 1 };
};

const logout: Handler = (_cmd, _db, ctx) => {
  ctx.session.user = undefined;
  return { ok: 1 };
};

/**
 * What hello adds for a client that names a user: `saslSupportedMechs` (so the driver picks
 * SCRAM-SHA-256) and the answer to a speculative saslStart. A speculative exchange that fails
 * is left out of the reply, as mongod leaves it out; the driver then runs saslStart itself and
 * gets the real error.
 */
export function helloAuthFields(cmd: Doc, ctx: CommandContext): Doc {
  const out: Doc = {};
  const c = ctx.credential;
  if (cmd.saslSupportedMechs === `${c.db}.${c.user}`) out.saslSupportedMechs = [SCRAM_SHA_256];
  const spec = cmd.speculativeAuthenticate;
  if (spec && typeof spec === 'object' && (spec as Doc).saslStart !== undefined) {
    const db = typeof (spec as Doc).db === 'string' ? ((spec as Doc).db as string) : 'admin';
    try {
      const r = startSasl(spec as Doc, db, ctx);
      out.speculativeAuthenticate = { conversationId: r.conversationId, done: false, payload: r.payload };
    } catch {
      // left out: the driver falls back to an explicit saslStart
    }
  }
  return out;
}

export const authHandlers: Record<string, Handler> = { saslStart, saslContinue, logout };
