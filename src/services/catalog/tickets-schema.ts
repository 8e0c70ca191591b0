/**
 * `tickets.yaml`: ops ticket templates (seed 002's 工单配置), every field of the issue's format.
 * An entry is first read on its own (each field typed, all optional, so a ticket that
 * `extends` a hidden template may leave fields to it), then merged with what it extends and
 * read again whole with the defaults (see tickets.ts).
 */
import { z } from 'zod';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"');
const groupName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'group names are lower-case words');
/** A `{name}` a command template can use; `sk__` is kept for the system variables. */
export const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'variable names are letters, digits and _, not starting with a digit')
  .refine((v) => !v.startsWith('sk__'), 'names starting with sk__ are the system variables');

/** System variables (seed 002): the ticket's name, its environment, name + submit time. */
export const SYSTEM_VARIABLES = ['sk__name', 'sk__env', 'sk__task_name_created'] as const;
/** What a choices script may use: the options are not chosen yet and there is no submit time. */
export const CHOICE_SCRIPT_SYSTEM_VARIABLES = ['sk__name', 'sk__env'] as const;

/** Where choices can come from besides a list or a script: the inventory's collections. */
export const CHOICE_SOURCES = ['conf.prod_name', 'hosts.name', 'projects.name'] as const;
export type ChoiceSource = (typeof CHOICE_SOURCES)[number];

const textRule = z
  .object({
    pattern: z
      .string()
      .refine((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      }, 'is not a valid regular expression')
      .optional(),
    maxLength: z.number().int().min(1).max(4000).default(200),
  })
  .strict();

export const ticketOption = z
  .object({
    name: variableName,
    label: z.string().min(1).max(75),
    choices: z.array(z.string().min(1).max(2000)).min(1, 'the choice list is empty').optional(),
    /** One choice per output line, run on the config center when the form opens and at submit. */
    choicesScript: z.string().min(1).optional(),
    /** Choices read from the inventory (seed 000's config push: `conf.prod_name`). */
    choicesFrom: z.enum(CHOICE_SOURCES).optional(),
    multiple: z.boolean().default(false),
    text: textRule.optional(),
  })
  .strict()
  .refine((o) => [o.choices, o.choicesScript, o.choicesFrom, o.text].filter((x) => x !== undefined).length === 1, {
    message: 'an option has exactly one of choices, choicesScript, choicesFrom or text',
  })
  .refine((o) => !(o.text && o.multiple), { message: 'a text option cannot be multiple' });

export const ticketApprovalLevel = z
  .object({
    label: z.string().min(1).max(40),
    approvers: z.union([z.object({ group: groupName }).strict(), z.object({ people: z.array(z.string().min(1)).min(1, 'name at least one person') }).strict()]),
  })
  .strict();

export const ticketSecretSource = z.union([
  // Only OPSGATE_* variables: the catalog must not be able to read the bot's own credentials.
  z.object({ env: z.string().regex(/^OPSGATE_[A-Z0-9_]+$/, 'secret environment variables are named OPSGATE_<NAME>') }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);

const templateValue = z.union([z.string(), z.number(), z.boolean()]);

/** The fields of one entry; `.partial()` of this reads an entry before `extends` is applied. */
const ticketFields = {
  name,
  description: z.string().max(3000).default(''),
  env: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$/, 'an environment is a label of 1-20 letters, digits, _ or -'),
  category: z.string().min(1).max(40).default('General'),
  submitGroups: z.array(groupName).default([]),
  /** Seed 000's config push: the submitter must also be listed among the people of a project. */
  submitRequiresProject: z.boolean().default(false),
  active: z.boolean().default(true),
  isTemplate: z.boolean().default(false),
  extends: name.nullable().default(null),
  configCenter: z.string().min(1).default('local'),
  vars: z.record(variableName, templateValue).default({}),
  secrets: z.record(variableName, ticketSecretSource).default({}),
  options: z.array(ticketOption).default([]),
  pre: z.string().default(''),
  main: z.string().min(1, 'the main task is empty'),
  post: z.string().default(''),
  approval: z.array(ticketApprovalLevel).max(3, 'at most three approval levels').nullable().default([]),
  schedule: z.boolean().default(false),
  background: z.boolean().default(false),
  autoRun: z.boolean().default(false),
  lock: z.boolean().default(false),
  timeoutMinutes: z.number().int().min(1).max(1440).default(30),
  channel: z
    .string()
    .regex(/^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,})$/, 'a channel is #name or a channel id such as C012ABCDEF')
    .nullable()
    .default(null),
};

export const ticketEntry = z.object(ticketFields).strict();
/**
 * An entry as written: nothing required but its name, and no defaults, so a field left out is
 * inherited from what the entry extends (defaults are applied once, after the merge).
 */
const fieldsAsWritten = Object.fromEntries(
  Object.entries(ticketFields).map(([k, f]) => [k, f instanceof z.ZodDefault ? (f.unwrap() as z.ZodType) : f]),
) as { [K in keyof typeof ticketFields]: (typeof ticketFields)[K] extends z.ZodDefault<infer I> ? I : (typeof ticketFields)[K] };
export const ticketEntryAsWritten = z
  .object(fieldsAsWritten)
  .partial()
  .extend({ name })
  .strict();

export const ticketsFile = z.object({ tickets: z.array(ticketEntryAsWritten).default([]) }).strict();

export type TicketEntry = z.infer<typeof ticketEntry>;
export type TicketEntryAsWritten = z.infer<typeof ticketEntryAsWritten>;
export type TicketOption = z.infer<typeof ticketOption>;
export type TicketApprovalLevel = z.infer<typeof ticketApprovalLevel>;

/**
 * A template ready to use: the entry with `extends` applied and defaults filled in, plus the
 * secrets' values read from the environment or files. `secretValues` lives in memory only:
 * it is never written to MongoDB, the audit log or a message.
 */
export interface TicketTemplate extends Omit<TicketEntry, 'approval'> {
  approval: TicketApprovalLevel[];
  secretValues: Readonly<Record<string, string>>;
}
