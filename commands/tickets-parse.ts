/**
 * Parses `/ticket ...` text, the ticket buttons' values and the ticket forms' values. Bad
 * input is an AppError 1100/1102 naming the option or field; nothing is decided here (whether a
 * value is one of its choices or matches its pattern is the ticket service's check).
 *
 * Inline submit: `/ticket submit deploy-git env:PROD AnsibleHosts=web-01,web-02 Tag=v1.4.2
 * [at:2026-12-24T03:00] [auto] [background]`. A value with spaces goes in double quotes
 * (`Note="two words"`, `\"` for a quote inside); everything else is taken literally, so a value
 * such as `'"$(id)"'` reaches the service as typed and the command templates quote it.
 */
import { z } from 'zod';
import { echo } from '../blocks/limits.js';
import { badParameter, missingField } from '../src/errors.js';
import type { SubmittedValues } from '../src/services/tickets/values.js';
import { Actions, TicketBlocks } from './ids.js';
import { jsonObject, NOTE_LIMIT } from './access-parse.js';
import { checkText, filterValue } from './opsgate-parse.js';

export const TICKET_ID = /^TK-[A-Z0-9]{6}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV = /^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$/;
/** `__proto__` would set the values object's prototype instead of a value: silently dropped before. */
const OPTION = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** A local wall-clock time as typed: 2026-12-24T03:00 (seconds optional, `T` or a space). */
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const MAX_OPTIONS = 50;
/** Slack sends &, < and > as HTML entities even without should_escape. */
const unescapeSlack = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

export interface InlineSubmit {
  template: string;
  env: string;
  values: SubmittedValues;
  /** The run time as typed, a wall-clock time in the submitter's zone (resolved by the listener). */
  at: LocalTime | null;
  autoRun: boolean;
  background: boolean;
}

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  typed: string;
}

export type TicketRequest =
  | { sub: 'help' }
  | { sub: 'submit'; inline: InlineSubmit | null }
  | { sub: 'mine' }
  | { sub: 'approvals' }
  | { sub: 'run' | 'show' | 'revoke' | 'log'; ticketId: string }
  | { sub: 'admin-switch'; active: boolean; name: string; env?: string }
  | { sub: 'admin-list' }
  | { sub: 'history'; template?: string; env?: string; user?: string; status?: string };

/** Words; a double-quoted stretch (anywhere in a word) keeps its spaces, `\"` is a quote in it. */
export function ticketWords(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '\\' && text[i + 1] === '"') {
        word += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else word += ch;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += ch;
    inWord = true;
  }
  if (quoted) throw badParameter('a double quote is not closed; values with spaces go in "double quotes"');
  if (inWord) out.push(word);
  return out;
}

export function parseLocalTime(typed: string): LocalTime {
  const m = LOCAL_TIME.exec(typed);
  if (!m) throw badParameter(`at: the run time is written 2026-12-24T03:00 (got "${echo(typed, 30)}")`, { field: 'at' });
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const probe = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw badParameter(`at: ${echo(typed, 30)} is not a date and time`, { field: 'at' });
  }
  return { year, month, day, hour, minute, second, typed };
}

function parseInline(args: string[]): InlineSubmit | null {
  if (args.length === 0) return null;
  const [template, ...rest] = args;
  if (!NAME.test(template!)) throw badParameter(`"${echo(template!)}" is not a ticket name`, { field: 'template' });
  let env: string | undefined;
  let at: LocalTime | null = null;
  let autoRun = false;
  let background = false;
  const values: SubmittedValues = {};
  for (const word of rest) {
    const lower = word.toLowerCase();
    if (lower === 'auto') autoRun = true;
    else if (lower === 'background' || lower === 'bg') background = true;
    else if (lower.startsWith('env:')) {
      if (env !== undefined) throw badParameter('env: is given twice', { field: 'env' });
      env = word.slice(4);
      if (!ENV.test(env)) throw badParameter(`env: "${echo(env, 30)}" is not an environment`, { field: 'env' });
    } else if (lower.startsWith('at:')) {
      if (at) throw badParameter('at: is given twice', { field: 'at' });
      at = parseLocalTime(word.slice(3));
    } else {
      const eq = word.indexOf('=');
      if (eq <= 0) throw badParameter(`"${echo(word)}" is not Option=value, env:X, at:<time>, auto or background`, { field: 'values' });
      const name = word.slice(0, eq);
      if (!OPTION.test(name)) throw badParameter(`"${echo(name)}" is not an option name`, { field: name.slice(0, 63) });
      if (Object.hasOwn(values, name)) throw badParameter(`option ${name} is given twice; a multiple choice is written a,b`, { field: name });
      if (Object.keys(values).length >= MAX_OPTIONS) throw badParameter(`more than ${MAX_OPTIONS} options given`, { field: name });
      const raw = unescapeSlack(word.slice(eq + 1));
      // A comma separates the choices of a multiple option; the service says when one takes one value.
      values[name] = raw.includes(',') ? raw.split(',') : raw;
    }
  }
  if (!env) throw missingField('env:<environment> (the ticket names one per environment, e.g. env:PROD)');
  return { template: template!, env, values, at, autoRun, background };
}

function oneTicketId(sub: string, args: string[]): string {
  if (!args[0]) throw missingField(`ticket id (/ticket ${sub} TK-XXXXXX)`);
  if (!TICKET_ID.test(args[0])) throw badParameter(`"${echo(args[0])}" is not a ticket id such as TK-7K2M9Q`, { field: 'ticket' });
  if (args.length > 1) throw badParameter(`unexpected argument "${echo(args[1]!, 30)}"; usage: /ticket ${sub} <id>`);
  return args[0];
}

const ADMIN_USAGE = '/ticket admin activate|deactivate <name> [env] · /ticket admin list';

/** `/ticket admin activate|deactivate <name> [env]` (env also as env:X) and `/ticket admin list`. */
function parseAdmin(args: string[]): TicketRequest {
  const [action, name, envWord, ...extra] = args;
  const a = action?.toLowerCase();
  if (a === 'list') {
    if (name !== undefined) throw badParameter(`unexpected argument "${echo(name, 30)}"; usage: ${ADMIN_USAGE}`);
    return { sub: 'admin-list' };
  }
  if (a !== 'activate' && a !== 'deactivate') throw badParameter(`usage: ${ADMIN_USAGE}${action ? ` (got "${echo(action, 30)}")` : ''}`);
  if (!name) throw missingField(`ticket name (/ticket admin ${a} <name> [env])`);
  if (!NAME.test(name)) throw badParameter(`"${echo(name)}" is not a ticket name`, { field: 'name' });
  if (extra.length > 0) throw badParameter(`unexpected argument "${echo(extra[0]!, 30)}"; usage: ${ADMIN_USAGE}`);
  const env = envWord?.toLowerCase().startsWith('env:') ? envWord.slice(4) : envWord;
  if (env !== undefined && !ENV.test(env)) throw badParameter(`"${echo(env, 30)}" is not an environment`, { field: 'env' });
  return { sub: 'admin-switch', active: a === 'activate', name, ...(env !== undefined ? { env } : {}) };
}

export function parseTicket(text: string): TicketRequest {
  checkText(text);
  const [sub = 'submit', ...args] = ticketWords(text.trim());
  switch (sub.toLowerCase()) {
    case 'help':
      return { sub: 'help' };
    case 'submit':
      return { sub: 'submit', inline: parseInline(args) };
    case 'mine':
    case 'approvals':
      if (args.length > 0) throw badParameter(`unexpected argument "${echo(args[0]!, 30)}"; usage: /ticket ${sub.toLowerCase()}`);
      return { sub: sub.toLowerCase() as 'mine' | 'approvals' };
    case 'run':
    case 'show':
    case 'revoke':
    case 'log':
      return { sub: sub.toLowerCase() as 'run' | 'show' | 'revoke' | 'log', ticketId: oneTicketId(sub.toLowerCase(), args) };
    case 'admin':
      return parseAdmin(args);
    case 'history': {
      const out: { sub: 'history'; template?: string; env?: string; user?: string; status?: string } = { sub: 'history' };
      for (const a of args) {
        const m = /^(env|user|status):(.*)$/s.exec(a);
        if (!m) {
          if (out.template !== undefined || !NAME.test(a)) throw badParameter(`filters are [template] env:x user:x status:x (got "${echo(a)}")`);
          out.template = a;
          continue;
        }
        const key = m[1] as 'env' | 'user' | 'status';
        if (out[key] !== undefined) throw badParameter(`${key}: is given twice`);
        out[key] = filterValue(key, m[2]!);
      }
      return out;
    }
    default:
      throw badParameter(`unknown command "${echo(sub, 30)}"; try /ticket help`);
  }
}

// ---- button values and modal metadata --------------------------------------------------------

function checked<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw badParameter(`this ${what} carries an unreadable value`);
  return r.data;
}

/** Approve / Reject / Change to reject: which click, never who may act. */
export const decisionValueSchema = z.object({ t: z.string().regex(TICKET_ID), l: z.number().int().min(0).max(2) }).strict();
export type DecisionValue = z.infer<typeof decisionValueSchema>;
export const parseDecisionValue = (v: string | undefined): DecisionValue => checked(decisionValueSchema, jsonObject(v), 'button');

/** Run / Revoke / Show: the ticket id. */
export const ticketValueSchema = z.object({ t: z.string().regex(TICKET_ID) }).strict();
export const parseTicketValue = (v: string | undefined): string => checked(ticketValueSchema, jsonObject(v), 'button').t;

/** A picked ticket: its name and environment. */
export const pickValueSchema = z.object({ n: z.string().regex(NAME), e: z.string().regex(ENV) }).strict();
export type PickValue = z.infer<typeof pickValueSchema>;
export const parsePickValue = (v: string | undefined): PickValue => checked(pickValueSchema, jsonObject(v), 'choice');

/** The picker's state: the environment and category chosen so far. */
export const pickerMetaSchema = z.object({ e: z.string().regex(ENV).nullable(), c: z.string().max(80).nullable() }).strict();
export type PickerMeta = z.infer<typeof pickerMetaSchema>;

/** The form's metadata: which ticket, and where to answer. */
export const formMetaSchema = z.object({ n: z.string().regex(NAME), e: z.string().regex(ENV), c: z.string().max(40) }).strict();
export type FormMeta = z.infer<typeof formMetaSchema>;

/** The decision modals' metadata: which click, and the conversation to answer in. */
export const decisionMetaSchema = decisionValueSchema.extend({ c: z.string().max(40), k: z.enum(['approve', 'reject', 'change']) }).strict();
export type DecisionMeta = z.infer<typeof decisionMetaSchema>;

export function parseMeta<T extends z.ZodType>(schema: T, metadata: string | undefined): z.infer<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(metadata ?? '');
  } catch {
    raw = undefined;
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw badParameter('the form arrived with unreadable metadata; open it again');
  return r.data;
}

/** A picker select's chosen value (env, category or ticket). */
export function parseSelected(value: unknown): string | undefined {
  const r = z.object({ value: z.string().max(500) }).nullish().safeParse(value);
  return r.success ? r.data?.value : undefined;
}

// ---- the ticket form ---------------------------------------------------------------------------

const opt = z.object({ value: z.string().max(4_000) });
/** One option's element, whichever kind the form used. */
const elementState = z
  .object({
    type: z.string().max(40).optional(),
    value: z.string().nullish(),
    selected_option: opt.nullish(),
    selected_options: z.array(opt).max(100).nullish(),
    selected_date: z.string().max(20).nullish(),
    selected_time: z.string().max(10).nullish(),
  })
  .passthrough();
const formState = z.record(z.string().max(255), z.record(z.string().max(255), elementState));

export interface FormValues {
  values: SubmittedValues;
  /** The run date and time as picked (wall clock in the submitter's zone), or null. */
  at: LocalTime | null;
  autoRun: boolean;
  background: boolean;
}

/** The ticket form's state.values as Slack sends them. */
export function parseTicketForm(values: unknown): FormValues {
  if (values === undefined || values === null) throw badParameter('the form arrived without its fields; open it again with /ticket', { field: TicketBlocks.flags });
  const parsed = formState.safeParse(values);
  if (!parsed.success) throw badParameter('the form arrived unreadable; open it again with /ticket', { field: TicketBlocks.flags });
  const out: FormValues = { values: {}, at: null, autoRun: false, background: false };
  let date: string | null = null;
  let time: string | null = null;
  for (const [blockId, elements] of Object.entries(parsed.data)) {
    const el = Object.values(elements)[0];
    if (!el) continue;
    if (blockId.startsWith(TicketBlocks.optionPrefix)) {
      const name = blockId.slice(TicketBlocks.optionPrefix.length);
      if (!OPTION.test(name)) throw badParameter('the form names an option that is not one', { field: TicketBlocks.flags });
      if (el.selected_options) out.values[name] = el.selected_options.map((o) => o.value);
      else if (el.selected_option) out.values[name] = el.selected_option.value;
      else if (typeof el.value === 'string') out.values[name] = el.value;
      else out.values[name] = '';
    } else if (blockId === TicketBlocks.runDate) date = el.selected_date ?? null;
    else if (blockId === TicketBlocks.runTime) time = el.selected_time ?? null;
    else if (blockId === TicketBlocks.flags) {
      const chosen = new Set((el.selected_options ?? []).map((o) => o.value));
      out.autoRun = chosen.has('auto');
      out.background = chosen.has('background');
    }
  }
  if (date && time) out.at = parseLocalTime(`${date}T${time}`);
  else if (date || time) throw badParameter('choose both a run date and a run time, or neither', { field: date ? TicketBlocks.runTime : TicketBlocks.runDate });
  return out;
}

/**
 * The reason (reject) or comment (approve) of a decision modal. Longer than the engine keeps is
 * refused on the form (1100): before, it read as no text at all, so a long comment was dropped
 * from an approval without a word and a long reason was answered "a rejection needs a reason".
 */
export function parseDecisionText(values: unknown, blockId: string): string {
  const r = z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }).passthrough())).safeParse(values);
  if (!r.success) return '';
  const el = Object.values(r.data[blockId] ?? {})[0];
  const text = (el?.value ?? '').trim();
  if (text.length > NOTE_LIMIT) throw badParameter(`the text is ${text.length.toLocaleString('en')} characters; the limit is ${NOTE_LIMIT.toLocaleString('en')}`, { field: blockId });
  return text;
}

/** The action id of a long choice list's external select: the ticket and option it lists. */
export function choicesActionId(name: string, env: string, option: string): string {
  return `${Actions.ticketChoices}|${name}|${env}|${option}`;
}

/** What someone typed into a long choice list's search, and which list it is. */
export function parseChoiceSearch(actionId: string, text: string): { name: string; env: string; option: string; query: string } {
  checkText(text, 100);
  const [prefix, name, env, option] = actionId.split('|');
  if (prefix !== Actions.ticketChoices || !name || !env || !option || !NAME.test(name) || !ENV.test(env) || !OPTION.test(option)) throw badParameter('this list names no ticket option');
  return { name, env, option, query: text };
}

// ---- time zones ------------------------------------------------------------------------------

/** A time zone name Slack gives (users.info tz), checked against what Intl knows. */
export function validZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length > 64) return 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return tz;
  } catch {
    return 'UTC';
  }
}

/** Milliseconds `tz` is ahead of UTC at the instant `ms`. */
function zoneOffset(ms: number, tz: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant a wall-clock time in `tz` names (the later offset wins across a DST change). */
export function resolveLocalTime(t: LocalTime, tz: string): Date {
  const wall = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  let ms = wall - zoneOffset(wall, tz);
  ms = wall - zoneOffset(ms, tz);
  return new Date(ms);
}

/** A time as the submitter reads it, always with its zone: `2026-12-24 03:00 (Europe/Paris)`. */
export function showInZone(d: Date, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} (${tz})`;
}
