/**
 * The catalog folder's files (documented in the README):
 *   hosts.yaml     hosts: [{ name, address, port, hostKey, project, app, env, labels, enabled }]
 *   projects.yaml  projects: [{ name, organization, description, hosts, people, contacts }]
 *   products.yaml  products: [{ prod_name, init_sls, templates }]   (seed 000's `conf`)
 *   access.yaml    the host-access policy: who approves, who may ask for what (defaults below)
 *   tickets.yaml   ops ticket templates (tickets-schema.ts)
 *   modules.yaml   module runs: named commands with typed params (modules-schema.ts)
 */
import { z } from 'zod';
import { qualificationSchema } from '../approvals/qualification.js';
import { modulesFile, type ModuleEntry } from './modules-schema.js';
import { ticketsFile, type TicketTemplate } from './tickets-schema.js';

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
    /** Where sshd reads the role accounts' keys on this host (sshd's AuthorizedKeysFile: %u); AUTHORIZED_KEYS_FILE when absent. Root's, never in the homes. */
    authorizedKeysFile: z
      .string()
      .refine((v) => v.startsWith('/') && !v.includes('%h'), "must be an absolute path outside the accounts' homes (no %h)")
      .nullable()
      .default(null),
    /** The sshd_config the daily check reads with `sshd -T -f` on this host; sshd's own default when absent. */
    sshdConfig: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'must be an absolute path of letters, digits, ".", "_", "-" and "/"').nullable().default(null),
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

const groupName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'group names are lower-case words');

/** One approval level of host access requests. */
export const accessLevelEntry = z
  .object({
    label: z.string().min(1).max(40),
    /** `manager`: the requester's manager, or the next qualified person up the chain. */
    approvers: z.union([z.literal('manager'), z.object({ group: groupName }).strict(), z.object({ people: z.array(z.string().min(1)).min(1) }).strict()]),
    /** Only for requests of these roles (all roles when absent). */
    roles: z.array(z.enum(['root', 'evans', 'readonly'])).optional(),
  })
  .strict();

export const accessPolicySchema = z
  .object({
    qualification: qualificationSchema.default({ minP: 7, minM: 4 }),
    /** Roles only members of this group may ask for. */
    restrictedRoles: z.partialRecord(z.enum(['root', 'evans', 'readonly']), groupName).default({ root: 'ops' }),
    allowedDays: z.array(z.number().int().min(1).max(3650)).min(1).default([1, 7, 30, 365]),
    /** Longer than this needs membership of `longGroup`. */
    maxDaysWithoutGroup: z.number().int().min(1).default(30),
    longGroup: groupName.default('ops'),
    levels: z
      .array(accessLevelEntry)
      .min(1, 'at least one approval level')
      .max(3, 'at most three approval levels')
      .default([
        { label: 'manager', approvers: 'manager' },
        { label: 'ops', approvers: { group: 'ops' }, roles: ['root'] },
      ]),
  })
  .strict();

export type AccessPolicy = z.infer<typeof accessPolicySchema>;
export const DEFAULT_ACCESS_POLICY: AccessPolicy = accessPolicySchema.parse({});

export const catalogFiles = {
  'hosts.yaml': z.object({ hosts: z.array(hostEntry) }).strict(),
  'projects.yaml': z.object({ projects: z.array(projectEntry) }).strict(),
  'products.yaml': z.object({ products: z.array(productEntry) }).strict(),
  'access.yaml': accessPolicySchema,
  'tickets.yaml': ticketsFile,
  'modules.yaml': modulesFile,
} as const;

export type HostEntry = z.infer<typeof hostEntry>;
export type ProjectEntry = z.infer<typeof projectEntry>;
export type ProductEntry = z.infer<typeof productEntry>;

export interface Catalog {
  hosts: HostEntry[];
  projects: ProjectEntry[];
  products: ProductEntry[];
  access: AccessPolicy;
  /** Ticket templates with `extends` applied, hidden ones included (`isTemplate`). */
  tickets: TicketTemplate[];
  /** Module definitions (modules.yaml), checked by modules.ts. */
  modules: ModuleEntry[];
}
