/**
 * `GET /metrics` on the bot's HTTP port, through the real app: Prometheus' text format (parsed
 * back with prom-client's own types in mind: names, labels, values), commands counted by name
 * and outcome, acks timed, audit actions (approvals) counted, store operations timed, the
 * store's shared counts read at scrape time; no label carries a host, person or Slack id; with
 * METRICS_TOKEN set a scrape without the bearer token is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samples } from '../helpers/metrics.js';
import { runCommand, startOpsgate, USERS, type TestOpsgate } from '../helpers/opsgate.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = 'metrics-token-0123456789abcdef';

describe('GET /metrics', () => {
  let t: TestOpsgate;
  const url = () => `http://127.0.0.1:${t.app.port}/metrics`;
  beforeAll(async () => {
    t = await startOpsgate({ env: { METRICS_TOKEN: TOKEN } });
    await t.ready();
  }, 60_000);
  afterAll(() => t?.stop());

  const scrape = async () => {
    const res = await fetch(url(), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return res.text();
  };

  it('refuses a scrape without the token, or with another', async () => {
    expect((await fetch(url())).status).toBe(401);
    expect((await fetch(url(), { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
  });

  it('counts commands, times acks and store operations, counts audited actions, reads the shared counts', async () => {
    await runCommand(t, '/opsgate', 'whoami', USERS.alice);
    await runCommand(t, '/opsgate', 'hosts web', USERS.erin);
    const reply = await runCommand(t, '/access', 'request web-01 readonly 1d read the logs', USERS.bob);
    expect(reply.text).toMatch(/Request AR-/);
    const text = await scrape();
    const all = samples(text);
    const one = (name: string, labels: Record<string, string> = {}) => all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(one('opsgate_slack_commands_total', { command: '/opsgate', outcome: 'ok' })?.value).toBe(2);
    expect(one('opsgate_slack_commands_total', { command: '/access', outcome: 'ok' })?.value).toBe(1);
    expect(one('opsgate_slack_ack_seconds_count', { status: '2xx' })?.value).toBeGreaterThanOrEqual(3);
    expect(one('opsgate_store_operation_seconds_count', { command: 'find' })?.value).toBeGreaterThan(0);
    // One entry for the request and one per host it names.
    expect(one('opsgate_audit_events_total', { action: 'access.request' })?.value).toBe(2);
    expect(one('opsgate_access_open_requests')?.value).toBe(1);
    expect(one('opsgate_access_active_grants')?.value).toBe(0);
    for (const queue of ['mail', 'notifications', 'tasks']) expect(one('opsgate_queue_depth', { queue })).toBeDefined();
    expect(one('opsgate_ssh_connections', { event: 'opened' })).toBeDefined();
    expect(one('opsgate_process_resident_memory_bytes')?.value).toBeGreaterThan(0);
    // Series that exist before their first event (at 0), so a dashboard sees them from the start.
    for (const kind of ['ticket', 'module']) for (const outcome of ['succeeded', 'failed', 'revoked', 'interrupted']) expect(one('opsgate_runs_duration_seconds_count', { kind, outcome })?.value, `${kind} ${outcome}`).toBe(0);
    for (const type of ['add', 'delete']) expect(one('opsgate_access_task_failures_total', { type })?.value).toBe(0);
    expect(one('opsgate_access_expiry_lateness_seconds_count')?.value).toBe(0);
    // Bounded labels: no host, person or Slack id in any label value.
    const values = all.flatMap((s) => Object.values(s.labels));
    for (const leak of ['web-01', 'bob', 'UBOB', 'alice', 'UALICE', 'AR-']) expect(values.some((v) => v.includes(leak)), leak).toBe(false);
  });

  it("the shipped Grafana dashboard asks only for metrics the bot serves", async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'docs/grafana-dashboard.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const served = new Set(samples(await scrape()).map((s) => s.name));
    const asked = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/opsgate_[a-z0-9_]+/g) ?? [])));
    expect(asked.size).toBeGreaterThan(8);
    for (const name of asked) expect(served.has(name), name).toBe(true);
  });
});
