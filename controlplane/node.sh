#!/bin/bash
# node.sh start|stop|status NAME [--agent novalet|nova-compute] -- a further compute node on this
# machine, e.g. `node.sh start vm2`, beside host "vm" (novalet from `make demo`, or start.sh
# --with-nova-compute). NAME is vmN with N in 2..9; its address is 127.0.0.N.
#
# What a node is (see "Second node" in README.md):
#   * a holder process (`unshare --mount --uts`, then `sleep infinity`) that owns the node's
#     mount and UTS namespaces: host name NAME, and bind mounts of the node's private files over
#       /etc/nova/nova.conf   its own nova.conf (host = NAME, my_ip = 127.0.0.N)
#       /var/lib/nova         its own state_path (instances_path = /var/lib/nova/instances; the nova
#                             user's home, so its ~/.ssh too)
#       /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
#                             its own libvirtd/virtlogd configuration, sockets, domains, logs
#       /etc/hosts            + "127.0.0.N NAME" (sudo and nova resolve their own host name)
#     The network namespace is the host's (the control plane listens on loopback only).
#   * inside those namespaces (nsenter), each in its own session and recorded by PID + kernel
#     start time: virtlogd, libvirtd, sshd (127.0.0.N:22, user nova only, key only),
#     neutron-linuxbridge-agent (host = NAME, same physnet), and the agent: novalet (root, as in
#     `make demo`) or Debian's nova-compute (user nova).
#   * host "vm" gets an sshd on 127.0.0.1:22 for user nova too (recorded as this node's
#     host-sshd), so that disk copies work in both directions; the nova user's key pair is the
#     same on both nodes (/var/lib/nova/.ssh, as the install guide's multi-node setups do).
#
# stop ends the recorded processes (TERM, KILL after a deadline), first destroying the node's
# libvirt guests, then whatever else still runs in the node's mount namespace (helpers such as
# privsep daemons; all of them descend from what this script started), then the holder: the
# namespaces and their mounts go with their last process. Nothing outside the namespace but the
# recorded host-sshd is ever signalled.
#
# State: $NODE_STATE/NAME (default /var/tmp/novalet-node/NAME); logs $CP_LOG/NAME-*.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 start|stop|status NAME [--agent novalet|nova-compute]" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1 NAME=$2
shift 2
AGENT=novalet
while [ $# -gt 0 ]; do
  case $1 in
  --agent) AGENT=${2:-}; shift 2 || usage ;;
  --agent=*) AGENT=${1#--agent=}; shift ;;
  *) usage ;;
  esac
done
case $AGENT in novalet | nova-compute) ;; *) usage ;; esac
[[ $NAME =~ ^vm([2-9])$ ]] || die "node name must be vm2..vm9 (got '$NAME')"
[ "$NAME" != "$COMPUTE_HOST" ] || die "$NAME is this host's own name"
[ "$(id -u)" -eq 0 ] || die "must run as root"

IDX=${BASH_REMATCH[1]}
NODE_IP=127.0.0.$IDX
NODE_STATE=${NOVALET_NODE_DIR:-/var/tmp/novalet-node}
# the novalet binary a node runs (the e2e tests pass the one they built)
NOVALET_BIN=${NOVALET_BIN:-$REPO_DIR/bin/novalet}
N=$NODE_STATE/$NAME
NPIDS=$N/pids
# libvirt's VNC port allocator checks that a port is free before it uses it, but two libvirtds
# could still race for the same one: this node's displays start above vm's usual range.
VNC_MIN=$((5900 + 50 * (IDX - 1)))

nlog() { log "$NAME: $*"; }
nowned() { pid_owned "$NPIDS/$1"; }
ns_holder() { nowned holder; }
# in_ns CMD...: run CMD (as root) in the node's mount + UTS namespaces
in_ns() { nsenter -t "$(ns_holder)" -m -u -- "$@"; }
mnt_ns_of() { readlink "/proc/$1/ns/mnt" 2>/dev/null; }

# ---- files ---------------------------------------------------------------------------------------

# node_files: the node's private copies, written every start (idempotent; nothing here is data
# except lib/nova, which is only created).
node_files() {
  install -d -m 755 "$N" "$NPIDS" "$N/etc" "$N/etc/ssh" "$N/run/libvirt" "$N/lib/libvirt" \
    "$N/cache/libvirt" "$N/log/libvirt"
  # state_path: owned by nova as /var/lib/nova is (it is nova's home: sshd's StrictModes wants it
  # not group/world-writable)
  install -d -o nova -g nova -m 755 "$N/lib/nova" "$N/lib/nova/instances" "$N/lib/nova/tmp"
  # libvirt: the host's configuration (parts.sh's socket group/auth settings included) with this
  # node's VNC port range; domains, networks, secrets start empty.
  if [ ! -f "$N/etc/libvirt/libvirtd.conf" ]; then
    mkdir -p "$N/etc/libvirt"
    (cd /etc/libvirt && tar --exclude='./qemu/*.xml' --exclude='./qemu/autostart' --exclude='./qemu/networks' \
      --exclude='./secrets/*' -cf - .) | tar -C "$N/etc/libvirt" -xf -
    mkdir -p "$N/etc/libvirt/qemu/networks/autostart"
  fi
  sed -i -E '/^remote_display_port_min/d' "$N/etc/libvirt/qemu.conf"
  echo "remote_display_port_min = $VNC_MIN" >>"$N/etc/libvirt/qemu.conf"
  # a copy of the cached QEMU capabilities: the node's libvirtd answers without probing again
  # (libvirtd revalidates it against the emulator binaries and probes if it is stale)
  if [ -z "$(ls -A "$N/cache/libvirt" 2>/dev/null)" ] && [ -d /var/cache/libvirt ]; then
    cp -a /var/cache/libvirt/. "$N/cache/libvirt/" 2>/dev/null || true
  fi
  { grep -v -w "$NAME" /etc/hosts; echo "$NODE_IP $NAME"; } >"$N/etc/hosts"
  chmod 644 "$N/etc/hosts"

  # nova.conf: the compute node's file with this node's identity (what an operator edits on a
  # second machine: host, my_ip; the VNC address follows my_ip)
  sed -E -e "s/^my_ip = .*/my_ip = $NODE_IP/" -e "s/^server_listen = .*/server_listen = $NODE_IP/" \
    -e "/^\[DEFAULT\]/a host = $NAME" /etc/nova/nova.conf >"$N/etc/nova.conf.tmp"
  grep -q '^server_proxyclient_address = \$my_ip' "$N/etc/nova.conf.tmp" ||
    die "/etc/nova/nova.conf has no 'server_proxyclient_address = \$my_ip'; run controlplane/install.sh"
  cat >>"$N/etc/nova.conf.tmp" <<EOF

# ---- node $NAME (controlplane/node.sh): novalet's own section (nova ignores it); vm's novalet
# serves /metrics on 127.0.0.1:9797, in the same network namespace.
[novalet]
metrics_listen = $NODE_IP:9797
EOF
  install -o root -g nova -m 640 "$N/etc/nova.conf.tmp" "$N/etc/nova.conf"
  rm -f "$N/etc/nova.conf.tmp"

  # neutron: the same three files as vm's agent plus this one (later files win)
  printf '[DEFAULT]\nhost = %s\n' "$NAME" >"$N/etc/neutron-host.conf"
  chmod 644 "$N/etc/neutron-host.conf"

  ssh_files
}

# ssh_files: sshd host keys for this node and for host vm; the nova user's key pair, the same on
# both nodes (made once, copied), authorized_keys and known_hosts for both addresses. Idempotent.
ssh_files() {
  local k home
  for k in "$N/etc/ssh/ssh_host_ed25519_key" "$NODE_STATE/host-ssh/ssh_host_ed25519_key"; do
    mkdir -p "$(dirname "$k")"
    [ -f "$k" ] || ssh-keygen -q -t ed25519 -N '' -C "$(basename "$(dirname "$(dirname "$k")")")" -f "$k"
  done
  # Debian creates nova with a locked password ("!"), and sshd refuses a locked account even for
  # key logins (UsePAM no). "*" = no password can match, but the account is not locked.
  if [ "$(getent shadow nova | cut -d: -f2)" = '!' ]; then
    usermod -p '*' nova
    nlog "user nova unlocked for key logins (password field '!' -> '*', still no password)"
  fi
  install -d -o nova -g nova -m 700 /var/lib/nova/.ssh
  [ -f /var/lib/nova/.ssh/id_ed25519 ] ||
    setpriv --reuid=nova --regid=nova --init-groups -- ssh-keygen -q -t ed25519 -N '' -C nova -f /var/lib/nova/.ssh/id_ed25519
  install -d -o nova -g nova -m 700 "$N/lib/nova/.ssh"
  for home in /var/lib/nova "$N/lib/nova"; do
    install -o nova -g nova -m 600 /var/lib/nova/.ssh/id_ed25519 "$home/.ssh/id_ed25519.tmp"
    mv -f "$home/.ssh/id_ed25519.tmp" "$home/.ssh/id_ed25519" 2>/dev/null || true
    install -o nova -g nova -m 644 /var/lib/nova/.ssh/id_ed25519.pub "$home/.ssh/id_ed25519.pub.tmp"
    mv -f "$home/.ssh/id_ed25519.pub.tmp" "$home/.ssh/id_ed25519.pub"
    # add the key once (another key an operator put there stays)
    touch "$home/.ssh/authorized_keys"
    grep -qxF "$(cat /var/lib/nova/.ssh/id_ed25519.pub)" "$home/.ssh/authorized_keys" ||
      cat /var/lib/nova/.ssh/id_ed25519.pub >>"$home/.ssh/authorized_keys"
    {
      grep -v -E '^(127\.0\.0\.1|127\.0\.0\.'"$IDX"') ' "$home/.ssh/known_hosts" 2>/dev/null || true
      echo "127.0.0.1 $(cut -d' ' -f1-2 "$NODE_STATE/host-ssh/ssh_host_ed25519_key.pub")"
      echo "$NODE_IP $(cut -d' ' -f1-2 "$N/etc/ssh/ssh_host_ed25519_key.pub")"
    } >"$home/.ssh/known_hosts.tmp"
    mv -f "$home/.ssh/known_hosts.tmp" "$home/.ssh/known_hosts"
    chown nova:nova "$home/.ssh/authorized_keys" "$home/.ssh/known_hosts"
    chmod 600 "$home/.ssh/authorized_keys"
    chmod 644 "$home/.ssh/known_hosts"
  done
}

# sshd_config ADDR HOSTKEY: an sshd for user nova only, key authentication only
sshd_config() {
  cat <<EOF
ListenAddress $1:22
HostKey $2
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers nova
PermitRootLogin no
StrictModes yes
X11Forwarding no
PrintMotd no
LogLevel INFO
# Debian's own sshd_config line: OpenSSH 9's scp (nova's disk copies) speaks SFTP
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

# ---- namespaces ----------------------------------------------------------------------------------

# ns_script: what the holder runs in its fresh namespaces before it sleeps. Mount propagation is
# private (unshare's default), so nothing here is seen outside, and it all goes with the namespace.
ns_script() {
  cat <<EOF
set -e
hostname $NAME
mount --bind $N/etc/hosts /etc/hosts
mount --bind $N/etc/nova.conf /etc/nova/nova.conf
mount --bind $N/lib/nova /var/lib/nova
mount --bind $N/etc/libvirt /etc/libvirt
mkdir -p /run/libvirt /var/cache/libvirt /var/log/libvirt
mount --bind $N/run/libvirt /run/libvirt
mount --bind $N/lib/libvirt /var/lib/libvirt
mount --bind $N/cache/libvirt /var/cache/libvirt
mount --bind $N/log/libvirt /var/log/libvirt
echo ns-ready
exec sleep infinity
EOF
}

start_holder() {
  local pid i
  if pid=$(ns_holder); then nlog "namespaces already held by pid $pid"; return 0; fi
  mkdir -p "$CP_LOG"
  : >"$N/holder.out"
  setsid unshare --mount --uts --propagation private -- bash -c "$(ns_script)" \
    >"$N/holder.out" 2>&1 </dev/null 8>&- &
  pid=$!
  pid_record "$NPIDS/holder" "$pid" "$(now)"
  for ((i = 0; i < 100; i++)); do
    grep -q ns-ready "$N/holder.out" && break
    kill -0 "$pid" 2>/dev/null || die "namespace setup failed: $(cat "$N/holder.out")"
    sleep 0.1
  done
  grep -q ns-ready "$N/holder.out" || die "namespace setup did not finish: $(cat "$N/holder.out")"
  nlog "namespaces held by pid $pid (mnt $(mnt_ns_of "$pid"), host name $(in_ns hostname))"
}

# nlaunch NAME USER CMD...: as controlplane/lib.sh's launch, but inside the node's namespaces:
# nsenter (setns + exec, no fork for mount/UTS) -> setsid -> env -i -> setpriv -> CMD, so the
# recorded PID is the daemon itself. A NAME already running is left alone.
NLAUNCHED=() # names launched by this invocation
nlaunch() {
  local name=$1 user=$2 home pid
  shift 2
  if pid=$(nowned "$name"); then nlog "$name already running (pid $pid)"; return 0; fi
  home=$(getent passwd "$user" | cut -d: -f6)
  echo "==== $(date '+%F %T') start: $*" >>"$CP_LOG/$NAME-$name.log"
  nsenter -t "$(ns_holder)" -m -u -- setsid env -i PATH="$SVC_PATH" LANG=C.UTF-8 HOME="$home" \
    USER="$user" LOGNAME="$user" no_proxy="$no_proxy,$NAME,$NODE_IP" \
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$@" \
    >>"$CP_LOG/$NAME-$name.log" 2>&1 </dev/null 8>&- &
  pid_record "$NPIDS/$name" $! "$(now)"
  NLAUNCHED+=("$name")
  nlog "launched $name (pid $!, user $user)"
}

# await_node WHAT DEADLINE PROCNAME CMD...: poll CMD until it succeeds; print seconds since
# PROCNAME's launch; fail if PROCNAME dies or the deadline passes.
await_node() {
  local what=$1 deadline=$2 proc=$3 base t
  shift 3
  base=$(awk '{print $3}' "$NPIDS/$proc")
  until "$@" >/dev/null 2>&1; do
    nowned "$proc" >/dev/null || die "$proc died; see $CP_LOG/$NAME-$proc.log"
    t=$(since "$base")
    [ "${t%.*}" -lt "$deadline" ] || die "$what: not after ${t}s; see $CP_LOG/$NAME-$proc.log"
    sleep 0.25
  done
  t=$(since "$base")
  if [[ " ${NLAUNCHED[*]} " == *" $proc "* ]]; then
    printf '%-26s %6ss  %s\n' "$proc" "$t" "$what" >>"$N/ready.tmp"
    nlog "ready: $what (${t}s after launch)"
  else
    nlog "ready: $what (already running)"
  fi
}

libvirt_answers() { in_ns timeout 20 virsh -c qemu:///system hostname | grep -qx "$NAME"; }
nova_user_libvirt() { in_ns setpriv --reuid=nova --regid=nova --init-groups -- timeout 20 virsh -c qemu:///system version; }
node_heartbeat() { # BINARY PROC: services row of host NAME written since PROC's launch
  local since n
  since=$(awk '{print int($3)}' "$NPIDS/$2")
  n=$(db "SET time_zone='+00:00'; SELECT count(*) FROM services WHERE \`binary\`='$1' AND host='$NAME' AND deleted=0
    AND unix_timestamp(greatest(created_at, coalesce(updated_at, created_at))) >= $since" nova 2>/dev/null) || return 1
  [ "${n:-0}" -ge 1 ]
}
agent_heartbeat() {
  local since n
  since=$(awk '{print int($3)}' "$NPIDS/neutron-linuxbridge-agent")
  n=$(db "SET time_zone='+00:00'; SELECT count(*) FROM agents WHERE agent_type='Linux bridge agent' AND host='$NAME'
    AND unix_timestamp(heartbeat_timestamp) >= $since" neutron 2>/dev/null) || return 1
  [ "${n:-0}" -ge 1 ]
}
ssh_ok() { # ADDR: user nova logs in with its key, no prompt
  setpriv --reuid=nova --regid=nova --init-groups -- env HOME=/var/lib/nova \
    timeout 10 ssh -o BatchMode=yes -o ConnectTimeout=5 "$1" true
}

# ---- start ---------------------------------------------------------------------------------------

do_start() {
  local t0 agent_running=
  command -v nova-compute >/dev/null || die "not installed: run controlplane/install.sh"
  command -v sshd >/dev/null || die "openssh-server missing: run controlplane/install.sh"
  ready_keystone_api || die "the control plane does not answer: run controlplane/start.sh first"
  for a in novalet nova-compute; do
    [ "$a" = "$AGENT" ] || ! nowned "$a" >/dev/null || agent_running=$a
  done
  [ -z "$agent_running" ] || die "$NAME runs $agent_running; stop it first (node.sh stop $NAME)"
  if [ "$AGENT" = novalet ]; then
    [ -x "$NOVALET_BIN" ] || die "no $NOVALET_BIN: run make build"
  fi
  mkdir -p "$NODE_STATE" "$CP_LOG"
  exec 8>"$NODE_STATE/.lock"
  flock -w 300 8 || die "another node.sh holds $NODE_STATE/.lock"
  t0=$(now)
  rm -f "$N/ready.tmp"
  provider_link_up
  node_files
  start_holder
  mkdir -p /run/sshd # sshd's privilege-separation directory (the host's /run)

  # virtlogd, then libvirtd (its pid files in the private /run/libvirt, not /run/*.pid)
  nlaunch virtlogd root env LIBVIRT_LOG_OUTPUTS=3:stderr /usr/sbin/virtlogd --pid-file /run/libvirt/virtlogd.pid
  await_node "virtlogd socket" 30 virtlogd in_ns test -S /run/libvirt/virtlogd-sock
  # tini -s reaps the node's exited QEMUs at once, as systemd would (see scripts/parts.sh).
  nlaunch libvirtd root tini -s -- env LIBVIRT_LOG_OUTPUTS=3:stderr /usr/sbin/libvirtd --pid-file /run/libvirt/libvirtd.pid
  # sshd for this node, and one for host vm (disk copies go both ways)
  sshd_config "$NODE_IP" "$N/etc/ssh/ssh_host_ed25519_key" >"$N/etc/ssh/sshd_config"
  nlaunch sshd root /usr/sbin/sshd -D -e -f "$N/etc/ssh/sshd_config"
  if ! pid_owned "$NPIDS/host-sshd" >/dev/null; then
    sshd_config 127.0.0.1 "$NODE_STATE/host-ssh/ssh_host_ed25519_key" >"$NODE_STATE/host-ssh/sshd_config"
    if tcp_open 127.0.0.1 22; then
      nlog "127.0.0.1:22 is taken by an sshd this script did not start; host vm's side is not ours"
    else
      echo "==== $(date '+%F %T') start host-sshd" >>"$CP_LOG/$NAME-host-sshd.log"
      setsid /usr/sbin/sshd -D -e -f "$NODE_STATE/host-ssh/sshd_config" >>"$CP_LOG/$NAME-host-sshd.log" 2>&1 </dev/null 8>&- &
      pid_record "$NPIDS/host-sshd" $! "$(now)"
      nlog "launched host-sshd for host vm on 127.0.0.1:22 (pid $!)"
    fi
  fi
  nlaunch neutron-linuxbridge-agent neutron /usr/bin/neutron-linuxbridge-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini \
    --config-file /etc/neutron/plugins/ml2/linuxbridge_agent.ini --config-file "$N/etc/neutron-host.conf"
  await_node "libvirtd answers qemu:///system as host $NAME" 180 libvirtd libvirt_answers
  await_node "user nova reaches libvirtd" 30 libvirtd nova_user_libvirt
  await_node "sshd on $NODE_IP:22" 30 sshd tcp_open "$NODE_IP" 22
  if pid_owned "$NPIDS/host-sshd" >/dev/null; then
    until tcp_open 127.0.0.1 22; do sleep 0.2; done
  fi
  ssh_ok "$NODE_IP" || die "user nova cannot ssh to $NODE_IP without a prompt; see $CP_LOG/$NAME-sshd.log"
  if ! ssh_ok 127.0.0.1; then nlog "WARNING: user nova cannot ssh to 127.0.0.1 (host vm)"; fi
  in_ns setpriv --reuid=nova --regid=nova --init-groups -- env HOME=/var/lib/nova \
    timeout 10 ssh -o BatchMode=yes 127.0.0.1 true || nlog "WARNING: nova on $NAME cannot ssh to 127.0.0.1"

  case $AGENT in
  novalet)
    nlaunch novalet root "$NOVALET_BIN" run --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf ;;
  nova-compute)
    nlaunch nova-compute nova /usr/bin/nova-compute --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf ;;
  esac
  await_node "neutron-linuxbridge-agent host=$NAME reports" 240 neutron-linuxbridge-agent agent_heartbeat
  await_node "$AGENT: compute service $NAME up" 300 "$AGENT" node_heartbeat nova-compute "$AGENT"
  # map the host into cell1 now rather than at the scheduler's next periodic run
  nova_manage cell_v2 discover_hosts --verbose | grep -v '^$' || true
  touch "$N/ready.tmp"
  {
    echo "# node.sh start $NAME --agent $AGENT at $(date '+%F %T'): seconds from launch to ready"
    cat "$N/ready.tmp"
    printf '%-26s %6ss  %s\n' node.sh "$(since "$t0")" "the whole start, discover_hosts included"
  } | tee -a "$N/start-timings.log"
  rm -f "$N/ready.tmp"
  nlog "running ($AGENT); stop with: controlplane/node.sh stop $NAME"
}

ready_keystone_api() { curl -s -o /dev/null --noproxy '*' --max-time 3 http://127.0.0.1:5000/v3; }
provider_link_up() { ip link show "$PROVIDER_IF" >/dev/null 2>&1 || die "no $PROVIDER_IF: run controlplane/start.sh"; }

# ---- stop ----------------------------------------------------------------------------------------

# in_mnt_ns NS [EXCEPT]: "pid starttime" of every live process in mount namespace NS
in_mnt_ns() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" != "${2:-}" ] || continue
    [ "$(mnt_ns_of "$p")" = "$1" ] || continue
    [ "$(proc_state "$p")" != Z ] || continue
    echo "$p $(starttime "$p")"
  done
}

stop_recorded() { # NAME: the recorded process and what is left of its session
  local name=$1 pid st members
  pid=$(nowned "$name") || { rm -f "$NPIDS/$name"; return 0; }
  st=$(starttime "$pid")
  mapfile -t members < <(for p in $(ps -eo pid=,sid= | awk -v s="$pid" '$2 == s && $1 != s {print $1}'); do echo "$p $(starttime "$p")"; done)
  end_all "$NAME: $name" "$pid $st"
  mapfile -t members < <(for h in "${members[@]+"${members[@]}"}"; do alive_as $h && echo "$h"; done)
  [ ${#members[@]} -eq 0 ] || end_all "$NAME: $name helpers" "${members[@]}"
  rm -f "$NPIDS/$name"
  nlog "stopped $name (pid $pid)"
}

do_stop() {
  local holder ns d left
  [ -d "$NPIDS" ] || { nlog "nothing recorded"; return 0; }
  mkdir -p "$NODE_STATE"
  exec 8>"$NODE_STATE/.lock"
  flock -w 300 8 || die "another node.sh holds $NODE_STATE/.lock"
  holder=$(ns_holder) || holder=
  # the agents first (a stopped compute agent leaves its guests, as on any host; but this node's
  # libvirtd and namespace are going away, so its guests are destroyed below)
  stop_recorded novalet & stop_recorded nova-compute & stop_recorded neutron-linuxbridge-agent &
  wait
  if [ -n "$holder" ] && nowned libvirtd >/dev/null; then
    for d in $(in_ns timeout 30 virsh -c qemu:///system list --all --name 2>/dev/null || true); do
      in_ns timeout 60 virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
      in_ns timeout 60 virsh -c qemu:///system undefine --managed-save "$d" >/dev/null 2>&1 || true
      nlog "destroyed and undefined domain $d (the node's libvirtd goes away)"
    done
  fi
  stop_recorded sshd
  stop_recorded libvirtd
  stop_recorded virtlogd
  # whatever still runs in the namespace: descendants of what we started (privsep helpers, a
  # QEMU libvirtd left behind); the holder last
  if [ -n "$holder" ]; then
    ns=$(mnt_ns_of "$holder")
    mapfile -t left < <(in_mnt_ns "$ns" "$holder")
    if [ ${#left[@]} -gt 0 ]; then
      nlog "ending ${#left[@]} leftover process(es) in $NAME's namespace: $(for h in "${left[@]}"; do
        p=${h%% *}; printf '%s(%s) ' "$p" "$(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-40)"; done)"
      end_all "$NAME: leftovers" "${left[@]}"
    fi
    stop_recorded holder
    mapfile -t left < <(in_mnt_ns "$ns")
    [ ${#left[@]} -eq 0 ] || nlog "WARNING: still in $ns: ${left[*]}"
  fi
  rm -f "$NPIDS/holder"
  # host vm's sshd: ours, and only needed while a second node exists
  stop_recorded host-sshd
  nlog "stopped"
}

# ---- status --------------------------------------------------------------------------------------

do_status() {
  local f n pid
  [ -d "$NPIDS" ] || { echo "$NAME: not started"; return 0; }
  for f in "$NPIDS"/*; do
    [ -f "$f" ] || continue
    n=${f##*/}
    if pid=$(pid_owned "$f"); then
      printf '%-28s pid %-7s up %6ss  rss %6s KiB\n' "$n" "$pid" "$(since "$(awk '{print $3}' "$f")")" \
        "$(awk '/VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null)"
    else
      printf '%-28s not running\n' "$n"
    fi
  done
  if pid=$(ns_holder); then
    echo "namespaces: mnt $(mnt_ns_of "$pid") uts $(readlink "/proc/$pid/ns/uts") host name $(in_ns hostname)"
    echo "processes in the mount namespace: $(in_mnt_ns "$(mnt_ns_of "$pid")" | wc -l)"
  fi
}

case $CMD in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
