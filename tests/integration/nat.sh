#!/usr/bin/env bash
# NAT44 (dataplane.pipeline = cgnat) with real programs on the wire. Three
# client namespaces with six addresses each (18 clients), a server with two
# addresses that routes only the pool 198.51.100.0/26 back to sluice (no
# route to 10.16.0.0/12: an untranslated packet could not come back).
#
# 1. Defaults (address-dependent filtering), two workers (handoff):
#  - ping from every client namespace; traceroute shows sluice's inside
#    address as hop 1 and the server as hop 2;
#  - all 18 client addresses at once: curl of 1 MiB (sha256 checked) and a
#    50-datagram UDP echo exchange; one 16 MiB download beside them (by B,
#    whose address is in an unpoliced profile: the others are policed to the
#    default 8 Mbit/s);
#  - tcpdump on the server: every source address it receives is in the pool;
#    paired pooling: each client address has one public address for its HTTP
#    connection and two UDP sockets; no port overloading (36 UDP sockets,
#    36 distinct public endpoints);
#  - endpoint-independent mapping: one socket to 192.0.2.2:7001, :7002 and
#    192.0.2.3:7001 is seen as the same public ip:port by all three;
#  - hairpinning under address-dependent filtering (hole punching): A sends
#    to B's public endpoint (refused, nat-filtered +1), then B reaches A's
#    public endpoint and A sees B's public endpoint, and A's answer reaches B;
#  - filtering: a second server address is refused (nat-filtered), another
#    port of the known server address is let in; unknown inbound traffic to
#    pool addresses is dropped (nat-no-mapping), to an inside address
#    (nat-not-pool); spoofed inside sources (scapy) are spoofed-source;
#  - /sluice/nat agrees with what was sent; counter identities hold live
#    (summed and per worker, with handed_off/handed_in) and on the exit summary.
# 2. nat.filtering = endpoint-independent, nat.sessions = 1024 (the minimum):
#  - the second server address reaches a mapping opened toward the first;
#  - hairpin without hole punching; B is seen as its public endpoint;
#  - 1200 new UDP sessions from three clients: sessions stop at the capacity,
#    the rest are nat-table-full, an existing flow still works, exit 0.
# 3. One public address, nat.port-min = 65280, nat.block-size = 64 (4 blocks),
#    nat.max-blocks-per-client = 1:
#  - one client opens 80 UDP sockets: 63 answered (64 ports, one in use), 17
#    refused as nat-client-limit, answered with ICMP unreachable code 13 as
#    far as the ICMP rate limit allows (tcpdump on the client); its existing
#    flow and ping still work;
#  - 17 more client addresses: 3 get the remaining blocks, 14 are refused as
#    nat-pool-exhausted.
set -uo pipefail
export SL_NAT=1 SL_CLIENTS=3 SL_CLI_EXTRA=5 SL_SRV_EXTRA=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
t_start=$(date +%s)
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
SRV2=${SL_SRV_IPS[1]}
CLI_A=${SL_CLI_IPS[0]}
CLI_B=${SL_CLI_IPS[1]}
CLI_C=${SL_CLI_IPS[2]}
NS_A=${SL_NS_CLIS[0]}
NS_B=${SL_NS_CLIS[1]}
NS_C=${SL_NS_CLIS[2]}
UDP=$SL_LIB/udp.py

drop_or() { sl_drop "$1" 2>/dev/null || echo "${2:-missing}"; }
nat_or() { sl_nat "$1" 2>/dev/null || echo "${2:-missing}"; }
in_pool() { [[ $1 =~ ^198\.51\.100\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -lt 64 ]; }
# ns_of ADDR: the client namespace holding ADDR.
ns_of() {
  local i
  for i in "${!SL_NS_CLIS[@]}"; do
    sl_client_ips "$i" | grep -x "$1" >/dev/null && { echo "${SL_NS_CLIS[$i]}"; return 0; }
  done
  return 1
}
# probe NS BIND DST...: udp.py probe; prints its lines.
probe() {
  local ns=$1 bind=$2 d args=()
  shift 2
  for d in "$@"; do args+=(--dst "$d"); done
  ip netns exec "$ns" timeout --foreground 10 "$SL_PY" "$UDP" probe --bind "$bind" "${args[@]}" --timeout 1 2>&1
}
# wait_line FILE REGEX [SECONDS]: until a line of FILE matches (a background
# probe printed its result and is serving now).
wait_line() {
  local i
  for i in $(seq $((${3:-5} * 20))); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# seen_as OUTPUT DST: the public endpoint a probe's DST reported.
seen_as() { awk -v d="$2" '$1 == d && $2 == "seen-as" { print $3 }' <<<"$1"; }
# srv_send SRC_IP:PORT DST_IP:PORT COUNT [EXPECTED]: datagrams from the server;
# prints how many answers came back within 0.5 s of the last (sooner once
# EXPECTED came).
srv_send() {
  sl_srv timeout --foreground 10 "$SL_PY" - "$@" <<'EOF'
import socket, sys, time
src, dst, n = sys.argv[1].split(":"), sys.argv[2].split(":"), int(sys.argv[3])
expected = int(sys.argv[4]) if len(sys.argv) > 4 else n + 1
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src[0], int(src[1])))
for i in range(n):
    s.sendto(b"from-outside %d" % i, (dst[0], int(dst[1])))
got, deadline = 0, time.monotonic() + 0.5
while time.monotonic() < deadline and got < expected:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        s.recvfrom(100)
        got += 1
    except (socket.timeout, ConnectionRefusedError):
        pass
print(got)
EOF
}
# start_sluice NAME [ARGS...]: sluice with $SL_CONF; fails the test when it does not come up.
start_sluice() {
  local what=$1
  shift
  if sl_start "$@"; then sl_pass "sluice starts: $what"; else sl_fail "sluice starts: $what"; sl_finish; fi
}
stop_sluice() {
  sl_log "      $1: $(($(date +%s) - t_start)) s since the start of the test"
  sl_stop TERM 10
  sl_expect "$1: SIGTERM, exit status" "$SL_EXIT" -eq 0
  sl_check "$1: counter identities exact on the exit summary" "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
}

# === 1. address-dependent filtering, two workers ======================================
SL_CONF=$SL_TMP/nat1.conf
sl_config "[policing]" "profile = bulk $CLI_B/32 off" >"$SL_CONF"
start_sluice "cgnat, pool $SL_POOL, 2 workers" --dataplane.workers=2
flows=0

sl_capture_start "$SL_NS_SRV" "$SL_IF_SRV" ip and dst net 192.0.2.0/24 || sl_fail "server capture starts"
srv_cap=$SL_CAP_FILE

# --- ping and traceroute ---------------------------------------------------------------
for ns in "${SL_NS_CLIS[@]}"; do
  out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$SL_SRV_IP" 2>&1)
  sl_expect "ping $ns -> server through NAT: replies" "$(grep -c 'bytes from 192.0.2.2' <<<"$out")" -eq 3
  flows=$((flows + 1))
done
created0=$(sl_nat sessions_created)
sl_cli ping -c 2 -i 0.2 -W 1 -t 1 "$SL_SRV_IP" >/dev/null 2>&1
sl_expect "TTL 1 pings are answered by sluice before NAT: no session made" "$(sl_nat sessions_created)" -eq "$created0"
out=$(sl_cli timeout --foreground 20 traceroute -n -q 1 -w 2 -m 5 "$SL_SRV_IP" 2>&1)
sl_expect "traceroute: hop 1 is sluice's inside address" "$(awk '$1 == 1 { print $2 }' <<<"$out")" == "$SL_IN_IP"
sl_expect "traceroute: hop 2 is the server (its port unreachable translated back)" \
  "$(awk '$1 == 2 { print $2 }' <<<"$out")" == "$SL_SRV_IP"
sl_expect "traceroute: no further hops" "$(awk '$1 ~ /^[0-9]+$/ && $1 > 2' <<<"$out" | wc -l)" -eq 0
flows=$((flows + 2))

# --- servers -----------------------------------------------------------------------------
mkdir -p "$SL_TMP/www"
head -c $((1 << 20)) /dev/urandom >"$SL_TMP/www/small"
head -c $((16 << 20)) /dev/urandom >"$SL_TMP/www/blob"
sl_bg "$SL_NS_SRV" "$SL_TMP/http.log" timeout 60 "$SL_PY" -m http.server 8080 --bind "$SL_SRV_IP" --directory "$SL_TMP/www"
sl_bg "$SL_NS_SRV" "$SL_TMP/echo.log" timeout 150 "$SL_PY" "$UDP" serve --bind "$SL_SRV_IP" --port 7000 --seconds 150
for ep in "$SL_SRV_IP:7001" "$SL_SRV_IP:7002" "$SRV2:7001"; do
  sl_bg "$SL_NS_SRV" "$SL_TMP/tell.${ep//[.:]/_}.log" timeout 150 "$SL_PY" "$UDP" serve --bind "${ep%:*}" --port "${ep#*:}" --seconds 150 --tell
done
for p in 8080 7000 7001 7002; do sl_wait_listen "$SL_NS_SRV" "$([ $p = 8080 ] && echo tcp || echo udp)" $p 5 || sl_fail "server listens on $p"; done

# --- every client address at once: HTTP, UDP echo, two UDP sockets' public endpoints ------
want_small=$(sha256sum <"$SL_TMP/www/small" | cut -d' ' -f1)
want_blob=$(sha256sum <"$SL_TMP/www/blob" | cut -d' ' -f1)
pids=()
for a in "${SL_CLI_ALL_IPS[@]}"; do
  ns=$(ns_of "$a")
  (
    ip netns exec "$ns" curl -sS --max-time 20 --interface "$a" -o "$SL_TMP/small.$a" \
      "http://$SL_SRV_IP:8080/small?from=$a" >"$SL_TMP/curl.$a.log" 2>&1
    ip netns exec "$ns" timeout --foreground 20 "$SL_PY" "$UDP" ping --bind "$a" --dst "$SL_SRV_IP" \
      --port 7000 --count 50 --size 800 --timeout 1 >"$SL_TMP/udp.$a.log" 2>&1
    probe "$ns" "$a:6000" "$SL_SRV_IP:7001" >"$SL_TMP/probe6000.$a.log"
    probe "$ns" "$a:6001" "$SL_SRV_IP:7001" >"$SL_TMP/probe6001.$a.log"
  ) &
  pids+=($!)
done
big=$(ip netns exec "$NS_B" curl -sS --max-time 30 -o "$SL_TMP/blob.got" -w '%{http_code} %{size_download}' \
  "http://$SL_SRV_IP:8080/blob?from=big" 2>&1)
for p in "${pids[@]}"; do wait "$p"; done
n_addr=${#SL_CLI_ALL_IPS[@]}
sl_log "      all addresses done at $(($(date +%s) - t_start)) s"
flows=$((flows + 1 + 4 * n_addr))
sl_expect "16 MiB download beside them: HTTP status and size" "$big" == "200 $((16 << 20))"
sl_expect "16 MiB download: sha256 matches" "$(sha256sum <"$SL_TMP/blob.got" | cut -d' ' -f1)" == "$want_blob"
bad_dl=0 bad_udp=0
for a in "${SL_CLI_ALL_IPS[@]}"; do
  [ "$(sha256sum <"$SL_TMP/small.$a" 2>/dev/null | cut -d' ' -f1)" = "$want_small" ] || { bad_dl=$((bad_dl + 1)); sl_log "      $a: $(cat "$SL_TMP/curl.$a.log")"; }
  grep -q 'sent 50 received 50 mismatched 0' "$SL_TMP/udp.$a.log" || { bad_udp=$((bad_udp + 1)); sl_log "      $a: $(cat "$SL_TMP/udp.$a.log")"; }
done
sl_expect "curl 1 MiB from each of the $n_addr client addresses at once: downloads with a wrong sha256" "$bad_dl" -eq 0
sl_expect "UDP: 50 x 800-byte echo exchanges from each of the $n_addr addresses: incomplete" "$bad_udp" -eq 0

# --- endpoint-independent mapping ----------------------------------------------------------
out=$(probe "$NS_A" "$CLI_A:5000" "$SL_SRV_IP:7001" "$SL_SRV_IP:7002" "$SRV2:7001")
flows=$((flows + 3))
pub_a=$(seen_as "$out" "$SL_SRV_IP:7001")
seen=$(awk '$2 == "seen-as" { print $3 }' <<<"$out" | sort -u | tr '\n' ' ')
sl_expect "EIM: one socket to 192.0.2.2:7001, :7002 and $SRV2:7001 is seen as one public endpoint" "$seen" == "$pub_a "
sl_check "EIM: that endpoint ($pub_a) is a pool address" in_pool "${pub_a%:*}"

# --- paired pooling, no port overloading, the server sees only the pool ------------------------
sl_capture_stop
declare -A pub_of
bad_pair=0 bad_pool=0
endpoints=()
for a in "${SL_CLI_ALL_IPS[@]}"; do
  e1=$(seen_as "$(cat "$SL_TMP/probe6000.$a.log")" "$SL_SRV_IP:7001")
  e2=$(seen_as "$(cat "$SL_TMP/probe6001.$a.log")" "$SL_SRV_IP:7001")
  h=$(awk -v a="$a" 'index($0, "GET /small?from=" a " ") { print $1 }' "$SL_TMP/http.log" | sort -u | tr '\n' ' ')
  endpoints+=("$e1" "$e2")
  addrs=$(printf '%s\n' "${e1%:*}" "${e2%:*}" ${h} | sort -u)
  pub_of[$a]=$addrs
  [ "$(wc -l <<<"$addrs")" -eq 1 ] && [ -n "$e1" ] && [ -n "$e2" ] && [ -n "$h" ] || { bad_pair=$((bad_pair + 1)); sl_log "      $a: udp $e1 $e2 http $h"; }
  in_pool "$addrs" || bad_pool=$((bad_pool + 1))
done
sl_expect "paired pooling: client addresses whose HTTP connection and two UDP sockets did not share one public address" "$bad_pair" -eq 0
sl_expect "public addresses outside $SL_POOL (HTTP log, UDP)" "$bad_pool" -eq 0
sl_expect "no port overloading: $((2 * n_addr)) UDP sockets, distinct public endpoints" \
  "$(printf '%s\n' "${endpoints[@]}" | grep . | sort -u | wc -l)" -eq $((2 * n_addr))
sl_log "      $n_addr client addresses on $(printf '%s\n' "${pub_of[@]}" | sort -u | wc -l) public addresses"
srcs=$(tcpdump -r "$srv_cap" -n 2>/dev/null | awk '$2 == "IP" { print $3 }' | cut -d. -f1-4)
total=$(grep -c . <<<"$srcs")
outside=$(sort -u <<<"$srcs" | while read -r s; do in_pool "$s" || echo "$s"; done | tr '\n' ' ')
sl_expect "server capture: packets received (ping, traceroute, TCP, UDP)" "$total" -gt 1000
sl_expect "server capture: source addresses outside $SL_POOL" "${outside:-none}" == none

# --- hairpinning under address-dependent filtering (hole punching) ------------------------------
out=$(probe "$NS_B" "$CLI_B:5000" "$SL_SRV_IP:7001")
pub_b=$(seen_as "$out" "$SL_SRV_IP:7001")
sl_check "B ($CLI_B:5000) has a public endpoint ($pub_b)" in_pool "${pub_b%:*}"
filt0=$(drop_or nat-filtered 0)
hp0=$(nat_or hairpins 0)
sl_bg "$NS_A" "$SL_TMP/hairpin-a.log" timeout 10 "$SL_PY" "$UDP" probe --bind "$CLI_A:5000" --dst "$pub_b" --timeout 0.5 --serve 6
hp_a=$SL_BG_PID
wait_line "$SL_TMP/hairpin-a.log" seen-as || sl_fail "A's probe ran"
out=$(probe "$NS_B" "$CLI_B:5000" "$pub_a")
sleep 0.2
sl_kill_pid "$hp_a"
flows=$((flows + 3))
sl_expect "hairpin: A's first datagram to B's public endpoint is refused by B's filter" \
  "$(seen_as "$(cat "$SL_TMP/hairpin-a.log")" "$pub_b")" == none
sl_expect "hairpin: nat-filtered rose by exactly 1" "$(($(drop_or nat-filtered -999) - filt0))" -eq 1
sl_expect "hairpin: B reaches A's public endpoint $pub_a, A sees B as its public endpoint" "$(seen_as "$out" "$pub_a")" == "$pub_b"
sl_expect "hairpin: A answered B's public endpoint" "$(grep -c "^answered $pub_b\$" "$SL_TMP/hairpin-a.log")" -eq 1
sl_expect "hairpin: /sluice/nat hairpins rose (A -> B refused, B -> A, A -> B)" "$(($(nat_or hairpins -999) - hp0))" -eq 3

# --- filtering from the outside ------------------------------------------------------------------
sl_bg "$NS_C" "$SL_TMP/filter-c.log" timeout 10 "$SL_PY" "$UDP" probe --bind "$CLI_C:5000" --dst "$SL_SRV_IP:7001" --timeout 1 --serve 6
c_pid=$SL_BG_PID
wait_line "$SL_TMP/filter-c.log" seen-as || sl_fail "C's probe ran"
pub_c=$(seen_as "$(cat "$SL_TMP/filter-c.log")" "$SL_SRV_IP:7001")
filt0=$(drop_or nat-filtered 0)
got=$(srv_send "$SRV2:9999" "$pub_c" 5)
sl_expect "ADF: $SRV2 (a host C never sent to) gets no answer from C's endpoint $pub_c" "$got" -eq 0
sl_expect "ADF: nat-filtered rose by exactly 5" "$(($(drop_or nat-filtered -999) - filt0))" -eq 5
got=$(srv_send "$SL_SRV_IP:9999" "$pub_c" 5 5)
sl_expect "ADF: another port of the host C talks to (192.0.2.2:9999) is let in and answered" "$got" -eq 5
sl_kill_pid "$c_pid"
sl_expect "C received only from 192.0.2.2:9999, nothing from $SRV2" \
  "$(grep '^answered' "$SL_TMP/filter-c.log" | sort | uniq -c | awk '{ print $1 "x" $3 }' | tr '\n' ' ')" == "5x192.0.2.2:9999 "
flows=$((flows + 2))

nm0=$(drop_or nat-no-mapping 0)
srv_send "$SL_SRV_IP:9998" "198.51.100.33:60001" 20 0 >/dev/null
srv_send "$SL_SRV_IP:9998" "198.51.100.1:60002" 20 0 >/dev/null
sl_expect "unknown inbound: 40 datagrams to unmapped pool ports, nat-no-mapping rose by exactly 40" \
  "$(($(sl_wait_value /sluice/drops nat_no_mapping $((nm0 + 40)) 3) - nm0))" -eq 40
mac_out=$(sl_mac "$SL_NS_SLU" "$SL_IF_OUT")
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
np0=$(drop_or nat-not-pool 0)
sl_capture_start "$NS_A" "$SL_IF_CLI" udp and dst port 9 || sl_fail "client capture starts"
sl_srv "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_SRV" --dst-mac "$mac_out" --kind udp \
  --src "$SL_SRV_IP" --dst "$CLI_A" --count 20 >/dev/null 2>"$SL_TMP/craft-srv.log" # (scapy: no default route)
sl_expect "20 datagrams from the outside straight to $CLI_A: nat-not-pool rose by exactly 20" \
  "$(($(sl_wait_value /sluice/drops nat_not_pool $((np0 + 20)) 3) - np0))" -eq 20
sl_capture_stop
sl_expect "... and none reached the client" "$(sl_capture_count)" -eq 0

sp0=$(drop_or spoofed-source 0)
sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind spoofed \
  --src 172.16.5.5 --dst "$SL_SRV_IP" --count 30 >/dev/null
sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind spoofed \
  --src "${pub_a%:*}" --dst "$SL_SRV_IP" --count 10 >/dev/null
sl_expect "spoofed inside sources (30 from 172.16.5.5, 10 from pool address ${pub_a%:*}): spoofed-source +40" \
  "$(($(sl_wait_value /sluice/drops spoofed_source $((sp0 + 40)) 3) - sp0))" -eq 40

# --- /sluice/nat and the counter identities -----------------------------------------------------
nat=$(sl_tel /sluice/nat)
nv() { "$SL_PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$nat" "$1"; }
sl_log "      /sluice/nat: $nat"
sl_expect "/sluice/nat sessions_created >= flows opened" "$(nv sessions_created)" -ge "$flows"
sl_expect "/sluice/nat sessions == created - deleted" "$(nv sessions)" -eq $(($(nv sessions_created) - $(nv sessions_deleted)))
sl_expect "/sluice/nat sessions_deleted (nothing idle long enough to expire)" "$(nv sessions_deleted)" -eq 0
sl_expect "/sluice/nat clients: every client address that sent" "$(nv clients)" -eq "$n_addr"
sl_expect "/sluice/nat port_blocks: one per client (none needed a second)" "$(nv port_blocks)" -eq "$n_addr"
sl_expect "/sluice/nat mappings <= sessions" "$(nv mappings)" -le "$(nv sessions)"
sl_expect "/sluice/nat mappings >= UDP sockets and TCP connections opened" "$(nv mappings)" -ge $((4 * n_addr + 2))
sl_expect "/sluice/nat session_capacity (nat.sessions default)" "$(nv session_capacity)" -ge 1048576
sl_expect "2 workers: packets were handed off to the worker owning their client" "$(sl_stat handed_off)" -gt 0
# af_packet has no rte_flow: sluice must say the outside is not steered, and why.
sl_check "2 workers: the outside port's missing flow-rule steering is reported" \
  grep -qE "port [^ ]+ \(net_af_packet\) cannot steer outside packets to their port block's worker \(.+\)" "$SL_TMP/sluice.log"
sl_check "counter identities on live telemetry (summed and per worker)" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
stop_sluice "run 1"
sl_check "exit summary has the NAT line" grep -q '^sluice: nat sessions' "$SL_TMP/sluice.log"

# === 2. endpoint-independent filtering, 1024 sessions =======================================
SL_CONF=$SL_TMP/nat2.conf
sl_config "filtering = endpoint-independent" "sessions = 1024" >"$SL_CONF"
start_sluice "nat.filtering = endpoint-independent, nat.sessions = 1024"
sl_bg "$NS_A" "$SL_TMP/eif-a.log" timeout 10 "$SL_PY" "$UDP" probe --bind "$CLI_A:5000" --dst "$SL_SRV_IP:7001" --timeout 1 --serve 8
a_pid=$SL_BG_PID
wait_line "$SL_TMP/eif-a.log" seen-as || sl_fail "A's probe ran"
pub_a=$(seen_as "$(cat "$SL_TMP/eif-a.log")" "$SL_SRV_IP:7001")
sl_check "A ($CLI_A:5000) has a public endpoint ($pub_a)" in_pool "${pub_a%:*}"
filt0=$(drop_or nat-filtered 0)
got=$(srv_send "$SRV2:9999" "$pub_a" 1 1)
sl_expect "EIF: $SRV2, a host A never sent to, reaches A's endpoint: answered" "$got" -eq 1
# (One first: sluice holds only arp.queue = 3 answers while it resolves $SRV2.)
got=$(srv_send "$SRV2:9999" "$pub_a" 5 5)
sl_expect "EIF: 5 more from $SRV2: answered" "$got" -eq 5
sl_expect "EIF: nat-filtered unchanged" "$(($(drop_or nat-filtered -999) - filt0))" -eq 0
hp0=$(nat_or hairpins 0)
out=$(probe "$NS_B" "$CLI_B:5000" "$pub_a")
pub_b=$(seen_as "$out" "$pub_a")
sl_check "hairpin (EIF): B reaches A's public endpoint at once; A sees B as a pool endpoint ($pub_b)" in_pool "${pub_b%:*}"
sl_expect "hairpin (EIF): B's public endpoint is the one the server sees" \
  "$(seen_as "$(probe "$NS_B" "$CLI_B:5000" "$SL_SRV_IP:7002")" "$SL_SRV_IP:7002")" == "$pub_b"
sl_expect "hairpin (EIF): /sluice/nat hairpins rose by 2 (B -> A, A -> B)" "$(($(nat_or hairpins -999) - hp0))" -eq 2
sl_kill_pid "$a_pid"

# Table full: each client's primary address sends from one socket to 400 ports
# of the server: 1200 new sessions (3 mappings) for 1024 places.
s0=$(nat_or sessions 0)
c0=$(nat_or sessions_created 0)
tf0=$(drop_or nat-table-full 0)
rx0=$(sl_stat rx_packets)
for i in 0 1 2; do
  ip netns exec "${SL_NS_CLIS[$i]}" timeout --foreground 10 "$SL_PY" - "${SL_CLI_IPS[$i]}" "$SL_SRV_IP" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5100))
for port in range(20000, 20400):
    s.sendto(b"fill", (sys.argv[2], port))
    if port % 32 == 0:
        time.sleep(0.002)
EOF
done
sl_wait_value /sluice/stats rx_packets $((rx0 + 1200)) 5 >/dev/null
created=$(($(nat_or sessions_created -999) - c0))
full=$(($(drop_or nat-table-full -999) - tf0))
sl_log "      1200 new flows: $created sessions created, $full refused as nat-table-full (sessions before: $s0)"
sl_expect "table full: sessions in use reached the capacity" "$(nat_or sessions)" -eq "$(nat_or session_capacity)"
sl_expect "table full: created + nat-table-full = the 1200 flows" "$((created + full))" -eq 1200
sl_expect "table full: nat-table-full counted" "$full" -ge $((1200 - 1024 + s0))
out=$(probe "$NS_A" "$CLI_A:5000" "$SL_SRV_IP:7001")
sl_expect "table full: A's existing flow still works, same endpoint" "$(seen_as "$out" "$SL_SRV_IP:7001")" == "$pub_a"
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
stop_sluice "run 2"

# === 3. one public address, four blocks of 64 ports, one block per client =====================
SL_CONF=$SL_TMP/nat3.conf
SL_POOL=198.51.100.9 sl_config "port-min = 65280" "block-size = 64" "max-blocks-per-client = 1" >"$SL_CONF"
start_sluice "nat.pool = 198.51.100.9, port-min 65280, block-size 64, 1 block per client"
out=$(probe "$NS_A" "$CLI_A:5000" "$SL_SRV_IP:7001")
pub_a=$(seen_as "$out" "$SL_SRV_IP:7001")
sl_check "A's first flow: public endpoint on 198.51.100.9, port >= 65280 ($pub_a)" \
  test "${pub_a%:*}" = 198.51.100.9 -a "${pub_a#*:}" -ge 65280
sl_capture_start "$NS_A" "$SL_IF_CLI" icmp and 'icmp[0] == 3 and icmp[1] == 13' || sl_fail "client capture starts"
cl0=$(drop_or nat-client-limit 0)
err0=$(sl_stat icmp_errors_sent)
sup0=$(sl_stat icmp_errors_suppressed)
answered=$(sl_cli timeout --foreground 10 "$SL_PY" - "$CLI_A" "$SL_SRV_IP" <<'EOF'
import socket, sys, time
socks = []
for i in range(80):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 0))
    s.setblocking(False)
    s.sendto(b"flow %d" % i, (sys.argv[2], 7000))
    socks.append(s)
answered, deadline = set(), time.monotonic() + 1.5
while time.monotonic() < deadline and len(answered) < len(socks):
    for i, s in enumerate(socks):
        try:
            s.recv(100)
            answered.add(i)
        except (BlockingIOError, ConnectionRefusedError):
            pass
    time.sleep(0.01)
print(len(answered))
EOF
)
sl_capture_stop
limit=$(($(drop_or nat-client-limit -999) - cl0))
errs=$(($(sl_stat icmp_errors_sent) - err0))
supp=$(($(sl_stat icmp_errors_suppressed) - sup0))
sl_expect "80 UDP sockets from one client: answered (64 ports, one taken by its first flow)" "${answered:-0}" -eq 63
sl_expect "the other 17 refused: nat-client-limit rose by exactly 17" "$limit" -eq 17
sl_expect "ICMP errors sent + rate-limited = refusals" "$((errs + supp))" -eq 17
code13=$(sl_capture_count)
sl_expect "client received ICMP unreachable code 13 (tcpdump)" "$code13" -ge 1
sl_expect "... exactly as many as sluice sent" "$code13" -eq "$errs"
cap=$(sl_capture_text)
sl_check "the code 13 comes from sluice's inside address" grep -q "$SL_IN_IP > $CLI_A: ICMP host $SL_SRV_IP unreachable - admin prohibited" <<<"$cap"
sl_check "... and quotes the client's own datagram to the echo server (inside address)" \
  grep -qE "^ *${CLI_A//./\\.}\.[0-9]+ > ${SL_SRV_IP//./\\.}\.7000: " <<<"$cap"
out=$(probe "$NS_A" "$CLI_A:5000" "$SL_SRV_IP:7001")
sl_expect "A's existing flow still works, same endpoint" "$(seen_as "$out" "$SL_SRV_IP:7001")" == "$pub_a"
sl_check "A can still ping (ICMP ids have their own ports in the block)" sl_cli ping -c 1 -W 2 "$SL_SRV_IP"

pe0=$(drop_or nat-pool-exhausted 0)
pids=()
for a in "${SL_CLI_ALL_IPS[@]}"; do
  [ "$a" = "$CLI_A" ] && continue
  probe "$(ns_of "$a")" "$a:5000" "$SL_SRV_IP:7001" >"$SL_TMP/exhaust.$a.log" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
ok=$(cat "$SL_TMP"/exhaust.*.log | awk '$2 == "seen-as" && $3 != "none"' | wc -l)
sl_expect "17 more client addresses: 3 get the pool's remaining blocks" "$ok" -eq 3
sl_expect "... 14 refused: nat-pool-exhausted rose by exactly 14" "$(($(drop_or nat-pool-exhausted -999) - pe0))" -eq 14
sl_expect "/sluice/nat port_blocks: the pool's 4" "$(nat_or port_blocks)" -eq 4
sl_expect "/sluice/nat clients: 4" "$(nat_or clients)" -eq 4
sl_check "counter identities on live telemetry" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
stop_sluice "run 3"

sl_log "      nat.sh ran $(($(date +%s) - t_start)) s"
sl_finish
