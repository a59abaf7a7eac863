#!/usr/bin/python3
"""Reads sluice's live counters from the DPDK telemetry socket.

The socket is /var/run/dpdk/PREFIX/dpdk_telemetry.v2 (SOCK_SEQPACKET). On
connect DPDK sends a JSON greeting with max_output_len; each command is sent
as text and answered with one JSON message {"<command>": <value>}, the same
protocol /usr/bin/dpdk-telemetry.py speaks.

Usage:
  telemetry.py -p PREFIX CMD [CMD ...]          one JSON value per line
  telemetry.py -p PREFIX CMD --get KEY [KEY..]  the values of KEYs (one per line)
  telemetry.py -p PREFIX --table                a readable table (stats, drops, NAT, ports)
  telemetry.py -p PREFIX --wait 10 ...          wait up to 10 s for the socket

Exit status: 0 on success, 1 when the socket cannot be reached or a command
fails (DPDK answers null for unknown commands or bad parameters), 2 on a key
that is not in the answer.
"""

import argparse
import json
import os
import socket
import sys
import time


def socket_path(prefix):
    run_dir = os.environ.get("RUNTIME_DIRECTORY")
    if not run_dir:
        run_dir = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(run_dir, "dpdk", prefix, "dpdk_telemetry.v2")


class Telemetry:
    def __init__(self, prefix, wait=0.0):
        path = socket_path(prefix)
        deadline = time.monotonic() + wait
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.settimeout(5)
            try:
                sock.connect(path)
                break
            except OSError as e:
                sock.close()
                if time.monotonic() >= deadline:
                    raise OSError(f"cannot connect to {path}: {e.strerror}") from None
                time.sleep(0.1)
        self.sock = sock
        greeting = json.loads(sock.recv(1024).decode())
        self.max_len = int(greeting.get("max_output_len", 16384))
        self.pid = greeting.get("pid")

    def query(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(self.max_len).decode())
        # The key of the answer is the command without its parameters.
        value = reply.get(cmd.split(",", 1)[0])
        if value is None:
            raise ValueError(f"{cmd}: no answer (unknown command or bad parameter): {reply}")
        return value

    def close(self):
        self.sock.close()


def fmt_num(n):
    return f"{n:,}".replace(",", " ")


def print_table(tel):
    stats = tel.query("/sluice/stats")
    drops = {k.replace("_", "-"): v for k, v in tel.query("/sluice/drops").items()}
    ports = tel.query("/ethdev/list")
    w = 26
    print(f"  {'dataplane (all workers)':<{w}} {'packets':>14}")
    for key, label in [("rx_packets", "received"), ("forwarded", "forwarded"),
                       ("tx_packets", "transmitted"), ("punted", "punted to control"),
                       ("dropped", "dropped"), ("icmp_errors_sent", "ICMP errors sent"),
                       ("icmp_errors_suppressed", "ICMP errors rate-limited")]:
        print(f"  {label:<{w}} {fmt_num(stats.get(key, 0)):>14}")
    busy, idle = stats.get("busy_cycles", 0), stats.get("idle_cycles", 0)
    if busy + idle:
        print(f"  {'worker busy share':<{w}} {100.0 * busy / (busy + idle):>13.1f}%")
    print()
    nonzero = {k: v for k, v in drops.items() if v}
    print(f"  {'drops by reason':<{w}} {'packets':>14}")
    if not nonzero and stats.get("dropped", 0):
        print(f"  {'(not listed by reason)':<{w}} {fmt_num(stats['dropped']):>14}")
    elif not nonzero:
        print(f"  {'(none)':<{w}}")
    for k, v in sorted(nonzero.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<{w}} {fmt_num(v):>14}")
    print()
    try:
        nat = tel.query("/sluice/nat")
    except ValueError:
        nat = {}  # a sluice without NAT telemetry
    if nat.get("session_capacity", 0):
        print(f"  {'NAT (all workers)':<{w}} {'count':>14}")
        for key, label in [("sessions", "sessions now"), ("session_capacity", "session capacity"),
                           ("sessions_created", "sessions created"),
                           ("sessions_deleted", "sessions expired"), ("mappings", "mappings now"),
                           ("clients", "clients now"), ("port_blocks", "port blocks held"),
                           ("port_blocks_allocated", "port blocks allocated"),
                           ("port_blocks_released", "port blocks released"),
                           ("hairpins", "hairpinned packets")]:
            print(f"  {label:<{w}} {fmt_num(nat.get(key, 0)):>14}")
        print()
    print(f"  {'control: ARP and ICMP':<{w}} {'count':>14}")
    for key, label in [("arp_requests_in", "ARP requests in"), ("arp_replies_out", "ARP replies out"),
                       ("arp_requests_out", "ARP requests out"), ("arp_replies_in", "ARP replies in"),
                       ("neighbours_resolved", "neighbours resolved"),
                       ("neighbours_failed", "neighbours failed"),
                       ("resolve_sent", "held pkts sent on resolve"),
                       ("echo_replies", "echo replies (ping us)")]:
        print(f"  {label:<{w}} {fmt_num(stats.get(key, 0)):>14}")
    print()
    print(f"  {'port':<{w}} {'rx pkts':>12} {'tx pkts':>12} {'rx bytes':>15} {'tx bytes':>15} {'missed':>8}")
    names = {0: "0 (inside)", 1: "1 (outside)"}
    for p in ports:
        s = tel.query(f"/ethdev/stats,{p}")
        print(f"  {names.get(p, str(p)):<{w}} {fmt_num(s['ipackets']):>12} {fmt_num(s['opackets']):>12} "
              f"{fmt_num(s['ibytes']):>15} {fmt_num(s['obytes']):>15} {fmt_num(s['imissed']):>8}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-p", "--prefix", required=True, help="eal.prefix of the sluice instance")
    ap.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the socket")
    ap.add_argument("--get", nargs="+", metavar="KEY", help="print only these keys of the answer")
    ap.add_argument("--table", action="store_true", help="print a readable table of counters")
    ap.add_argument("cmds", nargs="*", help="telemetry commands, e.g. /sluice/stats /ethdev/stats,0")
    args = ap.parse_args()
    try:
        tel = Telemetry(args.prefix, args.wait)
        if args.table:
            print_table(tel)
        for cmd in args.cmds:
            value = tel.query(cmd)
            if args.get:
                for key in args.get:
                    # Drop reasons are spelt with '-' in sluice's output; accept '_' too.
                    alts = [key, key.replace("-", "_"), key.replace("_", "-")]
                    found = [k for k in alts if isinstance(value, dict) and k in value]
                    if not found:
                        print(f"telemetry.py: {cmd}: no key {key!r} in {json.dumps(value)[:300]}",
                              file=sys.stderr)
                        return 2
                    print(value[found[0]] if not isinstance(value[found[0]], (dict, list))
                          else json.dumps(value[found[0]]))
            else:
                print(json.dumps(value))
        tel.close()
    except (OSError, ValueError) as e:
        print(f"telemetry.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
