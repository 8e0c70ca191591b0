/** Raw-socket pieces for tests that talk to the store below the driver (bad lengths, idle sockets). */
import net from 'node:net';

/** A wire header: length, requestId, responseTo 0, opcode OP_MSG. */
export function header(length: number, requestId = 1): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(0, 8);
  h.writeInt32LE(2013, 12);
  return h;
}

export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the socket is closed (at once if it already is). */
export function closed(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => (sock.destroyed ? resolve() : sock.once('close', () => resolve())));
}
