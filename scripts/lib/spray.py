#!/usr/bin/python3
"""Sprays small UDP datagrams from the kernel stack over many destinations,
for the exhaustion tests: each (source port, destination) pair is a new NAT
session, each destination address off-link a new neighbour to resolve.
Bounded by --count and --seconds, whichever ends first; prints "sent N".

  spray.py --dst IP[-LAST] [--dst ...] [--dports FIRST[-LAST]] [--sports N]
           [--bind IP] [--count N] [--seconds S] [--pps R]

Datagrams go round-robin over every destination address x port, from
--sports sockets (ports chosen by the kernel, unless --bind IP:PORT gives the
first of a fixed range). --pps 0 (the default) sends as fast as the socket
takes them; a full socket buffer (ENOBUFS/EAGAIN) is retried, not counted.
"""

import argparse
import ipaddress
import socket
import sys
import time


def addresses(spec):
    first, _, last = spec.partition("-")
    a = int(ipaddress.IPv4Address(first))
    b = a if not last else int(ipaddress.IPv4Address(last if "." in last else
                                                      first.rsplit(".", 1)[0] + "." + last))
    return [str(ipaddress.IPv4Address(x)) for x in range(a, b + 1)]


def ports(spec):
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", action="append", required=True)
    ap.add_argument("--dports", default="9")
    ap.add_argument("--sports", type=int, default=1)
    ap.add_argument("--bind", default="")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pps", type=float, default=0)
    a = ap.parse_args()
    dsts = [(ip, p) for spec in a.dst for ip in addresses(spec) for p in ports(a.dports)]
    bind_ip, _, bind_port = a.bind.partition(":")
    socks = []
    for i in range(a.sports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((bind_ip, int(bind_port) + i if bind_port else 0))
        socks.append(s)
    payload = b"x" * 18
    sent = 0
    start = time.monotonic()
    while sent < a.count:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        if a.pps > 0:
            ahead = start + sent / a.pps - now
            if ahead > 0:
                time.sleep(ahead)
        s = socks[sent % len(socks)]
        try:
            s.sendto(payload, dsts[(sent // len(socks)) % len(dsts)])
        except (BlockingIOError, OSError):
            time.sleep(0.0005)
            continue
        sent += 1
    for s in socks:
        s.close()
    print(f"sent {sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
