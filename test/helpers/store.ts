/**
 * Starts the embedded store for a test file, or points at a real MongoDB when MONGODB_URI is
 * set (the same suite must pass there). Each call gets its own database name, so test files
 * never see each other's data even on a shared server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { withDatabase } from '../../src/store/connect.js';
import { EmbeddedMongoServer, type EmbeddedServerOptions } from '../../src/store/embedded/server.js';

export interface TestStore {
  /**
   * Connection string of the server, with the embedded store's credentials (no database in the
   * path; `?authSource=admin`). Tests get the password only through this.
   */
  uri: string;
  /** The same with this test file's database as its path. */
  dbUri: string;
  /** A fresh database name for this test file. */
  dbName: string;
  /** The embedded server, when the tests run on it (undefined against a real MongoDB). */
  embedded?: EmbeddedMongoServer;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `opsgate-${prefix}-`));
}

export async function startTestStore(opts: EmbeddedServerOptions = {}): Promise<TestStore> {
  const dbName = `t_${randomBytes(4).toString('hex')}`;
  const external = process.env.MONGODB_URI;
  if (external) {
    return { uri: external, dbUri: withDatabase(external, dbName), dbName, stop: async () => undefined };
  }
  const embedded = await EmbeddedMongoServer.start({ host: '127.0.0.1', port: 0, ...opts });
  return { uri: embedded.uri, dbUri: withDatabase(embedded.uri, dbName), dbName, embedded, stop: () => embedded.stop() };
}

/** True when the suite runs against the embedded store (some tests are about it alone). */
export const onEmbeddedStore = !process.env.MONGODB_URI;
