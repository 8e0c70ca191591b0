/** Read commands: find, getMore, killCursors, count, distinct, aggregate. */
import { canonicalKey, fromMingo, isPlainObject, specToMingo, toMingo, type Doc } from '../bson-values.js';
import type { Collection } from '../collection.js';
import { ErrorCodes, MongoError } from '../errors.js';
import { compileFilter, lookupValues } from '../matcher.js';
import { compileProjection, compileSort } from '../sort-project.js';
import { storeAggregator } from '../mingo-field-names.js';
import { runNativePrefix } from '../native-stages.js';
import { isView, resolveView } from '../views.js';
import { collectionArg, cursorReply, optionalDoc, optionalNumber, type CommandContext, type Handler } from './context.js';

function checkHint(c: Collection | undefined, hint: unknown): void {
  if (hint === undefined || hint === null || !c) return;
  if (typeof hint === 'string') {
    if (hint === '_id_' || c.findIndex(hint)) return;
  } else if (isPlainObject(hint)) {
    const key = canonicalKey(hint);
    if (key === canonicalKey({ _id: 1 }) || Object.keys(hint).length === 0 || c.indexes.some((ix) => canonicalKey(ix.spec.key) === key) || '$natural' in hint) return;
  }
  throw new MongoError(ErrorCodes.BadValue, 'error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index');
}

interface SelectOptions {
  filter?: Doc;
  sort?: unknown;
  skip?: number;
  limit?: number;
  variables?: Doc;
}

/** Matching documents after sort, skip and limit: the shared core of find and count. */
export function selectDocuments(c: Collection | undefined, opts: SelectOptions): Doc[] {
  if (!c) {
    compileFilter(opts.filter);
    compileSort(opts.sort);
    return [];
  }
  return selectFrom(c.candidates(opts.filter), opts, () => c.metrics.scannedObjects++);
}

/** The filter / sort / skip / limit step over any candidate documents (a collection's or a view's). */
function selectFrom(candidates: Iterable<Doc>, opts: SelectOptions, scanned: () => void = () => undefined): Doc[] {
  const skip = opts.skip ?? 0;
  const limit = opts.limit && opts.limit !== 0 ? Math.abs(opts.limit) : Number.POSITIVE_INFINITY;
  if (skip < 0) throw new MongoError(ErrorCodes.BadValue, 'skip value must be non-negative');
  const cmp = compileSort(opts.sort);
  const pred = compileFilter(opts.filter, opts.variables);
  const out: Doc[] = [];
  if (!cmp) {
    // Without a sort the scan can stop as soon as skip + limit documents matched.
    for (const d of candidates) {
      scanned();
      if (!pred(d)) continue;
      out.push(d);
      if (out.length >= skip + limit) break;
    }
    return out.slice(skip);
  }
  for (const d of candidates) {
    scanned();
    if (pred(d)) out.push(d);
  }
  out.sort(cmp);
  return out.slice(skip, skip + limit);
}

/**
 * selectDocuments for a read command's namespace, which may be a view: a view's documents are
 * its pipeline's output, and the read's filter, sort, skip and limit apply to those (as MongoDB
 * turns a find or count on a view into an aggregation).
 */
function selectForRead(ctx: CommandContext, c: Collection | undefined, opts: SelectOptions): Doc[] {
  if (!c || !isView(c)) return selectDocuments(c, opts);
  const view = resolveView(ctx.storage, c);
  return selectFrom(aggregateCollection(ctx, c.db, view.source, view.pipeline, undefined), opts);
}

const find: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'find');
  const c = ctx.storage.get(db, name);
  checkHint(c, cmd.hint);
  const limit = optionalNumber(cmd, 'limit');
  if (limit !== undefined && limit < 0) throw new MongoError(ErrorCodes.BadValue, 'limit value must be non-negative');
  const batchSize = optionalNumber(cmd, 'batchSize');
  if (batchSize !== undefined && batchSize < 0) throw new MongoError(ErrorCodes.BadValue, 'batchSize value must be non-negative');
  const docs = selectForRead(ctx, c, {
    filter: optionalDoc(cmd, 'filter'),
    sort: optionalDoc(cmd, 'sort'),
    skip: optionalNumber(cmd, 'skip'),
    limit,
    variables: optionalDoc(cmd, 'let'),
  });
  const project = compileProjection(optionalDoc(cmd, 'projection'), optionalDoc(cmd, 'filter'));
  const shown = project ? docs.map(project) : docs;
  const batch = ctx.cursors.first(`${db}.${name}`, shown, batchSize, cmd.singleBatch === true);
  return cursorReply(batch.ns, batch.id, batch.docs, true);
};

const getMore: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'collection');
  const batch = ctx.cursors.next(cmd.getMore, `${db}.${name}`, optionalNumber(cmd, 'batchSize'));
  return cursorReply(batch.ns, batch.id, batch.docs, false);
};

const killCursors: Handler = (cmd, _db, ctx) => {
  collectionArg(cmd, 'killCursors');
  if (!Array.isArray(cmd.cursors)) throw new MongoError(ErrorCodes.FailedToParse, "killCursors needs a 'cursors' array");
  const { killed, notFound } = ctx.cursors.kill(cmd.cursors);
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
};

const count: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'count');
  const c = ctx.storage.get(db, name);
  checkHint(c, cmd.hint);
  const docs = selectForRead(ctx, c, {
    filter: optionalDoc(cmd, 'query'),
    skip: optionalNumber(cmd, 'skip'),
    limit: optionalNumber(cmd, 'limit'),
  });
  return { n: docs.length, ok: 1 };
};

const distinct: Handler = (cmd, db, ctx) => {
  const name = collectionArg(cmd, 'distinct');
  if (typeof cmd.key !== 'string') throw new MongoError(ErrorCodes.TypeMismatch, "distinct needs a string 'key'");
  const c = ctx.storage.get(db, name);
  const docs = selectForRead(ctx, c, { filter: optionalDoc(cmd, 'query') });
  const parts = cmd.key.split('.');
  const seen = new Map<string, unknown>();
  for (const d of docs) {
    for (const v of lookupValues(d, parts)) {
      for (const x of Array.isArray(v) ? v : [v]) {
        if (x === undefined) continue;
        const k = canonicalKey(x);
        if (!seen.has(k)) seen.set(k, x);
      }
    }
  }
  return { values: [...seen.values()], ok: 1 };
};

/** A pipeline over a collection's documents (none when it does not exist). */
function aggregateCollection(ctx: CommandContext, db: string, c: Collection | undefined, stages: Doc[], variables: Doc | undefined): Doc[] {
  const pipeline = [...stages];
  let source: Doc[];
  // A leading $match runs on the store's own matcher (BSON types, indexes) before mingo.
  const first = pipeline[0];
  if (first && isPlainObject(first.$match)) {
    source = selectDocuments(c, { filter: first.$match, variables });
    pipeline.shift();
  } else {
    source = c ? [...c.docs.values()] : [];
  }
  return runPipeline(ctx, db, source, pipeline, variables);
}

/** Runs `pipeline` over `source` with mingo; mingo's errors become MongoDB-style errors. */
function runPipeline(ctx: CommandContext, db: string, stored: Doc[], stages: Doc[], variables: Doc | undefined): Doc[] {
  // Leading filter / sort / page / field-pick stages run natively, so the documents they pass
  // on keep their BSON types (mingo would hand back a Long or Decimal128 as a lossy double).
  const { docs: source, rest: pipeline } = runNativePrefix(stored, stages, variables);
  if (pipeline.length === 0) return source;
  try {
    const agg = storeAggregator(specToMingo(pipeline) as Doc[], {
      // $lookup / $unionWith may name a view: it reads as the view's pipeline output.
      collectionResolver: (name: string) => {
        const c = ctx.storage.get(db, name);
        const docs = isView(c) ? selectForRead(ctx, c, {}) : [...(c?.docs.values() ?? [])];
        return docs.map((d) => toMingo(d) as Doc);
      },
      variables: toMingo(variables ?? {}) as Doc,
    });
    return fromMingo(agg.run(source.map((d) => toMingo(d) as Doc)) as Doc[]);
  } catch (err) {
    if (err instanceof MongoError) throw err;
    const msg = (err as Error).message;
    throw new MongoError(/operator|stage/i.test(msg) ? 40324 : ErrorCodes.BadValue, msg);
  }
}

const UNSUPPORTED_STAGES = new Set(['$out', '$merge', '$changeStream', '$collStats', '$indexStats', '$currentOp', '$listSessions', '$search', '$geoNear']);

const aggregate: Handler = (cmd, db, ctx) => {
  const target = cmd.aggregate;
  if (!Array.isArray(cmd.pipeline)) throw new MongoError(ErrorCodes.TypeMismatch, "'pipeline' option must be specified as an array");
  const cursorOpt = optionalDoc(cmd, 'cursor');
  if (!cursorOpt && cmd.explain !== true) throw new MongoError(ErrorCodes.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument");
  if (cmd.explain === true) throw new MongoError(ErrorCodes.NotImplemented, 'aggregate explain is not supported by the embedded store');
  const pipeline = [...(cmd.pipeline as Doc[])];
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) throw new MongoError(40323, 'A pipeline stage specification object must contain exactly one field.');
    const op = Object.keys(stage)[0]!;
    if (UNSUPPORTED_STAGES.has(op)) throw new MongoError(ErrorCodes.NotImplemented, `${op} is not supported by the embedded store`);
  }
  const variables = optionalDoc(cmd, 'let');
  let out: Doc[];
  let ns: string;
  if (typeof target === 'string') {
    let c = ctx.storage.get(db, target);
    checkHint(c, cmd.hint);
    ns = `${db}.${target}`;
    if (c && isView(c)) {
      // Aggregating a view runs the view's pipeline first, on the collection it is defined on.
      const view = resolveView(ctx.storage, c);
      c = view.source;
      pipeline.unshift(...view.pipeline);
    }
    out = aggregateCollection(ctx, db, c, pipeline, variables);
  } else if (target === 1 || (typeof target === 'object' && target !== null && Number(target.valueOf()) === 1)) {
    const first = pipeline[0];
    // $documents holds an array of documents.
    if (!first || !Array.isArray(first.$documents)) throw new MongoError(ErrorCodes.NotImplemented, 'aggregate: 1 is only supported with a leading $documents stage');
    pipeline.shift();
    out = runPipeline(ctx, db, first.$documents as unknown as Doc[], pipeline, variables);
    ns = `${db}.$cmd.aggregate`;
  } else {
    throw new MongoError(ErrorCodes.TypeMismatch, "'aggregate' must be a collection name or 1");
  }
  const batch = ctx.cursors.first(ns, out, optionalNumber(cursorOpt ?? {}, 'batchSize'));
  return cursorReply(batch.ns, batch.id, batch.docs, true);
};

/**
 * opsgate's own command: `{ opsgateSnapshotCursors: 1, collections: [names] }` opens a cursor
 * over each whole collection (by _id), all in this one command, so together they read one
 * point in time: the store runs one command at a time and never changes a stored document in
 * place. `npm run db -- export` reads them with getMore where MongoDB offers snapshot sessions.
 */
const opsgateSnapshotCursors: Handler = (cmd, db, ctx) => {
  const names = cmd.collections;
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) throw new MongoError(ErrorCodes.TypeMismatch, "'collections' must be an array of collection names");
  const cursors = (names as string[]).map((name) => {
    const c = ctx.storage.get(db, name);
    if (isView(c)) throw new MongoError(ErrorCodes.CommandNotSupportedOnView, `${name} is a view`);
    const batch = ctx.cursors.first(`${db}.${name}`, selectForRead(ctx, c, { sort: { _id: 1 } }), 1);
    return { name, id: batch.id, firstBatch: batch.docs };
  });
  return { cursors, ok: 1 };
};

export const readHandlers: Record<string, Handler> = { find, getMore, killCursors, count, distinct, aggregate, opsgateSnapshotCursors };

export type { CommandContext };
