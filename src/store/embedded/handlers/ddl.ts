/** Namespace and index commands: create, drop, dropDatabase, list*, createIndexes, dropIndexes. */
import { Binary, UUID } from 'bson';
import { canonicalKey, isPlainObject, type Doc } from '../bson-values.js';
import { ID_INDEX } from '../collection.js';
import { ErrorCodes, MongoError } from '../errors.js';
import { validateIndexSpec } from '../indexes.js';
import { compileFilter } from '../matcher.js';
import { validateCollectionName } from '../storage.js';
import { assertNotView, isView, viewOptions } from '../views.js';
import { collectionArg, cursorReply, optionalDoc, type Handler } from './context.js';

const SUPPORTED_CREATE_OPTIONS = new Set(['create', 'writeConcern', 'comment', 'idIndex', 'collation', 'viewOn', 'pipeline']);

const create: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'create');
  for (const k of Object.keys(cmd)) {
    if (!SUPPORTED_CREATE_OPTIONS.has(k)) throw new MongoError(ErrorCodes.NotImplemented, `create option '${k}' is not supported by the embedded store`);
  }
  validateCollectionName(name);
  // A view is a namespace whose options name its source and pipeline (see views.ts).
  ctx.storage.create(db, name, viewOptions(cmd) ?? {});
  await ctx.storage.commit();
  return { ok: 1 };
};

const drop: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'drop');
  const c = ctx.storage.get(db, name);
  const nIndexesWas = c ? c.indexes.length + 1 : 0;
  ctx.storage.drop(db, name);
  await ctx.storage.commit();
  return { nIndexesWas, ns: `${db}.${name}`, ok: 1 };
};

const dropDatabase: Handler = async (_cmd, db, ctx) => {
  ctx.storage.dropDatabase(db);
  await ctx.storage.commit();
  return { dropped: db, ok: 1 };
};

/** A stable UUID per namespace, as listCollections reports one. */
function uuidFor(ns: string): Binary {
  const hex = Buffer.from(ns).toString('hex').padEnd(32, '0').slice(0, 32);
  return new UUID(hex).toBinary();
}

const listCollections: Handler = (cmd, db, ctx) => {
  const filter = optionalDoc(cmd, 'filter');
  const pred = compileFilter(filter);
  const nameOnly = cmd.nameOnly === true;
  const infos: Doc[] = ctx.storage
    .collections(db)
    .map((c): Doc => {
      if (isView(c)) return nameOnly ? { name: c.name, type: 'view' } : { name: c.name, type: 'view', options: c.options, info: { readOnly: true } };
      return nameOnly
        ? { name: c.name, type: 'collection' }
        : { name: c.name, type: 'collection', options: c.options, info: { readOnly: false, uuid: uuidFor(c.ns) }, idIndex: ID_INDEX };
    })
    .filter((d) => pred(d));
  const batch = ctx.cursors.first(`${db}.$cmd.listCollections`, infos, undefined);
  return cursorReply(batch.ns, batch.id, batch.docs, true);
};

const listDatabases: Handler = (cmd, _db, ctx) => {
  const pred = compileFilter(optionalDoc(cmd, 'filter'));
  const dbs = ctx.storage
    .databaseNames()
    .map((name) => ({ name, sizeOnDisk: 0, empty: false }))
    .filter((d) => pred(d));
  if (cmd.nameOnly === true) return { databases: dbs.map((d) => ({ name: d.name })), ok: 1 };
  return { databases: dbs, totalSize: 0, totalSizeMb: 0, ok: 1 };
};

const createIndexes: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'createIndexes');
  if (!Array.isArray(cmd.indexes) || cmd.indexes.length === 0) {
    throw new MongoError(ErrorCodes.BadValue, "Must specify at least one index to create in 'indexes'");
  }
  const specs = cmd.indexes.map(validateIndexSpec);
  assertNotView(ctx.storage.get(db, name));
  const createdCollectionAutomatically = !ctx.storage.get(db, name);
  const c = ctx.storage.getOrCreate(db, name);
  const before = c.indexes.length + 1;
  for (const spec of specs) {
    if (spec.name === '_id_' || canonicalKey(spec.key) === canonicalKey({ _id: 1 })) continue;
    const sameName = c.findIndex(spec.name);
    const sameKey = c.indexes.find((ix) => canonicalKey(ix.spec.key) === canonicalKey(spec.key));
    if (sameName) {
      if (canonicalKey(sameName.spec.key) !== canonicalKey(spec.key)) {
        throw new MongoError(ErrorCodes.IndexKeySpecsConflict, `An existing index has the same name as the requested index but a different key. Requested index: ${spec.name}`);
      }
      if (Boolean(sameName.spec.unique) !== Boolean(spec.unique) || sameName.spec.expireAfterSeconds !== spec.expireAfterSeconds) {
        throw new MongoError(ErrorCodes.IndexOptionsConflict, `An equivalent index already exists with the same name but different options. Requested index: ${spec.name}`);
      }
      continue;
    }
    if (sameKey && canonicalKey(sameKey.spec.partialFilterExpression ?? null) === canonicalKey(spec.partialFilterExpression ?? null)) {
      throw new MongoError(ErrorCodes.IndexOptionsConflict, `Index already exists with a different name: ${sameKey.spec.name}`);
    }
    c.addIndex(spec);
  }
  await ctx.storage.commit();
  const after = c.indexes.length + 1;
  const reply: Doc = { numIndexesBefore: before, numIndexesAfter: after, createdCollectionAutomatically, ok: 1 };
  if (before === after) reply.note = 'all indexes already exist';
  return reply;
};

const listIndexes: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'listIndexes');
  const c = ctx.storage.get(db, name);
  if (!c) throw new MongoError(ErrorCodes.NamespaceNotFound, `ns does not exist: ${db}.${name}`);
  const specs: Doc[] = [ID_INDEX as unknown as Doc, ...c.indexes.map((ix) => ix.spec as unknown as Doc)];
  const batch = ctx.cursors.first(`${db}.${name}`, specs, optionalDoc(cmd, 'cursor')?.batchSize as number | undefined);
  return cursorReply(batch.ns, batch.id, batch.docs, true);
};

const dropIndexes: Handler = async (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'dropIndexes' in cmd ? 'dropIndexes' : 'deleteIndexes');
  const c = ctx.storage.get(db, name);
  if (!c) throw new MongoError(ErrorCodes.NamespaceNotFound, `ns not found ${db}.${name}`);
  const nIndexesWas = c.indexes.length + 1;
  const which = cmd.index;
  let names: string[];
  if (which === '*') names = c.indexes.map((ix) => ix.spec.name);
  else if (typeof which === 'string') names = [which];
  else if (Array.isArray(which)) names = which.map(String);
  else if (isPlainObject(which)) {
    const ix = c.indexes.find((i) => canonicalKey(i.spec.key) === canonicalKey(which));
    if (!ix) throw new MongoError(ErrorCodes.IndexNotFound, `can't find index with key: ${JSON.stringify(which)}`);
    names = [ix.spec.name];
  } else throw new MongoError(ErrorCodes.TypeMismatch, "'index' must be a name, an array of names, '*' or a key pattern");
  for (const n of names) {
    if (n === '_id_') throw new MongoError(ErrorCodes.InvalidOptions, 'cannot drop _id index');
    if (!c.findIndex(n)) throw new MongoError(ErrorCodes.IndexNotFound, `index not found with name [${n}]`);
  }
  for (const n of names) c.dropIndex(n);
  await ctx.storage.commit();
  return { nIndexesWas, ok: 1 };
};

const collStats: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'collStats');
  const c = ctx.storage.get(db, name);
  if (!c) throw new MongoError(ErrorCodes.NamespaceNotFound, `Collection [${db}.${name}] not found.`);
  return { ns: c.ns, count: c.docs.size, nindexes: c.indexes.length + 1, ok: 1 };
};

const dbStats: Handler = (_cmd, db, ctx) => {
  const colls = ctx.storage.collections(db);
  return {
    db,
    collections: colls.length,
    views: 0,
    objects: colls.reduce((n, c) => n + c.docs.size, 0),
    indexes: colls.reduce((n, c) => n + c.indexes.length + 1, 0),
    ok: 1,
  };
};

export const ddlHandlers: Record<string, Handler> = {
  create,
  drop,
  dropDatabase,
  listCollections,
  listDatabases,
  createIndexes,
  listIndexes,
  dropIndexes,
  deleteIndexes: dropIndexes,
  collStats,
  dbStats,
};
