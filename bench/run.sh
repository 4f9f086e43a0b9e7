#!/bin/bash
# run.sh -- `make bench`: novalet and Debian's nova-compute (Zed), one after the other as host
# "$(hostname)" on the loopback control plane, reported as ratios Debian / novalet. See README.md
# for the method. Needs root and a working control plane (started here when it is not running).
#
# Environment:
#   BENCH_IDLE_SECONDS  idle window for CPU and Placement requests (default 300)
#   BENCH_SETTLE_SECONDS time from 'up' to the RSS sample and the window's start (default 60)
#   BENCH_STARTS        timed starts per agent, the last one is kept for the idle phase (default 3)
#   BENCH_RPC           0 skips the RPC benchmark (default 1)
#   BENCH_SERVERS       0 skips the servers phase (default 1); BENCH_SERVER_RUNS, BENCH_POWER_RUNS,
#                       BENCH_IMAGE_RUNS, BENCH_NET_RUNS set its counts (servers.sh)
#   BENCH_MOVES         0 skips the moves phase (default 1): migrate, resize and confirm between vm
#                       and vm2 (node.sh) running the same agent; BENCH_MOVE_RUNS rounds (moves.sh)
#
# The output is saved to bench/results/<date>.txt; agent logs and raw data go to
# /var/tmp/novalet-bench/<timestamp>/. Leaves the control plane running and neither agent running.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
IDLE=${BENCH_IDLE_SECONDS:-300}
SETTLE=${BENCH_SETTLE_SECONDS:-60}
STARTS=${BENCH_STARTS:-3}
RPC=${BENCH_RPC:-1}
SERVERS=${BENCH_SERVERS:-1}
UP_DEADLINE=240   # start -> up; Debian's needs ~10 s, a cold one on busy cores more
DOWN_DEADLINE=150 # a stopped agent's row turns 'down' service_down_time (60 s) after its last beat
HOST=$(hostname)
CP_PIDS=${NOVALET_CP_DIR:-/var/tmp/novalet-controlplane}/pids
PLACEMENT_LOG=${NOVALET_CP_LOG:-/var/log/novalet-controlplane}/placement-api.log
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

log() { echo "[$(date +%T)] bench: $*"; }
die() { echo "[$(date +%T)] bench: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
[[ $IDLE =~ ^[0-9]+$ && $IDLE -gt 0 ]] || die "BENCH_IDLE_SECONDS must be a positive integer"
[[ $SETTLE =~ ^[0-9]+$ && $STARTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SETTLE_SECONDS / BENCH_STARTS must be integers"
[[ ${BENCH_IMAGE_RUNS:-3} =~ ^[0-9]+$ ]] || die "BENCH_IMAGE_RUNS must be an integer"
for c in jq curl go setpriv virsh; do command -v "$c" >/dev/null || die "$c missing"; done

STAMP=$(date +%F-%H%M%S)
WORK=/var/tmp/novalet-bench/$STAMP
mkdir -p "$WORK" "$BENCH_DIR/results"
RESULTS=$BENCH_DIR/results/$(date +%F).txt
[ -e "$RESULTS" ] && RESULTS=$BENCH_DIR/results/$STAMP.txt
exec > >(tee "$RESULTS") 2>&1
TEE_PID=$!

# shellcheck source=bench/measure.sh
. "$BENCH_DIR/measure.sh"
# shellcheck source=bench/agents.sh
. "$BENCH_DIR/agents.sh"
# shellcheck source=bench/report.sh
. "$BENCH_DIR/report.sh"
# shellcheck source=bench/servers.sh
. "$BENCH_DIR/servers.sh"
# shellcheck source=bench/moves.sh
. "$BENCH_DIR/moves.sh"

# ---- clean-up: neither agent survives us ------------------------------------------------------

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The servers, snapshots, flavor and vm2 of a phase are its own subshell's (phase_cleanup); the
  # run's own image is the rebuilds' copy of guest.
  for id in "${IMG_CREATED[@]}"; do img_api DELETE "/v2/images/$id" 2>/dev/null; done
  [ -n "$NOVALET_PID" ] && novalet_stop
  if [ -n "$STARTER_PID" ] && kill -0 "$STARTER_PID" 2>/dev/null; then
    kill -TERM "$STARTER_PID" 2>/dev/null
    wait "$STARTER_PID" 2>/dev/null
  fi
  if [ -f "$CP_PIDS/nova-compute" ]; then "$REPO/controlplane/stop.sh" nova-compute; fi
  log "results: $RESULTS; logs and raw data: $WORK"
  exec >&- 2>&-
  wait "$TEE_PID" 2>/dev/null
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the two phases -----------------------------------------------------------------------------

# phase FUNCTION AGENT: a servers or moves phase, in a subshell: a failure there (die) loses that
# phase's rows only, and the run goes on with the next one. The subshell's own clean-up deletes
# the servers, snapshots and flavor it made; its values come back through data.tsv.
FAILED_PHASES=()
phase() {
  local rc k a v
  (
    # Signal traps reset in a subshell: without the INT/TERM one a ^C would end it with no
    # EXIT trap, and its servers would outlive the run.
    trap phase_cleanup EXIT
    trap 'exit 130' INT TERM
    "$@"
  )
  rc=$?
  while IFS=$'\t' read -r a k v; do V[$a,$k]=$v; done <"$WORK/data.tsv"
  ((rc == 0)) && return 0
  FAILED_PHASES+=("$1 $2")
  log "WARNING: $1 $2 failed (exit $rc): its rows stay empty or partial, the run goes on"
}

phase_cleanup() {
  local id
  trap - EXIT INT TERM
  srv_cleanup
  # The snapshots a failed image round left; the rebuilds' copy of guest is the run's.
  for id in "${IMG_CREATED[@]}"; do [ "$id" = "$IMAGE2_ID" ] || img_api DELETE "/v2/images/$id" 2>/dev/null; done
  moves_cleanup
}

# wait_down: the row must read 'down' before a start is timed, or 'up' would be the previous
# agent's last heartbeat (still fresh for service_down_time).
wait_down() {
  local t0=$SECONDS s
  while s=$(service_state); [ "$s" = up ]; do
    ((SECONDS - t0 < DOWN_DEADLINE)) ||
      die "nova-compute on $HOST is still 'up' ${DOWN_DEADLINE}s after its agent stopped: is another agent running as host $HOST?"
    sleep 1
  done
  [ -n "$s" ] || log "WARNING: no nova-compute row for $HOST yet (first registration)"
  log "nova-compute on $HOST reads '${s:-absent}' (waited $((SECONDS - t0)) s)"
}

# timed_start AGENT RUN: start AGENT, poll the API every 0.5 s until 'up'; records start_s_RUN and
# the tree's CPU seconds up to that moment.
timed_start() {
  local agent=$1 run=$2 t_up s secs cpu
  wait_down
  "${agent}_start" "$run"
  log "$agent start $run: pid $AGENT_PID launched at $(date -d "@${AGENT_LAUNCH%.*}" +%T)"
  while :; do
    s=$(service_state)
    if [ "$s" = up ]; then t_up=$(now); break; fi
    "${agent}_alive" || die "$agent (pid $AGENT_PID) exited before 'up'; see $WORK"
    [ "$(sub "$(now)" "$AGENT_LAUNCH" | cut -d. -f1)" -lt "$UP_DEADLINE" ] || die "$agent not 'up' within ${UP_DEADLINE}s; see $WORK"
    sleep 0.5
  done
  cpu=$(cpu_seconds "" "$(cpu_snapshot "$AGENT_PID")")
  secs=$(sub "$t_up" "$AGENT_LAUNCH")
  put "$agent" "start_s_$run" "$(printf '%.2f' "$secs")"
  put "$agent" "start_cpu_s_$run" "$cpu"
  T_UP=$t_up
  log "$agent start $run: 'up' after ${secs}s, ${cpu} CPU s"
}

# cold_start AGENT: the first start on a fresh libvirtd, as after a node's boot: libvirt's
# cached QEMU capabilities are removed and libvirtd restarted (scripts/parts.sh), which probes
# every qemu-system-* emulator installed before it answers; the agent is started as soon as it
# answers. Records cold_libvirtd_s (restart -> libvirtd answers) and cold_start_s (agent
# launch -> 'up'); their sum is a node's way from libvirtd's start to a usable compute service.
cold_start() {
  local agent=$1 t0
  wait_down
  rm -f /var/cache/libvirt/qemu/capabilities/*.xml
  t0=$(now)
  # Descriptors 3-9 closed: run under `flock LOCKFILE bash bench/run.sh`, the lock's descriptor
  # would live on in the new libvirtd and hold the lock until libvirtd's next restart.
  "$REPO/scripts/parts.sh" restart-libvirtd >>"$WORK/libvirtd-restarts.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- ||
    die "scripts/parts.sh restart-libvirtd failed; see $WORK/libvirtd-restarts.log"
  put "$agent" cold_libvirtd_s "$(printf '%.2f' "$(sub "$(now)" "$t0")")"
  log "$agent cold start: libvirtd restarted with no cached capabilities ($(get "$agent" cold_libvirtd_s)s to answer)"
  timed_start "$agent" cold
  put "$agent" cold_start_s "$(get "$agent" start_s_cold)"
  "${agent}_stop"
}

# idle AGENT: with the agent left alone since 'up', RSS at SETTLE s, then CPU and Placement
# requests over IDLE s.
idle() {
  local agent=$1 pid=$AGENT_PID wait snap0 snap1 off0 off1 t0 t1 window n end
  wait=$(awk -v u="$T_UP" -v s="$SETTLE" -v n="$(now)" 'BEGIN {w = u + s - n; printf "%.2f", (w > 0 ? w : 0)}')
  log "$agent idle: sampling RSS in ${wait}s (${SETTLE}s after 'up'), then a ${IDLE}s window"
  sleep "$wait"
  "${agent}_alive" || die "$agent (pid $pid) exited while idle"
  put "$agent" rss_mib "$(awk -v k="$(tree_rss_kib "$pid")" 'BEGIN {printf "%.1f", k / 1024}')"
  put "$agent" pss_mib "$(awk -v k="$(tree_pss_kib "$pid")" 'BEGIN {printf "%.1f", k / 1024}')"
  put "$agent" procs "$(tree_procs "$pid")"
  log "$agent idle: tree $(tree "$pid" | sort -n | tr '\n' ' ')"
  snap0=$(cpu_snapshot "$pid") off0=$(log_size) t0=$(now)
  end=$((SECONDS + IDLE))
  while ((SECONDS < end)); do
    sleep $((end - SECONDS < 10 ? end - SECONDS : 10))
    "${agent}_alive" || die "$agent (pid $pid) exited during the idle window"
  done
  snap1=$(cpu_snapshot "$pid") off1=$(log_size) t1=$(now)
  window=$(sub "$t1" "$t0")
  put "$agent" window_s "$(printf '%.1f' "$window")"
  put "$agent" cpu_s "$(cpu_seconds "$snap0" "$snap1")"
  put "$agent" cpu_s_per_h "$(awk -v c="$(get "$agent" cpu_s)" -v w="$window" 'BEGIN {printf "%.1f", c * 3600 / w}')"
  put "$agent" rss_end_mib "$(awk -v k="$(tree_rss_kib "$pid")" 'BEGIN {printf "%.1f", k / 1024}')"
  placement_requests "$off0" "$off1" >"$WORK/placement-$agent.log"
  n=$(wc -l <"$WORK/placement-$agent.log")
  put "$agent" placement_n "$n"
  put "$agent" placement_per_h "$(awk -v n="$n" -v w="$window" 'BEGIN {printf "%.1f", n * 3600 / w}')"
  log "$agent idle: ${n} Placement requests in ${window}s, by kind:"
  request_kinds <"$WORK/placement-$agent.log" | sed 's/^/      /'
  log "$agent idle: state at the end of the window: '$(service_state)'"
}

# ---- preflight ----------------------------------------------------------------------------------

log "settings: BENCH_IDLE_SECONDS=$IDLE BENCH_SETTLE_SECONDS=$SETTLE BENCH_STARTS=$STARTS BENCH_RPC=$RPC" \
  "BENCH_SERVER_RUNS=$SERVER_RUNS BENCH_POWER_RUNS=$POWER_RUNS BENCH_IMAGE_RUNS=$IMAGE_RUNS BENCH_NET_RUNS=$NET_RUNS" \
  "BENCH_MOVES=$MOVES BENCH_MOVE_RUNS=$MOVE_RUNS host=$HOST"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)," \
  "Debian $(cat /etc/debian_version), nova-compute $(dpkg-query -W -f '${Version}' nova-compute 2>/dev/null)"
log "novalet: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown), $(go version | cut -d' ' -f3)"

log "control plane: controlplane/start.sh (idempotent)"
"$REPO/controlplane/start.sh" >"$WORK/controlplane-start.log" 2>&1 || {
  tail -20 "$WORK/controlplane-start.log"
  die "controlplane/start.sh failed; see $WORK/controlplane-start.log"
}
. "$REPO/controlplane/admin-openrc"
nova_login || die "no token from $OS_AUTH_URL or no compute endpoint in the catalog"
[ -r "$PLACEMENT_LOG" ] || die "$PLACEMENT_LOG missing"

if [ -f "$CP_PIDS/nova-compute" ]; then
  log "Debian's nova-compute is recorded as running: stopping it first"
  "$REPO/controlplane/stop.sh" nova-compute
fi
others=$(pgrep -x novalet | tr '\n' ' ')
[ -z "$others" ] || die "novalet already runs (pid $others), not started by us: stop it first (make demo-stop)"
out=$(setpriv --reuid=nova --regid=nova --init-groups -- timeout 30 virsh -c qemu:///system version 2>&1) ||
  die "user nova cannot use qemu:///system (${out##*error: }): run scripts/parts.sh restart-libvirtd"

# The image copy of the rebuild rounds and the ids every phase uses, once for the run.
[ "$SERVERS" = 0 ] && [ "$MOVES" = 0 ] || srv_setup

log "building novalet"
(cd "$REPO" && go build -o bin/novalet ./cmd/novalet) || die "go build ./cmd/novalet failed"

# ---- measurements: starts interleaved (Debian, novalet, Debian, ...) so that drift of the
# machine's load spreads over both; each agent's last start is kept for the idle phase ----------

# First each agent's cold start (a libvirtd restarted with no cached capabilities), then the
# warm ones (libvirtd running, its capabilities cached).
for agent in debian novalet; do cold_start "$agent"; done
for ((run = 1; run <= STARTS; run++)); do
  for agent in debian novalet; do
    timed_start "$agent" "$run"
    if [ "$agent" = debian ]; then debian_settled; fi
    [ "$run" -lt "$STARTS" ] || idle "$agent"
    [ "$run" -lt "$STARTS" ] || [ "$SERVERS" = 0 ] || phase servers_phase "$agent"
    [ "$run" -lt "$STARTS" ] || phase moves_phase "$agent"
    "${agent}_stop"
  done
done
for agent in debian novalet; do
  mapfile -t v < <(for ((r = 1; r <= STARTS; r++)); do get "$agent" "start_s_$r"; done)
  put "$agent" start_s "$(median "${v[@]}")"
  mapfile -t v < <(for ((r = 1; r <= STARTS; r++)); do get "$agent" "start_cpu_s_$r"; done)
  put "$agent" start_cpu_s "$(median "${v[@]}")"
done

RPC_OUT=$WORK/rpc-bench.txt
if [ "$RPC" = 1 ]; then
  log "RPC benchmark: go test -tags component -run '^\$' -bench . -benchtime 1x ./rpc/"
  (cd "$REPO" && timeout 1800 go test -tags component -run '^$' -bench . -benchtime 1x ./rpc/) 2>&1 | tee "$RPC_OUT"
  log "RPC benchmark exit status ${PIPESTATUS[0]}"
else
  : >"$RPC_OUT"
fi

# ---- report -------------------------------------------------------------------------------------

echo
echo "######## novalet vs Debian nova-compute $(dpkg-query -W -f '${Version}' nova-compute 2>/dev/null), $(date '+%F %T'), host $HOST"
echo "######## ratio = Debian / novalet: above 1 novalet is better for times, memory, CPU, requests"
print_start_table
print_idle_tables
[ "$SERVERS" = 1 ] && print_servers_table
[ "$MOVES" = 1 ] && print_moves_table
[ "$RPC" = 1 ] && print_rpc_table "$RPC_OUT"
print_summary
if [ "${#FAILED_PHASES[@]}" -gt 0 ]; then
  echo
  echo "== FAILED phases (their rows are empty or partial; see the log above): ${FAILED_PHASES[*]}"
  exit 1
fi
