#!/bin/bash
# scale.sh -- `make bench-scale`: what the control plane carries per compute node. N novalet nodes
# (hosts fake-1..fake-N, compute_driver = fake.FakeDriver) are started against the running Zed
# control plane, grown through SCALE_NODES (default "1 10 50"), one server booted on each new node;
# then as many Debian nova-compute processes on nova's own fake driver (hosts nfake-1..nfake-K) in
# the same run. For each step, over a fixed window: the nodes' conductor calls per minute (from
# their own debug logs), their Placement requests per hour (their own counts) beside the whole
# Placement log's, their RabbitMQ connections, channels and queues (traced to each process),
# nova-conductor's and nova-scheduler's CPU, the agents' RSS. See README.md ("Scale").
#
# Environment:
#   SCALE_NODES      novalet node counts, ascending (default "1 10 50")
#   SCALE_WINDOW     seconds measured at each step (default 120), after SCALE_SETTLE (default 20)
#   SCALE_NOVA       Debian nova-compute count; default: what memory allows (SCALE_NOVA_MB each,
#                    default 350, keeping 4 GiB free), at most SCALE_NOVA_MAX (default 10: CPU,
#                    not memory, is what limits them on 2 cores); 0 skips them
#
# Output: bench/results/<date>-scale.txt; node logs and configs stay in
# /var/tmp/novalet-bench/scale-<timestamp>/. Everything started is stopped, and its servers,
# compute services, compute nodes, host mappings and resource providers are removed, even on error.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
NODES=${SCALE_NODES:-1 10 50}
WINDOW=${SCALE_WINDOW:-120}
SETTLE=${SCALE_SETTLE:-20}
API_VERSION=2.74
STAMP=$(date +%F-%H%M%S)
WORK=/var/tmp/novalet-bench/scale-$STAMP

log() { echo "[$(date +%T)] scale: $*"; }
die() { echo "[$(date +%T)] scale: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
[[ $WINDOW =~ ^[1-9][0-9]*$ && $SETTLE =~ ^[0-9]+$ ]] || die "SCALE_WINDOW / SCALE_SETTLE must be integers"
prev=0
for n in $NODES; do [[ $n =~ ^[1-9][0-9]*$ ]] && ((n > prev)) || die "SCALE_NODES must ascend: $NODES"; prev=$n; done

# shellcheck source=controlplane/lib.sh
. "$REPO/controlplane/lib.sh"
# shellcheck source=controlplane/admin-openrc
. "$REPO/controlplane/admin-openrc"
# lib.sh has its own log and die; these say which script speaks.
log() { echo "[$(date +%T)] scale: $*"; }
die() { echo "[$(date +%T)] scale: ERROR: $*" >&2; exit 1; }
PLACEMENT_LOG=$CP_LOG/placement-api.log
export PATH=/usr/local/go/bin:$PATH
for c in jq curl go setpriv ss; do command -v "$c" >/dev/null || die "$c missing"; done
# shellcheck source=bench/measure.sh
. "$BENCH_DIR/measure.sh"
# shellcheck source=bench/servers.sh
. "$BENCH_DIR/servers.sh"
# shellcheck source=bench/scale_nodes.sh
. "$BENCH_DIR/scale_nodes.sh"
# shellcheck source=bench/scale_measure.sh
. "$BENCH_DIR/scale_measure.sh"

mkdir -p "$WORK" "$BENCH_DIR/results"
RESULTS=$BENCH_DIR/results/$(date +%F)-scale.txt
[ -e "$RESULTS" ] && RESULTS=$BENCH_DIR/results/$STAMP-scale.txt
exec > >(tee "$RESULTS") 2>&1

cleanup() {
  trap - EXIT INT TERM
  log "cleaning up"
  nova_login >/dev/null 2>&1 || true
  remove_novalet
  remove_nova
  if [ -n "$SCALE_PROJECT_ID" ]; then
    OS_PROJECT_NAME=admin openstack project delete "$SCALE_PROJECT_ID" >/dev/null 2>&1 ||
      log "WARNING: could not delete project $SCALE_PROJECT"
  fi
  rm -rf "$WORK"/*/instances "$WORK"/*/lock
  log "left: $(hosts_left) fake hosts in the compute service list"
}
# hosts_left: how many of the host names this run uses have a compute service.
hosts_left() {
  local k last=${NODES##* }
  api GET "/os-services?binary=nova-compute"
  jq -r '.services[].host' <<<"$API_BODY" |
    grep -cxF -f <(for ((k = 1; k <= last; k++)); do echo "fake-$k"; done; for ((k = 1; k <= ${SCALE_NOVA_MAX:-10} || k <= ${SCALE_NOVA:-0}; k++)); do echo "nfake-$k"; done) || true
}
SCALE_PROJECT_ID=
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$REPO/controlplane/status.sh" >/dev/null 2>&1 || die "the control plane is not running (controlplane/status.sh)"
# The servers go into a project of the run's own, with admin's role in it (a server's host is an
# admin's to choose) and quotas for the largest step: in project admin, nova's default quota of
# 10 instances left fake-11..fake-50 without a server (2026-12-05).
SCALE_PROJECT=bench-scale-$STAMP
SCALE_PROJECT_ID=$(openstack project create --domain Default -f value -c id "$SCALE_PROJECT") || die "project create $SCALE_PROJECT failed"
openstack role add --project "$SCALE_PROJECT_ID" --user admin admin || die "role add admin on $SCALE_PROJECT failed"
quota=$((${NODES##* } + ${SCALE_NOVA_MAX:-10} + ${SCALE_NOVA:-0} + 10))
openstack quota set --instances "$quota" --cores "$quota" --ram $((quota * 256)) "$SCALE_PROJECT_ID" ||
  die "quota set on $SCALE_PROJECT failed"
export OS_PROJECT_NAME=$SCALE_PROJECT
log "servers go into project $SCALE_PROJECT (quota $quota instances)"
nova_login || die "no token"
[ "$(hosts_left)" = 0 ] || die "fake hosts are registered already (a previous run?): delete them first"
api GET /flavors
FLAVOR_ID=$(jq -r '.flavors[] | select(.name == "test_flavor") | .id' <<<"$API_BODY")
IMAGE_ID=$(openstack image show guest -f value -c id 2>/dev/null)
[ -n "$FLAVOR_ID" ] && [ -n "$IMAGE_ID" ] || die "flavor test_flavor or image guest missing"
log "building bin/novalet"
(cd "$REPO" && go build -o bin/novalet ./cmd/novalet) || die "go build failed"

ROWS=()
# row LABEL KIND NODES SERVERS: one line of the table from M[...] and the boot burst.
row() {
  local per_calls per_pl per_c per_h per_q per_rss
  per() { awk -v v="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.2f", v / n; else printf "-"}'; }
  per_calls=$(per "${M[calls_min]}" "$3") per_pl=$(per "${M[agent_placement_h]}" "$3")
  per_c=$(per "${M[conns]}" "$3") per_h=$(per "${M[chans]}" "$3") per_q=$(per "${M[queues]}" "$3")
  per_rss=$(per "${M[rss]}" "$3")
  ROWS+=("$(printf '%-14s %5s %5s %8s %9s %7s %9s %7s %8s %6s %6s %6s %5s %5s %5s %7s %7s %6s %6s %6s  %s' \
    "$1" "$3" "$4" "${BOOT_SECONDS:--}" "${M[calls_min]}" "$per_calls" "${M[agent_placement_h]}" "$per_pl" \
    "${M[placement_h]}" "${M[conns]}" "${M[chans]}" "${M[queues]}" "$per_c" "$per_h" "$per_q" \
    "${M[cond_cpu]}" "${M[sched_cpu]}" "${M[rss]}" "$per_rss" "${M[all_conns]}" "${M[load]}")")
  printf '%s\n' "${ROWS[-1]}" >>"$WORK/rows.txt"
}
table() {
  echo
  echo "Scale run $STAMP: window ${WINDOW} s per step, after ${SETTLE} s; one server per node (test_flavor, image guest, no NIC);"
  echo "fake nodes disabled but while their servers boot, reserved_host_memory_mb 799000, cpu_allocation_ratio 0.01"
  printf '%-14s %5s %5s %8s %9s %7s %9s %7s %8s %6s %6s %6s %5s %5s %5s %7s %7s %6s %6s %6s  %s\n' \
    step nodes srv boot_s calls/min /node plc/h /node plc_all/h conns chans queues c/nd ch/nd q/nd \
    cond%cpu sched% rssMiB /node brk_c loadavg
  printf '%s\n' "${ROWS[@]}"
  cat <<'EOF'

calls/min: messages the nodes sent to topic conductor (calls and casts), from their own debug logs.
plc/h: Placement requests the nodes made (novalet: its novalet_placement_requests_total; Debian:
  keystoneauth's request lines). plc_all/h: every request in placement's log (all clients).
conns/chans/queues: the nodes' RabbitMQ connections, channels, and queues they consume (traced from
  each connection's local port to its process). brk_c: all connections on the broker.
cond%cpu, sched%: nova-conductor's / nova-scheduler's process trees, % of one core over the window.
rssMiB: the agents' VmRSS (novalet: the process; Debian: the process and its session).
boot_s: POST of one server per new node to all ACTIVE (scheduler + conductor + the nodes).
EOF
}

BOOT_SECONDS=-
log "baseline: no fake node, ${WINDOW} s"
window none 0
row baseline none 0 0

have=0
for n in $NODES; do
  log "novalet: starting fake-$((have + 1))..fake-$n"
  novalet_nodes $((have + 1)) "$n"
  new=()
  for ((k = have + 1; k <= n; k++)); do new+=("fake-$k"); done
  wait_up $((120 + 3 * n)) "${new[@]}" || die "novalet nodes not up; see $WORK/fake-*/agent.log"
  set_status disabled "${new[@]}"
  bash "$REPO/controlplane/nova-manage.sh" cell_v2 discover_hosts >>"$WORK/discover.log" 2>&1 || log "WARNING: discover_hosts failed"
  nova_login >/dev/null || die "no token"
  set_status enabled "${new[@]}"
  boot_on "${new[@]}"
  set_status disabled "${new[@]}"
  log "novalet: $BOOT_SERVERS servers on fake-$((have + 1))..fake-$n in $BOOT_SECONDS s ($BOOT_ERRORS not ACTIVE)"
  have=$n
  sleep "$SETTLE"
  log "novalet: $n nodes, ${WINDOW} s window"
  window novalet "$n" "${NV_PIDS[@]}"
  row "novalet" novalet "$n" "${#SRV_IDS[@]}"
done
log "novalet: removing its servers, nodes and services"
remove_novalet

K=${SCALE_NOVA:-}
if [ -z "$K" ]; then
  avail=$(awk '$1 == "MemAvailable:" {print int($2 / 1024)}' /proc/meminfo)
  K=$(((avail - 4096) / ${SCALE_NOVA_MB:-350}))
  ((K > ${SCALE_NOVA_MAX:-10})) && K=${SCALE_NOVA_MAX:-10}
  ((K < 0)) && K=0
  log "Debian nova-compute: $K processes (MemAvailable $avail MiB)"
fi
if [ "$K" -gt 0 ]; then
  BOOT_SECONDS=-
  log "baseline again before Debian's nodes, ${WINDOW} s"
  window none 0
  row baseline none 0 0
  nova_nodes 1 "$K"
  wait_up $((300 + 30 * K)) "${NC_HOSTS[@]}" || die "nova-compute nodes not up; see $WORK/nfake-*/agent.log"
  set_status disabled "${NC_HOSTS[@]}"
  bash "$REPO/controlplane/nova-manage.sh" cell_v2 discover_hosts >>"$WORK/discover.log" 2>&1 || log "WARNING: discover_hosts failed"
  nova_login >/dev/null || die "no token"
  set_status enabled "${NC_HOSTS[@]}"
  boot_on "${NC_HOSTS[@]}"
  set_status disabled "${NC_HOSTS[@]}"
  log "nova-compute: $BOOT_SERVERS servers in $BOOT_SECONDS s ($BOOT_ERRORS not ACTIVE)"
  sleep "$SETTLE"
  log "nova-compute: $K nodes, ${WINDOW} s window"
  window nova "$K" "${NC_PIDS[@]}"
  row "nova-compute" nova "$K" "${#SRV_IDS[@]}"
fi
table
