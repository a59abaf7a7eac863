#!/usr/bin/env bash
# What sluice keeps of root's privileges once it runs, and who may use its
# telemetry socket (issue 9). Throwaway users and a group, made here and
# removed on any exit: a telemetry group G, a user in it, a user not in it,
# and a user for sluice to become.
#   configuration  control.user, control.group, control.telemetry-group
#                  naming what does not exist: exit 2, the key named, no
#                  runtime directory made
#   run 1          defaults (cgnat, an IPFIX collector in the server's
#                  namespace, the NAT log): every thread of sluice has no
#                  capability (effective, permitted, inheritable, ambient,
#                  bounding), no_new_privs, uid 0, as its log line says
#                  (the collector: 127.0.0.1 of sluice's namespace);
#                  the runtime directory 0700 root, the socket not for the
#                  user in G; nothing listens on TCP or UDP, the exporter's
#                  UDP socket is connected to the collector, and sluice's
#                  only listening socket is its telemetry socket; after the
#                  drop the collector gets IPFIX and a SIGHUP reopens the
#                  log (a new file gets the next lines); exit 0
#   fail closed    without CAP_SETPCAP (as a service manager may leave it)
#                  the bounding set cannot be emptied: exit 1, says why,
#                  never runs
#   run 2          control.user = the daemon user, control.telemetry-group
#                  = G: every thread runs as that user and its group, no
#                  supplementary groups, no capability, no_new_privs; the
#                  directory is 0710 and the socket 0660, both the user's
#                  and G's; the user in G runs sluicectl, the other gets
#                  exit 4 (permission denied); traffic passes; SIGTERM:
#                  exit 0 and the socket removed
set -uo pipefail
export SL_NAT=1
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
PORT=4739
sl_init
sl_require_binary

TEL_GROUP=sl${SL_ID}tel
MEMBER=sl${SL_ID}m
OUTSIDER=sl${SL_ID}o
DAEMON=sl${SL_ID}d
DPDK_RUN=/var/run/dpdk
dpdk_mode=$(stat -c %a "$DPDK_RUN" 2>/dev/null)
# Users and group go on any exit, and /var/run/dpdk gets its mode back.
remove_accounts() {
  local u
  for u in "$MEMBER" "$OUTSIDER" "$DAEMON"; do userdel "$u" >/dev/null 2>&1; done
  groupdel "$TEL_GROUP" >/dev/null 2>&1
  groupdel "$DAEMON" >/dev/null 2>&1  # useradd -U made it; userdel may have removed it
  [ -n "$dpdk_mode" ] && chmod "$dpdk_mode" "$DPDK_RUN" 2>/dev/null
}
trap 'rc=$?; remove_accounts; (exit $rc); sl_cleanup' EXIT
groupadd "$TEL_GROUP" || { sl_fail "groupadd"; sl_finish; }
useradd -M -N -g nogroup -G "$TEL_GROUP" -s /usr/sbin/nologin "$MEMBER" &&
  useradd -M -N -g nogroup -s /usr/sbin/nologin "$OUTSIDER" &&
  useradd -M -U -s /usr/sbin/nologin "$DAEMON" || { sl_fail "useradd"; sl_finish; }
daemon_uid=$(id -u "$DAEMON")
daemon_gid=$(id -g "$DAEMON")
tel_gid=$(getent group "$TEL_GROUP" | cut -d: -f3)

sl_topology || { sl_fail "topology"; sl_finish; }

# --- configuration errors -----------------------------------------------------------------
sl_config >"$SL_TMP/sluice.conf"
refused() {
  local what=$1 key=$2 out rc
  shift 2
  out=$(ip netns exec "$SL_NS_SLU" "$SLUICE" -c "$SL_TMP/sluice.conf" "$@" 2>&1)
  rc=$?
  sl_expect "$what: exit 2" "$rc" -eq 2
  sl_check "$what: the error names $key" grep -q "configuration error: $key = " <<<"$out"
}
refused "a user that does not exist" control.user --control.user=sl${SL_ID}nobody
refused "a telemetry group that does not exist" control.telemetry-group \
  --control.telemetry-group=sl${SL_ID}nogroup
refused "control.group without control.user" control.group --control.group="$TEL_GROUP"
sl_check "... no DPDK runtime directory was made" test ! -e "$DPDK_RUN/$SL_PREFIX"

# status_all PID FIELD: FIELD of /proc/PID/task/*/status, one line per thread.
status_all() { cat /proc/"$1"/task/*/status 2>/dev/null | awk -v f="$2:" '$1 == f { $1 = ""; print substr($0, 2) }'; }
# check_threads WHAT UID GID: every thread of sluice without privileges.
check_threads() {
  local what=$1 uid=$2 gid=$3 n f
  n=$(ls /proc/"$SL_SLUICE_PID"/task | wc -l)
  sl_expect "$what: sluice has threads (control, workers, DPDK's)" "$n" -ge 3
  for f in CapEff CapPrm CapInh CapAmb CapBnd; do
    sl_expect "$what: $f empty in all $n threads" "$(status_all "$SL_SLUICE_PID" $f | sort -u | tr '\n' ' ')" == "0000000000000000 "
  done
  sl_expect "$what: no_new_privs in all threads" "$(status_all "$SL_SLUICE_PID" NoNewPrivs | sort -u | tr '\n' ' ')" == "1 "
  sl_expect "$what: uid $uid in all threads" "$(status_all "$SL_SLUICE_PID" Uid | sort -u | tr '\t' ' ' | tr '\n' ' ')" == "$uid $uid $uid $uid "
  sl_expect "$what: gid $gid in all threads" "$(status_all "$SL_SLUICE_PID" Gid | sort -u | tr '\t' ' ' | tr '\n' ' ')" == "$gid $gid $gid $gid "
}
# ctl_as USER ARGS...: sluicectl as USER; its exit status.
ctl_as() {
  local user=$1
  shift
  runuser -u "$user" -- env -u XDG_RUNTIME_DIR "$CTL" -p "$SL_PREFIX" "$@"
}

# --- run 1: the defaults, with export ----------------------------------------------------
LOG=$SL_TMP/nat.log
# The collector in sluice's namespace, on 127.0.0.1 (sluice's exporter
# uses the host's stack there; the data ports are DPDK's).
sl_bg "$SL_NS_SLU" "$SL_TMP/collector.log" timeout 120 "$SL_PY" -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $PORT)); print('ready', flush=True)
while True:
    d, a = s.recvfrom(65535)
    print('ipfix', len(d), a[0], flush=True)
"
sl_wait_listen "$SL_NS_SLU" udp $PORT 5 || sl_fail "the collector listens"
sl_bg "$SL_NS_SRV" "$SL_TMP/udp.log" timeout 120 "$SL_PY" "$SL_LIB/udp.py" serve --bind "$SL_SRV_IP" \
  --port 7001 --seconds 110 --tell
sl_wait_listen "$SL_NS_SRV" udp 7001 5 || sl_fail "the UDP server listens"
sl_config "[export]" "collector = 127.0.0.1:$PORT" "log = $LOG" "template-refresh = 1" \
  >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts (defaults, export on)"; sl_finish; }
sl_check "run 1: the log says what remains" \
  grep -q "^sluice: privileges: .* run as root (uid 0), group root (gid 0), with no capabilities" "$SL_TMP/sluice.log"
check_threads "run 1" 0 0
sl_expect "run 1: the runtime directory is root's alone" "$(stat -c '%a %U' "$DPDK_RUN/$SL_PREFIX")" == "700 root"
ctl_as "$MEMBER" stats >/dev/null 2>&1
sl_expect "run 1: a user (even in G) cannot use the telemetry: exit 4" "$?" -eq 4
sl_expect "run 1: sluice listens on no TCP or UDP port (export on)" \
  "$(sl_slu ss -Hlntup | grep -c "pid=$SL_SLUICE_PID,")" -eq 0
udp=$(sl_slu ss -Hanup | grep "pid=$SL_SLUICE_PID,")
sl_expect "run 1: sluice's one UDP socket is the exporter's" "$(grep -c . <<<"$udp")" -eq 1
sl_check "run 1: ... connected to the collector (takes nothing from others)" \
  grep -qE "^ESTAB .* 127.0.0.1:$PORT " <<<"$udp"
listening=$(sl_slu ss -Hlpx | grep "pid=$SL_SLUICE_PID,")
sl_expect "run 1: sluice's only listening socket is its telemetry socket" \
  "$(awk '{ print $5 }' <<<"$listening" | tr '\n' ' ')" == "$DPDK_RUN/$SL_PREFIX/dpdk_telemetry.v2 "
sl_cli timeout 5 "$SL_PY" "$SL_LIB/udp.py" probe --bind "$SL_CLI_IP:5000" --dst "$SL_SRV_IP:7001" >/dev/null 2>&1
for _ in $(seq 40); do grep -q '^ipfix' "$SL_TMP/collector.log" && break; sleep 0.1; done
sl_check "run 1: the collector gets IPFIX after the drop" grep -q '^ipfix' "$SL_TMP/collector.log"
for _ in $(seq 40); do grep -q ";S+;udp;$SL_CLI_IP;5000;" "$LOG" 2>/dev/null && break; sleep 0.1; done
sl_check "run 1: the NAT log gets lines" grep -q ";S+;udp;$SL_CLI_IP;5000;" "$LOG"
mv "$LOG" "$LOG.1"
reopens0=$(sl_tel_get /sluice/export log_reopens 2>/dev/null || echo 0)
kill -HUP "$SL_SLUICE_PID"
sl_expect "run 1: SIGHUP reopens the log without privileges" \
  "$(sl_wait_value /sluice/export log_reopens $((reopens0 + 1)) 3)" -eq $((reopens0 + 1))
sl_cli timeout 5 "$SL_PY" "$SL_LIB/udp.py" probe --bind "$SL_CLI_IP:5001" --dst "$SL_SRV_IP:7001" >/dev/null 2>&1
for _ in $(seq 40); do grep -q ";S+;udp;$SL_CLI_IP;5001;" "$LOG" 2>/dev/null && break; sleep 0.1; done
sl_check "run 1: the new log gets the next lines" grep -q ";S+;udp;$SL_CLI_IP;5001;" "$LOG"
sl_stop TERM 10
sl_expect "run 1: SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "run 1: the telemetry socket is removed" test ! -e "$DPDK_RUN/$SL_PREFIX/dpdk_telemetry.v2"

# --- fail closed: what cannot be dropped stops sluice ----------------------------------
# Without CAP_SETPCAP (a service manager's bounding set) the bounding set
# cannot be emptied: sluice says so and exits 1 rather than run with it.
out=$(sl_slu timeout 30 capsh --drop=cap_setpcap -- -c 'exec "$0" -c "$1"' "$SLUICE" "$SL_TMP/sluice.conf" 2>&1)
rc=$?
sl_expect "without CAP_SETPCAP: sluice refuses to run, exit 1" "$rc" -eq 1
sl_check "... and says why" grep -q "dropping privileges: .*CAP_SETPCAP" <<<"$out"
sl_check "... before it runs" test "$(grep -c '^sluice: running' <<<"$out")" -eq 0

# --- run 2: a user of its own, the telemetry open to G -------------------------------------
sl_config "[control]" "user = $DAEMON" "telemetry-group = $TEL_GROUP" >"$SL_TMP/sluice.conf"
sl_start || { sl_fail "sluice starts (control.user, control.telemetry-group)"; sl_finish; }
sl_check "run 2: the log says what remains" \
  grep -q "^sluice: privileges: .* run as $DAEMON (uid $daemon_uid), group $DAEMON (gid $daemon_gid), no supplementary groups, with no capabilities" "$SL_TMP/sluice.log"
check_threads "run 2" "$daemon_uid" "$daemon_gid"
sl_expect "run 2: no supplementary groups in any thread" "$(status_all "$SL_SLUICE_PID" Groups | sort -u | tr '\n' '|')" == "|"
sl_expect "run 2: the runtime directory: 0710, the daemon user's and G's" \
  "$(stat -c '%a %U %G' "$DPDK_RUN/$SL_PREFIX")" == "710 $DAEMON $TEL_GROUP"
sl_expect "run 2: the socket: 0660, the daemon user's and G's" \
  "$(stat -c '%a %U %G' "$DPDK_RUN/$SL_PREFIX/dpdk_telemetry.v2")" == "660 $DAEMON $TEL_GROUP"
out=$(ctl_as "$MEMBER" stats 2>&1)
sl_expect "run 2: the user in G runs sluicectl stats: exit 0" "$?" -eq 0
sl_check "run 2: ... and gets the stats" grep -qi 'rx' <<<"$out"
out=$(ctl_as "$OUTSIDER" stats 2>&1)
sl_expect "run 2: the user not in G cannot: exit 4" "$?" -eq 4
sl_check "run 2: ... told permission denied" grep -q 'Permission denied' <<<"$out"
sl_check "run 2: traffic passes (a UDP exchange through the NAT)" sl_cli timeout 5 "$SL_PY" \
  "$SL_LIB/udp.py" probe --bind "$SL_CLI_IP:5002" --dst "$SL_SRV_IP:7001"
sl_check "run 2: sluice answers ping" sl_cli ping -c 1 -W 2 "$SL_IN_IP"
sl_stop TERM 10
sl_expect "run 2: SIGTERM: exit status" "$SL_EXIT" -eq 0
sl_check "run 2: the telemetry socket is removed" test ! -e "$DPDK_RUN/$SL_PREFIX/dpdk_telemetry.v2"
sl_finish
