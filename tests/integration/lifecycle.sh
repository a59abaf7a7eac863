#!/usr/bin/env bash
# Lifecycle under load: for SIGTERM and then SIGINT, with sluice forwarding a
# UDP flood (iperf3, 400 Mbit/s, bounded to 8 s) and a TCP stream (iperf3,
# bounded to 8 s) at the moment of the signal:
#  - sluice exits with status 0 within 3 s;
#  - it prints its summary (workers line, control line, one line per port);
#  - the summary's counter identities hold exactly (nothing lost in the stop);
#  - its telemetry socket is gone afterwards;
#  - it starts again with the same prefix and forwards (the next round).
# Finally: sluice stopped while idle right after start-up also exits 0.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }

round() {
  local sig=$1 f0 f1 udp tcp
  sl_start || { sl_fail "$sig round: sluice starts"; return; }
  sl_check "$sig round: ping through sluice" sl_cli ping -c 2 -i 0.2 -W 2 "$SL_SRV_IP"
  sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s1.log" timeout 15 iperf3 -s -1 -B "$SL_SRV_IP" -p 5201
  sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s2.log" timeout 15 iperf3 -s -1 -B "$SL_SRV_IP" -p 5202
  sl_wait_listen "$SL_NS_SRV" tcp 5201 5 && sl_wait_listen "$SL_NS_SRV" tcp 5202 5 || sl_fail "iperf3 servers listen"
  sl_bg "$SL_NS_CLI" "$SL_TMP/iperf-u.log" timeout 12 iperf3 -u -c "$SL_SRV_IP" -p 5201 -b 400M -l 1400 -t 8 --connect-timeout 3000
  udp=$SL_BG_PID
  sl_bg "$SL_NS_CLI" "$SL_TMP/iperf-t.log" timeout 12 iperf3 -c "$SL_SRV_IP" -p 5202 -t 8 --connect-timeout 3000 -R
  tcp=$SL_BG_PID
  sleep 1.5
  f0=$(sl_stat forwarded)
  sleep 0.5
  f1=$(sl_stat forwarded)
  sl_expect "$sig round: traffic is flowing when the signal comes (packets forwarded in 0.5 s)" "$((f1 - f0))" -gt 10000
  sl_stop "$sig" 10
  sl_expect "$sig round: exit status" "$SL_EXIT" -eq 0
  sl_expect "$sig round: exited within 3 s (ms)" "$SL_STOP_MS" -lt 3000
  sl_check "$sig round: summary 'sluice: workers rx .. forwarded ..' printed" grep -q '^sluice: workers rx [0-9]* tx [0-9]* forwarded [0-9]*' "$SL_TMP/sluice.log"
  sl_check "$sig round: summary control line printed" grep -q '^sluice: control arp' "$SL_TMP/sluice.log"
  sl_expect "$sig round: summary has one line per port" "$(grep -c '^sluice: port ' "$SL_TMP/sluice.log")" -eq 2
  sl_expect "$sig round: summary forwarded at least what telemetry saw" "$(sl_summary_value forwarded)" -ge "$f1"
  sl_check "$sig round: counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
  sl_check "$sig round: telemetry socket removed" test ! -S "/var/run/dpdk/$SL_PREFIX/dpdk_telemetry.v2"
  sl_log "      $sig round: stopped in $SL_STOP_MS ms; $(grep '^sluice: workers' "$SL_TMP/sluice.log")"
  grep '^sluice: drop' "$SL_TMP/sluice.log" | sed 's/^/      /'
  cp "$SL_TMP/sluice.log" "$SL_TMP/sluice.$sig.log"
  sl_kill_pid "$udp"
  sl_kill_pid "$tcp"
}

round TERM
round INT

sl_start || sl_fail "idle: sluice starts"
sl_stop TERM 10
sl_expect "idle: SIGTERM right after start-up: exit status" "$SL_EXIT" -eq 0
sl_expect "idle: exited within 3 s (ms)" "$SL_STOP_MS" -lt 3000
sl_finish
