#!/usr/bin/env bash
# Link failure on an aggregate member, with a link that follows a kernel
# interface: sluice's outside is a static aggregate of two net_tap ports,
# whose link is the kernel tap's (`ip link set TAP down` takes it down).
#
#   ns cli 10.16.1.2 ==== [sluice] outside (static, down/up delay 200 ms)
#                                   =tap t0=\
#                                             br0 (kernel, sluice's ns) ==== ns srv 192.0.2.2
#                                   =tap t1=/
#
# The kernel bridge plays the switch of a static LAG: a frame that comes in
# on a tap whose link is down is dropped there (a disabled bridge port), as
# on a real link. The client sends a numbered UDP stream to the server (1000
# a second, one flow: one member by the hash).
#  - the member carrying the stream goes down (kernel side): traffic moves to
#    the other within down-delay + 100 ms, measured as the datagrams lost
#    (each 1 ms of stream), and its link failure is counted;
#  - it comes back: it carries traffic again after up-delay, not before, and
#    the stream loses nothing on the way back; while up-delay runs, what the
#    switch floods to it (the server's ARP requests, sent every 10 ms) is
#    dropped as not-collecting, and answered from the other member;
#  - sluicectl lacp shows the static aggregate, the link and its failure;
#  - no packet found no member (the other member was there throughout);
#  - the worker's loop kept turning through the flap, the counter
#    identities hold live and on the exit summary, and the buffers in use
#    (the taps' RX queues hold theirs) are back where they were.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary

PPS=1000
DOWN_DELAY=200
UP_DELAY=200
PEER_MAC=02:00:00:00:0c:01
TAP0=${SL_TAG}t0
TAP1=${SL_TAG}t1
sl_ns_new "$SL_NS_CLI" && sl_ns_new "$SL_NS_SLU" && sl_ns_new "$SL_NS_SRV" || { sl_fail "namespaces"; sl_finish; }
sl_inside_client || { sl_fail "client veth"; sl_finish; }
SL_LINKS=()

SL_CONF=$SL_TMP/sluice.conf
{
  sl_config_inside
  cat <<CONF

[outside]
address = $SL_OUT_IP/24
port = net_tap0,iface=$TAP0
port = net_tap1,iface=$TAP1
lag-mode = static
down-delay-ms = $DOWN_DELAY
up-delay-ms = $UP_DELAY
neighbour = $SL_SRV_IP $PEER_MAC
CONF
} >"$SL_CONF"
sl_start || { sl_fail "sluice starts with two net_tap members"; sl_finish; }
sl_pass "sluice starts with two net_tap members"

# The switch: a bridge of both taps' kernel sides (each with its own MAC;
# sluice gave them its own) and a veth to the server, whose MAC it knows.
ip -n "$SL_NS_SLU" link add br0 type bridge forward_delay 0 stp_state 0 &&
  sl_slu sysctl -qw net.ipv6.conf.br0.disable_ipv6=1 &&
  ip -n "$SL_NS_SLU" link set br0 up || { sl_fail "bridge"; sl_finish; }
for i in 0 1; do
  t=${SL_TAG}t$i
  ip -n "$SL_NS_SLU" link set "$t" address "02:00:00:00:0c:1$i" &&
    ip -n "$SL_NS_SLU" link set "$t" master br0 || { sl_fail "tap $t in the bridge"; sl_finish; }
done
sl_veth "$SL_IF_OUT" "$SL_NS_SLU" "$SL_IF_SRV" "$SL_NS_SRV" || { sl_fail "veth"; sl_finish; }
SL_LINKS=()
ip -n "$SL_NS_SLU" link set "$SL_IF_OUT" master br0
ip -n "$SL_NS_SRV" link set "$SL_IF_SRV" address "$PEER_MAC"
ip -n "$SL_NS_SRV" addr add "$SL_SRV_IP/24" dev "$SL_IF_SRV"
sl_slu bridge fdb replace "$PEER_MAC" dev "$SL_IF_OUT" master static

tel() {  # CMD KEY: asked again if a busy host made the socket time out
  local i
  for i in 1 2 3 4 5; do sl_tel_get "$1" "$2" 2>/dev/null && return 0; sleep 0.2; done
  echo "telemetry-failed"
  return 1
}
lag() { tel /sluice/lacp,outside "$1"; }
port_tx() { tel "/sluice/port,$(($1 + 1))" tx_packets; }  # ports: inside 0, members 1, 2

sl_expect "both members distributing (static, links up)" "$(lag distributing)" -eq 2
sl_expect "member 0's link follows its tap: up" "$(lag member0_link)" == up

# --- the stream -----------------------------------------------------------------------
sl_bg "$SL_NS_SRV" "$SL_TMP/recv.log" timeout 30 "$SL_PY" "$SL_LIB/seqstream.py" recv \
  --bind "$SL_SRV_IP:9000" --seconds 25 --out "$SL_TMP/arrivals"
RECV_PID=$SL_BG_PID
sl_wait_listen "$SL_NS_SRV" udp 9000 5 || { sl_fail "receiver listens"; sl_finish; }
LOOPS0=$(sl_worker_loops)
MBUFS0=$(sl_stat mbufs_in_use)
sl_bg "$SL_NS_CLI" "$SL_TMP/send.log" timeout 30 "$SL_PY" "$SL_LIB/seqstream.py" send \
  --dst "$SL_SRV_IP:9000" --pps "$PPS" --seconds 10
SEND_PID=$SL_BG_PID
sleep 1.5

# Which member the flow took.
a0=$(port_tx 0) a1=$(port_tx 1)
sleep 0.5
d0=$(($(port_tx 0) - a0)) d1=$(($(port_tx 1) - a1))
if [ "$d0" -ge "$d1" ]; then M=0 O=1; else M=1 O=0; fi
TAP_M=${SL_TAG}t$M
sl_log "      the stream's flow is on member $M ($d0 and $d1 frames in 0.5 s)"
dm=$d0 do=$d1
[ "$M" = 1 ] && dm=$d1 do=$d0
sl_expect "the stream goes out on member $M (frames in 0.5 s)" "$dm" -ge 300
sl_expect "... and only there" "$do" -le 10

# --- member M's link goes down ----------------------------------------------------------
t_down=$(date +%s.%N)
ip -n "$SL_NS_SLU" link set "$TAP_M" down
ms=$(sl_wait_tel /sluice/lacp,outside "member${M}_distributing" -eq 0 3)
sl_log "      telemetry showed member $M out ${ms} ms after its link went down"
sl_expect "member $M leaves, not before down-delay" "$ms" -ge "$DOWN_DELAY"
sl_expect "... its link reads down" "$(lag "member${M}_link")" == down
sl_expect "... one link failure counted" "$(lag "member${M}_link_failures")" -eq 1
sl_expect "member $O carries on" "$(lag "member${O}_distributing")" -eq 1
sleep 1
a=$(port_tx $M) b=$(port_tx $O)
sleep 0.5
sl_expect "nothing more goes out on member $M" "$(($(port_tx $M) - a))" -eq 0
sl_expect "the stream goes out on member $O (frames in 0.5 s)" "$(($(port_tx $O) - b))" -ge 300

# --- it comes back ------------------------------------------------------------------------
# The server asks for sluice's address every 10 ms from before the link
# comes back until after up-delay (the bridge floods it to both members).
nc0=$(sl_drop not_collecting)
arp0=$(sl_stat arp_requests_in)
sl_bg "$SL_NS_SRV" "$SL_TMP/arp.log" timeout 10 "$SL_PY" -c "
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('$SL_IF_SRV', 0))
me = bytes.fromhex('${PEER_MAC//:/}')
arp = (bytes([0xff] * 6) + me + b'\x08\x06' + bytes.fromhex('000108000604 0001') + me
       + socket.inet_aton('$SL_SRV_IP') + bytes(6) + socket.inet_aton('$SL_OUT_IP'))
for _ in range(150):
    s.send(arp)
    time.sleep(0.01)
"
ARP_PID=$SL_BG_PID
sleep 0.3
t_up=$(date +%s.%N)
t0=$(sl_ms)
ip -n "$SL_NS_SLU" link set "$TAP_M" up
ms=$(sl_wait_tel /sluice/lacp,outside "member${M}_distributing" -eq 1 3)
[ "$ms" != timeout ] && ms=$(($(sl_ms) - t0))
sl_log "      member $M distributing again ${ms} ms after its link came up (up-delay $UP_DELAY ms)"
sl_expect "member $M waits for up-delay" "$ms" -ge "$UP_DELAY"
sl_expect "... and comes back (within up-delay + 1 s on a busy host)" "$ms" -le $((UP_DELAY + 1000))
a=$(port_tx $M)
sleep 0.5
sl_expect "the stream is back on member $M (frames in 0.5 s)" "$(($(port_tx $M) - a))" -ge 300
wait "$ARP_PID"
nc=$(($(sl_drop not_collecting) - nc0))
sl_log "      $nc of the server's ARP requests came in on member $M during up-delay: not-collecting"
sl_expect "flooded to member $M during up-delay: dropped as not-collecting" "$nc" -ge 1
sl_expect "... and at most up-delay's worth (10 ms apart, + margin)" "$nc" -le $((UP_DELAY / 10 + 15))
sl_expect "the other member took every one in (ARP requests in)" "$(($(sl_stat arp_requests_in) - arp0))" -ge 140
out=$("$CTL" -p "$SL_PREFIX" lacp outside)
sed 's/^/      | /' <<<"$out"
sl_check "sluicectl lacp: a static aggregate, both members distributing" \
  grep -q "^outside: static link aggregation (no LACP), 2 of 2 members distributing" <<<"$out"
sl_check "... member $M: link up, one link failure" \
  grep -qE "^  member $M net_tap$M,iface=$TAP_M: link up, distributing" <<<"$out"
sl_expect "... its link failure counted" "$(grep -A1 "^  member $M " <<<"$out" | grep -c "link failures 1,")" -eq 1

sl_expect_loops "through the flap" "$LOOPS0"
wait "$SEND_PID"
wait "$RECV_PID"
cat "$SL_TMP/recv.log"
# Runs of missing numbers: those before the way back are the failover's.
read -r _ received _ highest _ lost < <(grep '^received' "$SL_TMP/recv.log")
sl_expect "the receiver got the stream" "${received:-0}" -ge $((PPS * 9))
down_lost=0 up_lost=0
while read -r _ _ _ n _ t1 _ t2; do
  if awk -v a="$t2" -v b="$t_up" 'BEGIN { exit !(a < b) }'; then
    down_lost=$((down_lost + n))
    sl_log "      failover gap: $n datagrams, stream resumed $(awk -v a="$t2" -v b="$t_down" 'BEGIN { printf "%d", (a - b) * 1000 }') ms after the link went down"
  else
    up_lost=$((up_lost + n))
  fi
done < <(grep '^gap' "$SL_TMP/recv.log")
loss_ms=$((down_lost * 1000 / PPS))
sl_log "      loss window when member $M failed: $down_lost datagrams = $loss_ms ms (down-delay $DOWN_DELAY ms)"
sl_expect "traffic moved off within down-delay + 100 ms (loss window)" "$loss_ms" -le $((DOWN_DELAY + 100))
sl_expect "the way back lost nothing" "$up_lost" -eq 0
sl_expect "no packet found no member" "$(sl_drop no_member)" -eq 0

sl_check "counter identities after the flap" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
sl_expect "buffers in use back where they were before the stream ($MBUFS0)" \
  "$(sl_mbufs_back "$MBUFS0")" -le "$MBUFS0"
sl_stop
sl_expect "sluice exits 0" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" \
  "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_finish
