#!/bin/bash
# fuzz.sh -- run every Go fuzz target in the module for $FUZZTIME (default 20s) each.
# Malformed input must never panic; a crash fails the run and leaves the input in testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
T=${FUZZTIME:-20s}
found=0
while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    found=$((found + 1))
    echo "fuzz: $dir $target for $T"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$T" "./$dir"
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sort)
echo "fuzz: $found target(s) ran"
