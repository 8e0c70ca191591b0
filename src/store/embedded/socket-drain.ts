import type net from 'node:net';

/** Resolves when the socket can take more writes, or is gone (closed connections never drain). */
export function drainOrClose(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}
