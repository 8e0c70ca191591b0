/**
 * Services on a real store without Slack or HTTP: for tests of one domain service at a time.
 */
import mongoose from 'mongoose';
import { ManualClock } from '../../src/clock.js';
import { auditModel } from '../../src/models/audit.js';
import { AuditLog } from '../../src/services/audit.js';
import { startTestStore, type TestStore } from './store.js';

export interface ServiceHarness {
  store: TestStore;
  conn: mongoose.Connection;
  clock: ManualClock;
  audit: AuditLog;
  stop(): Promise<void>;
}

export async function startServiceHarness(): Promise<ServiceHarness> {
  const store = await startTestStore();
  const conn = await mongoose.createConnection(store.uri, { dbName: store.dbName }).asPromise();
  const clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
  const audit = new AuditLog({ model: auditModel(conn), clock });
  return {
    store,
    conn,
    clock,
    audit,
    async stop() {
      await conn.close();
      await store.stop();
    },
  };
}
