/**
 * Secondary indexes: a hash from the index key to the documents holding it. They answer
 * equality lookups and enforce uniqueness; range scans and sorts run over the matched set.
 */
import { canonicalKey, isNumeric, isPlainObject, setField, toNumber, toPlain, type Doc } from './bson-values.js';
import { ErrorCodes, MongoError } from './errors.js';
import { compileFilter, lookupValues, type Predicate } from './matcher.js';

export interface IndexSpec {
  v: number;
  key: Doc;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Doc;
  [option: string]: unknown;
}

const ALLOWED_OPTIONS = new Set([
  'key',
  'name',
  'unique',
  'sparse',
  'expireAfterSeconds',
  'partialFilterExpression',
  'background',
  'v',
  'collation',
  'hidden',
  'ns',
  'dropDups',
]);

/** MongoDB's default index name: `a_1_b_-1`. */
export function defaultIndexName(key: Doc): string {
  return Object.keys(key)
    .map((k) => `${k}_${String(isNumeric(key[k]) ? toNumber(key[k]) : key[k])}`)
    .join('_');
}

export function validateIndexSpec(raw: unknown): IndexSpec {
  if (!isPlainObject(raw)) throw new MongoError(ErrorCodes.FailedToParse, 'index specification must be an object');
  if (!isPlainObject(raw.key) || Object.keys(raw.key).length === 0) {
    throw new MongoError(ErrorCodes.CannotCreateIndex, "The 'key' field of an index specification must be a non-empty object");
  }
  for (const opt of Object.keys(raw)) {
    if (!ALLOWED_OPTIONS.has(opt)) {
      throw new MongoError(ErrorCodes.InvalidOptions, `The field '${opt}' is not valid for an index specification. Specification: ${JSON.stringify(toPlain(raw))}`);
    }
  }
  for (const [field, dir] of Object.entries(raw.key)) {
    const n = isNumeric(dir) ? toNumber(dir) : Number.NaN;
    if (dir === 'hashed') continue;
    if (typeof dir === 'string') {
      throw new MongoError(ErrorCodes.CannotCreateIndex, `Index type '${dir}' on field '${field}' is not supported by the embedded store`);
    }
    if (!(n === 1 || n === -1)) throw new MongoError(ErrorCodes.CannotCreateIndex, `Values in the index key pattern must be 1, -1 or 'hashed'; got ${String(dir)} for '${field}'`);
  }
  const name = typeof raw.name === 'string' && raw.name !== '' ? raw.name : defaultIndexName(raw.key);
  const spec: IndexSpec = { v: 2, key: raw.key, name };
  if (raw.unique === true || (isNumeric(raw.unique) && toNumber(raw.unique) !== 0)) spec.unique = true;
  if (raw.sparse === true) spec.sparse = true;
  if (raw.expireAfterSeconds !== undefined) {
    if (!isNumeric(raw.expireAfterSeconds) || toNumber(raw.expireAfterSeconds) < 0) {
      throw new MongoError(ErrorCodes.CannotCreateIndex, 'expireAfterSeconds must be a number >= 0');
    }
    spec.expireAfterSeconds = toNumber(raw.expireAfterSeconds);
  }
  if (raw.partialFilterExpression !== undefined) {
    if (!isPlainObject(raw.partialFilterExpression)) throw new MongoError(ErrorCodes.CannotCreateIndex, 'partialFilterExpression must be an object');
    compileFilter(raw.partialFilterExpression);
    spec.partialFilterExpression = raw.partialFilterExpression;
  }
  if (raw.hidden === true) spec.hidden = true;
  return spec;
}

/** The values an index sees at one path: array elements are indexed one by one (multikey). */
function indexValues(doc: Doc, parts: string[]): unknown[] {
  const out: unknown[] = [];
  for (const v of lookupValues(doc, parts)) {
    if (Array.isArray(v)) {
      if (v.length === 0) out.push(undefined);
      else for (const el of v) out.push(el);
    } else out.push(v);
  }
  return out.length === 0 ? [undefined] : out;
}

export class Index {
  readonly spec: IndexSpec;
  private readonly paths: string[][];
  private readonly partial?: Predicate;
  /** index key -> canonical _id keys of the documents that hold it */
  private readonly entries = new Map<string, Set<string>>();
  /** first-field key -> _id keys, kept for compound indexes only */
  private readonly byFirst = new Map<string, Set<string>>();

  constructor(spec: IndexSpec) {
    this.spec = spec;
    this.paths = Object.keys(spec.key).map((k) => k.split('.'));
    if (spec.partialFilterExpression) this.partial = compileFilter(spec.partialFilterExpression);
  }

  get fields(): string[] {
    return Object.keys(this.spec.key);
  }

  /** The index keys of a document; empty when sparse/partial leave it out. */
  keysOf(doc: Doc): string[] {
    if (this.partial && !this.partial(doc)) return [];
    const perField = this.paths.map((p) => indexValues(doc, p));
    if (this.spec.sparse && perField.every((vals) => vals.every((v) => v === undefined))) return [];
    let keys = [''];
    for (const vals of perField) {
      const next: string[] = [];
      const distinct = new Set(vals.map(canonicalKey));
      for (const prefix of keys) for (const k of distinct) next.push(prefix === '' ? k : prefix + '\u0001' + k);
      keys = next;
    }
    return [...new Set(keys)];
  }

  /** Documents whose first index field equals `value` (a prefix lookup for compound indexes). */
  lookupFirstField(value: unknown): Set<string> {
    const map = this.paths.length === 1 ? this.entries : this.byFirst;
    return map.get(canonicalKey(value)) ?? new Set();
  }

  private firstKeysOf(doc: Doc): string[] {
    if (this.partial && !this.partial(doc)) return [];
    return [...new Set(indexValues(doc, this.paths[0]!).map(canonicalKey))];
  }

  /** Throws the duplicate-key error MongoDB reports if `doc` would break uniqueness. */
  checkUnique(doc: Doc, idKey: string, ns: string): void {
    if (!this.spec.unique) return;
    for (const k of this.keysOf(doc)) {
      const holders = this.entries.get(k);
      if (holders && (holders.size > 1 || !holders.has(idKey))) throw this.duplicateError(doc, ns);
    }
  }

  duplicateError(doc: Doc, ns: string): MongoError {
    const keyValue: Doc = {};
    for (const [i, field] of this.fields.entries()) {
      const vals = indexValues(doc, this.paths[i]!);
      setField(keyValue, field, vals[0] === undefined ? null : vals[0]);
    }
    const shown = Object.entries(keyValue)
      .map(([k, v]) => `${k}: ${JSON.stringify(toPlain(v))}`)
      .join(', ');
    return new MongoError(ErrorCodes.DuplicateKey, `E11000 duplicate key error collection: ${ns} index: ${this.spec.name} dup key: { ${shown} }`, {
      keyPattern: this.spec.key,
      keyValue,
    });
  }

  add(doc: Doc, idKey: string): void {
    for (const k of this.keysOf(doc)) addEntry(this.entries, k, idKey);
    if (this.paths.length > 1) for (const k of this.firstKeysOf(doc)) addEntry(this.byFirst, k, idKey);
  }

  remove(doc: Doc, idKey: string): void {
    for (const k of this.keysOf(doc)) removeEntry(this.entries, k, idKey);
    if (this.paths.length > 1) for (const k of this.firstKeysOf(doc)) removeEntry(this.byFirst, k, idKey);
  }
}

function addEntry(map: Map<string, Set<string>>, key: string, idKey: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(idKey);
}

function removeEntry(map: Map<string, Set<string>>, key: string, idKey: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(idKey);
  if (set.size === 0) map.delete(key);
}
