/**
 * The real opsgate (Bolt over signed HTTP, the fake Slack Web API) on real sshd hosts for the
 * `/run` tests: the example catalog with the test's hosts and extra modules, a team `runners`
 * (bob, carol) with `use` on inventory:stage, and carol with `use` on inventory:prod.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { jobModel, type Job } from '../../src/models/jobs.js';
import { rbacModels, ResourceType, Role } from '../../src/models/rbac.js';
import type { RecordedCall } from './fake-slack.js';
import { exampleCatalog, startOpsgate, type TestOpsgate } from './opsgate.js';
import { remotePs, type RemotePs } from './remote-ps.js';
import { startSshdFleet, type SshdFleet } from './sshd.js';
import { tempDir } from './store.js';

export interface RunApp {
  t: TestOpsgate;
  fleet: SshdFleet;
  ps: RemotePs;
  catalogDir: string;
  job(jobId: string): Promise<Job>;
  /** Matches calls recorded after `mark` (an index into `t.fake.calls`). */
  after(mark: number): (c: RecordedCall) => boolean;
  /** Rewrites hosts.yaml and reloads the catalog (as /opsgate reload would). */
  setHosts(hosts: unknown[]): Promise<void>;
  /** Stops everything; `appStopped` when the test stopped the app itself. */
  stop(opts?: { appStopped?: boolean }): Promise<void>;
}

export type Server = SshdFleet['servers'][number];

export async function startRunApp(opts: { servers: number; hosts: (s: Server[]) => unknown[]; modules: (s: Server[]) => unknown[]; env?: Record<string, string> }): Promise<RunApp> {
  const fleet = await startSshdFleet(opts.servers);
  const catalogDir = tempDir('run-app-catalog');
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  const writeHosts = (hosts: unknown[]) => fs.writeFileSync(path.join(catalogDir, 'hosts.yaml'), YAML.stringify({ hosts }));
  writeHosts(opts.hosts(fleet.servers));
  fs.writeFileSync(path.join(catalogDir, 'projects.yaml'), 'projects: []\n');
  const shipped = YAML.parse(fs.readFileSync(path.join(exampleCatalog, 'modules.yaml'), 'utf8')) as { modules: unknown[] };
  fs.writeFileSync(path.join(catalogDir, 'modules.yaml'), YAML.stringify({ modules: [...shipped.modules, ...opts.modules(fleet.servers)] }));
  const t = await startOpsgate({ catalogDir, env: { SSH_PRIVATE_KEY_PATH: fleet.clientKey.path, SSH_USER: 'root', JOB_HEARTBEAT_MS: '200', JOB_LEASE_MS: '60000', ...opts.env } });
  await t.ready();
  const rm = rbacModels(t.app.store.connection);
  await rm.Team.create({ name: 'runners', members: ['bob', 'carol'] });
  await rm.RoleGrant.create({ subjectKind: 'team', subjectId: 'runners', resourceType: ResourceType.inventory, resourceId: 'stage', role: Role.use, grantedBy: 'erin' });
  await rm.RoleGrant.create({ subjectKind: 'person', subjectId: 'carol', resourceType: ResourceType.inventory, resourceId: 'prod', role: Role.use, grantedBy: 'erin' });
  const ps = remotePs(fleet);
  return {
    t,
    fleet,
    ps,
    catalogDir,
    job: async (jobId) => (await jobModel(t.app.store.connection).findOne({ jobId }).lean<Job>())!,
    after: (mark) => (c) => t.fake.calls.indexOf(c) >= mark,
    async setHosts(hosts) {
      writeHosts(hosts);
      await t.app.services.inventory.reload('system:test');
    },
    async stop(how = {}) {
      await ps.close();
      if (how.appStopped) await Promise.all([t.fake.stop(), t.store.stop()]);
      else await t.stop();
      await fleet.stop();
      fs.rmSync(catalogDir, { recursive: true, force: true });
    },
  };
}

/** The job id a message names. */
export const jobIdIn = (s: string): string => /J-[0-9a-f]{10}/.exec(s)?.[0] ?? '';
