# servers.sh -- the servers phase of run.sh (sourced, never run): server operation latencies
# through the compute API, the same for both agents. Times are taken from the request sent to the
# first poll (every 0.2 s) that sees the end state, with curl and the token (not the openstack
# CLI, whose own ~1.5 s per call would dominate). TCG guests: a boot takes ~13 s here.
#
#   BENCH_SERVER_RUNS  sequential creates/deletes (default 10)
#   BENCH_POWER_RUNS   stop/start/soft/hard reboot rounds on one server (default 5)

SERVER_RUNS=${BENCH_SERVER_RUNS:-10}
POWER_RUNS=${BENCH_POWER_RUNS:-5}
API_VERSION=2.74
INSTANCES=/var/lib/nova/instances
SRV_CREATED=()  # every server this phase made, deleted at the end whatever happens

# api METHOD PATH [BODY]: API_BODY is the response body, API_CODE the HTTP status (globals, so
# that no subshell loses them).
api() {
  local out
  out=$(curl -s --noproxy '*' --max-time 60 -w '\n%{http_code}' -X "$1" -H "X-Auth-Token: $TOKEN" \
    -H "X-OpenStack-Nova-API-Version: $API_VERSION" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$NOVA_URL$2") || out=$'\n000'
  API_CODE=${out##*$'\n'}
  API_BODY=${out%$'\n'*}
}

srv_setup() {
  nova_login || die "no token for the servers phase"
  api GET /flavors
  FLAVOR_ID=$(jq -r '.flavors[] | select(.name == "test_flavor") | .id' <<<"$API_BODY")
  IMAGE_ID=$(openstack image show guest -f value -c id 2>/dev/null)
  [ -n "$FLAVOR_ID" ] && [ -n "$IMAGE_ID" ] || die "flavor test_flavor or image guest missing (controlplane/install.sh makes them)"
}

# srv_create NAME [COUNT]: POSTs a --nic none server (COUNT at once); SRV_ID is the first id.
srv_create() {
  local body out
  body=$(jq -nc --arg n "$1" --arg f "$FLAVOR_ID" --arg i "$IMAGE_ID" --argjson c "${2:-1}" \
    '{server: {name: $n, flavorRef: $f, imageRef: $i, networks: "none", min_count: $c, max_count: $c}}')
  api POST /servers "$body"
  SRV_ID=$(jq -r '.server.id // empty' <<<"$API_BODY")
  [ "$API_CODE" = 202 ] && [ -n "$SRV_ID" ] || die "POST /servers answered $API_CODE: $API_BODY"
  SRV_CREATED+=("$SRV_ID")
}

# srv_wait ID STATUS: until the server shows STATUS with no task state (ERROR fails the run).
srv_wait() {
  local t0=$SECONDS st task
  while :; do
    api GET "/servers/$1"
    st=$(jq -r '.server.status // empty' <<<"$API_BODY")
    task=$(jq -r '.server["OS-EXT-STS:task_state"] // empty' <<<"$API_BODY")
    [ "$st" = "$2" ] && [ -z "$task" ] && return 0
    [ "$st" = ERROR ] && die "server $1 went to ERROR: $(jq -c '.server.fault // {}' <<<"$API_BODY")"
    ((SECONDS - t0 < 600)) || die "server $1 not $2 within 600 s (status $st, task $task)"
    sleep 0.2
  done
}

srv_wait_gone() {
  local t0=$SECONDS
  while api GET "/servers/$1"; [ "$API_CODE" != 404 ]; do
    ((SECONDS - t0 < 600)) || die "server $1 not gone within 600 s"
    sleep 0.2
  done
}

# srv_booted ID: waits until the guest has printed its login prompt, so that its acpid answers
# the power button of a soft reboot. console.log starts afresh with every start of the domain
# (append='off', as nova's driver writes it), and the API shows ACTIVE only after that start.
srv_booted() {
  local t0=$SECONDS log=$INSTANCES/$1/console.log
  until grep -q 'guest-init: login prompt ready' "$log" 2>/dev/null; do
    ((SECONDS - t0 < 300)) || die "guest $1 did not reach its login prompt within 300 s"
    sleep 0.5
  done
}

srv_action() { api POST "/servers/$1/action" "$2"; [ "${API_CODE:0:1}" = 2 ] || die "action $2 on $1: $API_CODE $API_BODY"; }

# srv_timed KEY CMD...: runs CMD, puts its wall time (s) under KEY for the current agent.
srv_timed() {
  local key=$1 t0
  shift
  t0=$(now)
  "$@"
  put "$SRV_AGENT" "$key" "$(sub "$(now)" "$t0")"
}

srv_create_wait() { srv_create "$1" && srv_wait "$SRV_ID" ACTIVE; }
srv_delete_wait() { api DELETE "/servers/$1" && srv_wait_gone "$1"; }

srv_cleanup() {
  local id
  for id in "${SRV_CREATED[@]}"; do api DELETE "/servers/$id"; done
  for id in "${SRV_CREATED[@]}"; do srv_wait_gone "$id"; done
  SRV_CREATED=()
}

# novalet_build_stats: sum and count of novalet's build_and_run_instance operation histogram.
novalet_build_stats() {
  curl -s --max-time 10 http://127.0.0.1:9797/metrics |
    awk '/^novalet_operation_duration_seconds_(sum|count)\{.*operation="build_and_run_instance".*result="success"/ {v[$1 ~ /_sum/ ? "s" : "c"] += $NF}
      END {printf "%.6f %d\n", v["s"], v["c"]}'
}

# servers_phase AGENT: the whole phase for the running agent.
servers_phase() {
  SRV_AGENT=$1
  local i ids id before after round
  srv_setup
  log "$SRV_AGENT servers: warm-up create/delete (image into the cache)"
  srv_create_wait bench-warm && srv_delete_wait "$SRV_ID"
  [ "$SRV_AGENT" = novalet ] && before=$(novalet_build_stats)
  log "$SRV_AGENT servers: $SERVER_RUNS sequential creates and deletes"
  for ((i = 1; i <= SERVER_RUNS; i++)); do
    srv_timed "create_s_$i" srv_create_wait "bench-seq-$i"
    srv_timed "delete_s_$i" srv_delete_wait "$SRV_ID"
  done
  if [ "$SRV_AGENT" = novalet ]; then
    after=$(novalet_build_stats)
    put novalet build_mean_s "$(awk -v a="$after" -v b="$before" 'BEGIN {split(a, x, " "); split(b, y, " ");
      n = x[2] - y[2]; if (n > 0) printf "%.3f", (x[1] - y[1]) / n}')"
  fi
  log "$SRV_AGENT servers: 10 at once (min_count 10)"
  local t0
  t0=$(now)
  srv_create bench-many 10
  api GET "/servers?name=^bench-many"
  mapfile -t ids < <(jq -r '.servers[].id' <<<"$API_BODY")
  [ "${#ids[@]}" -eq 10 ] || die "min_count 10 made ${#ids[@]} servers"
  SRV_CREATED+=("${ids[@]}")
  for id in "${ids[@]}"; do srv_wait "$id" ACTIVE; done
  put "$SRV_AGENT" create10_s "$(sub "$(now)" "$t0")"
  t0=$(now)
  for id in "${ids[@]}"; do api DELETE "/servers/$id"; done
  for id in "${ids[@]}"; do srv_wait_gone "$id"; done
  put "$SRV_AGENT" delete10_s "$(sub "$(now)" "$t0")"

  log "$SRV_AGENT servers: $POWER_RUNS rounds of stop, start, soft and hard reboot"
  srv_create_wait bench-power
  srv_booted "$SRV_ID"
  for ((round = 1; round <= POWER_RUNS; round++)); do
    srv_timed "srv_stop_s_$round" eval 'srv_action "$SRV_ID" "{\"os-stop\": null}"; srv_wait "$SRV_ID" SHUTOFF'
    srv_timed "srv_start_s_$round" eval 'srv_action "$SRV_ID" "{\"os-start\": null}"; srv_wait "$SRV_ID" ACTIVE'
    srv_booted "$SRV_ID"
    srv_timed "srv_soft_reboot_s_$round" eval 'srv_action "$SRV_ID" "{\"reboot\": {\"type\": \"SOFT\"}}"; srv_wait "$SRV_ID" ACTIVE'
    srv_booted "$SRV_ID"
    srv_timed "srv_hard_reboot_s_$round" eval 'srv_action "$SRV_ID" "{\"reboot\": {\"type\": \"HARD\"}}"; srv_wait "$SRV_ID" ACTIVE'
    srv_booted "$SRV_ID"
  done
  [ "$SRV_AGENT" = novalet ] && domain_floor "$SRV_ID"
  srv_cleanup
  for k in create delete; do
    mapfile -t v < <(for ((i = 1; i <= SERVER_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  for k in srv_stop srv_start srv_soft_reboot srv_hard_reboot; do
    mapfile -t v < <(for ((i = 1; i <= POWER_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  log "$SRV_AGENT servers: create $(get "$SRV_AGENT" create_s) s, delete $(get "$SRV_AGENT" delete_s) s (medians)"
}

# domain_floor ID: virsh define + start of the same domain XML (new name and uuid, a fresh
# overlay on the same base): what libvirt and QEMU need, without any agent. Median of 3.
domain_floor() {
  local xml base dir i t0 uuid v=()
  dir=$(mktemp -d /var/tmp/novalet-bench-floor.XXXX)
  base=$(qemu-img info -U --output=json "$INSTANCES/$1/disk" | jq -r '."backing-filename"')
  for i in 1 2 3; do
    uuid=$(cat /proc/sys/kernel/random/uuid)
    qemu-img create -q -f qcow2 -b "$base" -F raw "$dir/disk$i" 1G
    : >"$dir/console$i.log"
    [ -f "$INSTANCES/$1/disk.config" ] && cp "$INSTANCES/$1/disk.config" "$dir/disk$i.config"
    virsh -c qemu:///system dumpxml "$1" |
      sed -e "s|<name>[^<]*</name>|<name>bench-floor-$i</name>|" -e "s|<uuid>[^<]*</uuid>|<uuid>$uuid</uuid>|" \
        -e "s|$INSTANCES/$1/disk|$dir/disk$i|" \
        -e "s|$INSTANCES/$1/console.log|$dir/console$i.log|" \
        -e "s|<entry name='serial'>[^<]*</entry>|<entry name='serial'>$uuid</entry>|" \
        -e "s|<entry name='uuid'>[^<]*</entry>|<entry name='uuid'>$uuid</entry>|" >"$dir/dom$i.xml"
    xml=$dir/dom$i.xml
    t0=$(now)
    virsh -c qemu:///system define "$xml" >/dev/null && virsh -c qemu:///system start "bench-floor-$i" >/dev/null ||
      log "WARNING: floor domain $i did not start"
    v+=("$(sub "$(now)" "$t0")")
    virsh -c qemu:///system destroy "bench-floor-$i" >/dev/null 2>&1
    virsh -c qemu:///system undefine "bench-floor-$i" >/dev/null 2>&1
  done
  put novalet floor_s "$(median "${v[@]}")"
  rm -rf "$dir"
}
