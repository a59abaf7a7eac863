#!/usr/bin/env bash
# NAT event export and the NAT log with real programs on both ends: sluice
# runs the cgnat pipeline between a client and a server (namespaces), sends
# IPFIX to Debian's nfcapd on 127.0.0.1 of its own namespace (the host
# stack, as a management interface would be), and writes its NAT log.
#
#  - a UDP exchange and an HTTP download: the log has their S+ lines with the
#    public endpoint the server saw; `sluicectl trace` names the client;
#  - nfdump -o json shows the session create with the right pre- and
#    post-NAT source, destination and natEvent, a flow record with bytes
#    each way; nfdump -o nel shows the same endpoints; tshark decodes every
#    captured IPFIX message with no malformed packet or expert error, and
#    its NAT fields agree;
#  - SIGHUP after logrotate's rename: nat.log.1 and the new nat.log together
#    hold every line sluice counted, none lost;
#  - the collector stopped and restarted (a new nfcapd): what sluice sent
#    while it was away is all it lost (the records nfcapd got = all records
#    less those made while it was down), send errors are counted, and the
#    templates came again so records after the restart decode;
#  - shutdown: every session and block created is deleted in the log
#    (forced end at stop), IPFIX records and log lines match the counters;
#  - sluicectl stats, stats --prometheus and top show the export section
#    (events, sent, lost, send errors, log lines) as /sluice/export counts;
#  - trace still answers from the rotated file once it is gzipped, and from
#    the plain rotated file through its index (nat.log.idx).
set -uo pipefail
export SL_NAT=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
PORT=4739
for tool in nfcapd nfdump tshark; do
  command -v "$tool" >/dev/null || { sl_err "export.sh: $tool missing (scripts/deps installs it)"; exit 2; }
done
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
LOG=$SL_TMP/log/nat.log
mkdir -p "$SL_TMP/log" "$SL_TMP/nf1" "$SL_TMP/nf2"

# start_nfcapd DIR: a collector on 127.0.0.1:$PORT in sluice's namespace.
start_nfcapd() {
  sl_bg "$SL_NS_SLU" "$1.log" nfcapd -b 127.0.0.1 -p $PORT -w "$1" -t 3600
  NFCAPD_PID=$SL_BG_PID
  sl_wait_listen "$SL_NS_SLU" udp $PORT 5
}
stop_nfcapd() { sl_kill_pid "$NFCAPD_PID"; }
export_value() { sl_tel_get /sluice/export "$1" 2>/dev/null || echo -1; }
# Records sluice has made so far (sent or lost), once its 100 ms flush has run.
records_made() {
  sleep 0.4
  echo $(($(export_value ipfix_records) + $(export_value ipfix_records_lost)))
}
# probe PORT...: one UDP socket per port to the server's 7001; prints "PORT PUBLIC".
probe() {
  local p out
  for p in "$@"; do
    out=$(sl_cli timeout --foreground 10 "$SL_PY" "$SL_LIB/udp.py" probe --bind "$SL_CLI_IP:$p" --dst "$SL_SRV_IP:7001" 2>&1)
    echo "$p $(awk '$2 == "seen-as" { print $3 }' <<<"$out")"
  done
}

start_nfcapd "$SL_TMP/nf1" || sl_fail "nfcapd listens"
sl_bg "$SL_NS_SLU" "$SL_TMP/tshark.log" timeout 120 tshark -i lo -f "udp port $PORT" -w "$SL_TMP/ipfix.pcap"
TSHARK_PID=$SL_BG_PID
for _ in $(seq 100); do grep -q "Capturing on" "$SL_TMP/tshark.log" 2>/dev/null && break; sleep 0.1; done

sl_config "[export]" "collector = 127.0.0.1:$PORT" "log = $LOG" "destinations = yes" \
  "template-refresh = 30" "active-timeout = 2" >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts with [export]"; sl_finish; }
sl_pass "sluice starts with [export]"

sl_bg "$SL_NS_SRV" "$SL_TMP/udp.log" timeout 100 "$SL_PY" "$SL_LIB/udp.py" serve --bind "$SL_SRV_IP" --port 7001 --seconds 100 --tell
sl_wait_listen "$SL_NS_SRV" udp 7001 5 || sl_fail "UDP server listens"
mkdir -p "$SL_TMP/www"
head -c 300000 /dev/urandom >"$SL_TMP/www/f"
sl_bg "$SL_NS_SRV" "$SL_TMP/http.log" timeout 100 "$SL_PY" -m http.server 8080 --bind "$SL_SRV_IP" --directory "$SL_TMP/www"
sl_wait_listen "$SL_NS_SRV" tcp 8080 5 || sl_fail "HTTP server listens"

# --- 1. sessions, the log and trace ---------------------------------------------------------
read -r _ pub <<<"$(probe 5000)"
sl_check "UDP through NAT: the server saw a pool address" grep -qE '^198\.51\.100\.[0-9]+:[0-9]+$' <<<"$pub"
PUB_IP=${pub%:*}
PUB_PORT=${pub#*:}
sl_check "HTTP download through NAT" sl_cli curl -sS --max-time 10 -o /dev/null "http://$SL_SRV_IP:8080/f"
sleep 0.5
sl_check "the log has the UDP session's create line with the public endpoint the server saw" \
  grep -qE "^[0-9T:.-]+Z;S\+;udp;$SL_CLI_IP;5000;$PUB_IP;$PUB_PORT;$SL_SRV_IP;7001\$" "$LOG"
sl_check "the log has the HTTP connection's create line" grep -qE ";S\+;tcp;$SL_CLI_IP;[0-9]+;$PUB_IP;[0-9]+;$SL_SRV_IP;8080\$" "$LOG"
sl_check "the log has the client's port block" grep -qE ";B\+;-;$SL_CLI_IP;-;$PUB_IP;[0-9]+-[0-9]+\$" "$LOG"
sl_expect "log lines are short (longest)" "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$LOG")" -lt 90
out=$("$CTL" trace "$PUB_IP" "$PUB_PORT" "@$(date +%s)" --window 10 --proto udp --log "$LOG" 2>&1)
rc=$?
sl_expect "sluicectl trace of the server's view: exit status" "$rc" -eq 0
sl_check "sluicectl trace names the client" grep -q "^client $SL_CLI_IP" <<<"$out"
sl_log "$(sed 's/^/      /' <<<"$out")"
"$CTL" trace "$PUB_IP" "$PUB_PORT" "@$(($(date +%s) - 3600))" --log "$LOG" >/dev/null 2>&1
sl_expect "trace an hour before: nobody (exit 1)" "$?" -eq 1

# --- 2. a flow record after the active timeout ---------------------------------------------
probe 5001 >/dev/null
sleep 2.2
probe 5001 >/dev/null   # past the 2 s active timeout: a flow record of this session

# --- 3. logrotate: rename, SIGHUP, no line lost --------------------------------------------
mv "$LOG" "$LOG.1"
kill -HUP "$SL_SLUICE_PID"
sl_expect "SIGHUP reopens the log" "$(sl_wait_value /sluice/export log_reopens 1 3)" -eq 1
probe 5100 5101 5102 >/dev/null
sleep 0.5
sl_check "the new nat.log gets the lines after the SIGHUP" grep -q ";S+;udp;$SL_CLI_IP;5102;" "$LOG"

# --- 4. the collector away and back --------------------------------------------------------
before=$(records_made)
stop_nfcapd
# Separate messages (each flush is 100 ms apart), so the socket sees the refusals.
for p in $(seq 5200 5211); do probe "$p" >/dev/null; sleep 0.15; done
start_nfcapd "$SL_TMP/nf2" || sl_fail "nfcapd listens again"
away=$(($(records_made) - before))
sl_expect "records made while the collector was away" "$away" -ge 12
sl_expect "send errors counted while it was away" "$(export_value ipfix_send_errors)" -ge 1
sl_expect "records lost counted" "$(export_value ipfix_records_lost)" -ge 1
probe 5300 5301 >/dev/null
sleep 0.5

# --- 4b. the export section of sluicectl stats and top --------------------------------------
stats=$("$CTL" -p "$SL_PREFIX" stats 2>&1)
sl_check "stats: an Export section" grep -q "^Export (IPFIX to collectors, the NAT log)" <<<"$stats"
row() { awk -v k="$1" '$0 ~ "^  "k" +[0-9,]+$" { gsub(",", "", $NF); print $NF }' <<<"$stats"; }
sl_expect "stats: log lines as /sluice/export counts them" "$(row 'log lines')" -eq "$(export_value log_lines)"
sl_expect "stats: send errors shown" "$(row 'ipfix send errors')" -ge 1
sl_expect "stats: events lost to full rings shown" "$(row 'events ring full')" -eq 0
prom=$("$CTL" -p "$SL_PREFIX" stats --prometheus 2>&1)
sl_check "stats --prometheus: export counters" grep -qE '^sluice_export_log_lines_total [1-9][0-9]*$' <<<"$prom"
# top's screens (not a terminal: printed in full) while new sessions make events
COLUMNS=100 timeout 20 "$CTL" -p "$SL_PREFIX" top -n 3 -d 1 >"$SL_TMP/top.out" 2>&1 &
TOP_PID=$!
SL_PIDS+=("$TOP_PID")
for p in $(seq 5400 5409); do probe "$p" >/dev/null; sleep 0.2; done
wait "$TOP_PID"
top=$(cat "$SL_TMP/top.out")
sl_log "$(grep -A1 '^EXPORT' <<<"$top" | sed 's/^/      /')"
sl_check "top: the EXPORT line with events/s, sent/s and losses" \
  grep -qE '^EXPORT events/s [1-9][0-9.]*[kM]?  sent/s [1-9][0-9.]*[kM]?  lost: ring-full 0  send-errors [1-9]' <<<"$top"
sl_check "top: the log's line rate and health" \
  grep -qE '^  log lines/s [0-9.]+[kM]?  lost 0  write-errors 0  reopens 1' <<<"$top"

# --- 5. shutdown -----------------------------------------------------------------------------
sl_stop TERM 10
sl_expect "SIGTERM: exit status" "$SL_EXIT" -eq 0
total=$(grep '^sluice: export' "$SL_TMP/sluice.log")
sl_log "      $total"
field() { sed -E "s/.*[ (]$1 ([0-9]+).*/\1/" <<<"$total"; }
sleep 0.3
stop_nfcapd
sl_kill_pid "$TSHARK_PID"

sl_expect "no event lost to a full ring" "$(field 'lost to full rings')" -eq 0
lines=$(cat "$LOG.1" "$LOG" | wc -l)
sl_expect "log lines in nat.log.1 + nat.log == lines sluice wrote" "$lines" -eq "$(field 'log lines')"
sl_expect "log lines lost" "$(field lost)" -eq 0
sl_expect "lines before the SIGHUP stayed in nat.log.1" "$(wc -l <"$LOG.1")" -ge 4
both=$(cat "$LOG.1" "$LOG")
sl_expect "every session created is deleted by the end" "$(grep -c ';S-;' <<<"$both")" -eq "$(grep -c ';S+;' <<<"$both")"
sl_expect "every block allocated is released by the end" "$(grep -c ';B-;' <<<"$both")" -eq "$(grep -c ';B+;' <<<"$both")"
sl_check "the log is in time order" env LC_ALL=C sort -c -s -t';' -k1,1 <<<"$both"

# --- 6. what nfcapd received ---------------------------------------------------------------
nfdump -R "$SL_TMP/nf1" -o json >"$SL_TMP/nf.json" 2>/dev/null
nfdump -R "$SL_TMP/nf2" -o json >>"$SL_TMP/nf.json" 2>/dev/null
got=$(grep -c '"type" : "FLOW"' "$SL_TMP/nf.json")
sent=$(($(field records) + $(field 'records lost')))
sl_expect "nfcapd got every record but those made while it was away ($sent - $away)" "$got" -eq $((sent - away))
sl_expect "nfcapd after the restart decoded records (templates sent again)" \
  "$(nfdump -R "$SL_TMP/nf2" -o json 2>/dev/null | grep -c '"src_port" : 530[01]')" -ge 2
create=$(
  "$SL_PY" - "$SL_TMP/nf.json" "$SL_CLI_IP" "$PUB_IP" "$PUB_PORT" "$SL_SRV_IP" <<'EOF'
import json, re, sys
path, cli, pub, port, srv = sys.argv[1:]
text = open(path).read()
records = [json.loads(r) for r in re.findall(r"\{[^{}]*\}", text, re.S)]
def want(r, **kv):
    return all(str(r.get(k)) == str(v) for k, v in kv.items())
create = [r for r in records if want(r, nat_event_id=4, src4_addr=cli, src_port=5000,
          src4_xlt_ip=pub, src_xlt_port=port, dst4_addr=srv, dst_port=7001, dst4_xlt_ip=srv)]
flows = [r for r in records if want(r, src4_addr=cli, src_port=5000, src4_xlt_ip=pub, dst_port=7001)
         and r.get("in_bytes", 0) > 0 and r.get("out_bytes", 0) > 0]
print(len(create), len(flows))
EOF
)
sl_expect "nfdump -o json: the UDP session create, pre- and post-NAT fields right" "${create% *}" -eq 1
sl_expect "nfdump -o json: its flow record, bytes each way" "${create#* }" -ge 1
sl_check "nfdump -o nel: the session with its public endpoint" \
  grep -qE "UDP +$SL_CLI_IP:5000 +-> +$SL_SRV_IP:7001 +$PUB_IP:$PUB_PORT +->" \
  <<<"$(nfdump -R "$SL_TMP/nf1" -o nel 2>/dev/null)"

# --- 7. tshark decodes the messages --------------------------------------------------------
dec=$(tshark -r "$SL_TMP/ipfix.pcap" -d udp.port==$PORT,cflow -V 2>&1)
sl_expect "tshark: IPFIX messages captured" "$(grep -c '^Cisco NetFlow/IPFIX' <<<"$dec")" -ge 5
sl_expect "tshark: no malformed packet" "$(grep -ci 'malformed' <<<"$dec")" -eq 0
experts=$(tshark -r "$SL_TMP/ipfix.pcap" -d udp.port==$PORT,cflow -q -z expert,warn 2>&1 | grep -cE '^ *(Error|Warning) ')
sl_expect "tshark: no expert warnings or errors" "$experts" -eq 0
sl_check "tshark: the session create decoded with its post-NAT source" \
  grep -q "Post NAT Source IPv4 Address: $PUB_IP" <<<"$dec"
sl_check "tshark: natEvent names" grep -q "Nat Event: NAT44 session create (4)" <<<"$dec"

# --- 8. trace from the rotated file with its index, then gzipped ------------------------------
sl_check "the rotated file's trace index followed it (nat.log.idx/INODE)" \
  test -s "$LOG.idx/$(stat -c %i "$LOG.1")"
out=$("$CTL" trace "$PUB_IP" "$PUB_PORT" "@$(date +%s)" --window 120 --log "$LOG" 2>&1)
sl_check "trace reads nat.log.1 through its index and names the client" grep -q "^client $SL_CLI_IP" <<<"$out"
gzip "$LOG.1"
out=$("$CTL" trace "$PUB_IP" "$PUB_PORT" "@$(date +%s)" --window 120 --log "$LOG" 2>&1)
sl_check "trace reads nat.log.1.gz and still names the client" grep -q "^client $SL_CLI_IP" <<<"$out"
sl_finish
