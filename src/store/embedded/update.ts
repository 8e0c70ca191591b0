/**
 * MongoDB update documents: operators ($set, $inc on every numeric type including Long,
 * $push with modifiers, positional `$`, `$[]` and `$[id]` with arrayFilters, ...),
 * replacements, pipeline updates and the document an upsert inserts.
 */
import { Decimal128, Double, Int32, Long, serialize, Timestamp } from 'bson';
import {
  compareValues,
  deepClone,
  fromMingo,
  getField,
  hasField,
  isNumeric,
  isPlainObject,
  setField,
  specToMingo,
  toMingo,
  toNumber,
  toPlain,
  typeName,
  valuesEqual,
  type Doc,
} from './bson-values.js';
import { ErrorCodes, MongoError } from './errors.js';
import { compileFilter, positionalIndex, type Predicate } from './matcher.js';
import { storeAggregator } from './mingo-field-names.js';
import { compileSort } from './sort-project.js';

export interface UpdateContext {
  /** The filter that selected the document: resolves the positional `$` operator. */
  filter?: Doc;
  arrayFilters?: Doc[];
  /** True when the update builds a document being upserted ($setOnInsert applies). */
  isInsert?: boolean;
}

const OPERATORS = new Set([
  '$set',
  '$unset',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$rename',
  '$currentDate',
  '$setOnInsert',
  '$push',
  '$addToSet',
  '$pop',
  '$pull',
  '$pullAll',
  '$bit',
]);

function failedToParse(msg: string): MongoError {
  return new MongoError(ErrorCodes.FailedToParse, msg);
}

export function isPipelineUpdate(u: unknown): u is Doc[] {
  return Array.isArray(u);
}

/** An update document whose keys are all operators; otherwise it is a replacement. */
export function isOperatorUpdate(u: unknown): boolean {
  if (!isPlainObject(u)) return false;
  const keys = Object.keys(u);
  return keys.length > 0 && keys[0]!.startsWith('$');
}

// ---------------------------------------------------------------------------------------------
// Numeric arithmetic with MongoDB's type promotion: int32 < int64 < double < decimal.

type NumKind = 0 | 1 | 2 | 3;
function numKind(v: unknown): NumKind {
  if (v instanceof Decimal128) return 3;
  if (v instanceof Double) return 2;
  if (v instanceof Long || typeof v === 'bigint') return 1;
  if (v instanceof Int32) return 0;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 0 : 2;
  return 2;
}

function toBig(v: unknown): bigint {
  if (v instanceof Long) return BigInt(v.toString());
  if (typeof v === 'bigint') return v;
  return BigInt(Math.trunc(toNumber(v)));
}

function fromBigInt(n: bigint, kind: NumKind): unknown {
  if (kind === 0 && n >= -2147483648n && n <= 2147483647n) return new Int32(Number(n));
  if (n >= -(2n ** 63n) && n < 2n ** 63n) return Long.fromBigInt(n);
  return new Double(Number(n));
}

/**
 * A finite value as an exact decimal, coefficient × 10^exp; undefined for NaN and ±Infinity.
 * A double becomes decimal rounded to 15 significant digits, as MongoDB converts it
 * (0.5 becomes 0.500000000000000, so Decimal 1 + 0.5 is 1.500000000000000 there too).
 */
function decimalParts(v: unknown): { coef: bigint; exp: number } | undefined {
  let text: string;
  if (v instanceof Decimal128) text = v.toString();
  else if (numKind(v) <= 1) return { coef: toBig(v), exp: 0 };
  else text = toNumber(v).toPrecision(15);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  return { coef: BigInt(m[2]! + frac) * (m[1] ? -1n : 1n), exp: Number(m[4] ?? 0) - frac.length };
}

/**
 * Decimal128 arithmetic done exactly (0.1 + 0.2 is 0.3, as in MongoDB), with IEEE 754-2008's
 * exponent rules: a sum keeps the smaller exponent, a product adds them. Only NaN and the
 * infinities go through JS numbers.
 */
function decimalArith(a: unknown, b: unknown, op: '+' | '*'): Decimal128 {
  const x = decimalParts(a);
  const y = decimalParts(b);
  if (x && y) {
    let coef: bigint;
    let exp: number;
    if (op === '*') {
      coef = x.coef * y.coef;
      exp = x.exp + y.exp;
    } else {
      exp = Math.min(x.exp, y.exp);
      coef = x.coef * 10n ** BigInt(x.exp - exp) + y.coef * 10n ** BigInt(y.exp - exp);
    }
    try {
      // More than 34 digits are rounded (half to even), as Decimal128 arithmetic does.
      return Decimal128.fromStringWithRounding(`${coef}E${exp}`);
    } catch {
      // Exponent out of Decimal128's range: fall through to the approximate result.
    }
  }
  const r = op === '+' ? toNumber(a) + toNumber(b) : toNumber(a) * toNumber(b);
  return Decimal128.fromString(String(r));
}

function arith(a: unknown, b: unknown, op: '+' | '*'): unknown {
  const kind = Math.max(numKind(a), numKind(b)) as NumKind;
  if (kind === 3) return decimalArith(a, b, op);
  if (kind === 2) {
    const x = toNumber(a);
    const y = toNumber(b);
    return new Double(op === '+' ? x + y : x * y);
  }
  const r = op === '+' ? toBig(a) + toBig(b) : toBig(a) * toBig(b);
  return fromBigInt(r, kind);
}

function zeroLike(v: unknown): unknown {
  const k = numKind(v);
  return k === 3 ? Decimal128.fromString('0') : k === 2 ? new Double(0) : k === 1 ? Long.fromNumber(0) : new Int32(0);
}

// ---------------------------------------------------------------------------------------------
// Path traversal. A leaf action receives the container (object or array) and the key in it.

type Leaf = (parent: Doc | unknown[], key: string, path: string) => void;

interface Walk {
  arrayFilters: Map<string, Predicate>;
  createMissing: boolean;
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(toPlain(v));
  } catch {
    return String(v);
  }
}

function walk(node: Doc | unknown[], parts: string[], i: number, w: Walk, leaf: Leaf, path: string): void {
  const key = parts[i]!;
  const isLast = i === parts.length - 1;
  if (key === '$[]' || (key.startsWith('$[') && key.endsWith(']'))) {
    if (!Array.isArray(node)) {
      throw new MongoError(2, `Cannot apply array updates to non-array element ${parts[i - 1] ?? ''}: ${describe(node)}`);
    }
    const ident = key.slice(2, -1);
    const pred = ident === '' ? undefined : w.arrayFilters.get(ident);
    if (ident !== '' && !pred) {
      throw new MongoError(2, `No array filter found for identifier '${ident}' in path '${path}'`);
    }
    for (let idx = 0; idx < node.length; idx++) {
      if (pred && !pred({ [ident]: node[idx] })) continue;
      if (isLast) leaf(node, String(idx), path);
      else step(node, String(idx), parts, i, w, leaf, path);
    }
    return;
  }
  // Update paths do not fan out over arrays: below an array only a numeric index names
  // something. Creating a field there is an error in MongoDB; removing one is a no-op.
  if (Array.isArray(node) && !/^\d+$/.test(key)) {
    if (!w.createMissing) return;
    throw new MongoError(ErrorCodes.PathNotViable, `Cannot create field '${key}' in element {${parts[i - 1] ?? ''}: ${describe(node)}}`);
  }
  if (isLast) {
    leaf(node, key, path);
    return;
  }
  step(node, key, parts, i, w, leaf, path);
}

function step(node: Doc | unknown[], key: string, parts: string[], i: number, w: Walk, leaf: Leaf, path: string): void {
  // walk() has already refused non-numeric keys below arrays.
  let child = Array.isArray(node) ? node[Number(key)] : getField(node, key);
  if (child === undefined || child === null) {
    if (!w.createMissing) return;
    if (child === null && !Array.isArray(node)) {
      throw new MongoError(ErrorCodes.PathNotViable, `Cannot create field '${parts[i + 1]}' in element {${key}: null}`);
    }
    child = {};
    setIn(node, key, child);
  } else if (!isPlainObject(child) && !Array.isArray(child)) {
    if (!w.createMissing) return;
    throw new MongoError(ErrorCodes.PathNotViable, `Cannot create field '${parts[i + 1]}' in element {${key}: ${describe(child)}}`);
  }
  walk(child as Doc | unknown[], parts, i + 1, w, leaf, path);
}

function getIn(node: Doc | unknown[], key: string): unknown {
  return Array.isArray(node) ? node[Number(key)] : getField(node, key);
}

function setIn(node: Doc | unknown[], key: string, value: unknown): void {
  if (Array.isArray(node)) {
    const idx = Number(key);
    while (node.length < idx) node.push(null);
    node[idx] = value;
  } else {
    setField(node, key, value);
  }
}

function deleteIn(node: Doc | unknown[], key: string): void {
  if (Array.isArray(node)) {
    const idx = Number(key);
    if (idx < node.length) node[idx] = null;
  } else {
    delete node[key];
  }
}

// ---------------------------------------------------------------------------------------------

/** Resolves a positional `$` in `path` to the index of the first array element the filter matched. */
function resolvePositional(doc: Doc, path: string, filter: Doc | undefined): string {
  const parts = path.split('.');
  const at = parts.indexOf('$');
  if (at < 0) return path;
  const index = positionalIndex(doc, parts.slice(0, at).join('.'), filter);
  if (index < 0) throw new MongoError(2, 'The positional operator did not find the match needed from the query.');
  parts[at] = String(index);
  return parts.join('.');
}

function checkConflicts(paths: string[]): void {
  const sorted = [...paths].sort();
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (a === b || b.startsWith(a + '.')) {
      throw new MongoError(ErrorCodes.ConflictingUpdateOperators, `Updating the path '${b}' would create a conflict at '${a}'`);
    }
  }
}

function compileArrayFilters(arrayFilters: Doc[] | undefined): Map<string, Predicate> {
  const out = new Map<string, Predicate>();
  for (const f of arrayFilters ?? []) {
    if (!isPlainObject(f)) throw new MongoError(ErrorCodes.FailedToParse, 'arrayFilters entries must be objects');
    const idents = new Set(Object.keys(f).map((k) => k.split('.')[0]!));
    if (idents.size !== 1) throw new MongoError(ErrorCodes.FailedToParse, 'Each array filter must use a single top-level field name');
    const ident = [...idents][0]!;
    if (out.has(ident)) throw new MongoError(ErrorCodes.FailedToParse, `Found multiple array filters with the same top-level field name ${ident}`);
    out.set(ident, compileFilter(f));
  }
  return out;
}

function pullTest(cond: unknown): (el: unknown) => boolean {
  if (isPlainObject(cond)) {
    const keys = Object.keys(cond);
    if (keys.length > 0 && keys.every((k) => k.startsWith('$'))) {
      const p = compileFilter({ v: cond });
      return (el) => p({ v: el });
    }
    const p = compileFilter(cond);
    return (el) => isPlainObject(el) && p(el);
  }
  return (el) => valuesEqual(el, cond);
}

function applyOperator(doc: Doc, op: string, path: string, arg: unknown, w: Walk, ctx: UpdateContext): void {
  const parts = path.split('.');
  if (parts.some((p) => p === '')) throw new MongoError(56, `An empty update path is not valid: '${path}'`);
  const create = !['$unset', '$pop', '$pull', '$pullAll'].includes(op) && op !== '$rename';
  const walker: Walk = { ...w, createMissing: create };
  const run = (leaf: Leaf): void => walk(doc, parts, 0, walker, leaf, path);

  switch (op) {
    case '$set':
    case '$setOnInsert':
      if (op === '$setOnInsert' && !ctx.isInsert) return;
      run((parent, key) => setIn(parent, key, deepClone(arg)));
      return;
    case '$unset':
      run((parent, key) => deleteIn(parent, key));
      return;
    case '$inc':
    case '$mul':
      if (!isNumeric(arg)) {
        throw new MongoError(ErrorCodes.TypeMismatch, `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${describe(arg)}}`);
      }
      run((parent, key) => {
        const cur = getIn(parent, key);
        if (cur === undefined) {
          setIn(parent, key, op === '$inc' ? arg : zeroLike(arg));
          return;
        }
        if (!isNumeric(cur)) {
          throw new MongoError(
            ErrorCodes.TypeMismatch,
            `Cannot apply ${op} to a value of non-numeric type. {_id: ${describe(doc._id)}} has the field '${key}' of non-numeric type ${typeName(cur)}`,
          );
        }
        setIn(parent, key, arith(cur, arg, op === '$inc' ? '+' : '*'));
      });
      return;
    case '$min':
    case '$max':
      run((parent, key) => {
        const cur = getIn(parent, key);
        const c = compareValues(arg, cur);
        if (cur === undefined || (op === '$min' ? c < 0 : c > 0)) setIn(parent, key, deepClone(arg));
      });
      return;
    case '$currentDate':
      if (isPlainObject(arg)) {
        if (Object.keys(arg).length !== 1 || (arg.$type !== 'date' && arg.$type !== 'timestamp')) {
          throw new MongoError(ErrorCodes.BadValue, "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}");
        }
      } else if (typeof arg !== 'boolean') {
        throw new MongoError(
          ErrorCodes.BadValue,
          `${path} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`,
        );
      }
      run((parent, key) => {
        const wantTs = isPlainObject(arg) && arg.$type === 'timestamp';
        setIn(parent, key, wantTs ? new Timestamp({ t: Math.floor(Date.now() / 1000), i: 1 }) : new Date());
      });
      return;
    case '$rename': {
      if (typeof arg !== 'string' || arg === '') throw new MongoError(2, `The 'to' field for $rename must be a string: ${path}`);
      if (arg === path) throw new MongoError(2, `The source and target field for $rename must differ: ${path}: "${arg}"`);
      let moved: unknown;
      let found = false;
      run((parent, key) => {
        if (Array.isArray(parent)) throw new MongoError(2, `The source field cannot be an array element, '${path}' in doc with ${describe(parent)}`);
        if (hasField(parent, key)) {
          moved = parent[key];
          found = true;
          delete parent[key];
        }
      });
      if (found) walk(doc, arg.split('.'), 0, { ...w, createMissing: true }, (parent, key) => setIn(parent, key, moved), arg);
      return;
    }
    case '$push':
    case '$addToSet': {
      const isEach = isPlainObject(arg) && '$each' in arg;
      const mods = isEach ? (arg as Doc) : {};
      if (isEach && !Array.isArray(mods.$each)) throw new MongoError(2, `The argument to $each in ${op} must be an array but it was of type: ${describe(mods.$each)}`);
      for (const m of Object.keys(mods)) {
        if (!['$each', '$slice', '$sort', '$position'].includes(m) || (op === '$addToSet' && m !== '$each')) {
          throw new MongoError(2, `Unrecognized clause in ${op}: ${m}`);
        }
      }
      const items = (isEach ? (mods.$each as unknown[]) : [arg]).map(deepClone);
      run((parent, key) => {
        const cur = getIn(parent, key);
        if (cur !== undefined && !Array.isArray(cur)) {
          throw new MongoError(
            ErrorCodes.BadValue,
            `The field '${key}' must be an array but is of type ${typeName(cur)} in document {_id: ${describe(doc._id)}}`,
          );
        }
        const arr = cur === undefined ? [] : [...cur];
        if (op === '$addToSet') {
          for (const it of items) if (!arr.some((e) => valuesEqual(e, it))) arr.push(it);
        } else {
          let pos = arr.length;
          if (mods.$position !== undefined) {
            const p = toNumber(mods.$position);
            pos = p < 0 ? Math.max(arr.length + p, 0) : Math.min(p, arr.length);
          }
          arr.splice(pos, 0, ...items);
          if (mods.$sort !== undefined) {
            const s = mods.$sort;
            if (isPlainObject(s)) {
              const cmp = compileSort(s)!;
              arr.sort((x, y) => cmp(x as Doc, y as Doc));
            } else {
              const dir = toNumber(s);
              arr.sort((x, y) => compareValues(x, y) * dir);
            }
          }
          if (mods.$slice !== undefined) {
            const n = toNumber(mods.$slice);
            const sliced = n >= 0 ? arr.slice(0, n) : arr.slice(Math.max(arr.length + n, 0));
            arr.length = 0;
            for (const el of sliced) arr.push(el);
          }
        }
        setIn(parent, key, arr);
      });
      return;
    }
    case '$pop':
      if (!isNumeric(arg) || (toNumber(arg) !== 1 && toNumber(arg) !== -1)) {
        throw failedToParse(`$pop expects 1 or -1, found: ${describe(arg)}`);
      }
      run((parent, key) => {
        const cur = getIn(parent, key);
        if (cur === undefined) return;
        if (!Array.isArray(cur)) throw new MongoError(ErrorCodes.TypeMismatch, `Path '${path}' contains an element of non-array type '${typeName(cur)}'`);
        setIn(parent, key, toNumber(arg) < 0 ? cur.slice(1) : cur.slice(0, -1));
      });
      return;
    case '$pull':
    case '$pullAll': {
      if (op === '$pullAll' && !Array.isArray(arg)) throw new MongoError(2, `$pullAll requires an array argument but was given a ${typeof arg}`);
      const test = op === '$pull' ? pullTest(arg) : (el: unknown): boolean => (arg as unknown[]).some((a) => valuesEqual(el, a));
      run((parent, key) => {
        const cur = getIn(parent, key);
        if (cur === undefined) return;
        if (!Array.isArray(cur)) throw new MongoError(2, 'Cannot apply $pull to a non-array value');
        setIn(parent, key, cur.filter((el) => !test(el)));
      });
      return;
    }
    case '$bit':
      run((parent, key) => {
        if (!isPlainObject(arg)) throw new MongoError(2, '$bit needs an object');
        let cur = toBig(getIn(parent, key) ?? 0);
        for (const [k, v] of Object.entries(arg)) {
          const b = toBig(v);
          cur = k === 'and' ? cur & b : k === 'or' ? cur | b : k === 'xor' ? cur ^ b : (() => { throw new MongoError(2, `Unknown $bit operation: ${k}`); })();
        }
        setIn(parent, key, fromBigInt(cur, numKind(getIn(parent, key) ?? arg)));
      });
      return;
    default:
      throw failedToParse(`Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
  }
}

/** Checks that a replacement document holds no update operators. */
export function validateReplacement(doc: unknown): asserts doc is Doc {
  if (!isPlainObject(doc)) throw failedToParse('replacement document must be an object');
  for (const k of Object.keys(doc)) {
    if (k.startsWith('$')) throw new MongoError(ErrorCodes.DollarPrefixedFieldName, `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document.`);
  }
}

function applyPipeline(doc: Doc, pipeline: Doc[]): Doc {
  const allowed = ['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith'];
  for (const stage of pipeline) {
    const name = Object.keys(stage)[0] ?? '';
    if (!allowed.includes(name)) throw new MongoError(ErrorCodes.InvalidOptions, `${name} is not allowed to be used within an update`);
  }
  const out = fromMingo(storeAggregator(specToMingo(pipeline) as Doc[]).run([toMingo(doc) as Doc])[0]);
  return keepStoredNumbers(doc, out) as Doc;
}

/**
 * mingo ran the pipeline on a plain copy, where every Int32, Long, Double and Decimal128 is a
 * JS number. Where the result still holds the number a stored value became, the stored value
 * goes back: an update that sets one field must not turn the document's other Longs and
 * Decimal128s into lossy doubles (nor a Double 2.0 into an Int32), as MongoDB leaves them.
 */
function keepStoredNumbers(stored: unknown, computed: unknown): unknown {
  if (isPlainObject(computed)) {
    const src = isPlainObject(stored) ? stored : {};
    for (const k of Object.keys(computed)) setField(computed, k, keepStoredNumbers(getField(src, k), computed[k]));
    return computed;
  }
  if (Array.isArray(computed)) {
    const src = Array.isArray(stored) ? stored : [];
    return computed.map((v, i) => keepStoredNumbers(src[i], v));
  }
  return isNumeric(stored) && typeof computed === 'number' && toNumber(stored) === computed ? stored : computed;
}

/**
 * Applies an update to a copy of `doc` and returns the copy; `doc` itself is left untouched,
 * so a failure part-way leaves the stored document as it was.
 */
export function applyUpdate(doc: Doc, update: Doc | Doc[], ctx: UpdateContext = {}): Doc {
  if (isPipelineUpdate(update)) {
    const out = applyPipeline(doc, update);
    if (doc._id !== undefined) out._id = doc._id;
    return out;
  }
  if (!isOperatorUpdate(update)) {
    validateReplacement(update);
    const out: Doc = {};
    if (doc._id !== undefined) out._id = doc._id;
    for (const k of Object.keys(update)) if (k !== '_id' || doc._id === undefined) setField(out, k, deepClone(update[k]));
    if (update._id !== undefined && doc._id !== undefined && !valuesEqual(update._id, doc._id)) {
      throw new MongoError(ErrorCodes.ImmutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: " + describe(update._id));
    }
    return out;
  }
  const out = deepClone(doc);
  const w: Walk = { arrayFilters: compileArrayFilters(ctx.arrayFilters), createMissing: true };
  const allPaths: string[] = [];
  for (const op of Object.keys(update)) {
    if (!OPERATORS.has(op)) {
      throw failedToParse(`Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    const spec = update[op];
    if (!isPlainObject(spec)) throw failedToParse(`Modifiers operate on fields but we found type ${typeof spec} instead. For example: {$mod: {<field>: ...}} not {${op}: ${describe(spec)}}`);
    for (const rawPath of Object.keys(spec)) {
      const path = resolvePositional(out, rawPath, ctx.filter);
      allPaths.push(path);
      if (op === '$rename') allPaths.push(String(spec[rawPath]));
      applyOperator(out, op, path, spec[rawPath], w, ctx);
    }
  }
  checkConflicts(allPaths);
  if (doc._id !== undefined && !valuesEqual(out._id, doc._id)) {
    throw new MongoError(ErrorCodes.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
  return out;
}

/** The starting document of an upsert: the equality conditions of the filter. */
export function upsertSeed(filter: Doc | undefined): Doc {
  const out: Doc = {};
  const visit = (f: Doc): void => {
    for (const k of Object.keys(f)) {
      const v = f[k];
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isPlainObject(sub)) visit(sub);
        continue;
      }
      if (k.startsWith('$')) continue;
      let value: unknown;
      if (isPlainObject(v) && Object.keys(v)[0]?.startsWith('$')) {
        if (!('$eq' in v)) continue;
        value = v.$eq;
      } else {
        value = v;
      }
      walk(out, k.split('.'), 0, { arrayFilters: new Map(), createMissing: true }, (parent, key) => setIn(parent, key, deepClone(value)), k);
    }
  };
  if (filter) visit(filter);
  return out;
}

/** True when two documents differ in any byte of their BSON encoding. */
export function documentsDiffer(a: Doc, b: Doc): boolean {
  return Buffer.compare(serialize(a), serialize(b)) !== 0;
}

