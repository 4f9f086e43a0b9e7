#!/bin/bash
# demo.sh start|stop -- `make demo`, the main job as far as novalet goes today.
#
# start: installs the Debian packages, starts RabbitMQ and libvirtd by hand, installs and starts
# the project's single-node Zed control plane (controlplane/), builds novalet and runs it in the
# background as this host's nova-compute with the compute node's /etc/nova/nova.conf, maps the
# host (discover_hosts) and shows what an operator checks: the compute service up, the
# hypervisor, the Placement inventory. Booting a server is not implemented yet (README, Status).
# Everything is left running; `make demo-stop` ends novalet, the control plane and the parts,
# each by its recorded PID.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
D=.cache/demo
PIDF=$D/novalet.pid
mkdir -p "$D"

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

case "${1:-start}" in
stop)
  if running; then
    pid=$(cat "$PIDF"); kill -TERM "$pid"
    for _ in $(seq 1 90); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "demo: novalet ($pid) stopped"
  fi
  rm -f "$PIDF"
  bash controlplane/stop.sh || true
  bash scripts/parts.sh stop
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

bash scripts/install-deps.sh
bash scripts/parts.sh start
bash controlplane/install.sh
bash controlplane/start.sh
. controlplane/admin-openrc
if pgrep -f bin/nova-compute >/dev/null; then
  echo "demo: Debian's nova-compute runs on this host; stop it first (controlplane/stop.sh nova-compute)" >&2
  exit 1
fi
go build -o bin/novalet ./cmd/novalet
if ! running; then
  bin/novalet run --config-file /etc/nova/nova.conf > "$D/novalet.log" 2>&1 &
  echo $! > "$PIDF"
  echo "demo: novalet started (pid $(cat "$PIDF"), log $D/novalet.log)"
fi
host=$(hostname)
for i in $(seq 1 120); do
  state=$(openstack compute service list --service nova-compute --host "$host" -f value -c State 2>/dev/null || true)
  [ "$state" = up ] && break
  running || { echo "demo: novalet exited; see $D/novalet.log" >&2; tail -20 "$D/novalet.log" >&2; exit 1; }
  sleep 1
done
[ "$state" = up ] || { echo "demo: nova-compute on $host is not up after 120 s; see $D/novalet.log" >&2; exit 1; }
bash controlplane/nova-manage.sh cell_v2 discover_hosts --verbose
echo; echo "== openstack compute service list"; openstack compute service list
echo; echo "== openstack hypervisor list"; openstack --os-compute-api-version 2.53 hypervisor list
node=$(cat /var/lib/nova/compute_id)
echo; echo "== openstack resource provider inventory list $node"; openstack resource provider inventory list "$node"
echo; echo "== openstack resource provider trait list $node"; openstack resource provider trait list "$node" -f value | tr '\n' ' '; echo
cat <<MSG

demo: novalet is this host's nova-compute (service up, hypervisor and Placement inventory above).
demo: booting servers is not implemented yet; 'openstack server create' would not complete.
demo: everything is left running; stop it with: make demo-stop
MSG
