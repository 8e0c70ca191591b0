/**
 * modules.yaml: the shipped set loads; each kind of mistake is refused with file, line and
 * field (the named line holds the mistake); a bad file changes nothing on reload. Parameter
 * values are checked for every type, each refusal naming the parameter.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inventoryModels } from '../../src/models/inventory.js';
import { loadCatalog } from '../../src/services/catalog/load.js';
import { InventoryService } from '../../src/services/inventory.js';
import { ModuleCatalog } from '../../src/services/modules/catalog.js';
import { startServiceHarness } from '../helpers/services.js';
import type { ModuleEntry } from '../../src/services/catalog/modules-schema.js';
import { checkParams } from '../../src/services/modules/params.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';

function catalogWithModules(yaml: string): string {
  const dir = tempDir('modules-catalog');
  fs.cpSync(exampleCatalog, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'modules.yaml'), yaml);
  return dir;
}

async function refusal(dir: string): Promise<Error & { code?: number }> {
  return loadCatalog(dir).then(
    () => new Error('loaded without complaint'),
    (e: Error) => e,
  );
}

function namedLine(dir: string, message: string): string {
  const line = /modules\.yaml:(\d+)/.exec(message)?.[1];
  expect(line, message).toBeDefined();
  return fs.readFileSync(path.join(dir, 'modules.yaml'), 'utf8').split('\n')[Number(line) - 1] ?? '';
}

const head = (extra = '') => `modules:\n  - id: 1\n    name: m\n    command: echo {a}\n    envs: [prod]\n    params:\n      - { name: a, type: string }\n${extra}`;

describe('modules.yaml', () => {
  it('loads the shipped set: uptime, disk usage, service status and restart (on prod only once approved), log tail, package version, the admins-only shell', async () => {
    const c = await loadCatalog(exampleCatalog);
    expect(c.modules.map((m) => m.name)).toEqual(['uptime', 'disk-usage', 'service-status', 'service-restart', 'service-restart-prod', 'syslog-tail', 'package-version', 'shell']);
    expect(c.modules.find((m) => m.name === 'service-restart-prod')).toMatchObject({ envs: ['prod'], approval: [{ label: 'ops', approvers: { group: 'ops' } }] });
    expect(c.modules.find((m) => m.name === 'service-restart')).toMatchObject({ envs: ['stage'], approval: [] });
    const tail = c.modules.find((m) => m.name === 'syslog-tail')!;
    expect(tail).toMatchObject({ id: 1005, timeoutSeconds: 120, parallelism: 50, channel: '#ops-runs', envs: ['prod', 'stage'], approval: [], adminOnly: false });
    expect(tail.params[0]).toMatchObject({ name: 'lines', type: 'int', min: 1, max: 5000, default: 100 });
    expect(c.modules.find((m) => m.name === 'shell')).toMatchObject({ adminOnly: true, command: '{script}' });
  });

  const cases: Array<[string, string, RegExp, string]> = [
    ['a placeholder not among the params', head().replace('echo {a}', 'echo {a} {b}'), /modules\[0\]\.command: unknown placeholder \{b\}/, 'command:'],
    ['a placeholder where no quoting is safe', head().replace('echo {a}', 'echo `{a}`'), /modules\[0\]\.command: .*backtick/i, 'command:'],
    ['an unknown param type', head().replace('type: string', 'type: float'), /modules\[0\]\.params\[0\]\.type/, 'type: float'],
    ['an int default outside min/max', head() + '      - { name: n, type: int, min: 1, max: 5, default: 9 }\n', /params\[1\]\.default: the default does not fit: parameter n: must be at most 5/, 'default: 9'],
    ['an enum default outside its choices', head() + '      - { name: e, type: enum, choices: [x, y], default: z }\n', /params\[1\]\.default: .*must be one of x, y/, 'default: z'],
    ['a string default not matching its pattern', head() + "      - { name: s, type: string, pattern: '^[a-z]+$', default: A1 }\n", /params\[1\]\.default: .*does not match/, 'default: A1'],
    ['a bad regular expression', head() + "      - { name: s, type: string, pattern: '([' }\n", /params\[1\]\.pattern: is not a valid regular expression/, "pattern: '(['"],
    ['min above max', head() + '      - { name: n, type: int, min: 9, max: 1 }\n', /params\[1\]\.min: min 9 is above max 1/, 'min: 9'],
    ['an unknown field', head() + '    colour: red\n', /modules\[0\]: Unrecognized key.*colour/, '- id: 1'],
    ['no envs', head().replace('    envs: [prod]\n', ''), /modules\[0\]\.envs/, '- id: 1'],
    ['a raw param outside an adminOnly module', head().replace('type: string }', 'type: string, raw: true }'), /params\[0\]\.raw: a raw parameter is only allowed/, 'raw: true'],
    ['a duplicate name', head() + '  - id: 2\n    name: m\n    command: uptime\n    envs: [prod]\n', /modules\[1\]\.name: m is already defined at .*modules\.yaml:3/, 'name: m'],
    ['a duplicate id', head() + '  - id: 1\n    name: n\n    command: uptime\n    envs: [prod]\n', /modules\[1\]\.id: id 1 is already used/, 'id: 1'],
  ];
  for (const [what, yaml, message, line] of cases) {
    it(`refuses ${what} with file:line and field`, async () => {
      const dir = catalogWithModules(yaml);
      const err = await refusal(dir);
      expect(err.code, err.message).toBe(1100);
      expect(err.message).toMatch(message);
      expect(namedLine(dir, err.message)).toContain(line);
    });
  }
});

describe('reload', () => {
  it('loads modules with the catalog; a bad modules.yaml on reload changes nothing, neither modules nor hosts', async () => {
    const h = await startServiceHarness();
    try {
      const dir = catalogWithModules(head());
      const modules = new ModuleCatalog();
      const inventory = new InventoryService({ models: inventoryModels(h.conn), audit: h.audit, clock: h.clock, catalogDir: dir, onReload: (c) => modules.replace(c.modules) });
      expect((await inventory.reload('erin')).modules).toBe(1);
      expect(modules.all().map((m) => m.name)).toEqual(['m']);
      const hostsBefore = await inventory.hosts();
      const hostsFile = path.join(dir, 'hosts.yaml');
      fs.writeFileSync(hostsFile, fs.readFileSync(hostsFile, 'utf8').replace('port: 22\n', 'port: 2222\n'));
      fs.writeFileSync(path.join(dir, 'modules.yaml'), head().replace('echo {a}', 'echo {zz}'));
      await expect(inventory.reload('erin')).rejects.toMatchObject({ code: 1100, message: expect.stringMatching(/modules\.yaml:\d+: modules\[0\]\.command: unknown placeholder \{zz\}/) });
      expect(modules.all().map((m) => m.command)).toEqual(['echo {a}']);
      expect(await inventory.hosts()).toEqual(hostsBefore);
    } finally {
      await h.stop();
    }
  });
});

describe('parameter values', () => {
  const m: Pick<ModuleEntry, 'name' | 'params'> = {
    name: 'm',
    params: [
      { name: 'lines', type: 'int', min: 1, max: 5000, default: 100, optional: false, description: '' },
      { name: 'unit', type: 'enum', choices: ['nginx', 'php-fpm'], optional: false, description: '' },
      { name: 'pattern', type: 'string', pattern: '^[A-Za-z0-9 _.-]{1,64}$', maxLength: 200, raw: false, optional: true, description: '' },
      { name: 'follow', type: 'bool', default: false, optional: false, description: '' },
    ],
  };
  it('takes typed values and Slack text, and fills defaults and optional ones', () => {
    expect(checkParams(m, { unit: 'nginx' })).toEqual({ lines: 100, unit: 'nginx', pattern: '', follow: false });
    expect(checkParams(m, { lines: '200', unit: 'php-fpm', pattern: 'error 5', follow: 'yes' })).toEqual({ lines: 200, unit: 'php-fpm', pattern: 'error 5', follow: true });
    expect(checkParams(m, { lines: 1, unit: 'nginx', follow: true })).toMatchObject({ lines: 1, follow: true });
  });
  const refusals: Array<[string, Record<string, unknown>, number, RegExp]> = [
    ['int below min', { unit: 'nginx', lines: '0' }, 1100, /parameter lines: must be at least 1/],
    ['int above max', { unit: 'nginx', lines: 5001 }, 1100, /parameter lines: must be at most 5000/],
    ['int not a number', { unit: 'nginx', lines: '12abc' }, 1100, /parameter lines: must be a whole number/],
    ['int with a fraction', { unit: 'nginx', lines: 1.5 }, 1100, /parameter lines: must be a whole number/],
    ['enum outside its choices', { unit: 'apache' }, 1100, /parameter unit: must be one of nginx, php-fpm/],
    ['enum missing', {}, 1102, /parameter unit is required/],
    ['string not matching', { unit: 'nginx', pattern: 'a;b' }, 1100, /parameter pattern: does not match/],
    ['string of another type', { unit: 'nginx', pattern: 5 }, 1100, /parameter pattern: must be text/],
    ['bool not a truth value', { unit: 'nginx', follow: 'maybe' }, 1100, /parameter follow: must be true or false/],
    ['a name the module does not declare', { unit: 'nginx', colour: 'red' }, 1100, /module m has no parameter colour/],
  ];
  for (const [what, input, code, message] of refusals) {
    it(`refuses ${what}`, () => {
      let err: (Error & { code?: number; details?: unknown }) | undefined;
      try {
        checkParams(m, input);
      } catch (e) {
        err = e as Error & { code?: number };
      }
      expect(err?.code).toBe(code);
      expect(err?.message).toMatch(message);
    });
  }
});
