#!/bin/bash
# smoke.sh -- prove the running control plane works, with the operator's own commands.
#   1. keystone catalog: `openstack endpoint list` has public/internal/admin for the 5 services
#   2. `openstack compute service list`: nova-conductor and nova-scheduler enabled and up
#   3. `openstack network agent list`: linuxbridge, DHCP and metadata agents alive on this host
#   4. glance: upload an image (the project's test guest if built, else a blank qcow2), see it
#      'active' with the right checksum, delete it again (KEEP_IMAGE=1 keeps it)
#   5. placement: `openstack resource provider list` answers
#   and, when Debian's nova-compute is running (start.sh --with-nova-compute):
#   6. nova-compute on this host up, the host in `openstack hypervisor list`, its resource provider
# Prints PASS/FAIL per check with its wall time; exit status = number of failed checks.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
openrc

FAILS=0
check() { # NAME CMD...: run CMD, print PASS/FAIL and seconds; CMD's stdout is shown indented
  local name=$1 t out rc
  shift
  t=$(now)
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc = 0 ]; then
    printf 'PASS %-46s %5ss\n' "$name" "$(since "$t")"
  else
    printf 'FAIL %-46s %5ss\n' "$name" "$(since "$t")"
    FAILS=$((FAILS + 1))
  fi
  [ -n "$out" ] && sed 's/^/       /' <<<"$out"
  return 0
}
osc() { timeout 120 openstack "$@"; }

endpoints() {
  local list s i missing=0
  list=$(osc endpoint list -f value -c 'Service Name' -c Interface -c URL) || return 1
  for s in keystone glance placement nova neutron; do
    for i in public internal admin; do
      grep -q "^$s $i http://controller:" <<<"$list" || { echo "missing: $s $i"; missing=1; }
    done
  done
  sort <<<"$list"
  return $missing
}

# compute_up BINARY...: each binary has a service on this host, enabled and up
compute_up() {
  local list b rc=0
  list=$(osc compute service list -f value -c Binary -c Host -c Status -c State) || return 1
  echo "$list"
  for b in "$@"; do
    grep -qx "$b $COMPUTE_HOST enabled up" <<<"$list" || { echo "not up: $b"; rc=1; }
  done
  return $rc
}

agents_alive() {
  local list t rc=0
  list=$(osc network agent list -f value -c 'Agent Type' -c Host -c Alive -c State) || return 1
  echo "$list"
  for t in 'Linux bridge agent' 'DHCP agent' 'Metadata agent'; do
    grep -qx "$t $COMPUTE_HOST True True" <<<"$list" || { echo "not alive: $t"; rc=1; }
  done
  return $rc
}

image_roundtrip() {
  local file=$REPO_DIR/.cache/guest/guest.qcow2 name id status checksum want
  if [ ! -f "$file" ]; then
    file=$CP_STATE/blank.qcow2
    [ -f "$file" ] || qemu-img create -q -f qcow2 "$file" 64M || return 1
  fi
  name=smoke-$(date +%s)
  want=$(md5sum <"$file" | cut -d' ' -f1)
  id=$(osc image create --disk-format qcow2 --container-format bare --file "$file" -f value -c id "$name") || return 1
  read -r status checksum < <(osc image show "$id" -f json | jq -r '"\(.status) \(.checksum)"')
  echo "image $name ($id) from $file: status $status, checksum $checksum"
  if [ "${KEEP_IMAGE:-0}" != 1 ]; then osc image delete "$id" || return 1; fi
  [ "$status" = active ] && [ "$checksum" = "$want" ]
}

providers() { osc resource provider list -f value -c uuid -c name; }

hypervisor_listed() {
  local list
  list=$(osc hypervisor list -f value -c 'Hypervisor Hostname' -c 'Hypervisor Type' -c 'Host IP' -c State) || return 1
  echo "$list"
  grep -q "^$COMPUTE_HOST QEMU $MY_IP up$" <<<"$list"
}

provider_for_host() { providers | grep -q " $COMPUTE_HOST$"; }

check "keystone catalog (openstack endpoint list)" endpoints
check "nova-conductor, nova-scheduler up" compute_up nova-conductor nova-scheduler
check "neutron agents alive" agents_alive
check "glance image upload" image_roundtrip
check "placement (resource provider list)" providers
if owned nova-compute >/dev/null; then
  check "nova-compute up on $COMPUTE_HOST" compute_up nova-compute
  check "hypervisor list shows $COMPUTE_HOST" hypervisor_listed
  check "resource provider $COMPUTE_HOST" provider_for_host
fi
if [ $FAILS = 0 ]; then log "smoke: all checks passed"; else log "smoke: $FAILS check(s) failed"; fi
exit $FAILS
