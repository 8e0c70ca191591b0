/**
 * The wrapper that puts a remote command in a process group of its own and reports the group
 * id, run here by dash both as a group leader (what sshd gives a session's shell) and as a
 * plain child (the setsid path, for servers that do not make the shell a leader).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PgidMarkerScanner, wrapInProcessGroup } from '../../src/adapters/exec/process-group-wrapper.js';

function run(command: string, detached: boolean): Promise<{ pid: number; pgid?: number; stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { detached, stdio: ['ignore', 'pipe', 'inherit'] });
    let pgid: number | undefined;
    const scanner = new PgidMarkerScanner((id) => (pgid = id));
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += scanner.push(c).toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      stdout += scanner.flush().toString();
      resolve({ pid: child.pid!, pgid, stdout, code });
    });
  });
}

describe('wrapInProcessGroup', () => {
  it('reports its own group when the shell already leads one, and keeps the exit code', async () => {
    const r = await run(wrapInProcessGroup(`ps -o pgid= -p $$; exit 5`), true);
    expect(r.pgid).toBe(r.pid);
    expect(r.stdout.trim()).toBe(String(r.pid));
    expect(r.code).toBe(5);
  });

  it('starts a new group under setsid when the shell does not lead one', async () => {
    const r = await run(wrapInProcessGroup(`ps -o pgid= -p $$; exit 6`), false);
    expect(r.pgid).toBeDefined();
    expect(r.pgid).not.toBe(process.pid);
    // The script runs in the group the marker named.
    expect(r.stdout.trim()).toBe(String(r.pgid));
    expect(r.code).toBe(6);
  });
});

describe('PgidMarkerScanner', () => {
  it('passes through output printed before the marker and strips the marker line across chunks', () => {
    let pgid: number | undefined;
    const s = new PgidMarkerScanner((id) => (pgid = id));
    const parts = ['motd line\n\x1eOPSGATE-', 'PGID 4242', '\nhello\n', 'world\n'].map((p) => s.push(Buffer.from(p)).toString());
    expect(parts.join('')).toBe('motd line\nhello\nworld\n');
    expect(pgid).toBe(4242);
  });

  it('gives everything back at the end when no marker came', () => {
    const s = new PgidMarkerScanner(() => {
      throw new Error('no marker expected');
    });
    expect(s.push(Buffer.from('no marker here')).toString()).toBe('');
    expect(s.flush().toString()).toBe('no marker here');
  });
});
