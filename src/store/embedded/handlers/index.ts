/** Routes a command document to its handler; unknown commands answer code 59. */
import type { Doc } from '../bson-values.js';
import { ErrorCodes, MongoError } from '../errors.js';
import { adminHandlers } from './admin.js';
import { authHandlers, checkAuthorized } from './auth.js';
import type { CommandContext, Handler } from './context.js';
import { ddlHandlers } from './ddl.js';
import { readHandlers } from './reads.js';
import { writeHandlers } from './writes.js';

const HANDLERS: Record<string, Handler> = { ...adminHandlers, ...authHandlers, ...readHandlers, ...writeHandlers, ...ddlHandlers };

/** Fields every command may carry that no handler needs to see. */
const GENERIC_FIELDS = ['$db', 'lsid', '$clusterTime', '$readPreference', 'readConcern', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'maxTimeMS', 'comment', 'writeConcern', 'bypassDocumentValidation', 'allowDiskUse', 'collation'];

export function commandName(body: Doc): string {
  return Object.keys(body)[0] ?? '';
}

export async function runCommand(body: Doc, ctx: CommandContext): Promise<Doc> {
  const name = commandName(body);
  const db = typeof body.$db === 'string' ? body.$db : 'admin';
  checkAuthorized(name, ctx);
  if (body.txnNumber !== undefined || body.startTransaction !== undefined || body.autocommit !== undefined) {
    throw new MongoError(ErrorCodes.IllegalOperation, 'Transaction numbers are only allowed on a replica set member or mongos');
  }
  const handler = Object.prototype.hasOwnProperty.call(HANDLERS, name) ? HANDLERS[name] : undefined;
  if (!handler) throw new MongoError(ErrorCodes.CommandNotFound, `no such command: '${name}'`);
  if (body.collation !== undefined && body.collation !== null) {
    throw new MongoError(ErrorCodes.NotImplemented, 'collation is not supported by the embedded store');
  }
  const cmd: Doc = { ...body };
  for (const f of GENERIC_FIELDS) if (f !== name) delete cmd[f];
  return handler(cmd, db, ctx);
}
