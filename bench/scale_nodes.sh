# scale_nodes.sh -- the fake compute nodes of scale.sh (sourced, never run): N novalet processes
# and K Debian nova-compute processes on compute_driver = fake.FakeDriver, each with its own host
# name, state_path, instances_path, lock_path, log file and nova.conf override; their servers; and
# removing all of it from the control plane again.
#
# Every node reads Debian's compute files (/etc/nova/nova.conf, /etc/nova/nova-compute.conf), then
# its own override, last (later files win, as oslo.config reads them). Both agents log at debug
# with oslo.messaging at debug, so each message a node sends shows in its own log (the count of
# conductor calls); Debian's keystoneauth at debug logs each Placement request it makes.

NV_PIDS=()      # novalet PIDs, index K-1 for fake-K
NV_HOSTS=()
NC_PIDS=()      # Debian nova-compute PIDs, index K-1 for nfake-K
NC_HOSTS=()
SRV_IDS=()      # every server this bench made
METRICS_BASE=19800 # novalet fake-K serves its metrics on 127.0.0.1:$((METRICS_BASE + K))
DEBUG_LEVELS='amqp=WARN,amqplib=WARN,sqlalchemy=WARN,oslo.messaging=DEBUG,oslo_messaging=DEBUG,iso8601=WARN,urllib3.connectionpool=WARN,urllib3.util.retry=WARN,requests.packages.urllib3.connectionpool=WARN,keystonemiddleware=WARN,routes.middleware=WARN,stevedore=WARN,taskflow=WARN,keystoneauth=DEBUG,oslo.cache=INFO,oslo_policy=INFO,dogpile.core.dogpile=INFO,oslo.privsep.daemon=INFO,privsep=INFO'

# node_conf HOST DIR DRIVER-EXTRA: the override file for one node.
node_conf() {
  local host=$1 dir=$2
  mkdir -p "$dir/state" "$dir/instances" "$dir/lock"
  cat >"$dir/nova.conf" <<EOF
[DEFAULT]
host = $host
compute_driver = fake.FakeDriver
state_path = $dir/state
instances_path = $dir/instances
log_file = $dir/agent.log
use_stderr = false
debug = true
# Fake nodes must not attract other servers on this machine (the e2e tests' on host vm): little
# free RAM, CPU and disk (disk_available_least is 0) for the weighers, and disabled but while the
# bench boots its own servers (set_status).
reserved_host_memory_mb = 799000
cpu_allocation_ratio = 0.01
default_log_levels = $DEBUG_LEVELS
[oslo_concurrency]
lock_path = $dir/lock
$3
EOF
}

# novalet_nodes FROM TO: starts fake-FROM..fake-TO.
novalet_nodes() {
  local k dir
  for ((k = $1; k <= $2; k++)); do
    dir=$WORK/fake-$k
    node_conf "fake-$k" "$dir" "[novalet]
metrics_listen = 127.0.0.1:$((METRICS_BASE + k))"
    setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      no_proxy=controller,localhost,127.0.0.1 "$REPO/bin/novalet" run --use-json --config-file /etc/nova/nova.conf \
      --config-file /etc/nova/nova-compute.conf --config-file "$dir/nova.conf" >>"$dir/stdout.log" 2>&1 </dev/null &
    NV_PIDS[k - 1]=$!
    NV_HOSTS[k - 1]=fake-$k
  done
}

# nova_nodes FROM TO: starts Debian's nova-compute as nfake-FROM..nfake-TO, as user nova.
nova_nodes() {
  local k dir
  for ((k = $1; k <= $2; k++)); do
    dir=$WORK/nfake-$k
    node_conf "nfake-$k" "$dir" ""
    chown -R nova:nova "$dir"
    setsid setpriv --reuid=nova --regid=nova --init-groups env -i PATH=/usr/local/bin:/usr/bin:/bin \
      HOME=/var/lib/nova LANG=C.UTF-8 no_proxy=controller,localhost,127.0.0.1 /usr/bin/nova-compute \
      --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf \
      --config-file "$dir/nova.conf" >>"$dir/stdout.log" 2>&1 </dev/null &
    NC_PIDS[k - 1]=$!
    NC_HOSTS[k - 1]=nfake-$k
  done
}

# hosts_up HOST...: how many of the hosts' nova-compute services read 'up'.
hosts_up() {
  api GET "/os-services?binary=nova-compute"
  jq -r '.services[] | select(.state == "up") | .host' <<<"$API_BODY" | grep -cxF -f <(printf '%s\n' "$@") || true
}

# wait_up DEADLINE HOST...: until every host is up; returns 1 at the deadline.
wait_up() {
  local deadline=$1 t0=$SECONDS n
  shift
  while :; do
    n=$(hosts_up "$@")
    [ "$n" -ge $# ] && return 0
    ((SECONDS - t0 < deadline)) || { log "only $n of $# hosts up after ${deadline} s"; return 1; }
    sleep 2
  done
}

# boot_on HOST...: one server per host (microversion 2.74's host, as an admin), no NIC; waits
# for all ACTIVE; BOOT_SECONDS is the burst's wall time, BOOT_ERRORS the servers not ACTIVE.
boot_on() {
  local h ids=() t0 id st pending deadline
  # The image by name each time: other sessions' tests may upload guest again meanwhile.
  img_api GET "/v2/images?name=guest&status=active"
  IMAGE_ID=$(jq -r '.images[0].id // empty' <<<"$API_BODY")
  [ -n "$IMAGE_ID" ] || log "WARNING: no active image guest: $API_CODE $API_BODY"
  t0=$(now)
  for h in "$@"; do
    api POST /servers "$(jq -nc --arg n "scale-$h" --arg f "$FLAVOR_ID" --arg i "$IMAGE_ID" --arg h "$h" \
      '{server: {name: $n, flavorRef: $f, imageRef: $i, networks: "none", host: $h}}')"
    id=$(jq -r '.server.id // empty' <<<"$API_BODY")
    [ "$API_CODE" = 202 ] && [ -n "$id" ] || { log "WARNING: POST /servers on $h: $API_CODE $API_BODY"; continue; }
    ids+=("$id") SRV_IDS+=("$id")
  done
  deadline=$((SECONDS + 300 + 3 * $#))
  BOOT_ERRORS=0
  while :; do
    pending=0 BOOT_ERRORS=0
    api GET "/servers/detail?name=^scale-&limit=1000"
    for id in "${ids[@]}"; do
      st=$(jq -r --arg i "$id" '.servers[] | select(.id == $i) | .status' <<<"$API_BODY")
      case $st in ACTIVE) ;; ERROR) BOOT_ERRORS=$((BOOT_ERRORS + 1)) ;; *) pending=$((pending + 1)) ;; esac
    done
    [ "$pending" = 0 ] && break
    ((SECONDS < deadline)) || { log "WARNING: $pending servers still building at the deadline"; BOOT_ERRORS=$((BOOT_ERRORS + pending)); break; }
    sleep 1
  done
  BOOT_SECONDS=$(sub "$(now)" "$t0")
  BOOT_SERVERS=${#ids[@]}
}

# delete_servers: every server this bench made, until gone (300 s at most).
delete_servers() {
  local id left t0=$SECONDS
  [ ${#SRV_IDS[@]} -gt 0 ] || return 0
  for id in "${SRV_IDS[@]}"; do api DELETE "/servers/$id"; done
  while ((SECONDS - t0 < 300)); do
    left=0
    for id in "${SRV_IDS[@]}"; do
      api GET "/servers/$id"
      [ "$API_CODE" = 404 ] || left=$((left + 1))
    done
    [ "$left" = 0 ] && { SRV_IDS=(); return 0; }
    sleep 2
  done
  log "WARNING: servers left after 300 s: ${SRV_IDS[*]}"
}

# stop_pids PID...: SIGTERM, up to 90 s, then SIGKILL; each was started by this bench.
stop_pids() {
  local p i alive
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 900; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && [ "$(stat_rest "$p" | cut -c1)" != Z ] && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -0 "$p" 2>/dev/null && { log "WARNING: pid $p ignored SIGTERM; SIGKILL"; kill -KILL "$p" 2>/dev/null; }; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}

# forget_hosts HOST...: the hosts' compute services (with their compute nodes and host mappings),
# then any resource provider still named after one of them.
forget_hosts() {
  local id name rps url
  [ $# -gt 0 ] || return 0
  api GET "/os-services?binary=nova-compute"
  for id in $(jq -r --argjson h "$(printf '%s\n' "$@" | jq -R . | jq -sc .)" \
    '.services[] | select(.host as $x | $h | index($x)) | .id' <<<"$API_BODY"); do
    for _ in $(seq 30); do # 409 while an instance is still on the host
      api DELETE "/os-services/$id"
      [ "$API_CODE" = 409 ] || break
      sleep 4
    done
    [ "$API_CODE" = 204 ] || log "WARNING: DELETE os-services/$id: $API_CODE $API_BODY"
  done
  url=$(placement_url) || { log "WARNING: no placement endpoint; providers not checked"; return 0; }
  rps=$(curl -s --noproxy '*' --max-time 30 -H "X-Auth-Token: $TOKEN" -H 'OpenStack-API-Version: placement 1.14' "$url/resource_providers")
  for name in "$@"; do
    for id in $(jq -r --arg n "$name" '.resource_providers[] | select(.name == $n) | .uuid' <<<"$rps"); do
      curl -s --noproxy '*' --max-time 30 -o /dev/null -X DELETE -H "X-Auth-Token: $TOKEN" "$url/resource_providers/$id"
      log "resource provider $name ($id) deleted"
    done
  done
}

# placement_url: the Placement endpoint from the token's catalog.
placement_url() {
  local u
  u=$(openstack endpoint list --service placement --interface public -f value -c URL 2>/dev/null | head -1)
  [ -n "$u" ] && echo "$u"
}

# remove_novalet / remove_nova: servers, processes and control-plane records of one kind.
remove_novalet() {
  delete_servers
  stop_pids "${NV_PIDS[@]}"
  forget_hosts "${NV_HOSTS[@]}"
  NV_PIDS=() NV_HOSTS=()
}
remove_nova() {
  delete_servers
  stop_pids "${NC_PIDS[@]}"
  forget_hosts "${NC_HOSTS[@]}"
  NC_PIDS=() NC_HOSTS=()
}
