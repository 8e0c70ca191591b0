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
import { startTestStore } from '../helpers/store.js';
import { ConformanceReport, describeSpecFile, loadSpecFiles, probeServer } from '../helpers/unified-runner.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'mongo-spec', 'crud');

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
      describeSpecFile(file, { startServer: () => startTestStore(), server, report });
    }

    afterAll(() => {
      console.log(report.summaryLines('CRUD conformance').join('\n'));
    });
  });
}
