/**
 * A small runner for MongoDB's "unified test format" (the driver specifications' shared test
 * format), enough for the CRUD conformance cases. It drives the real `mongodb` driver against
 * a server, so a case passes only if the server answers the way MongoDB does.
 *
 * Implemented: client / database / collection entities (uriOptions, observeEvents,
 * ignoreCommandMonitoringEvents, database and collection options), the CRUD collection
 * operations plus createCollection / dropCollection / runCommand on databases, `expectResult`
 * with the "Evaluating Matches" rules ($$exists, $$type, $$unsetOrMatches, $$matchesEntity,
 * $$matchesHexBytes; extra fields only in root-level documents; flexible numerics),
 * `expectError`, `expectEvents` for command monitoring events and `outcome`.
 *
 * Anything else a case asks for (unknown operations, entities, options or matcher operators)
 * makes that case FAIL with a message naming what is missing. The one assertion that may be
 * left out is an expectEvents entry for non-command events (CMAP / SDAM): the case still runs
 * and checks everything else, and the report lists it as partially checked. Cases are skipped
 * only for the reasons the spec allows (runOnRequirements not met, skipReason) and for server
 * fail points, which this runner does not implement; every skip is recorded with its reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { EJSON, type Document } from 'bson';
import {
  MongoClient,
  MongoError,
  MongoServerError,
  ReadPreference,
  type Collection,
  type CommandFailedEvent,
  type CommandStartedEvent,
  type CommandSucceededEvent,
  type Db,
  type MongoClientOptions,
} from 'mongodb';

/** The newest schema version this runner understands (same major version only). */
const SUPPORTED_SCHEMA = [1, 12];

type Doc = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Test file model

export interface RunOnRequirement {
  minServerVersion?: string;
  maxServerVersion?: string;
  topologies?: string[];
  serverless?: 'require' | 'forbid' | 'allow';
  serverParameters?: Doc;
  auth?: boolean;
  authMechanism?: string;
  csfle?: boolean;
}

interface Operation {
  name: string;
  object: string;
  arguments?: Doc;
  expectResult?: unknown;
  expectError?: Doc;
  saveResultAsEntity?: string;
  ignoreResultAndError?: boolean;
}

interface CollectionData {
  collectionName: string;
  databaseName: string;
  createOptions?: Doc;
  documents: Doc[];
}

interface ExpectedEventsForClient {
  client: string;
  eventType?: string;
  events: Doc[];
  ignoreExtraEvents?: boolean;
}

export interface SpecTest {
  description: string;
  runOnRequirements?: RunOnRequirement[];
  skipReason?: string;
  operations: Operation[];
  expectEvents?: ExpectedEventsForClient[];
  outcome?: CollectionData[];
}

export interface SpecFile {
  /** File name, e.g. `updateOne.json`. */
  file: string;
  description: string;
  schemaVersion: string;
  runOnRequirements?: RunOnRequirement[];
  createEntities?: Doc[];
  initialData?: CollectionData[];
  tests: SpecTest[];
}

/** Reads every `.json` case file of `dir` with an Extended JSON parser (canonical types kept). */
export function loadSpecFiles(dir: string): SpecFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      // relaxed:false keeps {$numberLong: "1"} a Long and plain integers Int32, as the spec requires.
      const parsed = EJSON.parse(text, { relaxed: false }) as Omit<SpecFile, 'file'>;
      return { file, ...parsed };
    });
}

// ---------------------------------------------------------------------------------------------
// Report

export interface SkippedCase {
  name: string;
  reason: string;
}

/** Per-case tally shared by every file of a conformance run. */
export class ConformanceReport {
  readonly passed: string[] = [];
  readonly failed: Array<{ name: string; error: string; known?: string }> = [];
  readonly skipped: SkippedCase[] = [];
  /** Cases that ran but had one assertion left out (named with the reason). */
  readonly partial: SkippedCase[] = [];

  summaryLines(title: string): string[] {
    const lines = [`${title}: ${this.passed.length} passed, ${this.failed.length} failed, ${this.skipped.length} skipped`];
    for (const s of this.skipped) lines.push(`  skipped: ${s.name} — ${s.reason}`);
    for (const p of this.partial) lines.push(`  partially checked: ${p.name} — ${p.reason}`);
    for (const f of this.failed) {
      if (f.known) lines.push(`  failed (known, ${f.known}): ${f.name} — ${f.error.split('\n')[0]}`);
      else lines.push(`  FAILED: ${f.name} — ${f.error.split('\n')[0]}`);
    }
    return lines;
  }
}

// ---------------------------------------------------------------------------------------------
// Server description and runOnRequirements

export interface ServerInfo {
  version: number[];
  versionString: string;
  topology: 'single' | 'replicaset' | 'sharded' | 'load-balanced';
  serverless: boolean;
  parameters: Doc;
}

/** Asks the server what it is, as the spec says the runner must before evaluating requirements. */
export async function probeServer(uri: string): Promise<ServerInfo> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
    const admin = client.db('admin');
    const build = await admin.command({ buildInfo: 1 });
    const hello = await admin.command({ hello: 1 });
    let parameters: Doc = {};
    try {
      parameters = await admin.command({ getParameter: '*' });
    } catch {
      // A server without getParameter simply fails every serverParameters requirement.
    }
    const topology = hello.msg === 'isdbgrid' ? 'sharded' : hello.setName ? 'replicaset' : 'single';
    return { version: parseVersion(String(build.version)), versionString: String(build.version), topology, serverless: false, parameters };
  } finally {
    await client.close();
  }
}

function parseVersion(v: string): number[] {
  const parts = v.split('-')[0]!.split('.').map((p) => Number.parseInt(p, 10) || 0);
  while (parts.length < 3) parts.push(0);
  return parts.slice(0, 3);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0) ? -1 : 1;
  return 0;
}

/** Why one requirement is not met by `info`, or undefined when it is. */
function unmetRequirement(req: RunOnRequirement, info: ServerInfo): string | undefined {
  if (req.minServerVersion && compareVersions(info.version, parseVersion(req.minServerVersion)) < 0) {
    return `needs server >= ${req.minServerVersion} (server is ${info.versionString})`;
  }
  if (req.maxServerVersion && compareVersions(info.version, parseVersion(req.maxServerVersion)) > 0) {
    return `needs server <= ${req.maxServerVersion} (server is ${info.versionString})`;
  }
  if (req.topologies) {
    // "sharded-replicaset" would need the shards inspected; only plain names are matched here.
    if (!req.topologies.includes(info.topology)) return `needs topology ${req.topologies.join('/')} (server is ${info.topology})`;
  }
  if (req.serverless === 'require' && !info.serverless) return 'needs a serverless deployment';
  if (req.serverless === 'forbid' && info.serverless) return 'cannot run on serverless';
  if (req.serverParameters) {
    for (const [k, v] of Object.entries(req.serverParameters)) {
      if (!(k in info.parameters) || matchProblem(v, info.parameters[k], k, false) !== undefined) {
        return `needs server parameter ${k}=${EJSON.stringify(v)}`;
      }
    }
  }
  if (req.auth === true) return 'needs authentication enabled';
  if (req.authMechanism) return `needs auth mechanism ${req.authMechanism}`;
  if (req.csfle === true) return 'needs client-side field level encryption';
  return undefined;
}

/** undefined when `reqs` is absent or any entry is met; otherwise the reasons none is. */
export function requirementsSkipReason(reqs: RunOnRequirement[] | undefined, info: ServerInfo): string | undefined {
  if (!reqs || reqs.length === 0) return undefined;
  const reasons: string[] = [];
  for (const r of reqs) {
    const why = unmetRequirement(r, info);
    if (why === undefined) return undefined;
    reasons.push(why);
  }
  return [...new Set(reasons)].join('; or ');
}

function schemaSupported(v: string): boolean {
  const [major, minor] = v.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return major === SUPPORTED_SCHEMA[0] && (minor ?? 0) <= SUPPORTED_SCHEMA[1]!;
}

/** Operations that configure server fail points, which this runner does not implement. */
const FAIL_POINT_OPERATIONS = new Set(['failPoint', 'targetedFailPoint']);

function staticSkipReason(file: SpecFile, test: SpecTest, info: ServerInfo): string | undefined {
  if (test.skipReason) return `skipReason in file: ${test.skipReason}`;
  const fileWhy = requirementsSkipReason(file.runOnRequirements, info);
  if (fileWhy) return fileWhy;
  const testWhy = requirementsSkipReason(test.runOnRequirements, info);
  if (testWhy) return testWhy;
  if (test.operations.some((op) => op.object === 'testRunner' && FAIL_POINT_OPERATIONS.has(op.name))) {
    return 'needs a server fail point (configureFailPoint), which the runner does not implement';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Matching ("Evaluating Matches" in the unified test format specification)

/** The BSON type tag of a bson value object, whichever copy of the bson package made it. */
function bsonType(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const t = (v as { _bsontype?: unknown })._bsontype;
  return typeof t === 'string' ? t : undefined;
}

function isDocument(v: unknown): v is Doc {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && bsonType(v) === undefined && !(v instanceof Date) && !(v instanceof RegExp) && !Buffer.isBuffer(v);
}

/** Numeric value for flexible comparisons (Decimal128 is excluded by the spec). */
function numericOf(v: unknown): { n: number; big?: bigint } | undefined {
  if (typeof v === 'number') return { n: v, big: Number.isSafeInteger(v) ? BigInt(v) : undefined };
  if (typeof v === 'bigint') return { n: Number(v), big: v };
  const t = bsonType(v);
  if (t === 'Int32' || t === 'Double') {
    const n = (v as { value: number }).value;
    return { n, big: Number.isSafeInteger(n) ? BigInt(n) : undefined };
  }
  if (t === 'Long') {
    const s = (v as { toString(): string }).toString();
    return { n: Number(s), big: BigInt(s) };
  }
  return undefined;
}

/**
 * The $type names a value has. A plain JS number came through the driver's default value
 * promotion, which erases int/long/double: an integral number may have been any of them.
 */
function typeNames(v: unknown): string[] {
  if (v === undefined) return [];
  if (v === null) return ['null'];
  if (typeof v === 'string') return ['string'];
  if (typeof v === 'boolean') return ['bool'];
  if (typeof v === 'bigint') return ['long'];
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return ['double'];
    return Math.abs(v) <= 0x7fffffff ? ['int', 'long', 'double'] : ['long', 'double'];
  }
  if (v instanceof Date) return ['date'];
  if (v instanceof RegExp) return ['regex'];
  if (Array.isArray(v)) return ['array'];
  switch (bsonType(v)) {
    case 'ObjectId':
      return ['objectId'];
    case 'Int32':
      return ['int'];
    case 'Double':
      return ['double'];
    case 'Long':
      return ['long'];
    case 'Decimal128':
      return ['decimal'];
    case 'Binary':
      return ['binData'];
    case 'BSONRegExp':
      return ['regex'];
    case 'Timestamp':
      return ['timestamp'];
    case 'Code':
      return (v as { scope?: unknown }).scope ? ['javascriptWithScope'] : ['javascript'];
    case 'BSONSymbol':
      return ['symbol'];
    case 'MinKey':
      return ['minKey'];
    case 'MaxKey':
      return ['maxKey'];
    default:
      return ['object'];
  }
}

function typeMatches(v: unknown, wanted: unknown): boolean {
  const names = typeNames(v);
  const list = (Array.isArray(wanted) ? wanted : [wanted]).map(String);
  return list.some((w) => (w === 'number' ? names.some((n) => ['int', 'long', 'double', 'decimal'].includes(n)) : names.includes(w)));
}

function show(v: unknown): string {
  try {
    return v === undefined ? 'undefined' : EJSON.stringify(v as Document, { relaxed: true });
  } catch {
    return String(v);
  }
}

function isSpecialOperator(v: unknown): v is Doc {
  if (!isDocument(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0]!.startsWith('$$');
}

/** Entities the $$matchesEntity operator can resolve; set per test. */
let currentEntities: Map<string, unknown> | undefined;

/**
 * Why `actual` does not match `expected`, or undefined when it does. `root` allows extra
 * fields in `actual` (root-level documents only, as the spec says).
 */
export function matchProblem(expected: unknown, actual: unknown, at: string, root: boolean): string | undefined {
  if (isSpecialOperator(expected)) return specialProblem(expected, actual, true, at, root);
  if (isDocument(expected)) {
    if (!isDocument(actual)) return `${at}: expected a document, got ${show(actual)}`;
    for (const key of Object.keys(expected)) {
      const ev = expected[key];
      const here = at ? `${at}.${key}` : key;
      const present = Object.prototype.hasOwnProperty.call(actual, key) && actual[key] !== undefined;
      if (isSpecialOperator(ev)) {
        const p = specialProblem(ev, actual[key], present, here, false);
        if (p) return p;
        continue;
      }
      if (!present) return `${here}: missing (expected ${show(ev)})`;
      const p = matchProblem(ev, actual[key], here, false);
      if (p) return p;
    }
    if (!root) {
      const extra = Object.keys(actual).filter((k) => actual[k] !== undefined && !(k in expected));
      if (extra.length > 0) return `${at || '(root)'}: unexpected field(s) ${extra.join(', ')} in ${show(actual)}`;
    }
    return undefined;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${at}: expected an array, got ${show(actual)}`;
    if (actual.length !== expected.length) return `${at}: expected ${expected.length} element(s), got ${actual.length}: ${show(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const p = matchProblem(expected[i], actual[i], `${at}[${i}]`, false);
      if (p) return p;
    }
    return undefined;
  }
  return scalarProblem(expected, actual, at);
}

function scalarProblem(expected: unknown, actual: unknown, at: string): string | undefined {
  const en = numericOf(expected);
  if (en) {
    const an = numericOf(actual);
    // Flexible numerics: int32, int64 and double are equal when their values are.
    const equal = an !== undefined && (en.big !== undefined && an.big !== undefined ? en.big === an.big : en.n === an.n || (Number.isNaN(en.n) && Number.isNaN(an.n)));
    return equal ? undefined : `${at}: expected ${show(expected)}, got ${show(actual)}`;
  }
  if (expected === null) return actual === null ? undefined : `${at}: expected null, got ${show(actual)}`;
  if (typeof expected !== 'object') {
    return expected === actual ? undefined : `${at}: expected ${show(expected)}, got ${show(actual)}`;
  }
  if (expected instanceof Date) {
    return actual instanceof Date && actual.getTime() === expected.getTime() ? undefined : `${at}: expected ${show(expected)}, got ${show(actual)}`;
  }
  // Every other BSON value: same type and the same canonical Extended JSON.
  const same = typeNames(actual).join() === typeNames(expected).join() && show(actual) === show(expected);
  return same ? undefined : `${at}: expected ${show(expected)}, got ${show(actual)}`;
}

function specialProblem(op: Doc, actual: unknown, present: boolean, at: string, root: boolean): string | undefined {
  const name = Object.keys(op)[0]!;
  const arg = op[name];
  switch (name) {
    case '$$exists':
      if (arg === true && !present) return `${at}: expected the field to exist`;
      if (arg === false && present) return `${at}: expected no such field, got ${show(actual)}`;
      return undefined;
    case '$$unsetOrMatches':
      if (!present) return undefined;
      return matchProblem(arg, actual, at, root);
    case '$$type':
      if (!present) return `${at}: missing (expected type ${show(arg)})`;
      return typeMatches(actual, arg) ? undefined : `${at}: expected type ${show(arg)}, got ${show(actual)} (${typeNames(actual).join('/')})`;
    case '$$matchesEntity': {
      const ent = currentEntities?.get(String(arg));
      if (ent === undefined) throw new Error(`$$matchesEntity: no entity named ${String(arg)}`);
      if (!present) return `${at}: missing (expected entity ${String(arg)})`;
      return matchProblem(ent, actual, at, root);
    }
    case '$$matchesHexBytes': {
      if (typeof arg !== 'string' || !/^([0-9a-f]{2})*$/i.test(arg)) throw new Error(`$$matchesHexBytes: malformed ${show(arg)}`);
      const hex = Buffer.isBuffer(actual) ? actual.toString('hex') : typeof actual === 'string' ? Buffer.from(actual).toString('hex') : undefined;
      return hex === arg.toLowerCase() ? undefined : `${at}: expected bytes ${arg}, got ${show(actual)}`;
    }
    default:
      throw new Error(`special operator ${name} is not implemented by this runner`);
  }
}

function assertMatches(expected: unknown, actual: unknown, what: string, root: boolean): void {
  const p = matchProblem(expected, actual, '', root);
  if (p !== undefined) throw new Error(`${what} does not match: ${p}\n  expected: ${show(expected)}\n  actual:   ${show(actual)}`);
}

/**
 * A driver result as a document: model objects (BulkWriteResult, InsertManyResult, ...) become
 * plain documents of their own enumerable fields, as "Converting Returned Model Objects to
 * Documents" asks.
 */
function toResultValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toResultValue);
  // The driver keeps a command's sort as a Map (key order matters); BSON writes it as a document.
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), toResultValue(x)]));
  if (v !== null && typeof v === 'object' && bsonType(v) === undefined && !(v instanceof Date) && !(v instanceof RegExp) && !Buffer.isBuffer(v)) {
    const out: Doc = {};
    for (const k of Object.keys(v)) out[k] = toResultValue((v as Doc)[k]);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Entities

interface ClientEntity {
  client: MongoClient;
  observed: Set<string>;
  ignored: Set<string>;
  events: Array<{ type: string; event: CommandStartedEvent | CommandSucceededEvent | CommandFailedEvent }>;
}

/** Commands whose monitoring events the spec tells runners to ignore (security, fail points). */
const ALWAYS_IGNORED = new Set([
  'configurefailpoint',
  'authenticate',
  'saslstart',
  'saslcontinue',
  'getnonce',
  'createuser',
  'updateuser',
  'copydbgetnonce',
  'copydbsaslstart',
  'copydb',
  'hello',
  'ismaster',
]);

function checkKeys(what: string, obj: Doc, allowed: string[]): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new Error(`${what}: ${unknown.join(', ')} not implemented by this runner`);
}

/** collectionOrDatabaseOptions in the driver's terms. */
function collectionOrDatabaseOptions(opts: Doc | undefined): Doc {
  if (!opts) return {};
  checkKeys('collection/database options', opts, ['readConcern', 'readPreference', 'writeConcern', 'timeoutMS']);
  const out: Doc = { ...opts };
  if (isDocument(opts.readPreference)) out.readPreference = readPreferenceOf(opts.readPreference);
  return out;
}

function readPreferenceOf(rp: Doc): ReadPreference {
  return new ReadPreference(String(rp.mode) as never, rp.tagSets as never, {
    maxStalenessSeconds: rp.maxStalenessSeconds as number | undefined,
    hedge: rp.hedge as never,
  });
}

class Entities {
  readonly map = new Map<string, unknown>();
  readonly clients = new Map<string, ClientEntity>();

  constructor(private readonly uri: string) {}

  async create(defs: Doc[]): Promise<void> {
    for (const def of defs) {
      const kinds = Object.keys(def);
      if (kinds.length !== 1) throw new Error(`entity definition must have exactly one key: ${show(def)}`);
      const kind = kinds[0]!;
      const spec = def[kind] as Doc;
      const id = String(spec.id);
      if (this.map.has(id)) throw new Error(`duplicate entity id ${id}`);
      switch (kind) {
        case 'client':
          this.map.set(id, await this.createClient(id, spec));
          break;
        case 'database': {
          checkKeys(`database ${id}`, spec, ['id', 'client', 'databaseName', 'databaseOptions']);
          const c = this.client(String(spec.client));
          this.map.set(id, c.client.db(String(spec.databaseName), collectionOrDatabaseOptions(spec.databaseOptions as Doc | undefined)));
          break;
        }
        case 'collection': {
          checkKeys(`collection ${id}`, spec, ['id', 'database', 'collectionName', 'collectionOptions']);
          const db = this.database(String(spec.database));
          this.map.set(id, db.collection(String(spec.collectionName), collectionOrDatabaseOptions(spec.collectionOptions as Doc | undefined)));
          break;
        }
        default:
          throw new Error(`entity type ${kind} is not implemented by this runner`);
      }
    }
  }

  private async createClient(id: string, spec: Doc): Promise<ClientEntity> {
    checkKeys(`client ${id}`, spec, ['id', 'uriOptions', 'useMultipleMongoses', 'observeEvents', 'ignoreCommandMonitoringEvents']);
    // Only command monitoring events are recorded; expectations of other kinds (CMAP, SDAM) are
    // left out by checkEvents and reported as a partial skip.
    const observed = new Set(((spec.observeEvents as string[] | undefined) ?? []).map(String));
    const ignored = new Set(((spec.ignoreCommandMonitoringEvents as string[] | undefined) ?? []).map((c) => c.toLowerCase()));
    // useMultipleMongoses only matters on sharded clusters, which the requirements exclude.
    const options: MongoClientOptions = {
      serverSelectionTimeoutMS: 10_000,
      ...((spec.uriOptions as MongoClientOptions | undefined) ?? {}),
      monitorCommands: observed.size > 0,
    };
    const client = new MongoClient(this.uri, options);
    const entity: ClientEntity = { client, observed, ignored, events: [] };
    const record = (type: string) => (event: CommandStartedEvent | CommandSucceededEvent | CommandFailedEvent): void => {
      const name = event.commandName.toLowerCase();
      if (ALWAYS_IGNORED.has(name) || ignored.has(name)) return;
      entity.events.push({ type, event });
    };
    if (observed.has('commandStartedEvent')) client.on('commandStarted', record('commandStartedEvent'));
    if (observed.has('commandSucceededEvent')) client.on('commandSucceeded', record('commandSucceededEvent'));
    if (observed.has('commandFailedEvent')) client.on('commandFailed', record('commandFailedEvent'));
    await client.connect();
    this.clients.set(id, entity);
    return entity;
  }

  get(id: string): unknown {
    if (!this.map.has(id)) throw new Error(`no entity named ${id}`);
    return this.map.get(id);
  }

  client(id: string): ClientEntity {
    const c = this.clients.get(id);
    if (!c) throw new Error(`entity ${id} is not a client`);
    return c;
  }

  database(id: string): Db {
    const d = this.get(id);
    if (!(d instanceof Object) || d.constructor?.name !== 'Db') throw new Error(`entity ${id} is not a database`);
    return d as Db;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.client.close().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// Operations

/** An Int32 / Double / small Long as the plain JS number the driver's option checks expect. */
function driverNumber(v: unknown): unknown {
  const n = numericOf(v);
  const t = bsonType(v);
  return n !== undefined && (t === 'Int32' || t === 'Double' || (t === 'Long' && Number.isSafeInteger(n.n))) ? n.n : v;
}

/** Splits `args` into the named positional parameters and the rest (the options object). */
function take(args: Doc, ...names: string[]): [unknown[], Doc] {
  const rest: Doc = { ...args };
  const values = names.map((n) => {
    const v = rest[n];
    delete rest[n];
    return v;
  });
  // Option values are the driver's, not documents for the server: the driver tests
  // `typeof limit === 'number'`, so an Int32 from the canonical parse would be ignored.
  // The same holds for sort directions, which the driver rewrites (an Int32 1 became `{}`).
  for (const k of Object.keys(rest)) rest[k] = driverNumber(rest[k]);
  if (isDocument(rest.sort)) rest.sort = Object.fromEntries(Object.entries(rest.sort).map(([k, v]) => [k, driverNumber(v)]));
  if (isDocument(rest.readPreference)) rest.readPreference = readPreferenceOf(rest.readPreference);
  if ('session' in rest) throw new Error('the session argument is not implemented by this runner');
  return [values, rest];
}

function required(op: Operation, v: unknown, name: string): unknown {
  if (v === undefined) throw new Error(`${op.name}: missing required argument ${name}`);
  return v;
}

/** Returns [result, whether array elements of the result are root-level documents]. */
async function runCollectionOperation(coll: Collection, op: Operation): Promise<[unknown, boolean]> {
  const args = op.arguments ?? {};
  switch (op.name) {
    case 'insertOne': {
      const [[doc], opts] = take(args, 'document');
      return [await coll.insertOne(required(op, doc, 'document') as Doc, opts), true];
    }
    case 'insertMany': {
      const [[docs], opts] = take(args, 'documents');
      return [await coll.insertMany(required(op, docs, 'documents') as Doc[], opts), true];
    }
    case 'find': {
      const [[filter], opts] = take(args, 'filter');
      return [await coll.find((filter ?? {}) as Doc, opts).toArray(), true];
    }
    case 'findOne': {
      const [[filter], opts] = take(args, 'filter');
      return [await coll.findOne((filter ?? {}) as Doc, opts), true];
    }
    case 'countDocuments': {
      const [[filter], opts] = take(args, 'filter');
      return [await coll.countDocuments((filter ?? {}) as Doc, opts), true];
    }
    case 'count': {
      const [[filter], opts] = take(args, 'filter');
      return [await coll.count((filter ?? {}) as Doc, opts), true];
    }
    case 'estimatedDocumentCount':
      return [await coll.estimatedDocumentCount(take(args)[1]), true];
    case 'distinct': {
      const [[key, filter], opts] = take(args, 'fieldName', 'filter');
      // distinct returns values, not root-level documents: no extra fields allowed in them.
      return [await coll.distinct(String(required(op, key, 'fieldName')), (filter ?? {}) as Doc, opts), false];
    }
    case 'aggregate': {
      const [[pipeline], opts] = take(args, 'pipeline');
      return [await coll.aggregate(required(op, pipeline, 'pipeline') as Doc[], opts).toArray(), true];
    }
    case 'updateOne':
    case 'updateMany': {
      const [[filter, update], opts] = take(args, 'filter', 'update');
      const f = required(op, filter, 'filter') as Doc;
      const u = required(op, update, 'update') as Doc;
      return [op.name === 'updateOne' ? await coll.updateOne(f, u, opts) : await coll.updateMany(f, u, opts), true];
    }
    case 'replaceOne': {
      const [[filter, replacement], opts] = take(args, 'filter', 'replacement');
      return [await coll.replaceOne(required(op, filter, 'filter') as Doc, required(op, replacement, 'replacement') as Doc, opts), true];
    }
    case 'deleteOne':
    case 'deleteMany': {
      const [[filter], opts] = take(args, 'filter');
      const f = required(op, filter, 'filter') as Doc;
      return [op.name === 'deleteOne' ? await coll.deleteOne(f, opts) : await coll.deleteMany(f, opts), true];
    }
    case 'findOneAndUpdate':
    case 'findOneAndReplace': {
      const second = op.name === 'findOneAndUpdate' ? 'update' : 'replacement';
      const [[filter, change], opts] = take(args, 'filter', second);
      // The spec spells ReturnDocument "Before" / "After"; the driver wants lower case.
      if (typeof opts.returnDocument === 'string') opts.returnDocument = opts.returnDocument.toLowerCase();
      const f = required(op, filter, 'filter') as Doc;
      const c = required(op, change, second) as Doc;
      return [op.name === 'findOneAndUpdate' ? await coll.findOneAndUpdate(f, c, opts) : await coll.findOneAndReplace(f, c, opts), true];
    }
    case 'findOneAndDelete': {
      const [[filter], opts] = take(args, 'filter');
      return [await coll.findOneAndDelete(required(op, filter, 'filter') as Doc, opts), true];
    }
    case 'bulkWrite': {
      const [[requests], opts] = take(args, 'requests');
      // The spec's write models have the driver's shape: { insertOne: { document } }, ...
      return [await coll.bulkWrite(required(op, requests, 'requests') as never, opts), true];
    }
    case 'drop':
      return [await coll.drop(take(args)[1]), true];
    default:
      throw new Error(`collection operation ${op.name} is not implemented by this runner`);
  }
}

async function runDatabaseOperation(db: Db, op: Operation): Promise<[unknown, boolean]> {
  const args = op.arguments ?? {};
  switch (op.name) {
    case 'createCollection': {
      const [[name], opts] = take(args, 'collection');
      await db.createCollection(String(required(op, name, 'collection')), opts);
      // The result is a driver Collection object, which has no document form to compare.
      return [undefined, true];
    }
    case 'dropCollection': {
      const [[name], opts] = take(args, 'collection');
      return [await db.dropCollection(String(required(op, name, 'collection')), opts), true];
    }
    case 'runCommand': {
      const [[command], opts] = take(args, 'command', 'commandName');
      return [await db.command(required(op, command, 'command') as Doc, opts), true];
    }
    case 'aggregate': {
      const [[pipeline], opts] = take(args, 'pipeline');
      return [await db.aggregate(required(op, pipeline, 'pipeline') as Doc[], opts).toArray(), true];
    }
    case 'listCollectionNames': {
      const [[filter], opts] = take(args, 'filter');
      return [(await db.listCollections((filter ?? {}) as Doc, { ...opts, nameOnly: true }).toArray()).map((c) => c.name), false];
    }
    default:
      throw new Error(`database operation ${op.name} is not implemented by this runner`);
  }
}

async function runOperation(entities: Entities, op: Operation): Promise<[unknown, boolean]> {
  if (op.object === 'testRunner') throw new Error(`special test operation ${op.name} is not implemented by this runner`);
  const target = entities.get(op.object);
  const kind = (target as object | undefined)?.constructor?.name;
  if (kind === 'Collection') return runCollectionOperation(target as Collection, op);
  if (kind === 'Db') return runDatabaseOperation(target as Db, op);
  throw new Error(`operations on ${op.object} (${kind ?? typeof target}) are not implemented by this runner`);
}

/** Whether an error came from the driver itself rather than from a server reply. */
function isClientError(err: unknown): boolean {
  return err instanceof MongoError && !(err instanceof MongoServerError);
}

function checkExpectedError(op: Operation, expected: Doc, err: unknown): void {
  checkKeys(`expectError of ${op.name}`, expected, [
    'isError',
    'isClientError',
    'errorContains',
    'errorCode',
    'errorCodeName',
    'errorLabelsContain',
    'errorLabelsOmit',
    'expectResult',
    'errorResponse',
  ]);
  const e = err as MongoError & { code?: unknown; codeName?: unknown; result?: unknown; errorResponse?: unknown };
  const label = `${op.name} error (${e?.constructor?.name}: ${e?.message})`;
  if (expected.isClientError !== undefined && isClientError(err) !== expected.isClientError) {
    throw new Error(`${label}: expected ${expected.isClientError ? 'a client' : 'a server'} error`);
  }
  if (typeof expected.errorContains === 'string' && !String(e?.message).toLowerCase().includes(expected.errorContains.toLowerCase())) {
    throw new Error(`${label}: message does not contain "${expected.errorContains}"`);
  }
  if (expected.errorCode !== undefined) {
    if (!(err instanceof MongoServerError)) throw new Error(`${label}: expected server error code ${show(expected.errorCode)}`);
    const p = matchProblem(expected.errorCode, e.code, 'code', false);
    if (p) throw new Error(`${label}: ${p}`);
  }
  if (expected.errorCodeName !== undefined) {
    if (!(err instanceof MongoServerError)) throw new Error(`${label}: expected server error ${String(expected.errorCodeName)}`);
    if (String(e.codeName).toLowerCase() !== String(expected.errorCodeName).toLowerCase()) {
      throw new Error(`${label}: expected codeName ${String(expected.errorCodeName)}, got ${String(e.codeName)}`);
    }
  }
  for (const l of (expected.errorLabelsContain as string[] | undefined) ?? []) {
    if (!(err instanceof MongoError) || !err.hasErrorLabel(l)) throw new Error(`${label}: missing error label ${l}`);
  }
  for (const l of (expected.errorLabelsOmit as string[] | undefined) ?? []) {
    if (err instanceof MongoError && err.hasErrorLabel(l)) throw new Error(`${label}: unexpected error label ${l}`);
  }
  if (expected.expectResult !== undefined) {
    if (e?.result === undefined) throw new Error(`${label}: expected the error to carry a result`);
    assertMatches(expected.expectResult, toResultValue(e.result), `${op.name} error result`, true);
  }
  if (expected.errorResponse !== undefined) {
    const response = err instanceof MongoServerError ? (e.errorResponse ?? toResultValue(err)) : undefined;
    assertMatches(expected.errorResponse, response, `${op.name} error response`, true);
  }
}

async function executeOperation(entities: Entities, op: Operation): Promise<void> {
  checkKeys(`operation ${op.name}`, op as unknown as Doc, ['name', 'object', 'arguments', 'expectResult', 'expectError', 'saveResultAsEntity', 'ignoreResultAndError']);
  let result: unknown;
  let rootArray = true;
  try {
    [result, rootArray] = await runOperation(entities, op);
  } catch (err) {
    if (op.ignoreResultAndError) return;
    if (op.expectError) {
      checkExpectedError(op, op.expectError, err);
      return;
    }
    throw err;
  }
  if (op.ignoreResultAndError) return;
  if (op.expectError) throw new Error(`${op.name} succeeded (${show(toResultValue(result))}) but an error was expected: ${show(op.expectError)}`);
  if (op.expectResult !== undefined) {
    const actual = toResultValue(result);
    if (Array.isArray(op.expectResult) && Array.isArray(actual)) {
      // Each element of a find/aggregate result is a root-level document; distinct values are not.
      if (actual.length !== op.expectResult.length) {
        throw new Error(`${op.name} result does not match: expected ${op.expectResult.length} element(s), got ${actual.length}\n  expected: ${show(op.expectResult)}\n  actual:   ${show(actual)}`);
      }
      op.expectResult.forEach((ev, i) => assertMatches(ev, actual[i], `${op.name} result[${i}]`, rootArray));
    } else {
      assertMatches(op.expectResult, actual, `${op.name} result`, true);
    }
  }
  if (op.saveResultAsEntity) {
    if (entities.map.has(op.saveResultAsEntity)) throw new Error(`duplicate entity id ${op.saveResultAsEntity}`);
    entities.map.set(op.saveResultAsEntity, toResultValue(result));
  }
}

/** Checks command monitoring expectations; returns what was left unchecked (other event kinds). */
function checkEvents(entities: Entities, expectations: ExpectedEventsForClient[]): string[] {
  const unchecked: string[] = [];
  for (const exp of expectations) {
    const eventType = exp.eventType ?? 'command';
    if (eventType !== 'command') {
      unchecked.push(`expectEvents of type "${eventType}" for ${exp.client} not checked (runner records command monitoring events only)`);
      continue;
    }
    const c = entities.client(exp.client);
    const actual = c.events;
    const tooFew = actual.length < exp.events.length;
    const tooMany = actual.length > exp.events.length && !exp.ignoreExtraEvents;
    const list = (): string => actual.map((a) => `${a.type}:${a.event.commandName}`).join(', ');
    if (tooFew || tooMany) throw new Error(`client ${exp.client}: expected ${exp.events.length} event(s), observed ${actual.length} [${list()}]`);
    exp.events.forEach((expected, i) => {
      const type = Object.keys(expected)[0]!;
      const want = expected[type] as Doc;
      const got = actual[i]!;
      const where = `event ${i} of client ${exp.client}`;
      if (got.type !== type) throw new Error(`${where}: expected ${type}, observed ${got.type} (${got.event.commandName}) [${list()}]`);
      checkKeys(where, want, ['command', 'reply', 'commandName', 'databaseName', 'hasServiceId', 'hasServerConnectionId']);
      if (want.commandName !== undefined && want.commandName !== got.event.commandName) {
        throw new Error(`${where}: expected command ${String(want.commandName)}, observed ${got.event.commandName}`);
      }
      if (want.databaseName !== undefined && want.databaseName !== (got.event as CommandStartedEvent).databaseName) {
        throw new Error(`${where}: expected database ${String(want.databaseName)}, observed ${(got.event as CommandStartedEvent).databaseName}`);
      }
      if (want.command !== undefined) assertMatches(want.command, toResultValue((got.event as CommandStartedEvent).command), `${where} command`, true);
      if (want.reply !== undefined) assertMatches(want.reply, toResultValue((got.event as CommandSucceededEvent).reply), `${where} reply`, true);
      if (want.hasServerConnectionId !== undefined && (got.event.serverConnectionId != null) !== want.hasServerConnectionId) {
        throw new Error(`${where}: hasServerConnectionId should be ${String(want.hasServerConnectionId)}`);
      }
      if (want.hasServiceId !== undefined && (got.event.serviceId != null) !== want.hasServiceId) {
        throw new Error(`${where}: hasServiceId should be ${String(want.hasServiceId)}`);
      }
    });
  }
  return unchecked;
}

// ---------------------------------------------------------------------------------------------
// Initial data and outcome, through an internal client

async function loadInitialData(internal: MongoClient, data: CollectionData[] | undefined): Promise<void> {
  const majority = { writeConcern: { w: 'majority' as const } };
  for (const cd of data ?? []) {
    const db = internal.db(cd.databaseName);
    try {
      await db.collection(cd.collectionName).drop(majority);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === 26)) throw err;
    }
    if (cd.documents.length > 0) await db.collection(cd.collectionName).insertMany(cd.documents, majority);
    else await db.createCollection(cd.collectionName, { ...majority, ...(cd.createOptions ?? {}) });
  }
}

async function checkOutcome(internal: MongoClient, outcome: CollectionData[]): Promise<void> {
  for (const cd of outcome) {
    const docs = await internal.db(cd.databaseName).collection(cd.collectionName).find({}, { sort: { _id: 1 } }).toArray();
    // Outcome documents must match exactly: no extra fields, even at the root.
    const what = `outcome of ${cd.databaseName}.${cd.collectionName}`;
    if (docs.length !== cd.documents.length) {
      throw new Error(`${what}: expected ${cd.documents.length} document(s), found ${docs.length}\n  expected: ${show(cd.documents)}\n  actual:   ${show(docs)}`);
    }
    cd.documents.forEach((d, i) => assertMatches(d, docs[i], `${what} [${i}]`, false));
  }
}

// ---------------------------------------------------------------------------------------------
// vitest registration

/**
 * A case known to fail for a reason outside the server under test (e.g. a driver behaviour),
 * keyed by `file / description`. Such a case still runs: its vitest test passes only if it
 * fails with an error matching `error` (and fails loudly once the case starts passing, so the
 * entry gets removed); the report counts it as failed and names the reason.
 */
export interface KnownFailure {
  reason: string;
  error: RegExp;
}

export interface RegisterOptions {
  /** Starts a server for one file; its uri is used for every client. */
  startServer: () => Promise<{ uri: string; stop: () => Promise<void> }>;
  server: ServerInfo;
  report: ConformanceReport;
  knownFailures?: Record<string, KnownFailure>;
}

/** Registers one `describe` for a case file and one `it` (or `it.skip`) per case. */
export function describeSpecFile(file: SpecFile, opts: RegisterOptions): void {
  const { report } = opts;
  describe(`${file.file}: ${file.description}`, () => {
    if (!schemaSupported(file.schemaVersion)) {
      // The spec requires an error for an incompatible file: every case in it fails.
      for (const test of file.tests) {
        const name = `${file.file} / ${test.description}`;
        it(test.description, () => {
          report.failed.push({ name, error: `schemaVersion ${file.schemaVersion} is not supported` });
          throw new Error(`${file.file}: schemaVersion ${file.schemaVersion} is newer than this runner supports (${SUPPORTED_SCHEMA.join('.')})`);
        });
      }
      return;
    }

    let server: { uri: string; stop: () => Promise<void> } | undefined;
    let internal: MongoClient | undefined;
    beforeAll(async () => {
      server = await opts.startServer();
      internal = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
      await internal.connect();
    });
    afterAll(async () => {
      await internal?.close();
      await server?.stop();
    });

    for (const test of file.tests) {
      const name = `${file.file} / ${test.description}`;
      const why = staticSkipReason(file, test, opts.server);
      if (why) {
        report.skipped.push({ name, reason: why });
        it.skip(`${test.description} [SKIPPED: ${why}]`, () => undefined);
        continue;
      }
      const known = opts.knownFailures?.[name];
      const title = known ? `${test.description} [KNOWN FAILURE: ${known.reason}]` : test.description;
      it(title, async () => {
        const entities = new Entities(server!.uri);
        try {
          checkKeys(`test ${test.description}`, test as unknown as Doc, ['description', 'runOnRequirements', 'skipReason', 'operations', 'expectEvents', 'outcome']);
          await loadInitialData(internal!, file.initialData);
          await entities.create(file.createEntities ?? []);
          currentEntities = entities.map;
          for (const op of test.operations) await executeOperation(entities, op);
          if (test.expectEvents) for (const reason of checkEvents(entities, test.expectEvents)) report.partial.push({ name, reason });
          if (test.outcome) await checkOutcome(internal!, test.outcome);
          // Every case must check something: a result, an error, events or the data afterwards.
          const checks = test.operations.filter((op) => op.expectResult !== undefined || op.expectError).length;
          if (checks === 0 && !test.outcome && !test.expectEvents) throw new Error('case asserts nothing');
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          if (known && known.error.test(message)) {
            report.failed.push({ name, error: message, known: known.reason });
            return;
          }
          report.failed.push({ name, error: message });
          throw err;
        } finally {
          currentEntities = undefined;
          await entities.close();
        }
        if (known) {
          report.failed.push({ name, error: 'listed as a known failure but passed' });
          throw new Error(`${name} is listed as a known failure (${known.reason}) but now passes: remove it from the list`);
        }
        report.passed.push(name);
      });
    }
  });
}
