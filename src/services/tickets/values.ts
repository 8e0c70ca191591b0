/**
 * A submitter's option values checked against the template (every refusal names the option:
 * 1102 missing, 1100 unknown / outside its choices / failing its pattern), and the commands
 * rendered from them through the command templates, which quote each value for its spot.
 */
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import type { TicketCommands } from '../../models/tickets.js';
import type { TicketOption, TicketTemplate } from '../catalog/tickets-schema.js';
import { renderTemplate, type TemplateValue } from '../command-template.js';
import { MASK } from '../redact.js';

export type SubmittedValues = Record<string, string | string[]>;

/** A value's longest form: well past any real one, short of what a Slack field carries. */
export const VALUE_MAX = 4000;

/** Checks every option; `choices` holds the resolved list of each choice option. */
export function checkValues(t: TicketTemplate, raw: SubmittedValues, choices: ReadonlyMap<string, string[]>): SubmittedValues {
  const known = new Set(t.options.map((o) => o.name));
  const unknown = Object.keys(raw).find((k) => !known.has(k));
  if (unknown) throw badParameter(`${t.name} has no option ${unknown}; its options: ${[...known].join(', ') || 'none'}`, { field: unknown });
  const out: SubmittedValues = {};
  for (const o of t.options) {
    const given = Object.hasOwn(raw, o.name) ? raw[o.name] : undefined;
    const list = given === undefined ? [] : (Array.isArray(given) ? given : [given]).filter((v) => v !== '');
    if (list.length === 0) throw new AppError(ErrorCode.MissingField, `option ${o.name} (${o.label}) needs a value`, { field: o.name });
    for (const v of list) checkOne(o, v, choices.get(o.name));
    if (list.length > 1 && !o.multiple) throw badParameter(`option ${o.name} takes one value; got ${list.length}`, { field: o.name });
    if (new Set(list).size !== list.length) throw badParameter(`option ${o.name} names a value twice`, { field: o.name });
    out[o.name] = o.multiple ? list : list[0]!;
  }
  return out;
}

function checkOne(o: TicketOption, v: unknown, choices: string[] | undefined): void {
  if (typeof v !== 'string') throw new AppError(ErrorCode.BadParameter, `option ${o.name}: a value is text`, { field: o.name });
  if (v.length > VALUE_MAX) throw badParameter(`option ${o.name}: a value is longer than ${VALUE_MAX} characters`, { field: o.name });
  if (v.includes('\0')) throw badParameter(`option ${o.name}: a value contains a NUL byte`, { field: o.name });
  if (o.text) {
    if (v.length > o.text.maxLength) throw badParameter(`option ${o.name}: at most ${o.text.maxLength} characters (got ${v.length})`, { field: o.name });
    if (o.text.pattern && !new RegExp(o.text.pattern).test(v)) throw badParameter(`option ${o.name}: the value does not match ${o.text.pattern}`, { field: o.name });
    return;
  }
  if (!choices?.includes(v)) throw badParameter(`option ${o.name}: the value is not one of its ${choices?.length ?? 0} choices`, { field: o.name });
}

/** sk__task_name_created as the seed builds it: the ticket's name and its submit time. */
export function systemValues(t: { name: string; env: string }, submittedAt: Date): Record<string, string> {
  const stamp = submittedAt.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return { sk__name: t.name, sk__env: t.env, sk__task_name_created: `${t.name}_${stamp}` };
}

export interface RenderInput {
  templates: TicketCommands;
  vars: Record<string, TemplateValue>;
  system: Record<string, string>;
  values: SubmittedValues;
  /** Secret name -> value (real values to run; MASK to show). */
  secrets: Record<string, string>;
}

/** The three commands with every value substituted (a multiple choice joined with commas). */
export function renderCommands(input: RenderInput): TicketCommands {
  const values: Record<string, TemplateValue> = { ...input.vars, ...input.system, ...input.secrets };
  for (const [k, v] of Object.entries(input.values)) values[k] = Array.isArray(v) ? v.join(',') : v;
  const one = (t: string) => (t ? renderTemplate(t, values) : '');
  return { pre: one(input.templates.pre), main: one(input.templates.main), post: one(input.templates.post) };
}

/** The secrets of a template replaced by the mask: what may be stored and shown. */
export function maskedSecrets(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, MASK]));
}
