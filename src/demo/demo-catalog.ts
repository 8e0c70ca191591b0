/**
 * The demo's catalog and directory: a copy of the catalog whose hosts are the demo sshd (with
 * their pinned fingerprints and their own key folders and sshd_config), and the directory's
 * people with demo key pairs generated under DATA_DIR/demo/people (kept across runs, so a key
 * someone was granted keeps working after a restart).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { generateKey } from './sshd.js';

/** One demo host as the catalog lists it. */
export interface DemoHost {
  name: string;
  port: number;
  fingerprint: string;
  project: string;
  app: string;
  env: string;
  /** opsgate's root-owned key file per account on this host (`…/%u`). */
  authorizedKeysFile: string;
  sshdConfig: string;
}

/** The hosts the demo starts: two web hosts and the config center the tickets run on. */
export const DEMO_HOSTS = [
  { name: 'web-01', project: 'storefront', app: 'nginx', env: 'prod' },
  { name: 'stage-web-01', project: 'storefront', app: 'nginx', env: 'stage' },
  { name: 'config-01', project: 'edge', app: 'salt', env: 'prod' },
] as const;

/** Tickets that run on the SSH config center in the demo; the others stay on `local`. */
const TICKETS_ON_CONFIG_CENTER = new Set(['deploy-static', 'deploy-git', 'push-config']);
export const CONFIG_CENTER = 'config-01';

type Doc = Record<string, unknown>;

function readYaml(file: string): Doc {
  return fs.existsSync(file) ? ((YAML.parse(fs.readFileSync(file, 'utf8')) as Doc | null) ?? {}) : {};
}

/**
 * Copies `sourceDir` to `targetDir` (replaced whole) with hosts.yaml listing `hosts` only,
 * projects holding just those hosts, and, when the config center runs, the tickets above on it.
 */
export function writeDemoCatalog(sourceDir: string, targetDir: string, hosts: DemoHost[]): void {
  fs.rmSync(targetDir, { recursive: true, force: true });
  fs.cpSync(sourceDir, targetDir, { recursive: true });
  const write = (file: string, doc: Doc) => fs.writeFileSync(path.join(targetDir, file), YAML.stringify(doc));
  write('hosts.yaml', {
    hosts: hosts.map((h) => ({
      name: h.name,
      address: '127.0.0.1',
      port: h.port,
      hostKey: h.fingerprint,
      project: h.project,
      app: h.app,
      env: h.env,
      authorizedKeysFile: h.authorizedKeysFile,
      sshdConfig: h.sshdConfig,
    })),
  });
  const projects = readYaml(path.join(targetDir, 'projects.yaml'));
  for (const p of (projects.projects ?? []) as Doc[]) p.hosts = hosts.filter((h) => h.project === p.name).map((h) => h.name);
  write('projects.yaml', projects);
  if (hosts.some((h) => h.name === CONFIG_CENTER)) {
    const tickets = readYaml(path.join(targetDir, 'tickets.yaml'));
    for (const t of (tickets.tickets ?? []) as Doc[]) if (TICKETS_ON_CONFIG_CENTER.has(String(t.name))) t.configCenter = CONFIG_CENTER;
    write('tickets.yaml', tickets);
  }
}

export interface DemoPerson {
  id: string;
  name: string;
  /** The private key to log in with once access is granted. */
  keyPath: string;
}

/**
 * Writes `targetFile`: the people of `sourceFile`, each with their demo key as their only SSH
 * key (generated under `keysDir/<id>/id_ed25519` when missing).
 */
export function writeDemoDirectory(sourceFile: string, targetFile: string, keysDir: string): DemoPerson[] {
  const source = readYaml(sourceFile);
  const people = (Array.isArray(source) ? source : (source.people ?? [])) as Doc[];
  const out: DemoPerson[] = [];
  for (const p of people) {
    const id = String(p.id);
    const dir = path.join(keysDir, id);
    const keyPath = path.join(dir, 'id_ed25519');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!fs.existsSync(keyPath)) generateKey(keyPath, `${id}@opsgate-demo`);
    p.sshKeys = [fs.readFileSync(`${keyPath}.pub`, 'utf8').trim()];
    out.push({ id, name: String(p.name ?? id), keyPath });
  }
  fs.writeFileSync(targetFile, YAML.stringify({ people }));
  return out;
}
