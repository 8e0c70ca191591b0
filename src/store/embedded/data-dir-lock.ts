/**
 * One process per data folder, held by the kernel: the owner listens on a Linux abstract unix
 * socket named after the folder's real path. The kernel frees the name the instant its owner
 * dies, even by SIGKILL and before its parent has reaped it, so a restart right after a crash
 * always gets the folder; a second live process gets EADDRINUSE and is refused. (A pid check,
 * used before, still saw a killed owner alive while it was a zombie and refused the restart.)
 *
 * `mongod.lock` still holds the owner's pid, for people and tools to read; it decides nothing.
 * Abstract sockets exist on Linux only; elsewhere the pid in `mongod.lock` is all there is.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DIR_MODE, FILE_MODE } from './data-dir-modes.js';

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number | null) {
    super(`data folder ${dir} is already in use by ${pid === null ? 'another process' : `process ${pid}`} (lock file ${path.join(dir, 'mongod.lock')}); stop that process or use another --dbpath`);
  }
}

/** The abstract socket name for a folder: one per real path, whatever path named it. */
export function lockSocketName(realDir: string): string {
  return '\0opsgate-dbpath-' + createHash('sha256').update(realDir).digest('hex');
}

function readOwner(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listen(name: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen({ path: name, exclusive: true }, () => {
      server.off('error', reject);
      // Holding the folder must not keep the process running on its own.
      server.unref();
      resolve(server);
    });
  });
}

/** Takes the folder's lock; resolves with its release. Throws DataDirLockedError when it is held. */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  fs.mkdirSync(path.resolve(dir), { recursive: true, mode: DIR_MODE });
  const abs = fs.realpathSync(dir);
  const file = path.join(abs, 'mongod.lock');
  let server: net.Server | undefined;
  if (process.platform === 'linux') {
    try {
      server = await listen(lockSocketName(abs));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DataDirLockedError(abs, readOwner(file));
      throw err;
    }
  } else {
    const owner = readOwner(file);
    if (owner !== null && isAlive(owner)) throw new DataDirLockedError(abs, owner);
  }
  // Informational: the lock is the socket. Written whole (write to a temporary, rename).
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, String(process.pid), { mode: FILE_MODE });
  fs.renameSync(tmp, file);
  return async () => {
    if (readOwner(file) === process.pid) fs.rmSync(file, { force: true });
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
