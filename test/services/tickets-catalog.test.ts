/**
 * tickets.yaml: the shipped examples load; each kind of mistake is refused with file, line and
 * field (the line named holds the mistake); a bad file changes nothing on reload; secrets are
 * read from OPSGATE_* variables or files and never appear in messages or the audit log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryModels } from '../../src/models/inventory.js';
import { loadCatalog } from '../../src/services/catalog/load.js';
import { InventoryService } from '../../src/services/inventory.js';
import { TicketCatalog } from '../../src/services/tickets/catalog.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';
import { tempDir } from '../helpers/store.js';

function catalogWithTickets(yaml: string): string {
  const dir = tempDir('tickets-catalog');
  fs.cpSync(exampleCatalog, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tickets.yaml'), yaml);
  return dir;
}

async function refusal(dir: string, env: Record<string, string> = {}): Promise<Error & { code?: number }> {
  return loadCatalog(dir, { env }).then(
    () => new Error('loaded without complaint'),
    (e: Error) => e,
  );
}

/** The text of the line an error names. */
function namedLine(dir: string, message: string): string {
  const line = /tickets\.yaml:(\d+)/.exec(message)?.[1];
  expect(line, message).toBeDefined();
  return fs.readFileSync(path.join(dir, 'tickets.yaml'), 'utf8').split('\n')[Number(line) - 1] ?? '';
}

const ok = (extra = '') => `  - name: ok\n    env: PROD\n    main: echo ok${extra}\n`;

describe('tickets.yaml', () => {
  it('loads the shipped examples: plain deploy, two levels with a schedule, a hidden template with two tickets, the config push', async () => {
    const c = await loadCatalog(exampleCatalog);
    const byName = Object.fromEntries(c.tickets.map((t) => [`${t.name}@${t.env}`, t]));
    expect(Object.keys(byName).sort()).toEqual(['deploy-docker-api-stage@STAGE', 'deploy-docker-api@PROD', 'deploy-git@PROD', 'deploy-static@STAGE', 'push-config@PROD']);
    expect(byName['deploy-static@STAGE']).toMatchObject({ configCenter: 'local', approval: [] });
    expect(byName['deploy-git@PROD']).toMatchObject({ schedule: true, autoRun: true, background: true, lock: true, timeoutMinutes: 30, channel: '#deploys' });
    expect(byName['deploy-git@PROD']!.approval).toHaveLength(2);
    expect(byName['deploy-git@PROD']!.secretValues.DeployToken).toBe('example-deploy-token-replace-me');
    // Both docker tickets start from the hidden template; one overrides its approval.
    expect(byName['deploy-docker-api@PROD']).toMatchObject({ category: 'DeployDocker', submitGroups: ['ops'], vars: { Registry: 'registry.example.com', Service: 'api' }, isTemplate: false });
    expect(byName['deploy-docker-api@PROD']!.approval).toEqual([{ label: 'ops', approvers: { group: 'ops' } }]);
    expect(byName['deploy-docker-api-stage@STAGE']!.approval).toEqual([]);
    expect(byName['deploy-docker-api-stage@STAGE']!.options.map((o) => o.name)).toEqual(['Image']);
    expect(byName['push-config@PROD']).toMatchObject({ submitGroups: ['ops'], submitRequiresProject: true, approval: [{ label: 'config', approvers: { group: 'config-approvers' } }] });
    expect(byName['push-config@PROD']!.options[0]).toMatchObject({ name: 'Product', choicesFrom: 'conf.prod_name' });
  });

  const cases: Array<[string, string, RegExp, string]> = [
    ['an unknown variable in main', ok(' {Nope}'), /tickets\[0\]\.main: unknown variable \{Nope\}/, 'main:'],
    ['an unknown variable in pre', `  - name: a\n    env: PROD\n    pre: check {Missing}\n    main: echo\n`, /tickets\[0\]\.pre: unknown variable \{Missing\}/, 'pre:'],
    ['an option in a choicesScript', `  - name: a\n    env: PROD\n    options:\n      - { name: A, label: A, text: {} }\n      - { name: B, label: B, choicesScript: "list {A}" }\n    main: echo {A} {B}\n`, /tickets\[0\]\.options\[1\]\.choicesScript: unknown variable \{A\}/, 'choicesScript'],
    ['an empty choice list', `  - name: a\n    env: PROD\n    options:\n      - name: A\n        label: A\n        choices: []\n    main: echo {A}\n`, /tickets\[0\]\.options\[0\]\.choices: the choice list is empty/, 'choices: []'],
    ['a duplicate name and env', ok() + ok(), /tickets\[1\]\.name: ok \(PROD\) is already defined at .*tickets\.yaml:2/, '- name: ok'],
    ['extends naming no hidden template', ok() + `  - name: b\n    env: PROD\n    extends: ok\n`, /tickets\[1\]\.extends: no hidden template \(isTemplate: true\) named ok/, 'extends: ok'],
    ['extends looping', `  - { name: t1, isTemplate: true, extends: t2 }\n  - { name: t2, isTemplate: true, extends: t1 }\n  - name: c\n    env: PROD\n    extends: t1\n`, /tickets\[1\]\.extends: extends loops: t1 -> t2 -> t1/, 'extends: t1'],
    ['more than three approval levels', ok() + `    approval:\n      - { label: a, approvers: { group: ops } }\n      - { label: b, approvers: { group: ops } }\n      - { label: c, approvers: { group: ops } }\n      - { label: d, approvers: { group: ops } }\n`, /tickets\[0\]\.approval: at most three approval levels/, '- { label: a'],
    ['an unknown config center', ok() + `    configCenter: nowhere-01\n`, /tickets\[0\]\.configCenter: no host named nowhere-01 in hosts\.yaml/, 'configCenter'],
    ['a value where it cannot be quoted', `  - name: a\n    env: PROD\n    vars: { V: x }\n    main: "echo \`cat {V}\`"\n`, /tickets\[0\]\.main: \{V\} is inside backticks/, 'main:'],
    ['an unknown field', ok() + `    colour: blue\n`, /tickets\[0\]: Unrecognized key/, ''],
    ['a missing main task', `  - name: a\n    env: PROD\n`, /tickets\[0\]\.main: /, '- name: a'],
    ['a secret from a variable outside OPSGATE_*', ok() + `    secrets: { T: { env: SLACK_BOT_TOKEN } }\n`, /tickets\[0\]\.secrets\.T\.env: secret environment variables are named OPSGATE_<NAME>/, 'secrets'],
    ['a secret whose variable is not set', ok(' {T}') + `    secrets: { T: { env: OPSGATE_NOT_SET } }\n`, /tickets\[0\]\.secrets\.T: secret T: environment variable OPSGATE_NOT_SET is not set/, 'secrets'],
    ['a secret whose file is missing', ok(' {T}') + `    secrets: { T: { file: /nonexistent/token } }\n`, /tickets\[0\]\.secrets\.T: secret T: cannot read \/nonexistent\/token \(ENOENT\)/, 'secrets'],
  ];
  it.each(cases)('refuses %s with file:line and field', async (_what, entries, message, lineHas) => {
    const dir = catalogWithTickets(`tickets:\n${entries}`);
    const err = await refusal(dir);
    expect(err).toMatchObject({ code: 1100 });
    expect(err.message).toMatch(message);
    expect(err.message).toContain(path.join(dir, 'tickets.yaml'));
    expect(namedLine(dir, err.message)).toContain(lineHas);
  });

  it('points an inherited mistake at the entry that extends', async () => {
    const dir = catalogWithTickets(`tickets:\n  - name: base\n    isTemplate: true\n    main: echo {Who}\n  - name: c\n    env: PROD\n    extends: base\n`);
    const err = await refusal(dir);
    expect(err.message).toMatch(/tickets\[1\]\.extends \(inherited main\): unknown variable \{Who\}/);
    expect(namedLine(dir, err.message)).toContain('extends: base');
  });

  it('reads secrets from OPSGATE_* variables and files; a message about one never holds its value', async () => {
    const dir = catalogWithTickets(`tickets:\n${ok(' {A} {B}')}    secrets: { A: { env: OPSGATE_A }, B: { file: b.secret } }\n`);
    fs.writeFileSync(path.join(dir, 'b.secret'), 'file-secret-value\n');
    const c = await loadCatalog(dir, { env: { OPSGATE_A: 'env-secret-value' } });
    expect(c.tickets[0]!.secretValues).toEqual({ A: 'env-secret-value', B: 'file-secret-value' });
    fs.writeFileSync(path.join(dir, 'tickets.yaml'), `tickets:\n${ok(' {A} {B} {C}')}    secrets: { A: { env: OPSGATE_A }, B: { file: b.secret } }\n`);
    const err = await refusal(dir, { OPSGATE_A: 'env-secret-value' });
    expect(err.message).toContain('unknown variable {C}');
    expect(err.message).not.toContain('env-secret-value');
    expect(err.message).not.toContain('file-secret-value');
  });
});

describe('reload', () => {
  let h: ServiceHarness;
  beforeAll(async () => {
    h = await startServiceHarness();
  });
  afterAll(() => h.stop());

  it('picks changes up, and a bad tickets.yaml changes nothing (hosts and tickets stay as they were)', async () => {
    const dir = catalogWithTickets(`tickets:\n${ok()}`);
    const catalog = new TicketCatalog();
    const inventory = new InventoryService({ models: inventoryModels(h.conn), audit: h.audit, clock: h.clock, catalogDir: dir, onReload: (c) => catalog.replace(c.tickets) });
    expect((await inventory.reload('system:test')).tickets).toBe(1);
    expect(catalog.find('ok', 'PROD')).toBeDefined();

    fs.writeFileSync(path.join(dir, 'tickets.yaml'), `tickets:\n${ok()}  - name: second\n    env: STAGE\n    main: echo second\n    active: false\n`);
    await inventory.reload('system:test');
    expect(catalog.anyState('second', 'STAGE')).toBeDefined();
    expect(catalog.find('second', 'STAGE')).toBeUndefined(); // inactive: invisible to submitters
    expect(catalog.hasName('second')).toBe(true);

    const hostsFile = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(hostsFile, fs.readFileSync(hostsFile, 'utf8').replace('address: 127.0.1.1', 'address: 127.0.9.9'));
    fs.writeFileSync(path.join(dir, 'tickets.yaml'), `tickets:\n${ok(' {Nope}')}`);
    await expect(inventory.reload('system:test')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('unknown variable {Nope}') });
    expect(catalog.find('ok', 'PROD')).toBeDefined();
    expect(catalog.anyState('second', 'STAGE')).toBeDefined();
    expect((await inventory.hostByName('web-01'))!.address).toBe('127.0.1.1');
    // The example's file secret never reaches the audit log.
    expect(JSON.stringify(await h.audit.query({ limit: 100 }))).not.toContain('example-deploy-token');
  });
});
