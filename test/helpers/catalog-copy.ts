/**
 * A copy of the example catalog for a test, with files edited as YAML documents (a host added,
 * a ticket template appended) before the app reads it.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { exampleCatalog } from './opsgate.js';

export type CatalogEdit = (file: string, change: (doc: Record<string, unknown[]>) => void) => void;

/** Copies the example catalog to `catalogDir`; returns the editor of its files. */
export function copyExampleCatalog(catalogDir: string): CatalogEdit {
  fs.cpSync(exampleCatalog, catalogDir, { recursive: true });
  return (file, change) => editCatalogFile(catalogDir, file, change);
}

/** Rewrites one YAML file of a catalog folder through `change`. */
export function editCatalogFile(catalogDir: string, file: string, change: (doc: Record<string, unknown[]>) => void): void {
  const doc = YAML.parse(fs.readFileSync(path.join(catalogDir, file), 'utf8')) as Record<string, unknown[]>;
  change(doc);
  fs.writeFileSync(path.join(catalogDir, file), YAML.stringify(doc));
}
