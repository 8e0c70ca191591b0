/**
 * Misbehaving SSH servers on loopback, for the faults real sshd will not stage on demand:
 *   - `silent`: accepts TCP and never says a word (a firewall that swallows packets, a hung
 *     sshd): the client must give up at its connect timeout.
 *   - `drop-on-exec`: a real SSH server (ssh2's Server) that authenticates any key, then cuts
 *     the connection when asked to run a command.
 *   - `late-marker`: runs nothing, but answers like a loaded host: the process-group marker
 *     of the wrapper arrives only after a delay, the "process" ignores TERM, and a
 *     `kill -KILL -<pgid>` on a second channel ends it with signal KILL. Every command asked
 *     for is recorded.
 *   - `flaky`: answers every command with "ok" and exit 0, except that a command containing
 *     DROP_MID_COMMAND gets "started" and then its connection is cut (a host lost while the
 *     command ran), and that it can cut a connection at its next channel request (a pooled
 *     connection that died while idle). Commands and connections are counted. A command
 *     containing HANG_MID_COMMAND gets "started" and then the host goes silent (reads nothing
 *     more, answers no keepalive: a host that froze while the command ran); one containing
 *     DROP_MID_TRANSFER gets half of a 512 KiB output and then its connection is cut.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { fingerprintOf } from './sshd.js';

export interface FaultServer {
  port: number;
  /** Host-key fingerprint (`SHA256:...`); undefined for `silent`, which never shows one. */
  fingerprint?: string;
  stop(): Promise<void>;
}

export async function startSilentServer(): Promise<FaultServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export function startDropOnExecServer(): Promise<FaultServer> {
  return startFakeSshServer((client, session) => session.on('exec', () => client.end()));
}

export interface LateMarkerServer extends FaultServer {
  /** Every command the client asked to run, in order. */
  execs: string[];
}

export async function startLateMarkerServer(opts: { markerDelayMs: number; pgid: number }): Promise<LateMarkerServer> {
  const execs: string[] = [];
  let main: ssh2.ServerChannel | undefined;
  const server = await startFakeSshServer((_client, session) => {
    session.on('exec', (accept, _reject, info) => {
      const channel = accept();
      execs.push(info.command);
      if (!main) {
        main = channel;
        setTimeout(() => channel.write(`\x1eOPSGATE-PGID ${opts.pgid}\n`), opts.markerDelayMs);
        return;
      }
      if (info.command === `kill -KILL -${opts.pgid}`) {
        main.exit('KILL');
        main.end();
      }
      channel.exit(0);
      channel.end();
    });
  });
  return { ...server, execs };
}

/** In a command, makes the `flaky` server cut the connection once the command has started. */
export const DROP_MID_COMMAND = 'opsgate-test-drop-mid-command';

/** In a command, makes the `flaky` server freeze once the command has started. */
export const HANG_MID_COMMAND = 'opsgate-test-hang-mid-command';
/** In a command, makes the `flaky` server cut the connection halfway through a 512 KiB output. */
export const DROP_MID_TRANSFER = 'opsgate-test-drop-mid-transfer';
export const TRANSFER_BYTES = 512 * 1024;

export interface FlakyServer extends FaultServer {
  /** Every command the client asked to run, in order. */
  execs: string[];
  /** SSH connections accepted so far. */
  connections(): number;
  /** The next channel request, on any connection, is answered by cutting that connection. */
  dropAtNextChannelRequest(): void;
}

export async function startFlakyServer(): Promise<FlakyServer> {
  const execs: string[] = [];
  let connections = 0;
  let dropNext = false;
  const server = await startFakeSshServer(
    (client, session) => {
      session.on('exec', (accept, _reject, info) => {
        const channel = accept();
        execs.push(info.command);
        if (info.command.includes(DROP_MID_COMMAND)) {
          channel.write('started\n', () => client.end());
          return;
        }
        if (info.command.includes(HANG_MID_COMMAND)) {
          // Stop reading the socket: nothing the client sends (signals, keepalives) is answered.
          // The wrapper's process-group marker first, as a real host's shell sends it.
          channel.write('\x1eOPSGATE-PGID 4242\nstarted\n', () => (client as unknown as { _sock: NodeJS.ReadableStream })._sock.pause());
          return;
        }
        if (info.command.includes(DROP_MID_TRANSFER)) {
          const chunk = 'x'.repeat(1023) + '\n';
          for (let i = 0; i < TRANSFER_BYTES / 2 / 1024; i++) channel.write(chunk);
          channel.write('', () => client.end());
          return;
        }
        channel.write('ok\n');
        channel.exit(0);
        channel.end();
      });
    },
    {
      onConnection: () => connections++,
      beforeSession: (client) => {
        if (!dropNext) return true;
        dropNext = false;
        client.end();
        return false;
      },
    },
  );
  return { ...server, execs, connections: () => connections, dropAtNextChannelRequest: () => (dropNext = true) };
}

type SessionHandler = (client: ssh2.Connection, session: ssh2.Session) => void;

interface FakeServerHooks {
  onConnection?: (client: ssh2.Connection) => void;
  /** Called at each channel (session) request; false leaves it unanswered. */
  beforeSession?: (client: ssh2.Connection) => boolean;
}

/** An ssh2 Server on loopback with a fresh host key that accepts any client key. */
async function startFakeSshServer(onSession: SessionHandler, hooks: FakeServerHooks = {}): Promise<FaultServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-faultssh-'));
  const keyFile = path.join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile], { stdio: 'ignore' });
  const fingerprint = fingerprintOf(keyFile + '.pub');
  const clients = new Set<ssh2.Connection>();
  const server = new ssh2.Server({ hostKeys: [fs.readFileSync(keyFile)] }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => hooks.onConnection?.(client));
    client.on('session', (accept) => {
      if (hooks.beforeSession && !hooks.beforeSession(client)) return;
      onSession(client, accept());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    fingerprint,
    stop: () =>
      new Promise<void>((r) => {
        // Destroyed, not ended: a connection made to hang reads nothing, so it would never close.
        for (const c of clients) (c as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}
