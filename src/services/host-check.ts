/**
 * Checks that every enabled host accepts the bot's key (a command over SSH with the pinned host
 * key) and records the result: hosts that fail become inactive with the reason, hosts that
 * answer again become active. The admin channel hears about every change.
 *
 * The same command asks the host's sshd what it does for the role accounts (`sshd -T -C
 * user=<account>,…`, with the host's `sshdConfig` when the catalog names one), and reports a
 * host where grants would not hold (issue 13): sshd does not read opsgate's root-owned key
 * file for an account; it also reads another file or a command for evans / readonly (an
 * account could add a key of its own there, which no expiry or revocation removes); or it
 * does not set `ExposeAuthInfo yes` (revocation cannot tell whose connection is whose, so it
 * ends them all).
 */
import { shellQuote } from '../adapters/exec/shell-quote.js';
import type { RunResult, SshTarget } from '../adapters/exec/types.js';
import type { Host } from '../models/inventory.js';
import type { InventoryService } from './inventory.js';

export interface HostCheckResult {
  checked: number;
  newlyInactive: string[];
  newlyActive: string[];
  failures: Record<string, string>;
  /** Hosts whose sshd would not honour grants as opsgate writes them, with what is wrong. */
  sshdProblems: Record<string, string>;
}

export interface HostCheckDeps {
  inventory: InventoryService;
  /** Runs a command on SSH targets (the execution engine). */
  run: (targets: SshTarget[], command: string) => Promise<RunResult>;
  toTarget: (host: Host) => SshTarget;
  /** Tells admins (a Slack channel) about hosts that became inactive or active again. */
  notifyAdmins: (result: HostCheckResult) => Promise<void>;
  /** Tells admins about hosts whose sshd does not read opsgate's key files as it must (daily, while it lasts). */
  notifySshdProblems?: (problems: Record<string, string>) => Promise<void>;
  /** opsgate's key file on a host, as the gateway writes it (`/etc/opsgate/authorized_keys/%u`). */
  keysFileFor: (host: Host) => string;
}

/** The accounts a grant can open; evans and readonly must read opsgate's file only. */
const CHECKED_ACCOUNTS = ['root', 'evans', 'readonly'] as const;
const ONLY_OURS = new Set(['evans', 'readonly']);
const TAG = 'OPSGATE-SSHD';

/** The check's command: `true` for reachability, then sshd's effective settings per account. */
function checkCommand(host: Host): string {
  const config = host.sshdConfig ? ` -f ${shellQuote(host.sshdConfig)}` : '';
  return [
    'PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH',
    `for a in ${CHECKED_ACCOUNTS.join(' ')}; do`,
    `  out=$(sshd -T${config} -C "user=$a,host=$(uname -n),addr=127.0.0.1" 2>&1) || { printf '${TAG}\\t%s\\terror\\t%s\\n' "$a" "$(printf '%s' "$out" | tail -n 1)"; continue; }`,
    `  printf '%s\\n' "$out" | awk -v a="$a" '$1 == "authorizedkeysfile" || $1 == "exposeauthinfo" || $1 == "authorizedkeyscommand" { printf "${TAG}\\t%s\\t%s\\n", a, $0 }'`,
    'done',
    'exit 0',
  ].join('\n');
}

/** What is wrong with the host's sshd for opsgate, from the command's output; null when nothing. */
export function sshdProblemsIn(stdout: string, keysFile: string): string | null {
  const settings = new Map<string, Map<string, string>>();
  for (const line of stdout.split('\n')) {
    const [tag, account, setting] = line.split('\t');
    if (tag !== TAG || !account || setting === undefined) continue;
    const [name, ...value] = setting.trim().split(/\s+/);
    const forAccount = settings.get(account) ?? new Map<string, string>();
    forAccount.set(name!, name === 'error' ? line.split('\t').slice(3).join(' ') : value.join(' '));
    settings.set(account, forAccount);
  }
  const problems: string[] = [];
  for (const account of CHECKED_ACCOUNTS) {
    const s = settings.get(account);
    if (!s) {
      problems.push(`${account}: sshd -T printed nothing`);
      continue;
    }
    if (s.has('error')) {
      problems.push(`${account}: sshd -T failed: ${s.get('error')!.slice(0, 200)}`);
      continue;
    }
    const files = (s.get('authorizedkeysfile') ?? '').split(' ').filter(Boolean);
    if (!files.includes(keysFile)) problems.push(`${account}: sshd does not read ${keysFile} (AuthorizedKeysFile is ${files.join(' ') || 'none'})`);
    else if (ONLY_OURS.has(account) && files.length > 1) problems.push(`${account}: sshd also reads ${files.filter((f) => f !== keysFile).join(' ')}, where the account can add keys of its own`);
    const command = s.get('authorizedkeyscommand');
    if (ONLY_OURS.has(account) && command && command !== 'none') problems.push(`${account}: sshd also asks AuthorizedKeysCommand ${command}`);
    if (s.get('exposeauthinfo') !== 'yes') problems.push(`${account}: ExposeAuthInfo is not yes, so revocation cannot tell whose connection is whose and ends them all`);
  }
  return problems.length > 0 ? problems.join('; ') : null;
}

export class HostCheckService {
  constructor(private readonly deps: HostCheckDeps) {}

  async run(): Promise<HostCheckResult> {
    const hosts = await this.deps.inventory.activeHosts();
    const result: HostCheckResult = { checked: hosts.length, newlyInactive: [], newlyActive: [], failures: {}, sshdProblems: {} };
    if (hosts.length === 0) return result;
    // One engine run per distinct command (hosts naming the same sshd_config share one).
    const byCommand = new Map<string, Host[]>();
    for (const h of hosts) byCommand.set(checkCommand(h), [...(byCommand.get(checkCommand(h)) ?? []), h]);
    const runs = await Promise.all([...byCommand].map(([command, group]) => this.deps.run(group.map(this.deps.toTarget), command)));
    const ok = Object.assign({}, ...runs.map((r) => r.host_ok)) as RunResult['host_ok'];
    const bad = Object.assign({}, ...runs.map((r) => ({ ...r.host_failed, ...r.host_unreachable }))) as RunResult['host_failed'];
    for (const h of hosts) {
      const answered = ok[h.name];
      const failed = bad[h.name];
      const reason = answered ? null : `unreachable at the daily check: ${failed?.error?.message ?? failed?.stderr.trim() ?? 'no answer'}`.slice(0, 300);
      if (reason) result.failures[h.name] = reason;
      else {
        const problem = sshdProblemsIn(answered!.stdout, this.deps.keysFileFor(h));
        if (problem) result.sshdProblems[h.name] = problem;
      }
      const changed = await this.deps.inventory.recordCheck(h.name, Boolean(answered), reason);
      if (changed) (answered ? result.newlyActive : result.newlyInactive).push(h.name);
    }
    if (result.newlyInactive.length > 0 || result.newlyActive.length > 0) await this.deps.notifyAdmins(result);
    if (Object.keys(result.sshdProblems).length > 0) await this.deps.notifySshdProblems?.(result.sshdProblems);
    return result;
  }
}
