/**
 * The engine with the `local` transport (the bot's own machine, the seed's default config
 * center), and the engine's own rules: input checks, signal names, output limits, redaction,
 * the job list.
 */
import { randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import type { LocalTarget } from '../../src/adapters/exec/types.js';
import { AppError } from '../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-engine-local-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const local: LocalTarget = { transport: 'local', name: 'config-center' };
const engine = new ExecutionEngine({ killGraceMs: 300 });

function processesMatching(needle: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(needle));
}

async function waitForFile(file: string): Promise<void> {
  for (let i = 0; i < 400 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
  expect(fs.existsSync(file)).toBe(true);
}

function appErrorCode(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('local transport', () => {
  it('runs a command and sorts results by exit code', async () => {
    const ok = await engine.start({ targets: [local], command: 'echo out; echo err >&2' }).done;
    expect(ok.host_ok['config-center']).toMatchObject({ stdout: 'out\n', stderr: 'err\n', code: 0, signal: null });
    const failed = await engine.start({ targets: [local], command: 'exit 4' }).done;
    expect(failed.host_failed['config-center']).toMatchObject({ code: 4 });
  });

  it("a task sees none of the bot's credentials in its environment, only PATH, HOME, locale and the like", async () => {
    const planted = { SLACK_BOT_TOKEN: 'xoxb-planted-token', SLACK_SIGNING_SECRET: 'planted-signing', MONGODB_URI: 'mongodb://u:planted@127.0.0.1/x', SMTP_URL: 'smtp://u:planted@127.0.0.1', OPSGATE_DEPLOY_TOKEN: 'planted-deploy' };
    const before = { ...process.env };
    Object.assign(process.env, planted);
    try {
      const r = await engine.start({ targets: [local], command: 'env' }).done;
      const out = r.host_ok['config-center']!.stdout;
      for (const v of Object.values(planted)) expect(out).not.toContain(v);
      const names = out.split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf('=')));
      expect(names).toContain('PATH');
      expect(names.every((n) => ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(n))).toBe(true);
    } finally {
      for (const k of Object.keys(planted)) delete process.env[k];
      Object.assign(process.env, before);
    }
  });

  it('a timeout ends the whole process group', async () => {
    const tag = randomInt(100_000, 999_999);
    const r = await engine.start({ targets: [local], command: `sleep ${tag} & sleep ${tag + 1}; wait`, timeoutMs: 300 }).done;
    expect(r.host_failed['config-center']).toMatchObject({ signal: 'SIGTERM', error: { kind: 'timeout' } });
    expect(processesMatching(`sleep ${tag}`)).toEqual([]);
  });

  it('a KILL signal ends the whole process group', async () => {
    const tag = randomInt(100_000, 999_999);
    const started = path.join(dir, `started-${tag}`);
    const { jobId, done } = engine.start({ targets: [local], command: `trap '' TERM; sleep ${tag} & touch ${started}; wait` });
    await waitForFile(started);
    expect(processesMatching(`sleep ${tag}`).length).toBeGreaterThan(0);
    engine.signal(jobId, 'KILL');
    expect((await done).host_failed['config-center']).toMatchObject({ code: null, signal: 'SIGKILL', error: { kind: 'cancelled' } });
    expect(processesMatching(`sleep ${tag}`)).toEqual([]);
  });
});

describe('engine rules', () => {
  it('refuses bad input with 1100', () => {
    expect(appErrorCode(() => engine.start({ targets: [], command: 'true' }))).toBe(1100);
    expect(appErrorCode(() => engine.start({ targets: [local, local], command: 'true' }))).toBe(1100);
    expect(appErrorCode(() => engine.start({ targets: [local], command: '' }))).toBe(1100);
    const ssh = { transport: 'ssh' as const, name: 'web', address: '127.0.0.1', port: 22, user: 'root' };
    // No bot SSH key configured on this engine.
    expect(appErrorCode(() => engine.start({ targets: [ssh], command: 'true' }))).toBe(1100);
    expect(appErrorCode(() => engine.start({ targets: [{ ...ssh, hostKey: 'md5:aa:bb' }], command: 'true' }))).toBe(1100);
  });

  it('refuses unknown signal names and unknown jobs with 1100', async () => {
    const { jobId, done } = engine.start({ targets: [local], command: 'sleep 0.2' });
    expect(appErrorCode(() => engine.signal(jobId, 'NOPE'))).toBe(1100);
    expect(appErrorCode(() => engine.signal(jobId, 'TERM; rm -rf /'))).toBe(1100);
    expect(appErrorCode(() => engine.signal('000000000000', 'TERM'))).toBe(1100);
    await done;
    // A finished job can be read but not signalled.
    expect(engine.get(jobId)?.state).toBe('done');
    expect(appErrorCode(() => engine.signal(jobId, 'TERM'))).toBe(1100);
  });

  it('cuts output at the limit and says so', async () => {
    const small = new ExecutionEngine({ maxOutputBytes: 1000 });
    const r = await small.start({ targets: [local], command: 'head -c 100000 /dev/zero | tr "\\0" a' }).done;
    const h = r.host_ok['config-center']!;
    expect(h.stdout).toBe('a'.repeat(1000));
    expect(h.truncated).toBe(true);
  });

  it('redacts a secret that straddles the output limit before cutting', async () => {
    const small = new ExecutionEngine({ maxOutputBytes: 1000 });
    const secret = 'TOPSECRET-' + 'x'.repeat(20);
    const r = await small.start({ targets: [local], command: `head -c 990 /dev/zero | tr "\\0" a; echo ${secret}`, secrets: [secret] }).done;
    const h = r.host_ok['config-center']!;
    expect(h.stdout).toBe('a'.repeat(990) + '***\n');
    expect(JSON.stringify(r)).not.toContain('TOPSECRET');
  });

  it('lists running jobs with their redacted command and forgets old finished ones', async () => {
    const keepOne = new ExecutionEngine({ keepFinishedJobs: 1 });
    const started = path.join(dir, `listed-${randomInt(1e9)}`);
    const first = keepOne.start({ targets: [local], command: `touch ${started}; sleep 0.3 # https://u:pw@h`, startedBy: 'U123' });
    await waitForFile(started);
    const [listed] = keepOne.running();
    expect(listed).toMatchObject({ jobId: first.jobId, state: 'running', startedBy: 'U123', hosts: 1, progress: { running: 1 } });
    expect(listed!.command).toContain('https://u:***@h');
    await first.done;
    expect(keepOne.running()).toEqual([]);
    const second = keepOne.start({ targets: [local], command: 'true' });
    await second.done;
    expect(keepOne.get(first.jobId)).toBeUndefined();
    expect(keepOne.get(second.jobId)?.result?.host_ok['config-center']?.code).toBe(0);
  });
});
