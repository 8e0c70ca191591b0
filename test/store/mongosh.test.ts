/**
 * mongosh — a real MongoDB client nobody here wrote — runs the `db.conf.insert(...)` lines of
 * seed 000 against the embedded store and reads them back with `db.conf.find()`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const seed = path.resolve(root, '..', 'shared', 'seeds', '000_da48e30d11a0456e.txt');
const mongosh = path.join(root, 'node_modules', '.bin', 'mongosh');
const seedPresent = fs.existsSync(seed);

if (!seedPresent) {
  process.stderr.write(`NOTICE: ${seed} not found; the mongosh seed test is skipped\n`);
}

describe('mongosh against the store', () => {
  let store: TestStore;
  let home: string;
  beforeAll(async () => {
    store = await startTestStore();
    // A private HOME and a global config that turns telemetry and update checks off: the test
    // must talk to nothing but loopback.
    home = tempDir('mongosh-home');
    fs.writeFileSync(path.join(home, 'mongosh.conf'), 'mongosh:\n  forceDisableTelemetry: true\n  updateURL: ""\n');
  });
  afterAll(() => store.stop());

  async function shell(script: string): Promise<string> {
    const file = path.join(home, 'script.js');
    fs.writeFileSync(file, script);
    const uri = store.dbUri;
    const { stdout } = await run(mongosh, [uri, '--quiet', '--norc', '--file', file], {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        MONGOSH_GLOBAL_CONFIG_FILE_FOR_TESTING: path.join(home, 'mongosh.conf'),
        MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING: '1',
        CI: '1',
      },
      timeout: 60_000,
    });
    return stdout;
  }

  it.runIf(seedPresent)("runs seed 000's db.conf.insert lines, then db.conf.find()", async () => {
    const inserts = fs
      .readFileSync(seed, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('db.conf.insert('));
    expect(inserts).toHaveLength(5);
    const out = await shell(
      [...inserts, 'db.conf.find({}, {_id: 0}).sort({prod_name: 1}).forEach((d) => print("ROW " + EJSON.stringify(d)));', 'print("COUNT " + db.conf.countDocuments());'].join('\n'),
    );
    const rows = out
      .split('\n')
      .filter((l) => l.startsWith('ROW '))
      .map((l) => JSON.parse(l.slice(4)) as { prod_name: string; init_sls: string; templates: string });
    expect(rows.map((r) => r.prod_name)).toEqual(['jm-haproxy', 'jm-lvs', 'jm-nginx', 'jm-php', 'jm-user']);
    expect(rows.every((r) => r.init_sls === '' && r.templates === '')).toBe(true);
    expect(out).toContain('COUNT 5');
  }, 90_000);

  it('sees shell-typed values with their BSON types', async () => {
    const out = await shell(
      [
        'db.types.insertOne({_id: 1, l: NumberLong("9007199254740993"), i: NumberInt(7), d: NumberDecimal("1.10"), f: 2.5});',
        'db.types.updateOne({_id: 1}, {$inc: {l: NumberLong(1)}});',
        'const d = db.types.findOne({_id: 1});',
        'print("TYPES " + [d.l.toString(), typeof d.i, d.d.toString(), d.f].join(" "));',
        'print("MATCH " + db.types.countDocuments({l: {$gt: NumberLong("9007199254740993")}}));',
      ].join('\n'),
    );
    expect(out).toContain('TYPES 9007199254740994 number 1.10 2.5');
    expect(out).toContain('MATCH 1');
  }, 90_000);
});
