#!/usr/bin/env bash
# ICMP errors sluice originates (RFC 1812 5.3.1, 4.3.2):
#  - `ping -t 1` through sluice gets "Time to live exceeded" from 10.16.1.1,
#    and ttl-expired / icmp_errors_sent rise by exactly one each;
#  - `ping -t 2` reaches the server: sluice is exactly one hop;
#  - traceroute-like probe with scapy: UDP TTL 1 is answered by an ICMP time
#    exceeded (type 11 code 0) from 10.16.1.1 that quotes the probe's IP
#    header and UDP ports; TTL 2 gets the server's port unreachable;
#  - a burst of 60 TTL-1 packets: ttl-expired rises by exactly 60, errors
#    sent + suppressed = 60, the rate limit (100/s, burst 11) held some back,
#    and the client received exactly as many time-exceeded as sluice counted;
#  - no ICMP error about an ICMP error: a TTL-1 ICMP time-exceeded crafted by
#    the client is dropped silently;
#  - MTU (sluice runs with outside.mtu = 1400): a 1400-byte ping passes; a
#    1428-byte one with DF gets "Frag needed and DF set (mtu = 1400)" from
#    10.16.1.1 (too-big +1); without DF, 1428-byte pings get their replies:
#    the client fragments, net_af_packet's PACKET_FANOUT_FLAG_DEFRAG has the
#    kernel reassemble the fragments before sluice sees them, and sluice
#    fragments the datagram again for the 1400-byte link (RFC 4787 REQ-13;
#    fragments_made +1 a ping); three 1478-byte UDP datagrams without DF
#    reach the server in two fragments each, in order (fragments_made +3),
#    with no ICMP error and nothing dropped.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_up --outside.mtu=1400
sl_cli ping -c 1 -W 2 "$SL_SRV_IP" >/dev/null 2>&1 # ARP both sides

# TTL 1 makes the drop reason show up in telemetry; read it with a fallback of 0
# so the rest runs even where /sluice/drops is broken.
drop_or() { sl_drop "$1" 2>/dev/null || echo "${2:-missing}"; }

ttl0=$(drop_or ttl-expired 0)
err0=$(sl_stat icmp_errors_sent)
out=$(sl_cli ping -c 1 -W 2 -t 1 "$SL_SRV_IP" 2>&1)
sl_check "ping -t 1: 'From 10.16.1.1 ... Time to live exceeded'" grep -q 'From 10.16.1.1 .*Time to live exceeded' <<<"$out"
sleep 0.2
sl_expect "icmp_errors_sent rose by exactly 1" "$(($(sl_stat icmp_errors_sent) - err0))" -eq 1
sl_expect "/sluice/drops ttl-expired rose by exactly 1" "$(($(drop_or ttl-expired -999) - ttl0))" -eq 1

out=$(sl_cli ping -c 1 -W 2 -t 2 "$SL_SRV_IP" 2>&1)
sl_check "ping -t 2 reaches the server (sluice is one hop)" grep -q 'bytes from 192.0.2.2' <<<"$out"

# --- traceroute-like probes --------------------------------------------------------
probe=$(sl_cli timeout --foreground 15 "$SL_PY" - "$SL_SRV_IP" <<'EOF'
import sys
from scapy.all import IP, UDP, ICMP, IPerror, UDPerror, sr1, conf
conf.verb = 0
dst = sys.argv[1]

def checksums_ok(pkt):
    got = IP(bytes(pkt[IP]))
    fresh = IP(bytes(pkt[IP]))
    del fresh.chksum
    del fresh[ICMP].chksum
    fresh = IP(bytes(fresh))
    return got.chksum == fresh.chksum and got[ICMP].chksum == fresh[ICMP].chksum

for ttl in (1, 2):
    p = IP(dst=dst, ttl=ttl, id=4242 + ttl) / UDP(sport=33000 + ttl, dport=33434 + ttl) / (b"probe" * 4)
    r = sr1(p, timeout=2)
    if r is None:
        print(f"ttl{ttl} none")
        continue
    q = r[IPerror] if IPerror in r else None
    qu = r[UDPerror] if UDPerror in r else None
    print(f"ttl{ttl} from={r[IP].src} type={r[ICMP].type} code={r[ICMP].code} "
          f"quoted_dst={q.dst if q else None} quoted_id={q.id if q else None} "
          f"quoted_ports={qu.sport if qu else None}/{qu.dport if qu else None} "
          f"checksums_ok={checksums_ok(r)} ttl={r[IP].ttl}")
EOF
)
sl_log "      probes: $(tr '\n' ';' <<<"$probe")"
sl_check "TTL 1 UDP probe: time exceeded (11/0) from 10.16.1.1 quoting dst 192.0.2.2, IP id 4243, ports 33001/33435, valid checksums, TTL 64" \
  grep -q 'ttl1 from=10.16.1.1 type=11 code=0 quoted_dst=192.0.2.2 quoted_id=4243 quoted_ports=33001/33435 checksums_ok=True ttl=64' <<<"$probe"
sl_check "TTL 2 UDP probe: port unreachable (3/3) from the server" \
  grep -q 'ttl2 from=192.0.2.2 type=3 code=3' <<<"$probe"

# --- rate limit: 60 expiring packets at once ------------------------------------------
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
sleep 1 # refill the token bucket
ttl0=$(drop_or ttl-expired 0)
sup0=$(sl_stat icmp_errors_suppressed)
err0=$(sl_stat icmp_errors_sent)
rx0=$(sl_stat rx_packets)
sl_capture_start "$SL_NS_CLI" "$SL_IF_CLI" 'icmp[icmptype] == icmp-timxceed' || sl_fail "capture starts"
sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind ttl1 --count 60 >/dev/null
sl_wait_value /sluice/stats rx_packets $((rx0 + 60)) 5 >/dev/null
sl_capture_stop
sent=$(($(sl_stat icmp_errors_sent) - err0))
got=$(sl_capture_count)
sl_log "      60 TTL-1 packets: $sent time-exceeded sent, $got captured at the client"
sl_expect "errors sent were limited by the rate limit (burst 11 + 100/s)" "$sent" -lt 40
sl_expect "at least one error was sent" "$sent" -ge 1
sl_expect "the client received exactly the time-exceeded messages sluice counted" "$got" -eq "$sent"
sl_expect "/sluice/drops ttl-expired rose by exactly 60" "$(($(drop_or ttl-expired -999) - ttl0))" -eq 60
sl_expect "icmp_errors_suppressed + icmp_errors_sent rose by 60" "$(($(sl_stat icmp_errors_suppressed) - sup0 + sent))" -eq 60

# --- never an ICMP error about an ICMP error -----------------------------------------
sleep 1
err0=$(sl_stat icmp_errors_sent)
ttl0=$(drop_or ttl-expired 0)
sl_cli timeout --foreground 10 "$SL_PY" - "$SL_IF_CLI" "$mac_in" "$SL_SRV_IP" <<'EOF'
import sys
from scapy.all import Ether, IP, ICMP, UDP, sendp, conf
conf.verb = 0
iface, mac, dst = sys.argv[1:4]
inner = IP(src=dst, dst="10.16.1.2") / UDP(sport=1, dport=2)
sendp([Ether(dst=mac) / IP(src="10.16.1.2", dst=dst, ttl=1) / ICMP(type=11, code=0) / inner] * 5, iface=iface)
EOF
sleep 0.5
sl_expect "5 TTL-1 ICMP errors: no ICMP error sent about them" "$(($(sl_stat icmp_errors_sent) - err0))" -eq 0
sl_expect "... and they count as ttl-expired" "$(($(drop_or ttl-expired -999) - ttl0))" -eq 5

# --- MTU ------------------------------------------------------------------------------
sleep 0.2
out=$(sl_cli ping -c 1 -W 2 -M do -s 1372 "$SL_SRV_IP" 2>&1)
sl_check "ping of exactly 1400 bytes with DF passes the 1400-byte outside MTU" grep -q 'bytes from 192.0.2.2' <<<"$out"
tb0=$(drop_or too-big 0)
err0=$(sl_stat icmp_errors_sent)
out=$(sl_cli ping -c 1 -W 2 -M do -s 1400 "$SL_SRV_IP" 2>&1)
sl_check "ping of 1428 bytes with DF: 'From 10.16.1.1 ... Frag needed and DF set (mtu = 1400)'" \
  grep -q 'From 10.16.1.1 .*Frag needed and DF set (mtu = 1400)' <<<"$out"
sleep 0.2
sl_expect "... icmp_errors_sent +1" "$(($(sl_stat icmp_errors_sent) - err0))" -eq 1
sl_expect "... /sluice/drops too-big +1" "$(($(drop_or too-big -999) - tb0))" -eq 1
# Without DF the client fragments to the 1400 it learnt; af_packet's fanout
# (DEFRAG) has the kernel reassemble them, and sluice fragments again. The
# server's link gets the same 1400 (sluice set its own veth end to it, and a
# veth drops what is longer than its MTU), so the replies come back in
# fragments too.
ip -n "$SL_NS_SRV" link set dev "$SL_IF_SRV" mtu 1400
fm0=$(sl_stat fragments_made)
sl_check "1428-byte pings without DF get their replies (sluice fragments for the 1400-byte link)" \
  sh -c "ip netns exec $SL_NS_CLI ping -c 2 -i 0.2 -W 2 -M dont -s 1400 $SL_SRV_IP | grep -q ' 2 received'"
sleep 0.2
sl_expect "... fragments_made +1 a ping" "$(($(sl_stat fragments_made) - fm0))" -eq 2
sl_capture_start "$SL_NS_SRV" "$SL_IF_SRV" "udp or (ip[6:2] & 0x1fff != 0)" || sl_fail "capture starts"
err0=$(sl_stat icmp_errors_sent)
fm0=$(sl_stat fragments_made)
sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind udp --size 1450 --count 3 >/dev/null
sleep 0.3
sl_capture_stop
sl_expect "3 UDP datagrams of 1478 bytes without DF reach the server in 6 fragments" "$(sl_capture_count)" -eq 6
sl_check "... each as a first fragment of 1396 bytes then the rest at offset 1376, in order" \
  sh -c "tcpdump -nv -r '$SL_CAP_FILE' 2>/dev/null | grep -oE 'offset [0-9]+, flags \[[^]]*\], proto UDP \(17\), length [0-9]+' | tr '\n' ';' | grep -qE '^(offset 0, flags \[\+\], proto UDP \(17\), length 1396;offset 1376, flags \[none\], proto UDP \(17\), length 102;){3}\$'"
sl_expect "... fragments_made +3" "$(($(sl_stat fragments_made) - fm0))" -eq 3
sl_expect "... no ICMP error for them" "$(($(sl_stat icmp_errors_sent) - err0))" -eq 0
sl_expect "... /sluice/drops too-big: only the DF ping" "$(($(drop_or too-big -999) - tb0))" -eq 1

sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
suppressed=$(sl_stat icmp_errors_suppressed) # the exit summary does not show it
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_expect "exit summary: ttl-expired (1 ping + 1 probe + 60 + 5)" "$(sl_summary_drop ttl-expired)" -eq 67
sl_expect "exit summary: icmp-errors - 1 frag-needed + suppressed ($suppressed) + 5 ICMP-about-ICMP == ttl-expired" \
  "$(($(sl_summary_value icmp-errors) - 1 + suppressed + 5))" -eq 67
sl_expect "exit summary: too-big (the DF ping)" "$(sl_summary_drop too-big)" -eq 1
sl_finish
