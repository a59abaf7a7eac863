#!/usr/bin/env bash
# Per-client microflow policing (issue 4) with real traffic through the cgnat
# pipeline: three client namespaces (10.16.1.2, .3, .4), the defaults (CIR
# 8 Mbit/s, CBS 250,000 bytes, exceed = drop) for 10.16.0.0/12 and the
# client 10.16.1.4 in an unpoliced profile ("free ... off").
#
# Rates are IPv4 bit/s (datagram payload + 28 bytes), what the policer
# counts, measured by the receiver over 10 s starting 1 s after the first
# datagram (the first CBS goes through at once; a policer lets CIR x T + CBS
# through in T seconds).
#
#  1. Client A floods the server at 12 Mbit/s while the server floods A's
#     public endpoint at 12 Mbit/s: each direction gets 8 Mbit/s +-2 %,
#     independently.
#  2. Clients A and B flood at once, C (unpoliced) floods at 16 Mbit/s: A and
#     B get 8 Mbit/s +-2 % each; C gets at least 15 Mbit/s.
#  3. A real TCP download (iperf3 -R) to A: goodput between 85 % of CIR and
#     CIR.
#  4. Counters: policer-exceed drops rose; /sluice/policing shows the default
#     profile's exceeded traffic both ways and none for "free";
#     /sluice/policing/clients lists A and B; the exit summary has the
#     policing lines; `sluicectl stats` shows the profiles and the policed
#     clients, `sluicectl stats --prometheus` the policing families.
set -uo pipefail
export SL_NAT=1 SL_CLIENTS=3
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
FLOOD=$SL_LIB/flood.py
CIR=8000000

sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
sl_config "[policing]" "profile = free 10.16.1.4/32 off" >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts"; sl_finish; }
NS_A=${SL_NS_CLIS[0]}
NS_B=${SL_NS_CLIS[1]}
NS_C=${SL_NS_CLIS[2]}
A=${SL_CLI_IPS[0]}
B=${SL_CLI_IPS[1]}
C=${SL_CLI_IPS[2]}

# within NAME BPS EXPECTED PERCENT: PASS when BPS is within PERCENT of EXPECTED.
within() {
  local lo hi
  lo=$(($3 * (100 - $4) / 100))
  hi=$(($3 * (100 + $4) / 100))
  if [ "$2" -ge "$lo" ] && [ "$2" -le "$hi" ]; then
    sl_pass "$1: $2 bit/s within $4 % of $3"
  else
    sl_fail "$1" "got $2 bit/s, expected $lo to $hi"
  fi
}
bps_of() { awk '$1 == "packets" { print $4 }' "$1" | tail -n1; }

# --- 1. one client, both directions at once
sl_bg "$SL_NS_SRV" "$SL_TMP/up-recv.log" "$SL_PY" "$FLOOD" recv --bind "$SL_SRV_IP:9000" --seconds 14
UP_RECV=$SL_BG_PID
sl_bg "$SL_NS_SRV" "$SL_TMP/down-send.log" "$SL_PY" "$FLOOD" send --answer --bind "$SL_SRV_IP:9001" \
  --rate 12000000 --size 1200 --seconds 12
DOWN_SEND=$SL_BG_PID
sl_wait_listen "$SL_NS_SRV" udp 9001 5 || sl_fail "flood answerer listens"
sl_bg "$NS_A" "$SL_TMP/down-recv.log" "$SL_PY" "$FLOOD" recv --bind "$A:9001" --seconds 14 \
  --hello "$SL_SRV_IP:9001"
DOWN_RECV=$SL_BG_PID
ip netns exec "$NS_A" "$SL_PY" "$FLOOD" send --dst "$SL_SRV_IP:9000" --rate 12000000 --size 1200 \
  --seconds 12 >"$SL_TMP/up-send.log" 2>&1
wait "$UP_RECV" "$DOWN_SEND" "$DOWN_RECV"
within "upload of one client at 12 Mbit/s is policed to CIR" "$(bps_of "$SL_TMP/up-recv.log")" $CIR 2
within "download to one client at 12 Mbit/s is policed to CIR, beside its upload" \
  "$(bps_of "$SL_TMP/down-recv.log")" $CIR 2

# --- 2. two policed clients and an unpoliced one at once
for i in 0 1 2; do
  sl_bg "$SL_NS_SRV" "$SL_TMP/recv$i.log" "$SL_PY" "$FLOOD" recv --bind "$SL_SRV_IP:$((9100 + i))" \
    --seconds 14
  RECV[$i]=$SL_BG_PID
done
sl_wait_listen "$SL_NS_SRV" udp 9102 5
sl_bg "$NS_A" "$SL_TMP/send0.log" "$SL_PY" "$FLOOD" send --dst "$SL_SRV_IP:9100" --rate 12000000 --seconds 12
S0=$SL_BG_PID
sl_bg "$NS_B" "$SL_TMP/send1.log" "$SL_PY" "$FLOOD" send --dst "$SL_SRV_IP:9101" --rate 12000000 --seconds 12
S1=$SL_BG_PID
ip netns exec "$NS_C" "$SL_PY" "$FLOOD" send --dst "$SL_SRV_IP:9102" --rate 16000000 --seconds 12 \
  >"$SL_TMP/send2.log" 2>&1
wait "$S0" "$S1" "${RECV[@]}"
within "client A policed to CIR while B is" "$(bps_of "$SL_TMP/recv0.log")" $CIR 2
within "client B policed to CIR while A is" "$(bps_of "$SL_TMP/recv1.log")" $CIR 2
sl_expect "client C in an unpoliced profile is not limited (bit/s)" \
  "$(bps_of "$SL_TMP/recv2.log")" -ge 15000000

# --- 3. a real TCP download
sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s.log" timeout 25 iperf3 -s -1 -B "$SL_SRV_IP" -p 5201
sl_wait_listen "$SL_NS_SRV" tcp 5201 5 || sl_fail "iperf3 server listens"
ip netns exec "$NS_A" timeout --foreground 25 iperf3 -c "$SL_SRV_IP" -p 5201 -R -t 10 -J \
  --connect-timeout 3000 >"$SL_TMP/iperf.json" 2>&1
goodput=$("$SL_PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' \
  "$SL_TMP/iperf.json" 2>/dev/null || echo 0)
sl_expect "TCP download goodput reaches 85 % of CIR (bit/s)" "$goodput" -ge $((CIR * 85 / 100))
sl_expect "TCP download goodput stays within CIR (bit/s)" "$goodput" -le $CIR

# --- 4. counters
sl_expect "policer-exceed drops counted" "$(sl_drop policer_exceed)" -gt 1000
sl_expect "no policer-violate drops with one rate" "$(sl_drop policer_violate)" -eq 0
sleep 1.2  # one more sample of the rates
sl_tel /sluice/policing >"$SL_TMP/policing.json"
sl_tel /sluice/policing/clients,5 >"$SL_TMP/clients.json"
sl_check "/sluice/policing: default exceeded both ways, free never" "$SL_PY" - "$SL_TMP/policing.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
up, down = d["default"][0:9], d["default"][9:18]
# [conformed packets, bytes, bps, exceeded packets, bytes, bps, violated ...]
assert up[3] > 1000 and down[3] > 1000, (up, down)
assert up[0] > 1000 and down[0] > 1000, (up, down)
assert up[6] == 0 and down[6] == 0, (up, down)
free = d["free"]
assert free[0] > 1000 and free[3] == 0 and free[12] == 0, free
EOF
sl_check "/sluice/policing/clients lists A and B with exceeded traffic" "$SL_PY" - \
  "$SL_TMP/clients.json" "$A" "$B" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for ip in sys.argv[2:]:
    row = d[ip.replace(".", "_")]
    assert row[0] == 1, row  # the default profile
    assert row[4] > 1000, row  # upload exceeded packets
EOF
"$CTL" -p "$SL_PREFIX" stats >"$SL_TMP/stats.txt" 2>&1
sl_check "sluicectl stats: the default profile's upload exceeded" \
  grep -Eq '^  default +upload +[0-9,]+ +[^ ]+ +[1-9][0-9,]* ' "$SL_TMP/stats.txt"
sl_check "sluicectl stats: client A among the clients policed now" \
  grep -Eq "^  ${A//./\\.} " "$SL_TMP/stats.txt"
"$CTL" -p "$SL_PREFIX" stats --prometheus >"$SL_TMP/prom.txt" 2>&1
sl_check "sluicectl --prometheus: exceeded upload packets of the default profile" \
  grep -Eq '^sluice_policing_packets_total\{profile="default",direction="upload",colour="exceeded"\} [1-9]' \
  "$SL_TMP/prom.txt"

sl_stop
sl_check "exit summary: default profile upload exceeded" \
  grep -Eq '^sluice: policing default upload conformed [1-9][0-9]* .* exceeded [1-9]' "$SL_TMP/sluice.log"
sl_check "exit summary: free profile never exceeded" \
  grep -Eq '^sluice: policing free upload conformed [1-9][0-9]* .* exceeded 0 ' "$SL_TMP/sluice.log"
sl_finish
