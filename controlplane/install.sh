#!/bin/bash
# install.sh -- install and configure the loopback OpenStack Zed control plane. Idempotent.
#   1. install-packages.sh   Debian packages, nothing started (policy-rc.d), no debconf questions
#   2. install-config.sh     config files of MariaDB, libvirtd, keystone, glance, placement, neutron
#   3. install-config-nova.sh  nova.conf (the compute node's) + nova-controller.conf
#   4. install-bootstrap.sh  rabbit user, databases, keystone catalog, schema syncs, nova cells
# Leaves the services as it found them (what it had to start, it stops). Then: start.sh.
# Times of each step go to $CP_STATE/install-timings.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$CP_STATE"
exec 8>"$CP_STATE/.lock"
flock -w 900 8 || die "another start/install holds $CP_STATE/.lock"

T0=$(now)
times=()
for s in install-packages install-config install-config-nova install-bootstrap; do
  t=$(now)
  # 8>&-: the steps start daemons; none may keep our lock
  "$CP_DIR/$s.sh" 8>&-
  times+=("$(printf '%-22s %7ss' "$s" "$(since "$t")")")
done
{
  echo "# install.sh at $(date '+%F %T')"
  printf '%s\n' "${times[@]}"
  printf '%-22s %7ss\n' total "$(since "$T0")"
} | tee "$CP_STATE/install-timings.txt"
