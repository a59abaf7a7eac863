#!/usr/bin/env bash
# sluicectl against a live sluice (cgnat, two workers) in namespaces, with
# traffic whose packet counts the test controls. One client namespace with
# three addresses (10.16.1.2, .64, .65), a server that counts what it gets.
#
#  - no sluice on the prefix: exit 3 with a clear message; a socket that
#    accepts and closes, or one the user may not open: exit 4;
#  - after `sluicectl clear`: 500 UDP datagrams from 10.16.1.2:5000 to the
#    server (which only counts them) and 25 spoofed packets; since clear,
#    forwarded is exactly 500 and spoofed-source exactly 25 (stats --json,
#    drops, and per worker), while the absolute counters went on;
#  - per-queue counters add up to the port totals;
#  - sessions: the UDP session is listed with the public endpoint the
#    server saw; filters by inside, public and remote endpoint and protocol;
#    --limit bounds the listing; a held-open TCP connection is established
#    in the listing and in the TCP-state gauges;
#  - clients --top 2: .64 (5 sessions) then .2 (4: two UDP, TCP, ICMP);
#  - stats --json parses (Python json) and agrees with /sluice/nat;
#    stats --prometheus parses with prometheus_client's text parser and a
#    strict check (HELP and TYPE once per family, before its samples; names;
#    counters end in _total; no series twice) and agrees with --json;
#  - dpdk-telemetry.py (DPDK's own client) reads /sluice/info and /sluice/nat;
#  - top renders in a tmux pane of 80x24 while traffic runs (header, ports,
#    workers, NAT, pool; nothing wider or taller than the pane; the inside
#    rx rate is not zero), in 80x12 (shortened, says what it hid), and plain
#    without a terminal;
#  - top exits 3 when sluice stops under it.
set -uo pipefail
export SL_NAT=1 SL_CLIENTS=1 SL_CLI_EXTRA=2
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
TELPY=$(command -v dpdk-telemetry.py || echo /usr/bin/dpdk-telemetry.py)
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
A=${SL_CLI_IPS[0]}
B=10.16.1.64
C=10.16.1.65
ctl() { "$CTL" -p "$SL_PREFIX" "$@"; }
# jq-like: a value from JSON on stdin by a Python expression over `j`.
pyj() { "$SL_PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# --- before sluice runs: exit codes -------------------------------------------------
out=$("$CTL" -p "$SL_PREFIX" stats 2>&1)
rc=$?
sl_expect "no sluice on the prefix: exit 3" "$rc" -eq 3
sl_check "no sluice on the prefix: says so" grep -q "not running with eal.prefix '$SL_PREFIX'" <<<"$out"
fake=$SL_PREFIX-fake
mkdir -p "/var/run/dpdk/$fake"
sl_bg "$SL_NS_SLU" "$SL_TMP/fake.log" timeout 20 "$SL_PY" -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind('/var/run/dpdk/$fake/dpdk_telemetry.v2'); s.listen(4); print('ready', flush=True)
while True:
    c, _ = s.accept(); c.close()
"
for _ in $(seq 50); do grep -q ready "$SL_TMP/fake.log" && break; sleep 0.1; done
"$CTL" -p "$fake" stats >/dev/null 2>"$SL_TMP/fake.err"
sl_expect "a socket that closes without answering: exit 4" "$?" -eq 4
sl_kill_pid "$SL_BG_PID"
rm -rf "/var/run/dpdk/$fake"

sl_start --dataplane.workers=2 || { sl_fail "sluice starts"; sl_finish; }
sl_pass "sluice starts (cgnat, 2 workers)"
if id nobody >/dev/null 2>&1; then
  runuser -u nobody -- env RUNTIME_DIRECTORY=/var/run "$CTL" -p "$SL_PREFIX" stats >/dev/null 2>&1
  sl_expect "a socket the user may not open: exit 4" "$?" -eq 4
fi

# --- exact counts since clear -----------------------------------------------------------
# The server counts datagrams per source and says which public endpoint sent them.
sl_bg "$SL_NS_SRV" "$SL_TMP/count.log" timeout 60 "$SL_PY" -c "
import os, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: no loss on a busy host
s.bind(('$SL_SRV_IP', 7001)); s.settimeout(0.1)
seen, written = {}, 0
print('ready', flush=True)
end = time.monotonic() + 55
while time.monotonic() < end:
    try:
        d, src = s.recvfrom(2048)
        key = '%s:%d' % src
        seen[key] = seen.get(key, 0) + 1
        if time.monotonic() - written < 0.1:
            continue
    except socket.timeout:
        pass
    written = time.monotonic()
    with open('$SL_TMP/count.tmp', 'w') as f:
        f.write(''.join('%s %d\\n' % kv for kv in seen.items()))
    os.replace('$SL_TMP/count.tmp', '$SL_TMP/count.txt')
"
count_pid=$SL_BG_PID
for _ in $(seq 50); do grep -q ready "$SL_TMP/count.log" && break; sleep 0.1; done
# Before the clear: one datagram (from A:4999, to the discard port), so
# that sluice has resolved the server's MAC address (a packet waiting for
# ARP is sent by the control thread, not forwarded by a worker).
sl_cli "$SL_PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$A', 4999))
s.sendto(b'warm-up', ('$SL_SRV_IP', 9))
"
sleep 0.5
ctl clear >"$SL_TMP/clear.out" 2>&1
sl_expect "clear: exit 0" "$?" -eq 0
abs_before=$(ctl stats --json | pyj 'j["absolute"]["/sluice/stats"]["forwarded"]')
# udp sender: N datagrams from one socket, paced so no queue overflows.
send_udp() {  # NS SRC_IP SRC_PORT COUNT [PPS]
  ip netns exec "$1" timeout 30 "$SL_PY" -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$2', $3))
for i in range($4):
    s.sendto(b'x' * 64, ('$SL_SRV_IP', 7001))
    time.sleep(1.0 / ${5:-2000})
"
}
send_udp "$SL_NS_CLI" "$A" 5000 500 1000
mac_in=$(sl_mac "$SL_NS_SLU" "$SL_IF_IN")
sl_cli "$SL_PY" "$SL_LIB/craft.py" --iface "$SL_IF_CLI" --dst-mac "$mac_in" --kind spoofed \
  --src 172.16.5.5 --dst "$SL_SRV_IP" --count 25 >/dev/null 2>&1
got=0
for _ in $(seq 150); do  # the server may get little CPU beside polling workers
  got=$(awk '$1 ~ /^198\.51\.100\./ { n += $2 } END { print n + 0 }' "$SL_TMP/count.txt" 2>/dev/null)
  [ "${got:-0}" -ge 500 ] && break
  sleep 0.1
done
sleep 0.3
sl_expect "the server received the 500 datagrams" "$got" -eq 500
public=$(awk '{ print $1 }' "$SL_TMP/count.txt" | head -n1)

ctl stats --json >"$SL_TMP/stats.json"
sl_check "stats --json parses as JSON" "$SL_PY" -c "import json; json.load(open('$SL_TMP/stats.json'))"
since() { pyj "j['since_clear']['$1']['$2']" <"$SL_TMP/stats.json"; }
absolute() { pyj "j['absolute']['$1']['$2']" <"$SL_TMP/stats.json"; }
sl_expect "since clear: forwarded exactly the 500 datagrams" "$(since /sluice/stats forwarded)" -eq 500
sl_expect "since clear: spoofed-source exactly 25" "$(since /sluice/drops spoofed_source)" -eq 25
sl_expect "since clear: nothing else dropped" "$(since /sluice/stats dropped)" -eq 25
w_sum=$(($(since /sluice/worker,0 forwarded) + $(since /sluice/worker,1 forwarded)))
sl_expect "since clear: the workers' forwarded add up to 500" "$w_sum" -eq 500
sl_expect "since clear: one session made" "$(since /sluice/nat sessions_created)" -eq 1
sl_expect "absolute counters were not reset by clear" "$(absolute /sluice/stats forwarded)" -ge $((abs_before + 500))
sl_check "per-queue counters add up to the port totals" "$SL_PY" -c "
import json
j = json.load(open('$SL_TMP/stats.json'))['absolute']
for k in range(2):
    p = j['/sluice/port,%d' % k]
    for d in ('rx', 'tx'):
        q = sum(v for key, v in p.items() if key.startswith(d + 'q') and key.endswith('_packets'))
        assert q == p[d + '_packets'], (k, d, q, p[d + '_packets'])
"
drops=$(ctl drops)
sl_check "drops: spoofed-source 25, by worker" awk '$2 == "spoofed-source" && $1 == 25 && $3 + $4 == 25 { ok = 1 } END { exit !ok }' <<<"$drops"
sl_check "drops: the total line is 25" awk '$2 == "total" && $1 == 25 { ok = 1 } END { exit !ok }' <<<"$drops"
sl_check "drops --absolute lists the same reason" grep -q spoofed-source <<<"$(ctl drops --absolute)"
sl_check "stats tables show a since-clear column" grep -q "since clear" <<<"$(ctl stats)"

# --- listings ---------------------------------------------------------------------------
s_json=$(ctl sessions --inside "$A:5000" --json)
sl_expect "sessions --inside A:5000: one session" "$(pyj 'len(j["sessions"])' <<<"$s_json")" -eq 1
sl_expect "its public endpoint is what the server saw" "$(pyj 'j["sessions"][0]["public"]' <<<"$s_json")" == "$public"
sl_expect "its remote is the server" "$(pyj 'j["sessions"][0]["remote"]' <<<"$s_json")" == "$SL_SRV_IP:7001"
sl_expect "sessions --public (what the server saw): that session" \
  "$(ctl sessions --public "$public" --json | pyj '[s["inside"] for s in j["sessions"]]')" == "['$A:5000']"
sl_expect "sessions --remote with another port: none" \
  "$(ctl sessions --remote "$SL_SRV_IP:7002" --json | pyj 'len(j["sessions"])')" -eq 0

# More sessions: B has five UDP sockets, C two; A holds a TCP connection
# and pings (A has the warm-up and the 500-datagram UDP sessions already).
for p in 1 2 3 4 5; do send_udp "$SL_NS_CLI" "$B" $((6000 + p)) 2; done
for p in 1 2; do send_udp "$SL_NS_CLI" "$C" $((6000 + p)) 2; done
sl_bg "$SL_NS_SRV" "$SL_TMP/tcp-srv.log" timeout 60 "$SL_PY" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$SL_SRV_IP', 8080)); s.listen(1); c, _ = s.accept(); time.sleep(55)
"
sl_wait_listen "$SL_NS_SRV" tcp 8080 5 || sl_fail "TCP server listens"
sl_bg "$SL_NS_CLI" "$SL_TMP/tcp-cli.log" timeout 60 "$SL_PY" -c "
import socket, time
s = socket.create_connection(('$SL_SRV_IP', 8080), source_address=('$A', 0)); print('connected', flush=True); time.sleep(55)
"
for _ in $(seq 50); do grep -q connected "$SL_TMP/tcp-cli.log" && break; sleep 0.1; done
sl_cli ping -c 2 -i 0.2 -W 1 -I "$A" "$SL_SRV_IP" >/dev/null 2>&1
sleep 0.3
tcp=$(ctl sessions --proto tcp --json)
sl_expect "sessions --proto tcp: the held connection" "$(pyj 'len(j["sessions"])' <<<"$tcp")" -eq 1
sl_expect "... established" "$(pyj 'j["sessions"][0]["state"]' <<<"$tcp")" == established
states=$(sl_tel /sluice/nat_states)
sl_expect "TCP-state gauge: one established" "$(pyj 'j["tcp_established"]' <<<"$states")" -eq 1
sl_expect "protocol gauges: 1 tcp, 9 udp, 1 icmp" \
  "$(pyj '"%d %d %d" % (j["sessions_tcp"], j["sessions_udp"], j["sessions_icmp"])' <<<"$states")" == "1 9 1"
top2=$(ctl clients --top 2 --json)
sl_expect "clients --top 2: B first with 5 sessions, then A with 4" \
  "$(pyj '" ".join("%s/%d" % (c["client"], c["sessions"]) for c in j["clients"])' <<<"$top2")" == "$B/5 $A/4"
sl_expect "clients --inside C: C with 2 sessions" \
  "$(ctl clients --inside "$C" --json | pyj '" ".join("%s/%d" % (c["client"], c["sessions"]) for c in j["clients"])')" == "$C/2"
lim=$(ctl sessions --limit 3)
sl_expect "sessions --limit 3: three rows" "$(grep -cE '^(udp|tcp|icmp) ' <<<"$lim")" -eq 3
sl_check "sessions --limit 3: says there are more" grep -q "there are more" <<<"$lim"
all=$(ctl sessions --json)
sl_expect "sessions: all 11 listed, complete" "$(pyj '"%d %s" % (len(j["sessions"]), j["complete"])' <<<"$all")" == "11 True"
sl_expect "sessions: as many as /sluice/nat says" "$(sl_nat sessions)" -eq 11

# --- Prometheus -------------------------------------------------------------------------
ctl stats --prometheus >"$SL_TMP/metrics.prom"
sl_expect "stats --prometheus: exit 0" "$?" -eq 0
ctl stats --json >"$SL_TMP/stats2.json"
sl_check "the Prometheus text parses and is strict, and agrees with --json" /usr/bin/python3 - "$SL_TMP/metrics.prom" "$SL_TMP/stats2.json" <<'EOF'
import json, re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
j = json.load(open(sys.argv[2]))["absolute"]
fams = {f.name: f for f in text_string_to_metric_families(text)}
# Strict: HELP then TYPE once per family, before its samples; names; _total.
name_re = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
declared, typ, series = set(), {}, set()
lines = text.splitlines()
for i, line in enumerate(lines):
    if line.startswith("# HELP "):
        name = line.split()[2]
        assert name not in declared, "HELP twice: " + name
        assert lines[i + 1].startswith("# TYPE %s " % name), "TYPE must follow HELP: " + name
        declared.add(name)
    elif line.startswith("# TYPE "):
        _, _, name, t = line.split()
        assert t in ("counter", "gauge"), line
        typ[name] = t
    else:
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\d+)$", line)
        assert m, "bad sample line: " + line
        name = m.group(1)
        assert name in typ, "sample before its TYPE: " + line
        assert name_re.match(name)
        if typ[name] == "counter":
            assert name.endswith("_total"), "counter without _total: " + name
        assert line.rsplit(" ", 1)[0] not in series, "series twice: " + line
        series.add(line.rsplit(" ", 1)[0])
def value(family, **labels):
    return sum(s.value for s in fams[family].samples
               if s.name.endswith("_total") or fams[family].type == "gauge"
               if all(s.labels.get(k) == v for k, v in labels.items()))
assert value("sluice_drops", reason="spoofed-source") == j["/sluice/drops"]["spoofed_source"]
assert value("sluice_nat_sessions") == j["/sluice/nat"]["sessions"] == 11
assert value("sluice_nat_tcp_sessions", state="established") == 1
assert value("sluice_nat_sessions_by_protocol", protocol="udp") == 9
assert value("sluice_worker_forwarded") == j["/sluice/stats"]["forwarded"]
assert value("sluice_port_rx_packets", side="inside") == j["/sluice/port,0"]["rx_packets"]
assert value("sluice_pool_ports_used") == 11
assert fams["sluice_drops"].type == "counter" and fams["sluice_nat_sessions"].type == "gauge"
print(len(fams), "families", len(series), "series")
EOF

# --- DPDK's own client ------------------------------------------------------------------
if [ -x "$TELPY" ]; then
  tel=$(printf '/sluice/info\n/sluice/nat\n' | /usr/bin/python3 "$TELPY" -f "$SL_PREFIX" 2>&1)
  sl_expect "dpdk-telemetry.py: /sluice/info names the pipeline" \
    "$(head -n1 <<<"$tel" | pyj 'j["/sluice/info"]["pipeline"]')" == cgnat
  sl_expect "dpdk-telemetry.py: /sluice/nat sessions" \
    "$(sed -n 2p <<<"$tel" | pyj 'j["/sluice/nat"]["sessions"]')" -eq 11
else
  sl_fail "dpdk-telemetry.py found (package dpdk-dev)"
fi

# --- top in tmux, with traffic -------------------------------------------------------------
tmx="tmux -L $SL_TAG"
send_udp "$SL_NS_CLI" "$A" 5001 4000 1000 &
traffic=$!
SL_PIDS+=("$traffic")
$tmx -f /dev/null new-session -d -s big -x 80 -y 24 "$CTL -p $SL_PREFIX top"
SL_PIDS+=("$($tmx display -p '#{pid}')")
$tmx new-session -d -s small -x 80 -y 12 "$CTL -p $SL_PREFIX top"
sleep 3.5
$tmx capture-pane -p -t big >"$SL_TMP/top24.txt"
$tmx capture-pane -p -t small >"$SL_TMP/top12.txt"
$tmx kill-server 2>/dev/null
kill "$traffic" 2>/dev/null
wait "$traffic" 2>/dev/null
sed 's/^/      | /' "$SL_TMP/top24.txt"
sl_check "top in 80x24: the header names this sluice" grep -q "^sluice $SL_PREFIX  cgnat  2 workers" "$SL_TMP/top24.txt"
for what in "PORT / QUEUE" "WORKER" "NAT sessions" "POOL 64 addresses" "DROPS/s"; do
  sl_check "top in 80x24: shows '$what'" grep -q "$what" "$SL_TMP/top24.txt"
done
sl_expect "top in 80x24: no line wider than 80" "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$SL_TMP/top24.txt")" -le 80
sl_check "top in 80x24: the inside port receives (rx pps > 0)" \
  awk '$1 == "inside" { ok = ($3 != "0") } END { exit !ok }' "$SL_TMP/top24.txt"
sl_check "top in 80x24: NAT line counts the sessions" grep -qE "^NAT sessions 1[12] of" "$SL_TMP/top24.txt"
sl_expect "top in 80x12: fits 12 lines" "$(grep -c . "$SL_TMP/top12.txt")" -le 12
sl_check "top in 80x12: says what it hid" grep -q "lines hidden: enlarge the window" "$SL_TMP/top12.txt"
sl_check "top in 80x12: keeps the header" grep -q "^sluice $SL_PREFIX" "$SL_TMP/top12.txt"
plain=$(ctl top -n 1 -d 0.5)
sl_check "top without a terminal: one plain screen" grep -q "^PORT / QUEUE" <<<"$plain"
sl_check "top without a terminal: no escape codes" bash -c "! grep -q $'\x1b' <<<\"\$1\"" _ "$plain"

# --- sluice stops under top -----------------------------------------------------------------
ctl top -d 0.2 >"$SL_TMP/top-stop.txt" 2>"$SL_TMP/top-stop.err" &
top_pid=$!
SL_PIDS+=("$top_pid")
sleep 1
sl_stop TERM 10
sl_expect "sluice exits 0 after all this" "$SL_EXIT" -eq 0
wait "$top_pid"
sl_expect "top exits 3 when sluice stops" "$?" -eq 3
sl_kill_pid "$count_pid"
sl_finish
