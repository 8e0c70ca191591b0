/**
 * Reads and validates the catalog folder. Every problem is reported as `file:line field:
 * message`, and the whole catalog is validated (cross-file references too) before anything is
 * applied, so a bad file changes nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import YAML, { LineCounter, isNode, type Document } from 'yaml';
import { badParameter } from '../../errors.js';
import { catalogFiles, DEFAULT_ACCESS_POLICY, type AccessPolicy, type Catalog } from './schema.js';
import { resolveModules } from './modules.js';
import type { ModuleEntry } from './modules-schema.js';
import { resolveTickets, type CatalogEnv, type TicketsFile } from './tickets.js';
import { MAX_YAML_NESTING, tooDeepAt } from '../yaml-nesting.js';

type FileName = keyof typeof catalogFiles;

/** Where a field of a file is: `file:line: field` for messages about it. */
export type Locate = (pathParts: readonly PropertyKey[]) => string;

/** Line (1-based) of the node at `pathParts`, or of its nearest existing parent. */
function lineOf(doc: Document, counter: LineCounter, pathParts: readonly PropertyKey[]): number {
  for (let n = pathParts.length; n >= 0; n--) {
    const node = doc.getIn(pathParts.slice(0, n) as (string | number)[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return 1;
}

function fieldPath(parts: readonly PropertyKey[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : (i === 0 ? '' : '.') + String(p))).join('');
}

async function readFile(dir: string, file: FileName): Promise<unknown> {
  return (await readLocated(dir, file))?.data;
}

/** The file's validated content and a locator for later checks; undefined when it is absent. */
async function readLocated(dir: string, file: FileName): Promise<{ data: unknown; locate: Locate } | undefined> {
  const full = path.join(dir, file);
  let text: string;
  try {
    text = await fs.readFile(full, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badParameter(`${full}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const counter = new LineCounter();
  // Measured first: composing a deeply nested text overflows the stack (see yaml-nesting.ts).
  const deep = tooDeepAt(text);
  if (deep !== undefined) {
    const line = text.slice(0, deep).split('\n').length;
    throw badParameter(`${full}:${line}: nests deeper than ${MAX_YAML_NESTING} levels`, { file: full, line });
  }
  const doc = YAML.parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = counter.linePos(e.pos[0]).line;
    throw badParameter(`${full}:${line}: not valid YAML: ${e.message.split('\n')[0]}`, { file: full, line });
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // toJS throws for an alias to no anchor and for an alias bomb ("Excessive alias count").
    throw badParameter(`${full}: not valid YAML: ${(err as Error).message.split('\n')[0]}`, { file: full });
  }
  const parsed = catalogFiles[file].safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const line = lineOf(doc, counter, issue.path);
    const field = fieldPath(issue.path) || '(file)';
    throw badParameter(`${full}:${line}: ${field}: ${issue.message}`, { file: full, line, field });
  }
  return { data: parsed.data, locate: (parts) => `${full}:${lineOf(doc, counter, parts)}: ${fieldPath(parts) || '(file)'}` };
}

function duplicates(names: string[]): string | undefined {
  const seen = new Set<string>();
  return names.find((n) => (seen.has(n) ? true : (seen.add(n), false)));
}

/**
 * Loads the catalog; missing files count as empty lists. `env` is where tickets' `{ env: ... }`
 * secrets are read (config.secretEnv).
 */
export async function loadCatalog(dir: string, opts: { env?: CatalogEnv } = {}): Promise<Catalog> {
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new Error('not a folder');
  } catch {
    throw badParameter(`catalog folder ${dir} does not exist (set CATALOG_DIR)`);
  }
  const hosts = ((await readFile(dir, 'hosts.yaml')) as { hosts: Catalog['hosts'] } | undefined)?.hosts ?? [];
  const projects = ((await readFile(dir, 'projects.yaml')) as { projects: Catalog['projects'] } | undefined)?.projects ?? [];
  const products = ((await readFile(dir, 'products.yaml')) as { products: Catalog['products'] } | undefined)?.products ?? [];

  const dupHost = duplicates(hosts.map((h) => h.name));
  if (dupHost) throw badParameter(`${path.join(dir, 'hosts.yaml')}: host ${dupHost} is listed twice`);
  const dupProject = duplicates(projects.map((p) => p.name));
  if (dupProject) throw badParameter(`${path.join(dir, 'projects.yaml')}: project ${dupProject} is listed twice`);
  const dupProduct = duplicates(products.map((p) => p.prod_name));
  if (dupProduct) throw badParameter(`${path.join(dir, 'products.yaml')}: product ${dupProduct} is listed twice`);

  const hostNames = new Set(hosts.map((h) => h.name));
  const projectNames = new Set(projects.map((p) => p.name));
  for (const h of hosts) {
    if (h.project && !projectNames.has(h.project)) throw badParameter(`${path.join(dir, 'hosts.yaml')}: host ${h.name}: project: no project named ${h.project} in projects.yaml`);
  }
  for (const p of projects) {
    const unknown = p.hosts.find((h) => !hostNames.has(h));
    if (unknown) throw badParameter(`${path.join(dir, 'projects.yaml')}: project ${p.name}: hosts: no host named ${unknown} in hosts.yaml`);
  }
  const access = ((await readFile(dir, 'access.yaml')) as AccessPolicy | undefined) ?? DEFAULT_ACCESS_POLICY;
  const ticketsRead = await readLocated(dir, 'tickets.yaml');
  const tickets = ticketsRead
    ? await resolveTickets((ticketsRead.data as TicketsFile).tickets, { locate: ticketsRead.locate, hostNames, catalogDir: dir, env: opts.env ?? {} })
    : [];
  const modulesRead = await readLocated(dir, 'modules.yaml');
  const modules = modulesRead ? resolveModules((modulesRead.data as { modules: ModuleEntry[] }).modules, modulesRead.locate) : [];
  return { hosts, projects, products, access, tickets, modules };
}
