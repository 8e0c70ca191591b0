/**
 * Runs a command on the bot's own machine (the seed's default "config center") as a child
 * process that leads its own process group, so signals and timeouts reach everything it
 * started.
 */
import { spawn } from 'node:child_process';
import { OutputBuffer } from './output-buffer.js';
import { readOutput } from './read-output.js';
import { STOP_SIGNALS } from './signals.js';
import type { HostError, HostResult, LocalTarget, RunCommandOptions, RunningCommand, SignalName, Transport } from './types.js';

export interface LocalTransportOptions {
  shell?: string;
  /** Working folder for commands; the bot's own by default. */
  cwd?: string;
  /** The environment commands start with; by default `taskEnvironment(process.env)`. */
  env?: NodeJS.ProcessEnv;
}

/** What a task on the bot's machine may see of the bot's environment: how to find programs and speak, nothing more. */
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR'];

/**
 * The bot's environment holds its credentials (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
 * MONGODB_URI, SMTP_URL, every OPSGATE_* secret): a task that printed `env` would put them in
 * the channel, the log and the mail. Tasks get an allow-list instead; a template's secrets
 * reach its commands through their placeholders, never through the environment.
 */
export function taskEnvironment(from: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of INHERITED) if (from[k] !== undefined) env[k] = from[k];
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return env;
}

export class LocalTransport implements Transport<LocalTarget> {
  constructor(private readonly opts: LocalTransportOptions = {}) {}

  run(target: LocalTarget, opts: RunCommandOptions): RunningCommand {
    const started = performance.now();
    const stdout = new OutputBuffer(opts.maxOutputBytes);
    const stderr = new OutputBuffer(opts.maxOutputBytes);
    const timers: NodeJS.Timeout[] = [];
    let error: HostError | undefined;
    let stoppedBy: SignalName | undefined;
    let done = false;

    // detached: the child calls setsid(), so its pid is also its process group's id.
    const child = spawn(this.opts.shell ?? '/bin/sh', ['-c', opts.command], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: this.opts.cwd,
      env: this.opts.env ?? taskEnvironment(process.env),
    });
    void readOutput(child.stdout, (c) => {
      stdout.push(c);
      return opts.onOutput?.('stdout', c);
    });
    void readOutput(child.stderr, (c) => {
      stderr.push(c);
      return opts.onOutput?.('stderr', c);
    });

    const signalGroup = (name: SignalName): void => {
      if (done || child.pid === undefined) return;
      try {
        process.kill(-child.pid, `SIG${name}` as NodeJS.Signals);
      } catch {
        // ESRCH: the group is already gone.
      }
    };

    const result = new Promise<HostResult>((resolve) => {
      const settle = (code: number | null, signal: string | null) => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        if (!error && stoppedBy && code !== 0) error = { kind: 'cancelled', message: `stopped by SIG${stoppedBy}` };
        resolve({
          host: target.name,
          stdout: stdout.text(),
          stderr: stderr.text(),
          code,
          signal,
          durationMs: Math.round(performance.now() - started),
          truncated: stdout.overflowed || stderr.overflowed,
          ...(error ? { error } : {}),
        });
      };
      child.on('error', (err) => {
        error = { kind: 'connect', message: `cannot start ${this.opts.shell ?? '/bin/sh'}: ${err.message}` };
        settle(null, null);
      });
      // 'close' comes after the output pipes are drained, unlike 'exit'.
      child.on('close', (code, signal) => settle(code, signal));
    });

    timers.push(
      setTimeout(() => {
        error = { kind: 'timeout', message: `command did not finish within ${opts.timeoutMs} ms; its process group was terminated` };
        signalGroup('TERM');
        timers.push(setTimeout(() => signalGroup('KILL'), opts.killGraceMs));
      }, opts.timeoutMs),
    );

    return {
      result,
      signal: (name) => {
        if (STOP_SIGNALS.has(name)) stoppedBy ??= name;
        signalGroup(name);
      },
    };
  }
}
