/** Shared by the mail tests: a store connection per "bot", a silent logger, polling. */
import mongoose, { type Connection } from 'mongoose';
import { createLogger } from '../../src/logger.js';
import { auditModel } from '../../src/models/audit.js';
import { mailModel } from '../../src/models/mail.js';
import type { TestStore } from '../helpers/store.js';

export const silentLogger = createLogger('silent');

/** A mongoose connection as one bot instance holds it, with the mail and audit collections ready. */
export async function connect(store: TestStore): Promise<Connection> {
  const conn = mongoose.createConnection(store.uri, { dbName: store.dbName, serverSelectionTimeoutMS: 5000 });
  await conn.asPromise();
  await mailModel(conn).init();
  await auditModel(conn).init();
  return conn;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until true; the ceiling only turns a hang into a failure, it is no speed test. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ceilingMs = 15_000): Promise<void> {
  const until = Date.now() + ceilingMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
