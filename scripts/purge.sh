#!/bin/bash
# purge.sh -- `make purge`: back to a machine on which the packages are installed and nothing
# has run yet, so that the next `make demo` or `make test` takes the cold path a new user takes.
# .ci/run starts with it; developers use it to check that nothing depends on what an earlier
# run left behind.
#
# It stops, each by its recorded PID only: the demo's novalet, further compute nodes
# (controlplane/node.sh stop: their agents, libvirtd/virtlogd, sshd, namespaces), the control plane
# (controlplane/stop.sh: every service it recorded, Debian's nova-compute included) and the
# parts (scripts/parts.sh stop: RabbitMQ, libvirtd, virtlogd). Then it removes:
#   - libvirt domains named instance-* (nova's names: the demo's and the tests' guests), each
#     destroyed and undefined with its managed save, while libvirtd still answers
#   - the control plane's databases and their users (MariaDB is brought up for it if needed)
#   - RabbitMQ's node directory (queues, exchanges, users: parts.sh's state dir)
#   - state_path/compute_id, instances_path (the instances and _base) of /var/lib/nova
#   - Glance's image files, neutron's DHCP/metadata state, the DHCP agent's qdhcp-* namespaces
#   - bridges brq*, tap devices tap* (tuntap only) and the physnet veth vprov0/vprov1
#   - the control plane's state dir (PIDs, test-key.pem, timings) and logs, the demo's state,
#     the test guest (.cache/guest), the bench's raw data
#   - further compute nodes' state ($NODE_STATE: their state_path with instances, libvirt files,
#     nova.conf, sshd host keys) and the nova user's ssh keys (/var/lib/nova/.ssh)
#   - libvirt's cached QEMU capabilities, so libvirtd probes its emulators again as on a new
#     machine
# Packages and configuration files stay (install.sh rewrites what it owns).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "purge: must run as root" >&2; exit 1; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

CP_STATE=${NOVALET_CP_DIR:-/var/tmp/novalet-controlplane}
CP_LOG=${NOVALET_CP_LOG:-/var/log/novalet-controlplane}
PARTS_STATE=${NOVALET_PARTS_DIR:-/var/tmp/novalet-parts}
NODE_STATE=${NOVALET_NODE_DIR:-/var/tmp/novalet-node}
T0=$(date +%s)
log() { echo "[$(date +%T)] purge: $*"; }

# ---- the demo's novalet -------------------------------------------------------------------------
. scripts/pids.sh
if pid=$(pid_owned "$REPO/.cache/demo/novalet.pid"); then
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -KILL "$pid" 2>/dev/null || true
  log "stopped the demo's novalet ($pid)"
fi

# ---- further compute nodes (controlplane/node.sh): each destroys its own guests as it stops ------
for d in "$NODE_STATE"/vm*; do
  [ -d "$d/pids" ] || continue
  bash controlplane/node.sh stop "${d##*/}"
done

# ---- guests -------------------------------------------------------------------------------------
if [ -S /run/libvirt/libvirt-sock ] && timeout 20 virsh -c qemu:///system version >/dev/null 2>&1; then
  for d in $(timeout 30 virsh -c qemu:///system list --all --name | grep '^instance-' || true); do
    timeout 60 virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
    timeout 60 virsh -c qemu:///system undefine --managed-save --nvram "$d" >/dev/null 2>&1 ||
      timeout 60 virsh -c qemu:///system undefine --managed-save "$d" >/dev/null
    log "removed domain $d"
  done
fi

# ---- stop the control plane, then drop its databases --------------------------------------------
# Every service first: a DROP DATABASE waits for the metadata locks of open transactions, so it
# would hang behind a running nova-conductor or neutron-server.
[ ! -d "$CP_STATE/pids" ] || bash controlplane/stop.sh
if command -v mariadbd >/dev/null && [ -d /var/lib/mysql/mysql ]; then
  (
    . controlplane/lib.sh
    . controlplane/services.sh
    bring_up mariadb >/dev/null
    for d in keystone glance placement nova_api nova nova_cell0 neutron; do
      db "DROP DATABASE IF EXISTS $d;"
    done
    for u in keystone glance placement nova neutron; do
      db "DROP USER IF EXISTS '$u'@'localhost'; DROP USER IF EXISTS '$u'@'%';"
    done
  )
  bash controlplane/stop.sh mariadb
  log "dropped the control plane's databases and users"
fi
bash scripts/parts.sh stop

# ---- files --------------------------------------------------------------------------------------
rm -rf "$PARTS_STATE" "$CP_STATE" "$CP_LOG" /var/tmp/novalet-bench "$NODE_STATE" /var/lib/nova/.ssh \
  "$REPO/.cache/guest" "$REPO/.cache/demo"
rm -f /var/lib/nova/compute_id
rm -rf /var/lib/nova/instances /var/lib/nova/tmp
rm -rf /var/lib/glance/images/* /var/lib/neutron/dhcp /var/lib/neutron/external /var/lib/neutron/ha_confs
rm -f /var/cache/libvirt/qemu/capabilities/*.xml
log "removed the state files"

# ---- network ------------------------------------------------------------------------------------
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^qdhcp-/ {print $1}'); do ip netns del "$ns"; done
for dev in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^brq' || true); do
  ip link del "$dev"
done
for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^tap' || true); do
  # only tuntap devices: a tap-named veth (neutron's DHCP port) went with its namespace
  [ -e "/sys/class/net/$dev/tun_flags" ] && ip link del "$dev"
done
ip link del vprov0 2>/dev/null || true
log "removed brq bridges, taps, qdhcp namespaces and the physnet veth"

log "done in $(($(date +%s) - T0))s"
