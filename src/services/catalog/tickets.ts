/**
 * Turns `tickets.yaml` entries into usable templates: applies `extends`, fills defaults, and
 * refuses, with `file:line: field`, everything that would only fail later: a duplicate
 * name + env, an `extends` that names no hidden template or loops, an unknown config center, a
 * command using a variable nobody defines or putting one where it cannot be quoted safely,
 * and a secret that cannot be read. Secret values are read here and kept in memory; a message
 * about a secret names it and its source, never its value.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError, badParameter } from '../../errors.js';
import { parseTemplate } from '../command-template.js';
import {
  CHOICE_SCRIPT_SYSTEM_VARIABLES,
  SYSTEM_VARIABLES,
  ticketEntry,
  type TicketEntry,
  type TicketEntryAsWritten,
  type TicketTemplate,
} from './tickets-schema.js';

export type CatalogEnv = Readonly<Record<string, string | undefined>>;
export interface TicketsFile {
  tickets: TicketEntryAsWritten[];
}

export interface ResolveContext {
  locate: (pathParts: readonly PropertyKey[]) => string;
  hostNames: ReadonlySet<string>;
  catalogDir: string;
  env: CatalogEnv;
}

/** Fields merged key by key with what a ticket extends; every other field is replaced whole. */
const MERGED_FIELDS = ['vars', 'secrets'] as const;
/** Never inherited: they say what this entry itself is. */
const OWN_FIELDS = new Set(['name', 'isTemplate', 'extends']);

export async function resolveTickets(entries: TicketEntryAsWritten[], ctx: ResolveContext): Promise<TicketTemplate[]> {
  const at = (i: number, ...rest: PropertyKey[]) => ctx.locate(['tickets', i, ...rest]);
  const fail = (where: string, message: string) => badParameter(`${where}: ${message}`);

  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const key = `${e.name}\u0000${e.env ?? ''}`;
    const first = seen.get(key);
    if (first !== undefined) throw fail(at(i, 'name'), `${e.name}${e.env ? ` (${e.env})` : ''} is already defined at ${at(first, 'name')}; name and env together must be unique`);
    seen.set(key, i);
  });

  const templates = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (e.isTemplate) templates.set(e.name, [...(templates.get(e.name) ?? []), i]);
  });

  /** The chain of entries a ticket starts from, farthest first, itself last. */
  const chainOf = (i: number): number[] => {
    const chain = [i];
    for (let cur = entries[i]!; cur.extends; ) {
      const parents = templates.get(cur.extends);
      const where = at(chain[chain.length - 1]!, 'extends');
      if (!parents) throw fail(where, `no hidden template (isTemplate: true) named ${cur.extends}`);
      if (parents.length > 1) throw fail(where, `${cur.extends} names ${parents.length} hidden templates; give them different names`);
      const p = parents[0]!;
      if (chain.includes(p)) throw fail(where, `extends loops: ${[...chain, p].map((n) => entries[n]!.name).join(' -> ')}`);
      chain.push(p);
      cur = entries[p]!;
    }
    return chain.reverse();
  };

  const out: TicketTemplate[] = [];
  for (let i = 0; i < entries.length; i++) {
    const chain = chainOf(i);
    if (entries[i]!.isTemplate) continue;
    const merged: Record<string, unknown> = {};
    for (const n of chain) {
      for (const [k, v] of Object.entries(entries[n]!)) {
        if (v === undefined || (n !== i && OWN_FIELDS.has(k))) continue;
        merged[k] = (MERGED_FIELDS as readonly string[]).includes(k) ? { ...(merged[k] as object | undefined), ...(v as object) } : v;
      }
    }
    const parsed = ticketEntry.safeParse(merged);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      // A field this entry does not write comes from what it extends: point at `extends`.
      const own = issue.path.length > 0 && Object.hasOwn(entries[i]!, issue.path[0] as string);
      const where = own ? at(i, ...issue.path) : chain.length > 1 ? `${at(i, 'extends')} (inherited ${issue.path.join('.') || 'entry'})` : at(i, ...issue.path);
      throw fail(where, issue.message);
    }
    const t = parsed.data;
    checkReferences(t, i, ctx, entries[i]!);
    out.push({ ...t, approval: t.approval ?? [], secretValues: await readSecrets(t, i, ctx, entries[i]!) });
  }
  return out;
}

/** The line of a field this entry writes, else of its `extends` (the field is inherited). */
function fieldAt(ctx: ResolveContext, i: number, own: TicketEntryAsWritten, ...parts: PropertyKey[]): string {
  const top = parts[0] as string;
  return Object.hasOwn(own, top) || !own.extends ? ctx.locate(['tickets', i, ...parts]) : `${ctx.locate(['tickets', i, 'extends'])} (inherited ${parts.join('.')})`;
}

function checkReferences(t: TicketEntry, i: number, ctx: ResolveContext, own: TicketEntryAsWritten): void {
  const where = (...parts: PropertyKey[]) => fieldAt(ctx, i, own, ...parts);
  if (t.configCenter !== 'local' && !ctx.hostNames.has(t.configCenter)) {
    throw badParameter(`${where('configCenter')}: no host named ${t.configCenter} in hosts.yaml (or use local, the bot's own machine)`);
  }
  const defined = new Map<string, string>();
  const define = (name: string, kind: string, ...parts: PropertyKey[]) => {
    const before = defined.get(name);
    if (before) throw badParameter(`${where(...parts)}: ${name} is already defined as ${before}`);
    defined.set(name, kind);
  };
  for (const k of Object.keys(t.vars)) define(k, 'a variable in vars', 'vars', k);
  for (const k of Object.keys(t.secrets)) define(k, 'a secret', 'secrets', k);
  t.options.forEach((o, n) => define(o.name, 'an option', 'options', n, 'name'));

  const check = (template: string, known: readonly string[], ...parts: PropertyKey[]) => {
    let variables: string[];
    try {
      variables = parseTemplate(template).variables;
    } catch (err) {
      if (err instanceof AppError) throw badParameter(`${where(...parts)}: ${err.message}`);
      throw err;
    }
    const unknown = variables.find((v) => !known.includes(v));
    if (unknown) throw badParameter(`${where(...parts)}: unknown variable {${unknown}}; known here: ${known.join(', ')}`);
  };
  const all = [...SYSTEM_VARIABLES, ...defined.keys()];
  for (const task of ['pre', 'main', 'post'] as const) if (t[task]) check(t[task], all, task);
  const forScripts = [...CHOICE_SCRIPT_SYSTEM_VARIABLES, ...Object.keys(t.vars), ...Object.keys(t.secrets)];
  t.options.forEach((o, n) => {
    if (o.choicesScript) check(o.choicesScript, forScripts, 'options', n, 'choicesScript');
  });
}

async function readSecrets(t: TicketEntry, i: number, ctx: ResolveContext, own: TicketEntryAsWritten): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const [name, source] of Object.entries(t.secrets)) {
    const where = fieldAt(ctx, i, own, 'secrets', name);
    let value: string | undefined;
    if ('env' in source) {
      value = ctx.env[source.env];
      if (!value) throw badParameter(`${where}: secret ${name}: environment variable ${source.env} is not set`);
    } else {
      const file = path.resolve(ctx.catalogDir, source.file);
      try {
        value = (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw badParameter(`${where}: secret ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (!value) throw badParameter(`${where}: secret ${name}: ${file} is empty`);
    }
    if (value.includes('\0')) throw badParameter(`${where}: secret ${name} contains a NUL byte`);
    values[name] = value;
  }
  return values;
}
