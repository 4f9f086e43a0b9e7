#!/bin/bash
# start.sh [--with-nova-compute] [--allow-resize-to-same-host[=true|false]] -- start the loopback
# Zed control plane by hand (no systemd).
#
#   start.sh                      control plane only: host "$(hostname)" stays free for novalet
#   start.sh --with-nova-compute  also Debian's nova-compute (side-by-side measurements); on a
#                                 running control plane this only adds nova-compute.
#                                 stop.sh nova-compute removes it again.
#   --allow-resize-to-same-host[=true|false]  (or ALLOW_RESIZE_TO_SAME_HOST=true|false)
#                                 writes [DEFAULT] allow_resize_to_same_host into
#                                 nova-controller.conf (through install-config-nova.sh) and
#                                 restarts a running nova-api when the value changed. Without
#                                 either, the file's value stays (nova's default: false).
#
# Idempotent: a service already running (recorded PID alive) is left alone. Order:
#   scripts/parts.sh start (RabbitMQ, libvirtd; idempotent) -> MariaDB + memcached -> all APIs,
#   conductor, scheduler, novncproxy and neutron-server at once -> the neutron agents once
#   neutron-server consumes its RPC queues -> fixtures.sh (the demo's and the tests' image,
#   flavor, key pair and network) -> [nova-compute] once the control plane answers.
# Every service is awaited with a deadline; per-service seconds from launch to first good answer
# land in $CP_STATE/ready/NAME, a summary in $CP_STATE/start-timings.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$CP_DIR/services.sh"

WITH_COMPUTE=0
for a in "$@"; do
  case $a in
  --with-nova-compute) WITH_COMPUTE=1 ;;
  --allow-resize-to-same-host) export ALLOW_RESIZE_TO_SAME_HOST=true ;;
  --allow-resize-to-same-host=*) export ALLOW_RESIZE_TO_SAME_HOST=${a#*=} ;;
  *) echo "usage: $0 [--with-nova-compute] [--allow-resize-to-same-host[=true|false]]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v nova-api >/dev/null || die "not installed: run controlplane/install.sh"

mkdir -p "$CP_PIDS" "$CP_LOG"
exec 8>"$CP_STATE/.lock"
flock -w 600 8 || die "another start/install holds $CP_STATE/.lock"

APIS=(keystone glance-api placement-api nova-api nova-conductor nova-scheduler nova-novncproxy)
AGENTS=(neutron-linuxbridge-agent neutron-dhcp-agent neutron-metadata-agent)
CONTROL=("${APIS[@]}" neutron-server "${AGENTS[@]}")

# allow_resize_to_same_host asked for: write it (only this file's line can change: the rest is
# what install.sh wrote) and restart nova-api if it runs with the other value.
if [ -n "${ALLOW_RESIZE_TO_SAME_HOST:-}" ]; then
  want=$(allow_resize_to_same_host)
  if ! grep -qx "allow_resize_to_same_host = $want" "$NOVA_CONTROLLER_CONF"; then
    "$CP_DIR/install-config-nova.sh" 8>&- | sed 's/^/  /'
    if owned nova-api >/dev/null; then
      log "allow_resize_to_same_host is now $want: restarting nova-api"
      "$CP_DIR/stop.sh" nova-api 8>&-
    fi
  fi
  log "nova-controller.conf: allow_resize_to_same_host = $want"
fi

T0=$(now)
TIMINGS=()
mark() { TIMINGS+=("$(printf '%-34s %6ss' "$1" "$(since "$T0")")"); log "$1 (+$(since "$T0")s)"; }

# 8>&-: a broker or libvirtd that parts.sh launches must not inherit (and hold) our lock
"$PARTS" start 8>&-
ensure_rabbit_user
mark "parts.sh start + rabbitmq user"

bring_up mariadb memcached
mark "mariadb + memcached ready"

# All at once: none needs another to start (keystone is only asked on the first request)...
for n in "${APIS[@]}" neutron-server; do "launch_$n"; done
# ...except the neutron agents, which need neutron-server's RPC queues (see ready_neutron-server)
await neutron-server
# neutron 21.0.0's get_ports reads Port.port_forwardings, a backref SQLAlchemy adds only when
# the worker configures its mappers, i.e. at its first query. If the first request an API
# worker serves is GET /v2.0/ports, it fails before querying, and so does every later one:
# nova-api's `server show` then answers 500. One network listing configures them for good.
(. "$CP_DIR/admin-openrc" && timeout 60 openstack network list -f value -c ID >/dev/null) ||
  die "neutron-server answers but cannot list networks; see $CP_LOG/neutron-server.log"
mark "neutron-server ready (API + RPC)"
for n in "${AGENTS[@]}"; do "launch_$n"; done
await "${APIS[@]}" "${AGENTS[@]}"
mark "control plane ready"
# what the demo and the tests use: image guest, test_flavor, test-key, test_net (idempotent)
"$CP_DIR/fixtures.sh" 8>&-
mark "fixtures (guest, test_flavor, test-key, test_net)"

if [ $WITH_COMPUTE = 1 ]; then
  # nova-compute runs as user nova and needs libvirtd's rw socket without polkit (the
  # libvirtd.conf block install-config.sh writes); a libvirtd started before it cannot do that.
  if ! out=$(as nova timeout 30 virsh -c qemu:///system version 2>&1); then
    die "user nova cannot use qemu:///system: ${out##*error: }
  libvirtd reads /etc/libvirt/libvirtd.conf only at start; restart it through parts.sh:
  scripts/parts.sh restart-libvirtd   (the broker and the guests stay up)"
  fi
  bring_up nova-compute
  mark "nova-compute up (heartbeat)"
  # map the host into cell1 now rather than at the scheduler's next 60 s periodic run
  nova_manage cell_v2 discover_hosts --verbose | grep -v '^$' || true
  mark "nova-compute host mapped"
fi

# nothing launched = nothing measured: keep the timings of the run that did the work
[ ${#LAUNCHED[@]} -gt 0 ] || { log "everything was already running"; exit 0; }
{
  echo "# start.sh${*:+ $*} at $(date '+%F %T') (seconds since start.sh began)"
  printf '%s\n' "${TIMINGS[@]}"
  echo "# seconds from each service's launch to its first good answer (launched by this run)"
  for n in mariadb memcached "${CONTROL[@]}" nova-compute; do
    if [ -f "$CP_STATE/ready/$n" ] && [[ " ${LAUNCHED[*]} " == *" $n "* ]]; then
      printf '%-34s %6ss\n' "$n" "$(cat "$CP_STATE/ready/$n")"
    fi
  done
} | tee "$CP_STATE/start-timings.txt" | tee -a "$CP_STATE/start-timings.log"
log "control plane running; logs in $CP_LOG, PIDs in $CP_PIDS; stop with controlplane/stop.sh"
