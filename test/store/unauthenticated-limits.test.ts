/**
 * Review of issue 14, item 1: a local user without the password (`nobody`) opened 1000 idle
 * connections, filled maxConnections, and a new MongoClient of the bot (a restart, a
 * reconnect) then failed. Now a connection that has not authenticated has limits of its own:
 * at most maxUnauthenticatedConnections of them (a newcomer closes the one silent longest, so
 * the driver's monitor connection, which never authenticates, still gets in), closed after
 * authTimeoutMs without a message, and messages of at most maxUnauthenticatedMessageBytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedMongoServer } from '../../src/store/embedded/server.js';
import { closed, connectRaw, header } from '../helpers/raw-wire.js';
import { onEmbeddedStore } from '../helpers/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const holder = path.join(here, 'fixtures', 'hold-unauthenticated.mjs');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/** Starts the holder as nobody; resolves once all its connections connected or were closed. */
function holdAsNobody(port: number, n: number): Promise<{ child: ChildProcess; report: { uid: number; connected: number; open: number } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [holder, String(port), String(n)], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve({ child, report: JSON.parse(out.split('\n')[0]!) });
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`holder exited ${code} before reporting: ${err}`)));
  });
}

describe.runIf(onEmbeddedStore)('connections that have not authenticated', () => {
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (_o: object, m?: string) => void warnings.push(String(m)) };
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  async function server(opts: Parameters<typeof EmbeddedMongoServer.start>[0] = {}): Promise<EmbeddedMongoServer> {
    const s = await EmbeddedMongoServer.start({ logger, ...opts });
    cleanup.push(() => s.stop());
    return s;
  }

  async function client(uri: string, opts: ConstructorParameters<typeof MongoClient>[1] = {}): Promise<MongoClient> {
    const c = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 10_000, ...opts });
    cleanup.push(() => c.close());
    return c;
  }

  it.runIf(isRoot)('lets the driver with credentials connect and grow its pool while nobody holds 1000 idle connections', async () => {
    const s = await server();
    const bot = await client(s.uri);
    const heartbeatsFailed: string[] = [];
    bot.on('serverHeartbeatFailed', (e) => heartbeatsFailed.push(e.failure.message));
    await bot.db('slots').collection('c').insertOne({ before: true });
    const { child, report } = await holdAsNobody(s.port, 1000);
    cleanup.push(async () => {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    });
    expect(report).toMatchObject({ uid: NOBODY, connected: 1000 });
    // The server holds at most 64 unauthenticated ones (the bot's monitor among them); each
    // newer one closed one that never sent anything.
    await vi.waitFor(() => expect(s.stats().closedUnauthenticated).toBeGreaterThanOrEqual(1000 - 63), { timeout: 30_000, interval: 20 });
    expect(s.stats().unauthenticated).toBe(64);
    expect(s.stats().connections).toBeLessThanOrEqual(64 + 1);
    expect(warnings.join('\n')).toMatch(/closing connection \d+: silent longest of 64 unauthenticated connections, closed to make room for a new one \(maxUnauthenticatedConnections 64\)/);
    // A new client (the bot restarting) connects, authenticates and works ...
    const restarted = await client(s.uri);
    expect(await restarted.db('slots').collection('c').insertOne({ after: true })).toMatchObject({ acknowledged: true });
    // ... and one connected before opens more pool connections in parallel.
    const reads = await Promise.all(Array.from({ length: 20 }, () => bot.db('slots').collection('c').find({}).toArray()));
    expect(reads.every((r) => r.length === 2)).toBe(true);
    expect(s.stats().unauthenticated).toBeLessThanOrEqual(64);
    // The bot's monitor connection (never authenticated, older than all of nobody's) was kept.
    expect(heartbeatsFailed).toEqual([]);
  });

  it('closes a connection that sends nothing and does not authenticate within authTimeoutMs, and keeps authenticated ones', async () => {
    const s = await server({ authTimeoutMs: 300 });
    const created: number[] = [];
    const closedPool: number[] = [];
    // The monitor connection never authenticates either; a slow heartbeat keeps it out of the way.
    const c = new MongoClient(s.uri, { serverSelectionTimeoutMS: 10_000, heartbeatFrequencyMS: 60_000, maxPoolSize: 1 });
    c.on('connectionCreated', (e) => created.push(e.connectionId as number));
    c.on('connectionClosed', (e) => closedPool.push(e.connectionId as number));
    await c.connect();
    cleanup.push(() => c.close());
    expect(await c.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(created).toHaveLength(1);
    const before = warnings.length;
    const idle = await connectRaw(s.port);
    idle.on('error', () => undefined);
    await closed(idle);
    expect(warnings.slice(before).join('\n')).toMatch(/closing connection \d+: not authenticated and no message for 300 ms \(authTimeoutMs\)/);
    // The pool's authenticated connection, silent longer than that one, is still the one used.
    expect(await c.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(created).toHaveLength(1);
    expect(closedPool).toEqual([]);
  });

  it('closes a connection that sends a 1 MB message before authenticating, and takes 1 MB once authenticated', async () => {
    const s = await server();
    const raw = await connectRaw(s.port);
    raw.on('error', () => undefined);
    const before = warnings.length;
    raw.write(Buffer.concat([header(1024 * 1024), Buffer.alloc(64 * 1024)]));
    await closed(raw);
    expect(warnings.slice(before).join('\n')).toMatch(/closing connection \d+: message length 1048576 is outside 16\.\.65536 \(maxUnauthenticatedMessageBytes\)/);
    expect(s.stats().bufferedBytes).toBe(0);
    const c = await client(s.uri);
    expect(await c.db('big').collection('c').insertOne({ pad: 'x'.repeat(1024 * 1024) })).toMatchObject({ acknowledged: true });
  });
});
