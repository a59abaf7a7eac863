#!/usr/bin/env bash
# LACP against an independent 802.3ad implementation: DPDK's bonding driver
# in mode 4, run by dpdk-testpmd (flowgen) in its own namespace, over two
# veth pairs (af_packet on both ends) as sluice's outside aggregate.
#
#   ns cli 10.16.1.2 ==== [sluice] outside (lacp, fast, layer3+4) =o0= q0 [testpmd bond]
#                                                                 =o1= q1
#  - both ends reach collecting+distributing on both members (time measured,
#    within 3 s of the partner starting, plus margin); the partner's
#    `show bonding lacp info` names sluice's system and shows it in sync,
#    collecting and distributing; /sluice/lacp is read with dpdk-telemetry.py;
#  - sluicectl lacp shows what /proc/net/bonding would (mode, rate, hash,
#    system, key, aggregator, partner, per member its state flags and
#    LACPDUs), stats and top have a link aggregation section;
#  - traffic crosses both ways: the partner's flowgen reaches the client
#    through sluice, the client's pings to 10.254.0.0/24 reach the partner,
#    spread over both members;
#  - the partner's member 0 goes away (its veth down; sluice's af_packet link
#    stays up): sluice stops using member 0 within the LACP timeout (3 s),
#    and the client's flows carry on over member 1; when it comes back it
#    rejoins and carries traffic again.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary
command -v dpdk-testpmd >/dev/null || { sl_fail "dpdk-testpmd installed (Debian package dpdk)"; sl_finish; }

SL_NS_PEER=$SL_TAG-peer
PEER_MAC=02:00:00:00:0b:01
OUT_MAC=00:01:02:03:04:01  # where DPDK 22.11's flowgen sends, whatever --eth-peer says
sl_ns_new "$SL_NS_CLI" && sl_ns_new "$SL_NS_SLU" && sl_ns_new "$SL_NS_PEER" || { sl_fail "namespaces"; sl_finish; }
sl_inside_client || { sl_fail "client veth"; sl_finish; }
for i in 0 1; do
  sl_veth "${SL_TAG}o$i" "$SL_NS_SLU" "${SL_TAG}q$i" "$SL_NS_PEER" || { sl_fail "veth"; sl_finish; }
  sl_shape_slow "$SL_NS_PEER" "${SL_TAG}q$i" || { sl_fail "tc shaping on the partner"; sl_finish; }
done
SL_LINKS=()

SL_CONF=$SL_TMP/sluice.conf
{
  sl_config_inside
  cat <<CONF

[outside]
address = 192.0.2.1/24
port = net_af_packet1,iface=${SL_TAG}o0
port = net_af_packet2,iface=${SL_TAG}o1
mac = $OUT_MAC
lag-mode = lacp
lacp-rate = fast
xmit-hash = layer3+4
neighbour = 192.0.2.2 $PEER_MAC

[routes]
# flowgen sends from 10.254.0.0 to 10.253.0.0-15; the client sinks those.
static = 10.253.0.0/16 via $SL_CLI_IP
static = 10.254.0.0/16 via 192.0.2.2
CONF
} >"$SL_CONF"
sl_start || { sl_fail "sluice starts"; sl_finish; }
sl_pass "sluice starts with an LACP aggregate"

# tel CMD KEY: a telemetry value, asked again if a busy host made the socket
# time out. lacp KEY: a key of /sluice/lacp,outside.
tel() {
  local i
  for i in 1 2 3 4 5; do sl_tel_get "$1" "$2" 2>/dev/null && return 0; sleep 0.2; done
  echo "telemetry-failed"
  return 1
}
lacp() { tel /sluice/lacp,outside "$1"; }
sl_expect "no member distributes before the partner speaks" "$(lacp distributing)" -eq 0

sl_testpmd_bond "$SL_NS_PEER" "$PEER_MAC" "$OUT_MAC" "${SL_TAG}q0" "${SL_TAG}q1"
sl_testpmd_cmd "show port info $SL_TESTPMD_BOND" "Device name: net_bonding0" 20 >/dev/null ||
  { sl_fail "testpmd starts with a mode 4 bond" "$(tail -5 "$SL_TMP/testpmd.log")"; sl_finish; }
sl_testpmd_cmd start
ms=$(sl_wait_tel /sluice/lacp,outside distributing -eq 2 10)
sl_log "      both members collecting+distributing ${ms} ms after the partner started"
# 802.1AX: the 2 s Aggregate_Wait_Time from the partner's first LACPDU, then
# an exchange or two (2.1-2.3 s measured); the margin is for a busy host and
# for the partner, which has been seen to take 1.7 s more to act on ours.
sl_expect "both members distributing within 3 s of the partner starting (+2 s margin)" "$ms" -le 5000
sl_expect "sluice sees the partner's system" "$(lacp partner_mac)" == "$PEER_MAC"
for m in 0 1; do
  sl_expect "member $m in sync, collecting, distributing" "$(lacp member${m}_actor_state_flags)" == \
    "activity,timeout,aggregation,synchronization,collecting,distributing"
done
# The partner takes our last LACPDU on its next 100 ms round: ask until it agrees (3 s).
for _ in 1 2 3 4 5 6; do
  info=$(sl_testpmd_cmd "show bonding lacp info $SL_TESTPMD_BOND" "Slave Port: 1" 5)
  [ "$(grep -c "port state: ACTIVE TIMEOUT AGGREGATION SYNCHRONIZATION COLLECTING DISTRIBUTING" <<<"$info")" -eq 2 ] && break
done
sl_expect "the partner lists sluice's system for both members" \
  "$(grep -ci "system mac address: $OUT_MAC" <<<"$info")" -eq 2
sl_expect "the partner sees sluice in sync, collecting and distributing on both" \
  "$(grep -c "port state: ACTIVE TIMEOUT AGGREGATION SYNCHRONIZATION COLLECTING DISTRIBUTING" <<<"$info")" -eq 2
tel=$(printf '/sluice/lacp,outside\n' | ip netns exec "$SL_NS_SLU" dpdk-telemetry.py -f "$SL_PREFIX" 2>&1)
sl_expect "dpdk-telemetry.py reads /sluice/lacp,outside" \
  "$(grep -c '"member1_mux": "distributing"' <<<"$tel")" -eq 1

# --- sluicectl lacp, stats, top ---------------------------------------------------------
ctl() { "$CTL" -p "$SL_PREFIX" "$@"; }
# The partner reports distributing in its next LACPDU after ours: read
# until both sides show it (bounded), so the checks below see one state.
flags_re="^ +activity,(timeout,)?aggregation,synchronization,collecting,distributing$"
for _ in $(seq 30); do
  out=$(ctl lacp outside)
  [ "$(grep -cE "$flags_re" <<<"$out")" -eq 4 ] && break
  sleep 0.2
done
sed 's/^/      | /' <<<"$out"
sl_check "sluicectl lacp outside: 802.3ad, both members distributing" \
  grep -q "^outside: IEEE 802.3ad dynamic link aggregation (LACP), 2 of 2 members distributing" <<<"$out"
sl_check "... fast rate, the hash policy" bash -c 'grep -q "LACP rate  *fast" <<<"$1" && grep -q "transmit hash policy  *layer3+4" <<<"$1"' _ "$out"
sl_check "... our system and key, the aggregator's partner" \
  bash -c 'grep -qi "system  *MAC $2, priority 65535, key 2" <<<"$1" && grep -qiE "aggregator  *id [12], partner MAC $3" <<<"$1"' _ "$out" "$OUT_MAC" "$PEER_MAC"
sl_expect "... per member: in the aggregator, link failures 0" \
  "$(grep -cE "link failures 0, state changes [0-9]+, aggregator [12]$" <<<"$out")" -eq 2
sl_expect "... per member: mux distributing, receive current" \
  "$(grep -c "mux distributing, receive current" <<<"$out")" -eq 2
sl_expect "... actor and partner in sync, collecting, distributing (4 flag lines)" \
  "$(grep -cE "$flags_re" <<<"$out")" -eq 4
sl_expect "... the partner's ports are 1 and 2, its system named" \
  "$(grep -ciE "partner $PEER_MAC priority [0-9]+, key [0-9]+, port [12]," <<<"$out")" -eq 2
rx=$(lacp member0_lacpdus_rx)
sl_check "... LACPDUs in and out counted" grep -qE "LACPDUs in [1-9][0-9]*, out [1-9]" <<<"$out"
json=$(ctl lacp --json)
sl_expect "sluicectl lacp --json: both sides, as telemetry has them" \
  "$("$SL_PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["inside"]["mode"], j["outside"]["member1_mux"], j["outside"]["member0_lacpdus_rx"] >= '"$rx"')' <<<"$json")" == "static distributing True"
ctl lacp sideways >/dev/null 2>&1
sl_expect "sluicectl lacp sideways: a usage error" "$?" -eq 2
stats=$(ctl stats)
sl_check "sluicectl stats: a link aggregation table" grep -q "^Link aggregation" <<<"$stats"
sl_expect "... both outside members distributing in it" \
  "$(grep -cE "^  outside [01] +net_af_packet[12] +up +distributing +0 +[1-9]" <<<"$stats")" -eq 2
prom=$(ctl stats --prometheus)
sl_expect "sluicectl stats --prometheus: member distributing gauges" \
  "$(grep -c '^sluice_lag_member_distributing{side="outside",member="[01]",port="[^"]*"} 1$' <<<"$prom")" -eq 2
sl_check "... and LACPDU counters" grep -q '^sluice_lag_member_lacpdus_rx_total{side="outside",member="0"' <<<"$prom"
top=$(COLUMNS=80 ctl top -n 2 -d 1.2)
sed -n '/^Link aggregation/,$p' <<<"$stats" | sed 's/^/      | /'
tail -n 3 <<<"$top" | sed 's/^/      | /'
sl_check "sluicectl top: the LAG line" grep -q "^LAG  inside static 1/1 distributing  outside 802.3ad fast 2/2 distributing" <<<"$top"
sl_expect "... members with their state and LACPDUs a second" \
  "$(tail -n 3 <<<"$top" | grep -cE "^  outside [01] +net_af_packet[12] up +distributing fails 0 state 63/[0-9]+ LACPDU/s [0-9.]+/[0-9.]+$")" -eq 2

# --- traffic both ways --------------------------------------------------------------
rx() { ip netns exec "$SL_NS_CLI" cat "/sys/class/net/$SL_IF_CLI/statistics/rx_packets"; }
port_tx() { tel "/ethdev/stats,$1" opackets; }
# Data frames sluice sent on member M (its port TX less LACP's frames).
data_tx() { echo $(($(port_tx $((M_PORT0 + $1))) - $(lacp "member$1_lacpdus_tx"))); }
M_PORT0=1  # ports: inside 0, outside members 1 and 2
r0=$(rx)
sleep 1
sl_expect "the partner's flowgen reaches the client through sluice (packets in 1 s)" "$(($(rx) - r0))" -ge 100
pings() {  # 16 destinations, 10 each, in parallel
  local d pids=()
  for d in $(seq 1 16); do
    ip netns exec "$SL_NS_CLI" timeout 10 ping -q -c 10 -i 0.05 -W 1 "10.254.0.$d" >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
}
a0=$(data_tx 0) a1=$(data_tx 1)
pings
d0=$(($(data_tx 0) - a0)) d1=$(($(data_tx 1) - a1))
sl_log "      160 pings to 16 addresses: member 0 carried $d0, member 1 $d1"
sl_expect "pings to the partner cross on both members (member 0)" "$d0" -ge 10
sl_expect "pings to the partner cross on both members (member 1)" "$d1" -ge 10
sl_expect "... and all of them" "$((d0 + d1))" -ge 160

# --- the partner's member 0 goes away ---------------------------------------------------
ip -n "$SL_NS_PEER" link set "${SL_TAG}q0" down
ms=$(sl_wait_tel /sluice/lacp,outside member0_distributing -eq 0 8)
sl_log "      member 0 left ${ms} ms after its partner went away (LACP timeout 3 s)"
sl_expect "sluice stops using member 0 within the LACP timeout (+500 ms)" "$ms" -le 3500
sl_expect "... while its link stays up" "$(lacp member0_link)" == up
sl_expect "member 1 carries on" "$(lacp member1_distributing)" -eq 1
out=$(ctl lacp outside)
sl_check "sluicectl lacp: member 0 not distributing, its link up" \
  grep -qE "member 0 net_af_packet1,iface=[^:]*: link up, not distributing" <<<"$out"
a0=$(data_tx 0) a1=$(data_tx 1)
pings
d0=$(($(data_tx 0) - a0)) d1=$(($(data_tx 1) - a1))
# (-le: LACPDUs af_packet could not send to a peer that is down are not in its TX count)
sl_expect "the flows moved off member 0" "$d0" -le 0
sl_expect "... and all went over member 1" "$d1" -ge 160
r0=$(rx)
sleep 1
sl_expect "the partner's traffic still reaches the client" "$(($(rx) - r0))" -ge 50

# --- it comes back -----------------------------------------------------------------------
ip -n "$SL_NS_PEER" link set "${SL_TAG}q0" up
ms=$(sl_wait_tel /sluice/lacp,outside distributing -eq 2 15)
sl_log "      member 0 rejoined ${ms} ms after its partner came back"
sl_expect "member 0 rejoins (within 15 s)" "$ms" -ge 0
a0=$(data_tx 0)
pings
sl_expect "member 0 carries traffic again" "$(($(data_tx 0) - a0))" -ge 10
sl_expect "member 0's state changes are counted" "$(lacp member0_state_changes)" -ge 8
sl_expect "no link failure was counted (the link stayed up)" "$(lacp member0_link_failures)" -eq 0
sl_expect "no malformed slow frames" "$(lacp member0_bad_rx)" -eq 0

sl_testpmd_cmd quit
sl_stop
sl_expect "sluice exits 0" "$SL_EXIT" -eq 0
sl_finish
