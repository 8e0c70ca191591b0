/**
 * Misbehaving SSH servers on loopback, for the faults real sshd will not stage on demand:
 *   - `silent`: accepts TCP and never says a word (a firewall that swallows packets, a hung
 *     sshd): the client must give up at its connect timeout.
 *   - `drop-on-exec`: a real SSH server (ssh2's Server) that authenticates any key, then cuts
 *     the connection when asked to run a command.
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

export async function startDropOnExecServer(): Promise<FaultServer> {
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
    client.on('session', (accept) => {
      const session = accept();
      session.on('exec', () => client.end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    fingerprint,
    stop: () =>
      new Promise<void>((r) => {
        for (const c of clients) c.end();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}
