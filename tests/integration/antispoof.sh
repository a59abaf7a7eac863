#!/usr/bin/env bash
# Anti-spoofing on the inside (SPEC: "what arrives on the inside must come from
# the inside prefixes"): scapy in the client namespace sends
#  - 50 UDP datagrams from 10.16.1.2 (inside.clients): the server captures all 50;
#  - 50 from 172.16.5.5 and 50 from 10.32.0.1 (just outside 10.16.0.0/12):
#    the server captures none, and spoofed-source rises by exactly 100
#    (live in /sluice/drops and in the exit summary);
#  - 20 from 10.31.255.254 (last usable address of the /12): all arrive.
# The same foreign source arriving on the outside is forwarded (anti-spoofing
# is an inside check): 30 datagrams from 172.16.5.5 on the server side reach
# the client.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_up
sl_cli ping -c 1 -W 2 "$SL_SRV_IP" >/dev/null 2>&1 # ARP both sides
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
mac_out=$(sl_mac "$SL_NS_SLU" "$SL_IF_OUT")
drop_or() { sl_drop "$1" 2>/dev/null || echo "${2:-missing}"; }

# send KIND SRC COUNT: crafted UDP to the server's port 9 from SRC; waits
# until the workers received all of them.
send() {
  local rx0
  rx0=$(sl_stat rx_packets)
  sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind "$1" \
    --src "$2" --dst "$SL_SRV_IP" --count "$3" >/dev/null
  sl_wait_value /sluice/stats rx_packets $((rx0 + $3)) 5 >/dev/null
}

sp0=$(drop_or spoofed-source 0)
sl_capture_start "$SL_NS_SRV" "$SL_IF_SRV" udp and dst port 9 || sl_fail "capture starts"
send udp 10.16.1.2 50
send spoofed 172.16.5.5 50
send spoofed 10.32.0.1 50
send udp 10.31.255.254 20
sl_capture_stop
sl_expect "server received all 50 datagrams from the client's own address" \
  "$(sl_capture_count "$SL_CAP_FILE" src host 10.16.1.2)" -eq 50
sl_expect "server received none of the 50 from 172.16.5.5" "$(sl_capture_count "$SL_CAP_FILE" src host 172.16.5.5)" -eq 0
sl_expect "server received none of the 50 from 10.32.0.1 (next to the /12)" "$(sl_capture_count "$SL_CAP_FILE" src host 10.32.0.1)" -eq 0
sl_expect "server received all 20 from 10.31.255.254 (edge of the /12)" "$(sl_capture_count "$SL_CAP_FILE" src host 10.31.255.254)" -eq 20
sl_expect "server received nothing else on port 9" "$(sl_capture_count)" -eq 70
sl_expect "/sluice/drops spoofed-source rose by exactly 100" "$(($(drop_or spoofed-source -999) - sp0))" -eq 100

# The outside is not filtered by inside.clients.
sl_capture_start "$SL_NS_CLI" "$SL_IF_CLI" udp and dst port 9 || sl_fail "capture starts"
rx0=$(sl_stat rx_packets)
sl_srv "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_SRV" --dst-mac "$mac_out" --kind udp \
  --src 172.16.5.5 --dst "$SL_CLI_IP" --count 30 >/dev/null
sl_wait_value /sluice/stats rx_packets $((rx0 + 30)) 5 >/dev/null
sl_capture_stop
sl_expect "30 datagrams from 172.16.5.5 arriving on the outside reach the client" "$(sl_capture_count)" -eq 30

sl_check "ping still works" sl_cli ping -c 1 -W 2 "$SL_SRV_IP"
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_expect "exit summary: spoofed-source" "$(sl_summary_drop spoofed-source)" -eq 100
sl_check "counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
sl_finish
