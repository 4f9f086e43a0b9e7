#!/bin/bash
# test.sh -- `make test`: every test tier on this machine, with real parts.
#   1. Debian packages (scripts/install-deps.sh), 2. the test guest image, 3. RabbitMQ and
#   libvirtd started by hand (scripts/parts.sh), 4. the project's Zed control plane and its
#   fixtures (controlplane/; the Neutron client's component test talks to its Neutron), 5. vet,
#   6. unit + component + wire tests (`-tags component`: they need the parts, root and Debian's
#   python3-nova; a missing part fails, never skips), 7. fuzz targets for a bounded time, 8. the
#   .deb built, installed, checked and purged (scripts/deb-test.sh), 9. the end-to-end tests
#   against the control plane (`-tags e2e`).
# Each step's duration is printed as it ends, and all of them at the end.
# On exit it stops what it started, and only that (parts.sh and controlplane/stop.sh record PIDs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

T0=$SECONDS
STEPS=()
step() { # NAME CMD...: run CMD and print its duration
  local name=$1 t=$SECONDS rc=0
  shift
  echo "==== test: $name"
  "$@" || rc=$?
  STEPS+=("$(printf '%-22s %5ss%s' "$name" $((SECONDS - t)) "$([ $rc = 0 ] || echo "  FAILED ($rc)")")")
  echo "==== test: $name: $((SECONDS - t))s$([ $rc = 0 ] || echo ", FAILED ($rc)")"
  return $rc
}

step packages bash scripts/install-deps.sh
# The tests run their own novalet as this host's nova-compute: a demo left running (`make demo`)
# gives the host back first (its server cirros-VM1 is deleted; the control plane stays up).
. scripts/pids.sh
if pid_owned .cache/demo/novalet.pid >/dev/null; then
  echo "test: the demo's novalet runs on this host: ending it and its server cirros-VM1 (make demo-stop would also stop the control plane)"
  bash scripts/demo.sh stop-agent
fi
step guest bash guest/build-guest-image.sh "${GUEST_DIR:-.cache/guest}"
# Parts or a control plane that already run (a developer's, the demo's) are used and left running.
answers() { timeout 5 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }
answers 5672 || STARTED_PARTS=1
step parts bash scripts/parts.sh start
cleanup() {
  local rc=$?
  if [ "${STARTED_CONTROLPLANE:-0}" = 1 ]; then bash controlplane/stop.sh || true; fi
  if [ "${STARTED_PARTS:-0}" = 1 ]; then bash scripts/parts.sh stop; fi
  echo "==== test: steps"
  printf '%s\n' "${STEPS[@]}"
  echo "==== test: total $((SECONDS - T0))s, exit $rc"
}
trap cleanup EXIT

# The resize e2e test resizes on this one host: nova-api must allow it (nova's default is false).
export ALLOW_RESIZE_TO_SAME_HOST=${ALLOW_RESIZE_TO_SAME_HOST:-true}
step controlplane-install bash controlplane/install.sh
answers 5000 || STARTED_CONTROLPLANE=1
step controlplane-start bash controlplane/start.sh

vet() { go vet ./... && go vet -tags component ./... && go vet -tags e2e ./...; }
step vet vet
# One package at a time: the packages share one libvirtd and one broker, and TCG guests
# want both cores.
step unit+component go test -count=1 -p 1 -timeout 30m -tags component ./...
step fuzz env FUZZTIME="${FUZZTIME:-20s}" bash scripts/fuzz.sh
step package bash scripts/deb-test.sh
rm -f .cache/faults.txt .cache/soak.txt
e2e_rc=0
step e2e bash scripts/e2e.sh || e2e_rc=$?
# The fault suite's and the soak's tables (e2e TestFaults, TestSoak), failed or not.
for f in .cache/faults.txt .cache/soak.txt; do
  [ ! -s "$f" ] || { echo "==== test: $f"; cat "$f"; }
done
exit $e2e_rc
