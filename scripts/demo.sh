#!/bin/bash
# demo.sh start|stop -- `make demo`, the main job.
#
# start: installs the Debian packages, starts RabbitMQ and libvirtd by hand, installs and starts
# the project's single-node Zed control plane (controlplane/), builds novalet and runs it in the
# background as this host's nova-compute with the compute node's /etc/nova/nova.conf, maps the
# host (discover_hosts), shows the compute service up, the hypervisor and the Placement
# inventory, then runs the reference scenario: `openstack server create --flavor test_flavor
# --network test_net --key-name test-key --image guest cirros-VM1 --wait` and logs in over SSH
# from the host side of the flat network (vprov1 gets 10.254.0.250/24).
# Everything is left running (cirros-VM1 too); `make demo-stop` deletes the server and ends
# novalet, the control plane and the parts, each by its recorded PID.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
D=.cache/demo
PIDF=$D/novalet.pid
mkdir -p "$D"

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

case "${1:-start}" in
stop)
  if [ -f controlplane/admin-openrc ] && curl -s -o /dev/null --max-time 3 http://127.0.0.1:5000/; then
    . controlplane/admin-openrc
    openstack --os-compute-api-version 2.74 server delete --wait cirros-VM1 2>/dev/null || true
  fi
  ip addr del 10.254.0.250/24 dev vprov1 2>/dev/null || true
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

echo; echo "== the reference scenario: cirros-VM1 on test_net with test-key"
export OS_COMPUTE_API_VERSION=2.74
if ! openstack server show cirros-VM1 >/dev/null 2>&1; then
  openstack server create --flavor test_flavor --network test_net --key-name test-key --image guest cirros-VM1 --wait \
    -c id -c status -c addresses -c OS-EXT-SRV-ATTR:host
fi
addr=$(openstack server show cirros-VM1 -f json -c addresses | python3 -c 'import json,sys; print(json.load(sys.stdin)["addresses"]["test_net"][0])')
ip addr add 10.254.0.250/24 dev vprov1 2>/dev/null || true
key=/var/tmp/novalet-controlplane/test-key.pem
for i in $(seq 1 60); do
  if out=$(ssh -i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o BatchMode=yes \
    "cirros@$addr" 'echo "logged in to $(hostname) as $(id -un)"; uptime' 2>/dev/null); then break; fi
  sleep 2
done
echo "== ssh -i $key cirros@$addr"; echo "${out:-ssh did not answer within 120 s}"
echo "== openstack console url show cirros-VM1"; openstack console url show --novnc cirros-VM1 -f value -c url
cat <<MSG

demo: novalet is this host's nova-compute and runs cirros-VM1 ($addr, reachable over SSH above).
demo: try: openstack server stop|start|reboot|pause|unpause|suspend|resume cirros-VM1,
demo:      openstack console log show cirros-VM1, curl -s 127.0.0.1:9797/metrics
demo: everything is left running; stop it with: make demo-stop
MSG
