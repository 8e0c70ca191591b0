/**
 * The data folder's lock is held by the kernel (an abstract unix socket), not judged from a pid:
 * a store killed with SIGKILL frees its folder the moment its files are closed, even while its
 * pid lingers unreaped (where a pid check still sees it alive), so the restart
 * gets the folder on its first try; a live owner is still refused with the clear message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/store/embedded/data-dir-lock.js';
import { spawnStore, type StoreProcess } from '../helpers/store-process.js';
import { onEmbeddedStore, tempDir } from '../helpers/store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'src/store/embedded/cli.ts');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A store process whose parent never reaps it: bash starts it in the background and then
 * becomes `sleep`, which never waits. Killed, the store stays a zombie until `sleep` ends.
 */
function spawnUnreapedStore(dbpath: string): Promise<{ pid: number; port: number; parent: ChildProcess }> {
  const script = `"${process.execPath}" --import tsx "${cli}" --port 0 --dbpath "${dbpath}" & echo "pid $!" >&2; exec sleep 600`;
  const parent = spawn('bash', ['-c', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } });
  cleanups.push(async () => {
    if (parent.exitCode === null && parent.signalCode === null) {
      const gone = new Promise((r) => parent.once('exit', r));
      parent.kill('SIGKILL');
      await gone;
    }
  });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const check = () => {
      const pid = /pid (\d+)/.exec(err)?.[1];
      const uri = out.includes('\n') ? out.split('\n')[0] : undefined;
      if (pid && uri) resolve({ pid: Number(pid), port: Number(new URL(uri).port), parent });
    };
    parent.stdout!.on('data', (c: Buffer) => ((out += c.toString()), check()));
    parent.stderr!.on('data', (c: Buffer) => ((err += c.toString()), check()));
    parent.once('exit', () => reject(new Error(`the store's parent exited; stderr: ${err}`)));
  });
}

describe.runIf(onEmbeddedStore && process.platform === 'linux')('the data folder lock', () => {
  it('is free the moment its killed owner closed its files, while the owner\'s pid is still unreaped', async () => {
    const dir = tempDir('lock-zombie');
    const store = await spawnUnreapedStore(dir);
    expect(fs.readFileSync(path.join(dir, 'mongod.lock'), 'utf8')).toBe(String(store.pid));
    // A connection to the store: the kernel closes it as it closes the dying store's files,
    // after the lock's socket (opened earlier, so closed first).
    const conn = net.connect(store.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => conn.once('connect', resolve).once('error', reject));
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    conn.on('error', () => undefined);
    process.kill(store.pid, 'SIGKILL');
    await closed;
    // Its files are closed, but the pid is not reaped (still exiting, or a zombie after it):
    // `kill(pid, 0)` still succeeds, which is what fooled the pid check.
    expect(() => process.kill(store.pid, 0)).not.toThrow();

    // The restart gets the folder on its first attempt and serves what was there.
    const again: StoreProcess = await spawnStore(dir);
    cleanups.push(async () => {
      again.child.kill('SIGKILL');
      await again.exited;
    });
    const client = await MongoClient.connect(again.uri, { serverSelectionTimeoutMS: 5000 });
    cleanups.push(() => client.close(true));
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(fs.readFileSync(path.join(dir, 'mongod.lock'), 'utf8')).toBe(String(again.child.pid));
  });

  it('refuses a second live store on the folder with the clear message, and the first serves on', async () => {
    const dir = tempDir('lock-live');
    const first = await spawnStore(dir);
    cleanups.push(async () => {
      first.child.kill('SIGKILL');
      await first.exited;
    });
    const err = await spawnStore(dir).then(
      (p) => {
        cleanups.push(() => void p.child.kill('SIGKILL'));
        return undefined;
      },
      (e: Error & { stderr?: string }) => e,
    );
    expect(err?.stderr).toContain(`is already in use by process ${first.child.pid}`);
    const client = await MongoClient.connect(first.uri, { serverSelectionTimeoutMS: 5000 });
    cleanups.push(() => client.close(true));
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  });

  it('refuses a second lock in the same process, reached by another path, until the first is released', async () => {
    const dir = tempDir('lock-same');
    const release = await lockDataDir(dir);
    const alias = `${dir}-alias`;
    fs.symlinkSync(dir, alias);
    await expect(lockDataDir(alias)).rejects.toBeInstanceOf(DataDirLockedError);
    await expect(lockDataDir(path.join(dir, '.'))).rejects.toThrow(`is already in use by process ${process.pid}`);
    await release();
    expect(fs.existsSync(path.join(dir, 'mongod.lock'))).toBe(false);
    const again = await lockDataDir(alias);
    await again();
  });
});
