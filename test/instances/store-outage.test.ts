/**
 * The store process killed with SIGKILL under a running bot process: the bot keeps answering
 * Slack (a coded "try again" for what needs the store, never a hang past Slack's 3 s), and
 * works again once a store is back on the same data folder and port, with what it had
 * acknowledged before still there.
 */
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels } from '../../src/models/access.js';
import { personModel } from '../../src/models/person.js';
import { eventually } from '../helpers/access-env.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { exampleCatalog, manifestScopes, USERS } from '../helpers/opsgate.js';
import { spawnStore, type StoreProcess } from '../helpers/store-process.js';

describe('the store killed under a running bot', () => {
  let fake: FakeSlack;
  let bots: Instances;
  let revived: StoreProcess | undefined;

  beforeAll(async () => {
    fake = await new FakeSlack(manifestScopes()).start();
    for (const u of Object.values(USERS)) fake.addUser(u);
    bots = await startInstances({ count: 1, fake, catalogDir: exampleCatalog });
    await bots.all[0]!.line((l) => l.msg === 'directory synced');
  }, 60_000);

  afterAll(async () => {
    await bots?.stop();
    revived?.child.kill('SIGTERM');
    await revived?.exited;
    await fake?.stop();
  });

  const whoami = async () => {
    const mark = fake.calls.length;
    const started = Date.now();
    const res = await bots.all[0]!.slack.command('/opsgate', 'whoami', USERS.carol);
    const acked = Date.now() - started;
    const body = res.text.trim() ? res.text : JSON.stringify((await fake.waitFor('response_url', (c) => fake.calls.indexOf(c) >= mark, 30_000)).args);
    return { status: res.status, acked, body };
  };

  it('answers with a coded "try again" while the store is gone, and works again once it is back', { timeout: 120_000 }, async () => {
    expect((await whoami()).body).toContain('carol');
    // A write acknowledged to Slack just before the store dies: it must be there afterwards.
    const mark = fake.calls.length;
    await bots.all[0]!.slack.command('/access', 'request web-01 readonly 1d read the logs before the outage', USERS.carol);
    const sent = JSON.stringify((await fake.waitFor('response_url', (c) => fake.calls.indexOf(c) >= mark)).args);
    const requestId = /AR-[A-Z0-9]{6}/.exec(sent)?.[0];
    expect(requestId, sent).toBeDefined();
    const uri = new URL(bots.dbUri);
    const dbpath = /--dbpath (\S+)/.exec(bots.store.child.spawnargs.join(' '))![1]!;
    bots.store.child.kill('SIGKILL');
    await bots.store.exited;

    const down = await whoami();
    expect(down.status).toBe(200);
    // Slack gives up on an app after 3 s: the ack came before that (a bound, not a speed target).
    expect(down.acked).toBeLessThan(3000);
    const errors = () => JSON.stringify(bots.all[0]!.lines.filter((l) => Number(l.level) >= 50).slice(-3));
    expect(down.body, errors()).toMatch(/\[1300\].*(try again|store)/i);
    expect(bots.all[0]!.alive()).toBe(true);

    // Back on the same folder and port (the URI the bot was given): its driver reconnects.
    revived = await spawnStore(dbpath, ['--port', uri.port]);
    await eventually('the bot works again', async () => /carol/.test((await whoami()).body), 60_000);
    const db = await mongoose.createConnection(bots.dbUri).asPromise();
    try {
      expect(await personModel(db).countDocuments({ personId: 'carol' })).toBe(1);
      expect(await accessModels(db).Application.countDocuments({ requestId })).toBe(1);
    } finally {
      await db.close();
    }
  });
});
