#!/bin/bash
# status.sh -- one line per recorded control-plane service: PID, uptime, memory (the service and
# every process of its session: workers, privsep/rootwrap daemons), whether it answers now.
# Then the parts from scripts/parts.sh and the provider link. Exit 0 when every recorded service
# runs and answers, 1 otherwise (2 when nothing is recorded).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$CP_DIR/services.sh"

[ -d "$CP_PIDS" ] && [ -n "$(ls -A "$CP_PIDS" 2>/dev/null)" ] || { echo "nothing recorded in $CP_PIDS (not started)"; exit 2; }

rc=0
printf '%-26s %7s %9s %8s %6s %-8s %s\n' SERVICE PID UPTIME RSS_MiB PROCS ANSWERS "LAUNCH->READY"
mapfile -t names < <(for f in "$CP_PIDS"/*; do echo "$(awk '{print $3}' "$f") ${f##*/}"; done | sort -n | awk '{print $2}')
for n in "${names[@]}"; do
  read -r rec_pid _ <"$CP_PIDS/$n"
  if ! pid=$(owned "$n"); then
    printf '%-26s %7s %9s\n' "$n" "$rec_pid" DEAD
    rc=1
    continue
  fi
  up=$(ps -o etimes= -p "$pid" | tr -d ' ')
  # session members: the service's own workers and helpers (start.sh gave it its own session)
  read -r procs rss < <(ps -eo sid=,rss= | awk -v s="$pid" '$1 == s {n++; r += $2} END {printf "%d %.0f\n", n, r / 1024}')
  answers=yes
  "ready_$n" || { answers=NO; rc=1; }
  ready=-
  [ -f "$CP_STATE/ready/$n" ] && ready="$(cat "$CP_STATE/ready/$n")s"
  printf '%-26s %7s %8ss %8s %6s %-8s %s\n' "$n" "$pid" "$up" "$rss" "$procs" "$answers" "$ready"
done

echo
"$PARTS" status | sed 's/^/parts.sh: /'
if ip link show "$PROVIDER_IF" >/dev/null 2>&1; then
  echo "provider link: $PROVIDER_IF ($(ip -br link show "$PROVIDER_IF" | awk '{print $2}'), master $(ip -o link show "$PROVIDER_IF" | grep -o 'master [^ ]*' | cut -d' ' -f2 || echo none))"
else
  echo "provider link: $PROVIDER_IF missing (start.sh creates it)"
fi
extra=$(ps -eo pid=,cmd= | awk '/[d]nsmasq .*\/var\/lib\/neutron/ {print $1}' | tr '\n' ' ')
[ -n "$extra" ] && echo "neutron dnsmasq (own session): $extra"
exit $rc
