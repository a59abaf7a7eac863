# shellcheck shell=bash
# Shared helpers for the integration tests and the demo: a namespace topology
# with names unique to this run, sluice started and stopped inside it, its
# telemetry read, PASS/FAIL checks, and a cleanup that runs on any exit.
#
#   source "$(dirname "$0")/../../scripts/lib/sluice.sh"
#   sl_init                   # unique names, temp dir, cleanup trap
#   sl_topology               # client ns -- sluice ns -- server ns
#   sl_config > "$SL_TMP/sluice.conf"; sl_start
#   sl_check "ping works" sl_cli ping -c1 -W1 192.0.2.2
#   sl_finish                 # exit 0 when every check passed
#
# Topology (SL_CLIENTS=1, the default):
#
#   ns $SL_NS_CLI            ns $SL_NS_SLU (no IP, no IPv6)        ns $SL_NS_SRV
#   $SL_IF_CLI 10.16.1.2/24 ==== $SL_IF_IN  [sluice]  $SL_IF_OUT ==== $SL_IF_SRV 192.0.2.2/24
#   default via 10.16.1.1        10.16.1.1 /  192.0.2.1             10.16.0.0/12 via 192.0.2.1
#
# With SL_CLIENTS=N (N > 1) the inside is a bridge in its own namespace
# $SL_NS_SW, and the clients are namespaces ${SL_NS_CLIS[i]} with addresses
# 10.16.1.(2+i). SL_VLAN=ID sets inside.vlan in sl_config (the clients stay
# untagged: this kernel may lack 802.1Q; tests speak VLAN with scapy).
#
# More addresses: SL_CLI_EXTRA=K gives client namespace i K more addresses,
# 10.16.1.(64 + i*K + j) for j < K (sl_client_ips I lists all of client I's,
# its primary first; SL_CLI_ALL_IPS every client address). SL_SRV_EXTRA=K
# gives the server 192.0.2.(3 + j) for j < K (SL_SRV_IPS: all of them).
#
# NAT: SL_NAT=1 makes sl_config write `dataplane.pipeline = cgnat` with
# `nat.pool = $SL_POOL` (198.51.100.0/26), and sl_topology route only the pool
# on the server (no route to 10.16.0.0/12: an untranslated packet cannot come
# back). Unset, everything is as without NAT.
#
# Every process started through sl_bg or sl_start is killed on exit, every
# namespace created is deleted (after killing what still runs in it), and the
# DPDK runtime directory of this run's prefix is removed. On a failing exit the
# end of sluice's output is shown (SL_QUIET_LOG=1: not); SL_KEEP=1 keeps the
# run's temporary directory (configuration, logs, captures).
#
# Environment: SLUICE (binary, default build/control/sluice), SL_CLIENTS,
# SL_CLI_EXTRA, SL_SRV_EXTRA, SL_NAT, SL_POOL, SL_VLAN, SL_PREFIX_BASE
# (eal.prefix before the run id, default sluice-t).

SL_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SL_ROOT=$(cd "$SL_LIB/../.." && pwd)
SL_PY=/usr/bin/python3
SLUICE=${SLUICE:-$SL_ROOT/build/control/sluice}
CTL=${SLUICECTL:-$SL_ROOT/build/control/sluicectl}

SL_CLI_IP=10.16.1.2
SL_IN_IP=10.16.1.1
SL_OUT_IP=192.0.2.1
SL_SRV_IP=192.0.2.2
SL_CLIENT_PREFIX=10.16.0.0/12
SL_POOL=${SL_POOL:-198.51.100.0/26}

SL_FAILS=0
SL_PASSES=0
SL_PIDS=()
SL_NAMESPACES=()
SL_LINKS=()
SL_SLUICE_PID=
SL_EXIT=

sl_log() { printf '%s\n' "$*"; }
sl_err() { printf '%s\n' "$*" >&2; }

# --- lifecycle of a run --------------------------------------------------------

sl_init() {
  if [ "$(id -u)" -ne 0 ]; then
    sl_err "$(basename "$0"): must run as root (network namespaces)"
    exit 2
  fi
  SL_ID=${SL_ID:-$$}
  SL_TAG=sl$SL_ID
  SL_PREFIX=${SL_PREFIX_BASE:-sluice-t}$SL_ID
  SL_TMP=$(mktemp -d "/tmp/sluice-test.$SL_ID.XXXXXX")
  SL_NS_CLI=$SL_TAG-cli
  SL_NS_SLU=$SL_TAG-slu
  SL_NS_SRV=$SL_TAG-srv
  SL_NS_SW=$SL_TAG-sw
  # Interface names are created in the root namespace first: unique, <= 15 chars.
  SL_IF_CLI=${SL_TAG}c
  SL_IF_IN=${SL_TAG}i
  SL_IF_OUT=${SL_TAG}o
  SL_IF_SRV=${SL_TAG}s
  trap sl_cleanup EXIT
  trap 'sl_err "interrupted"; exit 130' INT
  trap 'sl_err "terminated"; exit 143' TERM
  trap 'sl_err "hangup"; exit 129' HUP
}

# Kills one process we started: TERM, then KILL after a second.
sl_kill_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 20); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

sl_cleanup() {
  local rc=$? pid ns
  trap - EXIT INT TERM HUP
  set +e
  if [ -n "$SL_SLUICE_PID" ] && kill -0 "$SL_SLUICE_PID" 2>/dev/null; then
    kill -TERM "$SL_SLUICE_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SL_SLUICE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SL_SLUICE_PID" 2>/dev/null
    wait "$SL_SLUICE_PID" 2>/dev/null
  fi
  for pid in "${SL_PIDS[@]}"; do sl_kill_pid "$pid"; done
  # Anything else still running in our namespaces was started by this run.
  for ns in "${SL_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in "${SL_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # Links still in the root namespace if setup stopped half way.
  for l in "${SL_LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
  [ -n "${SL_PREFIX:-}" ] && rm -rf "/var/run/dpdk/$SL_PREFIX" "/var/run/dpdk/$SL_PREFIX-peer"
  if [ -n "${SL_TMP:-}" ] && [ -d "$SL_TMP" ]; then
    if [ "$rc" -ne 0 ] && [ -f "$SL_TMP/sluice.log" ] && [ -z "${SL_QUIET_LOG:-}" ]; then
      sl_err "--- sluice output (last 30 lines) ---"
      tail -n 30 "$SL_TMP/sluice.log" >&2
      sl_err "---"
    fi
    if [ -n "${SL_KEEP:-}" ]; then sl_err "kept $SL_TMP"; else rm -rf "$SL_TMP"; fi
  fi
  exit "$rc"
}

# --- checks --------------------------------------------------------------------

sl_pass() { SL_PASSES=$((SL_PASSES + 1)); printf 'PASS: %s\n' "$1"; }
sl_fail() { SL_FAILS=$((SL_FAILS + 1)); printf 'FAIL: %s\n' "$1"; [ -n "${2:-}" ] && printf '      %s\n' "$2"; return 0; }

# sl_known DESCRIPTION COMMAND...: a known product limitation, reported but not
# failed: KNOWN while the command fails, PASS once it succeeds.
sl_known() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then sl_pass "$what (known limitation fixed?)"; else printf 'KNOWN: %s\n' "$what"; fi
}

# sl_check DESCRIPTION COMMAND...: PASS when the command exits 0.
sl_check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then sl_pass "$what"; else sl_fail "$what" "$(printf '%s' "$out" | tail -n 5)"; fi
}

# sl_expect DESCRIPTION ACTUAL OP EXPECTED (OP: -eq -ne -lt -le -gt -ge, == !=)
sl_expect() {
  local what=$1 actual=$2 op=$3 expected=$4 ok=1
  case "$op" in
    ==) [ "$actual" == "$expected" ] || ok=0 ;;
    !=) [ "$actual" != "$expected" ] || ok=0 ;;
    *) [[ "$actual" =~ ^-?[0-9]+$ ]] && [ "$actual" "$op" "$expected" ] || ok=0 ;;
  esac
  if [ "$ok" = 1 ]; then sl_pass "$what ($actual $op $expected)"; else sl_fail "$what" "got '$actual', expected $op '$expected'"; fi
}

# sl_finish: summary line; exit 0 only when something passed and nothing failed.
sl_finish() {
  local name
  name=$(basename "$0")
  if [ "$SL_FAILS" -eq 0 ] && [ "$SL_PASSES" -gt 0 ]; then
    printf '== %s: PASS (%d checks)\n' "$name" "$SL_PASSES"
    exit 0
  fi
  printf '== %s: FAIL (%d failed, %d passed)\n' "$name" "$SL_FAILS" "$SL_PASSES"
  exit 1
}

# sl_require_binary: the sluice and sluicectl ($CTL) binaries must exist
# (the tests never build).
sl_require_binary() {
  if [ ! -x "$SLUICE" ]; then
    sl_err "$SLUICE not found: run scripts/build first (or set SLUICE=...)"
    exit 2
  fi
  if [ ! -x "$CTL" ]; then
    sl_err "$CTL not found: run scripts/build first (or set SLUICECTL=...)"
    exit 2
  fi
}

# --- namespaces ----------------------------------------------------------------

sl_ns_new() {
  ip netns add "$1" || return 1
  SL_NAMESPACES+=("$1")
  ip -n "$1" link set lo up
  # No IPv6: no router solicitations or MLD reports in the way of exact counts.
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# sl_veth A NS_A B NS_B: a veth pair, each end moved into its namespace, offloads off.
sl_veth() {
  local a=$1 nsa=$2 b=$3 nsb=$4
  ip link add "$a" type veth peer name "$b" || return 1
  SL_LINKS+=("$a")
  ip link set "$a" netns "$nsa" && ip link set "$b" netns "$nsb" || return 1
  ip netns exec "$nsa" sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1"
  ip netns exec "$nsb" sysctl -qw "net.ipv6.conf.$b.disable_ipv6=1"
  # Without this af_packet sees partial checksums it cannot fix.
  ip netns exec "$nsa" ethtool -K "$a" tx off rx off >/dev/null 2>&1
  ip netns exec "$nsb" ethtool -K "$b" tx off rx off >/dev/null 2>&1
  ip -n "$nsa" link set "$a" up && ip -n "$nsb" link set "$b" up
}

# sl_topology: builds the namespaces described at the top (SL_CLIENTS).
sl_topology() {
  local n=${SL_CLIENTS:-1} i ns ifc
  sl_ns_new "$SL_NS_SLU" || return 1
  sl_ns_new "$SL_NS_SRV" || return 1
  SL_NS_CLIS=()
  SL_CLI_IPS=()
  if [ "$n" -le 1 ]; then
    sl_ns_new "$SL_NS_CLI" || return 1
    sl_veth "$SL_IF_CLI" "$SL_NS_CLI" "$SL_IF_IN" "$SL_NS_SLU" || return 1
    SL_NS_CLIS=("$SL_NS_CLI")
    SL_IF_CLIS=("$SL_IF_CLI")
  else
    # A switch: a bridge in its own namespace, one port to sluice, one per client.
    sl_ns_new "$SL_NS_SW" || return 1
    ip -n "$SL_NS_SW" link add br0 type bridge forward_delay 0 stp_state 0 || return 1
    ip netns exec "$SL_NS_SW" sysctl -qw net.ipv6.conf.br0.disable_ipv6=1
    ip -n "$SL_NS_SW" link set br0 up
    sl_veth "${SL_TAG}b" "$SL_NS_SW" "$SL_IF_IN" "$SL_NS_SLU" || return 1
    ip -n "$SL_NS_SW" link set "${SL_TAG}b" master br0
    SL_IF_CLIS=()
    for i in $(seq 0 $((n - 1))); do
      ns=$SL_TAG-cli$i
      ifc=${SL_TAG}c$i
      sl_ns_new "$ns" || return 1
      sl_veth "$ifc" "$ns" "${SL_TAG}p$i" "$SL_NS_SW" || return 1
      ip -n "$SL_NS_SW" link set "${SL_TAG}p$i" master br0
      SL_NS_CLIS+=("$ns")
      SL_IF_CLIS+=("$ifc")
    done
    SL_NS_CLI=${SL_NS_CLIS[0]}
    SL_IF_CLI=${SL_IF_CLIS[0]}
  fi
  local extra=${SL_CLI_EXTRA:-0} j a
  if [ $((64 + n * extra)) -gt 255 ]; then
    sl_err "sl_topology: SL_CLIENTS=$n x SL_CLI_EXTRA=$extra addresses do not fit 10.16.1.64-254"
    return 1
  fi
  SL_CLI_ALL_IPS=()
  for i in "${!SL_NS_CLIS[@]}"; do
    ns=${SL_NS_CLIS[$i]}
    SL_CLI_IPS+=("10.16.1.$((2 + i))")
    SL_CLI_ALL_IPS+=("10.16.1.$((2 + i))")
    ip -n "$ns" addr add "10.16.1.$((2 + i))/24" dev "${SL_IF_CLIS[$i]}"
    for j in $(seq 0 $((extra - 1))); do
      a=10.16.1.$((64 + i * extra + j))
      ip -n "$ns" addr add "$a/24" dev "${SL_IF_CLIS[$i]}" || return 1
      SL_CLI_ALL_IPS+=("$a")
    done
    ip -n "$ns" route add default via "$SL_IN_IP"
  done
  sl_veth "$SL_IF_OUT" "$SL_NS_SLU" "$SL_IF_SRV" "$SL_NS_SRV" || return 1
  ip -n "$SL_NS_SRV" addr add "$SL_SRV_IP/24" dev "$SL_IF_SRV"
  SL_SRV_IPS=("$SL_SRV_IP")
  for j in $(seq 0 $((${SL_SRV_EXTRA:-0} - 1))); do
    ip -n "$SL_NS_SRV" addr add "192.0.2.$((3 + j))/24" dev "$SL_IF_SRV" || return 1
    SL_SRV_IPS+=("192.0.2.$((3 + j))")
  done
  if [ -n "${SL_NAT:-}" ]; then
    # Only the public pool comes back through sluice.
    ip -n "$SL_NS_SRV" route add "$SL_POOL" via "$SL_OUT_IP"
  else
    ip -n "$SL_NS_SRV" route add "$SL_CLIENT_PREFIX" via "$SL_OUT_IP"
  fi
  SL_LINKS=()  # all moved into namespaces: deleted with them
}

# sl_client_ips I: the addresses of client namespace I, its primary first.
sl_client_ips() {
  local i=$1 j extra=${SL_CLI_EXTRA:-0}
  echo "10.16.1.$((2 + i))"
  for j in $(seq 0 $((extra - 1))); do echo "10.16.1.$((64 + i * extra + j))"; done
}

# Run a command in a namespace.
sl_cli() { ip netns exec "$SL_NS_CLI" "$@"; }
sl_srv() { ip netns exec "$SL_NS_SRV" "$@"; }
sl_slu() { ip netns exec "$SL_NS_SLU" "$@"; }

# sl_bg NS LOGFILE COMMAND...: starts COMMAND in NS in the background; the pid
# (the command's own: ip netns exec execs it) is in SL_BG_PID, killed on exit.
sl_bg() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  SL_BG_PID=$!
  SL_PIDS+=("$SL_BG_PID")
}

# sl_wait_listen NS tcp|udp PORT [SECONDS]: waits until something listens on PORT in NS.
sl_wait_listen() {
  local ns=$1 proto=$2 port=$3 secs=${4:-5} i
  for i in $(seq $((secs * 20))); do
    ip netns exec "$ns" ss -Hln"${proto:0:1}" "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

# --- sluice --------------------------------------------------------------------

# sl_inside_client: the client namespace's veth to sluice's inside, with the
# client's address and its default route via sluice, for tests that build
# an outside of their own.
sl_inside_client() {
  sl_veth "$SL_IF_CLI" "$SL_NS_CLI" "$SL_IF_IN" "$SL_NS_SLU" || return 1
  ip -n "$SL_NS_CLI" addr add "$SL_CLI_IP/24" dev "$SL_IF_CLI" &&
    ip -n "$SL_NS_CLI" route add default via "$SL_IN_IP"
}

# sl_config_inside: the [eal] and [inside] sections of sl_config, for tests
# that write an outside of their own (aggregates of other ports).
sl_config_inside() {
  cat <<EOF
# sluice configuration for test run $SL_ID
[eal]
prefix = $SL_PREFIX
memory-mb = 512

[inside]
address = $SL_IN_IP/24
port = net_af_packet0,iface=$SL_IF_IN
clients = $SL_CLIENT_PREFIX
EOF
  [ -n "${SL_VLAN:-}" ] && echo "vlan = $SL_VLAN"
  return 0
}

# sl_config [EXTRA_INI_LINES]: a configuration for the topology on stdout.
# The extra lines come last: with SL_NAT they are in the [nat] section unless
# they open another one (e.g. '[dataplane]' 'workers = 2').
sl_config() {
  sl_config_inside
  cat <<EOF

[outside]
address = $SL_OUT_IP/24
port = net_af_packet1,iface=$SL_IF_OUT
EOF
  if [ -n "${SL_NAT:-}" ]; then
    cat <<EOF

[dataplane]
pipeline = cgnat

[nat]
pool = $SL_POOL
EOF
  fi
  [ $# -gt 0 ] && printf '%s\n' "$@"
  return 0
}

# sl_start [ARGS...]: starts sluice in the sluice namespace with $SL_CONF (default
# $SL_TMP/sluice.conf, written by sl_config if missing) and waits until it
# says it is running and its telemetry answers. Output: $SL_TMP/sluice.log.
# The usual opening of a test: names and cleanup, the binary, the topology
# and sluice started with any extra options given; fails the test otherwise.
sl_up() {
  sl_init
  sl_require_binary
  sl_topology || { sl_fail "topology"; sl_finish; }
  sl_start "$@" || { sl_fail "sluice starts"; sl_finish; }
}

sl_start() {
  local i
  SL_CONF=${SL_CONF:-$SL_TMP/sluice.conf}
  [ -f "$SL_CONF" ] || sl_config >"$SL_CONF"
  SL_EXIT=
  : >"$SL_TMP/sluice.log"
  ip netns exec "$SL_NS_SLU" "$SLUICE" -c "$SL_CONF" "$@" >>"$SL_TMP/sluice.log" 2>&1 &
  SL_SLUICE_PID=$!
  for i in $(seq 300); do
    if ! kill -0 "$SL_SLUICE_PID" 2>/dev/null; then
      wait "$SL_SLUICE_PID"
      SL_EXIT=$?
      sl_err "sluice exited ($SL_EXIT) while starting:"
      cat "$SL_TMP/sluice.log" >&2
      SL_SLUICE_PID=
      return 1
    fi
    if grep -q '^sluice: running' "$SL_TMP/sluice.log" &&
       sl_tel /sluice/stats >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  sl_err "sluice did not come up within 15 s:"
  cat "$SL_TMP/sluice.log" >&2
  return 1
}

# sl_stop [SIGNAL] [SECONDS]: signals sluice, waits for it; SL_EXIT is its exit
# status (124 when it had to be killed), SL_STOP_MS how long it took (ms).
sl_stop() {
  local sig=${1:-TERM} secs=${2:-10} i t0
  [ -n "$SL_SLUICE_PID" ] || { SL_EXIT=255; return 1; }
  t0=$(date +%s%N)
  kill "-$sig" "$SL_SLUICE_PID" 2>/dev/null
  for i in $(seq $((secs * 20))); do
    kill -0 "$SL_SLUICE_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SL_SLUICE_PID" 2>/dev/null; then
    kill -KILL "$SL_SLUICE_PID" 2>/dev/null
    wait "$SL_SLUICE_PID" 2>/dev/null
    SL_EXIT=124
  else
    wait "$SL_SLUICE_PID"
    SL_EXIT=$?
  fi
  SL_STOP_MS=$((($(date +%s%N) - t0) / 1000000))
  SL_SLUICE_PID=
  return 0
}

# sl_tel CMD... / sl_tel_get CMD KEY...: live telemetry of this run's sluice.
sl_tel() { "$SL_PY" "$SL_LIB/telemetry.py" -p "$SL_PREFIX" "$@"; }
sl_tel_get() {
  local cmd=$1
  shift
  "$SL_PY" "$SL_LIB/telemetry.py" -p "$SL_PREFIX" "$cmd" --get "$@"
}

# sl_drop REASON: one drop counter (summed over workers).
sl_drop() { sl_tel_get /sluice/drops "$1"; }
sl_stat() { sl_tel_get /sluice/stats "$1"; }
# sl_nat KEY: a NAT counter of /sluice/nat (sessions, sessions_created, ...).
sl_nat() { sl_tel_get /sluice/nat "$1"; }

# sl_wait_value CMD KEY TARGET [SECONDS]: polls until the counter reaches
# TARGET (or time runs out), then waits 0.3 s more for stragglers; prints the
# final value.
sl_wait_value() {
  local cmd=$1 key=$2 target=$3 secs=${4:-3} i v
  for i in $(seq $((secs * 20))); do
    v=$(sl_tel_get "$cmd" "$key" 2>/dev/null) || v=-1
    [ "$v" -ge "$target" ] 2>/dev/null && break
    sleep 0.05
  done
  sleep 0.3
  sl_tel_get "$cmd" "$key" 2>/dev/null || echo -1
}

# sl_udp_probe PORT: a datagram from the client's PORT to a udp.py --tell
# server the test runs on $SL_SRV_IP:7001 is answered (3 tries: a busy
# host may lose one).
sl_udp_probe() {
  local i
  for i in 1 2 3; do
    sl_cli timeout 5 "$SL_PY" "$SL_LIB/udp.py" probe --bind "$SL_CLI_IP:$1" \
      --dst "$SL_SRV_IP:7001" --timeout 1 >/dev/null 2>&1 && return 0
  done
  return 1
}

# sl_worker_loops: each worker's loop turns so far (busy_polls + idle_polls
# of /sluice/worker,K), "N0 N1 ...": a worker that stalls stops moving it.
sl_worker_loops() {
  local k b i out="" w
  w=$(sl_stat workers 2>/dev/null) || w=0
  for k in $(seq 0 $((w - 1))); do
    read -r b i < <(sl_tel_get "/sluice/worker,$k" busy_polls idle_polls 2>/dev/null | paste -sd' ')
    out+="$((${b:-0} + ${i:-0})) "
  done
  echo "${out% }"
}

# sl_expect_loops WHAT BEFORE: every worker's loop turned more than 1000
# times since BEFORE (an earlier sl_worker_loops).
sl_expect_loops() {
  local what=$1 k
  local -a a b
  read -ra a <<<"$2"
  read -ra b <<<"$(sl_worker_loops)"
  for k in "${!b[@]}"; do
    sl_expect "$what: worker $k's loop kept turning" $((b[k] - ${a[k]:-0})) -gt 1000
  done
}

# sl_mbufs_back BASE [SECONDS]: waits until /sluice/stats mbufs_in_use is
# at most BASE (5 s by default); prints the last value.
sl_mbufs_back() {
  local base=$1 secs=${2:-5} i v=-1
  for i in $(seq $((secs * 10))); do
    v=$(sl_stat mbufs_in_use 2>/dev/null) || v=-1
    [ "$v" -ge 0 ] && [ "$v" -le "$base" ] && break
    sleep 0.1
  done
  echo "$v"
}

# sl_mac NS DEV: the MAC address of an interface.
sl_mac() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# sl_summary_value FIELD: a number from the exit summary line
# "sluice: workers rx N tx N forwarded N punted N icmp-errors N".
sl_summary_value() {
  grep '^sluice: workers' "$SL_TMP/sluice.log" | tail -n1 |
    awk -v f="$1" '{ for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }'
}
# sl_summary_drop REASON: a drop count from the exit summary (0 when absent).
sl_summary_drop() {
  local v
  v=$(awk -v r="$1" '$1 == "sluice:" && $2 == "drop" && $3 == r { print $4 }' "$SL_TMP/sluice.log" | tail -n1)
  echo "${v:-0}"
}

# --- packet capture --------------------------------------------------------------

# sl_capture_start NS DEV FILTER...: tcpdump into $SL_TMP/cap.N.pcap (bounded:
# 100000 packets, 60 s); waits until it listens. Sets SL_CAP_PID, SL_CAP_FILE.
SL_CAP_N=0
sl_capture_start() {
  local ns=$1 dev=$2 i
  shift 2
  SL_CAP_N=$((SL_CAP_N + 1))
  SL_CAP_FILE=$SL_TMP/cap.$SL_CAP_N.pcap
  sl_bg "$ns" "$SL_TMP/cap.$SL_CAP_N.log" timeout 60 tcpdump -i "$dev" -n -U --immediate-mode -c 100000 -w "$SL_CAP_FILE" "$@"
  SL_CAP_PID=$SL_BG_PID
  for i in $(seq 100); do
    grep -q 'listening on' "$SL_TMP/cap.$SL_CAP_N.log" 2>/dev/null && return 0
    kill -0 "$SL_CAP_PID" 2>/dev/null || break
    sleep 0.05
  done
  sl_err "tcpdump did not start:"
  cat "$SL_TMP/cap.$SL_CAP_N.log" >&2
  return 1
}

# sl_capture_stop: stops the last capture, after 0.3 s for stragglers and
# once its file has stopped growing (a busy host can leave tcpdump behind what
# the kernel captured; SIGINT would lose what it has not read yet), 3 s at most.
sl_capture_stop() {
  local i last=-1 size same=0
  sleep 0.3
  for i in $(seq 30); do
    size=$(stat -c %s "$SL_CAP_FILE" 2>/dev/null || echo 0)
    if [ "$size" = "$last" ]; then
      same=$((same + 1))
      [ "$same" -ge 2 ] && break
    else
      same=0
    fi
    last=$size
    sleep 0.1
  done
  kill -INT "$SL_CAP_PID" 2>/dev/null
  wait "$SL_CAP_PID" 2>/dev/null
  return 0
}

# sl_capture_count [FILE] [FILTER...]: packets in a capture file (matching FILTER).
sl_capture_count() {
  local f=${1:-$SL_CAP_FILE}
  shift || true
  tcpdump -r "$f" -n "$@" 2>/dev/null | wc -l
}

# sl_capture_text [FILE] [FILTER...]: the capture decoded verbosely.
sl_capture_text() {
  local f=${1:-$SL_CAP_FILE}
  shift || true
  tcpdump -r "$f" -n -v "$@" 2>/dev/null
}

# --- an LACP partner: DPDK's bonding driver in dpdk-testpmd ---------------------

# sl_shape_slow NS DEV: on a partner's veth, slow protocols frames (LACP) get
# their own class and everything else 2 Mbit/s, so a flowgen partner cannot
# flood the host or starve its own LACPDUs (af_packet with qdisc_bypass=0).
sl_shape_slow() {
  local ns=$1 dev=$2
  ip netns exec "$ns" tc qdisc replace dev "$dev" root handle 1: htb default 20 &&
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:10 htb rate 10mbit &&
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:20 htb rate 2mbit &&
    ip netns exec "$ns" tc filter add dev "$dev" parent 1: protocol 0x8809 prio 1 u32 match u32 0 0 classid 1:10
}

# sl_testpmd_bond NS MAC PEER_MAC DEV...: dpdk-testpmd in NS with an
# 802.3ad bond (net_bonding, mode 4, layer3+4, MAC) over af_packet ports on
# DEVs, forwarding flowgen to PEER_MAC on the bond only (port N = count of
# DEVs). Commands go in with sl_testpmd_cmd; its output is $SL_TMP/testpmd.log.
sl_testpmd_bond() {
  local ns=$1 mac=$2 peer=$3 i=0 slaves="" vdevs=()
  shift 3
  for dev in "$@"; do
    vdevs+=(--vdev "net_af_packet$i,iface=$dev,qdisc_bypass=0")
    slaves="$slaves,slave=net_af_packet$i"
    i=$((i + 1))
  done
  SL_TESTPMD_BOND=$i
  : >"$SL_TMP/testpmd.cmd"
  sl_bg "$ns" "$SL_TMP/testpmd.log" bash -c "exec timeout 120 tail -n +1 -f '$SL_TMP/testpmd.cmd' |
    exec timeout 120 stdbuf -oL dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 \
      --file-prefix ${SL_PREFIX}-peer --log-level=error ${vdevs[*]} \
      --vdev 'net_bonding0,mode=4$slaves,xmit_policy=l34,mac=$mac' -- -i \
      --portmask=$((1 << i)) --total-num-mbufs=8192 --forward-mode=flowgen \
      --flowgen-flows=16 --txpkts=1000 --eth-peer=$i,$peer"
}

# sl_testpmd_cmd COMMAND [PATTERN [SECONDS]]: sends one command; with PATTERN,
# waits until the output after it matches (grep -E) and prints that output.
sl_testpmd_cmd() {
  local cmd=$1 pattern=${2:-} secs=${3:-5} before i
  before=$(wc -l <"$SL_TMP/testpmd.log")
  printf '%s\n' "$cmd" >>"$SL_TMP/testpmd.cmd"
  [ -n "$pattern" ] || return 0
  for i in $(seq $((secs * 20))); do
    if tail -n +$((before + 1)) "$SL_TMP/testpmd.log" | grep -qE "$pattern"; then
      sleep 0.5  # the rest of the answer
      tail -n +$((before + 1)) "$SL_TMP/testpmd.log"
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# sl_ms: milliseconds since the epoch.
sl_ms() { echo $(($(date +%s%N) / 1000000)); }

# sl_wait_tel CMD KEY OP VALUE SECONDS: polls a telemetry value every 20 ms
# until "value OP VALUE" holds; prints the ms it took, or "timeout" (and
# fails) after SECONDS.
sl_wait_tel() {
  local cmd=$1 key=$2 op=$3 want=$4 secs=$5 t0 v
  t0=$(sl_ms)
  while [ $(($(sl_ms) - t0)) -lt $((secs * 1000)) ]; do
    v=$(sl_tel_get "$cmd" "$key" 2>/dev/null) || v=
    if [ -n "$v" ] && [ "$v" "$op" "$want" ] 2>/dev/null; then
      echo $(($(sl_ms) - t0))
      return 0
    fi
    sleep 0.02
  done
  echo timeout
  return 1
}
