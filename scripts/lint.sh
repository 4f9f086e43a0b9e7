#!/bin/bash
# lint.sh -- gofmt, go vet and staticcheck on every build tag (unit, component, e2e).
# staticcheck is pinned in go.mod as a tool (`go get -tool honnef.co/go/tools/cmd/staticcheck`),
# so it is built from the module proxy at that version and never silently skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
for tags in "" component e2e; do
  echo "lint: go vet and staticcheck${tags:+ -tags $tags}"
  go vet ${tags:+-tags "$tags"} ./...
  go tool staticcheck ${tags:+-tags "$tags"} ./...
done
echo "lint: ok"
