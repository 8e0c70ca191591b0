/**
 * `modules.yaml`: named remote tasks with typed parameters (seed 004's OMServer modules, without
 * its limit of two parameters), run on hosts chosen from the inventory. Fields as issue 8
 * spells them; `adminOnly` marks the free-form `shell` module (global admins only) and `raw`
 * its one parameter, which is the whole script and therefore never quoted.
 */
import { z } from 'zod';
import { ticketApprovalLevel, ticketEntry, variableName } from './tickets-schema.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 lower-case letters, digits, "_" or "-"');
const envName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$/, 'an environment is a label of 1-20 letters, digits, _ or -');

const regex = z.string().refine((p) => {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}, 'is not a valid regular expression');

const common = { name: variableName, optional: z.boolean().default(false), description: z.string().max(200).default('') };

export const moduleParam = z.discriminatedUnion('type', [
  z.object({ ...common, type: z.literal('int'), min: z.number().int().optional(), max: z.number().int().optional(), default: z.number().int().optional() }).strict(),
  z.object({ ...common, type: z.literal('enum'), choices: z.array(z.string().min(1).max(200)).min(1, 'the choice list is empty').max(100), default: z.string().optional() }).strict(),
  z
    .object({
      ...common,
      type: z.literal('string'),
      pattern: regex.optional(),
      maxLength: z.number().int().min(1).max(4000).default(200),
      default: z.string().optional(),
      /** Inserted verbatim: only for an `adminOnly` module whose command is this one placeholder. */
      raw: z.boolean().default(false),
    })
    .strict(),
  z.object({ ...common, type: z.literal('bool'), default: z.boolean().optional() }).strict(),
]);

/** Approval levels and the result channel read as in tickets. */
export const moduleApprovalLevel = ticketApprovalLevel;

export const moduleEntry = z
  .object({
    /** The seed's module id (Mid_1001). */
    id: z.number().int().min(1).max(999_999),
    name,
    description: z.string().max(3000).default(''),
    command: z.string().min(1, 'the command is empty'),
    params: z.array(moduleParam).max(20).default([]),
    timeoutSeconds: z.number().int().min(1).max(86_400).default(120),
    /** Hosts at once; EXEC_PARALLELISM bounds it. */
    parallelism: z.number().int().min(1).max(1000).default(50),
    channel: ticketEntry.shape.channel,
    /** Environments it may target; a host outside them (or without one) is refused. */
    envs: z.array(envName).min(1, 'name at least one environment the module may target'),
    /** Approval levels as in tickets; runs of a module with levels are refused until approvals exist for modules. */
    approval: z.array(moduleApprovalLevel).max(3, 'at most three approval levels').default([]),
    /** Only global admins may run it (the free-form shell). */
    adminOnly: z.boolean().default(false),
  })
  .strict();

export const modulesFile = z.object({ modules: z.array(moduleEntry).default([]) }).strict();

export type ModuleParam = z.infer<typeof moduleParam>;
export type ModuleEntry = z.infer<typeof moduleEntry>;
