#!/bin/bash
# lint.sh -- gofmt, go vet on both test tiers, and staticcheck when it installs cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin:$PATH
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
go vet ./...
go vet -tags component ./...
if command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@latest; then
  staticcheck ./...
  staticcheck -tags component ./...
else
  echo "lint: staticcheck did not install; skipped (gofmt and go vet passed)"
fi
echo "lint: ok"
