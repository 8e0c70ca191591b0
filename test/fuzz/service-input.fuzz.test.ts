/**
 * Issue 10, "bad input, fuzzed": what the services read from a parsed request before anything
 * runs, over many inputs. A host filter becomes a MongoDB query (run here through the embedded
 * store's matcher against the example hosts), a module's parameters and a ticket's options are
 * checked against the example catalog: each is accepted or a coded refusal, never a throw.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../src/services/catalog/schema.js';
import { compileFilter } from '../../src/store/embedded/matcher.js';
import { loadCatalog } from '../../src/services/catalog/load.js';
import { parseHostFilter } from '../../src/services/inventory.js';
import { checkParams } from '../../src/services/modules/params.js';
import { checkValues } from '../../src/services/tickets/values.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { anyText, commandText } from './arbitraries.js';
import { expectCodedRefusal, fuzzRuns, outcome } from './outcome.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog(exampleCatalog, { env: { OPSGATE_DEPLOY_TOKEN: 'x', OPSGATE_REGISTRY_PASSWORD: 'x' } });
});

const FILTER_WORDS = ['web-01', 'web-*', '*', '**', 'env:prod', 'app:nginx', 'project:storefront', 'active:yes', 'rack:a1', '__proto__:x', 'constructor:y', 'a:', ':b', '(', '[', '\\', '$where', '.*', '^$'];

describe('host filters, fuzzed (1,000 runs each)', () => {
  for (const how of ['search', 'exact'] as const) {
    it(`parseHostFilter (${how}): any text is a query the store can run, or a coded refusal`, () => {
      fc.assert(
        fc.property(commandText(FILTER_WORDS), (text) => {
          const r = outcome(() => parseHostFilter(text, how));
          if (!r.ok) return expectCodedRefusal(r.err);
          // The embedded store's own matcher: the filter must compile and run against hosts.
          const matches = compileFilter(r.value);
          for (const h of catalog.hosts) expect(typeof matches({ ...h, archived: false })).toBe('boolean');
        }),
        fuzzRuns(1_000, 1100 + (how === 'exact' ? 1 : 0)),
      );
    });
  }
});

const paramValue = fc.oneof(anyText, fc.constantFrom('1', '0', '-1', '200', '99999999999999999', '1e3', ' 5 ', 'true', 'yes', 'off', 'nginx', 'sshd', '\u0000', ''), fc.jsonValue());

describe('module parameters, fuzzed (1,000 runs)', () => {
  it('checkParams: any values for any example module are typed values or a coded refusal', () => {
    fc.assert(
      fc.property(fc.nat(), fc.dictionary(fc.oneof(fc.constantFrom('lines', 'service', 'unit', 'path', 'package', 'cmd', 'x', 'constructor', 'toString'), fc.string({ maxLength: 8 })), paramValue, { maxKeys: 4 }), (i, input) => {
        const m = catalog.modules[i % catalog.modules.length]!;
        const r = outcome(() => checkParams(m, input));
        if (!r.ok) return expectCodedRefusal(r.err);
        for (const p of m.params) expect(['string', 'number', 'boolean']).toContain(typeof r.value[p.name]);
      }),
      fuzzRuns(1_000, 1200),
    );
  });
});

describe('ticket options, fuzzed (1,000 runs)', () => {
  it('checkValues: any values for any example ticket are checked values or a coded refusal', () => {
    fc.assert(
      fc.property(fc.nat(), fc.dictionary(fc.oneof(fc.constantFrom('AnsibleHosts', 'Mode', 'Tag', 'Branch', 'Service', 'constructor'), fc.string({ maxLength: 8 })), fc.oneof(paramValue.map(String), fc.array(paramValue.map(String), { maxLength: 4 }), fc.anything() as fc.Arbitrary<string>), { maxKeys: 4 }), (i, raw) => {
        const t = catalog.tickets[i % catalog.tickets.length]!;
        const choices = new Map(t.options.map((o) => [o.name, ['web-01', 'web-02', 'full', 'v1.4.2']]));
        const r = outcome(() => checkValues(t, raw, choices));
        if (!r.ok) return expectCodedRefusal(r.err);
        for (const o of t.options) expect(Object.hasOwn(r.value, o.name)).toBe(true);
      }),
      fuzzRuns(1_000, 1300),
    );
  });
});
