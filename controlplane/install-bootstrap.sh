#!/bin/bash
# install-bootstrap.sh -- step 4 of install.sh: everything that lives in a running service rather
# than a file: the RabbitMQ user, databases and grants, keystone's keys and catalog, every schema
# sync and nova's cells. Idempotent. Starts MariaDB, memcached and keystone for the duration and
# stops again what it started itself (services already running are left running).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$CP_DIR/services.sh"

T0=$(now)
step() { log "bootstrap: $* (+$(since "$T0")s)"; }

# ---- RabbitMQ: parts.sh's broker + the reference's user ------------------------------------------
"$PARTS" start
ensure_rabbit_user
step "rabbitmq user $RMQ_USER has .* .* .* on /"

# ---- MariaDB: databases, users (localhost and %, as the install guide) ---------------------------
cleanup() {
  local n
  # stop only what this script launched, newest first
  for ((n = ${#LAUNCHED[@]} - 1; n >= 0; n--)); do "$CP_DIR/stop.sh" "${LAUNCHED[n]}"; done
}
trap cleanup EXIT
bring_up mariadb memcached
for d in keystone glance placement nova_api nova nova_cell0 neutron; do
  u=$d
  case $d in nova*) u=nova ;; esac
  db "CREATE DATABASE IF NOT EXISTS $d;
      CREATE USER IF NOT EXISTS '$u'@'localhost' IDENTIFIED BY '$PW';
      CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY '$PW';
      GRANT ALL PRIVILEGES ON $d.* TO '$u'@'localhost';
      GRANT ALL PRIVILEGES ON $d.* TO '$u'@'%';"
done
step "databases and grants"

# ---- keystone: schema, keys, admin + catalog entry for itself -------------------------------------
as keystone keystone-manage db_sync
# both are no-ops when the key repositories already hold keys
keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
keystone-manage bootstrap --bootstrap-password "$PW" \
  --bootstrap-admin-url http://controller:5000/v3/ --bootstrap-internal-url http://controller:5000/v3/ \
  --bootstrap-public-url http://controller:5000/v3/ --bootstrap-region-id "$REGION"
bring_up keystone
step "keystone bootstrapped and answering"

# ---- keystone: service project, users, services, endpoints ----------------------------------------
# Each `openstack` process costs ~2 s of Python start-up, so: list what exists (5 calls), then feed
# every missing create to ONE openstack process (its interactive mode reads commands from stdin),
# then list again to verify. A re-run finds nothing missing. (That mode splits lines on blanks and
# ignores quotes: no argument may contain a space.)
openrc
osc() { timeout 180 openstack "$@"; }
keystone_plan() { # prints the openstack commands still needed, one per line, in dependency order
  local users roles services endpoints u name type url i
  osc project show "$SERVICE_PROJECT" >/dev/null 2>&1 ||
    echo "project create --domain default $SERVICE_PROJECT"
  users=$(osc user list -f value -c Name)
  for u in glance placement nova neutron; do
    grep -qx "$u" <<<"$users" || echo "user create --domain default --password $PW $u"
  done
  # each service user is admin in the service project
  roles=$(osc role assignment list --project "$SERVICE_PROJECT" --role admin --names -f value -c User 2>/dev/null || true)
  for u in glance placement nova neutron; do
    grep -q "^$u@" <<<"$roles" || echo "role add --project $SERVICE_PROJECT --user $u admin"
  done
  services=$(osc service list -f value -c Name)
  # endpoint list prints the selected columns in table order: "Region Service-Name Interface"
  endpoints=$(osc endpoint list -f value -c 'Service Name' -c Interface -c Region)
  while read -r name type url; do
    grep -qx "$name" <<<"$services" || echo "service create --name $name $type"
    for i in public internal admin; do
      grep -qx "$REGION $name $i" <<<"$endpoints" || echo "endpoint create --region $REGION $type $i $url"
    done
  done <<EOF
glance image http://controller:9292
placement placement http://controller:8778
nova compute http://controller:8774/v2.1
neutron network http://controller:9696
EOF
}
plan=$(keystone_plan)
if [ -n "$plan" ]; then
  log "keystone: $(wc -l <<<"$plan") objects to create"
  osc <<<"$plan" >/dev/null
  plan=$(keystone_plan)
  [ -z "$plan" ] || die "keystone objects still missing after creating them:
$plan"
fi
step "keystone project, users, roles, services, endpoints"

# ---- schemas and cells ----------------------------------------------------------------------------
as glance glance-manage --config-file /etc/glance/glance-api.conf db_sync
step "glance db_sync"
as placement placement-manage db sync
step "placement db sync"
nova_manage api_db sync
nova_manage cell_v2 map_cell0
nova_manage cell_v2 list_cells | grep -q ' cell1 ' || nova_manage cell_v2 create_cell --name=cell1 --verbose
nova_manage db sync
nova_manage cell_v2 list_cells
step "nova api_db sync, map_cell0, create_cell cell1, db sync"
as neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
  --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
step "neutron-db-manage upgrade head"
