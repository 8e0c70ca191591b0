/**
 * Ends the live SSH connections that logged in with a revoked key (issue 13 item 3): a
 * removed authorized_keys line stops new logins, but an open `ssh -M` master keeps handing
 * out sessions until its connection ends.
 *
 * This is POSIX sh run as root on the host, after the key files were rewritten, by the
 * host-keys gateway's remove / removeMany scripts. It needs sshd's `ExposeAuthInfo yes`:
 * every session then carries `SSH_USER_AUTH`, a file `/tmp/sshauth.XXXXXXXXXXXXXXX` that sshd
 * writes once per connection, at login, naming the key that authenticated it.
 *
 * Only the connections of the sshd listener this script came in through are looked at (a host
 * running a second sshd for the same accounts must not: see the README).
 *
 * Who may lie: on a shared account every holder is the same uid, owns every sshauth file and
 * every session process of that account, so a holder can rewrite or relink their file, or
 * point a session's environment elsewhere, to claim another holder's key. What we trust:
 * - connection processes found through root-owned sshd processes (`sshd: <acct> [priv]` for
 *   ordinary accounts, `sshd: root@…` itself for root), never names alone;
 * - a session's SSH_USER_AUTH read as root from /proc/<pid>/environ; all sessions of the
 *   connection must name the same file;
 * - the file only if it is a regular file, not a link, owned by the account, with one name,
 *   named /tmp/sshauth.<letters and digits>, and its ctime (which no user can set: writes,
 *   renames, links and chmod all move it) no later than SSHAUTH_WINDOW_S after the connection
 *   process started. Both times are taken to the centisecond and every rounding goes against
 *   the file (latest possible change, earliest possible start): whole seconds on both sides let
 *   the real window drift between about 4 and 7 s, and a forger who rewrote its file 6 s after
 *   its login was now and then trusted. sshd writes the file within milliseconds of that
 *   process's start (measured: 0.00-0.15 s at load 10); for root, which has no post-login
 *   process, that start is the TCP accept, so the login's own duration (0.2-0.9 s measured)
 *   counts against the window. It is read with O_NOFOLLOW|O_NONBLOCK
 *   and stat'ed again afterwards.
 * Kept only if a key its file names is still valid for the account: in `valid` (the keys sshd
 * still accepts from the account's rewritten opsgate file; for root also root's own
 * authorized_keys files and the bot's key), never a file the account can write. A file that
 * passed every check but names only other keys (a holder wrote a made-up key into its own file
 * at login, or pointed its session at a file of its own) is unattributed.
 * Fail closed: a connection of a touched account that cannot be attributed this way (no
 * session, no SSH_USER_AUTH, a tampered file, no valid key) is ended too, unless it opened after the lines
 * were removed (it cannot have used a removed key). One still younger than UNATTRIBUTED_GRACE_S
 * is waited for (re-scanned every second, at most that long) so a login still setting up its
 * session is attributed rather than killed. Never the connection running this script.
 *
 * Ending a connection: KILL to each of its sessions' process groups and to the connection
 * process, TERM to its root-owned monitor (sshd then closes the TCP connection, so a master
 * dies and its control socket stops working). Processes of the account that a session of an
 * attributed connection detached (setsid, nohup) but that still carry its SSH_USER_AUTH are
 * killed too ("strays"); one that cleared or rewrote its environment cannot be told from
 * another holder's and keeps running (README).
 *
 *
 * Inputs (shell variables set by the caller):
 *   sess_accounts  "<account>:<uid> ..." the accounts whose lines were removed
 *   targets        lines "<account> <key blob> <grant ids, comma-separated>": keys revoked
 *                  there and not still valid in that account's file
 *   valid          lines "<account> <key blob>": keys still valid for that account
 *   removed_cs     /proc/uptime in centiseconds right after the files were rewritten
 * Output: `session ended <account> <pid> <grant ids|-> <why>`, `session kept <account> <pid>`
 * and `session stray <account> <pid>` records (see host-keys.ts).
 */

/**
 * An sshauth file changed later than this after its connection started is not trusted (measured
 * to the centisecond, rounded against the file). Wider gives a forger more time; narrower risks
 * ending a holder whose sshd was stalled between its fork and its write of the file.
 */
export const SSHAUTH_WINDOW_S = 5;
/** Unattributed connections younger than this are waited for, not ended at once. */
export const UNATTRIBUTED_GRACE_S = 15;

export const END_SESSIONS_SH = `
uptime_cs() { read -r up _ </proc/uptime; up="\${up%.*}\${up#*.}"; while [ "\${up#0}" != "$up" ] && [ -n "\${up#0}" ]; do up=\${up#0}; done; echo "$up"; }
# The wall clock in centiseconds, truncated (GNU date's %N; without it, the whole second).
wall_cs() {
  w=$(date +%s.%N 2>/dev/null) || return 1
  ws=\${w%%.*} wf=\${w#*.}
  case $ws in ''|*[!0-9]*) return 1 ;; esac
  case $wf in [0-9][0-9]*) wf=\${wf%"\${wf#??}"} ;; *) wf=00 ;; esac
  echo "$ws$wf"
}
clk_tck=$(getconf CLK_TCK 2>/dev/null) || clk_tck=100
case $clk_tck in ''|*[!0-9]*) clk_tck=100 ;; esac
# procs: "pid ppid pgrp start_ticks" for every process; sshds: pids whose comm is sshd.
scan_procs() {
  procs= sshds=
  for st in /proc/[0-9]*/stat; do
    IFS= read -r l <"$st" 2>/dev/null || continue
    p=\${l%% *}
    # comm may hold spaces and parentheses: the fields after it start after the LAST ") ".
    set -- \${l##*) }
    procs="$procs$p $2 $3 \${20}
"
    case $l in "$p (sshd) "*|"$p (sshd-session) "*) sshds="$sshds $p" ;; esac
  done
}
cmdline_of() { c=$(tr '\\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || c=; c=\${c%"\${c##*[! ]}"}; printf '%s' "$c"; }
uid_of() { while read -r k v _; do [ "$k" = Uid: ] && { echo "$v"; return; }; done <"/proc/$1/status"; } 2>/dev/null
field_of() { printf '%s' "$procs" | awk -v p="$1" -v f="$2" '$1 == p { print $f; exit }'; }
kids_of() { printf '%s' "$procs" | awk -v p="$1" '$2 == p { print $1 }'; }
# The processes above this script, and the sshd listener it came in through (the topmost sshd
# above it): only that listener's connections are looked at.
ancestors= listener=
a=$$
while [ -n "$a" ] && [ "$a" != 0 ] && [ "$a" != 1 ]; do
  ancestors="$ancestors $a "
  IFS= read -r l </proc/$a/stat 2>/dev/null || break
  case $l in "$a (sshd) "*|"$a (sshd-session) "*) listener=$a ;; esac
  set -- \${l##*) }
  a=$2
done
# Sets conn_keys (blobs) or why for connection $1 of account uid $2 started at $3 (ticks).
attribute() {
  conn_keys= why= authf=
  kids=$(kids_of "$1")
  [ -n "$kids" ] || { why='no session to read its key from'; return; }
  for k in $kids; do
    v=$(tr '\\0' '\\n' <"/proc/$k/environ" 2>/dev/null | sed -n 's/^SSH_USER_AUTH=//p')
    [ -n "$v" ] || { why='a session without SSH_USER_AUTH'; return; }
    if [ -z "$authf" ]; then authf=$v; elif [ "$authf" != "$v" ]; then why='its sessions name different SSH_USER_AUTH files'; return; fi
  done
  case \${authf#/tmp/sshauth.} in "$authf"|''|*[!A-Za-z0-9]*) why='SSH_USER_AUTH is not a /tmp/sshauth file'; return ;; esac
  info=$(stat -c '%F|%u|%h|%i|%Z|%.9Z' -- "$authf" 2>/dev/null) || { why='its SSH_USER_AUTH file is gone'; return; }
  IFS='|' read -r ftype fuid flinks fino fctime fctime_p <<EOF
$info
EOF
  [ "$ftype" = 'regular file' ] || { why="its SSH_USER_AUTH file is a $ftype"; return; }
  [ "$fuid" = "$2" ] || { why='its SSH_USER_AUTH file belongs to someone else'; return; }
  [ "$flinks" = 1 ] || { why='its SSH_USER_AUTH file has other names'; return; }
  [ -n "$wall_off" ] || { why='the wall clock cannot be read'; return; }
  # Both ends rounded against the file, to the centisecond: the latest the change can have been
  # (a stat without %.9Z gives whole seconds: the end of that second; +2 cs for the truncation and
  # the coarse clock file times use) and the earliest the connection can have started.
  case $fctime_p in *[0-9].[0-9][0-9]*) cf=\${fctime_p#*.}; cf=\${cf%"\${cf#??}"}; c_late=$(( \${fctime_p%.*}$cf + 2 )) ;; *) c_late=$(( (fctime + 1) * 100 + 2 )) ;; esac
  s_early=$(( $3 * 100 / clk_tck + wall_off ))
  [ "$c_late" -le $(( s_early + ${SSHAUTH_WINDOW_S} * 100 )) ] || { why='its SSH_USER_AUTH file changed after the login'; return; }
  body=$(dd if="$authf" iflag=nofollow,nonblock bs=4096 count=1 2>/dev/null) || { why='its SSH_USER_AUTH file cannot be read'; return; }
  [ "$(stat -c '%i|%Z|%.9Z' -- "$authf" 2>/dev/null)" = "$fino|$fctime|$fctime_p" ] || { why='its SSH_USER_AUTH file changed while read'; return; }
  conn_keys=$(printf '%s\\n' "$body" | awk '$1 == "publickey" { print $3 }')
  [ -n "$conn_keys" ] || why='its SSH_USER_AUTH file names no public key'
}
end_conn() {
  own_pgrp=$(field_of $$ 3)
  for k in $kids; do
    pg=$(field_of "$k" 3)
    if [ -n "$pg" ] && [ "$pg" -gt 1 ] && [ "$pg" != "$own_pgrp" ]; then kill -KILL "-$pg" 2>/dev/null; fi
    kill -KILL "$k" 2>/dev/null
  done
  [ "$1" = "$2" ] || kill -KILL "$1" 2>/dev/null
  kill -TERM "$2" 2>/dev/null
}
# Processes of uid $1 (not this script's) whose environment names the sshauth file $2: what a
# session detached with setsid / nohup / disown from an ended connection left behind.
end_strays() {
  for st in /proc/[0-9]*/status; do
    q=\${st#/proc/}; q=\${q%/status}
    case $ancestors in *" $q "*) continue ;; esac
    u=
    { while read -r k v _; do [ "$k" = Uid: ] && { u=$v; break; }; done <"$st"; } 2>/dev/null
    [ "$u" = "$1" ] || continue
    v=$(tr '\\0' '\\n' <"/proc/$q/environ" 2>/dev/null | sed -n 's/^SSH_USER_AUTH=//p')
    if [ "$v" = "$2" ] && kill -KILL "$q" 2>/dev/null; then record session stray "$acct" "$q"; fi
  done
}
end_sessions() {
  ended_pids= round=0
  while :; do
    # Wall clock minus boot clock (process start times are on the boot clock), rounded down: the
    # wall clock is read before /proc/uptime, and both are truncated.
    now_wall_cs=$(wall_cs) || now_wall_cs=
    now_cs=$(uptime_cs)
    wall_off=; [ -z "$now_wall_cs" ] || wall_off=$(( now_wall_cs - now_cs - 1 ))
    scan_procs
    young=0 kept=
    for p in $sshds; do
      case $ended_pids in *" $p "*) continue ;; esac
      case $ancestors in *" $p "*) continue ;; esac
      cmd=$(cmdline_of "$p")
      # "sshd: <acct>" (logged in, no session yet), "sshd: <acct>@notty", "sshd: <acct>@pts/N";
      # never "sshd: <acct> [priv]", "[net]", "[accepted]" or the listener.
      case $cmd in 'sshd: '*|'sshd-session: '*) ;; *) continue ;; esac
      acct=\${cmd#*: }
      case $acct in *' '*) continue ;; esac
      acct=\${acct%%@*}
      case $acct in ''|*[!a-z0-9_-]*) continue ;; esac
      uid=
      for e in $sess_accounts; do [ "\${e%%:*}" = "$acct" ] && uid=\${e#*:}; done
      [ -n "$uid" ] || continue
      puid=$(uid_of "$p")
      [ "$puid" = "$uid" ] || continue
      if [ "$uid" = 0 ]; then
        monitor=$p
        [ "$(field_of "$p" 2)" = "$listener" ] || continue
      else
        monitor=$(field_of "$p" 2)
        [ "$(uid_of "$monitor")" = 0 ] && [ "$(field_of "$monitor" 2)" = "$listener" ] || continue
        case $(cmdline_of "$monitor") in "sshd: $acct [priv]"|"sshd-session: $acct [priv]") ;; *) continue ;; esac
      fi
      start=$(field_of "$p" 4)
      attribute "$p" "$uid" "$start"
      verdict=keep grants=- reason=
      if [ -z "$why" ]; then
        for b in $conn_keys; do
          g=$(printf '%s\\n' "$targets" | awk -v a="$acct" -v b="$b" '$1 == a && $2 == b { print $3; exit }')
          if [ -n "$g" ]; then verdict=end grants=$g reason='logged in with a revoked key'; break; fi
        done
        # Kept only for a key sshd would still let in now: the file is the account's own, so a
        # holder can make it name any key at all (a made-up one included).
        if [ "$verdict" = keep ] && ! printf '%s\\n' "$valid" | awk -v a="$acct" -v keys="$conn_keys" 'BEGIN { n = split(keys, k, "\\n"); for (i = 1; i <= n; i++) want[k[i]] = 1 } $1 == a && ($2 in want) { found = 1; exit } END { exit !found }'; then
          why='its SSH_USER_AUTH file names no key still valid for the account'
        fi
      fi
      if [ "$verdict" = end ] || [ -z "$why" ]; then
        :
      elif [ $(( start * 100 / clk_tck )) -gt $(( removed_cs + 200 )) ]; then
        verdict=keep
      elif [ $(( now_cs - start * 100 / clk_tck )) -lt $(( ${UNATTRIBUTED_GRACE_S} * 100 )) ] && [ "$now_cs" -lt $(( removed_cs + (${UNATTRIBUTED_GRACE_S} + 2) * 100 )) ]; then
        verdict=wait
      else
        verdict=end reason="unattributed: $why"
      fi
      case $verdict in
        end)
          end_conn "$p" "$monitor"; ended_pids="$ended_pids $p "; record session ended "$acct" "$p" "$grants" "$reason"
          # Only for a file that passed every check: a forged path could name someone else's.
          [ -n "$why" ] || end_strays "$uid" "$authf" ;;
        wait) young=1 ;;
        keep) kept="$kept$acct $p
" ;;
      esac
    done
    [ "$young" = 1 ] || break
    # A login whose session is starting is attributed within milliseconds: look again soon,
    # then every second (another bot connection to the same host is the usual case).
    round=$((round + 1))
    if [ "$round" -le 8 ]; then sleep 0.25 2>/dev/null || sleep 1; else sleep 1; fi
  done
  printf '%s' "$kept" | while read -r acct p; do [ -n "$p" ] && record session kept "$acct" "$p"; done
}
`;
