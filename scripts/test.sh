#!/bin/bash
# test.sh -- `make test`: every test tier on this machine, with real parts.
#   1. Debian packages (scripts/install-deps.sh), 2. the test guest image, 3. RabbitMQ and
#   libvirtd started by hand (scripts/parts.sh), 4. the project's Zed control plane
#   (controlplane/; the Neutron client's component test talks to its Neutron), 5. vet, 6. unit +
#   component + wire tests (`-tags component`: they need the parts, root and Debian's
#   python3-nova; a missing part fails, never skips), 7. fuzz targets for a bounded time, 8. the
#   end-to-end tests against the control plane (`-tags e2e`).
# On exit it stops what it started, and only that (parts.sh and controlplane/stop.sh record PIDs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

bash scripts/install-deps.sh
bash guest/build-guest-image.sh "${GUEST_DIR:-.cache/guest}"
# Parts or a control plane that already run (a developer's) are used and left running.
answers() { timeout 5 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }
answers 5672 || STARTED_PARTS=1
bash scripts/parts.sh start
cleanup() {
  if [ "${STARTED_CONTROLPLANE:-0}" = 1 ]; then bash controlplane/stop.sh || true; fi
  if [ "${STARTED_PARTS:-0}" = 1 ]; then bash scripts/parts.sh stop; fi
}
trap cleanup EXIT

bash controlplane/install.sh
answers 5000 || STARTED_CONTROLPLANE=1
bash controlplane/start.sh

go vet ./...
go vet -tags component ./...
go vet -tags e2e ./...
# One package at a time: the packages share one libvirtd and one broker, and TCG guests
# want both cores.
go test -count=1 -p 1 -timeout 30m -tags component ./...
FUZZTIME=${FUZZTIME:-20s} bash scripts/fuzz.sh

go test -count=1 -p 1 -timeout 30m -tags e2e ./e2e/
