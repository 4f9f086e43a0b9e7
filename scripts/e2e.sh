#!/bin/bash
# e2e.sh -- the end-to-end tests (go test -tags e2e ./e2e/) against a running control plane,
# verbose into .cache/e2e.log. What it prints: each test's result and time, and the whole
# output of each test that failed. Extra arguments go to go test (e.g. -run '^TestResize$').
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
mkdir -p .cache
log=.cache/e2e.log
go test -v -count=1 -p 1 -timeout "${E2E_TIMEOUT:-75m}" -tags e2e "$@" ./e2e/ >"$log" 2>&1
rc=$?
# The tests run one after another: a test's output runs from its "=== RUN" to its result line.
awk '
  /^=== RUN   Test[^\/]*$/ { buf = "" }
  { buf = buf $0 "\n" }
  /^--- FAIL: Test/ { printf "%s", buf; buf = ""; next }
  /^--- (PASS|SKIP): Test/ { print; buf = "" }
  /^(ok|FAIL|panic:)/ && !/^--- / { print }
' "$log"
if [ "$rc" -ne 0 ] && ! grep -q '^--- FAIL: Test' "$log"; then
  echo "e2e: go test exited $rc with no failed test; the log's end:"
  tail -n 100 "$log"
fi
echo "e2e: the whole output is in $log"
exit "$rc"
