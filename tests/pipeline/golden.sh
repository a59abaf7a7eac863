#!/usr/bin/env bash
# Golden packet test of the forward pipeline over net_pcap (see golden.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/tests/pipeline/golden.py" "${SLUICE_BUILD:-$root/build}/control/sluice" "$work"
