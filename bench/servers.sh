# servers.sh -- the servers phase of run.sh (sourced, never run): server operation latencies
# through the compute API, the same for both agents. Times are taken from the request sent to the
# first poll (every 0.2 s) that sees the end state, with curl and the token (not the openstack
# CLI, whose own ~1.5 s per call would dominate). TCG guests: a boot takes ~13 s here.
#
#   BENCH_SERVER_RUNS  sequential creates/deletes (default 10)
#   BENCH_POWER_RUNS   stop/start/soft/hard reboot/suspend/resume rounds on one server (default 5)
#   BENCH_IMAGE_RUNS   snapshot/rebuild/shelve-offload/unshelve rounds on one server (default 3)
#   BENCH_NET_RUNS     sequential creates/deletes on the flat network test_net (default 5)

SERVER_RUNS=${BENCH_SERVER_RUNS:-10}
POWER_RUNS=${BENCH_POWER_RUNS:-5}
IMAGE_RUNS=${BENCH_IMAGE_RUNS:-3}
NET_RUNS=${BENCH_NET_RUNS:-5}
NET_ID=         # test_net, the flat provider network (controlplane/fixtures.sh)
API_VERSION=2.74
INSTANCES=/var/lib/nova/instances
SRV_CREATED=()  # every server this phase made, deleted at the end whatever happens
IMG_CREATED=()  # every image this phase made (the rebuild copy, snapshots), deleted by run.sh's cleanup
IMAGE2_ID=      # the second copy of the guest image, the rebuilds' other image (uploaded once per run)

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

# img_api METHOD PATH: as api, against the image service (Glance v2).
img_api() {
  local out
  out=$(curl -s --noproxy '*' --max-time 60 -w '\n%{http_code}' -X "$1" -H "X-Auth-Token: $TOKEN" \
    "$GLANCE_URL$2") || out=$'\n000'
  API_CODE=${out##*$'\n'}
  API_BODY=${out%$'\n'*}
}

srv_setup() {
  nova_login || die "no token for the servers phase"
  api GET /flavors
  FLAVOR_ID=$(jq -r '.flavors[] | select(.name == "test_flavor") | .id' <<<"$API_BODY")
  IMAGE_ID=$(openstack image show guest -f value -c id 2>/dev/null)
  [ -n "$FLAVOR_ID" ] && [ -n "$IMAGE_ID" ] || die "flavor test_flavor or image guest missing (controlplane/install.sh makes them)"
  [ "$IMAGE_RUNS" = 0 ] || [ -n "$IMAGE2_ID" ] || img_copy
  if [ "$NET_RUNS" != 0 ] && [ -z "$NET_ID" ]; then
    NET_ID=$(openstack network show test_net -f value -c id 2>/dev/null) || die "network test_net missing (controlplane/install.sh makes it)"
  fi
}

# net_rounds: NET_RUNS sequential creates on test_net -> ACTIVE and deletes -> gone: Neutron's
# port, its binding to this host, the tap on the bridge and network-vif-plugged, which both
# agents await before they report ACTIVE (vif_plugging_is_fatal).
net_rounds() {
  local i k v
  log "$SRV_AGENT servers: $NET_RUNS sequential creates and deletes on test_net"
  for ((i = 1; i <= NET_RUNS; i++)); do
    srv_timed "net_create_s_$i" eval 'srv_create "bench-net-$i" 1 "" "{\"networks\": [{\"uuid\": \"$NET_ID\"}]}" && srv_wait "$SRV_ID" ACTIVE'
    srv_timed "net_delete_s_$i" srv_delete_wait "$SRV_ID"
  done
  for k in net_create net_delete; do
    mapfile -t v < <(for ((i = 1; i <= NET_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  log "$SRV_AGENT servers: on test_net create $(get "$SRV_AGENT" net_create_s) s, delete $(get "$SRV_AGENT" net_delete_s) s (medians)"
}

# img_copy: a second copy of image guest (same bytes and formats, a new id), the image the
# rebuilds alternate with; uploaded once per run, deleted at its end.
img_copy() {
  local f=$WORK/guest-copy.img
  [ -n "$GLANCE_URL" ] || die "no image endpoint in the catalog"
  openstack image save --file "$f" "$IMAGE_ID" || die "openstack image save guest failed"
  IMAGE2_ID=$(openstack image create --disk-format "$(openstack image show "$IMAGE_ID" -f value -c disk_format)" \
    --container-format bare --file "$f" -f value -c id "bench-rebuild-$STAMP") || die "uploading the guest copy failed"
  IMG_CREATED+=("$IMAGE2_ID")
  rm -f "$f"
  log "servers: image bench-rebuild-$STAMP ($IMAGE2_ID), a copy of guest for the rebuilds"
}

# srv_create NAME [COUNT [IMAGE [FIELDS]]]: POSTs a --nic none server (COUNT at once, from IMAGE,
# by default guest; FIELDS, a JSON object, adds to or replaces the server's fields, as networks
# or availability_zone); SRV_ID is the first id.
srv_create() {
  local body
  body=$(jq -nc --arg n "$1" --arg f "$FLAVOR_ID" --arg i "${3:-$IMAGE_ID}" --argjson c "${2:-1}" --argjson x "${4:-{\}}" \
    '{server: ({name: $n, flavorRef: $f, imageRef: $i, networks: "none", min_count: $c, max_count: $c} + $x)}')
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
srv_booted() { console_ready "$INSTANCES/$1/console.log" || die "guest $1 did not reach its login prompt within 300 s"; }

# console_ready CONSOLE_LOG: until the guest has printed its login prompt there; 1 after 300 s.
console_ready() {
  local t0=$SECONDS
  until grep -q 'guest-init: login prompt ready' "$1" 2>/dev/null; do
    ((SECONDS - t0 < 300)) || return 1
    sleep 0.5
  done
}

# set_status enabled|disabled HOST...: the hosts' compute services. A disabled node is left out
# by the scheduler (ComputeFilter, and the COMPUTE_STATUS_DISABLED trait in Placement).
set_status() {
  local status=$1 id body
  shift
  body=$(jq -nc --arg s "$status" '{status: $s} + (if $s == "disabled" then {disabled_reason: "novalet bench"} else {} end)')
  api GET "/os-services?binary=nova-compute"
  for id in $(jq -r --argjson h "$(printf '%s\n' "$@" | jq -R . | jq -sc .)" \
    '.services[] | select(.host as $x | $h | index($x)) | .id' <<<"$API_BODY"); do
    api PUT "/os-services/$id" "$body"
    [ "$API_CODE" = 200 ] || log "WARNING: PUT os-services/$id $status: $API_CODE $API_BODY"
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

# img_wait_active ID SERVER: until image ID is active and SERVER has no task state (its snapshot
# is over); a killed or failed image fails the run.
img_wait_active() {
  local t0=$SECONDS st task
  while :; do
    img_api GET "/v2/images/$1"
    # A failed snapshot's image is deleted by the agent (nova's delete_image_on_error): 404.
    [ "$API_CODE" = 404 ] && die "image $1 is gone: the snapshot failed (see the agent's log)"
    st=$(jq -r '.status // empty' <<<"$API_BODY" 2>/dev/null)
    case $st in killed | deleted | deactivated) die "image $1 went $st" ;; esac
    if [ "$st" = active ]; then
      api GET "/servers/$2"
      task=$(jq -r '.server["OS-EXT-STS:task_state"] // empty' <<<"$API_BODY")
      [ -z "$task" ] && return 0
    fi
    ((SECONDS - t0 < 600)) || die "image $1 not active within 600 s (status $st)"
    sleep 0.2
  done
}

# srv_snapshot_wait ID NAME: createImage (what `openstack server image create` sends), then until
# the image is active and the server's task state None. SNAP_ID is the image.
srv_snapshot_wait() {
  srv_action "$1" "$(jq -nc --arg n "$2" '{createImage: {name: $n}}')"
  SNAP_ID=$(jq -r '.image_id // empty' <<<"$API_BODY")
  [ -n "$SNAP_ID" ] || die "createImage on $1 answered no image_id: $API_BODY"
  IMG_CREATED+=("$SNAP_ID")
  img_wait_active "$SNAP_ID" "$1"
}

img_delete() { img_api DELETE "/v2/images/$1"; [ "$API_CODE" = 204 ] || [ "$API_CODE" = 404 ] || log "WARNING: DELETE image $1: $API_CODE $API_BODY"; }
srv_delete_wait() { api DELETE "/servers/$1" && srv_wait_gone "$1"; }

srv_cleanup() {
  local id
  for id in "${SRV_CREATED[@]}"; do api DELETE "/servers/$id"; done
  for id in "${SRV_CREATED[@]}"; do srv_wait_gone "$id"; done
  SRV_CREATED=()
}

# novalet_op_stats OP: sum and count of novalet's operation histogram for OP
# (build_and_run_instance, terminate_instance), successes only.
novalet_op_stats() {
  curl -s --max-time 10 http://127.0.0.1:9797/metrics |
    awk -v op="$1" '/^novalet_operation_duration_seconds_(sum|count)\{/ && index($0, "operation=\"" op "\"") && /result="success"/ {v[$1 ~ /_sum/ ? "s" : "c"] += $NF}
      END {printf "%.6f %d\n", v["s"], v["c"]}'
}

# novalet_phase_sums: "phase sum count" per spawn phase of novalet's build histogram.
novalet_phase_sums() {
  curl -s --max-time 10 http://127.0.0.1:9797/metrics |
    awk '/^novalet_spawn_phase_duration_seconds_(sum|count)\{/ {
        match($0, /phase="[a-z_]+"/); p = substr($0, RSTART + 7, RLENGTH - 8)
        if ($1 ~ /_sum/) s[p] += $NF; else c[p] += $NF }
      END {for (p in s) printf "%s %.6f %d\n", p, s[p], c[p]}' | sort
}

# phase_means AFTER BEFORE: "phase=mean" for each spawn phase between two novalet_phase_sums.
phase_means() {
  join -a 1 <(echo "$1") <(echo "$2") | awk 'NF >= 3 {n = $3 - ($5 + 0); if (n > 0) printf "%s=%.3f ", $1, ($2 - ($4 + 0)) / n}'
}

# op_mean AFTER BEFORE: the mean of the operations between two novalet_op_stats.
op_mean() {
  awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); n = x[2] - y[2]; if (n > 0) printf "%.3f", (x[1] - y[1]) / n}'
}

# servers_phase AGENT: the whole phase for the running agent.
servers_phase() {
  SRV_AGENT=$1
  local i ids id before dbefore pbefore round
  srv_setup
  log "$SRV_AGENT servers: warm-up create/delete (image into the cache)"
  srv_create_wait bench-warm && srv_delete_wait "$SRV_ID"
  [ "$SRV_AGENT" = novalet ] && before=$(novalet_op_stats build_and_run_instance) dbefore=$(novalet_op_stats terminate_instance) \
    pbefore=$(novalet_phase_sums)
  log "$SRV_AGENT servers: $SERVER_RUNS sequential creates and deletes"
  for ((i = 1; i <= SERVER_RUNS; i++)); do
    srv_timed "create_s_$i" srv_create_wait "bench-seq-$i"
    srv_timed "delete_s_$i" srv_delete_wait "$SRV_ID"
  done
  if [ "$SRV_AGENT" = novalet ]; then
    put novalet build_mean_s "$(op_mean "$(novalet_op_stats build_and_run_instance)" "$before")"
    put novalet delete_mean_s "$(op_mean "$(novalet_op_stats terminate_instance)" "$dbefore")"
    put novalet build_phases "$(phase_means "$(novalet_phase_sums)" "$pbefore")"
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

  log "$SRV_AGENT servers: $POWER_RUNS rounds of stop, start, soft and hard reboot, suspend, resume"
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
    # Suspend is libvirt's managed save (the guest's memory to a file), resume its restore. The
    # restored guest prints no new login prompt (console.log starts afresh with the new QEMU),
    # and none is needed: the next round's stop finds its acpid running.
    srv_timed "srv_suspend_s_$round" eval 'srv_action "$SRV_ID" "{\"suspend\": null}"; srv_wait "$SRV_ID" SUSPENDED'
    srv_timed "srv_resume_s_$round" eval 'srv_action "$SRV_ID" "{\"resume\": null}"; srv_wait "$SRV_ID" ACTIVE'
  done
  [ "$SRV_AGENT" = novalet ] && domain_floor "$SRV_ID"
  srv_cleanup
  [ "$NET_RUNS" = 0 ] || net_rounds
  [ "$IMAGE_RUNS" = 0 ] || image_rounds
  for k in create delete; do
    mapfile -t v < <(for ((i = 1; i <= SERVER_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  for k in srv_stop srv_start srv_soft_reboot srv_hard_reboot srv_suspend srv_resume; do
    mapfile -t v < <(for ((i = 1; i <= POWER_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  log "$SRV_AGENT servers: create $(get "$SRV_AGENT" create_s) s, delete $(get "$SRV_AGENT" delete_s) s (medians)"
}

# image_rounds: on one running server, IMAGE_RUNS rounds of snapshot -> image active, rebuild onto
# the other image -> ACTIVE, shelve (shelved_offload_time 0: shelve-offload) -> SHELVED_OFFLOADED,
# unshelve -> ACTIVE. The server is made from the copy first (untimed), so both images are in
# _base before the first rebuild, for both agents. The guest reaches its login prompt before each
# snapshot, rebuild and shelve (rebuild and shelve power it off cleanly: its acpid must answer).
image_rounds() {
  local round id target img k v i
  log "$SRV_AGENT servers: $IMAGE_RUNS rounds of snapshot, rebuild, shelve-offload, unshelve"
  srv_create bench-image 1 "$IMAGE2_ID"
  id=$SRV_ID
  srv_wait "$id" ACTIVE
  srv_booted "$id"
  for ((round = 1; round <= IMAGE_RUNS; round++)); do
    srv_timed "snapshot_s_$round" srv_snapshot_wait "$id" "bench-snap-$SRV_AGENT-$round"
    img_delete "$SNAP_ID"
    srv_booted "$id"
    if ((round % 2)); then target=$IMAGE_ID; else target=$IMAGE2_ID; fi
    srv_timed "rebuild_s_$round" eval 'srv_action "$id" "{\"rebuild\": {\"imageRef\": \"$target\"}}"; srv_wait "$id" ACTIVE'
    srv_booted "$id"
    srv_timed "shelve_s_$round" eval 'srv_action "$id" "{\"shelve\": null}"; srv_wait "$id" SHELVED_OFFLOADED'
    srv_timed "unshelve_s_$round" eval 'srv_action "$id" "{\"unshelve\": null}"; srv_wait "$id" ACTIVE'
    srv_booted "$id"
  done
  srv_cleanup
  # The shelve snapshots ("<name>-shelved"): the unshelve deletes each; any left is deleted here.
  img_api GET "/v2/images?name=bench-image-shelved"
  for img in $(jq -r '.images[]?.id' <<<"$API_BODY"); do
    log "WARNING: shelve snapshot $img left after the unshelve; deleting it"
    img_delete "$img"
  done
  for k in snapshot rebuild shelve unshelve; do
    mapfile -t v < <(for ((i = 1; i <= IMAGE_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  log "$SRV_AGENT servers: snapshot $(get "$SRV_AGENT" snapshot_s) s, rebuild $(get "$SRV_AGENT" rebuild_s) s," \
    "shelve-offload $(get "$SRV_AGENT" shelve_s) s, unshelve $(get "$SRV_AGENT" unshelve_s) s (medians)"
}

# domain_floor ID: virsh define + start of the same domain XML (new name and uuid, a fresh
# overlay on the same base): what libvirt and QEMU need, without any agent. Then, on the booted
# copy, what the guest, libvirt and QEMU need for the other rows, with no agent: virsh managedsave
# (suspend) and virsh start of the saved domain (resume); virsh shutdown to shut off (stop); once
# it has booted again, virsh destroy (the delete's power-off). Medians of 3.
domain_floor() {
  local base dir i uuid d v=() s=() sus=() res=() des=()
  dir=$(mktemp -d /var/tmp/novalet-bench-floor.XXXX)
  base=$(qemu-img info -U --output=json "$INSTANCES/$1/disk" | jq -r '."backing-filename"')
  for i in 1 2 3; do
    uuid=$(cat /proc/sys/kernel/random/uuid) d=bench-floor-$i
    qemu-img create -q -f qcow2 -b "$base" -F raw "$dir/disk$i" 1G
    : >"$dir/console$i.log"
    [ -f "$INSTANCES/$1/disk.config" ] && cp "$INSTANCES/$1/disk.config" "$dir/disk$i.config"
    virsh -c qemu:///system dumpxml "$1" |
      sed -e "s|<name>[^<]*</name>|<name>$d</name>|" -e "s|<uuid>[^<]*</uuid>|<uuid>$uuid</uuid>|" \
        -e "s|$INSTANCES/$1/disk|$dir/disk$i|" \
        -e "s|$INSTANCES/$1/console.log|$dir/console$i.log|" \
        -e "s|<entry name='serial'>[^<]*</entry>|<entry name='serial'>$uuid</entry>|" \
        -e "s|<entry name='uuid'>[^<]*</entry>|<entry name='uuid'>$uuid</entry>|" >"$dir/dom$i.xml"
    v+=("$(floor_timed floor_define_start "$dir/dom$i.xml" "$d")")
    floor_booted "$dir/console$i.log"
    sus+=("$(floor_timed virsh -c qemu:///system managedsave "$d")")
    res+=("$(floor_timed virsh -c qemu:///system start "$d")")
    # The stop's floor: from virsh shutdown (the ACPI power button, what both agents press
    # first) to the domain shut off, polled every 0.05 s.
    s+=("$(floor_timed floor_shutdown "$d")")
    virsh -c qemu:///system start "$d" >/dev/null 2>&1
    floor_booted "$dir/console$i.log"
    des+=("$(floor_timed virsh -c qemu:///system destroy "$d")")
    virsh -c qemu:///system destroy "$d" >/dev/null 2>&1
    virsh -c qemu:///system undefine --managed-save "$d" >/dev/null 2>&1
  done
  put novalet floor_s "$(median "${v[@]}")"
  put novalet stop_floor_s "$(median "${s[@]}")"
  put novalet suspend_floor_s "$(median "${sus[@]}")"
  put novalet resume_floor_s "$(median "${res[@]}")"
  put novalet destroy_floor_s "$(median "${des[@]}")"
  rm -rf "$dir"
}

# floor_timed CMD...: runs CMD, prints its wall time (s); a failure is logged (on stderr), the
# time still printed.
floor_timed() {
  local t0
  t0=$(now)
  "$@" >/dev/null 2>&1 || log "WARNING: floor: '$*' failed" >&2
  sub "$(now)" "$t0"
}

floor_define_start() { virsh -c qemu:///system define "$1" && virsh -c qemu:///system start "$2"; }

# floor_booted CONSOLE: until the floor copy has printed its login prompt (at most 300 s).
floor_booted() { console_ready "$1" || log "WARNING: floor copy ($1) not booted within 300 s"; }

# floor_shutdown DOMAIN: virsh shutdown, then until the domain is shut off (at most 120 s).
floor_shutdown() {
  local t0=$SECONDS
  virsh -c qemu:///system shutdown "$1" || return
  until [ "$(virsh -c qemu:///system domstate "$1" 2>/dev/null)" = "shut off" ]; do
    ((SECONDS - t0 <= 120)) || return 1
    sleep 0.05
  done
}
