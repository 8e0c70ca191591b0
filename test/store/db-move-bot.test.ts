/**
 * Outgrowing the store, end to end: a bot grants access on a real sshd bastion, stops; its
 * database is exported (`npm run db -- export`'s code) and imported into a fresh store, and a
 * new bot started on the copy removes the key line at the grant's expiry, as the first bot
 * would have: grants, audit and Agenda's jobs all came across.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsgate, type Opsgate } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { accessModels, GrantStatus } from '../../src/models/access.js';
import { runTransfer } from '../../src/store/transfer/cli.js';
import { buildAccessWorld, eventually, GINA, roleAccounts, USERS, type AccessWorld } from '../helpers/access-env.js';
import { runCommand, SIGNING_SECRET, startOpsgate, type TestOpsgate } from '../helpers/opsgate.js';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

const DAY_MS = 15_000;
const describeAccess = roleAccounts.ready ? describe : describe.skip;
if (!roleAccounts.ready) process.stderr.write(`NOTICE: store move end-to-end test skipped: ${roleAccounts.reason}\n`);

describeAccess(roleAccounts.ready ? 'a bot moved to an exported and imported store' : `a bot moved to an exported and imported store [skipped: ${roleAccounts.reason}]`, () => {
  let world: AccessWorld;
  let t: TestOpsgate;
  let copy: TestStore | undefined;
  let moved: Opsgate | undefined;
  const env = { ACCESS_SWEEP_MS: '1000' };

  beforeAll(async () => {
    world = await buildAccessWorld({ dayMs: DAY_MS, env });
    t = await startOpsgate({ catalogDir: world.catalogDir, env: world.env });
    t.fake.addUser(GINA);
    await t.ready();
  }, 60_000);
  afterAll(async () => {
    await moved?.stop();
    await copy?.stop();
    await t?.fake.stop();
    await t?.store.stop();
    await world?.stop();
  });

  it('removes the line of a grant made before the move at its expiry', async () => {
    const reply = await runCommand(t, '/access', 'request bastion-a readonly 1d read the logs', USERS.bob);
    const id = /Request (AR-[A-Z0-9]{6}) sent/.exec(reply.text)?.[1];
    expect(id, reply.text).toBeDefined();
    const ask = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${USERS.alice.id}` && JSON.stringify(c.args).includes(id!) && JSON.stringify(c.args).includes('access_approve'));
    const blocks = ask.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    const value = blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'access_approve')!.value;
    await t.slack.blockAction(USERS.alice, { action_id: 'access_approve', value }, { channel: `D${USERS.alice.id}` });
    const grant = await eventually('the grant, provisioned', async () => accessModels(t.app.store.connection).Grant.findOne({ requestId: id, status: GrantStatus.valid, expiresAt: { $ne: null } }).lean());
    const bastion = world.bastions[0]!;
    await eventually('the line on the host', async () => world.lines(bastion, 'readonly').some((l) => l.includes(grant.grantId)));
    await t.app.stop();

    const folder = path.join(tempDir('db-move'), 'export');
    expect(await runTransfer(['export', '--uri', t.store.dbUri, '--out', folder], quiet(), quiet())).toBe(0);
    copy = await startTestStore();
    expect(await runTransfer(['import', '--uri', copy.dbUri, '--from', folder], quiet(), quiet())).toBe(0);

    const config = loadConfig({
      PORT: '0',
      DATA_DIR: tempDir('opsgate-moved'),
      MONGODB_URI: copy.dbUri,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_API_URL: t.fake.url,
      CATALOG_DIR: world.catalogDir,
      DIRECTORY_SOURCE: path.join(world.catalogDir, 'directory.yaml'),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...world.env,
    });
    moved = await createOpsgate(config, { logger: createLogger(config.LOG_LEVEL), slackRetries: 0, processEveryMs: 200 });
    const { Grant } = accessModels(moved.store.connection);
    // The copy holds the grant as it was, and the first bot's audit.
    expect((await Grant.findOne({ grantId: grant.grantId }).lean())?.expiresAt).toEqual(grant.expiresAt);
    expect(await moved.services.audit.query({ action: 'access.approve', target: `access:${id}` })).toHaveLength(1);

    await eventually('the line removed by the moved bot', async () => !world.lines(bastion, 'readonly').some((l) => l.includes(grant.grantId)), 4 * DAY_MS);
    expect(Date.now()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    await eventually('the grant expired in the copy', async () => (await Grant.findOne({ grantId: grant.grantId }).lean())?.status === GrantStatus.expired);
  }, 120_000);
});

function quiet(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}
