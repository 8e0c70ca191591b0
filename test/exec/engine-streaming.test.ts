/**
 * Live output (`onOutput`) from the engine, on the `local` transport and over a real sshd on
 * loopback: redacted as it streams (a secret written in two pieces included), in order, the
 * result unchanged, a slow listener pausing the process (seen in /proc: the writer sleeps in
 * pipe_write while the listener holds its first piece), and a failing listener not breaking
 * the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { LocalTransport } from '../../src/adapters/exec/local-transport.js';
import { SshTransport } from '../../src/adapters/exec/ssh-transport.js';
import type { HostTarget, LocalTarget, SshTarget, Transport } from '../../src/adapters/exec/types.js';
import { startSshdFleet, type SshdFleet } from '../helpers/sshd.js';

const SECRET = 'Zq9-s3cr3t_value!';
/** Kernel wait channels of a process sleeping in write(2) on a full pipe or unix socket. */
const BLOCKED_WRITE = /pipe_write|sock_alloc_send_pskb|unix_stream_sendmsg|unix_wait_for_peer/;
const local: LocalTarget = { transport: 'local', name: 'config-center' };
let fleet: SshdFleet;
let engine: ExecutionEngine;
let dir: string;
let ssh: SshTarget;

beforeAll(async () => {
  fleet = await startSshdFleet(1);
  engine = new ExecutionEngine({ sshPrivateKey: fleet.clientKey.privateKey, connectTimeoutMs: 5000, killGraceMs: 300 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-engine-stream-'));
  const s = fleet.servers[0]!;
  ssh = { transport: 'ssh', name: 'web-01', address: '127.0.0.1', port: s.port, user: 'root', hostKey: s.fingerprint };
});

afterAll(async () => {
  await fleet?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Piece {
  host: string;
  stream: string;
  text: string;
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readProc(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** An engine whose transports count the raw bytes they hand to the engine. */
function countingEngine(raw: { bytes: number }): ExecutionEngine {
  const wrap = <T extends HostTarget>(inner: Transport<T>): Transport<T> => ({
    run: (t, opts) =>
      inner.run(t, {
        ...opts,
        onOutput: (stream, chunk) => {
          raw.bytes += chunk.length;
          return opts.onOutput?.(stream, chunk);
        },
      }),
  });
  return new ExecutionEngine({
    killGraceMs: 300,
    transports: {
      local: wrap<LocalTarget>(new LocalTransport()),
      ssh: wrap<SshTarget>(new SshTransport({ privateKey: fleet.clientKey.privateKey, connectTimeoutMs: 5000 })),
    },
  });
}

const targets: [string, () => HostTarget][] = [
  ['local', () => local],
  ['ssh', () => ssh],
];

describe.each(targets)('onOutput on %s', (_name, target) => {
  it('streams redacted output in order, a secret split across writes included, and keeps the result as before', async () => {
    const pieces: Piece[] = [];
    // The secret goes out in two writes with a pause between, so it reaches the engine in two chunks.
    const command = `printf 'line 1\\n'; printf 'token=${SECRET.slice(0, 5)}'; sleep 0.3; printf '${SECRET.slice(5)} end\\n'; echo oops >&2; printf 'git https://u:pw-123@h/x\\n'; printf 'no newline at the end'`;
    const { done } = engine.start({
      targets: [target()],
      command,
      secrets: [SECRET],
      onOutput: (host, stream, text) => {
        pieces.push({ host, stream, text });
      },
    });
    const r = await done;
    const host = target().name;
    const stdout = pieces.filter((p) => p.stream === 'stdout').map((p) => p.text).join('');
    expect(stdout).toBe('line 1\ntoken=*** end\ngit https://u:***@h/x\nno newline at the end');
    expect(pieces.filter((p) => p.stream === 'stderr').map((p) => p.text).join('')).toBe('oops\n');
    expect(pieces.every((p) => p.host === host && !p.text.includes(SECRET.slice(0, 5)))).toBe(true);
    expect(pieces.map((p) => p.text).join('')).not.toContain('pw-123');
    expect(pieces.some((p) => p.text.includes('line 1')) && pieces.length).toBeGreaterThan(1);
    expect(r.host_ok[host]).toMatchObject({ stdout, stderr: 'oops\n', code: 0 });
  });

  it('pauses the process while the listener is busy, then delivers every byte', async () => {
    const pidFile = path.join(dir, `writer-${_name}.pid`);
    const total = 16 * 1024 * 1024;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    let received = 0;
    const raw = { bytes: 0 };
    const counting = countingEngine(raw);
    const { done } = counting.start({
      targets: [target()],
      // head is the writer; its pid is what `$!` names.
      command: `yes 0123456789abcdef | head -c ${total} & echo $! > ${pidFile}; wait`,
      onOutput: async (_h, _s, text) => {
        calls++;
        received += text.length;
        if (calls === 1) await held;
      },
    });
    await waitFor('the writer pid', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '');
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    // With backpressure the writer ends up asleep in write(2) on a full pipe (sshd's) or
    // socket (the bot's child stdio) and no more bytes reach the bot while the first piece
    // is held. Without it the bot reads on until all 16 MB are in (and head exits).
    let still = 0;
    let last = -1;
    await waitFor('the writer stalled or the output read through', () => {
      if (raw.bytes > total / 4) return true;
      still = BLOCKED_WRITE.test(readProc(pid, 'wchan')) && raw.bytes === last ? still + 1 : 0;
      last = raw.bytes;
      return still >= 10;
    });
    expect(calls).toBe(1);
    expect(raw.bytes).toBeLessThan(total / 4);
    // What head got out: the pipe or socket, plus (over SSH) sshd's buffers and the 2 MB channel window.
    const written = Number(/wchar:\s*(\d+)/.exec(readProc(pid, 'io'))?.[1]);
    expect(written).toBeLessThan(total / 2);
    release();
    const r = await done;
    expect(received).toBe(total);
    expect(r.host_ok[target().name]).toMatchObject({ code: 0, truncated: true });
  });

  it('a listener that throws stops live output for the host but not the run', async () => {
    let calls = 0;
    const { done } = engine.start({
      targets: [target()],
      command: 'echo one; sleep 0.2; echo two',
      onOutput: () => {
        calls++;
        throw new Error('listener broke');
      },
    });
    const r = await done;
    expect(calls).toBe(1);
    expect(r.host_ok[target().name]).toMatchObject({ stdout: 'one\ntwo\n', code: 0 });
  });
});

describe('onOutput input check', () => {
  it('refuses a listener that is not a function with 1100', () => {
    expect(() => engine.start({ targets: [local], command: 'true', onOutput: 'nope' as never })).toThrow(/onOutput must be a function/);
  });
});
