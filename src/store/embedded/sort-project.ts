/** Sort specifications and find projections, with MongoDB's array and missing-field rules. */
import { compareValues, deepClone, fromMingo, getField, hasField, isNumeric, isPlainObject, setField, specToMingo, toMingo, toNumber, type Doc } from './bson-values.js';
import { badValue, MongoError } from './errors.js';
import { compileFilter, lookupValues, positionalIndex } from './matcher.js';
import { storeAggregator } from './mingo-field-names.js';

export type Comparator = (a: Doc, b: Doc) => number;

/** The value a document sorts by: the smallest (ascending) or largest (descending) array element. */
function sortKey(doc: Doc, parts: string[], dir: number): unknown {
  const flat: unknown[] = [];
  for (const v of lookupValues(doc, parts)) {
    if (Array.isArray(v)) {
      if (v.length === 0) flat.push(undefined);
      for (const el of v) flat.push(el);
    } else flat.push(v);
  }
  let best = flat[0];
  for (let i = 1; i < flat.length; i++) {
    const c = compareValues(flat[i], best);
    if ((dir > 0 && c < 0) || (dir < 0 && c > 0)) best = flat[i];
  }
  return best ?? null;
}

export function compileSort(spec: unknown): Comparator | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (!isPlainObject(spec)) throw badValue('sort must be an object');
  const keys = Object.keys(spec);
  if (keys.length === 0) return undefined;
  const fields = keys.map((k) => {
    const d = spec[k];
    if (isPlainObject(d)) throw new MongoError(17312, `$meta sort is not supported by the embedded store (field ${k})`);
    const dir = isNumeric(d) ? toNumber(d) : Number.NaN;
    if (dir !== 1 && dir !== -1) throw badValue(`bad sort specification for field ${k}: ${String(d)}`);
    return { parts: k.split('.'), dir, natural: k === '$natural' };
  });
  return (a, b) => {
    for (const f of fields) {
      if (f.natural) continue;
      const c = compareValues(sortKey(a, f.parts, f.dir), sortKey(b, f.parts, f.dir));
      if (c !== 0) return c * f.dir;
    }
    return 0;
  };
}

/** A projection's paths as a tree; null-prototype, so a field named `constructor` is looked up as data. */
type Tree = { [k: string]: Tree | true };

function newTree(): Tree {
  return Object.create(null) as Tree;
}

function addPath(tree: Tree, path: string): void {
  const parts = path.split('.');
  let node = tree;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]!];
    if (next === true) return;
    node = (node[parts[i]!] = next ?? newTree()) as Tree;
  }
  node[parts[parts.length - 1]!] = true;
}

function include(v: unknown, tree: Tree): unknown {
  if (Array.isArray(v)) return v.filter((el) => isPlainObject(el) || Array.isArray(el)).map((el) => include(el, tree));
  if (!isPlainObject(v)) return undefined;
  const out: Doc = {};
  for (const k of Object.keys(v)) {
    const t = tree[k];
    if (t === undefined) continue;
    if (t === true) setField(out, k, v[k]);
    else {
      const sub = include(v[k], t);
      if (sub !== undefined) setField(out, k, sub);
    }
  }
  return out;
}

function exclude(v: unknown, tree: Tree): unknown {
  if (Array.isArray(v)) return v.map((el) => (isPlainObject(el) || Array.isArray(el) ? exclude(el, tree) : el));
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) {
    const t = tree[k];
    if (t === true) continue;
    setField(out, k, t === undefined ? v[k] : exclude(v[k], t));
  }
  return out;
}

/** Adds computed fields to a projected document; sub-documents of both are merged. */
function mergeInto(out: Doc, add: Doc): void {
  for (const k of Object.keys(add)) {
    const cur = getField(out, k);
    const v = add[k];
    if (isPlainObject(cur) && isPlainObject(v)) {
      const copy = { ...cur };
      mergeInto(copy, v);
      setField(out, k, copy);
    } else {
      setField(out, k, v);
    }
  }
}

/** Sets a dotted path in a projected document, creating plain sub-documents on the way. */
function setPath(out: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = out;
  for (const k of parts.slice(0, -1)) {
    if (!isPlainObject(getField(node, k))) setField(node, k, {});
    node = getField(node, k) as Doc;
  }
  setField(node, parts[parts.length - 1]!, value);
}

function sliceArray(arr: unknown[], arg: unknown): unknown[] {
  if (isNumeric(arg)) {
    const n = toNumber(arg);
    return n >= 0 ? arr.slice(0, n) : arr.slice(Math.max(arr.length + n, 0));
  }
  if (Array.isArray(arg) && arg.length === 2 && isNumeric(arg[0]) && isNumeric(arg[1])) {
    const skip = toNumber(arg[0]);
    const limit = toNumber(arg[1]);
    if (limit <= 0) throw badValue('$slice limit must be positive');
    const start = skip >= 0 ? skip : Math.max(arr.length + skip, 0);
    return arr.slice(start, start + limit);
  }
  throw badValue('$slice only supports numbers and [skip, limit] arrays');
}

/**
 * Compiles a find projection; returns undefined for "whole document". `filter` is the query
 * the documents matched, which a positional projection (`'a.$': 1`) refers to.
 */
export function compileProjection(proj: unknown, filter?: Doc): ((doc: Doc) => Doc) | undefined {
  if (proj === undefined || proj === null) return undefined;
  if (!isPlainObject(proj)) throw badValue('projection must be an object');
  const keys = Object.keys(proj);
  if (keys.length === 0) return undefined;

  const incl = newTree();
  const excl = newTree();
  const post: Array<(src: Doc, out: Doc) => void> = [];
  let idMode: boolean | undefined;
  /** Fields computed by an expression (or a nested spec), evaluated by mingo. */
  const computed: Doc = {};
  let inclusion = false;
  let exclusion = false;
  const slicePaths: string[] = [];

  for (const k of keys) {
    const v = proj[k];
    const path = k.endsWith('.$') ? k.slice(0, -2) : k;
    if (k.endsWith('.$')) {
      // Only the first element of the array that satisfied the query is returned.
      post.push((src, out) => {
        const arr = lookupValues(src, path.split('.'))[0];
        if (!Array.isArray(arr)) return;
        const at = positionalIndex(src, path, filter);
        if (at < 0) {
          throw new MongoError(51246, "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array");
        }
        setPath(out, path, [arr[at]]);
      });
    }
    if (isPlainObject(v)) {
      if ('$slice' in v) {
        slicePaths.push(path);
        post.push((src, out) => {
          const arr = getField(src, path);
          if (Array.isArray(arr) && hasField(out, path)) setField(out, path, sliceArray(arr, v.$slice));
        });
        continue;
      }
      if ('$elemMatch' in v) {
        const p = compileFilter(v.$elemMatch as Doc);
        inclusion = true;
        post.push((src, out) => {
          const arr = getField(src, path);
          const hit = Array.isArray(arr) ? arr.find((el) => isPlainObject(el) && p(el)) : undefined;
          if (hit !== undefined) setField(out, path, [hit]);
          else delete out[path];
        });
        continue;
      }
      setField(computed, k, v);
      continue;
    }
    const on = isNumeric(v) ? toNumber(v) !== 0 : Boolean(v);
    if (k === '_id') {
      idMode = on;
      continue;
    }
    if (typeof v === 'string' && v.startsWith('$')) {
      setField(computed, k, v);
      continue;
    }
    if (on) {
      inclusion = true;
      addPath(incl, path);
    } else {
      exclusion = true;
      addPath(excl, path);
    }
  }
  if (inclusion && exclusion) {
    const field = keys.find((k) => k !== '_id' && !proj[k]) ?? '';
    throw new MongoError(31254, `Cannot do exclusion on field ${field} in inclusion projection`);
  }
  // A $slice in an inclusion projection also includes its field.
  if (inclusion) for (const p of slicePaths) addPath(incl, p);
  // Computed fields make it an inclusion projection. Only they go through mingo (which hands
  // numbers back as JS numbers); included fields keep their stored BSON values and order, and
  // computed fields follow them in the order the projection lists them.
  let compute: ((doc: Doc) => Doc) | undefined;
  if (Object.keys(computed).length > 0) {
    if (exclusion) throw new MongoError(31252, 'Cannot use an expression in an exclusion projection');
    inclusion = true;
    const agg = storeAggregator([{ $project: { _id: 0, ...(specToMingo(computed) as Doc) } }]);
    compute = (doc) => fromMingo((agg.run([toMingo(doc) as Doc])[0] ?? {}) as Doc);
  }
  return (doc) => {
    let out: Doc;
    if (inclusion) {
      out = include(doc, incl) as Doc;
      if (idMode !== false && doc._id !== undefined) out = { _id: doc._id, ...out };
      if (compute) mergeInto(out, compute(doc));
    } else {
      out = exclude(doc, excl) as Doc;
      if (idMode === false) delete out._id;
    }
    if (post.length > 0) {
      out = deepClone(out);
      for (const p of post) p(doc, out);
    }
    return out;
  };
}
