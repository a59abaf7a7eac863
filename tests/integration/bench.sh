#!/usr/bin/env bash
# The benchmark harness in a tiny configuration (bench/run smoke, seconds):
# sluice-pktgen drives sluice's cgnat pipeline over memif (two DPDK
# processes): UDP sessions opened, one fixed low-load trial both ways, TCP
# connections opened and closed with real handshakes. Checks that the
# harness finishes and writes its report, and that the generator's counts
# and sluice's agree: frames into and out of each of sluice's ports, the
# sessions sluice created and those the generator established, connections
# opened and closed, and that the tear-down trial saw every close and sluice's
# TCP table empty again. Speed is not checked. Then two cheap checks of the
# Pktgen-DPDK driving (pktgen is not installed here): the Lua it writes for
# the scenarios passes luac5.4 -p and sets their ranges, sizes and rates
# (run against a stand-in pktgen library), and a missing binary is a clear
# error naming what to install.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary
[ -x "$SL_ROOT/build/bench/sluice-pktgen" ] || { sl_err "build/bench/sluice-pktgen not built"; exit 2; }

out=$SL_TMP/results
timeout --kill-after=10 120 "$SL_PY" "$SL_ROOT/bench/harness.py" smoke --out "$out" \
  >"$SL_TMP/harness.out" 2>&1
rc=$?
sl_expect "bench/harness.py smoke exits 0" "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -n 20 "$SL_TMP/harness.out"
sl_check "report.md, result.json and the trials plot are written" \
  test -s "$out/report.md" -a -s "$out/result.json" -a -s "$out/trials.png"
sl_check "generator and sluice counts agree" "$SL_PY" - "$out/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert not r["errors"], r["errors"]
run = [x for x in r["runs"] if x["dut"] == "sluice"][0]
g, d = run["generator"], run["dut_counters"]
pairs = {
    "into sluice inside": (g["inside_tx"] - g["inside_tx_refused"], d["inside"]["rx_packets"]),
    "out of sluice outside": (g["outside_rx"], d["outside"]["tx_packets"]),
    "into sluice outside": (g["outside_tx"] - g["outside_tx_refused"], d["outside"]["rx_packets"]),
    "out of sluice inside": (g["inside_rx"], d["inside"]["tx_packets"]),
    "sessions": (run["established"], d["nat"]["sessions_created"]),
}
bad = {k: v for k, v in pairs.items() if v[0] != v[1]}
assert not bad, bad
assert g["inside_tx"] > 1000, g
t = run["steps"][0]["sizes"][0]["fixed"]
# Every frame sent either came out or is one of sluice's counted drops.
assert t["tx_up"] + t["tx_down"] - t["rx_up"] - t["rx_down"] <= d["stats"]["dropped"], (t, d["stats"])
c = run["connections"]["trials"][0]
assert c["opened"] > 0 and c["closed"] == c["opened"], c
td = run["teardown"]["trials"][0]
assert td["passed"] and td["closed"] == td["opened"] > 0 and td["table_left"] <= 0, td
print(pairs)
PY
sl_check "the report has the counts table" grep -q "| frames into sluice's inside port |" "$out/report.md"
sl_check "the report has the tear-down search" grep -q "1 of 1 passed" "$out/report.md"

sl_check "the Pktgen-DPDK Lua is valid and carries the scenarios' parameters" \
  "$SL_PY" "$SL_ROOT/bench/pktgen_dpdk.py" check
PKTGEN=/nonexistent "$SL_PY" "$SL_ROOT/bench/harness.py" smoke --generator pktgen \
  --out "$SL_TMP/no-pktgen" >"$SL_TMP/no-pktgen.out" 2>&1
rc=$?
sl_expect "--generator pktgen without pktgen exits 2" "$rc" -eq 2
sl_check "... saying what to install" grep -q "Pktgen-DPDK is not a Debian package" \
  "$SL_TMP/no-pktgen.out"
sl_finish
