/**
 * Finding a ticket task's processes again after the bot that started them died.
 *
 * A bot killed without a graceful stop leaves its tasks running: on `local` the task leads a
 * process group of its own (it outlives the bot), and over SSH sshd keeps a no-pty command
 * running when the connection drops. The next start marks the ticket interrupted; these
 * processes must go too. A process id alone is no proof: after a restart (or a reboot) the same
 * number may be someone else's. So each task runs with a tag in its environment,
 * `OPSGATE_RUN=<ticket id>-<phase>-<random>`, inherited by everything it starts, and the stop
 * looks for processes whose environment holds exactly that entry (Linux `/proc/<pid>/environ`,
 * readable for the processes of the account the bot logs in as): a reused pid never carries
 * another run's random tag. TERM first, KILL after the grace for what is left.
 */
import { shellQuote } from '../exec/shell-quote.js';

export const RUN_TAG_VAR = 'OPSGATE_RUN';
/** What the executor makes: `<ticket id>-<phase>-<16 hex>`; nothing else is ever exported or searched for. */
const TAG = /^TK-[A-Z0-9]{6}-(pre|main|post)-[0-9a-f]{16}$/;

/**
 * The script, run by a shell whose environment holds the tag from its start. An `export` alone
 * would not do: /proc/<pid>/environ shows what a process was started with, so the shell running
 * the script would not be found, and killing only its children would let it go on to the next
 * command. `exec` keeps the process (and its group) the same.
 */
export function taggedScript(tag: string, script: string): string {
  if (!TAG.test(tag)) throw new Error(`not a run tag: ${tag}`);
  return `${RUN_TAG_VAR}=${shellQuote(tag)}; export ${RUN_TAG_VAR}; exec /bin/sh -c ${shellQuote(script)}`;
}

/**
 * A shell script that stops every process carrying `tag` and prints `stopped <n>` (n found at
 * first). It carries the tag only as text: neither it nor its children hold it in their
 * environment, so it never finds itself.
 */
export function stopTaggedScript(tag: string, graceSeconds: number): string {
  if (!TAG.test(tag)) throw new Error(`not a run tag: ${tag}`);
  const entry = shellQuote(`${RUN_TAG_VAR}=${tag}`);
  const tenths = Math.max(1, Math.round(graceSeconds * 10));
  return [
    // Without /proc (not Linux) nothing can be found: say so rather than "stopped 0".
    '[ -r /proc/self/environ ] || { echo "no /proc"; exit 0; }',
    `found() { for e in /proc/[0-9]*/environ; do if { tr '\\000' '\\n' < "$e"; } 2>/dev/null | grep -qxF ${entry}; then p=\${e#/proc/}; echo "\${p%/environ}"; fi; done; }`,
    'pids=$(found); n=0; for p in $pids; do n=$(expr $n + 1); done',
    '[ -n "$pids" ] && kill -TERM $pids 2>/dev/null',
    `i=0; while [ -n "$pids" ] && [ $i -lt ${tenths} ] && [ -n "$(found)" ]; do sleep 0.1; i=$(expr $i + 1); done`,
    'left=$(found); [ -n "$left" ] && kill -KILL $left 2>/dev/null',
    'echo "stopped $n"',
  ].join('\n');
}

/** The count a stop script printed; null when it printed none (not Linux, no /proc). */
export function stoppedCount(stdout: string): number | null {
  const m = /^stopped (\d+)$/m.exec(stdout);
  return m ? Number(m[1]) : null;
}
