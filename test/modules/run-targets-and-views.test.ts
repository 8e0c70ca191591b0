/**
 * `/run` over signed HTTP to the real Bolt app on two real sshd hosts: several host names in
 * one inline target (any of them, narrowed by the other keys), the form's redraws carrying the
 * view's hash (a stale redraw is refused by Slack and overwrites nothing), and the per-host
 * view opened from the summary DM's own button.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actions, Commands, RunBlocks } from '../../commands/ids.js';
import { runCommand, USERS } from '../helpers/opsgate.js';
import { jobIdIn, startRunApp, type RunApp, type Server } from '../helpers/run-app.js';
import { buttonValue, text } from '../helpers/ticket-slack.js';

let r: RunApp;
const h = (name: string, s: Server, env: string, app: string) => ({ name, address: '127.0.0.1', port: s.port, hostKey: s.fingerprint, env, app });

beforeAll(async () => {
  r = await startRunApp({
    servers: 2,
    hosts: ([s0, s1]) => [h('web-1', s0!, 'prod', 'nginx'), h('web-2', s1!, 'prod', 'nginx'), h('st-1', s0!, 'stage', 'php'), h('st-2', s1!, 'stage', 'php'), h('web-10', s0!, 'prod', 'varnish')],
    modules: () => [{ id: 1, name: 'probe', command: 'set -- $SSH_CONNECTION; echo ok $4', envs: ['prod', 'stage'], channel: '#ops-runs' }],
  });
}, 60_000);
afterAll(() => r?.stop());

/** Runs `/run <text>` as carol and waits for the job's end (her DM). */
async function runToEnd(textOf: string) {
  const mark = r.t.fake.calls.length;
  const res = await runCommand(r.t, Commands.run, textOf, USERS.carol);
  const jobId = jobIdIn(JSON.stringify(res.blocks));
  expect(jobId, res.text).not.toBe('');
  const dm = await r.t.fake.waitFor('chat.postMessage', (c) => r.after(mark)(c) && c.args.channel === `D${USERS.carol.id}` && text(c).includes(`Your run ${jobId}`), 30_000);
  return { jobId, dm, job: await r.job(jobId) };
}

describe('inline /run with several host names', () => {
  it('targets every host named (target:web-1 target:web-2), not only hosts matching both names', async () => {
    const { job } = await runToEnd('probe target:web-1 target:web-2');
    expect(job.target.hostNames).toEqual(['web-1', 'web-2']);
    expect(job).toMatchObject({ state: 'done', counts: { ok: 2, failed: 0, unreachable: 0 } });
  });

  it('a bare name is that host, not every host containing it (web-1 is not web-10); a * glob names several', async () => {
    expect((await runToEnd('probe target:web-1')).job.target.hostNames).toEqual(['web-1']);
    expect((await runToEnd('probe target:WEB-1')).job.target.hostNames).toEqual(['web-1']);
    expect((await runToEnd('probe target:web-*')).job.target.hostNames).toEqual(['web-1', 'web-10', 'web-2']);
    expect((await runToEnd('probe target:web-1*')).job.target.hostNames).toEqual(['web-1', 'web-10']);
    // A regular-expression character is literal: nothing matches, nothing starts.
    expect((await runCommand(r.t, Commands.run, 'probe target:web.1', USERS.carol)).text).toContain('[1100] Bad parameter: no enabled host matches web.1');
  });

  it('names are any of them, other keys narrow them: web-1 st-1 env:stage is st-1; two environments are either', async () => {
    expect((await runToEnd('probe web-1 st-1 env:stage')).job.target.hostNames).toEqual(['st-1']);
    expect((await runToEnd('probe target:env:prod env:stage app:php')).job.target.hostNames).toEqual(['st-1', 'st-2']);
  });
});

describe('the /run form redraws with the view hash', () => {
  it('of two redraws racing, the older one (landing last with the hash it saw) is refused and overwrites nothing', async () => {
    const mark = r.t.fake.calls.length;
    await r.t.slack.command(Commands.run, '', USERS.carol);
    const opened = await r.t.fake.waitFor('views.open', r.after(mark));
    const { id, hash } = opened.reply!.view as { id: string; hash: string };
    const meta = (opened.args.view as { private_metadata: string }).private_metadata;
    // Both changes were made on the view as Slack showed it then (the same hash); the newer
    // one's redraw lands first, the older one's after it.
    const typed = (app: string) => ({ values: { [RunBlocks.module]: { [Actions.runModule]: { type: 'static_select', selected_option: { value: 'probe' } } }, [RunBlocks.app]: { [Actions.runTarget]: { type: 'plain_text_input', value: app } } } });
    const redraw = async (app: string) => {
      const m = r.t.fake.calls.length;
      expect((await r.t.slack.blockAction(USERS.carol, { action_id: Actions.runTarget, type: 'plain_text_input' }, { view: { id, type: 'modal', callback_id: 'run_form', private_metadata: meta, hash, state: typed(app) } })).status).toBe(200);
      return r.t.fake.waitFor('views.update', r.after(m));
    };
    const newer = await redraw('nginx');
    expect(newer.args.hash).toBe(hash);
    expect(newer.reply).toMatchObject({ ok: true });
    const older = await redraw('ngin');
    expect(older.args.hash).toBe(hash);
    expect(older.reply).toEqual({ ok: false, error: 'hash_conflict' });
    // What Slack shows is the newer redraw: two hosts match app:nginx.
    const shown = JSON.stringify(r.t.fake.views.get(id)!.view);
    expect(shown).toContain('*2* enabled hosts match `app:nginx`');
    expect(shown).not.toContain('app:ngin`');
    // The refused redraw is not an error for the person: nothing is posted to carol about it.
    const told = r.t.fake.calls.filter((c) => r.after(mark)(c) && ['chat.postEphemeral', 'chat.postMessage'].includes(c.method) && text(c).includes(USERS.carol.id));
    expect(told).toEqual([]);
  });
});

describe('the summary DM', () => {
  it('carries the per-host view button: clicked in the DM it opens the modal with each host', async () => {
    const { jobId, dm } = await runToEnd('probe target:app:php');
    const value = buttonValue(dm, Actions.jobHosts);
    expect(JSON.parse(value)).toEqual({ j: jobId });
    const mark = r.t.fake.calls.length;
    expect((await r.t.slack.blockAction(USERS.carol, { action_id: Actions.jobHosts, value }, { channel: `D${USERS.carol.id}`, message_ts: String(dm.reply!.ts) })).status).toBe(200);
    const modal = JSON.stringify((await r.t.fake.waitFor('views.open', r.after(mark))).args.view);
    expect(modal).toContain(`${jobId} hosts`);
    expect(modal).toContain('`host_ok` *st-1* · exit 0');
    expect(modal).toContain('`host_ok` *st-2* · exit 0');
    expect(modal).toContain(Actions.jobHostFile);
  });
});
