/**
 * Issue 13 item 2: the embedded store against a local attacker. Before the fix any local user
 * could connect to the loopback port without credentials, insert a root grant and add
 * themselves to admin; the data files were 0644; `--host 0.0.0.0` bound every interface in
 * clear. Now: SCRAM-SHA-256 as mongod does it, 0700/0600 data, TLS for anything not loopback.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/connect.js';
import { EmbeddedMongoServer, isLoopbackHost } from '../../src/store/embedded/server.js';
import { createLogger } from '../../src/logger.js';
import { spawnStore } from '../helpers/store-process.js';
import { onEmbeddedStore, tempDir } from '../helpers/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const attacker = path.join(here, 'fixtures', 'local-attacker.mjs');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

function modeOf(p: string): string {
  return (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');
}

function modesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': modeOf(dir) };
  for (const name of fs.readdirSync(dir)) out[name] = modeOf(path.join(dir, name));
  return out;
}

interface Attempt {
  ok: boolean;
  value?: unknown;
  code?: number | string | null;
  message?: string;
}

function runAsNobody(port: number, dbpath: string): Promise<Record<string, Attempt>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [attacker, String(port), dbpath], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`attacker exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as Record<string, Attempt>);
    });
  });
}

describe.runIf(onEmbeddedStore)('store authentication', () => {
  let parent: string;
  let dbpath: string;
  let server: EmbeddedMongoServer;
  let owner: MongoClient;
  const warnings: string[] = [];

  beforeAll(async () => {
    // A folder laid out as an older version left it: world-readable folder and files.
    parent = tempDir('store-auth');
    fs.chmodSync(parent, 0o755);
    dbpath = path.join(parent, 'db');
    fs.mkdirSync(dbpath, { mode: 0o755 });
    fs.chmodSync(dbpath, 0o755);
    fs.writeFileSync(path.join(dbpath, 'journal.0'), Buffer.alloc(0), { mode: 0o644 });
    fs.chmodSync(path.join(dbpath, 'journal.0'), 0o644);
    server = await EmbeddedMongoServer.start({ dbpath, logger: { info: () => undefined, warn: (_o, m) => warnings.push(String(m)) } });
    owner = await MongoClient.connect(server.uri, { serverSelectionTimeoutMS: 5000 });
    await owner.db('opsgate').collection('grants').insertOne({ role: 'evans', who: 'carol' });
  });
  afterAll(async () => {
    await owner?.close();
    await server?.stop();
  });

  it('refuses every command but the handshake to a client without credentials, with code 13 as mongod', async () => {
    const anon = await MongoClient.connect(`mongodb://127.0.0.1:${server.port}/`, { serverSelectionTimeoutMS: 5000 });
    try {
      expect(await anon.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
      expect(await anon.db('admin').command({ buildInfo: 1 })).toMatchObject({ ok: 1 });
      expect(await anon.db('admin').command({ hello: 1 })).toMatchObject({ isWritablePrimary: true });
      await expect(anon.db('opsgate').collection('grants').insertOne({ role: 'root' })).rejects.toMatchObject({
        code: 13,
        codeName: 'Unauthorized',
        message: 'command insert requires authentication',
      });
      await expect(anon.db('opsgate').collection('grants').find({}).toArray()).rejects.toMatchObject({ code: 13, message: 'command find requires authentication' });
      await expect(anon.db('admin').command({ listDatabases: 1 })).rejects.toMatchObject({ code: 13 });
      await expect(anon.db('admin').command({ serverStatus: 1 })).rejects.toMatchObject({ code: 13 });
    } finally {
      await anon.close();
    }
    expect(await owner.db('opsgate').collection('grants').countDocuments({ role: 'root' })).toBe(0);
  });

  it('answers a wrong password with code 18 AuthenticationFailed and logs why', async () => {
    const uri = server.uri.replace(/:[^:@/]+@/, ':not-the-password@');
    const before = warnings.length;
    await expect(MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 })).rejects.toMatchObject({ code: 18, codeName: 'AuthenticationFailed', message: 'Authentication failed.' });
    await expect(MongoClient.connect(server.uri.replace(/\/\/opsgate:/, '//someone:'), { serverSelectionTimeoutMS: 5000 })).rejects.toMatchObject({ code: 18 });
    // The user exists on admin only, as a mongod user does.
    await expect(MongoClient.connect(server.uri.replace('authSource=admin', 'authSource=opsgate'), { serverSelectionTimeoutMS: 5000 })).rejects.toMatchObject({ code: 18 });
    expect(warnings.slice(before).join('\n')).toMatch(/authentication failed on connection \d+: wrong password/);
  });

  it('authenticates with SCRAM-SHA-256 and says so in hello and connectionStatus', async () => {
    const c = await MongoClient.connect(server.uri, { serverSelectionTimeoutMS: 5000, authMechanism: 'SCRAM-SHA-256' });
    try {
      const hello = await c.db('admin').command({ hello: 1, saslSupportedMechs: 'admin.opsgate' });
      expect(hello.saslSupportedMechs).toEqual(['SCRAM-SHA-256']);
      const status = await c.db('admin').command({ connectionStatus: 1 });
      expect(status.authInfo.authenticatedUsers).toEqual([{ user: 'opsgate', db: 'admin' }]);
    } finally {
      await c.close();
    }
    await expect(MongoClient.connect(server.uri, { serverSelectionTimeoutMS: 5000, authMechanism: 'SCRAM-SHA-1' })).rejects.toMatchObject({ code: 334 });
  });

  it('keeps the data folder 0700 and every file in it 0600, also one left 0755/0644 by an older version', async () => {
    await owner.db('admin').command({ fsync: 1 });
    const modes = modesUnder(dbpath);
    expect(modes['.']).toBe('0700');
    expect(Object.keys(modes)).toEqual(expect.arrayContaining(['journal.0', 'mongod.lock', 'store-password']));
    for (const [name, mode] of Object.entries(modes)) if (name !== '.') expect([name, mode]).toEqual([name, '0600']);
  });

  it('writes snapshots 0600 too', async () => {
    const dir = path.join(tempDir('store-modes'), 'db');
    const s = await EmbeddedMongoServer.start({ dbpath: dir, compactBytes: 64 * 1024 });
    const c = await MongoClient.connect(s.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      for (let i = 0; i < 20; i++) await c.db('m').collection('c').insertOne({ i, pad: 'x'.repeat(8 * 1024) });
      const modes = modesUnder(dir);
      expect(Object.keys(modes).some((n) => /^snapshot\.\d+$/.test(n))).toBe(true);
      for (const [name, mode] of Object.entries(modes)) expect([name, mode]).toEqual([name, name === '.' ? '0700' : '0600']);
    } finally {
      await c.close();
      await s.stop();
    }
  });

  it.runIf(isRoot)('gives the local user nobody neither the data, nor a write, nor the password', async () => {
    const r = await runAsNobody(server.port, dbpath);
    expect(r.uid).toBe(NOBODY);
    expect(r.ping).toMatchObject({ ok: true, value: 1 });
    expect(r.insert).toMatchObject({ ok: false, code: 13, message: 'command insert requires authentication' });
    expect(r.find).toMatchObject({ ok: false, code: 13 });
    expect(r.addAdmin).toMatchObject({ ok: false, code: 13 });
    expect(r.wrongPassword).toMatchObject({ ok: false, code: 18 });
    expect(r.listDataFolder).toMatchObject({ ok: false, code: 'EACCES' });
    expect(r.readPassword).toMatchObject({ ok: false, code: 'EACCES' });
    const grants = await owner.db('opsgate').collection('grants').find({}, { projection: { _id: 0 } }).toArray();
    expect(grants).toEqual([{ role: 'evans', who: 'carol' }]);
    expect(await owner.db('opsgate').collection('people').countDocuments()).toBe(0);
  });
});

describe.runIf(onEmbeddedStore)('the bot\'s in-process store', () => {
  it('connects with the generated credentials kept in DATA_DIR/db (0600) and logs only the redacted URI', async () => {
    const dataDir = tempDir('store-bot');
    const lines: string[] = [];
    const sink = { write: (l: string) => (lines.push(l), true) } as unknown as NodeJS.WritableStream;
    const store = await openStore({ DATA_DIR: dataDir }, createLogger('info', sink));
    const file = path.join(dataDir, 'db', 'store-password');
    const password = fs.readFileSync(file, 'utf8').trim();
    try {
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(modeOf(file)).toBe('0600');
      expect(modeOf(path.join(dataDir, 'db'))).toBe('0700');
      expect(await store.ping()).toBe(true);
      await store.connection.db!.collection('c').insertOne({ a: 1 });
      expect(store.uri).toContain(`:${encodeURIComponent(password)}@`);
    } finally {
      await store.close();
    }
    const log = lines.join('');
    expect(log).toContain('opsgate:***@');
    expect(log).not.toContain(password);
    // A restart reads the same password back.
    const again = await openStore({ DATA_DIR: dataDir }, createLogger('silent'));
    expect(again.uri).toContain(`:${encodeURIComponent(password)}@`);
    expect(await again.connection.db!.collection('c').countDocuments()).toBe(1);
    await again.close();
  });
});

describe.runIf(onEmbeddedStore)('npm run db', () => {
  it('prints the URI with its credentials, and takes --user / --password-file', async () => {
    const dir = tempDir('store-cli');
    const pwFile = path.join(dir, 'pw');
    fs.writeFileSync(pwFile, 'correct horse battery staple\n', { mode: 0o600 });
    const p = await spawnStore(path.join(dir, 'db'), ['--user', 'ops', '--password-file', pwFile]);
    try {
      expect(p.uri).toMatch(/^mongodb:\/\/ops:correct%20horse%20battery%20staple@127\.0\.0\.1:\d+\/\?authSource=admin$/);
      const c = await MongoClient.connect(p.uri, { serverSelectionTimeoutMS: 5000 });
      expect(await c.db('x').collection('y').insertOne({ a: 1 })).toMatchObject({ acknowledged: true });
      await c.close();
      expect(p.stderr()).not.toContain('battery');
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  it('refuses a non-loopback --host without TLS, saying what to do', async () => {
    const dir = tempDir('store-cli-host');
    await expect(spawnStore(path.join(dir, 'db'), ['--host', '0.0.0.0'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('refusing to listen on 0.0.0.0 without TLS: a non-loopback address needs --tls-cert and --tls-key'),
    });
  });
});

describe('which hosts need TLS', () => {
  it('treats only loopback addresses as safe without TLS', async () => {
    for (const h of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', '::ffff:127.0.0.1']) expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    for (const h of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.5', 'db.example.com', '::ffff:10.0.0.1']) expect([h, isLoopbackHost(h)]).toEqual([h, false]);
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      await expect(EmbeddedMongoServer.start({ host })).rejects.toThrow(`refusing to listen on ${host} without TLS`);
    }
  });
});

describe.runIf(onEmbeddedStore)('store over TLS', () => {
  let dir: string;
  let server: EmbeddedMongoServer;

  beforeAll(async () => {
    dir = tempDir('store-tls');
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ]);
    server = await EmbeddedMongoServer.start({ tls: { cert: fs.readFileSync(path.join(dir, 'cert.pem')), key: fs.readFileSync(path.join(dir, 'key.pem')) } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves the driver with tls=true&tlsCAFile, and nothing in clear', async () => {
    expect(server.uri).toMatch(/&tls=true$/);
    const c = await MongoClient.connect(`${server.uri}&tlsCAFile=${encodeURIComponent(path.join(dir, 'cert.pem'))}`, { serverSelectionTimeoutMS: 5000 });
    try {
      expect(await c.db('t').collection('c').insertOne({ a: 1 })).toMatchObject({ acknowledged: true });
    } finally {
      await c.close();
    }
    const plain = new MongoClient(server.uri.replace('&tls=true', ''), { serverSelectionTimeoutMS: 1500 });
    await expect(plain.connect()).rejects.toThrow();
    await plain.close();
  });
});
