/**
 * MongoDB query filters compiled to predicates over stored documents.
 *
 * Written here rather than delegated to mingo because the store keeps BSON numeric types
 * (Int32, Double, Long, Decimal128) that mingo compares as objects; `$expr` alone goes to
 * mingo, on a plain copy of the document.
 */
import { BSONRegExp } from 'bson';
import { Query } from 'mingo';
import {
  canonicalKey,
  compareValues,
  isNumeric,
  isPlainObject,
  toJsRegExp,
  toNumber,
  getField,
  setField,
  specToMingo,
  toMingo,
  typeAliasToNumbers,
  typeNumber,
  typeRank,
  valuesEqual,
  type Doc,
} from './bson-values.js';
import { badValue, ErrorCodes, MongoError } from './errors.js';

export type Predicate = (doc: Doc) => boolean;
type ValuePredicate = (values: unknown[]) => boolean;

/** Collects the values at a dotted path, fanning out across arrays met on the way. */
export function lookupValues(node: unknown, parts: string[], i = 0, out: unknown[] = []): unknown[] {
  if (i === parts.length) {
    out.push(node);
    return out;
  }
  const key = parts[i]!;
  if (Array.isArray(node)) {
    if (/^\d+$/.test(key)) {
      const idx = Number(key);
      if (idx < node.length) lookupValues(node[idx], parts, i + 1, out);
      else out.push(undefined);
      return out;
    }
    for (const el of node) {
      if (isPlainObject(el)) lookupValues(el, parts, i, out);
      else if (Array.isArray(el)) continue;
      else out.push(undefined);
    }
    if (node.length === 0) out.push(undefined);
    return out;
  }
  if (node !== null && typeof node === 'object' && isPlainObject(node)) {
    const v = getField(node, key);
    if (v === undefined) out.push(undefined);
    else lookupValues(v, parts, i + 1, out);
    return out;
  }
  out.push(undefined);
  return out;
}

function isRegex(v: unknown): boolean {
  return v instanceof RegExp || v instanceof BSONRegExp;
}

/** True when any value, or any element of an array value, satisfies `test`. */
function anyValue(values: unknown[], test: (v: unknown) => boolean): boolean {
  for (const v of values) {
    if (test(v)) return true;
    if (Array.isArray(v) && v.some(test)) return true;
  }
  return false;
}

function equalityTest(q: unknown): (v: unknown) => boolean {
  if (isRegex(q)) {
    const re = toJsRegExp(q);
    const key = canonicalKey(q);
    return (v) => (typeof v === 'string' ? re.test(v) : isRegex(v) && canonicalKey(v) === key);
  }
  if (q === null) return (v) => v === null || v === undefined;
  if (isNumeric(q) || typeof q === 'string' || typeof q === 'boolean') {
    const key = canonicalKey(q);
    const rank = typeRank(q);
    return (v) => typeRank(v) === rank && canonicalKey(v) === key;
  }
  return (v) => valuesEqual(v, q);
}

function isNaNValue(v: unknown): boolean {
  return isNumeric(v) && Number.isNaN(toNumber(v));
}

function comparisonTest(op: string, q: unknown): (v: unknown) => boolean {
  // As in MongoDB, NaN equals NaN ($gte / $lte match it) and every other comparison that
  // involves NaN is false, although NaN sorts below all numbers.
  if (isNaNValue(q)) return (v) => (op === '$gte' || op === '$lte') && isNaNValue(v);
  const rank = typeRank(q);
  const ok = (c: number): boolean =>
    op === '$gt' ? c > 0 : op === '$gte' ? c >= 0 : op === '$lt' ? c < 0 : c <= 0;
  return (v) => {
    if (typeRank(v) !== rank || isNaNValue(v)) return false;
    if (v === undefined && (op === '$gt' || op === '$lt')) return false;
    return ok(compareValues(v, q));
  };
}

function compileOperator(op: string, arg: unknown, ops: Doc): ValuePredicate {
  switch (op) {
    case '$eq': {
      const t = equalityTest(arg);
      return (vs) => anyValue(vs, t);
    }
    case '$ne': {
      const t = equalityTest(arg);
      return (vs) => !anyValue(vs, t);
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      if (isRegex(arg)) throw badValue(`${op} can't be a regex`);
      const t = comparisonTest(op, arg);
      return (vs) => anyValue(vs, t);
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(arg)) throw badValue(`${op} needs an array`);
      const tests = arg.map((q) => {
        if (isPlainObject(q) && Object.keys(q).some((k) => k.startsWith('$'))) {
          throw badValue(`cannot nest $ under ${op}`);
        }
        return equalityTest(q);
      });
      const inTest = (v: unknown): boolean => tests.some((t) => t(v));
      return op === '$in' ? (vs) => anyValue(vs, inTest) : (vs) => !anyValue(vs, inTest);
    }
    case '$exists': {
      const want = Boolean(isNumeric(arg) ? toNumber(arg) : arg);
      return (vs) => vs.some((v) => v !== undefined) === want;
    }
    case '$type': {
      const wanted = (Array.isArray(arg) ? arg : [arg]).flatMap((a) => {
        const nums = typeAliasToNumbers(a);
        if (!nums) throw badValue(`Unknown type name alias: ${String(a)}`);
        return nums;
      });
      const t = (v: unknown): boolean => v !== undefined && wanted.includes(typeNumber(v));
      return (vs) => anyValue(vs, t);
    }
    case '$size': {
      if (!isNumeric(arg)) throw badValue('$size needs a number');
      const n = toNumber(arg);
      if (!Number.isInteger(n)) throw badValue('$size must be a whole number');
      if (n < 0) throw badValue('$size may not be negative');
      return (vs) => vs.some((v) => Array.isArray(v) && v.length === n);
    }
    case '$all': {
      if (!Array.isArray(arg)) throw badValue('$all needs an array');
      if (arg.length === 0) return () => false;
      const parts = arg.map((q) =>
        isPlainObject(q) && '$elemMatch' in q ? compileOperator('$elemMatch', q.$elemMatch, q) : compileOperator('$eq', q, ops),
      );
      return (vs) => parts.every((p) => p(vs));
    }
    case '$elemMatch': {
      if (!isPlainObject(arg)) throw badValue('$elemMatch needs an Object');
      const keys = Object.keys(arg);
      const operatorForm = keys.length > 0 && keys.every((k) => k.startsWith('$') && !['$and', '$or', '$nor', '$expr'].includes(k));
      const elemTest: (el: unknown) => boolean = operatorForm
        ? ((): ((el: unknown) => boolean) => {
            const p = compileOperators(arg);
            return (el) => p([el]);
          })()
        : ((): ((el: unknown) => boolean) => {
            const p = compileFilter(arg);
            return (el) => isPlainObject(el) && p(el);
          })();
      return (vs) => vs.some((v) => Array.isArray(v) && v.some(elemTest));
    }
    case '$not': {
      if (isRegex(arg)) {
        const t = equalityTest(arg);
        return (vs) => !anyValue(vs, t);
      }
      if (!isPlainObject(arg) || Object.keys(arg).length === 0) throw badValue('$not needs a regex or a document');
      const inner = compileOperators(arg);
      return (vs) => !inner(vs);
    }
    case '$regex': {
      if (!isRegex(arg) && typeof arg !== 'string') throw badValue('$regex has to be a string');
      const options = typeof ops.$options === 'string' ? ops.$options : '';
      const re = isRegex(arg) ? toJsRegExp(arg, options) : toJsRegExp(new BSONRegExp(String(arg), ''), options);
      return (vs) => anyValue(vs, (v) => typeof v === 'string' && re.test(v));
    }
    case '$options':
      if (!('$regex' in ops)) throw badValue('$options needs a $regex');
      return () => true;
    case '$mod': {
      if (!Array.isArray(arg) || arg.length !== 2 || !isNumeric(arg[0]) || !isNumeric(arg[1])) {
        throw badValue('malformed mod, needs to be an array of two numbers');
      }
      const d = Math.trunc(toNumber(arg[0]));
      const r = Math.trunc(toNumber(arg[1]));
      if (d === 0) throw badValue('divisor cannot be 0');
      return (vs) => anyValue(vs, (v) => isNumeric(v) && Math.trunc(toNumber(v)) % d === r);
    }
    case '$comment':
      return () => true;
    default:
      throw new MongoError(ErrorCodes.BadValue, `unknown operator: ${op}`);
  }
}

/** An operator document such as `{ $gte: 1, $lt: 5 }` applied to the values at a path. */
function compileOperators(ops: Doc): ValuePredicate {
  const preds = Object.keys(ops).map((op) => compileOperator(op, ops[op], ops));
  return (vs) => preds.every((p) => p(vs));
}

function isOperatorDoc(v: unknown): v is Doc {
  if (!isPlainObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys[0]!.startsWith('$');
}

function compileField(path: string, cond: unknown): Predicate {
  const parts = path.split('.');
  const test: ValuePredicate = isOperatorDoc(cond) ? compileOperators(cond) : compileOperator('$eq', cond, {});
  return (doc) => test(lookupValues(doc, parts));
}

function compileLogical(op: string, arg: unknown): Predicate {
  if (!Array.isArray(arg) || arg.length === 0) throw badValue(`${op} argument must be a non-empty array`);
  const preds = arg.map((f) => {
    if (!isPlainObject(f)) throw badValue(`${op} argument's entries must be objects`);
    return compileFilter(f);
  });
  if (op === '$and') return (d) => preds.every((p) => p(d));
  if (op === '$or') return (d) => preds.some((p) => p(d));
  return (d) => !preds.some((p) => p(d));
}

function compileExpr(expr: unknown, variables: Doc | undefined): Predicate {
  const q = new Query({ $expr: specToMingo(expr) } as never, variables ? { variables: toMingo(variables) as Doc } : {});
  return (doc) => q.test(toMingo(doc) as Doc);
}

/** Compiles a filter document; throws BadValue for unknown or malformed operators. */
export function compileFilter(filter: Doc | undefined | null, variables?: Doc): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (!isPlainObject(filter)) throw badValue('filter must be an object');
  const preds: Predicate[] = [];
  for (const key of Object.keys(filter)) {
    const cond = filter[key];
    if (key.startsWith('$')) {
      switch (key) {
        case '$and':
        case '$or':
        case '$nor':
          preds.push(compileLogical(key, cond));
          break;
        case '$expr':
          preds.push(compileExpr(cond, variables));
          break;
        case '$comment':
          break;
        default:
          throw new MongoError(ErrorCodes.BadValue, `unknown top level operator: ${key}`);
      }
      continue;
    }
    preds.push(compileField(key, cond));
  }
  if (preds.length === 1) return preds[0]!;
  return (doc) => preds.every((p) => p(doc));
}

/**
 * What the positional `$` (in an update path or a find projection) refers to: the index of the
 * first element of the array at `arrayPath` that satisfies the filter's conditions on that
 * array (top-level and `$and` conditions), or -1 when none does or the filter has none.
 */
export function positionalIndex(doc: Doc, arrayPath: string, filter: Doc | undefined): number {
  const conds: Doc[] = [];
  const collect = (f: Doc): void => {
    for (const k of Object.keys(f)) {
      if (k === '$and' && Array.isArray(f.$and)) for (const sub of f.$and) if (isPlainObject(sub)) collect(sub);
      if (k === arrayPath || k.startsWith(arrayPath + '.')) conds.push({ [k]: f[k] });
    }
  };
  if (filter) collect(filter);
  const head = arrayPath.split('.');
  const arr = head.reduce<unknown>((n, k) => (isPlainObject(n) ? getField(n, k) : undefined), doc);
  if (conds.length === 0 || !Array.isArray(arr)) return -1;
  const pred = compileFilter(conds.length === 1 ? conds[0] : { $and: conds });
  for (let i = 0; i < arr.length; i++) {
    // The element alone, at the same path, in a one-element array: does it satisfy them?
    const probe: Doc = {};
    let n = probe;
    head.forEach((k, j) => {
      if (j === head.length - 1) setField(n, k, [arr[i]]);
      else {
        const child: Doc = {};
        setField(n, k, child);
        n = child;
      }
    });
    if (pred(probe)) return i;
  }
  return -1;
}

/**
 * Equality conditions on top-level paths that an index can answer:
 * `{ a: 5 }`, `{ a: { $eq: 5 } }`, `{ a: { $in: [...] } }`, also inside a top-level `$and`.
 */
export function equalityCandidates(filter: Doc | undefined | null): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  if (!filter || !isPlainObject(filter)) return out;
  for (const key of Object.keys(filter)) {
    const cond = filter[key];
    if (key === '$and' && Array.isArray(cond)) {
      for (const sub of cond) for (const [k, v] of equalityCandidates(sub as Doc)) if (!out.has(k)) out.set(k, v);
      continue;
    }
    if (key.startsWith('$')) continue;
    if (isOperatorDoc(cond)) {
      if ('$eq' in cond && isIndexable(cond.$eq)) out.set(key, [cond.$eq]);
      else if ('$in' in cond && Array.isArray(cond.$in) && cond.$in.every(isIndexable)) out.set(key, cond.$in);
    } else if (isIndexable(cond)) {
      out.set(key, [cond]);
    }
  }
  return out;
}

/** Values whose equality match is exactly "same canonical key" (no regex, null, array or document). */
function isIndexable(v: unknown): boolean {
  return v !== null && v !== undefined && !isRegex(v) && !Array.isArray(v) && !isPlainObject(v);
}
