#!/bin/bash
# parts.sh start|stop|status|restart-libvirtd|stop-libvirtd|start-libvirtd -- the real parts component tests run against,
# started by hand.
#
#   RabbitMQ   127.0.0.1:5672, user novalet / novalet-test with ".*" ".*" ".*" on vhost "/".
#              Debian's /usr/lib/rabbitmq/bin/rabbitmq-server runs in the background as root with
#              every path (config, cookie, mnesia, logs) under $STATE/rabbitmq; Erlang distribution
#              and epmd listen on 127.0.0.1 only.
#   libvirtd   system mode (qemu:///system) with virtlogd, which libvirt needs to start any domain
#              (QEMU's stdio and the <serial><log file=...> console log go through it). Group
#              libvirt may use its sockets without polkit (see configure_libvirtd), so that Debian's
#              nova-compute, which runs as user nova, can sit beside novalet for comparisons.
#
# `restart-libvirtd` restarts only the libvirtd parts.sh started (config changes take effect; the
# broker, virtlogd and running guests stay up). `stop-libvirtd` and `start-libvirtd` do its two
# halves, for a test of libvirtd going away for a while (e2e TestLibvirtdRestart, which holds the
# e2e lock meanwhile: every component test that uses qemu:///system fails during the outage).
#
# Why by hand: the machines we run on have no systemd as PID 1, and Debian's policy-rc.d forbids
# apt from starting services.
#
# Ownership: `start` records the PID (and kernel start time, against PID reuse) of every process it
# launches under $STATE/pids; `stop` ends exactly those and nothing else. A part that is already
# running and answering is left alone and not recorded, so `stop` will not touch it either.
# `start` is idempotent; a flock serialises concurrent runs.
#
# Environment: NOVALET_PARTS_DIR (state dir, default /var/tmp/novalet-parts).
set -euo pipefail

STATE=${NOVALET_PARTS_DIR:-/var/tmp/novalet-parts}
PIDS=$STATE/pids
RMQ_DIR=$STATE/rabbitmq
LV_DIR=$STATE/libvirt

RMQ_NODE=rabbit@localhost
RMQ_PORT=5672
RMQ_DIST_PORT=25672
RMQ_USER=novalet
RMQ_PASS=novalet-test
RMQ_BIN=/usr/lib/rabbitmq/bin

LV_URI=qemu:///system
LV_SOCK=/run/libvirt/libvirt-sock
VIRTLOGD_SOCK=/run/libvirt/virtlogd-sock
QEMU_CONF=/etc/libvirt/qemu.conf
LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf

# Deadlines (seconds). libvirtd's cold start probes every qemu-system-* binary before it answers
# (8 s with x86 only on an idle machine, ~50 s with all emulators installed), so be generous.
LIBVIRTD_DEADLINE=${LIBVIRTD_DEADLINE:-180}
RABBITMQ_DEADLINE=${RABBITMQ_DEADLINE:-180}
STOP_DEADLINE=30

log() { echo "parts: $*"; }
die() { echo "parts: $*" >&2; exit 1; }

# ---- PID bookkeeping --------------------------------------------------------------------------

. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
record() { pid_record "$PIDS/$1" "$2"; } # NAME PID
owned() { pid_owned "$PIDS/$1"; }        # NAME: prints the PID if that very process is alive

# end_owned NAME: SIGTERM the recorded process, wait, SIGKILL after STOP_DEADLINE; forget it.
end_owned() {
  local name=$1 pid i
  if pid=$(owned "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_DEADLINE * 10; i++)); do
      owned "$name" >/dev/null || break
      sleep 0.1
    done
    if owned "$name" >/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for ${STOP_DEADLINE}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$PIDS/$name"
}

# ---- probes (each bounded by `timeout`) -------------------------------------------------------

# whose NAME: " (started by parts.sh, pid N)" or ", not ours", for log lines.
whose() {
  local pid
  if pid=$(owned "$1"); then echo " (started by parts.sh earlier, pid $pid)"; else echo ", not ours"; fi
}

tcp_open() { timeout 3 bash -c ": </dev/tcp/$1/$2" 2>/dev/null; }

# Environment shared by rabbitmq-server and rabbitmqctl: rabbitmqctl finds the node's Erlang
# cookie in $HOME, so both must agree on it.
rmq_env=(
  HOME="$RMQ_DIR"
  RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
  RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq"
  RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
  RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
  RABBITMQ_LOG_BASE="$RMQ_DIR/log"
  RABBITMQ_PID_FILE="$RMQ_DIR/rabbit.pid"
  RABBITMQ_NODENAME="$RMQ_NODE"
  ERL_EPMD_ADDRESS=127.0.0.1 # read by the epmd that erl starts, so it binds loopback only
)
rmqctl() { # [timeout-seconds] args...: rabbitmqctl against our node
  local t=60
  if [[ $1 =~ ^[0-9]+$ ]]; then t=$1; shift; fi
  timeout "$t" env "${rmq_env[@]}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"
}

rabbitmq_answers() { tcp_open 127.0.0.1 "$RMQ_PORT" && rmqctl 20 ping >/dev/null 2>&1; }
libvirtd_answers() { [ -S "$LV_SOCK" ] && timeout 20 virsh -c "$LV_URI" version >/dev/null 2>&1; }
virtlogd_running() {
  local pid
  [ -S "$VIRTLOGD_SOCK" ] && pid=$(cat /run/virtlogd.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# ---- libvirt ----------------------------------------------------------------------------------

# setconf FILE KEY VALUE: set "KEY = VALUE", replacing the first "KEY =" or "#KEY =" line; returns
# 0 when the file changed. libvirt's config parser takes the first setting of a key, so "already
# set" means the first uncommented KEY line is exactly ours.
setconf() {
  local f=$1 k=$2 v=$3
  [ "$(grep -m1 -E "^\s*$k\s*=" "$f")" = "$k = $v" ] && return 1
  if grep -qE "^#?\s*$k\s*=" "$f"; then
    sed -i -E "0,/^#?\s*$k\s*=.*/s||$k = $v|" "$f"
  else
    echo "$k = $v" >> "$f"
  fi
}

# configure_libvirt: the qemu.conf settings tests rely on. Prints whether anything changed.
#   user/group root   no chown of the image cache's base files to libvirt-qemu (images live in
#                     t.TempDir() and /var/tmp, which libvirt-qemu may not traverse)
#   vnc_listen        nova's [vnc] server_listen is 0.0.0.0 on our hosts
# and no autostarted libvirt network: the default one would add virbr0 + a dnsmasq that nova
# never uses.
configure_libvirt() {
  local changed=0
  [ -f "$QEMU_CONF.novalet-orig" ] || cp -a "$QEMU_CONF" "$QEMU_CONF.novalet-orig"
  setconf "$QEMU_CONF" user '"root"' && changed=1
  setconf "$QEMU_CONF" group '"root"' && changed=1
  setconf "$QEMU_CONF" vnc_listen '"0.0.0.0"' && changed=1
  if compgen -G '/etc/libvirt/qemu/networks/autostart/*.xml' >/dev/null; then
    rm -f /etc/libvirt/qemu/networks/autostart/*.xml
    changed=1
  fi
  return $((1 - changed))
}

# configure_libvirtd: Debian's libvirtd authorises socket clients through polkit, which needs a
# system D-Bus these machines lack, so every non-root client (Debian's nova-compute runs as nova,
# a member of group libvirt) fails with "Unable to get system bus connection". Instead the sockets
# belong to group libvirt: rw for the group only, no further auth. Root (novalet, the tests) is
# unaffected. Prints nothing; returns 0 when the file changed.
configure_libvirtd() {
  local changed=0
  [ -f "$LIBVIRTD_CONF.novalet-orig" ] || cp -a "$LIBVIRTD_CONF" "$LIBVIRTD_CONF.novalet-orig"
  setconf "$LIBVIRTD_CONF" unix_sock_group '"libvirt"' && changed=1
  setconf "$LIBVIRTD_CONF" unix_sock_rw_perms '"0770"' && changed=1
  setconf "$LIBVIRTD_CONF" auth_unix_rw '"none"' && changed=1
  setconf "$LIBVIRTD_CONF" auth_unix_ro '"none"' && changed=1
  return $((1 - changed))
}

launch_libvirt() {
  local conf_changed=0
  configure_libvirt && conf_changed=1
  configure_libvirtd && conf_changed=1
  mkdir -p /run/libvirt "$LV_DIR"

  if virtlogd_running; then
    log "virtlogd already running (pid $(cat /run/virtlogd.pid))$(whose virtlogd)"
  else
    # Foreground + setsid rather than -d: $! is then the daemon itself and it outlives this shell's
    # session. It still writes /run/virtlogd.pid, which other tools look for.
    LIBVIRT_LOG_OUTPUTS="3:stderr" setsid virtlogd >>"$LV_DIR/virtlogd.log" 2>&1 </dev/null 9>&- &
    record virtlogd $!
    log "virtlogd launched (pid $!)"
  fi

  if libvirtd_answers; then
    log "libvirtd already running and answering on $LV_URI$(whose libvirtd)"
    if [ $conf_changed = 1 ]; then
      log "WARNING: $QEMU_CONF or $LIBVIRTD_CONF changed, but the running libvirtd predates it;" \
        "apply with: $0 restart-libvirtd"
    fi
    return 0
  fi
  # In a subshell that first closes every inherited descriptor above 2, not only our lock's: a
  # caller's lock (e.g. `flock e2e.lock go test`, whose fd a test's parts.sh call inherits) would
  # otherwise stay held by libvirtd for its whole life. exec keeps $! the pid of tini, libvirtd's
  # parent (SIGTERM to it ends libvirtd; libvirtd's own pid is in /run/libvirtd.pid).
  # Under tini -s, a subreaper: libvirtd daemonizes each QEMU, whose parent is then the nearest
  # subreaper, else PID 1. systemd reaps a QEMU that exited at once, but a PID 1 that is not
  # systemd may reap late (here: 1-2 s), and libvirt's destroy, managed save and shutdown wait
  # until the QEMU pid is gone (virProcessKillPainfully polls kill(pid, 0), true for a zombie).
  # tini forwards SIGTERM to libvirtd and exits with it; the QEMUs it adopted live on (PID 1's).
  (
    close_inherited_fds
    LIBVIRT_LOG_OUTPUTS="3:stderr" exec setsid tini -s -- libvirtd >>"$LV_DIR/libvirtd.log" 2>&1 </dev/null
  ) &
  record libvirtd $!
  log "libvirtd launched (pid $!)"
}

wait_libvirt() {
  local t0=$SECONDS pid
  # virtlogd only needs to create its socket.
  until virtlogd_running; do
    ((SECONDS - t0 < 30)) || die "virtlogd is not up (socket $VIRTLOGD_SOCK, /run/virtlogd.pid) after 30s; see $LV_DIR/virtlogd.log"
    sleep 0.1
  done
  pid=$(owned libvirtd) || pid=
  until libvirtd_answers; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      die "libvirtd (pid $pid) exited; see $LV_DIR/libvirtd.log"
    fi
    ((SECONDS - t0 < LIBVIRTD_DEADLINE)) ||
      die "libvirtd did not answer on $LV_URI within ${LIBVIRTD_DEADLINE}s; see $LV_DIR/libvirtd.log"
    sleep 0.3
  done
  log "libvirtd answers on $LV_URI ($((SECONDS - t0))s)"
}

# restart_libvirtd: stop the libvirtd we started, then start it again with the current
# configuration. One started by someone else is refused: it is not ours to end. QEMU guests
# survive (libvirtd reconnects to them); virtlogd and the broker are untouched.
restart_libvirtd() {
  local pid
  if pid=$(owned libvirtd); then
    end_owned libvirtd
  elif libvirtd_answers; then
    die "the running libvirtd was not started by parts.sh; restart it yourself"
  fi
  launch_libvirt
  wait_libvirt
}

# ---- RabbitMQ ---------------------------------------------------------------------------------

write_rabbitmq_config() {
  mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RMQ_PORT
loopback_users.guest = true
log.file.level = info
EOF
  # inet_dist_use_interface keeps the Erlang distribution port off 0.0.0.0.
  cat >"$RMQ_DIR/rabbitmq-env.conf" <<EOF
NODENAME=$RMQ_NODE
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$RMQ_PORT
DIST_PORT=$RMQ_DIST_PORT
ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  echo '[].' >"$RMQ_DIR/advanced.config"
  echo '[].' >"$RMQ_DIR/enabled_plugins"
}

EPMD_BEFORE=
RMQ_LAUNCHED=0

launch_rabbitmq() {
  if rabbitmq_answers; then
    log "rabbitmq already running and answering ($RMQ_NODE)$(whose rabbitmq-beam)"
    return 0
  fi
  if tcp_open 127.0.0.1 "$RMQ_PORT"; then
    die "127.0.0.1:$RMQ_PORT is taken by a broker parts.sh cannot manage (not node $RMQ_NODE with the cookie in $RMQ_DIR)"
  fi
  write_rabbitmq_config
  EPMD_BEFORE=$(pgrep -x epmd | tr '\n' ' ' || true)
  setsid env "${rmq_env[@]}" "$RMQ_BIN/rabbitmq-server" >>"$RMQ_DIR/startup.log" 2>&1 </dev/null 9>&- &
  record rabbitmq-server $!
  RMQ_LAUNCHED=1
  log "rabbitmq-server launched (wrapper pid $!)"
}

wait_rabbitmq() {
  local t0=$SECONDS wrapper= p
  [ $RMQ_LAUNCHED = 1 ] && wrapper=$(owned rabbitmq-server)
  # await_startup fails at once while the Erlang node is not up yet, hence the loop.
  until rmqctl 70 await_startup --timeout 60 >/dev/null 2>&1; do
    if [ -n "$wrapper" ] && ! kill -0 "$wrapper" 2>/dev/null; then
      die "rabbitmq-server exited; see $RMQ_DIR/startup.log and $RMQ_DIR/log"
    fi
    ((SECONDS - t0 < RABBITMQ_DEADLINE)) ||
      die "rabbitmq did not start within ${RABBITMQ_DEADLINE}s; see $RMQ_DIR/startup.log"
    sleep 0.5
  done
  if [ -n "$wrapper" ]; then
    # The wrapper is a shell that traps signals and runs the Erlang VM (beam) as its child.
    record rabbitmq-beam "$(cat "$RMQ_DIR/rabbit.pid")"
    # erl started epmd if none was running: that one is ours too.
    for p in $(pgrep -x epmd || true); do
      [[ " $EPMD_BEFORE " == *" $p "* ]] || { record epmd "$p"; log "epmd started by the node (pid $p)"; }
    done
  fi
  log "rabbitmq ready ($((SECONDS - t0))s)"

  # Idempotent user setup; works on a broker we started earlier too (same cookie).
  if ! rmqctl list_users --silent 2>/dev/null | awk '{print $1}' | grep -qx "$RMQ_USER"; then
    rmqctl add_user "$RMQ_USER" "$RMQ_PASS" >/dev/null
  fi
  rmqctl set_permissions -p / "$RMQ_USER" '.*' '.*' '.*' >/dev/null
  log "user $RMQ_USER has .* .* .* on vhost /"
}

stop_rabbitmq() {
  if owned rabbitmq-beam >/dev/null; then
    # The broker's own shutdown flushes mnesia; signals are the fallback.
    if rmqctl 90 shutdown >/dev/null 2>&1; then log "rabbitmqctl shutdown done"; fi
  fi
  end_owned rabbitmq-server
  end_owned rabbitmq-beam
  end_owned epmd
}

# ---- commands ---------------------------------------------------------------------------------

# lock: serialise parts.sh runs on fd 9. Every daemon is launched with 9>&- so that it does not
# inherit the lock and hold it for its whole life.
lock() {
  mkdir -p "$PIDS"
  exec 9>"$STATE/.lock"
  flock -w 900 9 || die "another parts.sh holds $STATE/.lock"
}

status_line() { # NAME RUNNING(0/1) DETAIL
  local name=$1 up=$2 detail=$3 own=""
  if pid=$(owned "$name"); then own=" (started by parts.sh, pid $pid)"; fi
  if [ "$up" = 1 ]; then echo "$name: running$own $detail"; else echo "$name: not running"; fi
}

case "${1:-status}" in
start)
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  for c in virsh libvirtd virtlogd tini "$RMQ_BIN/rabbitmq-server"; do
    command -v "$c" >/dev/null || die "$c missing: run scripts/install-deps.sh"
  done
  lock
  # Launch both, then wait for both: libvirtd's cold start and the broker's boot overlap.
  launch_libvirt
  launch_rabbitmq
  wait_libvirt
  wait_rabbitmq
  log "ready: transport rabbit://$RMQ_USER:***@127.0.0.1:$RMQ_PORT/, libvirt $LV_URI; logs in $STATE"
  ;;
restart-libvirtd)
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  lock
  restart_libvirtd
  ;;
stop-libvirtd)
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  lock
  if owned libvirtd >/dev/null; then
    end_owned libvirtd
  elif libvirtd_answers; then
    die "the running libvirtd was not started by parts.sh; stop it yourself"
  fi
  ;;
start-libvirtd)
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  lock
  launch_libvirt
  wait_libvirt
  ;;
stop)
  lock
  stop_rabbitmq
  # libvirtd first: it talks to virtlogd. Running QEMU processes are not ours and stay.
  end_owned libvirtd
  end_owned virtlogd
  log "stopped what parts.sh had started"
  ;;
status)
  up=0; rabbitmq_answers && up=1
  status_line rabbitmq-beam $up "node $RMQ_NODE on 127.0.0.1:$RMQ_PORT"
  up=0; owned epmd >/dev/null && up=1
  [ $up = 1 ] && status_line epmd 1 "127.0.0.1:4369"
  up=0; libvirtd_answers && up=1
  status_line libvirtd $up "$LV_URI"
  up=0; virtlogd_running && up=1
  status_line virtlogd $up "$VIRTLOGD_SOCK"
  ;;
*)
  echo "usage: $0 start|stop|status|restart-libvirtd|stop-libvirtd|start-libvirtd" >&2
  exit 2
  ;;
esac
