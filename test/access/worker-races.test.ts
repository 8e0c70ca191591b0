/**
 * The provisioning worker's races, with a host stand-in that can be held mid-call: a revoke
 * that lands while the grant's line is being written must not leave the line behind, and a
 * reconcile running meanwhile must not delete the line being written. Also: a failed task
 * backs off instead of being retried on every pass.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accessModels, GrantStatus, TaskStatus, type AccessModels } from '../../src/models/access.js';
import { inventoryModels } from '../../src/models/inventory.js';
import { personModel } from '../../src/models/person.js';
import { rbacModels } from '../../src/models/rbac.js';
import { GrantService } from '../../src/services/access/grants.js';
import type { AccessNotifier, HostKeysPort, HostOpResult, KeyLineOnHost } from '../../src/services/access/ports.js';
import { ProvisioningWorker } from '../../src/services/access/provisioning.js';
import { AccessService } from '../../src/services/access/requests.js';
import { DirectoryService } from '../../src/services/directory/directory.js';
import { InventoryService } from '../../src/services/inventory.js';
import { RbacService } from '../../src/services/rbac.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';

/** A host whose key files live in memory; `hold()` makes the next add wait until released. */
class HostStandIn implements HostKeysPort {
  lines = new Map<string, KeyLineOnHost>();
  down = false;
  calls = 0;
  private gate?: { entered: () => void; release: Promise<void> };

  hold(): { entered: Promise<void>; release: () => void } {
    let release!: () => void;
    let entered!: () => void;
    const enteredP = new Promise<void>((r) => (entered = r));
    this.gate = { entered, release: new Promise<void>((r) => (release = r)) };
    return { entered: enteredP, release };
  }

  private answer(): HostOpResult | null {
    this.calls++;
    return this.down ? { ok: false, unreachable: true, message: 'connect ECONNREFUSED' } : null;
  }

  async add(_h: unknown, accounts: string[], g: { grantId: string; expiresAt: Date }): Promise<HostOpResult> {
    const refused = this.answer();
    if (refused) return refused;
    // Held connections write late: what happens on the host in between must not be undone.
    const gate = this.gate;
    this.gate = undefined;
    if (gate) {
      gate.entered();
      await gate.release;
    }
    for (const a of accounts) this.lines.set(`${a}\t${g.grantId}`, { account: a, grantId: g.grantId, expiresAt: g.expiresAt });
    return { ok: true };
  }

  async remove(_h: unknown, accounts: string[], grantId: string): Promise<HostOpResult> {
    const refused = this.answer();
    if (refused) return refused;
    for (const a of accounts) this.lines.delete(`${a}\t${grantId}`);
    return { ok: true };
  }

  async removeMany(h: unknown, grants: Array<{ grantId: string; accounts: string[] }>): Promise<Map<string, HostOpResult>> {
    const out = new Map<string, HostOpResult>();
    for (const g of grants) out.set(g.grantId, await this.remove(h, g.accounts, g.grantId));
    return out;
  }

  async list(): Promise<{ ok: true; lines: KeyLineOnHost[] }> {
    return { ok: true, lines: [...this.lines.values()] };
  }
}

const silent: AccessNotifier = {
  askApprovers: async () => [],
  updateApprovalMessages: async () => undefined,
  tellRequester: async () => undefined,
  granted: async () => undefined,
  provisioningFailed: async () => undefined,
  revoked: async () => undefined,
  reminder: async () => undefined,
  drift: async () => undefined,
};

describe('provisioning worker races', () => {
  let h: ServiceHarness;
  let m: AccessModels;
  let host: HostStandIn;
  let worker: ProvisioningWorker;
  let grants: GrantService;
  let n = 0;

  beforeAll(async () => {
    h = await startServiceHarness();
    m = accessModels(h.conn);
    await personModel(h.conn).create({ personId: 'bob', name: 'Bob', email: 'bob@example.com', slackId: 'UBOB', level: 'P5', groups: [], sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ+w6xDPVVJVJ3CP/o0nvCKJ+UKNJsWCemgCYrrQkp/T bob'] });
    await inventoryModels(h.conn).Host.create({ name: 'web-01', address: '127.0.0.1', port: 22, hostKey: 'SHA256:6vKuJ9v4o6th1SdKGeuhCyzb+B4cYCW2Q9E/iR/WD+M' });
    const directory = new DirectoryService({ model: personModel(h.conn), audit: h.audit, clock: h.clock, source: 'unused.yaml', slack: { emailOf: async () => undefined, idByEmail: async () => undefined } });
    const inventory = new InventoryService({ models: inventoryModels(h.conn), audit: h.audit, clock: h.clock, catalogDir: 'unused' });
    const rbac = new RbacService({ models: rbacModels(h.conn), audit: h.audit, clock: h.clock, personExists: async () => true, resourceExists: async () => true });
    host = new HostStandIn();
    const kick = async () => undefined;
    const access = new AccessService({ models: m, directory, inventory, rbac, audit: h.audit, clock: h.clock, notifier: silent, kickProvisioning: kick, enqueueAsk: kick, dayMs: 86_400_000 });
    grants = new GrantService({ models: m, directory, inventory, rbac, audit: h.audit, clock: h.clock, notifier: silent, hostKeys: host, kickProvisioning: kick });
    worker = new ProvisioningWorker({ models: m, access, inventory, directory, audit: h.audit, clock: h.clock, notifier: silent, hostKeys: host, scheduleWake: kick });
  });
  afterAll(() => h.stop());
  beforeEach(() => {
    host.down = false;
    host.lines.clear();
  });

  /** A grant approved and queued for writing, as `materialize` leaves it. */
  async function queuedGrant(): Promise<string> {
    const grantId = `grace${++n}xyz`;
    await m.Grant.create({ grantId, requestId: 'AR-TEST00', personId: 'bob', host: 'web-01', role: 'evans', days: 7, status: GrantStatus.valid, publicKey: 'ssh-ed25519 AAAA bob' });
    await m.Task.create({ requestId: 'AR-TEST00', grantId, host: 'web-01', role: 'evans', type: 'add', status: TaskStatus.notRun, execTime: h.clock.now() });
    return grantId;
  }

  it('takes the line off again when the grant is revoked while it is being written', async () => {
    const grantId = await queuedGrant();
    const gate = host.hold();
    const pass = worker.run();
    await gate.entered; // the add is under way on the host
    await grants.revoke('UBOB', grantId);
    // Another pass (another bot instance) runs the removal while the add is still under way.
    expect((await worker.run()).revoked).toBe(1);
    gate.release(); // now the add's line lands
    // The add sees the revoke and re-queues the removal, which its pass then runs.
    expect((await pass).revoked).toBe(2);
    expect((await m.Grant.findOne({ grantId }).lean())!.status).toBe(GrantStatus.expired);
    expect([...host.lines.keys()].some((k) => k.endsWith(grantId))).toBe(false);
    expect(await m.Task.findOne({ grantId, type: 'delete' }).lean()).toMatchObject({ status: TaskStatus.done });
  });

  it('keeps a line being written when reconcile runs meanwhile', async () => {
    const grantId = await queuedGrant();
    const gate = host.hold();
    const pass = worker.run();
    await gate.entered;
    for (const a of ['evans', 'readonly']) host.lines.set(`${a}\t${grantId}`, { account: a, grantId, expiresAt: null }); // written, not yet recorded
    const report = await grants.reconcile();
    expect(report.removed).toEqual([]);
    gate.release();
    await pass;
    expect([...host.lines.keys()].filter((k) => k.endsWith(grantId))).toHaveLength(2);
  });

  it('backs off a failed task instead of retrying it on every pass', async () => {
    const grantId = await queuedGrant();
    host.down = true;
    await worker.run();
    const failed = (await m.Task.findOne({ grantId, type: 'add' }).lean())!;
    expect(failed).toMatchObject({ status: TaskStatus.failed, attempts: 1 });
    expect(failed.execTime.getTime()).toBe(h.clock.now().getTime() + 5_000);
    const calls = host.calls;
    await worker.run();
    expect(host.calls).toBe(calls); // not due yet
    h.clock.advance(5_000);
    host.down = false;
    expect((await worker.run()).granted).toBe(1);
  });
});
