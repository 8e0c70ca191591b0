/** Handshake and server-information commands, presenting a standalone MongoDB 7.0. */
import os from 'node:os';
import { Long } from 'bson';
import { isNumeric, toNumber, type Doc } from '../bson-values.js';
import { ErrorCodes, MongoError } from '../errors.js';
import { helloAuthFields } from './auth.js';
import type { CommandContext, Handler } from './context.js';

export const SERVER_VERSION = '7.0.0';
export const MAX_WIRE_VERSION = 21;
export const MAX_BSON_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE = 48_000_000;

/**
 * The standalone hello reply. `topologyVersion` is left out on purpose: with it the driver
 * switches to streaming (exhaust) heartbeats, which this server does not speak.
 */
export function helloReply(ctx: CommandContext, cmd: Doc = {}): Doc {
  return {
    ...helloAuthFields(cmd, ctx),
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: MAX_BSON_SIZE,
    maxMessageSizeBytes: ctx.maxMessageSizeBytes,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: ctx.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  };
}

const hello: Handler = (cmd, _db, ctx) => helloReply(ctx, cmd);

const buildInfo: Handler = () => ({
  version: SERVER_VERSION,
  gitVersion: 'opsgate-embedded',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_SIZE,
  storageEngines: ['opsgate-embedded'],
  javascriptEngine: 'none',
  modules: [],
  sysInfo: 'deprecated',
  allocator: 'system',
  openssl: { running: 'disabled' },
  buildEnvironment: {},
  ok: 1,
});

const getParameter: Handler = (cmd, _db, ctx) => {
  const all: Doc = {
    featureCompatibilityVersion: { version: '7.0' },
    ttlMonitorSleepSecs: ctx.ttlMonitorSleepSecs.value,
    authenticationMechanisms: ['SCRAM-SHA-256'],
    requireApiVersion: false,
  };
  if (cmd.getParameter === '*' || (typeof cmd.getParameter === 'object' && cmd.getParameter !== null)) {
    return { ...all, ok: 1 };
  }
  const out: Doc = {};
  for (const k of Object.keys(cmd)) if (k !== 'getParameter' && k in all) out[k] = all[k];
  if (Object.keys(out).length === 0) throw new MongoError(ErrorCodes.InvalidOptions, 'no option found to get');
  return { ...out, ok: 1 };
};

const setParameter: Handler = (cmd, _db, ctx) => {
  const keys = Object.keys(cmd).filter((k) => k !== 'setParameter');
  for (const k of keys) {
    if (k !== 'ttlMonitorSleepSecs') throw new MongoError(ErrorCodes.InvalidOptions, `setParameter: '${k}' is not supported by the embedded store`);
    const v = cmd[k];
    if (!isNumeric(v) || toNumber(v) < 1) throw new MongoError(ErrorCodes.BadValue, 'ttlMonitorSleepSecs must be a number >= 1');
    const was = ctx.ttlMonitorSleepSecs.value;
    ctx.ttlMonitorSleepSecs.value = toNumber(v);
    return { was, ok: 1 };
  }
  throw new MongoError(ErrorCodes.InvalidOptions, 'no option found to set');
};

const serverStatus: Handler = (_cmd, _db, ctx) => {
  const uptimeMs = Date.now() - ctx.startedAt;
  return {
    host: `${os.hostname()}:${ctx.port}`,
    version: SERVER_VERSION,
    process: 'mongod',
    pid: Long.fromNumber(process.pid),
    uptime: Math.floor(uptimeMs / 1000),
    uptimeMillis: Long.fromNumber(uptimeMs),
    localTime: new Date(),
    connections: { current: ctx.connections.current, available: Math.max(0, ctx.connections.max - ctx.connections.current), totalCreated: ctx.connections.totalCreated },
    mem: { bits: 64, resident: Math.round(process.memoryUsage().rss / 1048576) },
    storageEngine: { name: 'opsgate-embedded', persistent: true },
    metrics: {
      cursor: { open: { total: ctx.cursors.size } },
      queryExecutor: { scannedObjects: Long.fromNumber(ctx.storage.metrics.scannedObjects) },
    },
    ok: 1,
  };
};

const ok = (): Doc => ({ ok: 1 });

const TRANSACTION_ERROR = (): never => {
  throw new MongoError(ErrorCodes.IllegalOperation, 'Transaction numbers are only allowed on a replica set member or mongos');
};

export const adminHandlers: Record<string, Handler> = {
  hello,
  isMaster: hello,
  ismaster: hello,
  ping: ok,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  setParameter,
  serverStatus,
  endSessions: ok,
  killAllSessions: ok,
  refreshSessions: ok,
  whatsmyuri: (_c, _d, ctx) => ({ you: `127.0.0.1:${ctx.connectionId}`, ok: 1 }),
  getLog: (cmd) => {
    if (cmd.getLog === '*') return { names: ['startupWarnings'], ok: 1 };
    return { totalLinesWritten: 0, log: [], ok: 1 };
  },
  getCmdLineOpts: () => ({ argv: ['opsgate-embedded'], parsed: {}, ok: 1 }),
  hostInfo: () => ({ system: { hostname: os.hostname(), cpuAddrSize: 64, numCores: os.cpus().length }, os: { type: os.type() }, extra: {}, ok: 1 }),
  connectionStatus: (_c, _d, ctx) => {
    const u = ctx.session.user;
    const db = ctx.credential.db;
    return {
      authInfo: { authenticatedUsers: u ? [{ user: u, db }] : [], authenticatedUserRoles: u ? [{ role: 'root', db: 'admin' }] : [] },
      ok: 1,
    };
  },
  fsync: async (_cmd, _db, ctx) => {
    await ctx.storage.commit();
    return { numFiles: 1, ok: 1 };
  },
  commitTransaction: TRANSACTION_ERROR,
  abortTransaction: TRANSACTION_ERROR,
};
