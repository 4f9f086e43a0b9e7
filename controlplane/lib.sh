# lib.sh -- settings and helpers shared by the controlplane scripts (sourced, never run).
#
# The control plane is Debian 12's OpenStack Zed, shaped like the reference two-node install
# (/work/shared/reference) but with 'controller' and the compute host both on 127.0.0.1.
# No systemd here (PID 1 is something else), so every daemon is started by hand, as its Debian
# system user, and recorded under $CP_STATE/pids so that stop.sh ends exactly those processes.

CP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CP_DIR/.." && pwd)
PARTS=$REPO_DIR/scripts/parts.sh

CP_STATE=${NOVALET_CP_DIR:-/var/tmp/novalet-controlplane}
CP_PIDS=$CP_STATE/pids
CP_LOG=${NOVALET_CP_LOG:-/var/log/novalet-controlplane}

# The reference install's names and secrets (one password everywhere, as the operator chose).
PW=000000
REGION=RegionOne
SERVICE_PROJECT=project
MY_IP=127.0.0.1
COMPUTE_HOST=$(hostname) # nova's default [DEFAULT]host; neutron agents and libvirt agree on it
NOVA_CONTROLLER_CONF=/etc/nova/nova-controller.conf

# allow_resize_to_same_host: [DEFAULT] of nova-controller.conf (nova-api decides whether the
# scheduler may pick the instance's own host for a resize). $ALLOW_RESIZE_TO_SAME_HOST (true or
# false; start.sh --allow-resize-to-same-host[=true|false] sets it) wins; otherwise the value
# already in the file stays, so a later install.sh does not undo the choice; nova's default false.
allow_resize_to_same_host() {
  local v=${ALLOW_RESIZE_TO_SAME_HOST:-}
  if [ -z "$v" ]; then
    v=$(sed -n -E 's/^allow_resize_to_same_host *= *(true|false) *$/\1/p' "$NOVA_CONTROLLER_CONF" 2>/dev/null | head -1)
  fi
  case ${v:-false} in
  true | True | 1 | yes) echo true ;;
  false | False | 0 | no) echo false ;;
  *) die "ALLOW_RESIZE_TO_SAME_HOST must be true or false (got '$v')" ;;
  esac
}

# Physnet 'provider' is one end of a veth pair: this kernel has no dummy module (no /lib/modules).
PROVIDER_IF=vprov0
PROVIDER_PEER=vprov1

# The broker scripts/parts.sh runs; we only add the reference's user to it.
PARTS_STATE=${NOVALET_PARTS_DIR:-/var/tmp/novalet-parts}
RMQ_NODE=rabbit@localhost
RMQ_USER=rabbitmq

# Clean environment for the services: no pyenv shims (Debian's code needs /usr/bin/python3 and its
# dist-packages), no proxies (everything is on loopback).
SVC_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$SVC_PATH:$PATH
export no_proxy=controller,localhost,127.0.0.1,$COMPUTE_HOST
export NO_PROXY=$no_proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
export DEBIAN_FRONTEND=noninteractive

log() { echo "[$(date +%H:%M:%S)] controlplane: $*"; }
die() { echo "[$(date +%H:%M:%S)] controlplane: ERROR: $*" >&2; exit 1; }

# now: seconds since the epoch with milliseconds; since T0: elapsed seconds, 1 decimal.
now() { date +%s.%3N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}'; }

# ---- PID bookkeeping (as parts.sh: PID + kernel start time, so a reused PID is never ours) ------

. "$REPO_DIR/scripts/pids.sh"
record() { pid_record "$CP_PIDS/$1" "$2" "$(now)"; } # NAME PID: "pid starttime epoch-seconds-at-launch"
owned() { pid_owned "$CP_PIDS/$1"; }                 # NAME: prints the PID if that very process is alive

# ---- stopping recorded processes (stop.sh, node.sh) ----------------------------------------------
STOP_DEADLINE=${STOP_DEADLINE:-30}

# alive_as PID STARTTIME: that very process still exists and is not a zombie
alive_as() { [ "$(starttime "$1" 2>/dev/null)" = "$2" ] && [ "$(proc_state "$1")" != Z ]; }

# end_all LABEL "pid starttime"...: TERM all, wait up to STOP_DEADLINE, KILL the rest.
end_all() {
  local label=$1 i p st left
  shift
  [ $# -gt 0 ] || return 0
  for i in "$@"; do read -r p st <<<"$i"; alive_as "$p" "$st" && kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < STOP_DEADLINE * 10; i++)); do
    left=0
    for p in "$@"; do alive_as $p && left=1 && break; done # $p is "pid starttime": split on purpose
    [ $left = 0 ] && break
    sleep 0.1
  done
  for i in "$@"; do
    read -r p st <<<"$i"
    if alive_as "$p" "$st"; then
      log "$label: pid $p ignored SIGTERM for ${STOP_DEADLINE}s, sending SIGKILL"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
}

LAUNCHED=() # names launched by this invocation

# launch NAME USER CMD...: run CMD in its own session as USER, stdout+stderr to $CP_LOG/NAME.log.
# setsid, env and setpriv all exec, so the recorded PID is the daemon itself (no su/sudo wrapper
# in between); setsid does not fork because a script's background job is no process-group leader
# (no job control). A NAME already running is left alone.
launch() {
  local name=$1 user=$2 home pid
  shift 2
  if pid=$(owned "$name"); then
    log "$name already running (pid $pid)"
    return 0
  fi
  mkdir -p "$CP_LOG"
  home=$(getent passwd "$user" | cut -d: -f6)
  echo "==== $(date '+%F %T') start: $*" >>"$CP_LOG/$name.log"
  # In a subshell that first closes every inherited descriptor above 2 (our lock's, and any a
  # caller holds: the fault suite's start.sh runs under the e2e lock); exec keeps $! the daemon.
  (
    close_inherited_fds
    exec setsid env -i PATH="$SVC_PATH" LANG=C.UTF-8 HOME="$home" USER="$user" LOGNAME="$user" \
      no_proxy="$no_proxy" \
      setpriv --reuid="$user" --regid="$user" --init-groups -- "$@" \
      >>"$CP_LOG/$name.log" 2>&1 </dev/null
  ) &
  record "$name" $!
  LAUNCHED+=("$name")
  log "launched $name (pid $!, user $user)"
}

# ---- readiness probes (each one bounded) ---------------------------------------------------------

tcp_open() { timeout 3 bash -c ": </dev/tcp/$1/$2" 2>/dev/null; }

# ---- parts.sh's broker ---------------------------------------------------------------------------

# rmqctl ARGS...: rabbitmqctl against parts.sh's node, with the environment parts.sh gives it
# (HOME holds the Erlang cookie; the env file holds the node name).
rmqctl() {
  local d=$PARTS_STATE/rabbitmq
  timeout 90 env HOME="$d" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" RABBITMQ_NODENAME="$RMQ_NODE" \
    /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RMQ_NODE" "$@"
}

# ensure_rabbit_user: the reference's transport_url user, full rights on vhost "/". Idempotent.
ensure_rabbit_user() {
  if ! rmqctl list_users --silent | awk '{print $1}' | grep -qx "$RMQ_USER"; then
    rmqctl add_user "$RMQ_USER" "$PW" >/dev/null
    log "rabbitmq user $RMQ_USER added"
  fi
  rmqctl set_permissions -p / "$RMQ_USER" '.*' '.*' '.*' >/dev/null
}

# ---- command-line helpers ------------------------------------------------------------------------

# as USER CMD...: run a one-shot command as a service user (db syncs, nova-manage).
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- env HOME="$(getent passwd "$u" | cut -d: -f6)" "$@"; }

# nova_manage ARGS...: nova-manage with the controller's options (the DB connections live in
# $NOVA_CONTROLLER_CONF, not in the compute-shaped /etc/nova/nova.conf).
nova_manage() { as nova nova-manage --config-file /etc/nova/nova.conf --config-file "$NOVA_CONTROLLER_CONF" "$@"; }

# db QUERY [DB]: one SQL query as MariaDB's root (unix socket auth), tab-separated, no header.
db() { timeout 30 mysql -N -B -uroot ${2:+"$2"} -e "$1"; }

openrc() { . "$CP_DIR/admin-openrc"; }

# ---- configuration files (install-config*.sh) -------------------------------------------------

CHANGED=()
# put FILE OWNER:GROUP MODE < content: write FILE only if its content differs (keeping the
# package's original once as FILE.novalet-orig), and remember it in CHANGED.
put() {
  local f=$1 owner=$2 mode=$3 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; return 0; fi
  [ -f "$f" ] && [ ! -f "$f.novalet-orig" ] && cp -a "$f" "$f.novalet-orig"
  mkdir -p "$(dirname "$f")"
  install -o "${owner%:*}" -g "${owner#*:}" -m "$mode" "$tmp" "$f"
  rm -f "$tmp"
  CHANGED+=("$f")
}

# report_changes: running services only see a changed file after a restart, so say which changed.
report_changes() {
  if [ ${#CHANGED[@]} -gt 0 ]; then
    log "changed: ${CHANGED[*]}"
    log "(services already running keep their old configuration until restarted)"
  else
    log "$(basename "$0"): configuration unchanged"
  fi
}

# ks_auth USER: the keystoneauth 'password' plugin lines every service-user section repeats.
ks_auth() {
  printf '%s\n' "auth_url = http://controller:5000" "auth_type = password" \
    "project_domain_name = Default" "user_domain_name = Default" \
    "project_name = $SERVICE_PROJECT" "username = $1" "password = $PW"
}
