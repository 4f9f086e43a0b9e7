#!/bin/bash
# install-config-nova.sh -- step 3 of install.sh: nova's configuration, as two machines' files:
#   /etc/nova/nova.conf             the COMPUTE node's file: the reference compute nova.conf with
#                                   controller -> 127.0.0.1 adaptations, plus [neutron]. Debian's
#                                   nova-compute and novalet read this one; no [database] here, as
#                                   on a real compute node.
#   /etc/nova/nova-controller.conf  the CONTROLLER's nova.conf (reference nova-controller.conf
#                                   adapted); nova-api/conductor/scheduler/novncproxy and
#                                   nova-manage are started with --config-file pointing at it.
# Idempotent: a file is rewritten only when its content differs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ---- nova: the compute node's file --------------------------------------------------------------
# Section by section the reference compute nova.conf; changes are commented.
put /etc/nova/nova.conf root:nova 640 <<EOF
# Compute node nova.conf: /work/shared/reference/nova.conf adapted to one machine
# (written by novalet controlplane/install-config-nova.sh).
[DEFAULT]
enabled_apis = osapi_compute,metadata
transport_url = rabbit://rabbitmq:$PW@controller:5672
# reference: 192.168.10.20
my_ip = $MY_IP
# use_neutron and firewall_driver were removed from nova before Zed; nova ignores them. Kept
# because the reference has them (a drop-in must cope with such leftovers).
use_neutron = true
firewall_driver = nova.virt.firewall.NoopFirewallDriver
# Not in the reference: on Debian nova's default state_path is \$pybasedir
# (/usr/lib/python3/dist-packages), so instances would land there. Debian's packaged nova.conf
# sets this, and an operator editing that file keeps it.
state_path = /var/lib/nova
# Not in the reference: this flat network has no router and no isolated metadata, so guests
# cannot reach 169.254.169.254; their key pair and network_data.json come on a config drive
# (nova's option for exactly this). Debian's nova-compute and novalet read the same file.
force_config_drive = true

[api]
auth_strategy = keystone

[keystone_authtoken]
$(ks_auth nova)
memcached_servers = controller:11211

[placement]
$(ks_auth placement)
region_name = $REGION

# Not in the reference excerpt, needed by any Zed compute node: nova-compute creates and binds
# the ports. nova's option names (keystoneauth), the 'neutron' service user.
[neutron]
$(ks_auth neutron)
region_name = $REGION

# Debian's nova 26.2.2-1~deb12u5 carries the CVE-2023-2088 fix: every nova service must send a
# service token with user tokens, and "nova-status upgrade check" fails without this section.
[service_user]
send_service_user_token = true
$(ks_auth nova)

[glance]
api_servers = http://controller:9292

[oslo_concurrency]
lock_path = /var/lib/nova/tmp

[vnc]
enabled = true
server_listen = 0.0.0.0
server_proxyclient_address = \$my_ip
# reference: http://192.168.10.10:6080/vnc_auto.html (the controller)
novncproxy_base_url = http://127.0.0.1:6080/vnc_auto.html

# Debian's packaged nova.conf turns SPICE on (domains would get SPICE graphics as well as VNC);
# the reference has VNC only. false is nova's default; explicit so nobody re-adds Debian's line.
[spice]
enabled = false

[libvirt]
virt_type = qemu
EOF

# Debian's nova-compute runs with --config-file nova.conf --config-file nova-compute.conf (this
# file ships with nova-compute-qemu). compute_driver has no default in nova, so it must exist.
put /etc/nova/nova-compute.conf root:nova 640 <<EOF
[DEFAULT]
compute_driver = libvirt.LibvirtDriver
[libvirt]
virt_type = qemu
EOF

# ---- nova: the controller's file ----------------------------------------------------------------
put "$NOVA_CONTROLLER_CONF" root:nova 640 <<EOF
# Controller nova.conf: /work/shared/reference/nova-controller.conf adapted to one machine
# (written by novalet controlplane/install-config-nova.sh). Used by nova-api, nova-conductor,
# nova-scheduler, nova-novncproxy and nova-manage via --config-file.
[DEFAULT]
enabled_apis = osapi_compute,metadata
transport_url = rabbit://rabbitmq:$PW@controller:5672
# reference: 192.168.10.10
my_ip = $MY_IP
use_neutron = true
firewall_driver = nova.virt.firewall.NoopFirewallDriver
state_path = /var/lib/nova
# loopback only, and one worker each (2 cores shared with the compute under test)
osapi_compute_listen = 127.0.0.1
metadata_listen = 127.0.0.1
osapi_compute_workers = 1
metadata_workers = 1
# Not in the reference: resize onto the instance's own host, for the second-node tests
# (controlplane/node.sh). start.sh --allow-resize-to-same-host[=true|false] or
# ALLOW_RESIZE_TO_SAME_HOST=true|false chooses; nova-api reads it.
allow_resize_to_same_host = $(allow_resize_to_same_host)

[api_database]
connection = mysql+pymysql://nova:$PW@controller/nova_api

[database]
connection = mysql+pymysql://nova:$PW@controller/nova

[api]
auth_strategy = keystone

[keystone_authtoken]
www_authenticate_uri = http://controller:5000
$(ks_auth nova)
memcached_servers = controller:11211

[placement]
$(ks_auth placement)
region_name = $REGION

# Not in the reference excerpt: nova-api needs it to validate networks on server create, and
# the metadata API to trust neutron-metadata-agent's proxied requests.
[neutron]
$(ks_auth neutron)
region_name = $REGION
service_metadata_proxy = true
metadata_proxy_shared_secret = $PW

# Debian's nova 26.2.2-1~deb12u5 carries the CVE-2023-2088 fix: every nova service must send a
# service token with user tokens, and "nova-status upgrade check" fails without this section.
[service_user]
send_service_user_token = true
$(ks_auth nova)

[glance]
api_servers = http://controller:9292

[oslo_concurrency]
lock_path = /var/lib/nova/tmp

[vnc]
enabled = true
server_listen = \$my_ip
server_proxyclient_address = \$my_ip
novncproxy_host = 127.0.0.1

[conductor]
workers = 1

[scheduler]
workers = 1
# The reference says discover_hosts_in_cells_internal (a typo nova silently ignores, so hosts
# would only be mapped by a manual 'nova-manage cell_v2 discover_hosts'). We use the real name.
discover_hosts_in_cells_interval = 60
EOF

install -d -o nova -g nova /var/lib/nova/tmp /var/lib/nova/instances
report_changes
