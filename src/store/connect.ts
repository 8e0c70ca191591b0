/**
 * Opens the store the bot runs on: the real MongoDB named by MONGODB_URI, or else the embedded
 * server started in-process on a loopback port with its data under DATA_DIR/db. The embedded
 * store requires authentication: its user and password live in DATA_DIR/db (0600, see
 * embedded/auth/password-file.ts) and only the redacted URI is ever logged.
 */
import path from 'node:path';
import mongoose from 'mongoose';
import type { Logger } from '../logger.js';
import { EmbeddedMongoServer } from './embedded/server.js';

export interface Store {
  uri: string;
  connection: mongoose.Connection;
  embedded?: EmbeddedMongoServer;
  /** True when the server answers a ping. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreConfig {
  MONGODB_URI?: string;
  DATA_DIR: string;
  /** Limits of the embedded store (defaults in embedded/server.ts). */
  STORE_MAX_CONNECTIONS?: number;
  STORE_MAX_BUFFERED_BYTES?: number;
  STORE_MAX_UNAUTHENTICATED_CONNECTIONS?: number;
  STORE_AUTH_TIMEOUT_MS?: number;
  STORE_MAX_UNAUTHENTICATED_MESSAGE_BYTES?: number;
}

const DEFAULT_DB = 'opsgate';

export async function openStore(cfg: StoreConfig, logger: Logger): Promise<Store> {
  let embedded: EmbeddedMongoServer | undefined;
  let uri = cfg.MONGODB_URI;
  if (!uri) {
    embedded = await EmbeddedMongoServer.start({
      dbpath: path.join(cfg.DATA_DIR, 'db'),
      maxConnections: cfg.STORE_MAX_CONNECTIONS,
      maxBufferedBytes: cfg.STORE_MAX_BUFFERED_BYTES,
      maxUnauthenticatedConnections: cfg.STORE_MAX_UNAUTHENTICATED_CONNECTIONS,
      authTimeoutMs: cfg.STORE_AUTH_TIMEOUT_MS,
      maxUnauthenticatedMessageBytes: cfg.STORE_MAX_UNAUTHENTICATED_MESSAGE_BYTES,
      logger: logger.child({ component: 'store' }),
    });
    uri = embedded.uri;
  }
  // monitorCommands: each command's latency reaches /metrics (src/adapters/metrics.ts).
  const connection = mongoose.createConnection(uri, { dbName: dbNameOf(uri), serverSelectionTimeoutMS: 10_000, monitorCommands: true });
  try {
    await connection.asPromise();
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  logger.info({ store: embedded ? 'embedded' : 'mongodb', uri: redactUri(uri) }, 'store connected');
  return {
    uri,
    connection,
    embedded,
    async ping() {
      try {
        await connection.db!.admin().ping();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await connection.close();
      await embedded?.stop();
    },
  };
}

/** The database named in the URI's path, or "opsgate". */
export function dbNameOf(uri: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(uri);
  return m?.[1] ? decodeURIComponent(m[1]) : DEFAULT_DB;
}

/** The URI with `db` as its path, keeping its credentials and options (`?authSource=...`). */
export function withDatabase(uri: string, db: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?([^?]*)(\?.*)?$/.exec(uri);
  if (!m) throw new Error('not a mongodb:// URI');
  return `${m[1]}/${encodeURIComponent(db)}${m[3] ?? ''}`;
}

export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
