#!/bin/bash
# demo.sh -- `make demo`, the main job as far as novalet goes today.
#
# Today novalet reads nova.conf and checks every dependency of a compute node; the agent that
# registers with a Zed control plane and boots servers is not written yet, and no control plane
# is brought up here yet. So this: installs the Debian packages, starts RabbitMQ and libvirtd by
# hand (left running; `make parts-stop` stops them), writes a nova.conf shaped like the
# reference compute node's but pointing at this machine, and runs `novalet check` with it.
# It succeeds when the local rows (config, libvirt, instances_path, rabbitmq) are OK; the
# Keystone, Placement, Glance and Neutron rows FAIL until a control plane is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
D=.cache/demo
bash scripts/install-deps.sh
bash scripts/parts.sh start
mkdir -p "$D/instances"
cat > "$D/nova.conf" <<CONF
# The reference compute node's nova.conf with 'controller' and my_ip on this machine and
# RabbitMQ's test user (scripts/parts.sh).
[DEFAULT]
transport_url = rabbit://novalet:novalet-test@127.0.0.1:5672/
my_ip = 127.0.0.1
instances_path = $PWD/$D/instances

[placement]
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = project
username = placement
password = 000000
region_name = RegionOne

[glance]
api_servers = http://127.0.0.1:9292

[vnc]
enabled = true
server_listen = 0.0.0.0
server_proxyclient_address = \$my_ip

[libvirt]
virt_type = qemu
CONF
set +e
out=$(bin/novalet check --config-file "$D/nova.conf")
rc=$?
set -e
echo "$out"
local_failed=$(echo "$out" | awk 'NR > 1 && $0 ~ /^(config|libvirt|instances_path|rabbitmq) +FAIL/')
if [ -n "$local_failed" ]; then
  echo "demo: a local part failed (above)"; exit 1
fi
[ $rc = 0 ] || echo "demo: local parts OK; the OpenStack rows fail because no control plane runs here yet (novalet check exit $rc)"
echo "demo: RabbitMQ and libvirtd are still running; stop them with: make parts-stop"
