#!/bin/bash
# install-packages.sh -- step 1 of install.sh: Debian 12's OpenStack Zed packages, nothing started,
# nothing configured by the packages themselves. Idempotent: a warm machine does no apt work.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# What each group is for:
#   infrastructure  MariaDB, memcached (keystonemiddleware's token cache); RabbitMQ and libvirtd
#                   come from scripts/parts.sh (scripts/install-deps.sh installs them)
#   services        keystone + placement under uwsgi (Debian ships them as WSGI apps), glance,
#                   nova's controller daemons, noVNC proxy (Debian package nova-consoleproxy, not
#                   nova-novncproxy), neutron server + linuxbridge/DHCP/metadata agents
#   compute         Debian's nova-compute, only started on request (start.sh
#                   --with-nova-compute) to measure it side by side with novalet. Its hypervisor
#                   flavour is nova-compute-kvm, which needs qemu-system-x86 only: nova-compute-qemu
#                   pulls in every qemu-system-* emulator (metapackage qemu-system), and a fresh
#                   libvirtd probes each of them before its first capabilities answer (see
#                   controlplane/README.md, "Cold libvirtd"). install-config-nova.sh writes
#                   nova-compute.conf with virt_type = qemu either way.
#   agents' tools   what the neutron agents shell out to (through sudo + neutron-rootwrap)
#   clients         openstack CLI with the placement plugin; curl for readiness probes
PACKAGES=(
  mariadb-server python3-pymysql memcached python3-memcache python3-pymemcache
  keystone glance placement-api uwsgi uwsgi-plugin-python3
  nova-api nova-conductor nova-scheduler nova-consoleproxy
  neutron-server neutron-linuxbridge-agent neutron-dhcp-agent neutron-metadata-agent
  nova-compute nova-compute-kvm
  dnsmasq-base dnsmasq-utils iptables ebtables ipset conntrack iputils-arping bridge-utils iproute2 sudo
  python3-openstackclient python3-osc-placement curl procps
  openssh-server
)

# RabbitMQ, libvirtd and QEMU are scripts/parts.sh's: the project's own dependency script owns
# them (idempotent, no apt work when everything is present).
"$REPO_DIR/scripts/install-deps.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi

# Postinst scripts call invoke-rc.d, which asks policy-rc.d; "exit 101" = do not start anything.
# This image already has one; if not, we add ours for the duration of the install only.
OUR_POLICY=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary, from novalet controlplane/install-packages.sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  OUR_POLICY=1
fi
trap '[ $OUR_POLICY = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT

# Debconf: the packages must not touch databases, RabbitMQ or Keystone themselves (dbconfig-common
# would prompt or half-configure); the install-config*.sh and install-bootstrap.sh steps do it.
debconf-set-selections <<EOF
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-common nova/my-ip string $MY_IP
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
nova-consoleproxy nova-consoleproxy/daemon_type select novnc
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-common neutron/configure_nova boolean false
neutron-server neutron/configure_api-endpoint boolean false
EOF

APT=(apt-get -q -y -o DPkg::Lock::Timeout=900)
# Update the lists only when a package has no candidate (a warm image needs no network).
for p in "${missing[@]}"; do
  c=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/{print $2; exit}')
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then
    "${APT[@]}" update
    break
  fi
done
log "installing ${#missing[@]} packages: ${missing[*]}"
"${APT[@]}" install --no-install-recommends "${missing[@]}"

# libvirt's 'default' NAT network comes with libvirt-daemon-config-network (a Recommends we skip);
# if it is there anyway, never autostart it: virbr0 + its dnsmasq are nothing nova uses here.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml
log "packages installed"
