/**
 * Two identical inline `/access request` commands sent at the same instant, through the real
 * Bolt app over signed HTTP: both pass the service's look-up for an open application before
 * either writes, so only the store's unique partial index (one open application per
 * requester, host and role) keeps it to one. One is accepted, the other refused as already
 * asked with its code, and nothing of the refused one stays behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessModels, ApplicationStatus, OPEN_APPLICATION_INDEX } from '../../src/models/access.js';
import { startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

// Active hosts of the example catalog; one pair of identical requests per host, all at once,
// so the requests interleave at every await of the service.
const HOSTS = ['web-01', 'web-02', 'app-01', 'lb-01', 'stage-web-01'];

describe('identical access requests at the same instant', () => {
  let t: TestOpsgate;
  beforeAll(async () => {
    t = await startOpsgate();
    await t.ready();
    // The index is built when the model is first compiled; wait for it instead of racing it.
    await accessModels(t.app.store.connection).Application.init();
  }, 60_000);
  afterAll(() => t?.stop());

  /** Sends a command with its own response_url and resolves with what that URL received. */
  async function send(text: string, replyId: string): Promise<string> {
    const res = await t.slack.command('/access', text, USERS.bob, { responseUrl: t.fake.responseUrl(replyId) });
    expect(res.status).toBe(200);
    if (res.text.trim() !== '') return res.text;
    const call = await t.fake.waitFor('response_url', (c) => c.args.response_id === replyId, 30_000);
    return JSON.stringify(call.args);
  }

  it('accepts one of each pair and refuses the other as already asked', async () => {
    const { Application, Request } = accessModels(t.app.store.connection);
    expect((await Application.listIndexes()).map((ix) => ix.name)).toContain(OPEN_APPLICATION_INDEX);
    const replies = await Promise.all(
      HOSTS.flatMap((host) => [0, 1].map((i) => send(`request ${host} readonly 1d read the logs`, `${host}-${i}`).then((reply) => ({ host, reply })))),
    );
    for (const host of HOSTS) {
      const pair = replies.filter((r) => r.host === host).map((r) => r.reply);
      const accepted = pair.map((r) => /Request (AR-[A-Z0-9]{6}) sent/.exec(r)?.[1]).filter(Boolean);
      const refused = pair.filter((r) => r.includes(`already asked for readonly on ${host}`));
      expect({ host, accepted: accepted.length, refused: refused.length }).toEqual({ host, accepted: 1, refused: 1 });
      expect(refused[0]).toContain('[1100]');
      expect(refused[0]).toContain(`(request ${accepted[0]})`);
      const apps = await Application.find({ requester: 'bob', host }).lean();
      expect(apps.map((a) => [a.requestId, a.status])).toEqual([[accepted[0], ApplicationStatus.pending]]);
      expect(await Request.countDocuments({ requester: 'bob', hosts: host })).toBe(1);
    }
  }, 60_000);
});
