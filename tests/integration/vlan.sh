#!/usr/bin/env bash
# 802.1Q on the inside (inside.vlan = 100). The kernel here may have no 802.1Q
# support, so the client speaks VLAN 100 with scapy on its veth:
#  - a tagged ARP request for 10.16.1.1 gets a tagged reply with sluice's MAC;
#  - a tagged echo request to 10.16.1.1 gets a tagged echo reply;
#  - a tagged echo request to the server is forwarded (untagged on the
#    outside) and the server's reply comes back tagged VLAN 100, TTL 63;
#  - ping from the server to the client: the request leaves sluice tagged
#    VLAN 100 with TTL 63 (tcpdump on the client's link);
#  - 20 datagrams tagged 100 reach the server; 20 untagged and 20 tagged 200
#    do not and count as vlan-mismatch (/sluice/drops and the exit summary).
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary
SL_VLAN=100
sl_topology || { sl_fail "topology"; sl_finish; }
# The client kernel must not answer on the untagged link by itself.
ip -n "$SL_NS_CLI" addr flush dev "$SL_IF_CLI"
sl_start || { sl_fail "sluice starts with inside.vlan = 100"; sl_finish; }
sl_pass "sluice starts with inside.vlan = 100"
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")

mac_cli=$(sl_mac "$SL_NS_CLI" "$SL_IF_CLI")
out=$(sl_cli timeout --foreground 20 "$SL_PY" - "$SL_IF_CLI" "$mac_in" "$mac_cli" 2>/dev/null <<'PY'
import sys
from scapy.all import ARP, Dot1Q, Ether, ICMP, IP, conf, srp1
conf.verb = 0
iface, mac, me = sys.argv[1], sys.argv[2], sys.argv[3]

def show(name, r, want_vlan=100):
    if r is None:
        print(f"{name}: none")
        return
    tag = r[Dot1Q].vlan if Dot1Q in r else "untagged"
    print(f"{name}: vlan={tag} to={r[Ether].dst}", end=" ")
    if ARP in r:
        print(f"arp op={r[ARP].op} psrc={r[ARP].psrc} hwsrc={r[ARP].hwsrc}")
    elif ICMP in r:
        print(f"icmp type={r[ICMP].type} src={r[IP].src} ttl={r[IP].ttl} id={r[ICMP].id}")
    else:
        print(r.summary())

show("arp", srp1(Ether(dst="ff:ff:ff:ff:ff:ff", src=me) / Dot1Q(vlan=100) /
                 ARP(op=1, hwsrc=me, psrc="10.16.1.2", pdst="10.16.1.1"), iface=iface, timeout=2))
show("echo-sluice", srp1(Ether(dst=mac, src=me) / Dot1Q(vlan=100) / IP(src="10.16.1.2", dst="10.16.1.1") /
                         ICMP(id=77, seq=1), iface=iface, timeout=2))
show("echo-server", srp1(Ether(dst=mac, src=me) / Dot1Q(vlan=100) / IP(src="10.16.1.2", dst="192.0.2.2", ttl=64) /
                         ICMP(id=78, seq=1), iface=iface, timeout=3))
PY
)
sl_log "      $(tr '\n' ';' <<<"$out")"
sl_check "tagged ARP request for 10.16.1.1: tagged reply (VLAN 100) with sluice's MAC" \
  grep -q "^arp: vlan=100 to=$mac_cli arp op=2 psrc=10.16.1.1 hwsrc=$mac_in" <<<"$out"
sl_check "tagged echo request to 10.16.1.1: tagged echo reply" \
  grep -q "^echo-sluice: vlan=100 to=$mac_cli icmp type=0 src=10.16.1.1 ttl=64 id=77" <<<"$out"
sl_check "tagged echo request to the server: reply comes back tagged VLAN 100, TTL 63" \
  grep -q "^echo-server: vlan=100 to=$mac_cli icmp type=0 src=192.0.2.2 ttl=63 id=78" <<<"$out"

sl_capture_start "$SL_NS_CLI" "$SL_IF_CLI" ether src "$mac_in" || sl_fail "capture starts"
sl_srv ping -c 2 -i 0.2 -W 1 10.16.1.2 >/dev/null 2>&1
sl_capture_stop
text=$(sl_capture_text "$SL_CAP_FILE" -e vlan and icmp)
sl_log "$(sed 's/^/      | /' <<<"$text")"
sl_expect "ping server -> client: echo requests leave sluice to the client's MAC, tagged VLAN 100, TTL 63" "$(grep -c "$mac_in > $mac_cli, .*vlan 100,.*ttl 63,.*proto ICMP" <<<"$text")" -eq 2
sl_expect "... and nothing else from sluice was untagged" "$(sl_capture_count "$SL_CAP_FILE" not vlan)" -eq 0

sl_capture_start "$SL_NS_SRV" "$SL_IF_SRV" udp and dst port 9 || sl_fail "capture starts"
for spec in "--vlan 100 --kind udp" "--kind udp" "--vlan 200 --kind vlan"; do
  # shellcheck disable=SC2086
  sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --count 20 $spec >/dev/null 2>&1
done
sleep 0.3
sl_capture_stop
sl_expect "20 datagrams tagged 100 reached the server, the 40 others did not" "$(sl_capture_count)" -eq 20
v=$(sl_drop vlan-mismatch 2>/dev/null || echo missing)
sl_expect "/sluice/drops vlan-mismatch" "$v" -eq 40

sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_expect "exit summary: vlan-mismatch" "$(sl_summary_drop vlan-mismatch)" -eq 40
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_finish
