/**
 * `/opsgate` end to end through the real Bolt app: who am I, inventory listings, admin-only
 * commands refused with their codes, directory sync and catalog reload, roles and teams, the
 * audit log, and the App Home tab.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

describe('/opsgate', () => {
  let t: TestOpsgate;
  const run = (text: string, user: { id: string } = USERS.erin) => runCommand(t, '/opsgate', text, user);
  const shown = async (text: string, user?: { id: string }) => JSON.stringify((await run(text, user)).blocks);

  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
  });
  afterAll(() => t.stop());

  it('shows the caller their directory record, groups, teams and roles', async () => {
    const text = await shown('whoami', USERS.alice);
    expect(text).toContain('Alice Ops');
    expect(text).toContain('M4');
    expect(text).toContain('config-approvers');
    expect(text).toContain('not in any team');
  });

  it('tells someone outside the directory so, with code 1201, even for whoami', async () => {
    expect(await shown('whoami', USERS.stranger)).toContain('[1201]');
    expect(await shown('hosts', USERS.stranger)).toContain('[1201]');
  });

  it('learned Slack ids by email at sync and by users.info on first contact', async () => {
    const alice = await t.app.services.directory.byPersonId('alice');
    expect(alice?.slackId).toBe('UALICE');
    expect(t.fake.callsTo('users.lookupByEmail').length).toBeGreaterThan(0);
  });

  it('refuses a member of no team with 1202 and lets an admin list hosts', async () => {
    expect(await shown('hosts', USERS.bob)).toContain('[1202]');
    const text = await shown('hosts env:prod');
    expect(text).toContain('web-01');
    expect(text).toContain('lb-01');
    expect(text).not.toContain('stage-web-01');
    expect(text).toContain('disabled in the catalog'); // db-01
  });

  it('filters hosts by name words and labels', async () => {
    const text = await shown('hosts web tier:frontend');
    expect(text).toContain('web-01');
    expect(text).toContain('web-02');
    expect(text).not.toContain('app-01');
    expect(await shown('hosts no-such-host')).toContain('No hosts match');
  });

  it('lists projects and the products collection', async () => {
    const projects = await shown('projects');
    expect(projects).toContain('storefront');
    expect(projects).toContain('storefront-oncall@example.com');
    const products = await shown('products');
    for (const p of ['jm-nginx', 'jm-php', 'jm-user', 'jm-lvs', 'jm-haproxy']) expect(products).toContain(p);
  });

  it('refuses admin commands to non-admins with a code and runs them for admins', async () => {
    expect(await shown('sync', USERS.bob)).toContain('[1202]');
    expect(await shown('reload', USERS.bob)).toContain('[1202]');
    expect(await shown('audit', USERS.bob)).toContain('[1202]');
    const reply = await shown('reload');
    expect(reply).toContain('Catalog reloaded');
  });

  it('runs /opsgate sync as a job and posts the result to the response_url', async () => {
    const first = await run('sync');
    expect(first.text).toContain('Directory sync started');
    const result = await t.fake.waitFor('response_url', (c) => String(c.args.text).includes('Directory synced'));
    expect(String(result.args.text)).toMatch(/0 added, 0 updated, 5 unchanged/);
  });

  it('grants a role, manages teams and lets the new member in', async () => {
    expect(await shown('team create storefront-devs')).toContain('Team storefront-devs created');
    expect(await shown(`team add storefront-devs <@${USERS.bob.id}|bob>`)).toContain('Member added');
    expect(await shown('grant use project:storefront team:storefront-devs')).toContain('Role granted');
    expect(await shown('grant use project:storefront team:storefront-devs')).toContain('already granted');
    // Bob is now in a team: listings work, admin commands still do not (1201 now, not 1202).
    expect(await shown('hosts', USERS.bob)).toContain('web-01');
    expect(await shown('reload', USERS.bob)).toContain('[1201]');
    const who = await shown('whoami', USERS.bob);
    expect(who).toContain('storefront-devs');
    expect(who).toContain('use on project:storefront (via team storefront-devs)');
    expect(await shown('teams', USERS.bob)).toContain('storefront-devs');
  });

  it('lets an organization admin grant roles on a project of that organization, named from Slack', async () => {
    expect(await shown('org create shop')).toContain('Organization shop created');
    expect(await shown(`grant admin organization:shop <@${USERS.dave.id}|dave>`)).toContain('Role granted');
    // storefront belongs to shop in the catalog; dave administers it without any project grant.
    expect(await shown('grant use project:storefront person:carol', USERS.dave)).toContain('Role granted');
    expect(await shown('revoke use project:storefront person:carol', USERS.dave)).toContain('Role revoked');
    expect(await shown('grant use inventory:prod person:carol', USERS.dave)).toContain('[1201]');
  });

  it('refuses bad parameters with 1100/1102 and changes nothing', async () => {
    const before = (await t.app.services.audit.query({ limit: 200 })).length;
    expect(await shown('grant use project:nope person:bob')).toContain('[1100]');
    expect(await shown('grant superuser global person:bob')).toContain('[1100]');
    expect(await shown('grant use')).toContain('[1100]');
    expect(await shown('team add')).toContain('[1102]');
    expect(await shown('frobnicate')).toContain('unknown command');
    expect(await shown('team add storefront-devs person:nobody')).toContain('no person with id nobody');
    expect(await shown('grant use template:deploy team:storefront-devs')).toContain('no template named deploy');
    expect((await t.app.services.audit.query({ limit: 200 })).length).toBe(before);
  });

  it('grants roles on ticket templates of tickets.yaml (1301 before ops tickets)', async () => {
    expect(await shown('grant use template:deploy-git team:storefront-devs')).toContain('Role granted');
    expect(await shown('revoke use template:deploy-git team:storefront-devs')).toContain('Role revoked');
  });

  it('keeps an audit log that admins can filter', async () => {
    const text = await shown('audit action:team.add-member');
    expect(text).toContain('team.add-member');
    expect(text).toContain('team:storefront-devs');
    expect(text).toContain('erin');
    expect(await shown('audit limit:0')).toContain('[1100]');
  });

  it('refuses a bad catalog naming file, line and field, and changes nothing', async () => {
    const hostsFile = path.join(t.catalogDir, 'hosts.yaml');
    const good = fs.readFileSync(hostsFile, 'utf8');
    try {
      fs.writeFileSync(hostsFile, good.replace('    port: 2222', '    port: not-a-port'));
      const text = await shown('reload');
      expect(text).toContain('[1100]');
      expect(text).toMatch(/hosts\.yaml:\d+: hosts\[5\]\.port/);
      const line = Number(/hosts\.yaml:(\d+)/.exec(text)![1]);
      expect(fs.readFileSync(hostsFile, 'utf8').split('\n')[line - 1]).toContain('port: not-a-port');
      fs.writeFileSync(hostsFile, good.replace('project: edge', 'project: nowhere'));
      expect(await shown('reload')).toContain('no project named nowhere');
      expect((await t.app.services.inventory.hostByName('lb-01'))?.project).toBe('edge');
    } finally {
      fs.writeFileSync(hostsFile, good);
    }
  });

  it('publishes the App Home tab with a place for each capability', async () => {
    const mark = t.fake.calls.length;
    const res = await t.slack.event({ type: 'app_home_opened', user: USERS.alice.id, channel: 'D0HOME', tab: 'home' });
    expect(res.status).toBe(200);
    const call = await t.fake.waitFor('views.publish', (c) => t.fake.calls.indexOf(c) >= mark);
    expect(call.args.user_id).toBe(USERS.alice.id);
    const view = JSON.stringify(call.args.view);
    for (const place of ['Host access', 'Ops tickets', 'Module runs', 'Alice Ops']) expect(view).toContain(place);
  });
});
