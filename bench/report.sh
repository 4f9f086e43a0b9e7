# report.sh -- the tables bench/run.sh prints (sourced by run.sh, never run). Values live in the
# associative array V, keyed "agent,metric" (agent debian|novalet); every table shows Debian's
# nova-compute, novalet and the ratio Debian / novalet.

declare -A V

put() { V[$1,$2]=$3; printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WORK/data.tsv"; }
get() { echo "${V[$1,$2]:-}"; }

# ratio D N: D / N with 2 decimals; "-" when a value is missing, "inf" or "=" when N is 0.
ratio() {
  awk -v d="$1" -v n="$2" 'BEGIN {
    if (d == "" || n == "") { print "-"; exit }
    if (n + 0 == 0) { print (d + 0 == 0 ? "= (both 0)" : "inf"); exit }
    printf "%.2f", d / n }'
}

# median VALUES...: the middle value (mean of the two middle ones for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit
    if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ROW_FMT='%-34s %20s %14s %12s  %s\n'
header() { # TITLE [LEFT-COLUMN RIGHT-COLUMN]
  echo
  echo "== $1"
  printf "$ROW_FMT" "" "${2:-Debian nova-compute}" "${3:-novalet}" "ratio D/N" ""
}
row() { printf "$ROW_FMT" "$1" "$2" "$3" "$(ratio "$2" "$3")" "${4:-}"; }

# metric_table KEY TITLE NOTE: one table for a single-valued metric.
metric_table() {
  header "$2"
  row "" "$(get debian "$1")" "$(get novalet "$1")" "$3"
}

print_start_table() {
  local i
  header "start -> 'up' in openstack compute service list (s, poll every 0.5 s)"
  row "cold: libvirtd restart -> answers" "$(get debian cold_libvirtd_s)" "$(get novalet cold_libvirtd_s)" "no cached capabilities; the same for both"
  row "cold: then agent start -> up" "$(get debian cold_start_s)" "$(get novalet cold_start_s)" ">1: novalet faster"
  for ((i = 1; i <= STARTS; i++)); do row "start $i" "$(get debian "start_s_$i")" "$(get novalet "start_s_$i")"; done
  row "median" "$(get debian start_s)" "$(get novalet start_s)" ">1: novalet faster"
  header "CPU seconds from start to 'up' (process tree; extra)"
  for ((i = 1; i <= STARTS; i++)); do row "start $i" "$(get debian "start_cpu_s_$i")" "$(get novalet "start_cpu_s_$i")"; done
  row "median" "$(get debian start_cpu_s)" "$(get novalet start_cpu_s)" ">1: novalet cheaper"
}

print_idle_tables() {
  header "idle RSS ${SETTLE} s after 'up' (MiB, sum of VmRSS over the process tree)"
  row "RSS" "$(get debian rss_mib)" "$(get novalet rss_mib)" ">1: novalet smaller"
  row "PSS (shared pages split)" "$(get debian pss_mib)" "$(get novalet pss_mib)"
  row "processes in the tree" "$(get debian procs)" "$(get novalet procs)"
  row "RSS at the end of the idle window" "$(get debian rss_end_mib)" "$(get novalet rss_end_mib)"
  header "idle CPU seconds over the idle window (utime+stime of the tree, from /proc/PID/stat)"
  row "CPU seconds" "$(get debian cpu_s)" "$(get novalet cpu_s)" ">1: novalet cheaper"
  row "window (s)" "$(get debian window_s)" "$(get novalet window_s)"
  row "CPU seconds per idle hour" "$(get debian cpu_s_per_h)" "$(get novalet cpu_s_per_h)"
  header "Placement requests per idle hour (placement-api uwsgi request lines in the window, x 3600 / window)"
  row "requests in the window" "$(get debian placement_n)" "$(get novalet placement_n)"
  row "requests per idle hour" "$(get debian placement_per_h)" "$(get novalet placement_per_h)" ">1: novalet fewer"
}

# print_rpc_table FILE: the rpc benchmark's Go and Python servers, same Python client and broker.
print_rpc_table() {
  local f=$1 unit py go note
  grep -q '^BenchmarkPythonClientTrivialCall/' "$f" || { echo; echo "== RPC benchmark: no results (see its output above)"; return; }
  header "RPC: the same Python oslo.messaging client, 1000 trivial calls, 8 threads for calls/s@8" \
    "Python server" "Go server"
  echo "   (Python server = oslo.messaging, Debian's nova-compute stack; Go server = novalet's rpc package)"
  for unit in p50-ms p99-ms seq-calls/s calls/s@8; do
    py=$(bench_value "$f" python-server "$unit") go=$(bench_value "$f" go-server "$unit")
    case $unit in *-ms) note=">1: novalet faster" ;; *) note="<1: novalet faster" ;; esac
    row "$unit" "$py" "$go" "$note"
    put debian "rpc_$unit" "$py"
    put novalet "rpc_$unit" "$go"
  done
}

# bench_value FILE SUB UNIT: the value reported before UNIT on the line of sub-benchmark SUB.
bench_value() {
  awk -v sub_="$2" -v unit="$3" 'index($1, "/" sub_) { for (i = 3; i < NF; i++) if ($(i + 1) == unit) print $i }' "$1" | head -1
}

# print_servers_table: the servers phase (servers.sh), medians in seconds.
print_servers_table() {
  header "servers through the compute API, seconds (image cached, --nic none but the test_net rows; ${SERVER_RUNS} creates, ${POWER_RUNS} power rounds, ${NET_RUNS} on test_net, ${IMAGE_RUNS} image rounds)"
  row "create -> ACTIVE, median" "$(get debian create_s)" "$(get novalet create_s)" ">1: novalet better"
  row "delete -> gone, median" "$(get debian delete_s)" "$(get novalet delete_s)" ">1: novalet better"
  row "10 at once -> all ACTIVE" "$(get debian create10_s)" "$(get novalet create10_s)" ">1: novalet better"
  row "10 deletes -> all gone" "$(get debian delete10_s)" "$(get novalet delete10_s)" ">1: novalet better"
  row "stop -> SHUTOFF, median" "$(get debian srv_stop_s)" "$(get novalet srv_stop_s)" ">1: novalet better"
  row "start -> ACTIVE, median" "$(get debian srv_start_s)" "$(get novalet srv_start_s)" ">1: novalet better"
  row "soft reboot -> ACTIVE, median" "$(get debian srv_soft_reboot_s)" "$(get novalet srv_soft_reboot_s)" ">1: novalet better"
  row "hard reboot -> ACTIVE, median" "$(get debian srv_hard_reboot_s)" "$(get novalet srv_hard_reboot_s)" ">1: novalet better"
  row "suspend -> SUSPENDED, median" "$(get debian srv_suspend_s)" "$(get novalet srv_suspend_s)" ">1: novalet better"
  row "resume -> ACTIVE, median" "$(get debian srv_resume_s)" "$(get novalet srv_resume_s)" ">1: novalet better"
  if [ "$NET_RUNS" != 0 ]; then
    row "create on test_net -> ACTIVE, med." "$(get debian net_create_s)" "$(get novalet net_create_s)" ">1: novalet better"
    row "delete on test_net -> gone, med." "$(get debian net_delete_s)" "$(get novalet net_delete_s)" ">1: novalet better"
  fi
  if [ "$IMAGE_RUNS" != 0 ]; then
    echo "   (${IMAGE_RUNS} rounds on one server of snapshot, rebuild onto the other image, shelve-offload, unshelve)"
    row "snapshot -> image active, median" "$(get debian snapshot_s)" "$(get novalet snapshot_s)" ">1: novalet better"
    row "rebuild -> ACTIVE, median" "$(get debian rebuild_s)" "$(get novalet rebuild_s)" ">1: novalet better"
    row "shelve -> SHELVED_OFFLOADED, med." "$(get debian shelve_s)" "$(get novalet shelve_s)" ">1: novalet better"
    row "unshelve -> ACTIVE, median" "$(get debian unshelve_s)" "$(get novalet unshelve_s)" ">1: novalet better"
  fi
  echo
  printf '%s\n' "novalet's own build time (RPC receipt -> domain running, mean of its build histogram over the creates): $(get novalet build_mean_s) s;" \
    "the floor, virsh define + start of the same domain XML: $(get novalet floor_s) s." \
    "novalet's spawn phases (means over the same creates; the rest of its build is the conductor and Placement work around them): $(get novalet build_phases)" \
    "novalet's own delete time (RPC receipt -> instance destroyed, mean of its terminate histogram): $(get novalet delete_mean_s) s." \
    "the floors on a booted copy of the guest (virsh, no agent): the delete's power-off (virsh destroy) $(get novalet destroy_floor_s) s;" \
    "stop (virsh shutdown -> shut off) $(get novalet stop_floor_s) s; suspend (virsh managedsave) $(get novalet suspend_floor_s) s;" \
    "resume (virsh start of the saved domain) $(get novalet resume_floor_s) s."
}

print_moves_table() {
  header "moves between two nodes running the same agent (vm and $NODE2), seconds (--nic none; ${MOVE_RUNS} rounds)"
  row "cold migrate -> VERIFY_RESIZE, med." "$(get debian migrate_s)" "$(get novalet migrate_s)" ">1: novalet better"
  row "resize -> VERIFY_RESIZE, median" "$(get debian resize_s)" "$(get novalet resize_s)" ">1: novalet better"
  row "confirm -> ACTIVE, median" "$(get debian confirm_s)" "$(get novalet confirm_s)" ">1: novalet better"
  echo
}

print_summary() {
  local k
  echo
  echo "== summary (ratio = Debian nova-compute / novalet)"
  printf "$ROW_FMT" "metric" "Debian nova-compute" "novalet" "ratio D/N" ""
  row "start -> up, median (s)" "$(get debian start_s)" "$(get novalet start_s)" ">1: novalet better"
  row "cold start -> up (s)" "$(get debian cold_start_s)" "$(get novalet cold_start_s)" "after a libvirtd restart"
  row "idle RSS (MiB)" "$(get debian rss_mib)" "$(get novalet rss_mib)" ">1: novalet better"
  row "idle CPU (s over ${IDLE} s)" "$(get debian cpu_s)" "$(get novalet cpu_s)" ">1: novalet better"
  row "Placement requests / idle hour" "$(get debian placement_per_h)" "$(get novalet placement_per_h)" ">1: novalet better"
  if [ "$SERVERS" = 1 ]; then
    row "server create -> ACTIVE (s)" "$(get debian create_s)" "$(get novalet create_s)" ">1: novalet better"
    row "server delete -> gone (s)" "$(get debian delete_s)" "$(get novalet delete_s)" ">1: novalet better"
    if [ "$NET_RUNS" != 0 ]; then
      row "create on test_net -> ACTIVE (s)" "$(get debian net_create_s)" "$(get novalet net_create_s)" "flat network, port bound"
    fi
    row "10 creates -> all ACTIVE (s)" "$(get debian create10_s)" "$(get novalet create10_s)" ">1: novalet better"
    row "server stop -> SHUTOFF (s)" "$(get debian srv_stop_s)" "$(get novalet srv_stop_s)" ">1: novalet better"
    row "server start -> ACTIVE (s)" "$(get debian srv_start_s)" "$(get novalet srv_start_s)" ">1: novalet better"
    row "server resume -> ACTIVE (s)" "$(get debian srv_resume_s)" "$(get novalet srv_resume_s)" ">1: novalet better"
    row "soft / hard reboot (s)" "$(get debian srv_soft_reboot_s)" "$(get novalet srv_soft_reboot_s)" "soft; hard in the table"
    if [ "$IMAGE_RUNS" != 0 ]; then
      row "snapshot -> image active (s)" "$(get debian snapshot_s)" "$(get novalet snapshot_s)" ">1: novalet better"
      row "rebuild -> ACTIVE (s)" "$(get debian rebuild_s)" "$(get novalet rebuild_s)" ">1: novalet better"
      row "shelve-offload (s)" "$(get debian shelve_s)" "$(get novalet shelve_s)" ">1: novalet better"
      row "unshelve -> ACTIVE (s)" "$(get debian unshelve_s)" "$(get novalet unshelve_s)" ">1: novalet better"
    fi
  fi
  if [ "$MOVES" = 1 ]; then
    row "cold migrate -> VERIFY_RESIZE (s)" "$(get debian migrate_s)" "$(get novalet migrate_s)" "both nodes one agent"
    row "resize -> VERIFY_RESIZE (s)" "$(get debian resize_s)" "$(get novalet resize_s)" ">1: novalet better"
    row "confirm -> ACTIVE (s)" "$(get debian confirm_s)" "$(get novalet confirm_s)" ">1: novalet better"
  fi
  [ "$RPC" = 1 ] || return 0
  for k in p50-ms p99-ms; do
    row "RPC $k (Python / Go server)" "$(get debian "rpc_$k")" "$(get novalet "rpc_$k")" ">1: novalet better"
  done
  for k in seq-calls/s calls/s@8; do
    row "RPC $k (Python / Go server)" "$(get debian "rpc_$k")" "$(get novalet "rpc_$k")" "<1: novalet better"
  done
}
