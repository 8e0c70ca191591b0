/**
 * The catalog folder's files (documented in the README):
 *   hosts.yaml     hosts: [{ name, address, port, hostKey, project, app, env, labels, enabled }]
 *   projects.yaml  projects: [{ name, organization, description, hosts, people, contacts }]
 *   products.yaml  products: [{ prod_name, init_sls, templates }]   (seed 000's `conf`)
 */
import { z } from 'zod';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"');

export const hostEntry = z
  .object({
    name,
    address: z.string().min(1, 'must not be empty').regex(/^[A-Za-z0-9.:_-]+$/, 'must be a host name or an IP address'),
    port: z.number().int('must be a whole number').min(1).max(65535).default(22),
    hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be an OpenSSH SHA256 fingerprint such as SHA256:abc... (ssh-keygen -lf key.pub)'),
    project: name.nullable().default(null),
    app: z.string().min(1).nullable().default(null),
    env: z.string().min(1).nullable().default(null),
    labels: z.record(z.string(), z.string()).default({}),
    enabled: z.boolean().default(true),
  })
  .strict();

export const projectEntry = z
  .object({
    name,
    organization: name.nullable().default(null),
    description: z.string().default(''),
    hosts: z.array(name).default([]),
    people: z.array(z.string().min(1)).default([]),
    contacts: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const productEntry = z
  .object({
    prod_name: z.string().min(1, 'must not be empty'),
    init_sls: z.string().default(''),
    templates: z.string().default(''),
  })
  .strict();

export const catalogFiles = {
  'hosts.yaml': z.object({ hosts: z.array(hostEntry) }).strict(),
  'projects.yaml': z.object({ projects: z.array(projectEntry) }).strict(),
  'products.yaml': z.object({ products: z.array(productEntry) }).strict(),
} as const;

export type HostEntry = z.infer<typeof hostEntry>;
export type ProjectEntry = z.infer<typeof projectEntry>;
export type ProductEntry = z.infer<typeof productEntry>;

export interface Catalog {
  hosts: HostEntry[];
  projects: ProjectEntry[];
  products: ProductEntry[];
}
