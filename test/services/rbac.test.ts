/**
 * RBAC (seed 001) as a table: actors x resources x actions, each with the expected allow or
 * refusal code. Then granting: who may grant what, and what a grant changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Person } from '../../src/models/person.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import { RbacService, type Action, type Resource } from '../../src/services/rbac.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';

function person(personId: string, groups: string[] = []): Person {
  return { personId, name: personId, email: `${personId}@example.com`, level: 'P5', department: '', manager: null, groups, sshKeys: [], active: true } as unknown as Person;
}

const actors = {
  root: person('root', ['admin']),
  shopAdmin: person('shop-admin'),
  dev: person('dev'),
  devLead: person('dev-lead'),
  prodOps: person('prod-ops'),
  loner: person('loner'),
};

const R = {
  global: { type: 'global', id: '*' },
  shop: { type: 'organization', id: 'shop' },
  other: { type: 'organization', id: 'other' },
  storefront: { type: 'project', id: 'storefront', organization: 'shop' },
  accounts: { type: 'project', id: 'accounts', organization: 'shop' },
  billing: { type: 'project', id: 'billing', organization: 'other' },
  prod: { type: 'inventory', id: 'prod' },
  deployTpl: { type: 'template', id: 'deploy', organization: 'other' },
} satisfies Record<string, Resource>;

type Expect = 'allow' | 1201 | 1202;

/** actor, resource, action, expected */
const TABLE: Array<[keyof typeof actors, keyof typeof R, Action, Expect]> = [
  ['root', 'global', 'admin', 'allow'],
  ['root', 'billing', 'admin', 'allow'],
  ['root', 'deployTpl', 'use', 'allow'],
  ['shopAdmin', 'global', 'admin', 1201],
  ['shopAdmin', 'shop', 'admin', 'allow'],
  ['shopAdmin', 'storefront', 'admin', 'allow'],
  ['shopAdmin', 'accounts', 'use', 'allow'],
  ['shopAdmin', 'billing', 'use', 1201],
  ['shopAdmin', 'other', 'admin', 1201],
  ['dev', 'storefront', 'use', 'allow'],
  ['dev', 'storefront', 'admin', 1201],
  ['dev', 'accounts', 'use', 1201],
  ['dev', 'shop', 'admin', 1201],
  ['dev', 'global', 'admin', 1201],
  ['dev', 'prod', 'use', 1201],
  ['devLead', 'storefront', 'admin', 'allow'],
  ['devLead', 'storefront', 'use', 'allow'],
  ['devLead', 'accounts', 'use', 1201],
  ['prodOps', 'prod', 'use', 'allow'],
  ['prodOps', 'prod', 'admin', 1201],
  ['prodOps', 'deployTpl', 'use', 'allow'],
  ['prodOps', 'storefront', 'use', 1201],
  ['loner', 'storefront', 'use', 1202],
  ['loner', 'global', 'admin', 1202],
  ['loner', 'shop', 'admin', 1202],
];

describe('rbac', () => {
  let h: ServiceHarness;
  let rbac: RbacService;
  const known = new Set(['storefront', 'accounts', 'billing', 'prod', 'shop', 'other', 'deploy']);

  beforeAll(async () => {
    h = await startServiceHarness();
    const models = rbacModels(h.conn);
    rbac = new RbacService({
      models,
      audit: h.audit,
      clock: h.clock,
      personExists: async (id) => Object.values(actors).some((a) => a.personId === id),
      resourceExists: async (r) => known.has(r.id),
      organizationOf: async (r) => (Object.values(R) as Resource[]).find((x) => x.type === r.type && x.id === r.id)?.organization ?? null,
    });
    await models.Organization.create([{ name: 'shop' }, { name: 'other' }]);
    await models.Team.create([
      { name: 'devs', organization: 'shop', members: ['dev', 'dev-lead'] },
      { name: 'ops', members: ['prod-ops'] },
      { name: 'leads', organization: 'shop', members: ['dev-lead'] },
      { name: 'old', members: ['loner'], archived: true },
    ]);
    const grant = (subjectKind: 'person' | 'team', subjectId: string, type: keyof typeof ResourceType, id: string, role: keyof typeof Role) =>
      models.RoleGrant.create({ subjectKind, subjectId, resourceType: ResourceType[type], resourceId: id, role: Role[role], grantedBy: 'setup' });
    await grant('person', 'shop-admin', 'organization', 'shop', 'admin');
    await grant('team', 'devs', 'project', 'storefront', 'use');
    await grant('team', 'leads', 'project', 'storefront', 'admin');
    await grant('team', 'ops', 'inventory', 'prod', 'use');
    await grant('person', 'prod-ops', 'template', '*', 'use');
    // An archived team's grants do not count.
    await grant('team', 'old', 'project', 'storefront', 'admin');
  });
  afterAll(() => h.stop());

  it.each(TABLE)('%s on %s (%s) -> %s', async (actor, resource, action, expected) => {
    const outcome = await rbac.require(actors[actor], action, R[resource]).then(
      () => 'allow' as const,
      (e: { code: number }) => e.code,
    );
    expect(outcome).toBe(expected);
  });

  it('lets an organization admin grant inside the organization only', async () => {
    expect(await rbac.grant(actors.shopAdmin, { kind: 'person', id: 'loner' }, R.accounts, 'use')).toBe('granted');
    await expect(rbac.grant(actors.shopAdmin, { kind: 'person', id: 'loner' }, R.billing, 'use')).rejects.toMatchObject({ code: 1201 });
    await expect(rbac.grant(actors.dev, { kind: 'person', id: 'dev' }, R.storefront, 'admin')).rejects.toMatchObject({ code: 1201 });
    await expect(rbac.grant(actors.root, { kind: 'person', id: 'ghost' }, R.storefront, 'use')).rejects.toMatchObject({ code: 1100 });
    await expect(rbac.grant(actors.root, { kind: 'team', id: 'devs' }, { type: 'project', id: 'nope' }, 'use')).rejects.toMatchObject({ code: 1100 });
    await expect(rbac.grant(actors.root, { kind: 'team', id: 'devs' }, R.global, 'use')).rejects.toMatchObject({ code: 1100 });
    const entries = await h.audit.query({ action: 'rbac.grant' });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'shop-admin', target: 'person:loner' });
  });

  it('makes a grant count at once and a revoke take it away', async () => {
    await rbac.addMember(actors.root, 'ops', 'loner');
    expect(await rbac.can(actors.loner, 'use', R.accounts)).toBe(true);
    expect(await rbac.revoke(actors.root, { kind: 'person', id: 'loner' }, R.accounts, 'use')).toBe('revoked');
    expect(await rbac.can(actors.loner, 'use', R.accounts)).toBe(false);
    expect(await rbac.revoke(actors.root, { kind: 'person', id: 'loner' }, R.accounts, 'use')).toBe('absent');
    await rbac.removeMember(actors.root, 'ops', 'loner');
    await expect(rbac.requireMember(actors.loner)).rejects.toMatchObject({ code: 1202 });
  });

  it("refuses an organization admin who joins a team holding admin global (dave's escalation)", async () => {
    const models = rbacModels(h.conn);
    await models.Team.create({ name: 'platform', organization: 'shop', members: [] });
    await rbac.grant(actors.root, { kind: 'team', id: 'platform' }, R.global, 'admin');
    // The attack: shop's admin adds himself to shop's team that holds admin global...
    await expect(rbac.addMember(actors.shopAdmin, 'platform', 'shop-admin')).rejects.toMatchObject({ code: 1201, message: expect.stringContaining('holds admin on opsgate (global)') });
    expect((await models.Team.findOne({ name: 'platform' }).lean())?.members).toEqual([]);
    // ...and so cannot hand admin global to anyone.
    await expect(rbac.grant(actors.shopAdmin, { kind: 'person', id: 'loner' }, R.global, 'admin')).rejects.toMatchObject({ code: 1201 });
    expect(await rbac.can(actors.shopAdmin, 'admin', R.global)).toBe(false);
    // Removing members or archiving the team is a change of the same grants.
    await rbac.addMember(actors.root, 'platform', 'dev');
    await expect(rbac.removeMember(actors.shopAdmin, 'platform', 'dev')).rejects.toMatchObject({ code: 1201 });
    await expect(rbac.archiveTeam(actors.shopAdmin, 'platform')).rejects.toMatchObject({ code: 1201 });
    // A team holding another organization's project is out of reach too.
    await models.Team.create({ name: 'shop-billing', organization: 'shop', members: [] });
    await rbac.grant(actors.root, { kind: 'team', id: 'shop-billing' }, R.billing, 'use');
    await expect(rbac.addMember(actors.shopAdmin, 'shop-billing', 'shop-admin')).rejects.toMatchObject({ code: 1201 });
    // Teams holding only shop's resources stay the organization admin's to manage.
    expect(await rbac.addMember(actors.shopAdmin, 'devs', 'loner')).toBe('added');
    expect(await rbac.removeMember(actors.shopAdmin, 'devs', 'loner')).toBe('removed');
    // The global admin still manages every team.
    expect(await rbac.removeMember(actors.root, 'platform', 'dev')).toBe('removed');
  });

  it('archives teams instead of deleting them', async () => {
    await rbac.createTeam(actors.shopAdmin, 'temp', 'shop');
    await expect(rbac.createTeam(actors.shopAdmin, 'temp2', 'other')).rejects.toMatchObject({ code: 1201 });
    await rbac.archiveTeam(actors.shopAdmin, 'temp');
    expect((await rbac.teams()).map((t) => t.name)).not.toContain('temp');
    expect(await rbacModels(h.conn).Team.exists({ name: 'temp', archived: true })).not.toBeNull();
  });
});
