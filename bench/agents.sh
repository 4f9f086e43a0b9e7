# agents.sh -- starting and stopping the two compute agents the way an operator would (sourced by
# run.sh, never run). Each start sets AGENT_PID (the agent process, a session leader) and
# AGENT_LAUNCH (epoch seconds at its launch, the origin of "start -> up").
#
#   debian   controlplane/start.sh --with-nova-compute: Debian's own command line, as user nova;
#            its launch time is the one start.sh records with the PID. stop.sh nova-compute.
#   novalet  bin/novalet run --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf, as root, in its own session with a
#            clean environment (as start.sh gives its daemons); SIGTERM to stop.

AGENT_PID=
AGENT_LAUNCH=
STARTER_PID=     # the background start.sh while it runs
NOVALET_PID=     # set while a novalet we started may be running

# debian_start RUN: start.sh runs in the background (after nova-compute is up it maps the host);
# the agent's PID and launch time appear in start.sh's PID file first.
debian_start() {
  local f=$CP_PIDS/nova-compute before t0=$SECONDS
  before=$(cat "$f" 2>/dev/null || true)
  "$REPO/controlplane/start.sh" --with-nova-compute >>"$WORK/debian-start-$1.log" 2>&1 </dev/null &
  STARTER_PID=$!
  until [ -f "$f" ] && [ "$(cat "$f")" != "$before" ]; do
    kill -0 "$STARTER_PID" 2>/dev/null || { tail -5 "$WORK/debian-start-$1.log" >&2; die "start.sh --with-nova-compute failed; see $WORK/debian-start-$1.log"; }
    ((SECONDS - t0 < 600)) || die "start.sh did not launch nova-compute within 600 s"
    sleep 0.05
  done
  read -r AGENT_PID _ AGENT_LAUNCH <"$f"
}

debian_alive() { [ -n "$AGENT_PID" ] && [ "$(stat_rest "$AGENT_PID" 2>/dev/null | cut -c1)" != Z ] && kill -0 "$AGENT_PID" 2>/dev/null; }

# debian_settled: start.sh has finished (its host mapping after "up"); a failure there is reported.
debian_settled() {
  [ -n "$STARTER_PID" ] || return 0
  wait "$STARTER_PID" || log "WARNING: start.sh --with-nova-compute exited non-zero; see $WORK/debian-start-*.log"
  STARTER_PID=
}

debian_stop() {
  debian_settled
  "$REPO/controlplane/stop.sh" nova-compute
  AGENT_PID=
}

novalet_start() {
  mkdir -p "$WORK"
  # setsid execs without forking here (a script's background job is no group leader), so $! is
  # novalet itself, and the leader of its own session.
  setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    no_proxy=controller,localhost,127.0.0.1,"$HOST" \
    "$REPO/bin/novalet" run --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute.conf >>"$WORK/novalet-$1.log" 2>&1 </dev/null &
  NOVALET_PID=$! AGENT_PID=$!
  AGENT_LAUNCH=$(now)
  echo "$NOVALET_PID" >"$WORK/novalet.pid"
}

novalet_alive() { [ -n "$NOVALET_PID" ] && kill -0 "$NOVALET_PID" 2>/dev/null && [ "$(stat_rest "$NOVALET_PID" | cut -c1)" != Z ]; }

# novalet_stop: SIGTERM, then its own 60 s graceful bound plus slack; we are its parent, so `wait`
# reaps it.
novalet_stop() {
  local i
  [ -n "$NOVALET_PID" ] || return 0
  if kill -TERM "$NOVALET_PID" 2>/dev/null; then
    for ((i = 0; i < 900; i++)); do novalet_alive || break; sleep 0.1; done
    if novalet_alive; then
      log "WARNING: novalet (pid $NOVALET_PID) ignored SIGTERM for 90 s; SIGKILL"
      kill -KILL "$NOVALET_PID" 2>/dev/null
    fi
  fi
  wait "$NOVALET_PID" 2>/dev/null
  log "novalet (pid $NOVALET_PID) stopped"
  NOVALET_PID='' AGENT_PID=''
  rm -f "$WORK/novalet.pid"
}
