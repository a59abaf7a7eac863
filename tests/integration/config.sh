#!/usr/bin/env bash
# Configuration handling, from the operator's side:
#  - `sluice --check-config` exits 0 on a good file (and on good variants),
#    2 on each bad one, and the message names the offending key;
#  - `sluice -c bad.conf` exits 2 at once, before DPDK starts: no runtime
#    directory, not a single frame on the port it names (while the same file
#    made good does put frames on it: its gratuitous ARP);
#  - a port that does not exist: exit 1 with a message naming it, no hang;
#  - `sluice --help` lists every option declared in control/config.cc, and
#    the invocation options; --version prints the version.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/sluice.sh"
sl_init
sl_require_binary

good() {
  cat <<EOF
[eal]
prefix = $SL_PREFIX
memory-mb = 256

[inside]
address = 10.16.1.1/24
port = net_af_packet0,iface=${SL_TAG}a
clients = 10.16.0.0/12

[outside]
address = 192.0.2.1/24
port = net_af_packet1,iface=${SL_TAG}b
EOF
}
good >"$SL_TMP/good.conf"

# case NAME EXPECTED_EXIT NEEDLE SED_SCRIPT_OR_-  [APPEND_TEXT] [EXTRA_ARGS...]
#   the good file edited by SED_SCRIPT (- for none) with APPEND_TEXT appended,
#   checked with --check-config; stdout+stderr must contain NEEDLE.
n=0
case_() {
  local name=$1 want=$2 needle=$3 script=$4 append=${5:-}
  shift 5 2>/dev/null || shift $#
  n=$((n + 1))
  local f=$SL_TMP/case$n.conf out rc
  if [ "$script" = - ]; then good >"$f"; else good | sed -e "$script" >"$f"; fi
  [ -n "$append" ] && printf '%s\n' "$append" >>"$f"
  out=$(timeout --foreground 10 "$SLUICE" --check-config "$f" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$want" ] && grep -qF -- "$needle" <<<"$out"; then
    sl_pass "check-config $name: exit $rc, says '$needle'"
  else
    sl_fail "check-config $name: want exit $want and '$needle'" "exit $rc: $out"
  fi
}

case_ "good file" 0 "configuration is valid" -
case_ "good file warns that there are no routes" 0 "warning: routes.static" -
case_ "good file with a static route" 0 "configuration is valid" - "[routes]
static = 0.0.0.0/0 via 192.0.2.2"
case_ "good file with every section" 0 "configuration is valid" - "[dataplane]
workers = 1
ip-options = forward
punt-ring = 512
[arp]
retries = 5
[control]
echo-rate = 10"
case_ "unknown key in [inside]" 2 "inside.bogus" '/^clients/a bogus = 1'
case_ "unknown section" 2 "bogus.key" - "[bogus]
key = 1"
case_ "bad inside address" 2 "inside.address = '10.16.1.300/24'" 's#^address = 10.16.1.1/24#address = 10.16.1.300/24#'
case_ "address without a prefix length" 2 "inside.address" 's#^address = 10.16.1.1/24#address = 10.16.1.1#'
case_ "address prefix too short (/8)" 2 "inside.address" 's#^address = 10.16.1.1/24#address = 10.16.1.1/8#'
case_ "address is the subnet's network address" 2 "inside.address" 's#^address = 10.16.1.1/24#address = 10.16.1.0/24#'
case_ "missing inside.address" 2 "inside.address" '/^address = 10.16.1.1/d'
case_ "missing inside.clients" 2 "inside.clients" '/^clients/d'
case_ "clients with host bits" 2 "inside.clients" 's#^clients = .*#clients = 10.16.1.0/12#'
case_ "bad port (an interface name)" 2 "inside.port = 'eth0'" 's#^port = net_af_packet0.*#port = eth0#'
case_ "missing outside.port" 2 "outside.port" '/^port = net_af_packet1/d'
case_ "one device used on both sides" 2 "device used twice" 's#net_af_packet1#net_af_packet0#'
case_ "inside and outside subnets overlap" 2 "outside.address" 's#^address = 192.0.2.1/24#address = 10.16.1.200/24#'
case_ "key given twice" 2 "inside.address" '/^address = 10.16.1.1/a address = 10.16.2.1/24'
case_ "workers not a number" 2 "dataplane.workers" - "[dataplane]
workers = two"
case_ "workers 0" 2 "dataplane.workers" - "[dataplane]
workers = 0"
case_ "punt ring not a power of 2" 2 "dataplane.punt-ring" - "[dataplane]
punt-ring = 1000"
case_ "ip-options neither drop nor forward" 2 "dataplane.ip-options" - "[dataplane]
ip-options = maybe"
case_ "route gateway off both subnets" 2 "routes.static" - "[routes]
static = 0.0.0.0/0 via 203.0.113.1"
case_ "route without via" 2 "routes.static" - "[routes]
static = 0.0.0.0/0 192.0.2.2"
case_ "neighbour with a bad MAC" 2 "inside.neighbour" '/^clients/a neighbour = 10.16.1.2 02:00:zz:00:00:01'
case_ "vlan 4095" 2 "inside.vlan" '/^clients/a vlan = 4095'
case_ "mtu 10000" 2 "outside.mtu" - "mtu = 10000"
case_ "eal.prefix with a slash" 2 "eal.prefix" "s#^prefix = .*#prefix = a/b#"
case_ "eal.cores list of the wrong length" 2 "eal.cores" '/^memory-mb/a cores = 0'
case_ "hugepages neither auto, yes nor no" 2 "eal.hugepages" '/^memory-mb/a hugepages = maybe'
case_ "command line override is validated too" 2 "dataplane.workers" - "" --dataplane.workers=0
case_ "command line override wins over the file" 0 "configuration is valid" - "[dataplane]
workers = 0" --dataplane.workers=1
case_ "command line replaces a repeatable key of the file" 0 "configuration is valid" 's#^clients = .*#clients = 10.16.1.0/12#' "" --inside.clients=10.16.0.0/12

out=$("$SLUICE" --check-config "$SL_TMP/nonexistent.conf" 2>&1)
rc=$?
sl_expect "check-config on a missing file: exit status" "$rc" -eq 2
sl_check "... and the message names the file" grep -qF "nonexistent.conf" <<<"$out"
out=$("$SLUICE" --no-such-flag 2>&1)
rc=$?
sl_expect "unknown command-line flag: exit status" "$rc" -eq 2
sl_check "... and the message names the flag" grep -qF -- "--no-such-flag" <<<"$out"

# --- a bad file never touches the ports -------------------------------------------
sl_ns_new "$SL_NS_SLU"
sl_ns_new "$SL_NS_SRV"
sl_veth "${SL_TAG}a" "$SL_NS_SLU" "${SL_TAG}A" "$SL_NS_SRV"
sl_veth "${SL_TAG}b" "$SL_NS_SLU" "${SL_TAG}B" "$SL_NS_SRV"
SL_LINKS=()
frames_seen() { # frames the peer ends received
  echo $(($(sl_srv cat "/sys/class/net/${SL_TAG}A/statistics/rx_packets") + $(sl_srv cat "/sys/class/net/${SL_TAG}B/statistics/rx_packets")))
}
good | sed -e '/^clients/d' >"$SL_TMP/bad.conf"
before=$(frames_seen)
t0=$(date +%s%N)
out=$(sl_slu timeout --foreground 20 "$SLUICE" -c "$SL_TMP/bad.conf" 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
sl_expect "sluice -c bad.conf: exit status" "$rc" -eq 2
sl_check "... message 'configuration error: inside.clients'" grep -qF "configuration error: inside.clients" <<<"$out"
sl_expect "... exits at once (ms)" "$ms" -lt 2000
sl_check "... no DPDK runtime directory was created" test ! -e "/var/run/dpdk/$SL_PREFIX"
not_grep() { ! grep -q "$1" <<<"$2"; }
sl_check "... no EAL output (DPDK never started)" not_grep 'EAL\|TELEMETRY' "$out"
sleep 0.3
sl_expect "... no frame left either port" "$(($(frames_seen) - before))" -eq 0
sl_check "... the ports were not put in promiscuous mode" not_grep PROMISC "$(ip -n "$SL_NS_SLU" link show)"

# The same file made good does reach the wire: the check above can see frames.
good >"$SL_TMP/sluice.conf"
SL_CONF=$SL_TMP/sluice.conf
before=$(frames_seen)
if sl_start; then
  sleep 0.5
  sl_expect "control: the good file starts sluice, which announces itself (frames on the ports)" "$(($(frames_seen) - before))" -gt 0
  sl_stop TERM 10
  sl_expect "control: SIGTERM exit status" "$SL_EXIT" -eq 0
else
  sl_fail "control: the good file starts sluice"
fi

good | sed -e "s#iface=${SL_TAG}a#iface=${SL_TAG}zz#" >"$SL_TMP/noport.conf"
out=$(sl_slu timeout --foreground 20 "$SLUICE" -c "$SL_TMP/noport.conf" 2>&1)
rc=$?
sl_expect "a port whose interface does not exist: exit status" "$rc" -eq 1
sl_check "... and the message names the port" grep -qF "inside.port = 'net_af_packet0,iface=${SL_TAG}zz'" <<<"$out"

# --- --help and --version -------------------------------------------------------------
help=$("$SLUICE" --help 2>&1)
rc=$?
sl_expect "--help: exit status" "$rc" -eq 0
options=$(grep -o '^ *{"[a-z-]*\.[a-z-]*"' "$SL_ROOT/control/config.cc" | tr -d ' {"')
count=$(wc -w <<<"$options")
missing=$(for o in $options; do grep -qE -- "--$o( |$)" <<<"$help" || echo "$o"; done | tr '\n' ' ')
sl_expect "--help lists all $count options of control/config.cc; missing" "${missing:-none}" == none
sl_expect "... (sanity: config.cc declares options)" "$count" -ge 30
for o in "-h [ --help ]" "--version" "-c [ --config ]" "--check-config"; do
  sl_check "--help lists $o" grep -qF -- "$o" <<<"$help"
done
sl_check "-h is --help" sh -c "'$SLUICE' -h | grep -q 'check-config'"
sl_check "--version prints 'sluice <version>'" sh -c "'$SLUICE' --version | grep -qE '^sluice [0-9]+\.[0-9]+'"
sl_finish
