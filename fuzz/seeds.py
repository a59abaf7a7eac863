#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from readable descriptions.

Run from anywhere: fuzz/seeds.py. The files are small and kept in the tree;
run it again after changing an input format (fuzz/env.h and each target's
header comment say what the bytes mean).
"""
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
INSIDE_MAC = bytes([2, 0, 0, 0, 1, 1])
OUTSIDE_MAC = bytes([2, 0, 0, 0, 2, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0xEE, 1])


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, frag=0, options=b""):
    ihl = 5 + len(options) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, frag, 64,
                    proto, 0, ip4(src), ip4(dst)) + options
    h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
    return h + payload


def udp(sport, dport, data=b"hello"):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(sport, dport, flags):
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0)


def icmp_echo(ident, kind=8):
    return struct.pack("!BBHHH", kind, 0, 0, ident, 1) + b"ping"


def eth(dst, payload, ether_type=0x0800, vlan=None):
    tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
    return dst + PEER_MAC + tag + struct.pack("!H", ether_type) + payload


def record(control, frame):
    assert len(frame) <= 255
    return bytes([control, len(frame)]) + frame


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def lacpdu(actor_port=1):
    info = lambda tlv, port: struct.pack("!BBH6sHHHB3x", tlv, 20, 32768, bytes([2, 0, 0, 0, 9, 1]),
                                         7, 255, port, 0x3D)
    body = bytes([1, 1]) + info(1, actor_port) + info(2, 0) + struct.pack("!BBH12x", 3, 16, 0)
    body += b"\0" * (110 - len(body))
    return bytes([1, 0x80, 0xC2, 0, 0, 2]) + PEER_MAC + b"\x88\x09" + body


def marker():
    body = bytes([2, 1, 1, 16]) + struct.pack("!H6sI2x", 1, bytes([2, 0, 0, 0, 9, 1]), 42)
    body += b"\0" * (110 - len(body))
    return bytes([1, 0x80, 0xC2, 0, 0, 2]) + PEER_MAC + b"\x88\x09" + body


def main():
    shutil.rmtree(os.path.join(ROOT, "corpus"), ignore_errors=True)
    client = lambda p: eth(INSIDE_MAC, ipv4("10.16.1.10", "203.0.113.1", *p))

    # parse_fuzz: control bit 0 outside, 1 VLAN 100, 2 options, 3 fix checksums
    write("parse_fuzz", "udp-inside", record(8, client((17, udp(40000, 53)))))
    write("parse_fuzz", "tcp-outside",
          record(9, eth(OUTSIDE_MAC, ipv4("203.0.113.1", "198.51.100.1", 6, tcp(80, 1024, 0x12)))))
    write("parse_fuzz", "vlan", record(10, eth(INSIDE_MAC, ipv4("10.16.1.10", "203.0.113.1", 17,
                                                                 udp(1, 2)), vlan=100)))
    write("parse_fuzz", "options", record(12, eth(INSIDE_MAC, ipv4("10.16.1.10", "203.0.113.1", 17,
                                                                     udp(1, 2), options=b"\1\1\1\0"))))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC, ip4("10.16.1.10"), bytes(6),
                      ip4("10.16.1.1"))
    write("parse_fuzz", "arp-echo-lacp",
          record(0, eth(b"\xff" * 6, arp, 0x0806)) +
          record(8, eth(INSIDE_MAC, ipv4("10.16.1.10", "10.16.1.1", 1, icmp_echo(7)))) +
          record(0, lacpdu()))

    # nat_fuzz: first byte: bit 0 endpoint-independent filtering, bit 1 refusal ICMP;
    # control bits 0-1 kind (inside, outside, reflection, ICMP error), 2 fix, 3-5 clock
    write("nat_fuzz", "udp-reply-error",
          b"\2" + record(4, client((17, udp(40000, 53)))) + record(6, b"") + record(7, b"\0\3\x1c"))
    write("nat_fuzz", "tcp-handshake",
          b"\0" + record(4, client((6, tcp(40001, 80, 0x02)))) +
          record(6, bytes(13) + b"\x10") + record(4, client((6, tcp(40001, 80, 0x10)))) +
          record(4, client((6, tcp(40001, 80, 0x11)))) + record(6 | 8, b""))
    write("nat_fuzz", "echo", b"\1" + record(4, client((1, icmp_echo(99)))) + record(6, b"\x08") +
          record(7, b"\1\0\x30"))
    dgram = udp(40002, 53, bytes(40))
    write("nat_fuzz", "fragments",
          b"\0" + record(4, client((17, dgram[24:], 5, 3))) +
          record(4, client((17, dgram[:24], 5, 0x2000))) + record(6, b""))
    write("nat_fuzz", "quota", b"\2" + b"".join(record(4, client((17, udp(41000 + i, 53))))
                                                 for i in range(9)))
    write("nat_fuzz", "unsolicited",
          b"\1" + record(5, eth(OUTSIDE_MAC, ipv4("203.0.113.9", "198.51.100.1", 17,
                                                 udp(53, 1030)))))

    # frag_fuzz: [source][id][protocol 0 TCP 1 UDP 2 ICMP 3 GRE][offset low][MF | offset high]
    def frag(src, ident, proto, offset8, more, payload, control=0):
        return record(control, bytes([src, ident, proto, offset8 & 0xFF,
                                      (1 if more else 0) | (offset8 >> 8) << 1]) + payload)
    data = struct.pack("!HHHH", 40000, 53, 48, 0) + bytes(40)
    write("frag_fuzz", "in-order", frag(1, 1, 1, 0, True, data[:24]) +
          frag(1, 1, 1, 3, True, data[24:40]) + frag(1, 1, 1, 5, False, data[40:], 8))
    write("frag_fuzz", "out-of-order", frag(2, 3, 0, 5, False, bytes(8)) +
          frag(2, 3, 0, 0, True, struct.pack("!HH", 443, 50000) + bytes(36), 8) + frag(2, 4, 2, 1, False, bytes(8), 5))
    write("frag_fuzz", "echo", frag(3, 5, 2, 0, True, icmp_echo(77) + bytes(4)) +
          frag(3, 5, 2, 2, False, bytes(16), 8))

    # lacp_fuzz: control bit 0 member, 1 flip link, 2-7 hundreds of ms
    write("lacp_fuzz", "lacpdus", record(40, lacpdu(1)) + record(41, lacpdu(2)) + record(40, lacpdu(1)))
    write("lacp_fuzz", "marker", record(0, marker()))

    # ipfix_fuzz: [size: 64 + 8 * b][bit 0 destinations, bit 1 flows], 64-byte events
    def event(type_index, inside, public, port):
        return struct.pack("=QIIIHHHBBBBBBIIIIIIII", 5000, inside, public, 0xCB007101, port, 1024, 53,
                           type_index, 17, 0, 1, 0, 0, 100, 10, 2, 3, 200, 300, 0, 0)
    events = b"".join(event(i, 0x0A10010A + i, 0xC6336401, 40000 + i) for i in range(8))
    write("ipfix_fuzz", "every-event", bytes([0xB4, 3]) + events)
    write("ipfix_fuzz", "small-messages", bytes([20, 2]) + events + events)

    for name in ("reference.conf", "campus-legacy.conf"):
        with open(os.path.join(ROOT, "..", "pipelines", "examples", name), "rb") as f:
            write("config_fuzz", name, f.read())
    write("config_fuzz", "forward",
          b"[dataplane]\npipeline = forward\n[inside]\naddress = 10.16.1.1/24\nport = net_ring0\n"
          b"[outside]\naddress = 192.0.2.1/24\nport = net_ring1\n")


if __name__ == "__main__":
    main()
