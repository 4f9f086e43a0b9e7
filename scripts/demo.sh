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
# novalet, the control plane and the parts, each by its recorded PID; `stop-agent` only the
# server and novalet (scripts/test.sh needs host "vm" for its own novalet).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
D=.cache/demo
PIDF=$D/novalet.pid
mkdir -p "$D"

. scripts/pids.sh
running() { pid_owned "$PIDF" >/dev/null; }

# stop_agent: the demo's server (through the API, while novalet runs to delete it) and novalet.
stop_agent() {
  if [ -f controlplane/admin-openrc ] && curl -s -o /dev/null --max-time 3 http://127.0.0.1:5000/; then
    . controlplane/admin-openrc
    openstack --os-compute-api-version 2.74 server delete --wait cirros-VM1 2>/dev/null || true
  fi
  ip addr del 10.254.0.250/24 dev vprov1 2>/dev/null || true
  if pid=$(pid_owned "$PIDF"); then
    kill -TERM "$pid"
    for _ in $(seq 1 90); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "demo: novalet ($pid) stopped"
  fi
  rm -f "$PIDF"
}

case "${1:-start}" in
stop)
  stop_agent
  bash controlplane/stop.sh || true
  bash scripts/parts.sh stop
  exit 0 ;;
stop-agent) # what scripts/test.sh uses: the host to itself, the control plane left running
  stop_agent
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop|stop-agent" >&2; exit 2 ;;
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
make -s build
if ! running; then
  # --use-json: the progress line below and ready() read the log as JSON lines.
  bin/novalet run --use-json --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf > "$D/novalet.log" 2>&1 &
  pid_record "$PIDF" $!
  echo "demo: novalet started (pid $!, log $D/novalet.log)"
fi
host=$(hostname)
# await WHAT SECONDS CMD...: run CMD every 2 s until it succeeds; every 10 s, say what novalet
# last logged (e.g. that it waits for a freshly started libvirtd's capabilities probe).
await() {
  local what=$1 secs=$2 t0=$SECONDS next=10 last
  shift 2
  until "$@" >/dev/null 2>&1; do
    running || { echo "demo: novalet exited; see $D/novalet.log" >&2; tail -20 "$D/novalet.log" >&2; exit 1; }
    if ((SECONDS - t0 >= secs)); then
      echo "demo: no $what after ${secs}s; see $D/novalet.log" >&2; tail -20 "$D/novalet.log" >&2; exit 1
    fi
    if ((SECONDS - t0 >= next)); then
      last=$(tail -1 "$D/novalet.log" | jq -r '"\(.msg)\(if .waited then " (" + .waited + ")" else "" end)"' 2>/dev/null || true)
      echo "demo: waiting for $what ($((SECONDS - t0))s; novalet: ${last:-nothing logged yet})"
      next=$((next + 10))
    fi
    sleep 2
  done
  echo "demo: $what ($((SECONDS - t0))s)"
}
ready() { grep -q '"msg":"novalet ready"' "$D/novalet.log"; }
service_up() { [ "$(openstack compute service list --service nova-compute --host "$host" -f value -c State)" = up ]; }
# discover_hosts maps a new compute node into cell1 (the scheduler would, at its next periodic
# run); list_hosts shows the mapping.
mapped() {
  bash controlplane/nova-manage.sh cell_v2 discover_hosts >/dev/null &&
    bash controlplane/nova-manage.sh cell_v2 list_hosts | grep -q " $host "
}
hypervisor_up() {
  openstack --os-compute-api-version 2.53 hypervisor list -f value -c 'Hypervisor Hostname' -c State | grep -qx "$host up"
}
# novalet reads the host from libvirt first (a fresh libvirtd probes its emulators), then
# registers the service, the compute node and the Placement provider, then says it is ready.
await "novalet registered (service, compute node, Placement provider)" 300 ready
await "compute service up on $host" 60 service_up
await "host $host mapped to cell1" 120 mapped
await "hypervisor $host up" 60 hypervisor_up
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
addr=$(openstack server show cirros-VM1 -f json -c addresses | jq -r '.addresses.test_net[0]')
ip addr add 10.254.0.250/24 dev vprov1 2>/dev/null || true
key=/var/tmp/novalet-controlplane/test-key.pem
for i in $(seq 1 60); do
  if out=$(ssh -i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o BatchMode=yes \
    "cirros@$addr" 'echo "logged in to $(hostname) as $(id -un)"; uptime' 2>/dev/null); then break; fi
  sleep 2
done
echo "== ssh -i $key cirros@$addr"
if [ -z "${out:-}" ]; then
  echo "demo: cirros-VM1 ($addr) did not answer ssh within 120 s; its console:" >&2
  openstack console log show --lines 30 cirros-VM1 >&2 || true
  exit 1
fi
echo "$out"
echo "== openstack console url show cirros-VM1"; openstack console url show --novnc cirros-VM1 -f value -c url
cat <<MSG

demo: done in $((SECONDS / 60)) min $((SECONDS % 60)) s
demo: novalet is this host's nova-compute and runs cirros-VM1 ($addr, reachable over SSH above).
demo: try: openstack server stop|start|reboot|pause|unpause|suspend|resume cirros-VM1,
demo:      openstack console log show cirros-VM1, curl -s 127.0.0.1:9797/metrics
demo: everything is left running; stop it with: make demo-stop
MSG
