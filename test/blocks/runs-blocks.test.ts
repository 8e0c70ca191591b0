/**
 * The module-run messages against Slack's limits, fed small and huge runs: a small run shows
 * every host with its first lines (one section each, so no host is cut away), a large one
 * lists hosts and points at /jobs show and /jobs output, and every message stays within 50
 * blocks and 3,000 characters per section.
 */
import { describe, expect, it } from 'vitest';
import { HOSTS_PAGE, jobHostsModal, jobListMessage, jobShowMessage, runChannelMessage, runSummaryMessage } from '../../blocks/runs.js';
import { LIMITS } from '../../blocks/limits.js';
import type { Job } from '../../src/models/jobs.js';

function job(hosts: number, output: string): Job {
  const start = new Date('2026-12-01T10:00:00Z');
  const hs = Array.from({ length: hosts }, (_, i) => ({
    name: `host-${String(i).padStart(4, '0')}`,
    address: '127.0.0.1',
    env: 'prod',
    state: (['ok', 'failed', 'unreachable'] as const)[i % 3]!,
    code: i % 3 === 0 ? 0 : i % 3 === 1 ? 7 : null,
    signal: null,
    durationMs: 1234,
    errorKind: i % 3 === 2 ? 'connect' : null,
    error: i % 3 === 2 ? 'connect ECONNREFUSED 127.0.0.1:22' : null,
    why: i % 3 === 2 ? ('refused' as const) : null,
    stdoutTail: output,
    stderrTail: '',
    outputBytes: output.length,
    outputCut: false,
    endedAt: start,
  }));
  return {
    jobId: 'J-0123456789',
    kind: 'module',
    module: { id: 1, name: 'syslog-tail', command: 'tail -n 100 /var/log/syslog' },
    params: { lines: 100 },
    target: { filter: 'app:nginx', hostNames: hs.map((h) => h.name), envs: ['prod'] },
    startedBy: 'carol',
    startedBySlack: 'UCAROL',
    channel: '#ops-runs',
    state: 'done',
    instanceId: 'i',
    heartbeatAt: start,
    engineJobId: 'e',
    hosts: hs,
    counts: { ok: hs.filter((h) => h.state === 'ok').length, failed: hs.filter((h) => h.state === 'failed').length, unreachable: hs.filter((h) => h.state === 'unreachable').length },
    signals: [],
    startedAt: start,
    endedAt: new Date(start.getTime() + 5000),
    note: null,
  } as unknown as Job;
}

function expectWithin(m: { text: string; blocks: unknown[] }): void {
  expect(m.text.length).toBeLessThanOrEqual(LIMITS.text);
  expect(m.blocks.length).toBeLessThanOrEqual(LIMITS.messageBlocks);
  for (const b of m.blocks as Array<Record<string, any>>) {
    if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.plainText);
  }
}

describe('run messages', () => {
  it('a small run with long output: every host is shown with its first lines, within the limits', () => {
    const j = job(10, Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(200)}`).join('\n'));
    for (const m of [runChannelMessage(j, Date.now()), runSummaryMessage(j, Date.now())]) {
      expectWithin(m);
      const body = JSON.stringify(m.blocks);
      for (const h of j.hosts) expect(body).toContain(h.name);
      expect(body).toContain('unreachable (refused)');
      expect(body).toContain('line 0');
      expect(body).not.toContain('line 5 ');
    }
  });

  it('a run on 1,000 hosts: buckets list hosts (the rest counted), /jobs show and /jobs output named, within the limits', () => {
    const j = job(1000, 'ok\n');
    const m = runChannelMessage(j, Date.now());
    expectWithin(m);
    const body = JSON.stringify(m.blocks);
    expect(body).toContain('*host_ok* (334)');
    expect(body).toContain('more');
    expect(body).toContain('/jobs output J-0123456789 <host>');
    expectWithin(jobShowMessage(j, Date.now()));
    expectWithin(jobListMessage(Array.from({ length: 40 }, () => ({ ...j, state: 'running' }) as Job), Date.now()));
  });

  it('text from hosts cannot mention people or break out of its code block', () => {
    const j = job(1, '<!channel> <@U123> ``` *bold*');
    const body = JSON.stringify(runChannelMessage(j, Date.now()).blocks);
    expect(body).not.toContain('<!channel>');
    expect(body).toContain('&lt;!channel&gt;');
    expect(body).not.toMatch(/``` \*bold/);
  });
});

describe('jobHostsModal', () => {
  const nav = (v: ReturnType<typeof jobHostsModal>) => ((v.blocks as Array<Record<string, any>>).find((b) => b.block_id === 'job_hosts_nav')?.elements ?? []).map((e: { text: { text: string }; value: string }) => [e.text.text, JSON.parse(e.value)]);
  const hostsOn = (v: ReturnType<typeof jobHostsModal>) => (v.blocks as Array<Record<string, any>>).filter((b) => b.accessory).map((b) => JSON.parse(b.accessory.value).h);

  it('pages 25 hosts by ten, buckets in seed 001 order, with Previous / Next and a file button per host', () => {
    const j = job(25, 'line\n'.repeat(50));
    const first = jobHostsModal(j, 0);
    expect(hostsOn(first)).toHaveLength(HOSTS_PAGE);
    expect(nav(first)).toEqual([['Next', { j: j.jobId, p: 1 }]]);
    expect(JSON.stringify(first.blocks)).toContain('`host_ok` *host-0000* · exit 0 · 1.2 s');
    const middle = jobHostsModal(j, 1);
    expect(nav(middle)).toEqual([['Previous', { j: j.jobId, p: 0 }], ['Next', { j: j.jobId, p: 2 }]]);
    const last = jobHostsModal(j, 2);
    expect(hostsOn(last)).toHaveLength(5);
    expect(nav(last)).toEqual([['Previous', { j: j.jobId, p: 1 }]]);
    // Every host once, ok before failed before unreachable.
    const all = [0, 1, 2].flatMap((p) => hostsOn(jobHostsModal(j, p)));
    expect(new Set(all).size).toBe(25);
    const state = (h: string) => j.hosts.find((x) => x.name === h)!.state;
    expect(all.map(state)).toEqual([...all.map(state)].sort((a, b) => ['ok', 'failed', 'unreachable'].indexOf(a) - ['ok', 'failed', 'unreachable'].indexOf(b)));
    // A page past the end shows the last; the title fits Slack's 24 characters.
    expect(hostsOn(jobHostsModal(j, 99))).toEqual(hostsOn(last));
    expect(first.title.text.length).toBeLessThanOrEqual(24);
    for (const v of [first, middle, last]) {
      expect(v.blocks.length).toBeLessThanOrEqual(LIMITS.viewBlocks);
      for (const b of v.blocks as Array<Record<string, any>>) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
    }
  });

  it('the final channel message carries the per-host view button; a running one does not', () => {
    const done = runChannelMessage(job(3, 'x'), Date.now());
    expect(JSON.stringify(done.blocks)).toContain('"action_id":"job_hosts"');
    expect(JSON.stringify(runChannelMessage({ ...job(3, 'x'), state: 'running' } as Job, Date.now()).blocks)).not.toContain('"action_id":"job_hosts"');
  });
});
