#!/usr/bin/env bash
# Exhaustion (issue 9): each bounded resource of sluice reached with real
# traffic through namespaces, counted where it ran out, and survived. One
# client 10.16.1.2 (with a UDP probe flow from port 5000 to a --tell server
# on 192.0.2.2:7001), three runs of sluice (cgnat):
#
# 1. The mbuf pool: dataplane.mbufs = 1024 (the minimum), arp.queue = 256.
#    For 3 s the client sprays datagrams at 16 outside addresses nobody
#    answers for; the control thread holds their packets while it asks
#    (up to 256 each). With the default arp.held (an eighth of the pool,
#    128) no more wait in all: the pool never runs dry
#    (mbufs_exhausted_ms stays 0), the probe is answered during the spray,
#    the rest is resolve_dropped. With arp.held = 4096 (more than the pool)
#    the pool runs dry and it is counted (mbufs_exhausted_ms; af_packet
#    counts no rx_nombuf). Both times the held packets go when the
#    addresses fail (neighbours_failed).
# 2. The handoff rings and the event rings: two workers,
#    dataplane.handoff-ring = 64, export.ring = 64, export.flows = no. sluice
#    is stopped (SIGSTOP) while 1,000 SYNs from 1,000 new clients queue up
#    in its af_packet rings, then continued: each worker works through its
#    backlog, handing half of it to the other (handoff-ring-full) and
#    queueing two events per new client (events_ring_full). Every session
#    and block made is in the NAT log or counted as lost: S+ and B+ lines +
#    events_ring_full == sessions_created + port_blocks_allocated.
# 3. The port blocks and the session table: two workers, one public address
#    with 4 blocks of 64 ports (port-min 65280), one block per client,
#    nat.sessions = 1024 (512 a worker). 300 SYNs from new clients: 4
#    clients in all hold a block, the rest are nat-pool-exhausted. Then the
#    probe client sends from one socket to 1,200 server ports: its worker's
#    table fills, the rest are nat-table-full.
#
# After each: sluice is running, every worker's loop kept turning during
# the flood (busy_polls + idle_polls rose), the probe flow still gets its
# answer, the counter identities hold (scripts/lib/invariants.py), and the
# buffers in use (/sluice/stats mbufs_in_use) are back at the baseline taken
# before the flood once the traffic has stopped: nothing leaked. The exit
# summary's identities hold exactly and sluice exits 0.
set -uo pipefail
export SL_NAT=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
HOSTILE=$SL_LIB/hostile.py
SPRAY=$SL_LIB/spray.py
t_start=$(date +%s)
sl_init
sl_require_binary
sl_topology || { sl_fail "topology"; sl_finish; }
SL_CONF=$SL_TMP/sluice.conf
sl_bg "$SL_NS_SRV" "$SL_TMP/udp.log" timeout 200 "$SL_PY" "$SL_LIB/udp.py" serve --bind "$SL_SRV_IP" \
  --port 7001 --seconds 200 --tell
sl_wait_listen "$SL_NS_SRV" udp 7001 5 || sl_fail "UDP server listens"

stat_or() { sl_stat "$1" 2>/dev/null || echo -1; }
drop() { sl_drop "$1" 2>/dev/null || echo 0; }
exp_value() { sl_tel_get /sluice/export "$1" 2>/dev/null || echo -1; }
# probe: the probe flow (client port 5000: after the first, an existing
# session) gets its answer.
probe() { sl_udp_probe 5000; }
# start_run WHAT CONFIG...: (re)starts sluice, checks the probe,
# takes the baseline of buffers in use and the workers' loop counts.
start_run() {
  local what=$1
  shift
  [ -n "$SL_SLUICE_PID" ] && sl_stop TERM 10
  sl_config "$@" >"$SL_CONF"
  sl_start || { sl_fail "$what: sluice starts"; sl_finish; }
  sl_check "$what: the probe flow gets its answer" probe
  sleep 0.5
  BASE=$(stat_or mbufs_in_use)
  LOOPS0=$(sl_worker_loops)
  sl_log "      $what: $(stat_or mbufs) buffers, $BASE in use at the baseline"
}
# after WHAT: the checks every exhaustion ends with.
after() {
  local what=$1
  sl_check "$what: sluice is still running" kill -0 "$SL_SLUICE_PID"
  sl_expect_loops "$what" "$LOOPS0"
  sl_check "$what: the probe flow still gets its answer" probe
  sl_check "$what: counter identities" "$SL_PY" "$SL_LIB/invariants.py" -p "$SL_PREFIX"
  sl_expect "$what: buffers in use back at the baseline ($BASE)" "$(sl_mbufs_back "$BASE")" -le "$BASE"
}
# stop_run WHAT: SIGTERM, exit 0, identities exact on the exit summary.
stop_run() {
  sl_stop TERM 10
  sl_expect "$1: exit status" "$SL_EXIT" -eq 0
  sl_check "$1: counter identities exact on the exit summary" \
    "$SL_PY" "$SL_LIB/invariants.py" --summary "$SL_TMP/sluice.log"
}
mac_in() { sl_mac "$SL_NS_SLU" "$SL_IF_IN"; }

# === 1. the mbuf pool ========================================================================
# spray_unanswered: 3 s of datagrams to 16 outside addresses nobody answers
# for (the neighbours fail after arp.retries x arp.retry-ms, 3 s).
spray_unanswered() {
  sl_cli timeout 20 "$SL_PY" "$SPRAY" --dst 192.0.2.100-115 --dports 9 --sports 4 --count 12000 \
    --seconds 3 --pps 4000 >"$SL_TMP/spray1.log" 2>&1
}
start_run "held for ARP" "[dataplane]" "mbufs = 1024" "[arp]" "queue = 256"
dry0=$(stat_or mbufs_exhausted_ms)
rd0=$(stat_or resolve_dropped)
spray_unanswered &
SPRAY_PID=$!
sleep 1.5
sl_check "held for ARP: the probe flow gets its answer during the spray" probe
in_use=$(stat_or mbufs_in_use)
wait "$SPRAY_PID"
sl_log "      during the spray: $in_use buffers in use (arp.held: 1024 / 8 = 128)"
sl_expect "held for ARP: at most arp.held (128) + a few bursts in use" "$in_use" -le 256
sl_expect "held for ARP: the pool never ran dry (mbufs_exhausted_ms)" $(($(stat_or mbufs_exhausted_ms) - dry0)) -eq 0
sl_expect "held for ARP: the rest counted as resolve_dropped" $(($(stat_or resolve_dropped) - rd0)) -gt 1000
sleep 3.5  # the 16 addresses fail: their held packets go
sl_expect "held for ARP: the unanswered addresses failed" "$(stat_or neighbours_failed)" -ge 16
after "held for ARP"
stop_run "held for ARP"

# The operator lets more wait than the pool holds: the pool runs dry.
start_run "mbuf pool" "[dataplane]" "mbufs = 1024" "[arp]" "queue = 256" "held = 4096"
dry0=$(stat_or mbufs_exhausted_ms)
spray_unanswered
dry=$(($(stat_or mbufs_exhausted_ms) - dry0))
sl_log "      the pool was dry for $dry ms"
sl_expect "mbuf pool: ran dry, counted (mbufs_exhausted_ms)" "$dry" -gt 100
sleep 3.5
sl_expect "mbuf pool: the unanswered addresses failed" "$(stat_or neighbours_failed)" -ge 16
after "mbuf pool"
stop_run "mbuf pool"

# === 2. handoff rings and event rings ========================================================
LOG=$SL_TMP/nat.log
start_run "rings" "[dataplane]" "workers = 2" "handoff-ring = 64" \
  "[export]" "ring = 64" "flows = no" "log = $LOG"
mac=$(mac_in)
# Built before sluice stops (scapy takes a while), sent while it is stopped.
created0=$(sl_nat sessions_created)
blocks0=$(sl_nat port_blocks_allocated)
kill -STOP "$SL_SLUICE_PID"
ip netns exec "$SL_NS_CLI" timeout 30 "$SL_PY" "$HOSTILE" --iface "$SL_IF_CLI" --dst-mac "$mac" \
  --kind syn-many --count 1000 --dport 9 --seconds 10 --pps 20000 --seed "$SL_ID" \
  >"$SL_TMP/syn-many.log" 2>&1
sleep 0.2
kill -CONT "$SL_SLUICE_PID"
sleep 1.5
created=$(($(sl_nat sessions_created) - created0))
blocks=$(($(sl_nat port_blocks_allocated) - blocks0))
ring=$(exp_value events_ring_full)
hfull=$(drop handoff-ring-full)
sl_log "      backlog: $created sessions and $blocks blocks made, handoff-ring-full $hfull, events_ring_full $ring"
sl_expect "handoff rings: handoff-ring-full counted" "$hfull" -gt 0
sl_expect "event rings: events_ring_full counted" "$ring" -gt 0
sl_expect "event rings: every event queued was exported" "$(exp_value events_exported)" -eq "$(exp_value events_queued)"
made=$(sl_nat sessions_created)
made=$((made + $(sl_nat port_blocks_allocated)))
logged=$(grep -cE ';(S|B)\+;' "$LOG")
sl_expect "event rings: S+/B+ lines in the log + events_ring_full == sessions + blocks made" \
  $((logged + ring)) -eq "$made"
after "rings"
stop_run "rings"

# === 3. port blocks and the session table ====================================================
SL_POOL=198.51.100.9 start_run "pool and table" "sessions = 1024" "port-min = 65280" \
  "block-size = 64" "max-blocks-per-client = 1" "[dataplane]" "workers = 2"
mac=$(mac_in)
pe0=$(drop nat-pool-exhausted)
ip netns exec "$SL_NS_CLI" timeout 30 "$SL_PY" "$HOSTILE" --iface "$SL_IF_CLI" --dst-mac "$mac" \
  --kind syn-many --count 300 --dport 9 --seconds 10 --pps 3000 --seed "$((SL_ID + 1))" \
  >"$SL_TMP/syn-pool.log" 2>&1
sleep 0.5
pe=$(($(drop nat-pool-exhausted) - pe0))
sl_expect "port blocks: all 4 blocks held" "$(sl_nat port_blocks)" -eq 4
sl_expect "port blocks: the other new clients refused as nat-pool-exhausted" "$pe" -ge 290
tf0=$(drop nat-table-full)
s0=$(sl_nat sessions)
sl_cli timeout 20 "$SL_PY" "$SPRAY" --dst "$SL_SRV_IP" --dports 10000-11199 --bind "$SL_CLI_IP:6000" \
  --count 1200 --seconds 8 --pps 3000 >"$SL_TMP/spray3.log" 2>&1
sleep 0.5
tf=$(($(drop nat-table-full) - tf0))
made=$(($(sl_nat sessions) - s0))
sl_log "      1200 new sessions from one socket: $made made, $tf refused as nat-table-full"
sl_expect "session table: made + nat-table-full = 1200" $((made + tf)) -eq 1200
sl_expect "session table: nat-table-full counted" "$tf" -ge $((1200 - 512))
sl_expect "session table: at capacity" "$(sl_nat sessions)" -le 1024
after "pool and table"
stop_run "pool and table"

sl_log "      exhaustion.sh took $(($(date +%s) - t_start)) s"
sl_finish
