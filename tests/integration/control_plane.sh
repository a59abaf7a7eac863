#!/usr/bin/env bash
# What a data port can make the control thread do (issue 9): only ARP, LACP
# and ICMP echo to sluice's own addresses reach it, each rate-limited.
# control.arp-reply-rate = 100, control.echo-rate = 50,
# control.slow-protocols-rate = 10 (per member port). From the client, each
# flood bounded in count and in time (scripts/lib/hostile.py, 3000 frames/s,
# 20 s at most), while a ping through sluice to the server goes on:
#   arp-request 6000 for 10.16.1.1   ARP replies on the wire (tcpdump) at most
#                                    100 x (T + 0.5) + 11 (T: the flood's
#                                    length); every request replied to or
#                                    counted arp_rate_limited, exactly
#   echo 6000 to 10.16.1.1           echo replies on the wire at most
#                                    50 x (T + 0.5) + 6; replied to +
#                                    echo_rate_limited = requests, exactly
#   lacpdu 6000, marker 1000 on a    taken by LACP at most 10 x (T + 0.5) + 10
#   static member (not in an LACP    (the member's bad_rx: a static member
#   aggregate)                       ignores them); the rest lacp_rate_limited,
#                                    exactly
#   syn-local, udp-local, icmp-local each 1000: local-unsupported rose by
#   (timestamp request) to 10.16.1.1 exactly 3000
# During each big flood the telemetry answers within 1 s; right after them
# the client resolves sluice again (neighbour flushed) and pings it; the
# ping through sluice lost at most 5%; sluice exits 0 and the counter
# identities hold on the exit summary.
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
  p=$(stat punts_received)
  sleep 0.3
  for i in $(seq 30); do
    [ "$(stat dropped)" = "$d" ] && [ "$(stat punts_received)" = "$p" ] && return 0
    d=$(stat dropped)
    p=$(stat punts_received)
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
    "$@" >"$SL_TMP/flood.$kind.log" 2>&1 &
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
    sl_expect "$kind flood: the telemetry answers during it (ms)" "$TEL_MS" -lt 1000
  fi
}
# bound RATE BURST: what a token bucket may let through in the last flood.
bound() { "$SL_PY" -c "import math; print(math.floor($1 * ($SECS + 0.5)) + $2)"; }

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
ring0=$(drop punt-ring-full)
flood arp-request 6000
settle
arp_secs=$SECS
arp_in=$(($(stat arp_requests_in) - in0))
arp_out=$(($(stat arp_replies_out) - out0))
arp_lim=$(($(stat arp_rate_limited) - lim0))
ring=$(($(drop punt-ring-full) - ring0))
sl_log "      ARP flood: $SENT requests in $SECS s; in $arp_in, replied $arp_out, rate-limited $arp_lim, punt-ring-full $ring"
sl_expect "ARP flood: every request reached control or was counted punt-ring-full" \
  $((arp_in + ring)) -ge "$SENT"
sl_expect "ARP flood: requests in = replied + rate-limited" $((arp_out + arp_lim)) -eq "$arp_in"
sl_expect "ARP flood: replies counted within rate x time + burst" "$arp_out" -le "$(bound $ARP_RATE $((ARP_RATE / 10 + 1)))"
sl_expect "ARP flood: the excess counted arp_rate_limited" "$arp_lim" -gt 0
arp_bound=$(bound $ARP_RATE $((ARP_RATE / 10 + 1)))

# --- ICMP echo ---------------------------------------------------------------------------
rep0=$(stat echo_replies)
lim0=$(stat echo_rate_limited)
punts0=$(stat punts_received)
ring0=$(drop punt-ring-full)
flood echo 6000
settle
echo_secs=$SECS
echo_out=$(($(stat echo_replies) - rep0))
echo_lim=$(($(stat echo_rate_limited) - lim0))
ring=$(($(drop punt-ring-full) - ring0))
sl_log "      echo flood: $SENT requests in $SECS s; replied $echo_out, rate-limited $echo_lim, punt-ring-full $ring"
sl_expect "echo flood: replied + rate-limited + punt-ring-full = requests" \
  $((echo_out + echo_lim + ring)) -eq "$SENT"
sl_expect "echo flood: replies counted within rate x time + burst" "$echo_out" -le "$(bound $ECHO_RATE $((ECHO_RATE / 10 + 1)))"
sl_expect "echo flood: the excess counted echo_rate_limited" "$echo_lim" -gt 0
echo_bound=$(bound $ECHO_RATE $((ECHO_RATE / 10 + 1)))

# --- LACPDUs and markers on a static member ------------------------------------------------
for kind in lacpdu marker; do
  n=6000
  [ $kind = marker ] && n=1000
  taken0=$(bad_rx)
  lim0=$(stat lacp_rate_limited)
  ring0=$(drop punt-ring-full)
  flood $kind $n
  settle
  taken=$(($(bad_rx) - taken0))
  lim=$(($(stat lacp_rate_limited) - lim0))
  ring=$(($(drop punt-ring-full) - ring0))
  sl_log "      $kind flood: $SENT in $SECS s; taken by LACP $taken, rate-limited $lim, punt-ring-full $ring"
  sl_expect "$kind flood: taken + lacp_rate_limited + punt-ring-full = sent" $((taken + lim + ring)) -eq "$SENT"
  sl_expect "$kind flood: taken within rate x time + burst" "$taken" -le "$(bound $SLOW_RATE $SLOW_RATE)"
  sl_expect "$kind flood: the excess counted lacp_rate_limited" "$lim" -gt 0
done
unset BUSY_CHECK

# --- everything else addressed to sluice ------------------------------------------------
lu0=$(drop local-unsupported)
flood syn-local 1000 --dport 22
flood udp-local 1000 --dport 161
flood icmp-local 1000
settle
sl_expect "TCP SYNs, UDP and ICMP timestamp requests to sluice: local-unsupported rose by 3000" \
  $(($(drop local-unsupported) - lu0)) -eq 3000

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
sl_expect "forwarding went on: at most 5% of the pings through sluice lost" "${received:-0}" -ge 380
sl_check "sluice is still running" kill -0 "$SL_SLUICE_PID"
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_check "the summary counts what the LACP limit dropped" grep -q 'lacp rate-limited [1-9]' "$SL_TMP/sluice.log"
sl_finish
