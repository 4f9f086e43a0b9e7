# moves.sh -- the moves phase of run.sh (sourced, never run): cold migration, resize and their
# confirm between two nodes that run the same agent, host vm (the agent under measure) and vm2
# (controlplane/node.sh, started for the phase with the same agent: Debian's nova-compute beside
# Debian's, novalet beside novalet). Times are taken as in servers.sh, through the compute API
# with curl, from the request to the first poll that sees the end state.
#
# Each of BENCH_MOVE_RUNS rounds (default 3) makes two servers on vm (test_flavor, --nic none):
#   the first is migrated to vm2 (host given, microversion 2.56) -> VERIFY_RESIZE, confirmed ->
#   ACTIVE, deleted; the second is resized to a 384 MiB flavor (vm disabled in the scheduler for
#   the request, so it goes to vm2) -> VERIFY_RESIZE, confirmed -> ACTIVE, deleted.
# Every move starts on vm: nova-api's check that the source host is up (check_instance_host)
# reads instance.services, a join that keeps soft-deleted service rows of the host, and with the
# rows an earlier vm2 left behind (each decommission leaves one) it took one of those and refused
# a resize from vm2 as "Service is unavailable at this time" (2026-12-06).
# The guest reaches its login prompt before each move: both agents power it off cleanly, and a
# guest that has not booted yet would make either wait for its shutdown timeout.
# BENCH_MOVES=0 skips the phase.

MOVES=${BENCH_MOVES:-1}
MOVE_RUNS=${BENCH_MOVE_RUNS:-3}
NODE2=vm2
NODE2_UP=       # set while the phase's vm2 runs
VM_DISABLED=    # set while vm is disabled in the scheduler
MOVE_FLAVOR=    # the resize's other flavor (bench-move-<stamp>), deleted at the end

node2() { NOVALET_BIN=$REPO/bin/novalet bash "$REPO/controlplane/node.sh" "$@" >>"$WORK/node2.log" 2>&1; }

# moves_node_stop: vm2 stops and is decommissioned as an operator would (the service delete
# removes the node, its resource provider and its host mapping), so vm stands alone again.
moves_node_stop() {
  local id
  [ -n "$NODE2_UP" ] || return 0
  node2 stop "$NODE2" || log "WARNING: node.sh stop $NODE2 failed; see $WORK/node2.log"
  for id in $(openstack compute service list --service nova-compute --host "$NODE2" -f value -c ID 2>/dev/null); do
    openstack compute service delete "$id" >/dev/null 2>&1 || log "WARNING: could not delete compute service $id ($NODE2)"
  done
  NODE2_UP=
}

moves_cleanup() {
  # vm is disabled in the scheduler during each resize: never leave it so.
  [ -z "$VM_DISABLED" ] || set_status enabled vm
  moves_node_stop
  [ -z "$MOVE_FLAVOR" ] || openstack flavor delete "$MOVE_FLAVOR" >/dev/null 2>&1 || true
}

# move_server NAME: a new server on vm (test_flavor, no NIC), ACTIVE and booted; MOVE_ID.
move_server() {
  srv_create "$1" 1 "" '{"availability_zone": "nova:vm"}'
  MOVE_ID=$SRV_ID
  srv_wait "$MOVE_ID" ACTIVE
  srv_booted "$MOVE_ID"
}

# moves_phase AGENT: the whole phase while AGENT runs on vm.
moves_phase() {
  SRV_AGENT=$1
  local nagent=novalet round id k v i
  [ "$MOVES" = 1 ] && [ "$MOVE_RUNS" -gt 0 ] || return 0
  [ "$1" = debian ] && nagent=nova-compute
  nova_login || die "no token for the moves phase"
  srv_setup
  if [ -z "$MOVE_FLAVOR" ]; then
    MOVE_FLAVOR=$(openstack flavor create --vcpus 1 --ram 384 --disk 1 "bench-move-$STAMP" -f value -c id) ||
      die "flavor create bench-move-$STAMP failed"
  fi
  log "$SRV_AGENT moves: node.sh start $NODE2 --agent $nagent"
  node2 stop "$NODE2" || true
  NODE2_UP=1
  node2 start "$NODE2" --agent "$nagent" || die "node.sh start $NODE2 --agent $nagent failed; see $WORK/node2.log"
  log "$SRV_AGENT moves: $MOVE_RUNS rounds of migrate vm -> $NODE2 + confirm, resize vm -> $NODE2 + confirm"
  for ((round = 1; round <= MOVE_RUNS; round++)); do
    move_server "bench-move-$round"
    id=$MOVE_ID
    srv_timed "migrate_s_$round" eval 'srv_action "$id" "{\"migrate\": {\"host\": \"$NODE2\"}}"; srv_wait "$id" VERIFY_RESIZE'
    srv_host "$id" "$NODE2"
    srv_timed "confirm_s_$((2 * round - 1))" eval 'srv_action "$id" "{\"confirmResize\": null}"; srv_wait "$id" ACTIVE'
    srv_delete_wait "$id"
    move_server "bench-resize-$round"
    id=$MOVE_ID
    VM_DISABLED=1
    set_status disabled vm
    srv_timed "resize_s_$round" eval 'srv_action "$id" "{\"resize\": {\"flavorRef\": \"$MOVE_FLAVOR\"}}"; srv_wait "$id" VERIFY_RESIZE'
    set_status enabled vm
    VM_DISABLED=
    srv_host "$id" "$NODE2"
    srv_timed "confirm_s_$((2 * round))" eval 'srv_action "$id" "{\"confirmResize\": null}"; srv_wait "$id" ACTIVE'
    srv_delete_wait "$id"
  done
  srv_cleanup
  moves_node_stop
  for k in migrate resize; do
    mapfile -t v < <(for ((i = 1; i <= MOVE_RUNS; i++)); do get "$SRV_AGENT" "${k}_s_$i"; done)
    put "$SRV_AGENT" "${k}_s" "$(median "${v[@]}")"
  done
  mapfile -t v < <(for ((i = 1; i <= 2 * MOVE_RUNS; i++)); do get "$SRV_AGENT" "confirm_s_$i"; done)
  put "$SRV_AGENT" confirm_s "$(median "${v[@]}")"
  log "$SRV_AGENT moves: migrate $(get "$SRV_AGENT" migrate_s) s, resize $(get "$SRV_AGENT" resize_s) s," \
    "confirm $(get "$SRV_AGENT" confirm_s) s (medians)"
}

# srv_host ID HOST: the server is on HOST (a move that landed elsewhere fails the run).
srv_host() {
  api GET "/servers/$1"
  local h
  h=$(jq -r '.server["OS-EXT-SRV-ATTR:host"] // empty' <<<"$API_BODY")
  [ "$h" = "$2" ] || die "server $1 is on '$h', want $2"
}
