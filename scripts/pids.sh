# pids.sh -- PID bookkeeping shared by scripts/parts.sh, controlplane/lib.sh, scripts/demo.sh and
# scripts/purge.sh (sourced, never run). A process is recorded as "pid starttime [extra...]" in a
# file of its own; the kernel start time makes a reused PID never ours, and a zombie counts as
# dead (PID 1 on these machines reaps orphans lazily, and waiting for it would stall a stop).

# starttime PID: field 22 of /proc/PID/stat (clock ticks since boot).
starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) } # drop "pid (comm) ": comm may contain spaces
  awk '{print $20}' <<<"$s"
}

# proc_state PID: R, S, Z, ...
proc_state() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; echo "${s%% *}"; }

# pid_record FILE PID [EXTRA...]: write "pid starttime extra..." to FILE.
pid_record() {
  local f=$1 pid=$2
  shift 2
  mkdir -p "$(dirname "$f")"
  echo "$pid $(starttime "$pid")${*:+ $*}" >"$f"
}

# pid_owned FILE: prints the PID recorded in FILE if that very process is alive (not a zombie).
pid_owned() {
  local pid st rest
  [ -f "$1" ] || return 1
  read -r pid st rest <"$1" || return 1
  [ -n "$pid" ] && [ -n "$st" ] && [ "$(starttime "$pid" 2>/dev/null)" = "$st" ] &&
    [ "$(proc_state "$pid")" != Z ] || return 1
  echo "$pid"
}

# close_inherited_fds: close every descriptor above 2 of the current (sub)shell. A daemon
# launched from a script must not keep what its caller had open: a test run under
# `flock LOCK go test ...` hands the lock's descriptor down to every process it starts, and a
# daemon holding it keeps the lock for its whole life.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}
