# scale_measure.sh -- what scale.sh measures over a window (sourced, never run): the nodes' own
# conductor calls and Placement requests, their RabbitMQ connections, channels and queues (each
# connection traced to its process through its local port), the control plane's Placement log,
# nova-conductor's and nova-scheduler's CPU, the agents' RSS.

# calls_in LOG KIND: messages the node sent to topic conductor (calls and casts), from its debug log.
calls_in() {
  [ -f "$1" ] || { echo 0; return; }
  if [ "$2" = novalet ]; then
    grep -E '"(msg|message)": ?"CA(LL|ST)"' "$1" | grep -cE '"topic": ?"conductor"' || true
  else
    grep -cE "(CALL msg_id|CAST unique_id): [0-9a-f]+ exchange '[^']*' topic 'conductor'" "$1" || true
  fi
}

# placement_in KIND K: the Placement requests node K has made so far (novalet: its own counter,
# novalet_placement_requests_total; Debian: keystoneauth's "REQ: curl" lines to port 8778).
placement_in() {
  if [ "$1" = novalet ]; then
    curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$((METRICS_BASE + $2))/metrics" |
      awk '$1 ~ /^novalet_placement_requests_total/ {s += $2} END {printf "%d\n", s}'
  else
    grep -c 'REQ: curl .*:8778' "$WORK/nfake-$2/agent.log" 2>/dev/null || echo 0
  fi
}

# node_counters KIND COUNT: "calls placement" summed over the nodes.
node_counters() {
  local k c=0 p=0 prefix=fake
  [ "$1" = nova ] && prefix=nfake
  for ((k = 1; k <= $2; k++)); do
    c=$((c + $(calls_in "$WORK/$prefix-$k/agent.log" "$1")))
    p=$((p + $(placement_in "$1" "$k")))
  done
  echo "$c $p"
}

# rabbit_by_pid: "pid connections channels queues" for every local process connected to the
# broker. A queue counts for the process whose channel consumes it.
rabbit_by_pid() {
  local d
  d=$(mktemp -d)
  rmqctl list_connections --silent pid peer_port channels >"$d/conns" 2>/dev/null
  rmqctl list_channels --silent pid connection >"$d/chans" 2>/dev/null
  rmqctl list_consumers --silent queue_name channel_pid >"$d/cons" 2>/dev/null
  ss -tnpH state established '( dport = :5672 )' >"$d/socks"
  awk -v socks="$d/socks" -v conns="$d/conns" -v chans="$d/chans" -v cons="$d/cons" '
    FILENAME == socks {
      n = split($3, a, ":"); port = a[n]
      if (match($0, /pid=[0-9]+/)) pid[port] = substr($0, RSTART + 4, RLENGTH - 4)
      next
    }
    FILENAME == conns { p = pid[$2]; if (p == "") p = "?"; owner[$1] = p; nconn[p]++; nch[p] += $3; next }
    FILENAME == chans { chconn[$1] = $2; next }
    FILENAME == cons {
      p = owner[chconn[$2]]; if (p == "") p = "?"
      if (!((p, $1) in seen)) { seen[p, $1] = 1; nq[p]++ }
      next
    }
    END { for (p in nconn) printf "%s %d %d %d\n", p, nconn[p], nch[p], nq[p] + 0 }
  ' "$d/socks" "$d/conns" "$d/chans" "$d/cons"
  rm -rf "$d"
}

# rabbit_totals PID...: "connections channels queues" summed over the given processes, from
# rabbit_by_pid's output on stdin; RABBIT_ALL holds the broker's own totals.
rabbit_totals() {
  awk -v list="$*" 'BEGIN {n = split(list, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1}
    ($1 in want) {c += $2; h += $3; q += $4} END {printf "%d %d %d\n", c, h, q}'
}
rabbit_all() {
  echo "$(rmqctl list_connections --silent pid 2>/dev/null | wc -l) $(rmqctl list_channels --silent pid 2>/dev/null | wc -l) $(rmqctl list_queues --silent name 2>/dev/null | wc -l)"
}

# cp_pid NAME: the control-plane daemon's PID (start.sh's record).
cp_pid() { local p; read -r p _ <"$CP_PIDS/$1" 2>/dev/null && echo "$p"; }

# rss_mib PID...: the sum of VmRSS over the processes' trees, MiB.
rss_mib() {
  local p s=0
  for p in "$@"; do s=$((s + $(tree_rss_kib "$p"))); done
  awk -v k="$s" 'BEGIN {printf "%.0f", k / 1024}'
}

# window KIND COUNT PID...: measures WINDOW seconds with the KIND nodes (none, novalet, nova) and
# sets M[...] for the row: per-minute conductor calls, per-hour Placement requests, broker counts,
# control-plane CPU, RSS.
declare -A M
window() {
  local kind=$1 count=$2 c0 c1 s0 s1 l0 l1 t0 t1 cond sched el
  shift 2
  cond=$(cp_pid nova-conductor) sched=$(cp_pid nova-scheduler)
  c0=$(cpu_snapshot "$cond") s0=$(cpu_snapshot "$sched") l0=$(log_size)
  read -r n0 p0 <<<"$( [ "$kind" = none ] && echo "0 0" || node_counters "$kind" "$count")"
  t0=$(now)
  sleep "$WINDOW"
  t1=$(now)
  c1=$(cpu_snapshot "$cond") s1=$(cpu_snapshot "$sched") l1=$(log_size)
  read -r n1 p1 <<<"$( [ "$kind" = none ] && echo "0 0" || node_counters "$kind" "$count")"
  el=$(sub "$t1" "$t0")
  M[calls_min]=$(awk -v a="$n0" -v b="$n1" -v t="$el" 'BEGIN {printf "%.1f", (b - a) * 60 / t}')
  M[agent_placement_h]=$(awk -v a="$p0" -v b="$p1" -v t="$el" 'BEGIN {printf "%.0f", (b - a) * 3600 / t}')
  M[placement_h]=$(awk -v n="$(placement_requests "$l0" "$l1" | wc -l)" -v t="$el" 'BEGIN {printf "%.0f", n * 3600 / t}')
  M[cond_cpu]=$(awk -v s="$(cpu_seconds "$c0" "$c1")" -v t="$el" 'BEGIN {printf "%.1f", s * 100 / t}')
  M[sched_cpu]=$(awk -v s="$(cpu_seconds "$s0" "$s1")" -v t="$el" 'BEGIN {printf "%.1f", s * 100 / t}')
  read -r M[conns] M[chans] M[queues] <<<"$(rabbit_by_pid | rabbit_totals "$@")"
  read -r M[all_conns] M[all_chans] M[all_queues] <<<"$(rabbit_all)"
  M[rss]=0
  [ $# -gt 0 ] && M[rss]=$(rss_mib "$@")
  M[load]=$(cut -d' ' -f1-3 /proc/loadavg)
}
