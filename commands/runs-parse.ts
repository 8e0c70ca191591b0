/**
 * `/run` and `/jobs` as typed: `/run syslog-tail target:app:nginx env:prod lines=200` and
 * `/jobs [show|signal|term|kill] …`, read into plain requests; the run service checks the rest.
 * Words follow `/ticket`'s rules ("double quotes" keep spaces).
 */
import { z } from 'zod';
import type { RunFormState } from '../blocks/run-form.js';
import { badParameter } from '../src/errors.js';
import { RunBlocks } from './ids.js';
import type { RunRequest } from '../src/services/modules/plan.js';
import { checkText } from './opsgate-parse.js';
import { parseMeta, ticketWords } from './tickets-parse.js';

/** Longest command text read; Slack sends at most 4,000 characters anyway. */
const MAX_TEXT = 4000;
const JOB_ID = /^J-[0-9a-f]{10}$/;
/** What `/jobs show|signal|term|kill` and the Show / Term / Kill buttons take: a module run's id or a ticket's (its run). */
const ANY_JOB_ID = /^(J-[0-9a-f]{10}|TK-[A-Z0-9]{6})$/;

export type RunCommand = { sub: 'help' } | { sub: 'form' } | { sub: 'run'; request: RunRequest };
export type JobsCommand = { sub: 'help' } | { sub: 'list' } | { sub: 'show'; jobId: string } | { sub: 'output'; jobId: string; host?: string } | { sub: 'signal'; jobId: string; signal: string };

function words(text: string): string[] {
  // Bounded and free of control characters like every other command's text: a NUL in a target
  // reached the host query and failed there as an internal error (1300).
  return ticketWords(checkText(text, MAX_TEXT));
}

/** `<module> [target:]<filter words…> name=value …`; the filter words are the inventory's. */
export function parseRun(text: string): RunCommand {
  const [module, ...rest] = words(text);
  if (!module) return { sub: 'form' };
  if (module === 'help') return { sub: 'help' };
  const params: Record<string, string> = {};
  const target: string[] = [];
  for (const w of rest) {
    const param = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(w);
    if (param) {
      // Assigning it would set the object's prototype: the value vanished and the run started anyway.
      if (param[1] === '__proto__') throw badParameter('__proto__ is not a parameter name', { param: param[1] });
      if (Object.hasOwn(params, param[1]!)) throw badParameter(`parameter ${param[1]} is given twice`, { param: param[1] });
      params[param[1]!] = param[2]!;
    } else target.push(w.startsWith('target:') ? w.slice('target:'.length) : w);
  }
  return { sub: 'run', request: { module, target: target.filter(Boolean).join(' '), params } };
}

function jobId(w: string | undefined, shape = JOB_ID): string {
  if (!w) throw badParameter('name the job: J- and 10 hex digits, or a ticket TK-…, as /jobs lists them', { field: 'job' });
  if (!shape.test(w)) throw badParameter(`${w.slice(0, 40)} is not a job id (J- and 10 hex digits${shape === ANY_JOB_ID ? ', or a ticket id TK- and 6 characters' : ''})`, { field: 'job' });
  return w;
}

export function parseJobs(text: string): JobsCommand {
  const [sub, a, b, ...extra] = words(text);
  if (extra.length > 0) throw badParameter('too many words; see /jobs help');
  switch (sub) {
    case undefined:
    case 'list':
      return { sub: 'list' };
    case 'help':
      return { sub: 'help' };
    case 'show':
      return { sub: 'show', jobId: jobId(a, ANY_JOB_ID) };
    case 'output':
      // Without a host: every host's output in one file.
      return { sub: 'output', jobId: jobId(a), ...(b ? { host: b } : {}) };
    case 'term':
      return { sub: 'signal', jobId: jobId(a, ANY_JOB_ID), signal: 'TERM' };
    case 'kill':
      return { sub: 'signal', jobId: jobId(a, ANY_JOB_ID), signal: 'KILL' };
    case 'signal':
      if (!b) throw badParameter('name the signal: /jobs signal <id> TERM|INT|HUP|KILL|…', { field: 'signal' });
      return { sub: 'signal', jobId: jobId(a, ANY_JOB_ID), signal: b };
    default:
      throw badParameter(`unknown /jobs command ${sub.slice(0, 40)}; see /jobs help`);
  }
}

const jobButton = z.object({ j: z.string().regex(ANY_JOB_ID) }).strict();
const jobHostsButton = z.union([z.object({ j: z.string().regex(JOB_ID), p: z.number().int().min(0).max(10_000) }).strict(), z.object({ j: z.string().regex(JOB_ID), h: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/) }).strict()]);

/** A button's JSON value read with its schema: never trusted for who may. */
function buttonJson<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : '');
  } catch {
    throw badParameter('this button carries no job');
  }
  const r = schema.safeParse(parsed);
  if (!r.success) throw badParameter('this button carries no job');
  return r.data;
}

const runDecision = z.object({ j: z.string().regex(JOB_ID), l: z.number().int().min(0).max(2) }).strict();

/** An Approve / Reject button's value: the job and the level the click is for (who may is the service's call). */
export const parseRunDecisionValue = (value: unknown): { j: string; l: number } => buttonJson(runDecision, value);

/** The Reject form's metadata: the click's job and level, and where to answer. */
export const parseRunDecisionMeta = (metadata: string | undefined): { j: string; l: number; c: string } => parseMeta(runDecision.extend({ c: z.string().max(40) }).strict(), metadata);

/** A per-host view button's value: the job and the page to show, or the host whose file to send. */
export const parseJobHostsButton = (value: unknown): { j: string; p?: number; h?: string } => buttonJson(jobHostsButton, value);

/** A Show / Term / Kill button's value: the job. */
export const parseJobButton = (value: unknown): string => buttonJson(jobButton, value).j;

// ---- the /run form ------------------------------------------------------------------------------

const opt = z.object({ value: z.string().max(2_000) });
/** One input's element as Slack sends its state, whichever kind the form used. */
const elementState = z
  .object({
    type: z.string().max(40).optional(),
    value: z.string().max(4_000).nullish(),
    selected_option: opt.nullish(),
    selected_options: z.array(opt).max(100).nullish(),
  })
  .passthrough();
const formState = z.record(z.string().max(255), z.record(z.string().max(255), elementState));
const PARAM_NAME = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** One filter word: no spaces (the inventory splits the filter on them), printable. */
const FILTER_VALUE = /^[^\s:]{1,100}$/;

/** The /run form's state.values as Slack sends them (view submissions and redraws alike). */
export function parseRunForm(values: unknown): RunFormState {
  if (values === undefined || values === null) throw badParameter('the form arrived without its fields; open it again with /run', { field: RunBlocks.module });
  const parsed = formState.safeParse(values);
  if (!parsed.success) throw badParameter('the form arrived unreadable; open it again with /run', { field: RunBlocks.module });
  const out: RunFormState = { module: null, hosts: [], project: '', app: '', env: '', label: '', params: {} };
  for (const [blockId, elements] of Object.entries(parsed.data)) {
    const el = Object.values(elements)[0];
    if (!el) continue;
    const text = (el.selected_option?.value ?? el.value ?? '').trim();
    switch (blockId) {
      case RunBlocks.module:
        out.module = text || null;
        break;
      case RunBlocks.hosts:
        out.hosts = (el.selected_options ?? []).map((o) => o.value);
        if (out.hosts.some((h) => !HOST_NAME.test(h))) throw badParameter('a picked host is not a host name; pick it from the list', { field: RunBlocks.hosts });
        break;
      case RunBlocks.project:
      case RunBlocks.app:
      case RunBlocks.env:
      case RunBlocks.label:
        out[blockId === RunBlocks.project ? 'project' : blockId === RunBlocks.app ? 'app' : blockId === RunBlocks.env ? 'env' : 'label'] = text;
        break;
      default: {
        if (!blockId.startsWith(RunBlocks.paramPrefix)) continue;
        const name = blockId.slice(RunBlocks.paramPrefix.length);
        if (!PARAM_NAME.test(name)) throw badParameter('the form names a parameter that is not one', { field: RunBlocks.module });
        // A checkbox sends the options ticked: none is false.
        if (el.type === 'checkboxes') out.params[name] = (el.selected_options ?? []).some((o) => o.value === 'true') ? 'true' : 'false';
        else if (el.selected_option || typeof el.value === 'string') out.params[name] = el.selected_option?.value ?? el.value ?? '';
      }
    }
  }
  return out;
}

/**
 * The target's inputs as the inventory filter reads them: `project:x app:x env:x label:value`,
 * every word holding (the picked hosts are passed apart, as names). A value with a space or a
 * colon would read as two words or another key, so it is refused on its field.
 */
export function runFormTarget(f: RunFormState): string {
  const words: string[] = [];
  const one = (key: string, value: string, field: string) => {
    if (!value) return;
    if (!FILTER_VALUE.test(value)) throw badParameter(`${key}: one word without spaces or colons, up to 100 characters`, { field });
    words.push(`${key}:${value}`);
  };
  one('project', f.project, RunBlocks.project);
  one('app', f.app, RunBlocks.app);
  one('env', f.env, RunBlocks.env);
  if (f.label) {
    const m = /^([A-Za-z0-9_-]{1,64}):([^\s:]{1,100})$/.exec(f.label);
    if (!m || ['env', 'project', 'app', 'active'].includes(m[1]!)) throw badParameter('label: <label>:<value>, one word each (e.g. role:web)', { field: RunBlocks.label });
    words.push(f.label);
  }
  return words.join(' ');
}

/** The form's answer goes to the conversation /run was typed in. */
export const runFormMetaSchema = z.object({ c: z.string().max(40) }).strict();

export const parseRunFormMeta = (metadata: string | undefined): { c: string } => parseMeta(runFormMetaSchema, metadata);
