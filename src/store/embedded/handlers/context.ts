import type { ScramConversation, ScramCredential } from '../auth/scram.js';
import type { Doc } from '../bson-values.js';
import type { CursorRegistry } from '../cursors.js';
import type { Storage } from '../storage.js';
import { isNumeric, toNumber } from '../bson-values.js';
import { ErrorCodes, MongoError } from '../errors.js';

/** What a command handler may use; one per server, plus the calling connection's id. */
export interface CommandContext {
  storage: Storage;
  cursors: CursorRegistry;
  connectionId: number;
  startedAt: number;
  host: string;
  port: number;
  /** Seconds between TTL passes; changed by setParameter ttlMonitorSleepSecs. */
  ttlMonitorSleepSecs: { value: number };
  connections: { current: number; totalCreated: number; max: number };
  /** Largest message the server accepts; hello announces it. */
  maxMessageSizeBytes: number;
  /** The one user of this server, as salted keys (see auth/scram.ts). */
  credential: ScramCredential;
  /** This connection's authentication state. */
  session: ConnectionSession;
  /** Logs why an authentication attempt failed (the client only hears code 18). */
  logAuthFailure(reason: string): void;
}

export interface ConnectionSession {
  /** The authenticated user; undefined until saslContinue succeeds. */
  user?: string;
  conversation?: ScramConversation;
  conversationId: number;
}

export type Handler = (cmd: Doc, db: string, ctx: CommandContext) => Doc | Promise<Doc>;

/** The collection name a command names in its first field. */
export function collectionArg(cmd: Doc, name: string): string {
  const v = cmd[name];
  if (typeof v !== 'string' || v === '') {
    throw new MongoError(ErrorCodes.InvalidNamespace, `collection name has invalid type ${v === undefined ? 'missing' : typeof v}`);
  }
  return v;
}

export function optionalNumber(cmd: Doc, field: string): number | undefined {
  const v = cmd[field];
  if (v === undefined || v === null) return undefined;
  if (!isNumeric(v)) throw new MongoError(ErrorCodes.TypeMismatch, `Field '${field}' should be a number, not ${typeof v}`);
  return toNumber(v);
}

export function optionalDoc(cmd: Doc, field: string): Doc | undefined {
  const v = cmd[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new MongoError(ErrorCodes.TypeMismatch, `Field '${field}' should be an object`);
  return v as Doc;
}

export function cursorReply(ns: string, id: unknown, docs: Doc[], first: boolean): Doc {
  return { cursor: { [first ? 'firstBatch' : 'nextBatch']: docs, id, ns }, ok: 1 };
}
