/**
 * MongoDB's official CRUD conformance cases (unified test format), run through the real
 * `mongodb` driver against the embedded store, or against MONGODB_URI when it is set.
 *
 * The case files live OUTSIDE the project, in ../shared/mongo-spec/crud (they are MongoDB's,
 * under CC BY-NC-SA, and must not be copied in). Without that folder the suite registers one
 * visibly skipped test instead of passing silently.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Decimal128, Double, Int32, Long } from 'bson';
import { startTestStore } from '../helpers/store.js';
import { ConformanceReport, describeSpecFile, loadSpecFiles, matchProblem, probeServer, type KnownFailure } from '../helpers/unified-runner.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'mongo-spec', 'crud');

/**
 * Cases that fail against any server with this driver. mongodb 7.8 replaces a null _id with a
 * fresh ObjectId before sending an insert (lib/utils.js maybeAddIdToDocuments tests
 * `document._id == null`), so no server ever receives `_id: null` and the count that follows
 * finds nothing. Updates and replacements with upsert are not affected and pass.
 */
const NULL_ID_DRIVER: KnownFailure = {
  reason: 'driver: mongodb 7.8 replaces _id:null with an ObjectId on insert',
  error: /countDocuments result does not match: : expected 1, got 0/,
};
const knownFailures: Record<string, KnownFailure> = {
  'create-null-ids.json / inserting _id with type null via insertOne': NULL_ID_DRIVER,
  'create-null-ids.json / inserting _id with type null via insertMany': NULL_ID_DRIVER,
  'create-null-ids.json / inserting _id with type null via bulkWrite': NULL_ID_DRIVER,
};

// The runner's own matching rules ("Evaluating Matches"), so a lenient matcher cannot make the
// conformance cases pass vacuously.
describe('unified runner: matching rules', () => {
  const ok = (expected: unknown, actual: unknown, root = true): void => expect(matchProblem(expected, actual, '', root)).toBeUndefined();
  const bad = (expected: unknown, actual: unknown, root = true): void => expect(matchProblem(expected, actual, '', root)).toBeTypeOf('string');

  it('allows extra fields only in root-level documents', () => {
    ok({ x: new Int32(1) }, { x: 1, y: 1 });
    bad({ x: new Int32(1) }, { x: 1, y: 1 }, false);
    bad({ x: { y: new Int32(1) } }, { x: { y: 1, z: 1 } });
    bad({ x: new Int32(1), y: new Int32(1) }, { x: 1 });
    ok({ x: new Int32(1), y: new Int32(2) }, { y: 2, x: 1 });
  });

  it('compares int, long and double numerically but not Decimal128', () => {
    ok(new Int32(1), 1);
    ok(new Double(1), Long.fromNumber(1));
    ok(Long.fromString('9007199254740993'), Long.fromString('9007199254740993'));
    bad(Long.fromString('9007199254740993'), Long.fromString('9007199254740992'));
    bad(new Int32(1), 1.5);
    bad(Decimal128.fromString('1'), 1);
    bad(new Int32(1), '1');
  });

  it('requires arrays of the same length, element by element', () => {
    ok([new Int32(1), new Int32(2)], [1, 2]);
    bad([new Int32(1), new Int32(2)], [1, 2, 3]);
    bad([new Int32(1), new Int32(2)], [2, 1]);
  });

  it('implements $$exists, $$unsetOrMatches and $$type', () => {
    ok({ a: { $$exists: false } }, { b: 1 });
    bad({ a: { $$exists: false } }, { a: null });
    ok({ a: { $$exists: true } }, { a: null });
    ok({ a: { $$unsetOrMatches: new Int32(2) } }, {});
    ok({ a: { $$unsetOrMatches: new Int32(2) } }, { a: 2 });
    bad({ a: { $$unsetOrMatches: new Int32(2) } }, { a: 3 });
    ok({ a: { $$type: ['int', 'long'] } }, { a: Long.fromNumber(5) });
    bad({ a: { $$type: 'string' } }, { a: 5 });
    bad({ a: { $$type: 'string' } }, {});
    expect(() => matchProblem({ $$lte: 1 }, 1, '', true)).toThrow(/not implemented/);
  });
});

if (!fs.existsSync(casesDir)) {
  console.warn(`CRUD conformance: ${casesDir} not found — the conformance cases were NOT run`);
  describe('CRUD conformance', () => {
    it.skip('CRUD conformance: ../shared/mongo-spec not found — cases not run', () => undefined);
  });
} else {
  const files = loadSpecFiles(casesDir);
  // Requirements (server version, topology) are evaluated against what the server reports.
  const probe = await startTestStore();
  const server = await probeServer(probe.uri).finally(() => probe.stop());
  const report = new ConformanceReport();

  describe('CRUD conformance', () => {
    it(`found the case files in ${casesDir}`, () => {
      expect(files.length, `.json case files in ${casesDir}`).toBeGreaterThan(0);
    });

    for (const file of files) {
      // Each file gets its own server, so the database names in the files cannot collide.
      describeSpecFile(file, { startServer: () => startTestStore(), server, report, knownFailures });
    }

    afterAll(() => {
      console.log(report.summaryLines('CRUD conformance').join('\n'));
    });
  });
}
