#!/usr/bin/env bash
# Forwarding through sluice with real programs on the wire:
#  - ping client -> server: replies, and exactly one TTL decrement each way
#    (server sees the request with TTL-1, client sees the reply with 63);
#  - ping to sluice's own inside and outside addresses (answered by sluice, TTL 64);
#  - a 64 MiB HTTP download server -> client (python http.server, curl),
#    sha256 identical;
#  - UDP: 200 request/response datagrams all echoed intact, and an iperf3 UDP
#    run with low loss; an iperf3 TCP upload client -> server;
#  - KNOWN (reported, not failed): fragmented datagrams do not cross (the
#    af_packet test ports reassemble fragments before sluice sees them);
#  - counters: telemetry forwarded covers the transfer, the counter identities
#    hold on live telemetry and exactly on the exit summary, no drops.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_up
sl_pass "sluice starts"

# --- ping and TTL ----------------------------------------------------------------
out=$(sl_cli ping -c 3 -i 0.2 -W 2 "$SL_SRV_IP" 2>&1)
sl_expect "ping client -> server: replies" "$(grep -c 'bytes from 192.0.2.2' <<<"$out")" -eq 3
ttls=$(grep -o 'ttl=[0-9]*' <<<"$out" | sort -u | tr '\n' ' ')
sl_expect "reply TTL seen by the client (server sends 64, one hop)" "$ttls" == "ttl=63 "

sl_capture_start "$SL_NS_SRV" "$SL_IF_SRV" icmp and 'icmp[icmptype] == icmp-echo' || sl_fail "capture starts"
sl_cli ping -c 3 -i 0.2 -W 2 -t 17 "$SL_SRV_IP" >/dev/null 2>&1
sl_capture_stop
seen=$(sl_capture_text "$SL_CAP_FILE" | grep -o 'ttl [0-9]*' | sort | uniq -c | awk '{print $1 "x" $3}')
sl_expect "server sees the client's TTL 17 requests with TTL 16 (tcpdump)" "$seen" == "3x16"

out=$(sl_cli ping -c 3 -i 0.2 -W 2 "$SL_IN_IP" 2>&1)
sl_expect "ping sluice's inside address: replies" "$(grep -c 'bytes from 10.16.1.1' <<<"$out")" -eq 3
sl_expect "sluice answers its own pings with TTL 64" "$(grep -o 'ttl=[0-9]*' <<<"$out" | sort -u)" == "ttl=64"
out=$(sl_srv ping -c 2 -i 0.2 -W 2 "$SL_OUT_IP" 2>&1)
sl_expect "ping sluice's outside address from the server: replies" "$(grep -c 'bytes from 192.0.2.1' <<<"$out")" -eq 2

# --- TCP: 64 MiB over HTTP -------------------------------------------------------
mkdir -p "$SL_TMP/www"
head -c $((64 << 20)) /dev/urandom >"$SL_TMP/www/blob"
sl_bg "$SL_NS_SRV" "$SL_TMP/http.log" timeout 40 "$SL_PY" -m http.server 8080 --bind "$SL_SRV_IP" --directory "$SL_TMP/www"
sl_wait_listen "$SL_NS_SRV" tcp 8080 5 || sl_fail "http server listens"
fwd0=$(sl_stat forwarded)
t0=$(date +%s%N)
curl_out=$(sl_cli curl -sS --max-time 30 -o "$SL_TMP/blob.got" -w '%{http_code} %{size_download} %{speed_download}' "http://$SL_SRV_IP:8080/blob" 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
read -r code size speed <<<"$curl_out"
sl_expect "curl of 64 MiB through sluice: HTTP status" "${code:-none}" == 200
sl_expect "bytes received" "${size:-0}" -eq $((64 << 20))
want=$(sha256sum <"$SL_TMP/www/blob" | cut -d' ' -f1)
got=$(sha256sum <"$SL_TMP/blob.got" 2>/dev/null | cut -d' ' -f1)
sl_expect "sha256 of the download matches the served file" "$got" == "$want"
mbit=$(awk -v s="${speed:-0}" 'BEGIN { printf "%d", s * 8 / 1e6 }')
sl_log "      TCP download: ${size:-0} bytes in ${ms} ms, ${mbit} Mbit/s (curl average)"
fwd1=$(sl_stat forwarded)
# 64 MiB in at most 1500-byte frames is >= 44,740 segments, plus the ACKs.
sl_expect "telemetry forwarded grew by at least the segments of 64 MiB" "$((fwd1 - fwd0))" -ge 44740

# --- UDP ---------------------------------------------------------------------------
sl_bg "$SL_NS_SRV" "$SL_TMP/udp.log" "$SL_PY" "$SL_LIB/udp.py" serve --bind "$SL_SRV_IP" --port 7000 --seconds 30
sl_wait_listen "$SL_NS_SRV" udp 7000 5 || sl_fail "udp echo listens"
out=$(sl_cli timeout --foreground 20 "$SL_PY" "$SL_LIB/udp.py" ping --dst "$SL_SRV_IP" --port 7000 --count 200 --size 1200 --timeout 1 2>&1)
sl_check "UDP: 200 datagrams of 1200 bytes echoed back intact ($out)" grep -q 'sent 200 received 200 mismatched 0' <<<"$out"

sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s.log" timeout 20 iperf3 -s -1 -B "$SL_SRV_IP" -p 5201
sl_wait_listen "$SL_NS_SRV" tcp 5201 5 || sl_fail "iperf3 server listens"
sl_cli timeout --foreground 20 iperf3 -u -c "$SL_SRV_IP" -p 5201 -b 200M -l 1400 -t 2 -J --connect-timeout 3000 >"$SL_TMP/iperf.json" 2>&1
read -r packets lost mbps < <("$SL_PY" -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]["sum"]
print(e["packets"], e["lost_packets"], int(e["bits_per_second"] / 1e6))' "$SL_TMP/iperf.json" 2>/dev/null)
sl_expect "iperf3 UDP 200 Mbit/s x 2 s: datagrams arrived" "${packets:-0}" -gt 20000
sl_log "      iperf3 UDP: ${packets:-?} datagrams, ${lost:-?} lost, ${mbps:-?} Mbit/s at the receiver"
sl_expect "iperf3 UDP loss below 2% of datagrams" "$(( ${lost:-999999} * 100 / ${packets:-1} / 2 ))" -eq 0

# --- TCP upload --------------------------------------------------------------------
sl_bg "$SL_NS_SRV" "$SL_TMP/iperf-s2.log" timeout 20 iperf3 -s -1 -B "$SL_SRV_IP" -p 5202
sl_wait_listen "$SL_NS_SRV" tcp 5202 5 || sl_fail "iperf3 server listens"
sl_cli timeout --foreground 20 iperf3 -c "$SL_SRV_IP" -p 5202 -t 2 -J --connect-timeout 3000 >"$SL_TMP/iperf-tcp.json" 2>&1
read -r tbytes tmbps < <("$SL_PY" -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(e["bytes"], int(e["bits_per_second"] / 1e6))' "$SL_TMP/iperf-tcp.json" 2>/dev/null)
sl_log "      iperf3 TCP upload client -> server: ${tbytes:-?} bytes in 2 s, ${tmbps:-?} Mbit/s"
sl_expect "iperf3 TCP upload for 2 s: bytes received by the server" "${tbytes:-0}" -gt $((20 << 20))

# --- counters ------------------------------------------------------------------------
sl_expect "no drops at all after clean traffic (/sluice/stats dropped)" "$(sl_stat dropped)" -eq 0
# Every reason of dataplane/counters.h must be readable, zero or not.
reasons=$(grep -o '^ *X([a-z_0-9]*, "[a-z0-9-]*"' "$SL_ROOT/dataplane/counters.h" | sed 's/.*"\(.*\)"/\1/')
missing=$(for r in $reasons; do sl_drop "$r" >/dev/null 2>&1 || echo "$r"; done | tr '\n' ' ')
sl_expect "/sluice/drops lists all $(wc -w <<<"$reasons") drop reasons of dataplane/counters.h; missing" "${missing:-none}" == none
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
# /sluice/worker,0: the worker's counters, and its drops as flat keys drop_<reason>.
w0=$(sl_tel /sluice/worker,0 2>&1)
sl_check "/sluice/worker,0 answers with rx_packets, forwarded, dropped" "$SL_PY" -c '
import json, sys
d = json.loads(sys.argv[1]); sys.exit(not all(k in d for k in ("rx_packets", "forwarded", "dropped")))' "$w0"
missing=$(for r in $reasons; do grep -qE "\"drop_(${r}|${r//-/_})\":" <<<"$w0" || echo "$r"; done | tr '\n' ' ')
sl_expect "/sluice/worker,0 lists drop_<reason> for all drop reasons; missing" "${missing:-none}" == none

# Datagrams larger than the MTU leave the client as fragments; net_af_packet's
# fanout (PACKET_FANOUT_FLAG_DEFRAG) has the kernel reassemble them before
# sluice sees them, and the whole datagram is then too big (or longer than an
# af_packet frame): a known limitation of the test ports, reported only.
sl_known "UDP: 3 datagrams of 2000 bytes (IP fragments) echoed back" \
  ip netns exec "$SL_NS_CLI" timeout --foreground 10 "$SL_PY" "$SL_LIB/udp.py" ping --dst "$SL_SRV_IP" --port 7000 --count 3 --size 2000 --timeout 1

sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_finish
