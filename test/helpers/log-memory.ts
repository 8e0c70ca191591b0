/**
 * For tests that push tens of MB of log through this process and bound its memory: the store
 * in its own process (or MONGODB_URI), so its data does not count against this one, and V8's
 * gc() for samples of live memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import mongoose, { type Connection } from 'mongoose';
import { withDatabase } from '../../src/store/connect.js';
import { spawnStore, type StoreProcess } from './store-process.js';
import { tempDir } from './store.js';

/** V8's gc() even when the worker was started without --expose-gc. */
export function forcedGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

export interface SeparateStore {
  conn: Connection;
  /** A temp folder for the test's files (removed by stop). */
  dir: string;
  stop(): Promise<void>;
}

/** A connection to a store outside this process, on a database of its own. */
export async function separateStore(prefix: string): Promise<SeparateStore> {
  const dir = tempDir(prefix);
  let storeProc: StoreProcess | undefined;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    storeProc = await spawnStore(path.join(dir, 'db'));
    uri = storeProc.uri;
  }
  const conn = await mongoose.createConnection(withDatabase(uri, `t_${prefix.replace(/-/g, '_')}_${process.pid}`)).asPromise();
  return {
    conn,
    dir,
    async stop() {
      await conn.dropDatabase().catch(() => undefined);
      await conn.close();
      if (storeProc) {
        storeProc.child.kill('SIGTERM');
        await storeProc.exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
