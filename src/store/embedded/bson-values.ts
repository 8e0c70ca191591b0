/**
 * How MongoDB sees values: type order, comparison, equality and a canonical key.
 *
 * Documents are held as `bson.deserialize(..., { promoteValues: false })` gives them, so an
 * Int32, a Double, a Long and a Decimal128 keep their BSON type on the way back out. Every
 * comparison in the store goes through this module so that 1 (int32), 1.0 (double) and
 * Long(1) are equal, and Long(10) > Long(9) numerically, as they are in MongoDB.
 */
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
} from 'bson';

export type Doc = Record<string, unknown>;

// Field names are data. A document may hold fields named `__proto__`, `constructor` or
// `prototype` (MongoDB stores them as any other), so the store never reads a field it did not
// check is the document's own, and never assigns `__proto__` (which would set the object's
// prototype, or through a path walk, Object.prototype itself and so every object of the process).

/** The document's own field `key`, or undefined: never a member of Object.prototype. */
export function getField(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as Doc)[key] : undefined;
}

export function hasField(obj: object, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Sets the own field `key`, `__proto__` included, as data. */
export function setField(obj: Doc, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

export function isPlainObject(v: unknown): v is Doc {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isNumeric(v: unknown): v is number | Int32 | Double | Long | Decimal128 {
  return (
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    v instanceof Int32 ||
    v instanceof Double ||
    v instanceof Long ||
    v instanceof Decimal128
  );
}

/** The numeric value as a JS number (Long beyond 2^53 loses precision; see compareNumbers). */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number.parseFloat(v.toString());
  return Number.NaN;
}

function compareNumbers(a: unknown, b: unknown): number {
  // Two Longs compare exactly, even past 2^53.
  if (a instanceof Long && b instanceof Long) return a.compare(b);
  const x = toNumber(a);
  const y = toNumber(b);
  if (Number.isNaN(x) || Number.isNaN(y)) {
    // MongoDB sorts NaN below every other number and equal to itself.
    if (Number.isNaN(x) && Number.isNaN(y)) return 0;
    return Number.isNaN(x) ? -1 : 1;
  }
  if (x === y && a instanceof Long !== b instanceof Long && (a instanceof Long || b instanceof Long)) {
    const big = a instanceof Long ? a : (b as Long);
    const other = a instanceof Long ? b : a;
    if (!Number.isSafeInteger(toNumber(big)) && Number.isInteger(toNumber(other))) {
      const diff = BigInt(big.toString()) - BigInt(toNumber(other));
      const sign = diff === 0n ? 0 : diff > 0n ? 1 : -1;
      return a instanceof Long ? sign : -sign;
    }
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The BSON type-bracket rank used for sorting and comparison across types. */
export function typeRank(v: unknown): number {
  if (v instanceof MinKey) return 1;
  if (v === undefined || v === null) return 2;
  if (isNumeric(v)) return 3;
  if (typeof v === 'string' || v instanceof BSONSymbol) return 4;
  if (Array.isArray(v)) return 6;
  if (v instanceof Binary) return 7;
  if (v instanceof ObjectId) return 8;
  if (typeof v === 'boolean') return 9;
  if (v instanceof Date) return 10;
  if (v instanceof Timestamp) return 11;
  if (v instanceof BSONRegExp || v instanceof RegExp) return 12;
  if (v instanceof MaxKey) return 14;
  if (v instanceof Code) return 13;
  return 5; // embedded document (also DBRef)
}

function compareStrings(a: string, b: string): number {
  // MongoDB compares strings by their UTF-8 bytes (simple binary collation).
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Total order over BSON values, as MongoDB sorts them. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 1:
    case 2:
    case 14:
      return 0;
    case 3:
      return compareNumbers(a, b);
    case 4:
      return compareStrings(String(a instanceof BSONSymbol ? a.valueOf() : a), String(b instanceof BSONSymbol ? b.valueOf() : b));
    case 5:
      return compareDocuments(a as Doc, b as Doc);
    case 6: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length === 0 ? 0 : x.length < y.length ? -1 : 1;
    }
    case 7: {
      const x = a as Binary;
      const y = b as Binary;
      if (x.position !== y.position) return x.position < y.position ? -1 : 1;
      if (x.sub_type !== y.sub_type) return x.sub_type < y.sub_type ? -1 : 1;
      return Buffer.compare(Buffer.from(x.buffer.subarray(0, x.position)), Buffer.from(y.buffer.subarray(0, y.position)));
    }
    case 8:
      return Buffer.compare(Buffer.from((a as ObjectId).id), Buffer.from((b as ObjectId).id));
    case 9:
      return a === b ? 0 : a ? 1 : -1;
    case 10: {
      const x = (a as Date).getTime();
      const y = (b as Date).getTime();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 11:
      return (a as Timestamp).compare(b as Timestamp);
    case 12: {
      const x = regexParts(a);
      const y = regexParts(b);
      return compareStrings(x.source + '/' + x.flags, y.source + '/' + y.flags);
    }
    default:
      return compareStrings(String(a), String(b));
  }
}

function compareDocuments(a: Doc, b: Doc): number {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const va = a[ka[i]!];
    const vb = b[kb[i]!];
    const t = typeRank(va) - typeRank(vb);
    if (t !== 0) return t < 0 ? -1 : 1;
    const k = compareStrings(ka[i]!, kb[i]!);
    if (k !== 0) return k;
    const c = compareValues(va, vb);
    if (c !== 0) return c;
  }
  return ka.length === kb.length ? 0 : ka.length < kb.length ? -1 : 1;
}

export function regexParts(v: unknown): { source: string; flags: string } {
  if (v instanceof RegExp) return { source: v.source, flags: v.flags };
  const r = v as BSONRegExp;
  return { source: r.pattern, flags: r.options };
}

export function toJsRegExp(v: unknown, extraOptions = ''): RegExp {
  const { source, flags } = regexParts(v);
  // JS understands i, m, s; MongoDB's x (extended) is emulated by stripping whitespace.
  let src = source;
  const all = flags + extraOptions;
  if (all.includes('x')) src = src.replace(/\\#/g, '\u0000').replace(/\s+|#.*$/gm, '').replace(/\u0000/g, '\\#');
  const jsFlags = [...new Set(all.split('').filter((f) => 'ims'.includes(f)))].join('');
  return new RegExp(src, jsFlags + 'u');
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return typeRank(a) === typeRank(b) && compareValues(a, b) === 0;
}

function numberKey(v: unknown): string {
  if (v instanceof Long) {
    const n = v.toNumber();
    return Number.isSafeInteger(n) ? String(n) : v.toString();
  }
  const n = toNumber(v);
  if (Object.is(n, -0)) return '0';
  return String(n);
}

/**
 * A string that is equal for two values exactly when MongoDB considers them equal:
 * the key of hash lookups by _id and of index entries.
 */
export function canonicalKey(v: unknown): string {
  if (v === undefined || v === null) return 'z';
  if (typeof v === 'string') return 's' + v;
  if (isNumeric(v)) return 'n' + numberKey(v);
  if (v instanceof ObjectId) return 'o' + v.toHexString();
  if (typeof v === 'boolean') return v ? 'b1' : 'b0';
  if (v instanceof Date) return 'd' + v.getTime();
  if (Array.isArray(v)) return 'A[' + v.map(canonicalKey).join(',') + ']';
  if (v instanceof Binary) return 'B' + v.sub_type + ':' + Buffer.from(v.buffer.subarray(0, v.position)).toString('base64');
  if (v instanceof Timestamp) return 't' + v.toString();
  if (v instanceof BSONRegExp || v instanceof RegExp) {
    const p = regexParts(v);
    return 'r/' + p.source + '/' + p.flags;
  }
  if (v instanceof MinKey) return '-';
  if (v instanceof MaxKey) return '+';
  if (v instanceof BSONSymbol) return 's' + v.valueOf();
  if (v instanceof DBRef) return 'O' + canonicalKey(v.toJSON());
  if (v instanceof Code) return 'c' + v.code;
  if (typeof v === 'object') {
    const o = v as Doc;
    return 'O{' + Object.keys(o).map((k) => JSON.stringify(k) + ':' + canonicalKey(o[k])).join(',') + '}';
  }
  return 'x' + String(v);
}

/** BSON type names and numbers, as `$type` accepts them. */
const TYPE_ALIASES: Record<string, number> = {
  double: 1,
  string: 2,
  object: 3,
  array: 4,
  binData: 5,
  undefined: 6,
  objectId: 7,
  bool: 8,
  date: 9,
  null: 10,
  regex: 11,
  dbPointer: 12,
  javascript: 13,
  symbol: 14,
  javascriptWithScope: 15,
  int: 16,
  timestamp: 17,
  long: 18,
  decimal: 19,
  minKey: -1,
  maxKey: 127,
};

export function typeNumber(v: unknown): number {
  if (v === null) return 10;
  if (v === undefined) return 6;
  if (typeof v === 'string') return 2;
  if (typeof v === 'boolean') return 8;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 16 : 1;
  if (typeof v === 'bigint') return 18;
  if (v instanceof Double) return 1;
  if (v instanceof Int32) return 16;
  if (v instanceof Long) return 18;
  if (v instanceof Decimal128) return 19;
  if (v instanceof ObjectId) return 7;
  if (v instanceof Date) return 9;
  if (Array.isArray(v)) return 4;
  if (v instanceof Binary) return 5;
  if (v instanceof BSONRegExp || v instanceof RegExp) return 11;
  if (v instanceof Timestamp) return 17;
  if (v instanceof MinKey) return -1;
  if (v instanceof MaxKey) return 127;
  if (v instanceof BSONSymbol) return 14;
  if (v instanceof Code) return v.scope ? 15 : 13;
  return 3;
}

/** MongoDB's name for a value's BSON type, as its error messages spell it ("int", "string", ...). */
export function typeName(v: unknown): string {
  const n = typeNumber(v);
  return Object.keys(TYPE_ALIASES).find((k) => TYPE_ALIASES[k] === n) ?? 'unknown';
}

export function typeAliasToNumbers(alias: unknown): number[] | undefined {
  if (alias === 'number') return [1, 16, 18, 19];
  if (typeof alias === 'string') return TYPE_ALIASES[alias] === undefined ? undefined : [TYPE_ALIASES[alias]!];
  if (isNumeric(alias)) return [toNumber(alias)];
  return undefined;
}

/** Copies plain objects and arrays; BSON value instances are immutable and shared. */
export function deepClone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepClone) as T;
  if (isPlainObject(v)) {
    const out: Doc = {};
    for (const k of Object.keys(v)) setField(out, k, deepClone(v[k]));
    return out as T;
  }
  return v;
}

/**
 * The value as plain JavaScript, for mingo (aggregation expressions): numeric wrappers become
 * numbers. ObjectId, Date, strings and documents are kept.
 */
export function toPlain(v: unknown): unknown {
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number.parseFloat(v.toString());
  if (Array.isArray(v)) return v.map(toPlain);
  if (isPlainObject(v)) {
    const out: Doc = {};
    for (const k of Object.keys(v)) setField(out, k, toPlain(v[k]));
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// mingo refuses `__proto__` in any path and decides what is an object by its `constructor`, so
// documents and pipelines are handed to it with those three field names escaped, and its
// results are unescaped on the way back. The escape is a noncharacter no client sends.

const ESCAPE = '\uFFFF';
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** A field name as mingo holds it (reserved names escaped). */
export function escapeName(k: string): string {
  return RESERVED.has(k) || k.startsWith(ESCAPE) ? ESCAPE + k : k;
}

/** A field name as mingo holds it, back to the client's. */
export function unescapeName(k: string): string {
  return k.startsWith(ESCAPE) ? k.slice(1) : k;
}

/** `a.__proto__.b` and `$a.__proto__` with each reserved segment escaped. */
function escapePath(p: string): string {
  if (!p.includes('__proto__') && !p.includes('constructor') && !p.includes('prototype') && !p.includes(ESCAPE)) return p;
  return p
    .split('.')
    .map((seg) => {
      const dollars = /^\$*/.exec(seg)![0];
      return dollars + escapeName(seg.slice(dollars.length));
    })
    .join('.');
}

/** A stored document (or value) as mingo gets it: plain JS numbers, reserved names escaped. */
export function toMingo(v: unknown): unknown {
  const plain = toPlain(v);
  const esc = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(esc);
    if (!isPlainObject(x)) return x;
    const out: Doc = {};
    for (const k of Object.keys(x)) out[escapeName(k)] = esc(x[k]);
    return out;
  };
  return esc(plain);
}

/** Stage options whose string value names a field without a leading `$`. */
const FIELD_NAME_OPTIONS = new Set(['localField', 'foreignField', 'as', 'connectFromField', 'connectToField', 'depthField', 'includeArrayIndex', '$unset', '$count']);

/** A pipeline or expression for mingo: field names in keys, `$field.path` strings and field-name options escaped. */
export function specToMingo(v: unknown): unknown {
  const plain = toPlain(v);
  const esc = (x: unknown, fieldNames = false): unknown => {
    if (typeof x === 'string') return x.startsWith('$') || fieldNames ? escapePath(x) : x;
    if (Array.isArray(x)) return x.map((el) => esc(el, fieldNames));
    if (!isPlainObject(x)) return x;
    const out: Doc = {};
    for (const k of Object.keys(x)) {
      const v = x[k];
      // `$getField: 'name'` and `{field: 'name'}` ($getField, $setField, $unsetField) name one field, dots and all.
      if ((k === '$getField' || k === 'field') && typeof v === 'string' && !v.startsWith('$')) out[k] = escapeName(v);
      else out[escapePath(k)] = esc(v, FIELD_NAME_OPTIONS.has(k));
    }
    return out;
  };
  return esc(plain);
}

/** mingo's result with the reserved names restored, as own data fields. */
export function fromMingo<T>(v: T): T {
  if (Array.isArray(v)) return v.map(fromMingo) as T;
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) setField(out, unescapeName(k), fromMingo(v[k]));
  return out as T;
}
