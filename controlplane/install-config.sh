#!/bin/bash
# install-config.sh -- step 2 of install.sh: every configuration file except nova's
# (install-config-nova.sh). Idempotent: a file is rewritten only when its content differs.
#
# Shape: the reference two-node install (/work/shared/reference) folded onto one machine, with
# 'controller' = 127.0.0.1; every listener on loopback; one worker per service where the packages
# default to one per core (2 cores, shared with the compute under test).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ---- names: 'controller' is this machine -----------------------------------------------------
grep -qE '^127\.0\.0\.1\s(.*\s)?controller(\s|$)' /etc/hosts || echo "127.0.0.1 controller" >>/etc/hosts
grep -qE "^127\.0\.0\.1\s(.*\s)?$COMPUTE_HOST(\s|$)" /etc/hosts || echo "127.0.0.1 $COMPUTE_HOST" >>/etc/hosts

# ---- MariaDB (loopback only; settings of the install guide) ------------------------------------
put /etc/mysql/mariadb.conf.d/99-openstack.cnf root:root 644 <<EOF
[mysqld]
bind-address = 127.0.0.1
default-storage-engine = innodb
innodb_file_per_table = on
max_connections = 4096
collation-server = utf8_general_ci
character-set-server = utf8
EOF

# ---- libvirtd: let user nova (group libvirt) use the read-write socket -------------------------
# Debian's default auth_unix_rw is polkit, and there is no D-Bus/polkit here: every non-root client
# fails with "Unable to get system bus connection". Root (novalet, scripts/parts.sh's tests) is not
# affected. libvirtd reads this file only at start: scripts/parts.sh must (re)start libvirtd after
# the first install (start.sh --with-nova-compute checks and says so).
LVD=/etc/libvirt/libvirtd.conf
LVD_BLOCK='# >>> novalet controlplane: no polkit on this host; group libvirt may use the rw socket
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
# <<< novalet controlplane'
# (compare the whole marked block: the commented defaults in Debian's file contain the same lines)
if [ "$(sed -n '/^# >>> novalet controlplane/,/^# <<< novalet controlplane/p' "$LVD")" != "$LVD_BLOCK" ]; then
  [ -f "$LVD.novalet-orig" ] || cp -a "$LVD" "$LVD.novalet-orig"
  sed -i '/^# >>> novalet controlplane/,/^# <<< novalet controlplane/d' "$LVD"
  printf '%s\n' "$LVD_BLOCK" >>"$LVD"
  CHANGED+=("$LVD")
fi

# ---- keystone -----------------------------------------------------------------------------------
# No log_file: keystone logs to stderr, which start.sh sends to $CP_LOG/keystone.log.
put /etc/keystone/keystone.conf root:keystone 640 <<EOF
[database]
connection = mysql+pymysql://keystone:$PW@controller/keystone

[token]
provider = fernet
EOF

# ---- glance -------------------------------------------------------------------------------------
put /etc/glance/glance-api.conf root:glance 640 <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
# 2 cores shared with the compute under test
workers = 1

[database]
connection = mysql+pymysql://glance:$PW@controller/glance

[keystone_authtoken]
www_authenticate_uri = http://controller:5000
$(ks_auth glance)
memcached_servers = controller:11211

[paste_deploy]
flavor = keystone

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = /var/lib/glance/images/

[oslo_concurrency]
lock_path = /var/lib/glance/tmp
EOF

# ---- placement ----------------------------------------------------------------------------------
put /etc/placement/placement.conf root:placement 640 <<EOF
[api]
auth_strategy = keystone

[keystone_authtoken]
auth_url = http://controller:5000/v3
memcached_servers = controller:11211
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = $SERVICE_PROJECT
username = placement
password = $PW

[placement_database]
connection = mysql+pymysql://placement:$PW@controller/placement
EOF

# ---- neutron: flat provider network on linuxbridge ----------------------------------------------
put /etc/neutron/neutron.conf root:neutron 640 <<EOF
[DEFAULT]
core_plugin = ml2
# no routers, metering or QoS: flat provider networks only
service_plugins =
transport_url = rabbit://rabbitmq:$PW@controller:5672
auth_strategy = keystone
bind_host = 127.0.0.1
bind_port = 9696
api_workers = 1
rpc_workers = 1
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true

[agent]
root_helper = sudo neutron-rootwrap /etc/neutron/rootwrap.conf

[database]
connection = mysql+pymysql://neutron:$PW@controller/neutron

[keystone_authtoken]
www_authenticate_uri = http://controller:5000
$(ks_auth neutron)
memcached_servers = controller:11211

# credentials for the network-vif-plugged/-unplugged events neutron sends to nova
[nova]
$(ks_auth nova)
region_name = $REGION

[oslo_concurrency]
lock_path = /var/lib/neutron/tmp

[oslo_policy]
policy_dirs = /etc/neutron/policy.d

# Neutron Zed refuses to load the linuxbridge driver without this ("Feature 'linuxbridge' is
# experimental").
[experimental]
linuxbridge = true
EOF

put /etc/neutron/plugins/ml2/ml2_conf.ini root:neutron 640 <<EOF
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers = linuxbridge
extension_drivers = port_security

[ml2_type_flat]
flat_networks = provider

[securitygroup]
enable_ipset = true
EOF

put /etc/neutron/plugins/ml2/linuxbridge_agent.ini root:neutron 640 <<EOF
[linux_bridge]
# one end of the veth pair start.sh creates (no dummy module in this kernel)
physical_interface_mappings = provider:$PROVIDER_IF

[vxlan]
enable_vxlan = false

[securitygroup]
enable_security_group = true
firewall_driver = neutron.agent.linux.iptables_firewall.IptablesFirewallDriver
EOF

put /etc/neutron/dhcp_agent.ini root:neutron 640 <<EOF
[DEFAULT]
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
# no router and no haproxy: guests do not get 169.254.169.254 through the DHCP namespace
enable_isolated_metadata = false
EOF

put /etc/neutron/metadata_agent.ini root:neutron 640 <<EOF
[DEFAULT]
nova_metadata_host = controller
nova_metadata_port = 8775
metadata_proxy_shared_secret = $PW
EOF

# ---- state directories the configs above point at -----------------------------------------------
install -d -o glance -g glance /var/lib/glance/tmp /var/lib/glance/images
install -d -o neutron -g neutron /var/lib/neutron/tmp
install -d -o keystone -g keystone /var/lib/keystone
install -d -o placement -g placement /var/lib/placement
report_changes
