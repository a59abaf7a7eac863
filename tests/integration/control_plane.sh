#!/usr/bin/env bash
# What a data port can make the control thread do (issue 9): only ARP, LACP
# and ICMP echo to sluice's own addresses reach it, each rate-limited.
# control.arp-reply-rate = 100, control.echo-rate = 50,
# control.slow-protocols-rate = 10 (per member port). From the client, each
# flood bounded in count and in time (scripts/lib/hostile.py, 1500 frames/s,
# 20 s at most), while a ping through sluice to the server goes on:
#   arp-request 3000 for 10.16.1.1   ARP replies at most 100 x (T + 0.5) + 11
#                                    (T: the flood's length), counted and on
#                                    the wire (tcpdump); every request
#                                    replied to or arp_rate_limited, exactly
#   echo 3000 to 10.16.1.1           echo replies at most 50 x (T + 0.5) + 6,
#                                    counted and on the wire; the rest
#                                    echo_rate_limited, exactly
#   lacpdu 3000, marker 750 on a     taken by LACP at most 10 x (T + 0.5) + 10
#   static member (not in an LACP    (the member's bad_rx: a static member
#   aggregate)                       ignores them); the rest lacp_rate_limited,
#                                    exactly; no marker answered
#   syn-local, udp-local, icmp-local each 750, after the ping: every one
#   (timestamp request) to 10.16.1.1 read counted local-unsupported, exactly
# "Exactly": every frame the workers punted was taken or refused by the
# limit (3 frames of neighbours' own ARP aside), none counted twice.
# Frames the workers never read are shown: the kernel's af_packet ring
# fills while a busy host starves sluice's worker, and DPDK 22.11's
# af_packet does not count them (the exact counter identities of the exit
# summary hold all the same); a flood that mostly did not reach sluice
# cannot test its limit and says so (KNOWN). During each big flood the
# telemetry answers within 3 s; right after them the client resolves
# sluice again (neighbour flushed) and pings it; the ping through sluice
# lost at most 10%; sluice exits 0 and the counter identities hold on the
# exit summary.
# Then, restarted with the inside an LACP aggregate (no partner): marker
# 1500 and lacpdu 1500 (random actors) to its member: answered (markers,
# counted and on the wire) or recorded (LACPDUs) at most 10 x (T + 0.5) +
# 10; the rest lacp_rate_limited, exactly; the telemetry answers; exit 0.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
HOSTILE=$SL_LIB/hostile.py
ARP_RATE=100
ECHO_RATE=50
SLOW_RATE=10
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
sl_config "[control]" "arp-reply-rate = $ARP_RATE" "echo-rate = $ECHO_RATE" \
  "slow-protocols-rate = $SLOW_RATE" >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts"; sl_finish; }
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
sl_cli ping -c 1 -W 2 "$SL_SRV_IP" >/dev/null 2>&1

stat() { sl_stat "$1" 2>/dev/null || echo 0; }
drop() { sl_drop "$1" 2>/dev/null || echo 0; }
bad_rx() { sl_tel_get /sluice/lacp,inside member0_bad_rx 2>/dev/null || echo 0; }
# settle: until punts and drops stop moving, 10 s at most.
settle() {
  local d p i
  d=$(stat dropped)
  p=$(stat punted)
  sleep 0.3
  for i in $(seq 30); do
    [ "$(stat dropped)" = "$d" ] && [ "$(stat punted)" = "$p" ] && return 0
    d=$(stat dropped)
    p=$(stat punted)
    sleep 0.3
  done
}
# flood KIND COUNT [ARGS...]: one bounded flood from the client to sluice's
# inside address; SENT and SECS are what it did. With BUSY_CHECK=1 the
# telemetry is asked once in the middle: TEL_MS is how long it took.
flood() {
  local kind=$1 count=$2 pid t0
  shift 2
  sl_cli timeout --foreground 30 "$SL_PY" "$HOSTILE" --iface "$SL_IF_CLI" --dst-mac "$mac_in" \
    --kind "$kind" --count "$count" --seconds 20 --seed "$SL_ID" --src "$SL_CLI_IP" --dst "$SL_IN_IP" \
    --pps 1500 "$@" >"$SL_TMP/flood.$kind.log" 2>&1 &
  pid=$!
  TEL_MS=
  if [ -n "${BUSY_CHECK:-}" ]; then
    sleep 1
    t0=$(sl_ms)
    if timeout 5 "$SL_PY" "$SL_LIB/telemetry.py" -p "$SL_PREFIX" /sluice/stats >/dev/null 2>&1; then
      TEL_MS=$(($(sl_ms) - t0))
    else
      TEL_MS=timeout
    fi
  fi
  wait "$pid"
  SENT=$(awk '/^sent/ { print $2 }' "$SL_TMP/flood.$kind.log")
  SECS=$(awk '/^seconds/ { print $2 }' "$SL_TMP/flood.$kind.log")
  [ "${SENT:-0}" -eq "$count" ] || sl_fail "$kind: all $count frames sent" "$(tail -n 3 "$SL_TMP/flood.$kind.log")"
  SENT=${SENT:-0}
  SECS=${SECS:-0}
  if [ -n "${BUSY_CHECK:-}" ]; then
    sl_expect "$kind flood: the telemetry answers during it (ms)" "$TEL_MS" -lt 3000
  fi
}
# bound RATE BURST: what a token bucket may let through in the last flood.
bound() { "$SL_PY" -c "import math; print(math.floor($1 * ($SECS + 0.5)) + $2)"; }
# before: the counters every flood accounts with.
before() {
  ring0=$(drop punt-ring-full)
  punted0=$(stat punted)
}
# account WHAT TAKEN LIMITED BOUND: after a flood of SENT frames, TAKEN were
# handled (replied to, recorded) and LIMITED refused by the rate limit: that
# is every frame the workers punted (give or take 3 the neighbours sent
# meanwhile), TAKEN is within BOUND, and the excess was counted. Frames the
# workers never read (the kernel's af_packet ring full while the host
# starves sluice; DPDK 22.11's af_packet does not count them) are shown; a
# flood that mostly did not reach sluice cannot test its limit, and says so.
account() {
  local what=$1 taken=$2 limited=$3 bnd=$4 ring punted arrived unread
  ring=$(($(drop punt-ring-full) - ring0))
  punted=$(($(stat punted) - punted0))
  arrived=$((punted + ring))
  unread=$((SENT - arrived))
  [ "$unread" -lt 0 ] && unread=0  # neighbours' own ARP punted meanwhile
  sl_log "      $what: $SENT in $SECS s; taken $taken, rate-limited $limited, punt-ring-full $ring, not read from the kernel $unread"
  sl_expect "$what: every frame punted was taken or rate-limited (+- 3 others)" \
    $((punted - taken - limited)) -le 3
  sl_expect "... and none counted twice" $((taken + limited)) -le "$punted"
  sl_expect "... no more reached sluice than were sent (+ 3 others)" "$arrived" -le $((SENT + 3))
  sl_expect "$what: taken within rate x time + burst" "$taken" -le "$bnd"
  if [ $((arrived - 3)) -gt "$bnd" ]; then
    sl_expect "$what: the excess counted as rate-limited" "$limited" -ge $((arrived - ring - taken - 3))
  else
    printf 'KNOWN: %s: only %s of %s frames reached sluice (a loaded host): the limit was not tested\n' \
      "$what" "$arrived" "$SENT"
  fi
}

# Forwarding goes on: 20 pings a second through sluice for the whole run.
sl_bg "$SL_NS_CLI" "$SL_TMP/ping.log" ping -i 0.05 -c 400 -W 1 "$SL_SRV_IP"
PING=$SL_BG_PID
sl_capture_start "$SL_NS_CLI" "$SL_IF_CLI" "arp or icmp or ether proto 0x8809" ||
  sl_fail "tcpdump on the client"
export BUSY_CHECK=1

# --- ARP -------------------------------------------------------------------------------
in0=$(stat arp_requests_in)
out0=$(stat arp_replies_out)
lim0=$(stat arp_rate_limited)
before
flood arp-request 3000
settle
arp_in=$(($(stat arp_requests_in) - in0))
arp_out=$(($(stat arp_replies_out) - out0))
arp_lim=$(($(stat arp_rate_limited) - lim0))
arp_bound=$(bound $ARP_RATE $((ARP_RATE / 10 + 1)))
sl_expect "ARP flood: requests in = replied + rate-limited" $((arp_out + arp_lim)) -eq "$arp_in"
account "ARP flood" "$arp_out" "$arp_lim" "$arp_bound"

# --- ICMP echo ---------------------------------------------------------------------------
rep0=$(stat echo_replies)
lim0=$(stat echo_rate_limited)
before
flood echo 3000
settle
echo_bound=$(bound $ECHO_RATE $((ECHO_RATE / 10 + 1)))
account "echo flood" $(($(stat echo_replies) - rep0)) $(($(stat echo_rate_limited) - lim0)) "$echo_bound"

# --- LACPDUs and markers on a static member ------------------------------------------------
for kind in lacpdu marker; do
  n=3000
  [ $kind = marker ] && n=750
  taken0=$(bad_rx)
  lim0=$(stat lacp_rate_limited)
  before
  flood $kind $n
  settle
  account "$kind flood, static member" $(($(bad_rx) - taken0)) $(($(stat lacp_rate_limited) - lim0)) \
    "$(bound $SLOW_RATE $SLOW_RATE)"
done
unset BUSY_CHECK

# --- right after: control still answers --------------------------------------------------
ip -n "$SL_NS_CLI" neigh flush dev "$SL_IF_CLI"
sl_check "right after the floods: the client resolves sluice again and pings it" \
  sl_cli ping -c 3 -i 0.2 -W 2 "$SL_IN_IP"
sl_capture_stop
wire_arp=$(sl_capture_count "$SL_CAP_FILE" "arp[6:2] = 2 and arp[14:4] = 0x0a100101")
wire_echo=$(sl_capture_count "$SL_CAP_FILE" "src host $SL_IN_IP and icmp[icmptype] = icmp-echoreply")
wire_slow=$(sl_capture_count "$SL_CAP_FILE" "ether proto 0x8809 and ether src $mac_in")
sl_log "      on the wire to the client: $wire_arp ARP replies, $wire_echo echo replies, $wire_slow slow protocols frames"
# The check ping's own ARP and 3 echoes come on top of the floods' bound.
sl_expect "ARP replies on the wire within rate x time + burst (+1 for the check)" "$wire_arp" -le $((arp_bound + 1))
sl_expect "echo replies on the wire within rate x time + burst (+3 for the check)" "$wire_echo" -le $((echo_bound + 3))
sl_expect "no marker responses from a static member" "$wire_slow" -eq 0

wait "$PING" 2>/dev/null
received=$(awk '/packets transmitted/ { print $4 }' "$SL_TMP/ping.log")
sl_log "      ping through sluice during the floods: ${received:-0} of 400"
sl_expect "forwarding went on: at most 10% of the pings through sluice lost" "${received:-0}" -ge 360

# --- everything else addressed to sluice (the ping over: nothing else comes in) -----------
rx() { sl_tel_get /sluice/port,0 rx_packets 2>/dev/null || echo 0; }
lu0=$(drop local-unsupported)
rx0=$(rx)
punted0=$(stat punted)
flood syn-local 750 --dport 22
flood udp-local 750 --dport 161
flood icmp-local 750
settle
lu=$(($(drop local-unsupported) - lu0))
got=$(($(rx) - rx0 - ($(stat punted) - punted0)))
sl_log "      TCP SYNs, UDP and ICMP timestamp requests to sluice: 2250 sent, $got read, local-unsupported $lu"
sl_expect "TCP SYNs, UDP, ICMP timestamp requests to sluice: each read counted local-unsupported" "$lu" -eq "$got"
sl_expect "... none more than sent" "$got" -le 2250
if [ "$got" -le 1125 ]; then
  printf 'KNOWN: only %s of 2250 frames to sluice reached it (a loaded host)\n' "$got"
fi
sl_check "sluice is still running" kill -0 "$SL_SLUICE_PID"
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_check "the summary counts what the LACP limit dropped" grep -q 'lacp rate-limited [1-9]' "$SL_TMP/sluice.log"

# --- an LACP member: markers answered, LACPDUs recorded, both within the limit --------------
sl_start --inside.lag-mode=lacp || { sl_fail "sluice starts with an LACP inside"; sl_finish; }
lacp_get() { sl_tel_get /sluice/lacp,inside "member0_$1" 2>/dev/null || echo 0; }
sl_capture_start "$SL_NS_CLI" "$SL_IF_CLI" "ether proto 0x8809" || sl_fail "tcpdump on the client"
m0=$(lacp_get markers_rx)
r0=$(lacp_get marker_responses_tx)
lim0=$(stat lacp_rate_limited)
before
flood marker 1500
settle
marker_bound=$(bound $SLOW_RATE $SLOW_RATE)
responses=$(($(lacp_get marker_responses_tx) - r0))
account "marker flood, LACP member" $(($(lacp_get markers_rx) - m0)) $(($(stat lacp_rate_limited) - lim0)) "$marker_bound"
sl_expect "marker flood, LACP member: markers are answered" "$responses" -gt 0
l0=$(lacp_get lacpdus_rx)
lim0=$(stat lacp_rate_limited)
before
flood lacpdu 1500
settle
account "LACPDU flood (random actors), LACP member" $(($(lacp_get lacpdus_rx) - l0)) \
  $(($(stat lacp_rate_limited) - lim0)) "$(bound $SLOW_RATE $SLOW_RATE)"
sl_capture_stop
wire=$(sl_capture_count "$SL_CAP_FILE" "ether src $mac_in and ether[14] = 2 and ether[16] = 2")
sl_expect "LACP member: marker responses on the wire at most rate x time + burst" "$wire" -le "$marker_bound"
port=$(timeout 5 "$SL_PY" "$SL_LIB/telemetry.py" -p "$SL_PREFIX" /sluice/lacp,inside --get member0_port 2>/dev/null)
sl_expect "LACP member: the telemetry answers right after" "${port%%,*}" == "net_af_packet0"
sl_stop TERM 10
sl_expect "LACP member: SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_finish
