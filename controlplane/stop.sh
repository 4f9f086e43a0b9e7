#!/bin/bash
# stop.sh [NAME...] -- stop what start.sh (or install) launched, and nothing else.
#
#   stop.sh                  every recorded service
#   stop.sh nova-compute     only those named (names as in $CP_STATE/pids, see status.sh)
#
# For each service: the recorded PID (checked against its recorded kernel start time) gets
# SIGTERM, then SIGKILL after a deadline. Then the helpers it spawned get the same treatment:
#   * every process still in its session (start.sh gives each service its own, so this is the
#     uwsgi/oslo workers, sudo + rootwrap daemons, oslo.privsep daemons, which do not setsid);
#   * the DHCP agent's dnsmasq and haproxy, which daemonize into their own session: found through
#     the pid files the agent keeps under /var/lib/neutron, and only if they started after it.
# Never touched: scripts/parts.sh's RabbitMQ and libvirtd/virtlogd, and libvirt guests (a stopped
# nova-compute leaves its guests running, as on any compute node).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# session_members SID: "pid starttime" of every process in session SID except SID itself
session_members() {
  local p
  for p in $(ps -eo pid=,sid= | awk -v s="$1" '$2 == s && $1 != s {print $1}'); do
    echo "$p $(starttime "$p")"
  done
}

# neutron_helpers SINCE: "pid starttime" of dnsmasq/haproxy started at or after tick SINCE
neutron_helpers() {
  local f p st
  for f in /var/lib/neutron/dhcp/*/pid /var/lib/neutron/external/pids/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] || continue
    st=$(starttime "$p") || continue
    [ "$st" -ge "$1" ] || continue
    case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
    *dnsmasq*/var/lib/neutron/* | *haproxy*/var/lib/neutron/*) echo "$p $st" ;;
    esac
  done
}

stop_one() {
  local name=$1 pid st helpers=()
  if ! pid=$(owned "$name"); then
    rm -f "$CP_PIDS/$name"
    return 0
  fi
  st=$(starttime "$pid")
  # snapshot the helpers while the leader still runs (pid files may vanish as it exits)
  # (the DHCP agent spawns dnsmasq, and haproxy for isolated metadata; no other agent here does)
  mapfile -t helpers < <(session_members "$pid"; [ "$name" != neutron-dhcp-agent ] || neutron_helpers "$st")
  end_all "$name" "$pid $st"
  # whatever the service did not take down with it (privsep daemons, dnsmasq, ...)
  mapfile -t helpers < <(for h in "${helpers[@]+"${helpers[@]}"}"; do alive_as $h && echo "$h"; done)
  if [ ${#helpers[@]} -gt 0 ]; then
    log "stopping ${#helpers[@]} leftover helper(s) of $name: $(for h in "${helpers[@]}"; do
      p=${h%% *}; printf '%s(%s) ' "$p" "$(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-40)"; done)"
    end_all "$name helpers" "${helpers[@]}"
  fi
  rm -f "$CP_PIDS/$name" "$CP_STATE/ready/$name"
  log "stopped $name (pid $pid)"
}

[ -d "$CP_PIDS" ] || { log "nothing recorded in $CP_PIDS"; exit 0; }
if [ $# -gt 0 ]; then
  names=("$@")
else
  mapfile -t names < <(for f in "$CP_PIDS"/*; do [ -f "$f" ] && echo "${f##*/}"; done)
fi
# Services in parallel (a graceful oslo shutdown takes 1-7 s each), then the database and the
# cache they use, so that nothing loses MariaDB in the middle of its shutdown.
infra=()
for n in "${names[@]+"${names[@]}"}"; do
  [ -f "$CP_PIDS/$n" ] || { log "$n: not recorded, nothing to stop"; continue; }
  case $n in
  mariadb | memcached) infra+=("$n") ;;
  *) stop_one "$n" & ;;
  esac
done
wait
for n in "${infra[@]+"${infra[@]}"}"; do stop_one "$n"; done
exit 0
