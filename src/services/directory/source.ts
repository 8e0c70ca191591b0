/**
 * The directory source: a YAML/JSON file or an HTTP JSON endpoint listing people. Validated
 * whole before anything is written: one bad record names its position, id and field, and
 * nothing is imported.
 */
import fs from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { badParameter } from '../../errors.js';
import { MASK, redactUrlCredentials } from '../redact.js';
import { isPublicKeyError, parsePublicKey } from '../ssh-public-key.js';
import { MAX_YAML_NESTING, tooDeepAt } from '../yaml-nesting.js';

const LEVEL = /^(P([1-9]|10)|M[1-6])$/;

const sshKey = z.string().superRefine((v, ctx) => {
  const k = parsePublicKey(v);
  if (isPublicKeyError(k)) ctx.addIssue({ code: 'custom', message: `not an OpenSSH public key: ${k.error}` });
});

export const directoryRecordSchema = z
  .object({
    id: z.string().min(1, 'must not be empty'),
    name: z.string().min(1, 'must not be empty'),
    email: z.email('must be an email address'),
    slackId: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user id such as U012ABCDEF').optional(),
    level: z.string().regex(LEVEL, 'must be P1..P10 or M1..M6'),
    department: z.string().default(''),
    manager: z.string().min(1).nullable().optional(),
    groups: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'group names are lower-case words')).default([]),
    sshKeys: z.array(sshKey).default([]),
  })
  .strict();

export type DirectoryRecord = z.infer<typeof directoryRecordSchema>;

const documentSchema = z.union([z.array(z.unknown()), z.object({ people: z.array(z.unknown()) }).strict()]);

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.join('.') || '(record)';
  return `${field}: ${issue.message}`;
}

/** Validates a parsed document; throws AppError 1100 naming the first bad record and field. */
export function validateDirectory(doc: unknown, origin: string): DirectoryRecord[] {
  const top = documentSchema.safeParse(doc);
  if (!top.success) throw badParameter(`${origin}: expected a list of people or { people: [...] }`);
  const raw = Array.isArray(top.data) ? top.data : top.data.people;
  const records: DirectoryRecord[] = [];
  raw.forEach((r, i) => {
    const parsed = directoryRecordSchema.safeParse(r);
    if (!parsed.success) {
      const id = typeof (r as { id?: unknown })?.id === 'string' ? ` (id ${(r as { id: string }).id})` : '';
      throw badParameter(`${origin}: record ${i + 1}${id}: ${describeIssue(parsed.error.issues[0]!)}`, { record: i + 1, issues: parsed.error.issues.map(describeIssue) });
    }
    records.push(parsed.data);
  });
  checkReferences(records, origin);
  return records;
}

function checkReferences(records: DirectoryRecord[], origin: string): void {
  const byId = new Map<string, DirectoryRecord>();
  const emails = new Set<string>();
  records.forEach((r, i) => {
    if (byId.has(r.id)) throw badParameter(`${origin}: record ${i + 1} (id ${r.id}): id: duplicate id`);
    const email = r.email.toLowerCase();
    if (emails.has(email)) throw badParameter(`${origin}: record ${i + 1} (id ${r.id}): email: ${email} is used twice`);
    byId.set(r.id, r);
    emails.add(email);
  });
  records.forEach((r, i) => {
    if (r.manager && !byId.has(r.manager)) throw badParameter(`${origin}: record ${i + 1} (id ${r.id}): manager: no person with id ${r.manager}`);
  });
  // A manager cycle would make "the next qualified person up the chain" loop forever.
  for (const r of records) {
    const seen = new Set<string>([r.id]);
    for (let m = r.manager; m; m = byId.get(m)?.manager) {
      if (seen.has(m)) throw badParameter(`${origin}: manager chain of ${r.id} loops back through ${m}`);
      seen.add(m);
    }
  }
}

/**
 * The source URL as logs and Slack may show it: any userinfo (`user:pass@`, or a token as the
 * user alone, `https://TOKEN@host`) and the query (`?token=…`) are masked.
 */
export function sourceForDisplay(url: URL): string {
  const userinfo = url.username || url.password ? `${MASK}@` : '';
  const query = url.search ? `?${MASK}` : '';
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}`;
}

/** Reads and validates the source: a path to .yaml/.yml/.json, or an http(s) URL serving JSON. */
export async function loadDirectory(source: string, opts: { fetchTimeoutMs?: number } = {}): Promise<DirectoryRecord[]> {
  if (/^https?:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw badParameter('the directory source is not a valid URL');
    }
    const shown = sourceForDisplay(url);
    let body: unknown;
    // Credentials in the URL become a Basic authorization header (fetch refuses them inline).
    const headers: Record<string, string> = { accept: 'application/json' };
    if (url.username || url.password) {
      headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
      url.username = '';
      url.password = '';
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(opts.fetchTimeoutMs ?? 10_000), headers });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      throw badParameter(`directory source ${shown} could not be read: ${redactUrlCredentials((err as Error).message)}`);
    }
    return validateDirectory(body, shown);
  }
  let text: string;
  try {
    text = await fs.readFile(source, 'utf8');
  } catch (err) {
    throw badParameter(`directory file ${source} could not be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  // JSON.parse does not recurse, YAML's composer does (see yaml-nesting.ts); JSON is YAML too.
  if (!source.endsWith('.json') && tooDeepAt(text) !== undefined) throw badParameter(`directory file ${source} nests deeper than ${MAX_YAML_NESTING} levels`);
  try {
    doc = source.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw badParameter(`directory file ${source} is not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateDirectory(doc, source);
}
