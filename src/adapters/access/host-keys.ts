/**
 * The host side of access grants: writes, removes and lists opsgate's lines in the role
 * accounts' key files, over SSH with the execution engine (seed 003), and ends the live
 * connections of a revoked key (end-sessions.ts).
 *
 * Each call is one small POSIX sh script run as root on the host. Every value in it (grant
 * id, key line, account names, the literal parts of the path template) is shell-quoted;
 * values are also checked before any connection is made, so a hostile grant id or key is an
 * AppError 1100 here and never reaches a host.
 *
 * The files are root's, never the accounts' (issue 13 item 1): an account owned its
 * `~/.ssh`, so it could swap a symlink in between root's check and root's read, and root
 * copied `/etc/shadow` into a file it then gave the account. Now opsgate's lines live in a
 * root-owned folder (default `/etc/opsgate/authorized_keys/%u`, sshd's `AuthorizedKeysFile`
 * for the role accounts), folder root:root 0755, files root:root 0644, never chowned. Before
 * any read or write the script refuses (a coded failure, nothing changed) when the folder or
 * any folder above it is a symlink, not owned by root, or writable by group or others, or the
 * file is a symlink, not a regular file or not root's: then nobody but root can have put
 * anything on that path, and there is no race left to win. A path under the accounts' homes
 * (`%h`) is refused outright. The file is rewritten atomically by root in its own folder (a
 * temp file there, then `mv`), keeping every line that does not end with exactly
 * ` opsgate-grant:<id>`. Changes on one host are serialised with `flock` on
 * /run/opsgate/authorized-keys.lock, so two grants provisioned at once cannot lose each
 * other's line.
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
import { isPublicKeyError, parsePublicKey } from '../../services/ssh-public-key.js';
import { END_SESSIONS_SH } from './end-sessions.js';

/** Root-owned, one file per account; the README shows the sshd_config lines that read it. */
export const DEFAULT_AUTHORIZED_KEYS_FILE = '/etc/opsgate/authorized_keys/%u';

/** Login names as useradd accepts them by default; nothing here means anything to sh or getent. */
const ACCOUNT_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Tags the script's output lines, so anything a login shell prints is never mistaken for one. */
const RECORD_TAG = 'OPSGATE-KEYS';

/** The script's own refusals: `opsgate: <message>` on stderr, then this exit code. */
const REFUSED_EXIT = 65;

/**
 * removeMany's filter: copies the file to $OPSGATE_OUT without the lines whose last word is
 * ` opsgate-grant:<id>` for an id in $OPSGATE_IDS (space-separated); prints `R <account> <key
 * blob> <id>` per removed line, `G <how many went>`, then one `stripped` record per id. Values
 * arrive through the environment, never as program text.
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
  '    if (id in want) {',
  '      count[id]++; gone++',
  '      for (f = 1; f < NF; f++) if ($f ~ /^(ssh-|ecdsa-|sk-)/) { printf "R %s %s %s\\n", account, $(f + 1), id; break }',
  '      next',
  '    }',
  '  }',
  '  print > out',
  '}',
  'END {',
  '  if (close(out) != 0) exit 2',
  '  print "G " gone',
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
  /**
   * The grant's public key, when known: its live connections are ended even if its line was
   * already gone (a retry after a run that removed the line and then failed).
   */
  publicKey?: string;
}

/** The connections a revocation found on the host's touched accounts (see end-sessions.ts). */
export interface SessionsReport {
  /** Connections ended: logged in with a revoked key, or not attributable (fail closed). */
  ended: number;
  /** Of those, the ones that could not be attributed to a key. */
  endedUnattributed: number;
  /** Connections of those accounts left alone (another valid key, or opened after the removal). */
  kept: number;
  /** Detached processes of an ended connection (still carrying its SSH_USER_AUTH), killed. */
  strays: number;
  /** Per grant id: connections ended because they logged in with its key. */
  endedByGrant: Record<string, number>;
}

export interface Removed {
  /**
   * Per account: lines removed (0 when the grant was not there). An account that does not
   * exist on the host is `accountMissing` and counts as done: sshd cannot log anyone into it.
   */
  accounts: { account: string; removed: number; accountMissing: boolean }[];
  sessions: SessionsReport;
}

export interface RemoveManyInput {
  /**
   * The grants whose lines go, each with the accounts its line is in (usually
   * `accountsForRole(role)`). At most MAX_GRANTS_PER_REMOVE, each grant once.
   */
  grants: { grantId: string; accounts: string[]; publicKey?: string }[];
}

export interface RemovedMany {
  /** Per grant, in the order asked: per account as `remove` reports it. */
  grants: { grantId: string; accounts: Removed['accounts'] }[];
  sessions: SessionsReport;
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
   * Where each account's key file is, as sshd's `AuthorizedKeysFile`: `%u` the account, `%%`
   * a percent sign; absolute, outside the accounts' homes (`%h` is refused). The folder is
   * created (root, 0755) per account only when the folder part names `%u`; a shared folder
   * (`/etc/opsgate/authorized_keys`) must exist, root's and writable by root only. Default
   * `/etc/opsgate/authorized_keys/%u`.
   */
  authorizedKeysFile?: string;
  /** Whole-script limit per host. Default 60 s (the script waits up to 30 s for the lock). */
  timeoutMs?: number;
  /** Recorded as the job's starter in the engine's job list. */
  startedBy?: string;
}

interface CompiledPath {
  /** An sh word that expands to the path, using $account. */
  shellWord: string;
  /** The folder differs per account, so the script may create it (root's). */
  perAccountFolder: boolean;
}

/** Turns an `AuthorizedKeysFile`-style template into a shell word; AppError 1100 if unusable. */
export function compileKeysPath(template: string): CompiledPath {
  if (template.includes('%h')) {
    throw badParameter(`the authorized_keys path "${template}" is in the accounts' homes (%h); opsgate's key files must be root's, e.g. ${DEFAULT_AUTHORIZED_KEYS_FILE}`);
  }
  if (!template.startsWith('/')) throw badParameter(`the authorized_keys path "${template}" must be absolute`);
  if (/[\0\n\r]/.test(template) || template.endsWith('/')) throw badParameter(`the authorized_keys path "${template}" is not a file path`);
  const words: string[] = [];
  let literal = '';
  let perAccountFolder = false;
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
    if (token !== 'u') throw badParameter(`the authorized_keys path "${template}" uses %${token ?? ''}; only %u and %% are known`);
    if (literal) words.push(shellQuote(literal));
    literal = '';
    words.push('"$account"');
    if (i < lastSlash) perAccountFolder = true;
  }
  if (literal) words.push(shellQuote(literal));
  if (/(^|\/)\.\.?(\/|$)/.test(template)) throw badParameter(`the authorized_keys path "${template}" must not contain . or .. folders`);
  return { shellWord: words.join(''), perAccountFolder };
}

function checkAccounts(accounts: string[]): void {
  if (!Array.isArray(accounts) || accounts.length === 0) throw badParameter('name at least one account');
  for (const a of accounts) {
    if (typeof a !== 'string' || !ACCOUNT_NAME.test(a)) throw badParameter(`"${String(a).slice(0, 40)}" is not an account name`, { account: String(a).slice(0, 40) });
  }
  if (new Set(accounts).size !== accounts.length) throw badParameter('an account is listed twice', { accounts });
}

/** The blob of a grant's public key, for matching the key a connection logged in with. */
function keyBlob(publicKey: string): string {
  const k = parsePublicKey(publicKey);
  if (isPublicKeyError(k)) throw badParameter(`the public key is not usable: ${k.error}`);
  return k.blob;
}

/** `supplied` lines of the scripts: "<account> <blob> <grant id>", one per account of each grant with a key. */
function suppliedKeys(grants: { grantId: string; accounts: string[]; publicKey?: string }[]): string {
  return grants.flatMap((g) => (g.publicKey === undefined ? [] : g.accounts.map((a) => `${a} ${keyBlob(g.publicKey!)} ${g.grantId}`))).join('\n');
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
    const supplied = suppliedKeys([{ grantId: input.grantId, accounts: input.accounts, publicKey: input.publicKey }]);
    const script = this.script([
      `supplied=${shellQuote(supplied)}`,
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  [ "$missing" = 1 ] || check_paths read`,
      `done`,
      `for account in ${words(input.accounts)}; do`,
      `  locate "$account"`,
      `  if [ "$missing" = 1 ]; then record missing "$account"; continue; fi`,
      `  sess_accounts="$sess_accounts $account:$uid"`,
      `  count_lines`,
      `  if [ "$n" != 0 ]; then`,
      `    revoked="$revoked$(grep -e "$grant_tag" "$file" | OPSGATE_ACCOUNT=$account OPSGATE_ID=$grant_id awk "$blob_awk")`,
      `"`,
      `    rewrite 0`,
      `  fi`,
      `  record removed "$account" "$n"`,
      `  collect_valid`,
      `done`,
      `finish_sessions`,
    ], { lock: true, grantId: input.grantId });
    return this.run(target, script, (records) => ({
      accounts: input.accounts.map((account) => {
        const r = single(records, account, ['removed', 'missing']);
        return r[0] === 'missing' ? { account, removed: 0, accountMissing: true } : { account, removed: Number(r[2]), accountMissing: false };
      }),
      sessions: sessionsOf(records),
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
    const supplied = suppliedKeys(input.grants);
    const script = this.script(
      [
        `strip_program=${shellQuote(STRIP_AWK)}`,
        `supplied=${shellQuote(supplied)}`,
        // Every file is checked before any is changed, as in remove.
        `for account in ${words(accounts)}; do`,
        `  locate "$account"`,
        `  [ "$missing" = 1 ] || check_paths read`,
        `done`,
        ...accounts.flatMap((account) => [
          `locate ${shellQuote(account)}`,
          `ids=${shellQuote(idsByAccount.get(account)!.join(' '))}`,
          `if [ "$missing" = 1 ]; then record missing "$account"; else sess_accounts="$sess_accounts $account:$uid"; strip_many; collect_valid; fi`,
        ]),
        'finish_sessions',
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
      sessions: sessionsOf(records),
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
      ...(grantId === undefined ? [] : [`grant_tag=${shellQuote(` opsgate-grant:${grantId}$`)}`, `grant_id=${shellQuote(grantId)}`]),
      ...(!lock
        ? []
        : [
            'command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is missing on this host; it keeps concurrent grant changes from losing lines"',
            'mkdir -p /run/opsgate && exec 9>>/run/opsgate/authorized-keys.lock || fail "cannot open the lock /run/opsgate/authorized-keys.lock"',
            'flock -w 30 9 || fail "another opsgate change to authorized_keys on this host held the lock for 30 s"',
          ]),
      'command -v awk >/dev/null 2>&1 || fail "awk is missing on this host"',
      // Sets missing (1 if getent knows no such account), uid, file and dir.
      'locate() {',
      '  account=$1 missing=0 uid= file= dir=',
      '  entry=$(getent passwd "$account") || { missing=1; return 0; }',
      '  IFS=: read -r name pw uid gid rest <<EOF',
      '$entry',
      'EOF',
      '  [ "$name" = "$account" ] || fail "getent passwd $account answered with the account $name"',
      `  file=${this.path.shellWord}`,
      '  dir=${file%/*}; [ -n "$dir" ] || dir=/',
      '}',
      // Root's and only root's: $1 must be absent, or a real folder (no symlink) owned by root
      // and not writable by group or others; so must every folder above it, up to /.
      'check_chain() {',
      '  p=$1',
      '  while :; do',
      '    [ ! -L "$p" ] || fail "$p is a symbolic link; the key folder and every folder above it must be real folders owned by root"',
      '    if [ -e "$p" ]; then',
      '      [ -d "$p" ] || fail "$p is not a folder"',
      '      own=$(stat -c "%u %a" -- "$p") || fail "cannot stat $p"',
      '      set -- $own',
      '      [ "$1" = 0 ] || fail "$p is owned by uid $1, not root; an account could replace the key files in it"',
      '      [ $(( 0$2 & 022 )) = 0 ] || fail "$p is writable by group or others (mode $2); an account could replace the key files in it"',
      '    fi',
      '    [ "$p" != / ] || return 0',
      '    p=${p%/*}; [ -n "$p" ] || p=/',
      '  done',
      '}',
      // "write": the folder must exist, or (one folder per account) be creatable in a folder that exists.
      'check_paths() {',
      '  want=$1',
      '  check_chain "$dir"',
      '  [ ! -L "$file" ] || fail "$file is a symbolic link; refusing to follow it"',
      '  if [ -e "$file" ]; then',
      '    [ -f "$file" ] || fail "$file is not a regular file"',
      '    own=$(stat -c "%u %a" -- "$file") || fail "cannot stat $file"',
      '    set -- $own',
      '    [ "$1" = 0 ] || fail "$file is owned by uid $1, not root"',
      '    [ $(( 0$2 & 022 )) = 0 ] || fail "$file is writable by group or others (mode $2)"',
      '  fi',
      '  [ "$want" = write ] && [ ! -d "$dir" ] || return 0',
      ...(this.path.perAccountFolder
        ? ['  parent=${dir%/*}; [ -n "$parent" ] || parent=/', '  [ -d "$parent" ] || fail "cannot create $dir for $account: $parent does not exist"']
        : ['  fail "the folder $dir does not exist; create it (root:root, mode 0755) first"']),
      '}',
      // n = lines of this grant in the file now.
      'count_lines() {',
      '  n=0',
      '  if [ -f "$file" ]; then n=$(grep -c -e "$grant_tag" "$file"); [ $? -le 1 ] || fail "cannot read $file"; fi',
      '}',
      // Every other line, then the grant's line when $1 is 1; same folder, so mv is atomic. Root's, 0644.
      'rewrite() {',
      '  if [ ! -d "$dir" ]; then mkdir -m 755 "$dir" || fail "cannot create $dir for $account"; fi',
      '  tmp=$(mktemp "$dir/.opsgate.XXXXXX") || fail "cannot create a temporary file in $dir"',
      '  if [ -f "$file" ]; then grep -v -e "$grant_tag" "$file" >"$tmp"; [ $? -le 1 ] || fail "cannot copy $file"; fi',
      '  if [ "$1" = 1 ]; then printf \'%s\\n\' "$line" >>"$tmp" || fail "cannot write $tmp"; fi',
      '  { chmod 644 "$tmp" && mv -f "$tmp" "$file"; } || fail "cannot replace $file"',
      '  tmp=',
      '}',
      // removeMany: every line of a grant in $ids out of $file at once; records per grant, keys into $revoked.
      'strip_many() {',
      '  if [ ! -f "$file" ]; then',
      '    for id in $ids; do record stripped "$account" "$id" 0; done',
      '    return 0',
      '  fi',
      '  tmp=$(mktemp "$dir/.opsgate.XXXXXX") || fail "cannot create a temporary file in $dir"',
      '  out=$(OPSGATE_IDS=$ids OPSGATE_OUT=$tmp OPSGATE_ACCOUNT=$account awk "$strip_program" "$file") || fail "cannot copy $file"',
      '  gone=$(printf \'%s\\n\' "$out" | sed -n \'s/^G //p\')',
      `  printf '%s\\n' "$out" | grep -e '^${RECORD_TAG}'`,
      '  revoked="$revoked$(printf \'%s\\n\' "$out" | sed -n \'s/^R //p\')',
      '"',
      '  case $gone in ""|*[!0-9]*) fail "unexpected count from awk for $file: $gone" ;; esac',
      '  if [ "$gone" = 0 ]; then rm -f "$tmp"; tmp=; return 0; fi',
      '  { chmod 644 "$tmp" && mv -f "$tmp" "$file"; } || fail "cannot replace $file"',
      '  tmp=',
      '}',
      // Revocation only (remove, removeMany): the keys that went, the keys still valid, then the sessions.
      'revoked= valid= sess_accounts=',
      // A line's key blob: the word after its key type ("R"-style lines "<account> <blob> <id>").
      `blob_awk=${shellQuote('{ for (f = 1; f < NF; f++) if ($f ~ /^(ssh-|ecdsa-|sk-)/) { print ENVIRON["OPSGATE_ACCOUNT"], $(f + 1), ENVIRON["OPSGATE_ID"]; break } }')}`,
      // Keys of lines left in the account's file that sshd still accepts (no expiry-time, or one ahead).
      `valid_awk=${shellQuote('index($0, "expiry-time=\\"") == 1 && substr($0, 14, 12) <= ENVIRON["OPSGATE_NOW"] { next } { for (f = 1; f < NF; f++) if ($f ~ /^(ssh-|ecdsa-|sk-)/) { print ENVIRON["OPSGATE_ACCOUNT"], $(f + 1); break } }')}`,
      'collect_valid() {',
      '  [ -f "$file" ] || return 0',
      '  valid="$valid$(OPSGATE_ACCOUNT=$account OPSGATE_NOW=$(date -u +%Y%m%d%H%M) awk "$valid_awk" "$file")',
      '"',
      '}',
      // Root only: the keys root's own files still accept (/root/.ssh/authorized_keys*, root-owned
      // by nature) and the key this script's own connection logged in with (the bot's, from its
      // root-owned sshauth file), so other bot connections and root's own logins count as valid.
      'collect_root_valid() {',
      '  case " $sess_accounts " in *" root:0 "*) ;; *) return 0 ;; esac',
      '  rh=$(getent passwd root | awk -F: \'{ print $6; exit }\')',
      '  for f in "$rh/.ssh/authorized_keys" "$rh/.ssh/authorized_keys2" "$SSH_USER_AUTH"; do',
      '    [ -n "$f" ] && [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %u -- "$f" 2>/dev/null)" = 0 ] || continue',
      '    if [ "$f" = "$SSH_USER_AUTH" ]; then',
      '      valid="$valid$(awk \'$1 == "publickey" { print "root", $3 }\' "$f")',
      '"',
      '    else',
      '      valid="$valid$(OPSGATE_ACCOUNT=root OPSGATE_NOW=$(date -u +%Y%m%d%H%M) awk "$valid_awk" "$f")',
      '"',
      '    fi',
      '  done',
      '}',
      END_SESSIONS_SH,
      // targets: "<account> <blob> <grant ids>" revoked there and not still valid there.
      `targets_awk=${shellQuote('BEGIN { n = split(ENVIRON["OPSGATE_VALID"], v, "\\n"); for (i = 1; i <= n; i++) ok[v[i]] = 1 } NF == 3 && !(($1 " " $2) in ok) { k = $1 " " $2; if (!(k in g)) { order[++m] = k; g[k] = $3 } else if (index("," g[k] ",", "," $3 ",") == 0) g[k] = g[k] "," $3 } END { for (i = 1; i <= m; i++) print order[i], g[order[i]] }')}`,
      'finish_sessions() {',
      '  [ -n "$sess_accounts" ] || return 0',
      '  removed_cs=$(uptime_cs)',
      '  targets=$(printf \'%s\\n%s\\n\' "$revoked" "$supplied" | OPSGATE_VALID=$valid awk "$targets_awk")',
      // The files are done: let other changes on this host go on while connections are ended.
      '  exec 9>&-',
      '  collect_root_valid',
      '  end_sessions',
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
  z.tuple([z.literal('session'), z.literal('ended'), accountField, countField, z.string().regex(/^(-|[A-Za-z0-9_-]{6,40}(,[A-Za-z0-9_-]{6,40})*)$/, 'grant ids'), z.string().min(1).max(200)]),
  z.tuple([z.literal('session'), z.enum(['kept', 'stray']), accountField, countField]),
]);

/** The session records of a revocation, counted. */
function sessionsOf(records: string[][]): SessionsReport {
  const report: SessionsReport = { ended: 0, endedUnattributed: 0, kept: 0, strays: 0, endedByGrant: {} };
  for (const r of records) {
    if (r[0] !== 'session') continue;
    if (r[1] === 'kept' || r[1] === 'stray') {
      report[r[1] === 'kept' ? 'kept' : 'strays']++;
      continue;
    }
    report.ended++;
    if (r[4] === '-') report.endedUnattributed++;
    else for (const id of r[4]!.split(',')) report.endedByGrant[id] = (report.endedByGrant[id] ?? 0) + 1;
  }
  return report;
}

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
