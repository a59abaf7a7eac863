#!/usr/bin/env bash
# Hostile traffic through the cgnat pipeline (issue 9), while an established
# TCP transfer keeps going. One client namespace (no bridge in the way of
# tiny and oversized frames) with two addresses: A (10.16.1.2) attacks, B
# (10.16.1.64, in an unpoliced profile) downloads from the server with iperf3 -R for the
# whole run. nat.max-sessions-per-client = 256, nat.fragments-held = 64,
# nat.fragment-timeout-ms = 300. Each flood (scripts/lib/hostile.py) is
# bounded in count and in time (20 s); per flood:
#   syn-one 1000 SYNs from A        each made a session or rose
#                                   nat-session-limit; at most 256 sessions
#                                   were made (the table is not filled)
#   syn-many 1500 SYNs, 1500 sources  clients made (answers to 10.16.128/17
#                                   end under no-route); nothing crashes
#   syn-spoofed 1000                spoofed-source rose by exactly 1000
#   ack-nosession 1000 from A       nat-tcp-not-syn rose by exactly 1000
#   ack from the outside 1000       nat-no-mapping + nat-filtered rose by 1000
#   icmp-nosession 1000 from A      nat-icmp-no-session rose by exactly 1000
#   frag-tail 600, frag-overlap 300 (600 frames), garbage 2000: survived,
#                                   counted (the identities below); af_packet's
#                                   fanout reassembles fragments in the kernel
#                                   (PACKET_FANOUT_FLAG_DEFRAG), so tails whose
#                                   first never comes do not reach sluice here
#                                   (frag_track_test covers them)
#   tiny 500                        ip-truncated rose by exactly 500
#   oversized 200 (1614-byte)       survived, counted
# Then: nothing listens on the network and the telemetry socket's directory
# is root's alone (0700); the download ran every second of the run (no 1 s
# interval without data), B opens a new TCP connection, the counter
# identities hold live and exactly on the exit summary, and sluice exits 0.
set -uo pipefail
export SL_NAT=1 SL_CLI_EXTRA=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
HOSTILE=$SL_LIB/hostile.py
LIMIT=256
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
sl_config "max-sessions-per-client = $LIMIT" "fragments-held = 64" "fragment-timeout-ms = 300" \
  "[policing]" "profile = free 10.16.1.64/32 off" >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts"; sl_finish; }
NS_A=$SL_NS_CLI
NS_B=$SL_NS_CLI
A=$SL_CLI_IP
B=10.16.1.64
IF_A=$SL_IF_CLI
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
mac_out=$(sl_mac "$SL_NS_SLU" "$SL_IF_OUT")
ip netns exec "$NS_A" ping -c 1 -W 2 "$SL_SRV_IP" >/dev/null 2>&1

# The established transfer: until the floods end (SIGINT: iperf3 still
# reports), 240 s at most. The client runs without a timeout wrapper so
# that SL_BG_PID is iperf3 itself (ip netns exec execs it) and gets the
# SIGINT; iperf3's -t bounds it, and the cleanup kills it on failure.
sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s.log" timeout 260 iperf3 -s -1 -B "$SL_SRV_IP" -p 5201
sl_wait_listen "$SL_NS_SRV" tcp 5201 5 || sl_fail "iperf3 server listens"
# Paced at 20 Mbit/s: unpaced it takes both cores and starves the floods.
sl_bg "$NS_B" "$SL_TMP/iperf.json" iperf3 -R -B "$B" -c "$SL_SRV_IP" -p 5201 -t 240 -b 20M -i 1 -J \
  --connect-timeout 3000
IPERF=$SL_BG_PID
sleep 2

drop() { sl_drop "$1" 2>/dev/null || echo 0; }
# flood NS IFACE KIND COUNT [ARGS...]: runs one bounded flood, prints nothing.
flood() {
  local ns=$1 ifc=$2 kind=$3 count=$4 mac=$mac_in
  shift 4
  [ "$ns" = "$SL_NS_SRV" ] && mac=$mac_out
  ip netns exec "$ns" timeout --foreground 30 "$SL_PY" "$HOSTILE" --iface "$ifc" --dst-mac "$mac" \
    --kind "$kind" --count "$count" --seconds 20 --seed "$SL_ID" "$@" >"$SL_TMP/flood.$kind.log" 2>&1
  sent=$(awk '/^sent/ { print $2 }' "$SL_TMP/flood.$kind.log")
  [ "$kind" = frag-overlap ] && count=$((count * 2))
  [ "${sent:-0}" -eq "$count" ] || sl_fail "$kind: all $count frames sent" "$(tail -n 3 "$SL_TMP/flood.$kind.log")"
}
# settle: waits until the workers have received every frame sent so far.
# settle: until the drop counters stop moving (the download keeps rx
# moving, and drops nothing), 10 s at most.
settle() {
  local d i
  d=$(sl_stat dropped)
  sleep 0.5
  for i in $(seq 30); do
    [ "$(sl_stat dropped)" = "$d" ] && return 0
    d=$(sl_stat dropped)
    sleep 0.3
  done
}
# delta KIND COUNT REASON...: floods, then expects the sum of REASONs to rise by COUNT.
expect_reasons() {
  local what=$1 n=$2 r before=0 after=0
  shift 2
  for r in "$@"; do before=$((before + $(drop "$r"))); done
  flood "${FLOOD_ARGS[@]}"
  settle
  for r in "$@"; do after=$((after + $(drop "$r"))); done
  sl_expect "$what: $* rose by $n" $((after - before)) -eq "$n"
}

sessions0=$(sl_nat sessions_created)
limited0=$(drop nat-session-limit)
flood "$NS_A" "$IF_A" syn-one 1000 --src "$A"
settle
made=$(($(sl_nat sessions_created) - sessions0))
sl_expect "one client's SYN flood: sessions made + nat-session-limit = 1000" \
  $((made + $(drop nat-session-limit) - limited0)) -eq 1000
sl_expect "one client's SYN flood: at most $LIMIT sessions made" "$made" -le "$LIMIT"

clients0=$(sl_nat clients)
flood "$NS_A" "$IF_A" syn-many 1500
settle
sl_expect "SYN flood from 1500 inside sources: clients made" $(($(sl_nat clients) - clients0)) -ge 1400

FLOOD_ARGS=("$NS_A" "$IF_A" syn-spoofed 1000)
expect_reasons "SYN flood from spoofed sources" 1000 spoofed-source
FLOOD_ARGS=("$NS_A" "$IF_A" ack-nosession 1000 --src "$A" --dport 10)
expect_reasons "TCP segments outside any session, inside" 1000 nat-tcp-not-syn
FLOOD_ARGS=("$SL_NS_SRV" "$SL_IF_SRV" ack-nosession 1000 --src "$SL_SRV_IP" --dst 198.51.100.62 --dport 40000)
expect_reasons "TCP segments outside any session, outside" 1000 nat-no-mapping nat-filtered nat-tcp-not-syn
FLOOD_ARGS=("$NS_A" "$IF_A" icmp-nosession 1000 --src "$A" --dport 11)
expect_reasons "ICMP errors quoting no session" 1000 nat-icmp-no-session
flood "$NS_A" "$IF_A" frag-tail 600 --src "$A" --dport 12
flood "$NS_A" "$IF_A" frag-overlap 300 --src "$A" --dport 13
flood "$NS_A" "$IF_A" garbage 2000
FLOOD_ARGS=("$NS_A" "$IF_A" tiny 500)
expect_reasons "14-byte frames" 500 ip-truncated
# Frames above the MTU need every link on the way to carry them.
ip -n "$NS_A" link set "$IF_A" mtu 1700
ip -n "$SL_NS_SLU" link set "$SL_IF_IN" mtu 1700
flood "$NS_A" "$IF_A" oversized 200 --src "$A" --dport 14
settle

sl_check "sluice is still running after the floods" kill -0 "$SL_SLUICE_PID"
# Safe defaults: nothing listens on the network, and the telemetry socket's
# directory is root's alone.
listening=$(ip netns exec "$SL_NS_SLU" ss -Hlntu | wc -l)
sl_expect "sluice opens no listening TCP or UDP port" "$listening" -eq 0
sl_expect "the runtime directory (telemetry socket) is root's alone" \
  "$(stat -c '%a %U' "/var/run/dpdk/$SL_PREFIX")" == "700 root"
sl_check "the download was still running when the floods ended" kill -0 "$IPERF"
kill -INT "$IPERF" 2>/dev/null
wait "$IPERF" 2>/dev/null
read -r intervals empty bytes < <("$SL_PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
iv = [i["sum"] for i in d.get("intervals", [])]
print(len(iv), sum(1 for s in iv if s["bytes"] == 0 and s["seconds"] > 0.5), sum(s["bytes"] for s in iv))
' "$SL_TMP/iperf.json" 2>/dev/null || echo "0 0 0")
sl_log "      download during the floods: $intervals s, $bytes bytes"
sl_expect "the download ran through the floods (1 s intervals)" "${intervals:-0}" -ge 5
sl_expect "no second of the download without data" "${empty:-1}" -eq 0
sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s2.log" timeout 20 iperf3 -s -1 -B "$SL_SRV_IP" -p 5202
sl_wait_listen "$SL_NS_SRV" tcp 5202 5 || sl_fail "second iperf3 server listens"
sl_check "B opens a new TCP connection after the floods" \
  ip netns exec "$NS_B" timeout 15 iperf3 -B "$B" -c "$SL_SRV_IP" -p 5202 -t 1 --connect-timeout 3000
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_log "      drops: $(grep '^sluice: drop' "$SL_TMP/sluice.log" | awk '{printf "%s %s, ", $3, $4}')"
sl_finish
