/**
 * Module runs on a real store, real Agenda and three real sshd hosts on loopback, without
 * Slack: the example people, a team, `use` on inventory:stage for the team and on
 * inventory:prod for carol only, a catalog written for the test, and two bot instances (each
 * its own engine and instance id) sharing the store, as two bot processes would.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Agenda } from 'agenda';
import mongoose from 'mongoose';
import YAML from 'yaml';
import { ExecutionEngine } from '../../src/adapters/exec/engine.js';
import { createScheduler } from '../../src/adapters/scheduler.js';
import { systemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import { auditModel } from '../../src/models/audit.js';
import type { Host } from '../../src/models/inventory.js';
import { inventoryModels } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import { AuditLog } from '../../src/services/audit.js';
import { DirectoryService } from '../../src/services/directory/directory.js';
import { InventoryService } from '../../src/services/inventory.js';
import { ModuleCatalog } from '../../src/services/modules/catalog.js';
import type { ModuleRunOptions } from '../../src/services/modules/runs.js';
import { RbacService } from '../../src/services/rbac.js';
import { wireModules } from '../../src/wire-modules.js';
import { PEOPLE } from './tickets-env.js';
import { remotePs, type RemotePs } from './remote-ps.js';
import { startSshdFleet, type SshdFleet } from './sshd.js';
import { startTestStore, tempDir, type TestStore } from './store.js';

type Wired = ReturnType<typeof wireModules>;

export interface ModulesEnv {
  store: TestStore;
  conn: mongoose.Connection;
  fleet: SshdFleet;
  dir: string;
  catalogDir: string;
  /** Instance A and instance B: same store, own engines. */
  a: Wired;
  b: Wired;
  /** Another instance on the same store, with settings of its own (stopped with the env). */
  instance(instanceId: string, opts?: ModuleRunOptions, engine?: { noSshKey?: boolean }): Wired;
  inventory: InventoryService;
  /** `ps` on the (shared loopback) hosts. */
  ps: RemotePs;
  stop(): Promise<void>;
}

export async function startModulesEnv(opts: { modules: unknown[]; hosts: (fleet: SshdFleet) => unknown[] }): Promise<ModulesEnv> {
  const clock = systemClock;
  const store = await startTestStore();
  const conn = await mongoose.createConnection(store.uri, { dbName: store.dbName }).asPromise();
  const fleet = await startSshdFleet(3);
  const dir = tempDir('modules');
  const catalogDir = path.join(dir, 'catalog');
  fs.mkdirSync(catalogDir);
  const write = (file: string, data: unknown) => fs.writeFileSync(path.join(catalogDir, file), YAML.stringify(data));
  write('hosts.yaml', { hosts: opts.hosts(fleet) });
  write('modules.yaml', { modules: opts.modules });

  const audit = new AuditLog({ model: auditModel(conn), clock });
  await personModel(conn).insertMany(PEOPLE.map((p) => ({ department: '', manager: null, sshKeys: [], active: true, ...p })));
  const rm = rbacModels(conn);
  await rm.Team.create({ name: 'devs', members: ['alice', 'bob', 'carol', 'erin'] });
  await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'devs', resourceType: ResourceType.inventory, resourceId: 'stage', role: Role.use, grantedBy: 'erin' });
  await rm.RoleGrant.create({ subjectKind: 'person', subjectId: 'carol', resourceType: ResourceType.inventory, resourceId: 'prod', role: Role.use, grantedBy: 'erin' });

  const directory = new DirectoryService({ model: personModel(conn), audit, clock, source: 'unused.yaml', slack: { emailOf: async () => undefined, idByEmail: async () => undefined } });
  const catalog = new ModuleCatalog();
  const inventory = new InventoryService({ models: inventoryModels(conn), audit, clock, catalogDir, onReload: (c) => catalog.replace(c.modules) });
  await inventory.reload('system:test');
  const rbac = new RbacService({ models: rm, audit, clock, personExists: async () => true, resourceExists: async () => true });
  const logger = createLogger(process.env.TEST_LOG_LEVEL === undefined ? 'silent' : (process.env.TEST_LOG_LEVEL as 'info'));
  const toTarget = (h: Host) => ({ transport: 'ssh' as const, name: h.name, address: h.address, port: h.port, user: 'root', hostKey: h.hostKey });
  const agenda: Agenda = createScheduler({ db: conn.db!, logger, processEveryMs: 100 });
  const engines: ExecutionEngine[] = [];
  const instance = (instanceId: string, more: ModuleRunOptions = {}, how: { noSshKey?: boolean } = {}) => {
    const engine = new ExecutionEngine({ sshPrivateKey: how.noSshKey ? undefined : fleet.clientKey.privateKey, connectTimeoutMs: 5000, killGraceMs: 500, logger });
    engines.push(engine);
    // A long lease: under a loaded machine a late heartbeat must not make a live job lost.
    return wireModules({ conn, agenda, directory, inventory, rbac, audit, clock, logger, engine, toTarget, catalog }, { instanceId, heartbeatMs: 200, leaseMs: 60_000, maxParallelism: 50, ...more });
  };
  const a = instance('instance-a');
  const b = instance('instance-b');
  const ps = remotePs(fleet);

  return {
    store,
    conn,
    fleet,
    dir,
    catalogDir,
    a,
    b,
    instance,
    inventory,
    ps,
    async stop() {
      await a.runs.idle();
      await b.runs.idle();
      await Promise.all([...engines.map((e) => e.close()), ps.close()]);
      await agenda.stop();
      await conn.close();
      await store.stop();
      await fleet.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
