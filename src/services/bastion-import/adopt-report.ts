/**
 * `npm run import -- --adopt-report`: what the old bastion left behind. For every host in the
 * inventory and each role account, reads every file the host's sshd consults for that account
 * (`sshd -T -C user=…`: AuthorizedKeysFile, `%h` / `%u` expanded; opsgate's own file too) and
 * lists the key lines opsgate does not manage that hold a directory person's key: host,
 * account, file, person. It changes nothing on any host.
 *
 * Who reads what: a file in an account's home is read as that account (`runuser`), so a
 * person with a shell there who points `~/.ssh/authorized_keys` at a file only root may read
 * learns nothing; a symbolic link is reported and not followed. Only lines holding a
 * directory person's key are named; others are counted, never printed.
 */
import type { HostResult, RunResult, SshTarget } from '../../adapters/exec/types.js';
import { shellQuote } from '../../adapters/exec/shell-quote.js';
import type { Host } from '../../models/inventory.js';
import { ACCESS_ROLES } from '../../models/access.js';
import { keyFingerprint, keyInAuthorizedKeysLine } from '../ssh-public-key.js';

export interface AdoptDeps {
  hosts: Host[];
  /** Every directory person (those who left too: their keys matter most), with all their keys. */
  people: Array<{ personId: string; active: boolean; keys: string[] }>;
  run: (targets: SshTarget[], command: string) => Promise<RunResult>;
  toTarget: (h: Host) => SshTarget;
  /** opsgate's key file on a host (`/etc/opsgate/authorized_keys/%u`). */
  keysFileFor: (h: Host) => string;
}

export interface AdoptFinding {
  host: string;
  account: string;
  file: string;
  personId: string;
  personActive: boolean;
  fingerprint: string;
}

export interface AdoptReport {
  hostsScanned: number;
  findings: AdoptFinding[];
  /** Hosts that did not answer or whose scan failed, with why. */
  failed: Record<string, string>;
  /** Files sshd would consult that were not read, and why (a symbolic link, unreadable as the account). */
  notRead: Array<{ host: string; account: string; file: string; why: string }>;
  /** Key lines opsgate does not manage that hold no directory person's key. */
  otherLines: number;
}

const TAG = 'OPSGATE-ADOPT';
/** Read at most this much of one file. */
const MAX_FILE_BYTES = 1024 * 1024;
/** sshd's default when `sshd -T` cannot say. */
const SSHD_DEFAULT_FILES = ['.ssh/authorized_keys', '.ssh/authorized_keys2'];
const OPSGATE_TAG = / opsgate-grant:[A-Za-z0-9_-]+$/;

function fields(stdout: string): string[][] {
  return stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f[0] === TAG);
}

/** Step 1: each account's home and the files sshd names for it. */
function locateCommand(host: Host): string {
  const config = host.sshdConfig ? ` -f ${shellQuote(host.sshdConfig)}` : '';
  return [
    'PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH',
    `for a in ${ACCESS_ROLES.join(' ')}; do`,
    '  home=$(getent passwd "$a" | cut -d: -f6)',
    `  if [ -z "$home" ]; then printf '${TAG}\\t%s\\tmissing\\n' "$a"; continue; fi`,
    `  printf '${TAG}\\t%s\\thome\\t%s\\n' "$a" "$home"`,
    `  out=$(sshd -T${config} -C "user=$a,host=$(uname -n),addr=127.0.0.1" 2>/dev/null) && printf '%s\\n' "$out" | awk -v a="$a" '$1 == "authorizedkeysfile" { $1 = ""; printf "${TAG}\\t%s\\tfiles\\t%s\\n", a, $0 }'`,
    'done',
    'exit 0',
  ].join('\n');
}

/** `%%`, `%u` and `%h` as sshd expands them; a relative path is under the home. */
export function expandKeysFile(template: string, account: string, home: string): string | null {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = template[++i];
    if (t === '%') out += '%';
    else if (t === 'u') out += account;
    else if (t === 'h') out += home;
    else return null;
  }
  if (!out.startsWith('/')) out = `${home.replace(/\/+$/, '')}/${out}`;
  return /^\/[^\0\n\t]*$/.test(out) ? out : null;
}

/** Step 2: every file's lines, read as the account it belongs to. */
function readCommand(files: Array<{ account: string; file: string }>): string {
  return [
    'PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH',
    'read_file() {',
    `  if [ -L "$2" ]; then printf '${TAG}\\t%s\\t%s\\tnot-read\\ta symbolic link (not followed)\\n' "$1" "$2"; return; fi`,
    '  [ -e "$2" ] || return 0',
    `  if [ ! -f "$2" ]; then printf '${TAG}\\t%s\\t%s\\tnot-read\\tnot a regular file\\n' "$1" "$2"; return; fi`,
    `  if [ "$1" = root ]; then data=$(head -c ${MAX_FILE_BYTES} -- "$2" 2>/dev/null)`,
    `  else data=$(runuser -u "$1" -- head -c ${MAX_FILE_BYTES} -- "$2" 2>/dev/null); fi`,
    `  if [ $? -ne 0 ]; then printf '${TAG}\\t%s\\t%s\\tnot-read\\tnot readable as %s\\n' "$1" "$2" "$1"; return; fi`,
    `  printf '%s\\n' "$data" | while IFS= read -r l; do printf '${TAG}\\t%s\\t%s\\tline\\t%s\\n' "$1" "$2" "$l"; done`,
    '}',
    ...files.map((f) => `read_file ${shellQuote(f.account)} ${shellQuote(f.file)}`),
    'exit 0',
  ].join('\n');
}

function failure(r: HostResult | undefined): string {
  return (r?.error?.message ?? r?.stderr.trim() ?? 'no answer').slice(0, 300);
}

export async function adoptReport(deps: AdoptDeps): Promise<AdoptReport> {
  const report: AdoptReport = { hostsScanned: deps.hosts.length, findings: [], failed: {}, notRead: [], otherLines: 0 };
  const owners = new Map<string, { personId: string; active: boolean }>();
  for (const p of deps.people) {
    for (const line of p.keys) {
      const k = keyInAuthorizedKeysLine(line);
      if (k) owners.set(`${k.type} ${k.blob}`, { personId: p.personId, active: p.active });
    }
  }
  await Promise.all(
    deps.hosts.map(async (host) => {
      const target = deps.toTarget(host);
      const located = await deps.run([target], locateCommand(host));
      const found = located.host_ok[host.name];
      if (!found) return void (report.failed[host.name] = failure(located.host_failed[host.name] ?? located.host_unreachable[host.name]));
      const homes = new Map<string, string>();
      const named = new Map<string, string[]>();
      for (const f of fields(found.stdout)) {
        if (f[2] === 'home' && f[3]) homes.set(f[1]!, f[3]);
        if (f[2] === 'files') named.set(f[1]!, (f[3] ?? '').trim().split(/\s+/).filter((w) => w && w !== 'none'));
      }
      const files: Array<{ account: string; file: string }> = [];
      for (const [account, home] of homes) {
        const templates = new Set([...(named.get(account) ?? SSHD_DEFAULT_FILES), deps.keysFileFor(host)]);
        for (const t of templates) {
          const file = expandKeysFile(t, account, home);
          if (file && !files.some((x) => x.account === account && x.file === file)) files.push({ account, file });
        }
      }
      if (files.length === 0) return;
      const read = await deps.run([target], readCommand(files));
      const out = read.host_ok[host.name];
      if (!out) return void (report.failed[host.name] = failure(read.host_failed[host.name] ?? read.host_unreachable[host.name]));
      for (const f of fields(out.stdout)) {
        const [, account, file, kind, rest] = f;
        // Only what this scan asked for is believed: the host's answer is not trusted to name other files.
        if (!account || !file || !files.some((x) => x.account === account && x.file === file)) continue;
        if (kind === 'not-read') report.notRead.push({ host: host.name, account, file, why: (rest ?? '').slice(0, 200) });
        if (kind !== 'line' || rest === undefined) continue;
        const line = f.slice(4).join('\t');
        if (OPSGATE_TAG.test(line)) continue;
        const k = keyInAuthorizedKeysLine(line);
        if (!k) continue;
        const owner = owners.get(`${k.type} ${k.blob}`);
        if (owner) report.findings.push({ host: host.name, account, file, personId: owner.personId, personActive: owner.active, fingerprint: keyFingerprint(k) });
        else report.otherLines++;
      }
    }),
  );
  report.findings.sort((a, b) => a.host.localeCompare(b.host) || a.account.localeCompare(b.account) || a.personId.localeCompare(b.personId));
  return report;
}

export function adoptReportText(r: AdoptReport): string {
  const lines = [`adopt report: ${r.hostsScanned} hosts scanned, nothing changed on any`];
  if (r.findings.length === 0) lines.push("no key line outside opsgate's management belongs to a directory person");
  else {
    lines.push(`${r.findings.length} key lines not managed by opsgate belong to directory people:`);
    lines.push('  host\taccount\tfile\tperson\tkey');
    for (const f of r.findings) lines.push(`  ${f.host}\t${f.account}\t${f.file}\t${f.personId}${f.personActive ? '' : ' (left the directory)'}\t${f.fingerprint}`);
  }
  lines.push(`other key lines not managed by opsgate (no directory person's key): ${r.otherLines}`);
  for (const n of r.notRead) lines.push(`not read: ${n.host} ${n.account} ${n.file}: ${n.why}`);
  for (const [host, why] of Object.entries(r.failed)) lines.push(`not scanned: ${host}: ${why}`);
  return lines.join('\n') + '\n';
}
