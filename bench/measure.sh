# measure.sh -- how bench/run.sh measures: process trees from /proc, the compute service's state
# from the Nova API, requests from placement's uwsgi log (sourced by run.sh, never run).

CLK_TCK=$(getconf CLK_TCK)

now() { date +%s.%3N; }
# sub A B: A - B with 3 decimals
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a - b}'; }

# stat_rest PID: /proc/PID/stat from field 3 (state) on; the comm before it may contain spaces.
stat_rest() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  echo "${s##*) }"
}

# tree PID: PID, its descendants, and every other process of its session (both agents are started
# as session leaders; Debian's oslo.privsep daemons are started through sudo and may be re-parented,
# but they stay in the session, and stop.sh ends them as part of nova-compute).
tree() {
  ps -eo pid=,ppid=,sid= | awk -v root="$1" '
    { ppid[$1] = $2; sid[$1] = $3 }
    END {
      if (!(root in ppid)) exit
      t[root] = 1
      for (grew = 1; grew;) { grew = 0; for (p in ppid) if (!(p in t) && (ppid[p] in t)) { t[p] = 1; grew = 1 } }
      for (p in sid) if (sid[p] == root) t[p] = 1
      for (p in t) print p
    }'
}

# tree_rss_kib PID: the sum of VmRSS over the tree (KiB). Shared pages count once per process, as
# `ps` and `top` show them; tree_pss_kib is the proportional share, for comparison.
tree_rss_kib() {
  local p sum=0 v
  for p in $(tree "$1"); do
    v=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
tree_pss_kib() {
  local p sum=0 v
  for p in $(tree "$1"); do
    v=$(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
tree_procs() { tree "$1" | wc -l; }

# cpu_snapshot PID: one line per tree member, "pid:starttime ticks", ticks = utime + stime +
# cutime + cstime (the children's part covers helpers that ran and were reaped, e.g. sudo).
cpu_snapshot() {
  local p r
  for p in $(tree "$1"); do
    r=$(stat_rest "$p") || continue
    awk -v p="$p" '{print p ":" $20, $12 + $13 + $14 + $15}' <<<"$r"
  done
}

# cpu_seconds SNAP0 SNAP1: CPU seconds the tree used between two snapshots (a process that started
# in between counts whole; one that ended in between is lost unless its parent reaped it).
cpu_seconds() {
  awk -v hz="$CLK_TCK" 'NR == FNR {t0[$1] = $2; next} {d += $2 - ($1 in t0 ? t0[$1] : 0)} END {printf "%.2f", d / hz}' \
    <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# ---- the Nova API: what `openstack compute service list` shows ---------------------------------
# One curl per poll instead of the CLI: the CLI spends ~2 s of CPU starting Python, which would
# blur a 0.5 s poll and take a core from the agent being timed. Same API, same admin credentials.

NOVA_URL=
GLANCE_URL=
TOKEN=

# nova_login: a token for admin-openrc's user and the compute (and image) endpoints from its catalog.
nova_login() {
  local body hdr
  body=$(mktemp) hdr=$(mktemp)
  jq -n --arg u "$OS_USERNAME" --arg p "$OS_PASSWORD" --arg ud "$OS_USER_DOMAIN_NAME" \
    --arg pr "$OS_PROJECT_NAME" --arg pd "$OS_PROJECT_DOMAIN_NAME" \
    '{auth: {identity: {methods: ["password"], password: {user: {name: $u, domain: {name: $ud}, password: $p}}},
      scope: {project: {name: $pr, domain: {name: $pd}}}}}' |
    curl -s --noproxy '*' --max-time 30 -D "$hdr" -o "$body" -H 'Content-Type: application/json' \
      -d @- "$OS_AUTH_URL/auth/tokens" || { rm -f "$body" "$hdr"; return 1; }
  TOKEN=$(awk 'tolower($1) == "x-subject-token:" {print $2}' "$hdr" | tr -d '\r')
  NOVA_URL=$(jq -r --arg r "$OS_REGION_NAME" '.token.catalog[] | select(.type == "compute") | .endpoints[]
    | select(.interface == "public" and .region == $r) | .url' "$body" | head -1)
  GLANCE_URL=$(jq -r --arg r "$OS_REGION_NAME" '.token.catalog[] | select(.type == "image") | .endpoints[]
    | select(.interface == "public" and .region == $r) | .url' "$body" | head -1)
  rm -f "$body" "$hdr"
  [ -n "$TOKEN" ] && [ -n "$NOVA_URL" ]
}

# service_state: "up", "down" or "" (no row, API error) for nova-compute on $HOST. Logs in again
# once when the token has expired.
service_state() {
  local out code
  for _ in 1 2; do
    out=$(curl -s --noproxy '*' --max-time 5 -w '\n%{http_code}' -H "X-Auth-Token: $TOKEN" \
      "$NOVA_URL/os-services?binary=nova-compute&host=$HOST") || return 0
    code=${out##*$'\n'}
    if [ "$code" = 401 ]; then nova_login || return 0; continue; fi
    [ "$code" = 200 ] && jq -r '.services[0].state // empty' <<<"${out%$'\n'*}"
    return 0
  done
}

# ---- placement's request log -----------------------------------------------------------------
# uwsgi writes one line per request it served: "[pid: N|app: 0|req: a/b] 127.0.0.1 () {...}
# [date] METHOD URI => generated ...". The window is taken by byte offsets, not timestamps.

log_size() { stat -c %s "$PLACEMENT_LOG"; }

# placement_requests FROM TO: the uwsgi request lines written between two offsets.
placement_requests() {
  tail -c +"$(($1 + 1))" "$PLACEMENT_LOG" | head -c "$(($2 - $1))" | grep -E '^\[pid: [0-9]+\|app: ' || true
}

# request_kinds: "count METHOD path" with UUIDs folded and query strings dropped.
request_kinds() {
  sed -E 's/.*\] ([A-Z]+) ([^ ?]*)[^ ]* => .*/\1 \2/; s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/{uuid}/g' |
    sort | uniq -c | sort -rn
}
