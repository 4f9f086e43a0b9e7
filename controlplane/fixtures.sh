#!/bin/bash
# fixtures.sh -- the objects the demo and the tests use, created in the running control plane
# when missing. Idempotent: a re-run that finds them all does nothing but look (one openstack
# process for all the look-ups).
#
#   image    guest        the project's test guest (guest/build-guest-image.sh, built if missing),
#                         qcow2/bare, public; re-uploaded when it is not 'active' or its checksum
#                         is not the built file's (a rebuilt guest)
#   flavor   test_flavor  1 vCPU, 256 MiB, 1 GB root disk, public
#   keypair  test-key     the admin's; its private key is $CP_STATE/test-key.pem (recreated, key
#                         pair too, when the file is missing or does not match)
#   network  test_net     flat on physnet 'provider', shared, external, port security off (the
#                         Debian 12 ebtables-nft bug, see README), with test_subnet 10.254.0.0/24,
#                         allocation pool .100-.200, gateway .1, DHCP on
#
# Called by start.sh once the control plane answers; tests call it through internal/testenv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || die "must run as root"

GUEST_DIR=${GUEST_DIR:-$REPO_DIR/.cache/guest}
KEY=$CP_STATE/test-key.pem
T0=$(now)
openrc
osc() { timeout 300 openstack "$@"; }

mkdir -p "$CP_STATE"
exec 7>"$CP_STATE/.fixtures.lock"
flock -w 900 7 || die "another fixtures.sh holds $CP_STATE/.fixtures.lock"

bash "$REPO_DIR/guest/build-guest-image.sh" "$GUEST_DIR" 7>&-
guest_md5=$(md5sum <"$GUEST_DIR/guest.qcow2" | cut -d' ' -f1)

# One look-up per kind (~2 s each: Python start-up).
images=$(osc image list --name guest --long -f value -c ID -c Status -c Checksum)
flavors=$(osc flavor list --all -f value -c Name)
keypairs=$(osc keypair list -f value -c Name -c Fingerprint)
nets=$(osc network list --name test_net -f value -c ID)
subnets=$(osc subnet list --name test_subnet -f value -c ID)

made=()
# ---- image --------------------------------------------------------------------------------------
good=$(awk -v want="$guest_md5" '$2 == want && $3 == "active" {print $1}' <<<"$images" | head -1)
if [ -z "$good" ]; then
  for id in $(awk '{print $1}' <<<"$images"); do osc image delete "$id"; done
  osc image create --disk-format qcow2 --container-format bare --public \
    --file "$GUEST_DIR/guest.qcow2" guest -f value -c id >/dev/null
  made+=("image guest")
fi

# ---- flavor -------------------------------------------------------------------------------------
if ! grep -qx test_flavor <<<"$flavors"; then
  osc flavor create --vcpus 1 --ram 256 --disk 1 --public test_flavor -f value -c id >/dev/null
  made+=("flavor test_flavor")
fi

# ---- key pair -----------------------------------------------------------------------------------
# nova shows an imported key's fingerprint as ssh-keygen -l -E md5 does, without "MD5:".
fp=
if [ -f "$KEY" ]; then
  fp=$(ssh-keygen -l -E md5 -f "$KEY" 2>/dev/null | awk '{sub(/^MD5:/, "", $2); print $2}') || fp=
fi
if [ -z "$fp" ] || ! grep -qx "test-key $fp" <<<"$keypairs"; then
  grep -q '^test-key ' <<<"$keypairs" && osc keypair delete test-key
  rm -f "$KEY" "$KEY.pub"
  ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C test-key -f "$KEY"
  osc keypair create --public-key "$KEY.pub" test-key -f value -c fingerprint >/dev/null
  made+=("keypair test-key ($KEY)")
fi

# ---- network ------------------------------------------------------------------------------------
net=$(head -1 <<<"$nets")
if [ -z "$net" ]; then
  net=$(osc network create --share --external --provider-network-type flat \
    --provider-physical-network provider --disable-port-security test_net -f value -c id)
  made+=("network test_net")
fi
if [ -z "$subnets" ]; then
  osc subnet create --network "$net" --subnet-range 10.254.0.0/24 --gateway 10.254.0.1 \
    --allocation-pool start=10.254.0.100,end=10.254.0.200 --dhcp test_subnet -f value -c id >/dev/null
  made+=("subnet test_subnet")
fi

if [ ${#made[@]} -gt 0 ]; then
  log "fixtures: created ${made[*]} ($(since "$T0")s)"
else
  log "fixtures: all present ($(since "$T0")s)"
fi
