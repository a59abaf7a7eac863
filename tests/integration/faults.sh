#!/usr/bin/env bash
# Faults (issue 9): what goes wrong around sluice, with two workers, the
# cgnat pipeline, a NAT log on a 1 MiB tmpfs of its own and an IPFIX
# collector on 127.0.0.1 of sluice's namespace. One client 10.16.1.2 with a
# UDP probe flow (port 5000 to a --tell server on 192.0.2.2:7001); new
# sessions are made by spraying datagrams from new client sockets.
#
#  - the collector away: nothing listens on its port; sessions are made,
#    the failed sends are counted (ipfix_send_errors, ipfix_records_lost);
#    then it comes back: it receives messages again, templates first
#    (export.sh checks with nfcapd that records after a restart decode);
#  - 50 SIGHUPs, 20 ms apart, while 300 sessions are made: sluice runs on,
#    it reopened the log, no line is lost or failed, and the file holds
#    every line it counted;
#  - the log disk fills (the tmpfs filled with a file): sessions still made
#    and forwarded, the loss counted (log_write_errors, log_lines_lost), and
#    log lines written + lost == events exported; the disk is freed: new
#    sessions' lines are in the file again;
#  - kill -9 of sluice, then a start with the same eal.prefix: it starts
#    clean (no error about the old runtime directory), forwards the probe
#    flow and makes new sessions, and exits 0 on SIGTERM.
# Through every fault each worker's loop keeps turning (busy_polls +
# idle_polls rise), the probe flow gets its answer, and the counter
# identities hold (scripts/lib/invariants.py).
# A member link's flap under traffic is link_failover.sh.
set -uo pipefail
export SL_NAT=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
SPRAY=$SL_LIB/spray.py
PORT=4739
t_start=$(date +%s)
sl_init
LOGFS=$SL_TMP/logfs
# The tmpfs goes before sl_cleanup removes the directory (any exit).
trap 'rc=$?; umount -l "$LOGFS" 2>/dev/null; (exit $rc); sl_cleanup' EXIT
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
mkdir -p "$LOGFS" && mount -t tmpfs -o size=1m tmpfs "$LOGFS" || { sl_fail "a 1 MiB tmpfs for the log"; sl_finish; }
LOG=$LOGFS/nat.log
SL_CONF=$SL_TMP/sluice.conf
sl_config "[dataplane]" "workers = 2" "[export]" "collector = 127.0.0.1:$PORT" "log = $LOG" \
  "flows = no" >"$SL_CONF"
sl_bg "$SL_NS_SRV" "$SL_TMP/udp.log" timeout 200 "$SL_PY" "$SL_LIB/udp.py" serve --bind "$SL_SRV_IP" \
  --port 7001 --seconds 200 --tell
sl_wait_listen "$SL_NS_SRV" udp 7001 5 || sl_fail "UDP server listens"
sl_start || { sl_fail "sluice starts"; sl_finish; }

e() { sl_tel_get /sluice/export "$1" 2>/dev/null || echo -1; }
probe() { sl_udp_probe 5000; }
# sessions N [SECONDS]: N new sessions (N new client sockets to the server).
sessions() {
  sl_cli timeout 30 "$SL_PY" "$SPRAY" --dst "$SL_SRV_IP" --dports 7001 --sports "$1" --count "$1" \
    --seconds "${2:-10}" --pps "${3:-300}" >>"$SL_TMP/spray.log" 2>&1
}
# settled: the exporter has drained and flushed (100 ms rounds).
settled() { sleep 0.5; }
# a collector: counts the IPFIX messages it gets and the template sets
# (set id 2) among them, for SECONDS.
collector() {
  sl_bg "$SL_NS_SLU" "$SL_TMP/collector.log" timeout 30 "$SL_PY" -c "
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $PORT))
s.settimeout(0.2)
end, msgs, tmpl = time.monotonic() + $1, 0, 0
while time.monotonic() < end:
    try:
        d = s.recv(65535)
    except socket.timeout:
        continue
    msgs += 1
    if len(d) >= 20 and struct.unpack('!H', d[16:18])[0] == 2:
        tmpl += 1
print('messages', msgs, 'templates', tmpl)
"
  COLLECTOR_PID=$SL_BG_PID
}
sl_check "the probe flow gets its answer" probe

# --- the collector away, and back ----------------------------------------------------------------
loops=$(sl_worker_loops)
err0=$(e ipfix_send_errors)
for _ in 1 2 3 4 5; do sessions 5; sleep 0.15; done  # separate 100 ms rounds: separate sends
settled
sl_expect "collector away: send errors counted" $(($(e ipfix_send_errors) - err0)) -gt 0
sl_expect "collector away: records lost counted" "$(e ipfix_records_lost)" -gt 0
sl_check "collector away: the probe flow gets its answer" probe
sl_expect_loops "collector away" "$loops"
collector 3
sl_wait_listen "$SL_NS_SLU" udp $PORT 5 || sl_fail "the collector listens"
for _ in 1 2 3 4 5; do sessions 2; sleep 0.2; done
wait "$COLLECTOR_PID"
read -r _ msgs _ tmpl <"$SL_TMP/collector.log"
sl_log "      the collector back: $msgs messages, $tmpl with templates"
sl_expect "collector back: it gets messages again" "${msgs:-0}" -ge 1
sl_expect "collector back: templates came again" "${tmpl:-0}" -ge 1

# --- repeated SIGHUP ---------------------------------------------------------------------------
loops=$(sl_worker_loops)
reopens0=$(e log_reopens)
lost0=$(e log_lines_lost)
werr0=$(e log_write_errors)
created0=$(sl_nat sessions_created)
sessions 300 10 100 &
SESSIONS_PID=$!
for _ in $(seq 50); do
  kill -HUP "$SL_SLUICE_PID"
  sleep 0.02
done
wait "$SESSIONS_PID"
settled
sl_check "50 SIGHUPs: sluice is running" kill -0 "$SL_SLUICE_PID"
reopens=$(($(e log_reopens) - reopens0))
sl_log "      $reopens reopens for 50 SIGHUPs (signals in one exporter round count once)"
sl_expect "50 SIGHUPs: the log was reopened" "$reopens" -ge 1
sl_expect "50 SIGHUPs: ... never more often than asked" "$reopens" -le 50
sl_expect "50 SIGHUPs: sessions made meanwhile (of 300)" $(($(sl_nat sessions_created) - created0)) -ge 290
sl_expect "50 SIGHUPs: no log line lost" $(($(e log_lines_lost) - lost0)) -eq 0
sl_expect "50 SIGHUPs: no write error" $(($(e log_write_errors) - werr0)) -eq 0
sl_expect "50 SIGHUPs: the file holds every line counted" "$(wc -l <"$LOG")" -eq "$(e log_lines)"
sl_check "50 SIGHUPs: the probe flow gets its answer" probe
sl_expect_loops "50 SIGHUPs" "$loops"

# --- the log disk fills, then frees -------------------------------------------------------------
loops=$(sl_worker_loops)
dd if=/dev/zero of="$LOGFS/fill" bs=4k >/dev/null 2>&1  # until ENOSPC
lost0=$(e log_lines_lost)
werr0=$(e log_write_errors)
lines0=$(e log_lines)
created0=$(sl_nat sessions_created)
for _ in 1 2 3 4 5; do sessions 20; sleep 0.15; done
settled
made=$(($(sl_nat sessions_created) - created0))
sl_expect "disk full: sessions still made (of 100)" "$made" -ge 90
sl_expect "disk full: write errors counted" $(($(e log_write_errors) - werr0)) -gt 0
# A few lines may still fit in the log's last page; none goes uncounted.
lost=$(($(e log_lines_lost) - lost0))
sl_log "      disk full: $made sessions made, $lost log lines lost, $(($(e log_lines) - lines0)) written"
sl_expect "disk full: lost lines counted" "$lost" -gt 0
sl_expect "disk full: lines written + lost == events exported" \
  $(($(e log_lines) + $(e log_lines_lost))) -eq "$(e events_exported)"
sl_check "disk full: the probe flow gets its answer" probe
sl_expect_loops "disk full" "$loops"
rm -f "$LOGFS/fill"
lines0=$(e log_lines)
sl_bg "$SL_NS_CLI" "$SL_TMP/probe6000.log" timeout 10 "$SL_PY" "$SL_LIB/udp.py" probe \
  --bind "$SL_CLI_IP:6000" --dst "$SL_SRV_IP:7001"
wait "$SL_BG_PID"
settled
sl_expect "disk freed: lines written again" $(($(e log_lines) - lines0)) -ge 1
sl_check "disk freed: the new session's line is in the file" grep -q ";S+;udp;$SL_CLI_IP;6000;" "$LOG"
sl_check "counter identities after the log faults" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"

# --- kill -9, and a restart with the same prefix -------------------------------------------------
sl_stop KILL 5
sl_expect "kill -9: sluice is gone (status 137)" "$SL_EXIT" -eq 137
cp "$SL_TMP/sluice.log" "$SL_TMP/sluice.killed.log"
if sl_start; then
  sl_pass "restart after kill -9 with the same eal.prefix"
  # Word for word what the first start said: nothing about what the killed
  # process left behind (its runtime directory, telemetry socket, ports).
  startup() { sed '/^sluice: running/q' "$1"; }
  sl_check "restart: it says what a first start says, nothing more" \
    diff <(startup "$SL_TMP/sluice.killed.log") <(startup "$SL_TMP/sluice.log")
  loops=$(sl_worker_loops)
  created0=$(sl_nat sessions_created)
  sl_check "restart: the probe flow gets its answer" probe
  sessions 20
  sl_expect "restart: new sessions made" $(($(sl_nat sessions_created) - created0)) -ge 20
  sl_expect_loops "restart" "$loops"
  sl_check "restart: counter identities" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
  sl_stop TERM 10
  sl_expect "restart: SIGTERM, exit status" "$SL_EXIT" -eq 0
  sl_check "restart: counter identities exact on the exit summary" \
    "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
else
  sl_fail "restart after kill -9 with the same eal.prefix"
fi
sl_log "      faults.sh took $(($(date +%s) - t_start)) s"
sl_finish
