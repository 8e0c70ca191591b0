/**
 * The host side of access grants: writes, removes and lists opsgate's lines in the role
 * accounts' authorized_keys files, over SSH with the execution engine (seed 003).
 *
 * Each call is one small POSIX sh script run as root on the host. Every value in it (grant
 * id, key line, account names, the literal parts of the path template) is shell-quoted;
 * values are also checked before any connection is made, so a hostile grant id or key is an
 * AppError 1100 here and never reaches a host.
 *
 * On the host, for each account: the home comes from `getent passwd`; the file's folder
 * (`~/.ssh` by default) and the file are created mode 700 / 600 and owned by the account;
 * the file is rewritten atomically (a temp file in the same folder, then `mv`), keeping every
 * line that does not end with exactly ` opsgate-grant:<id>`. Changes on one host are
 * serialised with `flock` on /run/opsgate/authorized-keys.lock, so two grants provisioned at
 * once cannot lose each other's line. The script refuses to follow a symlinked file or folder
 * (root must not copy a file an account points it at into that account's key file).
 *
 * Results come back node-ssh style, one per host: `ok` with what was done, `unreachable`, or
 * `failed` with a message a person can act on. A remote failure never throws.
 */
import { z } from 'zod';
import { badParameter } from '../../errors.js';
import type { ExecutionEngine } from '../exec/engine.js';
import { shellQuote } from '../exec/shell-quote.js';
import type { HostResult, SshTarget } from '../exec/types.js';
import { assertGrantId, grantIdOfLine, parseOpsgateLine, type OpsgateKeyLine } from '../../services/access/authorized-keys.js';

/** sshd's default: `%h/.ssh/authorized_keys`. */
export const DEFAULT_AUTHORIZED_KEYS_FILE = '%h/.ssh/authorized_keys';

/** Login names as useradd accepts them by default; nothing here means anything to sh or getent. */
const ACCOUNT_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Tags the script's output lines, so anything a login shell prints is never mistaken for one. */
const RECORD_TAG = 'OPSGATE-KEYS';

/** The script's own refusals: `opsgate: <message>` on stderr, then this exit code. */
const REFUSED_EXIT = 65;

/**
 * removeMany's filter: copies the file to $OPSGATE_OUT without the lines whose last word is
 * ` opsgate-grant:<id>` for an id in $OPSGATE_IDS (space-separated); prints how many lines went,
 * then one `stripped` record per id. Values arrive through the environment, never as program text.
 */
const STRIP_AWK = [
  'BEGIN {',
  '  n = split(ENVIRON["OPSGATE_IDS"], ids, " ")',
  '  for (i = 1; i <= n; i++) { want[ids[i]] = 1; count[ids[i]] = 0 }',
  '  out = ENVIRON["OPSGATE_OUT"]; account = ENVIRON["OPSGATE_ACCOUNT"]; gone = 0',
  '  printf "" > out',
  '}',
  '{',
  '  if (match($0, / opsgate-grant:[A-Za-z0-9_-]+$/)) {',
  '    id = substr($0, RSTART + 15)',
  '    if (id in want) { count[id]++; gone++; next }',
  '  }',
  '  print > out',
  '}',
  'END {',
  '  if (close(out) != 0) exit 2',
  '  print gone',
  `  for (i = 1; i <= n; i++) printf "${RECORD_TAG}\\tstripped\\t%s\\t%s\\t%d\\n", account, ids[i], count[ids[i]]`,
  '}',
].join('\n');

export type HostKeysResult<T> =
  | { host: string; status: 'ok'; value: T }
  /** The command never ran: connection refused, timeout before a session, host key or auth refused. */
  | { host: string; status: 'unreachable'; message: string }
  /** It ran (or was stopped) and did not do the job; nothing is assumed about partial writes. */
  | { host: string; status: 'failed'; message: string };

export interface AddInput {
  /** Usually `accountsForRole(role)`. */
  accounts: string[];
  /** From `buildKeyLine`; checked again here (it must be an opsgate line for `grantId`). */
  line: string;
  grantId: string;
}

export interface Added {
  /** Per account, in the order asked: how many earlier lines of this grant were replaced (0 or 1). */
  accounts: { account: string; replaced: number }[];
}

export interface RemoveInput {
  accounts: string[];
  grantId: string;
}

export interface Removed {
  /**
   * Per account: lines removed (0 when the grant was not there). An account that does not
   * exist on the host is `accountMissing` and counts as done: sshd cannot log anyone into it.
   */
  accounts: { account: string; removed: number; accountMissing: boolean }[];
}

export interface RemoveManyInput {
  /**
   * The grants whose lines go, each with the accounts its line is in (usually
   * `accountsForRole(role)`). At most MAX_GRANTS_PER_REMOVE, each grant once.
   */
  grants: { grantId: string; accounts: string[] }[];
}

export interface RemovedMany {
  /** Per grant, in the order asked: per account as `remove` reports it. */
  grants: { grantId: string; accounts: Removed['accounts'] }[];
}

/**
 * Grants one `removeMany` call takes. The script carries every id (per account) and the
 * process-group wrapper sends it twice in one command line, which Linux caps at 128 KiB.
 */
export const MAX_GRANTS_PER_REMOVE = 200;

/** A script above this is refused before it is sent (see MAX_GRANTS_PER_REMOVE). */
const MAX_SCRIPT_BYTES = 56 * 1024;

export interface ListedAccount {
  account: string;
  /** The account does not exist on the host (no grants can work there). */
  accountMissing: boolean;
  /** opsgate's lines, in file order. */
  grants: OpsgateKeyLine[];
  /**
   * Lines tagged ` opsgate-grant:<id>` that are not in the shape opsgate writes (edited by
   * hand?). `remove(grantId)` still deletes them.
   */
  malformed: { grantId: string; line: string }[];
}

export interface Listed {
  accounts: ListedAccount[];
}

/** What the gateway needs from the engine (tests may wrap it). */
export type EngineStart = Pick<ExecutionEngine, 'start'>;

export interface HostKeysGatewayOptions {
  engine: EngineStart;
  /**
   * Where each account's key file is, as sshd's `AuthorizedKeysFile`: `%u` the account,
   * `%h` its home, `%%` a percent sign. Absolute or starting with `%h`. The folder is
   * created per account only when the folder part names `%u` or `%h`; a shared folder
   * (`/etc/ssh/keys/%u`) must exist. Default `%h/.ssh/authorized_keys`.
   */
  authorizedKeysFile?: string;
  /** Whole-script limit per host. Default 60 s (the script waits up to 30 s for the lock). */
  timeoutMs?: number;
  /** Recorded as the job's starter in the engine's job list. */
  startedBy?: string;
}

interface CompiledPath {
  /** An sh word that expands to the path, using $account and $home. */
  shellWord: string;
  /** The folder differs per account, so the script may create it for the account. */
  perAccountFolder: boolean;
  usesHome: boolean;
}

/** Turns an `AuthorizedKeysFile`-style template into a shell word; AppError 1100 if unusable. */
export function compileKeysPath(template: string): CompiledPath {
  if (!template.startsWith('/') && !template.startsWith('%h')) {
    throw badParameter(`the authorized_keys path "${template}" must be absolute or start with %h`);
  }
  if (/[\0\n\r]/.test(template) || template.endsWith('/')) throw badParameter(`the authorized_keys path "${template}" is not a file path`);
  const words: string[] = [];
  let literal = '';
  let perAccountFolder = false;
  let usesHome = false;
  const lastSlash = template.lastIndexOf('/');
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      literal += c;
      continue;
    }
    const token = template[++i];
    if (token === '%') {
      literal += '%';
      continue;
    }
    if (token !== 'u' && token !== 'h') {
      throw badParameter(`the authorized_keys path "${template}" uses %${token ?? ''}; only %u, %h and %% are known`);
    }
    if (literal) words.push(shellQuote(literal));
    literal = '';
    words.push(token === 'u' ? '"$account"' : '"$home"');
    if (token === 'h') usesHome = true;
    if (i < lastSlash) perAccountFolder = true;
  }
  if (literal) words.push(shellQuote(literal));
  return { shellWord: words.join(''), perAccountFolder, usesHome };
}

function checkAccounts(accounts: string[]): void {
  if (!Array.isArray(accounts) || accounts.length === 0) throw badParameter('name at least one account');
  for (const a of accounts) {
    if (typeof a !== 'string' || !ACCOUNT_NAME.test(a)) throw badParameter(`"${String(a).slice(0, 40)}" is not an account name`, { account: String(a).slice(0, 40) });
  }
  if (new Set(accounts).size !== accounts.length) throw badParameter('an account is listed twice', { accounts });
}

export class HostKeysGateway {
  private readonly path: CompiledPath;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HostKeysGatewayOptions) {
    this.path = compileKeysPath(opts.authorizedKeysFile ?? DEFAULT_AUTHORIZED_KEYS_FILE);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /**
   * Writes `line` into each account's file, replacing any earlier line of the same grant
   * (so running it twice leaves one line, and a new expiry replaces the old one). If any
   * account is missing on the host, nothing is written and the host is `failed`.
   */
  async add(target: SshTarget, input: AddInput): Promise<HostKeysResult<Added>> {
    checkAccounts(input.accounts);
    assertGrantId(input.grantId);
    const parsed = typeof input.line === 'string' ? parseOpsgateLine(input.line) : null;
    if (!parsed) throw badParameter('the key line is not one opsgate writes (build it with buildKeyLine)');
    if (parsed.grantId !== input.grantId) throw badParameter(`the key line belongs to grant ${parsed.grantId}, not ${input.grantId}`);

    const script = this.script([
      `line=${shellQuote(input.line)}`,
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  [ "$missing" = 0 ] || fail "account $account does not exist on this host (getent passwd found nothing); no account was changed"`,
      `  check_paths write`,
      `done`,
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  count_lines`,
      `  rewrite 1`,
      `  record added "$account" "$n"`,
      `done`,
    ], { lock: true, grantId: input.grantId });
    return this.run(target, script, (records) => {
      const accounts = input.accounts.map((account) => {
        const r = single(records, account, ['added']);
        return { account, replaced: Number(r[2]) };
      });
      return { accounts };
    });
  }

  /**
   * Removes the grant's line (every line ending with exactly ` opsgate-grant:<grantId>`) from
   * each account's file. Other lines, opsgate's or not, stay byte for byte.
   */
  async remove(target: SshTarget, input: RemoveInput): Promise<HostKeysResult<Removed>> {
    checkAccounts(input.accounts);
    assertGrantId(input.grantId);
    const script = this.script([
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  [ "$missing" = 1 ] || check_paths read`,
      `done`,
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  if [ "$missing" = 1 ]; then record missing "$account"; continue; fi`,
      `  count_lines`,
      `  [ "$n" = 0 ] || rewrite 0`,
      `  record removed "$account" "$n"`,
      `done`,
    ], { lock: true, grantId: input.grantId });
    return this.run(target, script, (records) => ({
      accounts: input.accounts.map((account) => {
        const r = single(records, account, ['removed', 'missing']);
        return r[0] === 'missing' ? { account, removed: 0, accountMissing: true } : { account, removed: Number(r[2]), accountMissing: false };
      }),
    }));
  }

  /**
   * Removes the lines of many grants in one SSH call and one hold of the host's lock: each
   * account's file is read once and rewritten once (only when something in it goes), keeping
   * every line that does not end with exactly ` opsgate-grant:<id>` of a grant named for that
   * account. Same outcome as `remove` once per grant, for the revocation of a whole expiry
   * minute on a host. The host needs `awk` (POSIX; mawk, gawk and busybox all do).
   */
  async removeMany(target: SshTarget, input: RemoveManyInput): Promise<HostKeysResult<RemovedMany>> {
    if (!Array.isArray(input.grants) || input.grants.length === 0) throw badParameter('name at least one grant');
    if (input.grants.length > MAX_GRANTS_PER_REMOVE) throw badParameter(`at most ${MAX_GRANTS_PER_REMOVE} grants per call, not ${input.grants.length}`);
    const idsByAccount = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const g of input.grants) {
      assertGrantId(g.grantId);
      if (seen.has(g.grantId)) throw badParameter(`grant ${g.grantId} is listed twice`, { grantId: g.grantId });
      seen.add(g.grantId);
      checkAccounts(g.accounts);
      for (const a of g.accounts) {
        const ids = idsByAccount.get(a) ?? [];
        ids.push(g.grantId);
        idsByAccount.set(a, ids);
      }
    }
    const accounts = [...idsByAccount.keys()];
    const script = this.script(
      [
        'command -v awk >/dev/null 2>&1 || fail "awk is missing on this host; removing many grants at once needs it"',
        `strip_program=${shellQuote(STRIP_AWK)}`,
        // Every file is checked before any is changed, as in remove.
        `for account in ${words(accounts)}; do`,
        `  locate "$account"`,
        `  [ "$missing" = 1 ] || check_paths read`,
        `done`,
        ...accounts.flatMap((account) => [
          `locate ${shellQuote(account)}`,
          `ids=${shellQuote(idsByAccount.get(account)!.join(' '))}`,
          `if [ "$missing" = 1 ]; then record missing "$account"; else strip_many; fi`,
        ]),
      ],
      { lock: true },
    );
    if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES) throw badParameter(`the removal of ${input.grants.length} grants is too large for one call; send fewer at once`);
    return this.run(target, script, (records) => ({
      grants: input.grants.map((g) => ({
        grantId: g.grantId,
        accounts: g.accounts.map((account) => {
          const missing = records.filter((r) => r[0] === 'missing' && r[1] === account);
          if (missing.length === 1) return { account, removed: 0, accountMissing: true };
          const found = records.filter((r) => r[0] === 'stripped' && r[1] === account && r[2] === g.grantId);
          if (found.length !== 1 || missing.length > 0) throw new Error(`expected one record for ${g.grantId} in ${account}, got ${found.length + missing.length}`);
          return { account, removed: Number(found[0]![3]), accountMissing: false };
        }),
      })),
    }));
  }

  /** opsgate's lines in each account's file (for the daily reconcile). Reads only. */
  async list(target: SshTarget, accounts: string[]): Promise<HostKeysResult<Listed>> {
    checkAccounts(accounts);
    const script = this.script([
      `for account in ${words(accounts)}; do`,
      `  locate "$account"`,
      `  if [ "$missing" = 1 ]; then record missing "$account"; continue; fi`,
      `  check_paths read`,
      `  record account "$account"`,
      `  [ -f "$file" ] || continue`,
      // Only lines whose last word is opsgate's tag leave the host; the rest is none of ours.
      `  found=$(grep -e ' opsgate-grant:[A-Za-z0-9_-]*$' "$file"); [ $? -le 1 ] || fail "cannot read $file"`,
      `  [ -z "$found" ] || printf '%s\\n' "$found" | while IFS= read -r l; do record line "$account" "$l"; done`,
      `done`,
    ], { lock: false });
    return this.run(target, script, (records) => ({
      accounts: accounts.map((account) => {
        const r = single(records, account, ['account', 'missing']);
        const entry: ListedAccount = { account, accountMissing: r[0] === 'missing', grants: [], malformed: [] };
        for (const rec of records) {
          if (rec[0] !== 'line' || rec[1] !== account) continue;
          const line = rec[2]!;
          const grant = parseOpsgateLine(line);
          if (grant) entry.grants.push(grant);
          else {
            const grantId = grantIdOfLine(line);
            if (grantId) entry.malformed.push({ grantId, line });
          }
        }
        return entry;
      }),
    }));
  }

  /**
   * The shared prelude and helpers, then `body`. Scripts that change files (`lock`) hold the
   * host's lock; `grantId` defines `$grant_tag` for count_lines / rewrite.
   */
  private script(body: string[], opts: { lock: boolean; grantId?: string }): string {
    const { lock, grantId } = opts;
    return [
      'set -u',
      'umask 077',
      // The character ranges in grep patterns below mean ASCII only in the C locale.
      'LC_ALL=C; export LC_ALL',
      'PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH',
      `fail() { printf 'opsgate: %s\\n' "$*" >&2; exit ${REFUSED_EXIT}; }`,
      `record() { printf '${RECORD_TAG}'; for f in "$@"; do printf '\\t%s' "$f"; done; printf '\\n'; }`,
      'tmp=',
      `trap 'rm -f "$tmp"' EXIT`,
      `trap 'exit 143' TERM INT HUP`,
      `[ "$(id -u)" = 0 ] || fail "changing role accounts' authorized_keys needs root; the bot logged in as $(id -un)"`,
      ...(grantId === undefined ? [] : [`grant_tag=${shellQuote(` opsgate-grant:${grantId}$`)}`]),
      ...(!lock
        ? []
        : [
            'command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is missing on this host; it keeps concurrent grant changes from losing lines"',
            'mkdir -p /run/opsgate && exec 9>>/run/opsgate/authorized-keys.lock || fail "cannot open the lock /run/opsgate/authorized-keys.lock"',
            'flock -w 30 9 || fail "another opsgate change to authorized_keys on this host held the lock for 30 s"',
          ]),
      // Sets missing (1 if getent knows no such account), uid, gid, home, file and dir.
      'locate() {',
      '  account=$1 missing=0 uid= gid= home= file= dir=',
      '  entry=$(getent passwd "$account") || { missing=1; return 0; }',
      '  IFS=: read -r name pw uid gid gecos home shell <<EOF',
      '$entry',
      'EOF',
      '  [ "$name" = "$account" ] || fail "getent passwd $account answered with the account $name"',
      ...(this.path.usesHome ? ['  case $home in /*) ;; *) fail "account $account has no usable home folder (\"$home\")" ;; esac'] : []),
      `  file=${this.path.shellWord}`,
      '  case $file in /*) ;; *) fail "the authorized_keys path of $account is not absolute: $file (home: $home)" ;; esac',
      '  dir=${file%/*}; [ -n "$dir" ] || dir=/',
      '}',
      // "write": the folder must exist or be creatable for the account.
      'check_paths() {',
      '  [ ! -L "$dir" ] || fail "$dir is a symbolic link; refusing to write through it"',
      '  [ ! -L "$file" ] || fail "$file is a symbolic link; refusing to follow it"',
      '  [ ! -e "$file" ] || [ -f "$file" ] || fail "$file is not a regular file"',
      '  [ ! -e "$dir" ] || [ -d "$dir" ] || fail "$dir is not a folder"',
      '  [ "$1" = write ] && [ ! -d "$dir" ] || return 0',
      ...(this.path.perAccountFolder
        ? ['  parent=${dir%/*}; [ -n "$parent" ] || parent=/', '  [ -d "$parent" ] || fail "cannot create $dir for $account: $parent does not exist"']
        : ['  fail "the shared folder $dir does not exist; create it first"']),
      '}',
      // n = lines of this grant in the file now.
      'count_lines() {',
      '  n=0',
      '  if [ -f "$file" ]; then n=$(grep -c -e "$grant_tag" "$file"); [ $? -le 1 ] || fail "cannot read $file"; fi',
      '}',
      // Every other line, then the grant's line when $1 is 1; same folder, so mv is atomic.
      'rewrite() {',
      '  if [ ! -d "$dir" ]; then',
      '    { mkdir -m 700 "$dir" && chown "$uid:$gid" "$dir"; } || fail "cannot create $dir for $account"',
      '  fi',
      '  tmp=$(mktemp "$dir/.authorized_keys.opsgate.XXXXXX") || fail "cannot create a temporary file in $dir"',
      '  if [ -f "$file" ]; then grep -v -e "$grant_tag" "$file" >"$tmp"; [ $? -le 1 ] || fail "cannot copy $file"; fi',
      '  if [ "$1" = 1 ]; then printf \'%s\\n\' "$line" >>"$tmp" || fail "cannot write $tmp"; fi',
      '  { chown "$uid:$gid" "$tmp" && chmod 600 "$tmp" && mv -f "$tmp" "$file"; } || fail "cannot replace $file"',
      '  tmp=',
      '}',
      // removeMany: every line of a grant in $ids out of $file at once; records per grant.
      'strip_many() {',
      '  if [ ! -f "$file" ]; then',
      '    for id in $ids; do record stripped "$account" "$id" 0; done',
      '    return 0',
      '  fi',
      '  tmp=$(mktemp "$dir/.authorized_keys.opsgate.XXXXXX") || fail "cannot create a temporary file in $dir"',
      '  out=$(OPSGATE_IDS=$ids OPSGATE_OUT=$tmp OPSGATE_ACCOUNT=$account awk "$strip_program" "$file") || fail "cannot copy $file"',
      // The first line is how many lines went; the records follow.
      '  { read -r gone; cat; } <<EOF',
      '$out',
      'EOF',
      '  case $gone in ""|*[!0-9]*) fail "unexpected count from awk for $file: $gone" ;; esac',
      '  if [ "$gone" = 0 ]; then rm -f "$tmp"; tmp=; return 0; fi',
      '  { chown "$uid:$gid" "$tmp" && chmod 600 "$tmp" && mv -f "$tmp" "$file"; } || fail "cannot replace $file"',
      '  tmp=',
      '}',
      ...body,
    ].join('\n');
  }

  private async run<T>(target: SshTarget, command: string, read: (records: string[][]) => T): Promise<HostKeysResult<T>> {
    const { done } = this.opts.engine.start({ targets: [target], command, timeoutMs: this.timeoutMs, startedBy: this.opts.startedBy });
    const result = await done;
    const host = target.name;
    const unreachable = result.host_unreachable[host];
    if (unreachable) return { host, status: 'unreachable', message: unreachable.error?.message ?? 'the host could not be reached' };
    const failed = result.host_failed[host];
    if (failed) return { host, status: 'failed', message: failureMessage(failed) };
    const ok = result.host_ok[host];
    if (!ok) return { host, status: 'failed', message: 'the engine returned no result for the host' };
    if (ok.truncated) return { host, status: 'failed', message: 'the output was cut at the engine limit; the key files are too large to list' };
    try {
      return { host, status: 'ok', value: read(parseRecords(ok.stdout)) };
    } catch (err) {
      return { host, status: 'failed', message: `unexpected output from the host: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}

function words(values: string[]): string {
  return values.map(shellQuote).join(' ');
}

const countField = z.string().regex(/^\d+$/, 'a count');
const accountField = z.string().regex(ACCOUNT_NAME, 'an account name');
/** The script's records, by kind; SSH output is a boundary, so each is checked. */
const recordSchema = z.union([
  z.tuple([z.enum(['added', 'removed']), accountField, countField]),
  z.tuple([z.enum(['missing', 'account']), accountField]),
  z.tuple([z.literal('line'), accountField, z.string().min(1)]),
  z.tuple([z.literal('stripped'), accountField, z.string().regex(/^[A-Za-z0-9_-]{6,40}$/, 'a grant id'), countField]),
]);

/** Tagged stdout lines -> checked records; other lines (login-shell noise) are skipped. */
function parseRecords(stdout: string): string[][] {
  const records: string[][] = [];
  for (const raw of stdout.split('\n')) {
    if (!raw.startsWith(`${RECORD_TAG}\t`)) continue;
    const fields = raw.slice(RECORD_TAG.length + 1).split('\t');
    // A key line may itself hold tabs: everything after the account is the line.
    const record = fields[0] === 'line' ? [fields[0], fields[1] ?? '', fields.slice(2).join('\t')] : fields;
    const parsed = recordSchema.safeParse(record);
    if (!parsed.success) throw new Error(`bad record "${raw.slice(0, 200)}"`);
    records.push(parsed.data);
  }
  return records;
}

/** The one status record an account must have. */
function single(records: string[][], account: string, kinds: string[]): string[] {
  const found = records.filter((r) => r[1] === account && kinds.includes(r[0]!));
  if (found.length !== 1) throw new Error(`expected one ${kinds.join('/')} record for ${account}, got ${found.length}`);
  return found[0]!;
}

function failureMessage(r: HostResult): string {
  if (r.error) return r.error.message;
  const refusals = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('opsgate: '))
    .map((l) => l.slice('opsgate: '.length));
  if (refusals.length > 0) return refusals.join('; ');
  const last = r.stderr.trim().split('\n').slice(-3).join(' / ');
  return `the script ended with ${r.signal ? `signal ${r.signal}` : `exit code ${r.code}`}${last ? `: ${last}` : ''}`;
}
