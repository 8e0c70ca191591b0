/**
 * Read-only views (`create` with `viewOn` and `pipeline`), as MongoDB has them: a view is a
 * namespace with no documents of its own whose reads run its pipeline over the collection it
 * is defined on (through any number of views, up to MongoDB's depth limit), and which refuses
 * writes and indexes.
 *
 * A view is kept as a Collection whose options hold `viewOn` and `pipeline`, so it is journaled,
 * snapshotted, listed and dropped exactly like a collection without any change to the storage.
 */
import { isPlainObject, type Doc } from './bson-values.js';
import type { Collection } from './collection.js';
import { ErrorCodes, MongoError } from './errors.js';
import type { Storage } from './storage.js';

/** MongoDB refuses views nested deeper than this (ViewDepthLimitExceeded). */
export const MAX_VIEW_DEPTH = 20;

export function isView(c: Collection | undefined): boolean {
  return c !== undefined && typeof c.options.viewOn === 'string';
}

/** Writes and index builds on a view fail as they do in MongoDB (code 166). */
export function assertNotView(c: Collection | undefined): void {
  if (c && isView(c)) {
    throw new MongoError(ErrorCodes.CommandNotSupportedOnView, `Namespace ${c.ns} is a view, not a collection`);
  }
}

/** Checks the `viewOn` / `pipeline` options of a `create` command; returns the view options. */
export function viewOptions(cmd: Doc): Doc | undefined {
  if (cmd.viewOn === undefined) {
    if (cmd.pipeline !== undefined) throw new MongoError(ErrorCodes.BadValue, "'pipeline' requires 'viewOn' to also be specified");
    return undefined;
  }
  if (typeof cmd.viewOn !== 'string') {
    throw new MongoError(ErrorCodes.TypeMismatch, "BSON field 'create.viewOn' is the wrong type, expected type 'string'");
  }
  if (cmd.viewOn === '') throw new MongoError(ErrorCodes.BadValue, "'viewOn' cannot be empty");
  const pipeline = cmd.pipeline ?? [];
  if (!Array.isArray(pipeline) || !pipeline.every((s) => isPlainObject(s) && Object.keys(s).length === 1)) {
    throw new MongoError(ErrorCodes.TypeMismatch, "BSON field 'create.pipeline' must be an array of single-field stage documents");
  }
  for (const stage of pipeline as Doc[]) {
    const op = Object.keys(stage)[0]!;
    if (op === '$out' || op === '$merge') {
      throw new MongoError(ErrorCodes.OptionNotSupportedOnView, `${op} cannot be used in a view definition`);
    }
  }
  return { viewOn: cmd.viewOn, pipeline };
}

export interface ResolvedView {
  /** The collection at the bottom of the view chain (undefined when it does not exist yet). */
  source: Collection | undefined;
  /** Every view's pipeline, innermost first, concatenated. */
  pipeline: Doc[];
}

/** Follows `viewOn` down to a real collection, collecting the pipelines on the way. */
export function resolveView(storage: Storage, view: Collection): ResolvedView {
  let pipeline: Doc[] = [];
  let current: Collection | undefined = view;
  let depth = 0;
  while (current && isView(current)) {
    if (++depth > MAX_VIEW_DEPTH) {
      throw new MongoError(ErrorCodes.ViewDepthLimitExceeded, `View depth too deep or view cycle detected. Maximum depth is ${MAX_VIEW_DEPTH}`);
    }
    pipeline = [...((current.options.pipeline as Doc[] | undefined) ?? []), ...pipeline];
    current = storage.get(current.db, current.options.viewOn as string);
  }
  return { source: current, pipeline };
}
