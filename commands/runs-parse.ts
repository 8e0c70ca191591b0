/**
 * `/run` and `/jobs` as typed: `/run syslog-tail target:app:nginx env:prod lines=200` and
 * `/jobs [show|signal|term|kill] …`, read into plain requests; the run service checks the rest.
 * Words follow `/ticket`'s rules ("double quotes" keep spaces).
 */
import { z } from 'zod';
import { badParameter } from '../src/errors.js';
import type { RunRequest } from '../src/services/modules/plan.js';
import { ticketWords } from './tickets-parse.js';

/** Longest command text read; Slack sends at most 4,000 characters anyway. */
const MAX_TEXT = 4000;
const JOB_ID = /^J-[0-9a-f]{10}$/;

export type RunCommand = { sub: 'help' } | { sub: 'run'; request: RunRequest };
export type JobsCommand = { sub: 'help' } | { sub: 'list' } | { sub: 'show'; jobId: string } | { sub: 'output'; jobId: string; host: string } | { sub: 'signal'; jobId: string; signal: string };

function words(text: string): string[] {
  if (text.length > MAX_TEXT) throw badParameter(`the command is ${text.length} characters; the limit is ${MAX_TEXT}`);
  return ticketWords(text);
}

/** `<module> [target:]<filter words…> name=value …`; the filter words are the inventory's. */
export function parseRun(text: string): RunCommand {
  const [module, ...rest] = words(text);
  if (!module || module === 'help') return { sub: 'help' };
  const params: Record<string, string> = {};
  const target: string[] = [];
  for (const w of rest) {
    const param = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(w);
    if (param) {
      if (Object.hasOwn(params, param[1]!)) throw badParameter(`parameter ${param[1]} is given twice`, { param: param[1] });
      params[param[1]!] = param[2]!;
    } else target.push(w.startsWith('target:') ? w.slice('target:'.length) : w);
  }
  return { sub: 'run', request: { module, target: target.filter(Boolean).join(' '), params } };
}

function jobId(w: string | undefined): string {
  if (!w) throw badParameter('name the job: J- and 10 hex digits, as /jobs lists them', { field: 'job' });
  if (!JOB_ID.test(w)) throw badParameter(`${w.slice(0, 40)} is not a job id (J- and 10 hex digits)`, { field: 'job' });
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
      return { sub: 'show', jobId: jobId(a) };
    case 'output':
      if (!b) throw badParameter('name the host: /jobs output <id> <host>', { field: 'host' });
      return { sub: 'output', jobId: jobId(a), host: b };
    case 'term':
      return { sub: 'signal', jobId: jobId(a), signal: 'TERM' };
    case 'kill':
      return { sub: 'signal', jobId: jobId(a), signal: 'KILL' };
    case 'signal':
      if (!b) throw badParameter('name the signal: /jobs signal <id> TERM|INT|HUP|KILL|…', { field: 'signal' });
      return { sub: 'signal', jobId: jobId(a), signal: b };
    default:
      throw badParameter(`unknown /jobs command ${sub.slice(0, 40)}; see /jobs help`);
  }
}

const jobButton = z.object({ j: z.string().regex(JOB_ID) }).strict();

/** A Show / Term / Kill button's value, checked: never trusted for who may. */
export function parseJobButton(value: unknown): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : '');
  } catch {
    throw badParameter('this button carries no job');
  }
  const r = jobButton.safeParse(parsed);
  if (!r.success) throw badParameter('this button carries no job');
  return r.data.j;
}
