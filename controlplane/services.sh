# services.sh -- how each control-plane daemon is launched and how we know it answers (sourced by
# start.sh and install-bootstrap.sh after lib.sh).
#
# Every launch_NAME starts one daemon with `launch` (own session, as its Debian user, recorded).
# Every ready_NAME is one bounded probe: true once the daemon does its job, not merely once its
# port is open (an API answers HTTP; conductor/scheduler/agents have written a heartbeat).

NOVA_CTL=(--config-file "$NOVA_CONTROLLER_CONF")
NEUTRON=(--config-file /etc/neutron/neutron.conf)

# uwsgi_app NAME USER PORT WSGI-SCRIPT: Debian's *-uwsgi.ini files use options the uwsgi CLI
# rejects here (http-auto-chunked, http-raw-body, ...) and keystone's loads the apparmor plugin,
# so the command line is built here. 2 processes x 4 threads instead of Debian's 8 x 32: 2 cores.
uwsgi_app() {
  local name=$1 user=$2 port=$3 app=$4
  launch "$name" "$user" /usr/bin/uwsgi_python3 --http-socket "127.0.0.1:$port" --master \
    --processes "${UWSGI_PROCESSES:-2}" --threads "${UWSGI_THREADS:-4}" --enable-threads \
    --lazy-apps --die-on-term --no-orphans --thunder-lock --buffer-size 65535 --listen 100 \
    --add-header "Connection: close" --chdir "/var/lib/$user" --wsgi-file "$app"
}

launch_mariadb() {
  install -d -o mysql -g mysql /run/mysqld
  launch mariadb mysql /usr/sbin/mariadbd --user=mysql
}
launch_memcached() { launch memcached memcache /usr/bin/memcached -l 127.0.0.1 -p 11211 -U 0 -m 64 -c 1024; }
launch_keystone() { uwsgi_app keystone keystone 5000 /usr/bin/keystone-wsgi-public; }
launch_placement-api() { uwsgi_app placement-api placement 8778 /usr/bin/placement-api; }
launch_glance-api() { launch glance-api glance /usr/bin/glance-api --config-file /etc/glance/glance-api.conf; }
launch_nova-api() { launch nova-api nova /usr/bin/nova-api "${NOVA_CTL[@]}"; }
launch_nova-conductor() { launch nova-conductor nova /usr/bin/nova-conductor "${NOVA_CTL[@]}"; }
launch_nova-scheduler() { launch nova-scheduler nova /usr/bin/nova-scheduler "${NOVA_CTL[@]}"; }
launch_nova-novncproxy() { launch nova-novncproxy nova /usr/bin/nova-novncproxy "${NOVA_CTL[@]}" --web /usr/share/novnc; }
launch_neutron-server() {
  launch neutron-server neutron /usr/bin/neutron-server "${NEUTRON[@]}" --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
}
launch_neutron-linuxbridge-agent() {
  provider_link
  launch neutron-linuxbridge-agent neutron /usr/bin/neutron-linuxbridge-agent "${NEUTRON[@]}" \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini --config-file /etc/neutron/plugins/ml2/linuxbridge_agent.ini
}
launch_neutron-dhcp-agent() { launch neutron-dhcp-agent neutron /usr/bin/neutron-dhcp-agent "${NEUTRON[@]}" --config-file /etc/neutron/dhcp_agent.ini; }
launch_neutron-metadata-agent() { launch neutron-metadata-agent neutron /usr/bin/neutron-metadata-agent "${NEUTRON[@]}" --config-file /etc/neutron/metadata_agent.ini; }
# Debian's own command line (/etc/init.d/nova-compute): the compute node's two files only.
launch_nova-compute() { launch nova-compute nova /usr/bin/nova-compute --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf; }

# provider_link: physnet 'provider' is vprov0, one end of a veth pair that nothing else uses. The
# linuxbridge agent enslaves it to brq<net> when a flat network on 'provider' gets a port here.
provider_link() {
  ip link show "$PROVIDER_IF" >/dev/null 2>&1 || ip link add "$PROVIDER_IF" type veth peer name "$PROVIDER_PEER"
  ip link set "$PROVIDER_IF" up
  ip link set "$PROVIDER_PEER" up
}

# ---- readiness probes -----------------------------------------------------------------------------

http_ok() { # URL: any 2xx/3xx (glance answers its version list with 300)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 3 "$1") || return 1
  [[ $code =~ ^[23] ]]
}

# launched_at NAME: the epoch seconds recorded when NAME was launched.
launched_at() { awk '{print int($3)}' "$CP_PIDS/$1" 2>/dev/null; }

# nova_heartbeat BINARY: the services row has been written since that daemon was launched
# ('up' in `openstack compute service list` is exactly this row's freshness).
nova_heartbeat() {
  local since n
  since=$(launched_at "$1") || return 1
  n=$(db "SET time_zone='+00:00'; SELECT count(*) FROM services WHERE \`binary\`='$1' AND deleted=0
    AND unix_timestamp(greatest(created_at, coalesce(updated_at, created_at))) >= $since" nova 2>/dev/null) || return 1
  [ "${n:-0}" -ge 1 ]
}

# neutron_heartbeat NAME AGENT_TYPE: the agent has reported state since it was launched.
neutron_heartbeat() {
  local since n
  since=$(launched_at "$1") || return 1
  n=$(db "SET time_zone='+00:00'; SELECT count(*) FROM agents WHERE agent_type='$2' AND host='$COMPUTE_HOST'
    AND unix_timestamp(heartbeat_timestamp) >= $since" neutron 2>/dev/null) || return 1
  [ "${n:-0}" -ge 1 ]
}

ready_mariadb() { timeout 5 mysql -uroot -e 'SELECT 1' >/dev/null 2>&1; }
ready_memcached() { tcp_open 127.0.0.1 11211; }
ready_keystone() { http_ok http://127.0.0.1:5000/v3; }
ready_glance-api() { http_ok http://127.0.0.1:9292/; }
ready_placement-api() { http_ok http://127.0.0.1:8778/; }
ready_nova-api() { http_ok http://127.0.0.1:8774/ && http_ok http://127.0.0.1:8775/; }
ready_nova-novncproxy() { http_ok http://127.0.0.1:6080/vnc_auto.html; }
ready_nova-conductor() { nova_heartbeat nova-conductor; }
ready_nova-scheduler() { nova_heartbeat nova-scheduler; }
# neutron-server: the API, and RPC workers consuming the queues the agents call. An agent started
# before that loses its first calls (a message to a topic without a queue is dropped) and sits in
# a 30-60 s RPC timeout before it reports: measured 46-49 s instead of ~10 s.
ready_neutron-server() {
  http_ok http://127.0.0.1:9696/ &&
    rmqctl list_queues --silent name consumers 2>/dev/null |
    awk '($1 == "q-plugin" || $1 == "q-reports-plugin") && $2 > 0 {n++} END {exit n != 2}'
}
ready_neutron-linuxbridge-agent() { neutron_heartbeat neutron-linuxbridge-agent 'Linux bridge agent'; }
ready_neutron-dhcp-agent() { neutron_heartbeat neutron-dhcp-agent 'DHCP agent'; }
ready_neutron-metadata-agent() { neutron_heartbeat neutron-metadata-agent 'Metadata agent'; }
ready_nova-compute() { nova_heartbeat nova-compute; }

# Deadlines (seconds) from launch; generous: on 2 busy cores a cold Python service takes 10-30 s.
deadline_of() {
  case $1 in
  mariadb | memcached) echo 60 ;;
  nova-compute) echo 180 ;;
  *) echo 240 ;;
  esac
}

# poll NAME BASE FRESH: one service's poller (runs in the background). Exit 0 once its probe
# passes; if FRESH=1 (launched by us at BASE) also write the seconds since BASE to
# $CP_STATE/ready/NAME. Exit 1 with a message when the recorded process dies or the deadline passes.
poll() {
  local name=$1 base=$2 fresh=$3 t
  while :; do
    if "ready_$name"; then
      t=$(since "$base")
      if [ "$fresh" = 1 ]; then
        echo "$t" >"$CP_STATE/ready/$name"
        log "ready: $name answers ${t}s after its launch"
      else
        log "ready: $name (already running)"
      fi
      return 0
    fi
    owned "$name" >/dev/null || { log "ERROR: $name is not running (died?); see $CP_LOG/$name.log"; return 1; }
    t=$(since "$base")
    if [ "${t%.*}" -gt "$(deadline_of "$name")" ]; then
      log "ERROR: $name does not answer ${t}s after launch (deadline $(deadline_of "$name")s); see $CP_LOG/$name.log"
      return 1
    fi
    sleep 0.25
  done
}

# await NAME...: wait until every NAME answers, probing all of them concurrently so that each
# one's time is its own (a serial loop would add up the probes' timeouts). For daemons launched
# by this invocation, $CP_STATE/ready/NAME gets the seconds from launch to first good answer; a
# service found already running is only checked. Fails when any of them fails.
await() {
  local name pids=() fail=0 p
  mkdir -p "$CP_STATE/ready"
  for name in "$@"; do
    if [[ " ${LAUNCHED[*]} " == *" $name "* ]]; then
      poll "$name" "$(awk '{print $3}' "$CP_PIDS/$name")" 1 &
    else
      poll "$name" "$(now)" 0 &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  [ $fail = 0 ] || die "not every service answered: $*"
}

# bring_up NAME...: launch those not running, then await all of them.
bring_up() {
  local name
  for name in "$@"; do "launch_$name"; done
  await "$@"
}
