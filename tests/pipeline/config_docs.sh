#!/usr/bin/env bash
# The shipped example configurations validate, and the README documents
# every option that `sluice --help` lists.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sluice=${SLUICE_BUILD:-$root/build}/control/sluice
fail=0
for f in "$root"/pipelines/examples/*.conf; do
  if "$sluice" --check-config "$f" >/dev/null; then
    echo "PASS: $(basename "$f") validates"
  else
    echo "FAIL: $(basename "$f") does not validate"
    fail=1
  fi
done
for key in $("$sluice" --help | grep -oE -- '--[a-z]+\.[a-z-]+' | sed 's/^--//' | sort -u); do
  if ! grep -q -- "$key" "$root/README.md"; then
    echo "FAIL: README does not document $key"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "PASS: README documents every option"
exit $fail
