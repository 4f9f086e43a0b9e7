#!/bin/bash
# test.sh -- `make test`: every test tier on this machine, with real parts.
#   1. Debian packages (scripts/install-deps.sh), 2. the test guest image, 3. RabbitMQ and
#   libvirtd started by hand (scripts/parts.sh; stopped again on exit, only what it started),
#   4. vet, 5. unit + component + wire tests (`-tags component`: they need the parts, root and
#   Debian's python3-nova; a missing part fails, never skips), 6. fuzz targets for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

bash scripts/install-deps.sh
bash guest/build-guest-image.sh "${GUEST_DIR:-.cache/guest}"
bash scripts/parts.sh start
trap 'bash scripts/parts.sh stop' EXIT

go vet ./...
go vet -tags component ./...
# One package at a time: the packages share one libvirtd and one broker, and TCG guests
# want both cores.
go test -count=1 -p 1 -timeout 30m -tags component ./...
FUZZTIME=${FUZZTIME:-20s} bash scripts/fuzz.sh
