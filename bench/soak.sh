#!/bin/bash
# soak.sh -- `make soak` (also run by `make bench`): e2e's TestSoak with SOAK_CYCLES servers
# (default 100), created and deleted on the flat network 10 at a time, with the host census
# after each batch (no leaked domain, directory, tap, port, allocation or temporary file) and
# novalet's RSS and goroutines sampled per batch (least-squares slope printed). The table goes
# to bench/results/<date>-soak.txt. Needs the control plane (`make controlplane`) and no other
# novalet on this host (the test runs its own).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
CYCLES=${SOAK_CYCLES:-100}
[[ $CYCLES =~ ^[0-9]+$ && $CYCLES -ge 10 ]] || { echo "soak: SOAK_CYCLES must be a number ≥ 10" >&2; exit 2; }
mkdir -p bench/results
OUT=bench/results/$(date +%F)-soak.txt
rm -f .cache/soak.txt
rc=0
NOVALET_SOAK_CYCLES=$CYCLES go test -count=1 -p 1 -timeout 120m -tags e2e -run '^TestSoak$' ./e2e/ || rc=$?
[ -s .cache/soak.txt ] || { echo "soak: the test wrote no table (exit $rc)" >&2; exit 1; }
{
  echo "# soak $(date -Is) $(git describe --always --dirty) cycles=$CYCLES exit=$rc"
  cat .cache/soak.txt
} >"$OUT"
cat "$OUT"
exit $rc
