/**
 * Issue 10, "bad input, fuzzed": the catalog files and the directory's records. Whatever a file
 * holds (the example files mangled byte by byte, YAML of any shape, binary, bombs, 10,000
 * levels of nesting), loading it either succeeds or is refused with a coded 1100 naming the
 * file; never another kind of throw, and never a crash of the process.
 *
 * Found here: an alias bomb or an alias to no anchor in a catalog file threw a bare
 * ReferenceError out of the loader (uncoded); a 10,000-deep file overflowed the YAML composer's
 * stack, and a second such parse ended Node outright ("FATAL ERROR: RegExpCompiler Allocation
 * failed"), so two `/opsgate reload`s of such a file killed the bot (src/services/yaml-nesting.ts).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/services/catalog/load.js';
import { loadDirectory, validateDirectory } from '../../src/services/directory/source.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';
import { expectCodedRefusal, fuzzRuns, outcome, outcomeAsync } from './outcome.js';

const CATALOG_FILES = ['hosts.yaml', 'projects.yaml', 'products.yaml', 'access.yaml', 'tickets.yaml', 'modules.yaml'] as const;
const example = (file: string) => fs.readFileSync(path.join(exampleCatalog, file), 'utf8');

/** Characters that mean something to YAML, plus text that means something to us. */
const yamlPiece = fc.constantFrom(':', ': ', '-', '- ', '[', ']', '{', '}', ',', '&a ', '*a', '*b', '!!binary ', '!!str ', '!x ', '|', '>', "'", '"', '#', '%YAML 1.2\n', '---\n', '...\n', '? ', '<<: ', '@', '`', '\t', '\n', '\n  ', '\u0000', '\uFEFF', '\uD800', 'é', '\uD83D\uDE00', 'null', '~', 'true', '1e400', '0x1F', '-0', '.nan', '__proto__', 'constructor', 'hosts', 'name', 'extends', 'isTemplate', '{var}', '$(id)');

/** The text with a few random edits: deletions, insertions of YAML pieces, duplicated stretches. */
function mutated(text: string) {
  const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 12 }), insert: fc.oneof(yamlPiece, fc.string({ maxLength: 8 })), dup: fc.boolean() });
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let t = text;
    for (const e of edits) {
      const at = e.at % (t.length + 1);
      if (e.dup) t = t.slice(0, at) + t.slice(at, at + 40) + t.slice(at);
      else t = t.slice(0, at) + e.insert + t.slice(at + e.del);
    }
    return t;
  });
}

/** YAML of any shape: random JSON values written as YAML, under the file's key or bare, and raw soup. */
const anyYaml = (topKey: string) =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => YAML.stringify(v)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => YAML.stringify({ [topKey]: v })),
    fc.array(fc.dictionary(fc.constantFrom('name', 'address', 'port', 'hostKey', 'project', 'env', 'labels', 'hosts', 'prod_name', 'command', 'params', 'type', 'vars', 'options', 'approval'), fc.jsonValue({ maxDepth: 2 })), { maxLength: 4 }).map((items) => YAML.stringify({ [topKey]: items })),
    fc.array(fc.oneof(yamlPiece, fc.string({ maxLength: 6 })), { maxLength: 40 }).map((parts) => parts.join('')),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );

/** Named inputs that once broke YAML loaders (or would have). */
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepBlock = (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}- `).join('\n') + 'x\n';
const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]', 'f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]', ''].join('\n');
const NAMED: Array<[string, string | Buffer]> = [
  ['10,000 nested flow sequences', deep(10_000)],
  ['10,000 nested flow sequences again (the second one ended Node before)', deep(10_000)],
  ['10,000 nested flow maps', '{a: '.repeat(10_000) + '}'.repeat(10_000)],
  ['1,000 ever-deeper block sequences', deepBlock(1_000)],
  ['an alias bomb', bomb],
  ['an alias to no anchor', 'hosts:\n  - <<: *nowhere\n'],
  ['invalid UTF-8 bytes', Buffer.from([0x68, 0x6f, 0x73, 0x74, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0xed, 0xa0, 0x80])],
  ['a NUL byte', 'hosts: []\n\u0000\n'],
  ['1 MB of one scalar', `hosts: ${'x'.repeat(1024 * 1024)}\n`],
  ['a UTF-16 byte-order mark and BOM-encoded text', Buffer.from('\uFEFFhosts: []\n', 'utf16le')],
];

describe('catalog files, fuzzed', () => {
  const dirs = new Map<string, string>();
  beforeAll(() => {
    for (const f of CATALOG_FILES) {
      const dir = tempDir('fuzz-catalog');
      fs.cpSync(exampleCatalog, dir, { recursive: true });
      dirs.set(f, dir);
    }
  });
  afterAll(() => {
    for (const d of dirs.values()) fs.rmSync(d, { recursive: true, force: true });
  });

  /** Writes `text` as `file` of its own catalog copy and loads the whole catalog. */
  async function loadWith(file: string, text: string | Buffer) {
    const dir = dirs.get(file)!;
    fs.writeFileSync(path.join(dir, file), text);
    const r = await outcomeAsync(() => loadCatalog(dir, { env: {} }));
    if (!r.ok) {
      expectCodedRefusal(r.err, 2_000);
      // The refusal names the file it is about (or one the edit broke a reference to).
      expect(r.err.message).toMatch(/\.yaml|CATALOG_DIR|secret/);
    }
    return r;
  }

  for (const file of CATALOG_FILES) {
    it(`${file}: the example file mangled anyhow loads or is refused with 1100 (150 runs)`, async () => {
      await fc.assert(fc.asyncProperty(mutated(example(file)), (text) => loadWith(file, text).then(() => undefined)), fuzzRuns(150, 1000 + CATALOG_FILES.indexOf(file)));
    });

    it(`${file}: YAML of any shape loads or is refused with 1100 (100 runs)`, async () => {
      await fc.assert(fc.asyncProperty(anyYaml(file.replace('.yaml', '')), (text) => loadWith(file, text).then(() => undefined)), fuzzRuns(100, 2000 + CATALOG_FILES.indexOf(file)));
    });
  }

  it.each(NAMED)('%s in a catalog file is refused with 1100, naming the file', async (_name, text) => {
    const r = await loadWith('hosts.yaml', text);
    expect(r.ok).toBe(false);
  });

  it('the example catalog still loads unchanged afterwards', async () => {
    const c = await loadCatalog(exampleCatalog);
    expect(c.hosts.length).toBeGreaterThan(0);
    expect(c.tickets.length).toBeGreaterThan(0);
  });
});

/** Runs test/fixtures/load-twice.ts in a Node process of its own: its exit code and output lines. */
function loadTwiceInAProcess(kind: 'catalog' | 'directory', target: string): Promise<{ code: number | null; signal: string | null; lines: unknown[] }> {
  const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/load-twice.ts');
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', fixture, kind, target], { maxBuffer: 1 << 20 }, (_err, stdout) => {
      resolve({ code: child.exitCode, signal: child.signalCode, lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown) });
    });
  });
}

describe('a 10,000-deep file loaded twice in one process (as two reloads would)', () => {
  it('is refused twice with 1100 and the process lives on (before: Node died on the second)', async () => {
    const dir = tempDir('fuzz-deep');
    fs.cpSync(exampleCatalog, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'hosts.yaml'), deep(10_000));
    fs.writeFileSync(path.join(dir, 'people.yaml'), deep(10_000));
    const refused = [{ loaded: false, code: 1100 }, { loaded: false, code: 1100 }];
    expect(await loadTwiceInAProcess('catalog', dir)).toEqual({ code: 0, signal: null, lines: refused });
    expect(await loadTwiceInAProcess('directory', path.join(dir, 'people.yaml'))).toEqual({ code: 0, signal: null, lines: refused });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('directory records, fuzzed', () => {
  const record = fc.record(
    {
      id: fc.oneof(fc.constantFrom('erin', 'alice', 'bob', ''), fc.string({ maxLength: 10 })),
      name: fc.oneof(fc.string({ maxLength: 20 }), fc.jsonValue()),
      email: fc.oneof(fc.constantFrom('a@example.com', 'b@example.com', 'A@EXAMPLE.COM', 'not-an-email', ''), fc.emailAddress(), fc.jsonValue()),
      slackId: fc.oneof(fc.constantFrom('UALICE', 'W123', 'u1', ''), fc.string({ maxLength: 12 })),
      level: fc.oneof(fc.constantFrom('P1', 'P7', 'P10', 'P11', 'M4', 'M7', 'p7'), fc.string({ maxLength: 4 })),
      department: fc.oneof(fc.string(), fc.jsonValue()),
      manager: fc.oneof(fc.constantFrom('erin', 'alice', 'bob', null, ''), fc.string({ maxLength: 6 })),
      groups: fc.oneof(fc.array(fc.constantFrom('ops', 'admin', 'Ops', 'a b', '')), fc.jsonValue()),
      sshKeys: fc.oneof(
        fc.array(fc.constantFrom('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHH2JbMY2Z2rz7rBD4yDSkfGWNvsMrjy+umfO8KFQxtG x', 'ssh-ed25519 AAAA', 'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHH2', 'ssh-ed25519 AAAAC3Nz\nx', 'ecdsa-sha2-nistp256 ////')),
        fc.array(fc.string({ maxLength: 60 })),
        fc.jsonValue(),
      ),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  const document = fc.oneof(fc.array(record, { maxLength: 6 }), fc.record({ people: fc.array(record, { maxLength: 6 }) }), fc.anything(), fc.jsonValue());

  it('validateDirectory: any document is a list of valid records or a coded refusal naming the record (1,000 runs)', () => {
    fc.assert(
      fc.property(document, (doc) => {
        const r = outcome(() => validateDirectory(doc, 'fuzz.yaml'));
        if (!r.ok) return expectCodedRefusal(r.err, 2_000);
        const ids = r.value.map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
        for (const p of r.value) if (p.manager) expect(ids).toContain(p.manager);
      }),
      fuzzRuns(1_000, 3001),
    );
  });

  describe('loadDirectory from files and HTTP', () => {
    let dir: string;
    let server: http.Server;
    let served: string | Buffer = '';
    let url = '';
    beforeAll(async () => {
      dir = tempDir('fuzz-directory');
      server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(served));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/people`;
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const texts = fc.oneof(mutated(example('directory.yaml')), anyYaml('people'), document.map((d) => JSON.stringify(d) ?? 'null'));

    it('any file (.yaml, .yml, .json) is a list of records or a coded refusal (300 runs)', async () => {
      await fc.assert(
        fc.asyncProperty(texts, fc.constantFrom('yaml', 'yml', 'json'), async (text, ext) => {
          const file = path.join(dir, `directory.${ext}`);
          fs.writeFileSync(file, text);
          const r = await outcomeAsync(() => loadDirectory(file));
          if (!r.ok) expectCodedRefusal(r.err, 2_000);
        }),
        fuzzRuns(300, 3002),
      );
    });

    it('any HTTP JSON body is a list of records or a coded refusal (100 runs)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(texts, fc.string({ unit: 'binary', maxLength: 100 })), async (body) => {
          served = body;
          const r = await outcomeAsync(() => loadDirectory(url));
          if (!r.ok) expectCodedRefusal(r.err, 2_000);
        }),
        fuzzRuns(100, 3003),
      );
    });

    it.each([...NAMED, ['10,000 nested JSON arrays', deep(10_000)] as [string, string]])('%s as the directory file is refused with 1100', async (_name, text) => {
      for (const ext of ['yaml', 'json']) {
        const file = path.join(dir, `named.${ext}`);
        fs.writeFileSync(file, text);
        const r = await outcomeAsync(() => loadDirectory(file));
        expect(r.ok).toBe(false);
        if (!r.ok) expectCodedRefusal(r.err, 2_000);
      }
      served = text;
      const r = await outcomeAsync(() => loadDirectory(url));
      expect(r.ok).toBe(false);
    });
  });
});
