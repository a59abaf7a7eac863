#!/usr/bin/python3
"""Hostile traffic for the hardening tests: floods of frames built with scapy
once, then sent back to back on one raw socket, bounded by --count and
--seconds (whichever ends first). Prints "sent N".

  hostile.py --iface IF --dst-mac MAC --kind KIND --count N [--seconds S]
             [--src IP] [--dst IP] [--dport P] [--seed S] [--pps R]

--pps paces the frames (default 3000 a second), so a flood measures what
sluice does with it rather than what the veth backlog can hold.

Kinds (from the inside unless said; the drop reason each must land in):

  syn-many       SYNs from N random sources in 10.16.128.0/17, random ports,
                 to --dst:--dport (new clients, new sessions; the answers
                 find no neighbour)
  syn-one        SYNs from --src, N distinct source ports, to --dst:--dport
                 (one client's session limit: nat-session-limit)
  syn-spoofed    SYNs from random sources in 203.0.113.0/24    spoofed-source
  ack-nosession  ACKs from --src with no session               nat-tcp-not-syn
                 (from the outside, to a pool address: nat-no-mapping)
  icmp-nosession ICMP port unreachable from --src quoting a UDP datagram
                 --dst -> --src that no session knows      nat-icmp-no-session
  frag-tail      non-first fragments (offset 64) of N datagrams whose first
                 never comes                    frag-held-full or frag-timeout
  frag-overlap   N datagrams as first fragment (offset 0, MF, 64 bytes) and a
                 tail overlapping it (offset 8, 64 bytes): what follows a
                 first fragment is translated, nothing breaks
  garbage        random EtherType and 0-120 random bytes after the header
  tiny           14-byte frames, EtherType IPv4, nothing after    ip-truncated
  oversized      1600-byte IPv4 UDP packets (1614-byte frames) with DF, above
                 the 1500-byte MTU (the veths' MTUs raised)        too-big

Kinds for the control plane (--dst: sluice's own address; --dst-mac is
replaced where the kind says):

  arp-request    broadcast ARP requests from --src for --dst    (answered at
                 control.arp-reply-rate, the rest arp_rate_limited)
  echo           ICMP echo requests to --dst   (echo_replies, echo_rate_limited)
  lacpdu         LACPDUs to 01:80:c2:00:00:02, random actors
                 (control.slow-protocols-rate, the rest lacp_rate_limited)
  marker         LACP marker requests to 01:80:c2:00:00:02 (the same limit)
  syn-local      TCP SYNs to --dst:--dport                   local-unsupported
  udp-local      UDP datagrams to --dst:--dport              local-unsupported
  icmp-local     ICMP timestamp requests to --dst            local-unsupported
"""

import argparse
import random
import sys
import time

from scapy.all import ARP, ICMP, IP, UDP, TCP, Ether, Raw, conf, get_if_hwaddr  # noqa: E402

SLOW_PROTOCOLS = "01:80:c2:00:00:02"


def lacpdu(rng):
    """An 802.1AX LACPDU (110 bytes after the EtherType): actor, partner,
    collector and terminator TLVs."""
    actor = (bytes([1, 20]) + (32768).to_bytes(2, "big") + bytes([2] + [rng.randrange(256) for _ in range(5)])
             + (1).to_bytes(2, "big") + (255).to_bytes(2, "big") + (1).to_bytes(2, "big") + bytes([0x3D]) + bytes(3))
    partner = bytes([2, 20]) + bytes(18)
    collector = bytes([3, 16]) + bytes(14)
    return bytes([1, 1]) + actor + partner + collector + bytes([0, 0]) + bytes(50)


def marker(rng, i):
    """A marker request (802.1AX 6.5.3.2)."""
    info = (bytes([1, 16]) + (1).to_bytes(2, "big") + bytes([2] + [rng.randrange(256) for _ in range(5)])
            + i.to_bytes(4, "big") + bytes(2))
    return bytes([2, 1]) + info + bytes([0, 0]) + bytes(90)


def rnd_ip(rng, base, bits):
    host = rng.randrange(1, (1 << bits) - 1)
    b = [int(x) for x in base.split(".")]
    v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) + host
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def frames(a, rng):
    # The source MAC given: scapy leaves it zero when it cannot route --dst.
    eth = Ether(src=a.src_mac, dst=a.dst_mac)
    k = a.kind
    for i in range(a.count):
        sport = rng.randrange(1024, 65535) if k != "syn-one" else 1024 + i % 64512
        if k == "syn-many":
            yield eth / IP(src=rnd_ip(rng, "10.16.128.0", 15), dst=a.dst) / TCP(sport=sport, dport=a.dport, flags="S")
        elif k == "syn-one":
            yield eth / IP(src=a.src, dst=a.dst) / TCP(sport=sport, dport=a.dport, flags="S")
        elif k == "syn-spoofed":
            yield eth / IP(src=rnd_ip(rng, "203.0.113.0", 8), dst=a.dst) / TCP(sport=sport, dport=a.dport, flags="S")
        elif k == "ack-nosession":
            yield eth / IP(src=a.src, dst=a.dst) / TCP(sport=sport, dport=a.dport, flags="A",
                                                       seq=rng.randrange(1 << 32), ack=rng.randrange(1 << 32))
        elif k == "icmp-nosession":
            quoted = IP(src=a.dst, dst=a.src) / UDP(sport=a.dport, dport=sport)
            yield eth / IP(src=a.src, dst=a.dst) / ICMP(type=3, code=3) / bytes(quoted)[:28]
        elif k == "frag-tail":
            yield eth / IP(src=a.src, dst=a.dst, id=i & 0xFFFF, proto=17, frag=8, flags=0) / Raw(bytes(64))
        elif k == "frag-overlap":
            first = IP(src=a.src, dst=a.dst, id=i & 0xFFFF, proto=17, flags="MF", frag=0)
            yield eth / first / UDP(sport=sport, dport=a.dport, len=200) / Raw(bytes(56))
            yield eth / IP(src=a.src, dst=a.dst, id=i & 0xFFFF, proto=17, frag=1) / Raw(bytes(64))
        elif k == "garbage":
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 121)))
            yield Ether(src=a.src_mac, dst=a.dst_mac, type=rng.randrange(0x600, 0x10000)) / Raw(body)
        elif k == "tiny":
            yield Ether(src=a.src_mac, dst=a.dst_mac, type=0x0800)
        elif k == "arp-request":
            yield (Ether(src=a.src_mac, dst="ff:ff:ff:ff:ff:ff")
                   / ARP(op=1, hwsrc=a.src_mac, psrc=a.src, pdst=a.dst))
        elif k == "echo":
            yield eth / IP(src=a.src, dst=a.dst) / ICMP(type=8, id=0x5A5A, seq=i & 0xFFFF) / Raw(bytes(32))
        elif k == "lacpdu":
            yield Ether(src=a.src_mac, dst=SLOW_PROTOCOLS, type=0x8809) / Raw(lacpdu(rng))
        elif k == "marker":
            yield Ether(src=a.src_mac, dst=SLOW_PROTOCOLS, type=0x8809) / Raw(marker(rng, i))
        elif k == "syn-local":
            yield eth / IP(src=a.src, dst=a.dst) / TCP(sport=sport, dport=a.dport, flags="S")
        elif k == "udp-local":
            yield eth / IP(src=a.src, dst=a.dst) / UDP(sport=sport, dport=a.dport) / Raw(bytes(16))
        elif k == "icmp-local":
            yield eth / IP(src=a.src, dst=a.dst) / ICMP(type=13, id=i & 0xFFFF) / Raw(bytes(12))
        elif k == "oversized":
            yield eth / IP(src=a.src, dst=a.dst, flags="DF") / UDP(sport=sport, dport=a.dport) / Raw(bytes(1572))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--src", default="10.16.1.2")
    ap.add_argument("--dst", default="192.0.2.2")
    ap.add_argument("--dport", type=int, default=9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pps", type=float, default=3000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    a.src_mac = get_if_hwaddr(a.iface)
    built = [bytes(f) for f in frames(a, rng)]
    if not built:
        print(f"hostile.py: unknown kind {a.kind}", file=sys.stderr)
        return 2
    s = conf.L2socket(iface=a.iface)
    sent = 0
    start = time.monotonic()
    for f in built:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        ahead = start + sent / a.pps - now
        if ahead > 0:
            time.sleep(ahead)
        s.send(f)
        sent += 1
    elapsed = time.monotonic() - start
    s.close()
    print(f"sent {sent}")
    print(f"seconds {elapsed:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
