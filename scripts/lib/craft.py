#!/usr/bin/python3
"""Sends crafted Ethernet frames (good, spoofed or malformed) with scapy.

Run it inside the client namespace, on the interface facing sluice:

  craft.py --iface IF --dst-mac MAC --kind KIND --count N [--src IP] [--dst IP]

Every frame is addressed to --dst-mac (sluice's inside MAC) and carries a
UDP datagram from --src to --dst unless the kind says otherwise. Kinds and the
sluice drop reason each one must land in:

  udp            a valid datagram (forwarded)
  spoofed        valid, but from --src (give one outside inside.clients)  spoofed-source
  bad-checksum   IPv4 header checksum wrong                               ip-bad-checksum
  ihl-short      IHL 4 (16 bytes)                                         ip-bad-ihl
  ihl-long       IHL 15 (60 bytes) in a 42-byte frame                     ip-bad-ihl
  truncated      Ethernet header + 10 bytes of an IPv4 header             ip-truncated
  bad-version    version 6 under EtherType IPv4                           ip-bad-version
  length-long    total length 1000 in a 42-byte frame                     ip-bad-length
  length-short   total length 12 (below the header)                       ip-bad-length
  ttl0           TTL 0                                                    ttl-expired
  ttl1           TTL 1                                                    ttl-expired
  options        IPv4 option (NOP x4, IHL 6)                              ip-options
  martian-src    source 127.0.0.1                                         martian-source
  martian-dst    destination 224.0.0.5 (to sluice's unicast MAC)          martian-destination
  not-ipv4       EtherType 0x88b5 (local experimental)                    not-ipv4
  not-for-us     unicast to 02:00:00:00:00:99 instead of --dst-mac        not-for-us
  vlan           802.1Q tag, VLAN --vlan (default 999)                    vlan-mismatch
  arp-invalid    ARP with hardware type 6                                 arp-invalid
  to-us-udp      UDP to --dst (give sluice's own address)                 local-unsupported
  fuzz-ip        EtherType IPv4, 0-80 random bytes (--seed)               (any IPv4 reason)
  fuzz-arp       EtherType ARP, 0-60 random bytes (--seed)                (arp-invalid or punted)

--size N pads the UDP payload to N bytes; --df sets Don't Fragment.

Batch mode measures what sluice did with each kind:

  craft.py --iface IF --dst-mac MAC --prefix PREFIX --batch FILE

FILE has one line per step, "KIND COUNT REASON [DST]". For each step it reads
/sluice/stats and /sluice/drops, sends the frames, waits until the workers
have received them (rx_packets, 5 s at most) and 0.2 s more, reads again and
prints "KIND COUNT REASON rx punted forwarded dropped icmp_errors_sent
icmp_errors_suppressed REASON_DELTA" with the counter increases (REASON_DELTA is "missing" when /sluice/drops does
not list REASON).

--vlan N tags every frame (except kind vlan, which uses it as the tag) with
802.1Q VLAN N. Frames are sent back to back on one raw socket; prints the
number sent.
"""

import argparse
import random
import sys

from scapy.all import ARP, Dot1Q, Ether, IP, IPOption_NOP, Raw, UDP, conf  # noqa: E402

KINDS = [
    "udp", "spoofed", "bad-checksum", "ihl-short", "ihl-long", "truncated", "bad-version",
    "length-long", "length-short", "ttl0", "ttl1", "options", "martian-src", "martian-dst",
    "not-ipv4", "not-for-us", "vlan", "arp-invalid", "to-us-udp", "fuzz-ip", "fuzz-arp",
]


def frame(kind, a, seq):
    dst_mac = "02:00:00:00:00:99" if kind == "not-for-us" else a.dst_mac
    eth = Ether(dst=dst_mac, src=a.src_mac) if a.src_mac else Ether(dst=dst_mac)
    l2 = eth
    if kind == "vlan":
        l2 = eth / Dot1Q(vlan=a.vlan or 999)
    elif a.vlan:
        l2 = eth / Dot1Q(vlan=a.vlan)
    text = b"sluice-test %06d " % seq
    payload = Raw(text + b"x" * max(16, a.size - len(text)))
    udp = UDP(sport=40000 + seq % 1000, dport=a.dport) / payload
    src, dst = a.src, a.dst

    if kind in ("udp", "spoofed", "not-for-us", "vlan", "to-us-udp"):
        return l2 / IP(src=src, dst=dst, ttl=64, flags="DF" if a.df else 0) / udp
    if kind in ("fuzz-ip", "fuzz-arp"):
        eth.type = 0x0800 if kind == "fuzz-ip" else 0x0806
        n = a.rng.randrange(0, 81 if kind == "fuzz-ip" else 61)
        body = bytearray(a.rng.getrandbits(8) for _ in range(n))
        if kind == "fuzz-ip" and n and a.rng.random() < 0.5:
            body[0] = 0x40 | (body[0] & 0x0F)  # version 4 half the time: deeper checks
        if kind == "fuzz-arp" and n >= 8 and a.rng.random() < 0.5:
            body[0:6] = b"\x00\x01\x08\x00\x06\x04"  # a valid ARP header half the time
        return l2 / Raw(bytes(body))
    if kind == "bad-checksum":
        good = IP(bytes(IP(src=src, dst=dst, ttl=64) / udp))
        return l2 / IP(src=src, dst=dst, ttl=64, chksum=(good.chksum ^ 0x5a5a) or 1) / udp
    if kind == "ihl-short":
        return l2 / IP(src=src, dst=dst, ttl=64, ihl=4) / udp
    if kind == "ihl-long":
        # 20 header bytes + 8 UDP bytes: the frame ends long before 60 header bytes.
        return l2 / IP(src=src, dst=dst, ttl=64, ihl=15) / UDP(sport=40000, dport=a.dport)
    if kind == "truncated":
        eth.type = 0x0800
        return l2 / Raw(bytes(IP(src=src, dst=dst, ttl=64) / udp)[:10])
    if kind == "bad-version":
        return l2 / IP(src=src, dst=dst, ttl=64, version=6) / udp
    if kind == "length-long":
        return l2 / IP(src=src, dst=dst, ttl=64, len=1000) / UDP(sport=40000, dport=a.dport)
    if kind == "length-short":
        return l2 / IP(src=src, dst=dst, ttl=64, len=12) / udp
    if kind == "ttl0":
        return l2 / IP(src=src, dst=dst, ttl=0) / udp
    if kind == "ttl1":
        return l2 / IP(src=src, dst=dst, ttl=1) / udp
    if kind == "options":
        return l2 / IP(src=src, dst=dst, ttl=64, options=[IPOption_NOP()] * 4) / udp
    if kind == "martian-src":
        return l2 / IP(src="127.0.0.1", dst=dst, ttl=64) / udp
    if kind == "martian-dst":
        return l2 / IP(src=src, dst="224.0.0.5", ttl=64) / udp
    if kind == "not-ipv4":
        eth.type = 0x88B5
        return l2 / Raw(b"\x00" * 46)
    if kind == "arp-invalid":
        return l2 / ARP(hwtype=6, op=1, psrc=src, pdst=dst)
    raise ValueError(kind)


def send_frames(sock, frames):
    for f in frames:
        sock.send(f)


def batch(a, sock):
    import os
    import time
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from telemetry import Telemetry

    tel = Telemetry(a.prefix)

    def snap():
        st = tel.query("/sluice/stats")
        dr = {k.replace("_", "-"): v for k, v in tel.query("/sluice/drops").items()}
        return st, dr

    keys = ["rx_packets", "punted", "forwarded", "dropped", "icmp_errors_sent",
            "icmp_errors_suppressed"]
    with open(a.batch) as f:
        steps = [line.split() for line in f if line.strip() and not line.startswith("#")]
    default_dst = a.dst
    for step in steps:
        kind, count, reason = step[0], int(step[1]), step[2]
        a.dst = step[3] if len(step) > 3 else default_dst
        frames = [frame(kind, a, i) for i in range(count)]
        st0, dr0 = snap()
        send_frames(sock, frames)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if tel.query("/sluice/stats")["rx_packets"] >= st0["rx_packets"] + count:
                break
            time.sleep(0.02)
        time.sleep(0.2)
        st1, dr1 = snap()
        deltas = [str(st1.get(k, 0) - st0.get(k, 0)) for k in keys]
        rd = str(dr1[reason] - dr0.get(reason, 0)) if reason in dr1 else "missing"
        print(kind, count, reason, *deltas, rd, flush=True)
    tel.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description="send crafted frames to sluice")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dst-mac", required=True, help="sluice's MAC on this link")
    ap.add_argument("--src-mac", default=None, help="default: the interface's MAC")
    ap.add_argument("--kind", choices=KINDS)
    ap.add_argument("--batch", help="steps file (see above); needs --prefix")
    ap.add_argument("--prefix", help="eal.prefix of sluice, for --batch")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--src", default="10.16.1.2")
    ap.add_argument("--dst", default="192.0.2.2")
    ap.add_argument("--dport", type=int, default=9)
    ap.add_argument("--vlan", type=int, default=0)
    ap.add_argument("--size", type=int, default=0, help="UDP payload bytes")
    ap.add_argument("--df", action="store_true", help="set Don't Fragment")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    a.rng = random.Random(a.seed)
    if not 0 < a.count <= 100000:
        ap.error("--count must be 1 to 100000")
    conf.verb = 0
    if a.batch:
        if not a.prefix:
            ap.error("--batch needs --prefix")
        sock = conf.L2socket(iface=a.iface)
        try:
            return batch(a, sock)
        finally:
            sock.close()
    if not a.kind:
        ap.error("--kind or --batch")
    frames = [frame(a.kind, a, i) for i in range(a.count)]
    sock = conf.L2socket(iface=a.iface)
    try:
        send_frames(sock, frames)
    finally:
        sock.close()
    print(f"craft.py: sent {len(frames)} {a.kind} frame(s) on {a.iface}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
