/**
 * Write commands: insert, update, delete, findAndModify. Each runs synchronously against
 * memory (so every single-document write is atomic), then waits for the journal before the
 * reply acknowledges it.
 */
import { ObjectId } from 'bson';
import { isPlainObject, typeNumber, type Doc } from '../bson-values.js';
import type { Collection } from '../collection.js';
import { asMongoError, ErrorCodes, MongoError } from '../errors.js';
import { compileProjection } from '../sort-project.js';
import { applyUpdate, documentsDiffer, isOperatorUpdate, isPipelineUpdate, upsertSeed, validateReplacement } from '../update.js';
import { assertNotView } from '../views.js';
import { collectionArg, optionalDoc, type Handler } from './context.js';
import { selectDocuments } from './reads.js';

const MAX_BATCH = 100_000;

function batchOf(cmd: Doc, field: string): Doc[] {
  const v = cmd[field];
  if (!Array.isArray(v)) throw new MongoError(ErrorCodes.FailedToParse, `BSON field '${field}' is missing but a required field`);
  if (v.length === 0 || v.length > MAX_BATCH) {
    throw new MongoError(ErrorCodes.InvalidLength, `Write batch sizes must be between 1 and ${MAX_BATCH}. Got ${v.length} operations.`);
  }
  return v as Doc[];
}

/** The document with an _id, placed first as MongoDB stores it. */
function withId(doc: Doc, id?: unknown): Doc {
  if (doc._id !== undefined) {
    if (Object.keys(doc)[0] === '_id') return doc;
    const { _id, ...rest } = doc;
    return { _id, ...rest };
  }
  return { _id: id ?? new ObjectId(), ...doc };
}

function checkId(doc: Doc): void {
  const t = typeNumber(doc._id);
  if (t === 4) throw new MongoError(ErrorCodes.InvalidIdField, `The '_id' value cannot be of type array`);
  if (t === 11) throw new MongoError(ErrorCodes.InvalidIdField, `The '_id' value cannot be of type regex`);
  if (doc._id === undefined) throw new MongoError(ErrorCodes.InvalidIdField, "The '_id' value cannot be undefined");
}

interface WriteOutcome {
  n: number;
  errors: Doc[];
}

/** Runs each op, stopping at the first error when ordered; errors become writeErrors. */
function runBatch<T>(ops: T[], ordered: boolean, run: (op: T, index: number) => number): WriteOutcome {
  let n = 0;
  const errors: Doc[] = [];
  for (const [i, op] of ops.entries()) {
    try {
      n += run(op, i);
    } catch (err) {
      errors.push(asMongoError(err).toWriteError(i));
      if (ordered) break;
    }
  }
  return { n, errors };
}

function withErrors(reply: Doc, errors: Doc[]): Doc {
  if (errors.length > 0) reply.writeErrors = errors;
  return reply;
}

const insert: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'insert');
  assertNotView(ctx.storage.get(db, name)); // views are read-only
  const docs = batchOf(cmd, 'documents');
  const c = ctx.storage.getOrCreate(db, name);
  const { n, errors } = runBatch(docs, cmd.ordered !== false, (raw) => {
    if (!isPlainObject(raw)) throw new MongoError(ErrorCodes.TypeMismatch, 'a document to insert must be an object');
    const doc = withId(raw);
    checkId(doc);
    c.insert(doc);
    return 1;
  });
  await ctx.storage.commit();
  return withErrors({ n, ok: 1 }, errors);
};

interface UpdateResult {
  matched: number;
  modified: number;
  upsertedId?: unknown;
  before?: Doc;
  after?: Doc;
}

/** Inserts the document an upsert builds from the filter and the update. */
function upsert(c: Collection, filter: Doc, u: Doc | Doc[], arrayFilters: Doc[] | undefined): Doc {
  let doc: Doc;
  if (isPipelineUpdate(u) || isOperatorUpdate(u)) {
    doc = applyUpdate(upsertSeed(filter), u, { isInsert: true, filter, arrayFilters });
  } else {
    validateReplacement(u);
    const seed = upsertSeed(filter);
    doc = { ...u };
    if (doc._id === undefined && seed._id !== undefined) doc._id = seed._id;
  }
  doc = withId(doc);
  checkId(doc);
  c.insert(doc);
  return doc;
}

/** One update statement against matched documents; the unit shared by update and findAndModify. */
function updateDocs(c: Collection, matched: Doc[], q: Doc, u: Doc | Doc[], arrayFilters: Doc[] | undefined): UpdateResult {
  let modified = 0;
  let before: Doc | undefined;
  let after: Doc | undefined;
  for (const doc of matched) {
    const next = applyUpdate(doc, u, { filter: q, arrayFilters });
    before ??= doc;
    if (documentsDiffer(doc, next)) {
      c.replace(doc, next);
      modified++;
      after ??= next;
    } else {
      after ??= doc;
    }
  }
  return { matched: matched.length, modified, before, after };
}

function checkUpdateShape(u: unknown, multi: boolean): asserts u is Doc | Doc[] {
  if (isPipelineUpdate(u)) return;
  if (!isPlainObject(u)) throw new MongoError(ErrorCodes.FailedToParse, 'update must be an object or a pipeline');
  if (!isOperatorUpdate(u)) {
    if (multi) throw new MongoError(ErrorCodes.FailedToParse, 'multi update is not supported for replacement-style update');
    validateReplacement(u);
  }
}

const update: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'update');
  assertNotView(ctx.storage.get(db, name)); // views are read-only
  const stmts = batchOf(cmd, 'updates');
  const upserted: Doc[] = [];
  let nModified = 0;
  const { n, errors } = runBatch(stmts, cmd.ordered !== false, (stmt, index) => {
    const q = (stmt.q ?? {}) as Doc;
    if (!isPlainObject(q)) throw new MongoError(ErrorCodes.TypeMismatch, "BSON field 'q' must be an object");
    const multi = stmt.multi === true;
    checkUpdateShape(stmt.u, multi);
    const arrayFilters = stmt.arrayFilters as Doc[] | undefined;
    const existing = ctx.storage.get(db, name);
    const matched = selectDocuments(existing, { filter: q, limit: multi ? 0 : 1, variables: optionalDoc(cmd, 'let') });
    if (matched.length === 0 && stmt.upsert === true) {
      const doc = upsert(ctx.storage.getOrCreate(db, name), q, stmt.u, arrayFilters);
      upserted.push({ index, _id: doc._id });
      return 1;
    }
    if (matched.length === 0) return 0;
    const r = updateDocs(existing!, matched, q, stmt.u, arrayFilters);
    nModified += r.modified;
    return r.matched;
  });
  await ctx.storage.commit();
  const reply: Doc = { n, nModified, ok: 1 };
  if (upserted.length > 0) reply.upserted = upserted;
  return withErrors(reply, errors);
};

const del: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'delete');
  assertNotView(ctx.storage.get(db, name)); // views are read-only
  const stmts = batchOf(cmd, 'deletes');
  const c = ctx.storage.get(db, name);
  const { n, errors } = runBatch(stmts, cmd.ordered !== false, (stmt) => {
    const q = (stmt.q ?? {}) as Doc;
    if (!isPlainObject(q)) throw new MongoError(ErrorCodes.TypeMismatch, "BSON field 'q' must be an object");
    const limit = Number(stmt.limit ?? 0);
    if (limit !== 0 && limit !== 1) throw new MongoError(ErrorCodes.FailedToParse, `The limit field in delete objects must be 0 or 1. Got ${limit}`);
    const matched = selectDocuments(c, { filter: q, limit, variables: optionalDoc(cmd, 'let') });
    for (const d of matched) c!.remove(d);
    return matched.length;
  });
  await ctx.storage.commit();
  return withErrors({ n, ok: 1 }, errors);
};

const findAndModify: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'findAndModify' in cmd ? 'findAndModify' : 'findandmodify');
  assertNotView(ctx.storage.get(db, name)); // views are read-only
  const q = optionalDoc(cmd, 'query') ?? {};
  const remove = cmd.remove === true;
  const wantNew = cmd.new === true;
  const hasUpdate = cmd.update !== undefined && cmd.update !== null;
  if (remove && hasUpdate) throw new MongoError(ErrorCodes.FailedToParse, 'Cannot specify both an update and remove=true');
  if (!remove && !hasUpdate) throw new MongoError(ErrorCodes.FailedToParse, 'Either an update or remove=true must be specified');
  if (remove && cmd.upsert === true) throw new MongoError(ErrorCodes.FailedToParse, 'Cannot specify both upsert=true and remove=true');
  if (remove && wantNew) throw new MongoError(ErrorCodes.FailedToParse, 'Cannot specify both new=true and remove=true; \'remove\' always returns the deleted document');
  const project = compileProjection(optionalDoc(cmd, 'fields'), q);
  const shown = (d: Doc | undefined): Doc | null => (d ? (project ? project(d) : d) : null);

  const existing = ctx.storage.get(db, name);
  const matched = selectDocuments(existing, { filter: q, sort: optionalDoc(cmd, 'sort'), limit: 1, variables: optionalDoc(cmd, 'let') });
  let reply: Doc;
  if (remove) {
    if (matched[0]) existing!.remove(matched[0]);
    reply = { lastErrorObject: { n: matched.length }, value: shown(matched[0]), ok: 1 };
  } else {
    const u = cmd.update;
    checkUpdateShape(u, false);
    const arrayFilters = cmd.arrayFilters as Doc[] | undefined;
    if (matched.length === 0 && cmd.upsert === true) {
      const doc = upsert(ctx.storage.getOrCreate(db, name), q, u, arrayFilters);
      reply = {
        lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id },
        value: wantNew ? shown(doc) : null,
        ok: 1,
      };
    } else if (matched.length === 0) {
      reply = { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
    } else {
      const r = updateDocs(existing!, matched, q, u, arrayFilters);
      reply = { lastErrorObject: { n: 1, updatedExisting: true }, value: shown(wantNew ? r.after : r.before), ok: 1 };
    }
  }
  await ctx.storage.commit();
  return reply;
};

export const writeHandlers: Record<string, Handler> = {
  insert,
  update,
  delete: del,
  findAndModify,
  findandmodify: findAndModify,
};
