/**
 * One process per data folder: a `mongod.lock` file holding the owner's pid. A lock left by a
 * process that no longer exists (killed with SIGKILL) is taken over; a live owner is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DIR_MODE, FILE_MODE } from './data-dir-modes.js';

const heldInThisProcess = new Set<string>();

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`data folder ${dir} is already in use by process ${pid} (lock file ${path.join(dir, 'mongod.lock')}); stop that process or use another --dbpath`);
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

export function lockDataDir(dir: string): () => void {
  const abs = path.resolve(dir);
  const file = path.join(abs, 'mongod.lock');
  if (heldInThisProcess.has(abs)) throw new DataDirLockedError(abs, process.pid);
  fs.mkdirSync(abs, { recursive: true, mode: DIR_MODE });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', FILE_MODE);
      fs.writeSync(fd, String(process.pid));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      heldInThisProcess.add(abs);
      return () => {
        heldInThisProcess.delete(abs);
        fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) throw new DataDirLockedError(abs, owner);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`could not lock data folder ${abs}`);
}
