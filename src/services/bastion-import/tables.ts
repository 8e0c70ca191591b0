/**
 * The old bastion's tables (seed 003) as their exports are read: one file per table, CSV with
 * a header row or JSON lines, with the seed's column names and codes. Plus the two mapping
 * files an operator writes: old uid -> directory person id, old host_id -> host name.
 *
 * Every value is checked here, one row at a time; references between files are checked by
 * the plan (plan.ts). Extra columns are ignored: real exports carry more than the seed lists.
 */
import { z } from 'zod';
import { ACCESS_ROLES, type AccessRole } from '../../models/access.js';
import { isPublicKeyError, parsePublicKey } from '../ssh-public-key.js';

/** The files the import reads, by table name (the file is `<name>.csv` or `<name>.jsonl`). */
export const TABLES = ['host_bastion_apply', 'host_bastion_tasks', 'user_host', 'user_keys', 'uid_map', 'host_map'] as const;
export type TableName = (typeof TABLES)[number];
/** Tables an import cannot do without; user_keys may be absent (nobody's key is carried over). */
export const REQUIRED_TABLES: TableName[] = ['host_bastion_apply', 'host_bastion_tasks', 'user_host', 'uid_map', 'host_map'];

/** Where a value came from: the file, its row (line number, the CSV header being row 1) and column. */
export interface RowRef {
  file: string;
  row: number;
}

export interface ImportProblem extends RowRef {
  column?: string;
  message: string;
}

/** seed 003's role codes: root:1, evans:2, readonly:3. */
export const ROLE_BY_CODE: Record<number, AccessRole> = { 1: ACCESS_ROLES[0], 2: ACCESS_ROLES[1], 3: ACCESS_ROLES[2] };

/** How a timestamp without an offset is read: MySQL's `timestamp` prints server-local time. */
export interface ReadOptions {
  /** `+08:00`, `-05:00` or `Z`; applied to `YYYY-MM-DD HH:MM:SS` values. */
  timezone: string;
}

const MYSQL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?$/;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
/** MySQL's "no date", which old exports print for a timestamp never set. */
const ZERO_TIME = /^0000-00-00( 00:00:00)?$/;

export function parseTimezone(tz: string): string | null {
  if (tz === 'Z' || tz === 'UTC') return 'Z';
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz);
  if (!m || Number(m[2]) > 14 || Number(m[3]) > 59) return null;
  return tz;
}

/** Integers arrive as numbers (JSON lines) or digit strings (CSV); nothing else passes. */
function integer(accept: (n: number) => boolean, expected: string) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isSafeInteger(n) || !accept(n)) {
      ctx.addIssue({ code: 'custom', message: `must be ${expected} (got ${JSON.stringify(v).slice(0, 40)})` });
      return z.NEVER;
    }
    return n;
  });
}

const intColumn = (min: number, max: number) => integer((n) => n >= min && n <= max, `a whole number from ${min} to ${max}`);

function codeColumn<T extends number>(codes: readonly T[], meaning: string) {
  return integer((n) => (codes as readonly number[]).includes(n), `one of ${meaning}`).transform((n) => n as T);
}

function timeColumn(opts: ReadOptions, required: boolean) {
  return z.union([z.string(), z.null(), z.undefined()]).transform((v, ctx): Date | null => {
    const s = (v ?? '').trim();
    if (s === '' || ZERO_TIME.test(s)) {
      if (!required) return null;
      ctx.addIssue({ code: 'custom', message: 'a time is required here' });
      return z.NEVER;
    }
    const m = MYSQL_TIME.exec(s);
    const iso = m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}${opts.timezone}` : ISO_WITH_OFFSET.test(s) ? s : null;
    const d = iso ? new Date(iso) : null;
    if (!d || Number.isNaN(d.getTime())) {
      ctx.addIssue({ code: 'custom', message: `must be a time such as 2016-05-03 10:21:00 or 2016-05-03T02:21:00Z (got ${JSON.stringify(s).slice(0, 40)})` });
      return z.NEVER;
    }
    return d;
  });
}

const id = intColumn(1, 2 ** 31 - 1);
const role = codeColumn([1, 2, 3] as const, '1 (root), 2 (evans), 3 (readonly)');
/** Text columns: CSV gives strings, JSON lines may give null for an empty varchar. */
const text = (max: number) =>
  z
    .union([z.string(), z.null()])
    .transform((v) => (v ?? '').trim())
    .refine((v) => v.length <= max, { message: `must be at most ${max} characters` })
    .refine((v) => !/[\0\r\n]/.test(v), { message: 'must be one line' });

export function rowSchemas(opts: ReadOptions) {
  // A required time is never null past the check.
  const created = timeColumn(opts, true).transform((d) => d as Date);
  const optionalTime = timeColumn(opts, false);
  return {
    host_bastion_apply: z.object({
      id,
      uid: id,
      host_id: id,
      role,
      /** 0 or empty: nobody was asked yet. */
      approve_uid: z.union([z.literal(''), z.null(), z.undefined()]).transform(() => 0).or(intColumn(0, 2 ** 31 - 1)),
      status: codeColumn([1, 2, 3, 4, 5] as const, '1 (waiting), 2 (rejected), 3 (being set up), 4 (granted), 5 (failed)'),
      days: intColumn(1, 3660),
      content: text(500),
      created,
      updated: optionalTime,
    }),
    host_bastion_tasks: z.object({
      id,
      apply_id: id,
      uid: id,
      host_id: id,
      role,
      type: codeColumn([1, 2] as const, '1 (add) or 2 (delete)'),
      status: codeColumn([0, 1, 2] as const, '0 (not run), 1 (done), 2 (failed)'),
      exec_time: optionalTime,
      created,
      updated: optionalTime,
    }),
    user_host: z.object({
      id,
      uid: id,
      host_id: id,
      role,
      status: codeColumn([1, 2] as const, '1 (valid) or 2 (expired)'),
      created,
      updated: optionalTime,
    }),
    user_keys: z.object({
      uid: id,
      public_key: z.string().transform((v, ctx) => {
        const k = parsePublicKey(v);
        if (isPublicKeyError(k)) {
          ctx.addIssue({ code: 'custom', message: `is not a usable SSH public key: ${k.error}` });
          return z.NEVER;
        }
        // Type and blob only: a comment or options from the old system never reach a host.
        return `${k.type} ${k.blob}`;
      }),
    }),
    uid_map: z.object({
      uid: id,
      person_id: z.string().trim().regex(/^[A-Za-z0-9._@-]{1,100}$/, { message: 'must be a directory person id (letters, digits, . _ @ -)' }),
    }),
    host_map: z.object({
      host_id: id,
      host: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/, { message: 'must be a host name as the catalog spells it' }),
    }),
  } satisfies Record<TableName, z.ZodType>;
}

type Schemas = ReturnType<typeof rowSchemas>;
export type Row<T extends TableName> = z.output<Schemas[T]> & { ref: RowRef };
export type ApplyRow = Row<'host_bastion_apply'>;
export type TaskRow = Row<'host_bastion_tasks'>;
export type UserHostRow = Row<'user_host'>;
export type KeyRow = Row<'user_keys'>;

/** Columns an export may leave out (the file is read as if they were empty). */
export const OPTIONAL_COLUMNS = new Set(['approve_uid', 'updated']);

export interface Tables {
  host_bastion_apply: ApplyRow[];
  host_bastion_tasks: TaskRow[];
  user_host: UserHostRow[];
  user_keys: KeyRow[];
  uid_map: Row<'uid_map'>[];
  host_map: Row<'host_map'>[];
}
