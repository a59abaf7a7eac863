#!/usr/bin/python3
"""Golden packet test of the forward pipeline: pcap in, pcap out, no NIC.

sluice runs on net_pcap ports: each interface reads one pcap and writes two
(TX queue 0 is the worker's, TX queue 1 the control thread's). Every case is a
row of CASES: a description, the frame that goes in (on the inside or the
outside), and either the exact frame expected out (byte for byte, on which
port and queue; or frames, in that order: a fragmented packet's pieces, as
scapy's own fragment() cuts them) or the drop reason it must be counted
under. All rows go
through one run of sluice; rows are told apart by their IP ID.

Usage: golden.py SLUICE_BINARY WORKDIR
"""
import os
import re
import signal
import subprocess
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw, fragment,
                       rdpcap, wrpcap)

IN_MAC = "02:00:00:00:01:01"  # sluice inside
OUT_MAC = "02:00:00:00:02:01"  # sluice outside
CLIENT_MAC = "02:00:00:00:01:02"  # 10.16.1.2
SERVER_MAC = "02:00:00:00:02:02"  # 192.0.2.2 (also the default gateway)
IN_IP, OUT_IP = "10.16.1.1", "192.0.2.1"
CLIENT, SERVER, FAR = "10.16.1.2", "192.0.2.2", "198.51.100.7"
OUT_MTU = 1400

CONFIG = f"""
[eal]
prefix = golden-{os.getpid()}
memory-mb = 256
[dataplane]
icmp-error-rate = 1000
[inside]
address = {IN_IP}/24
port = net_pcap0,rx_pcap={{d}}/in-inside.pcap,tx_pcap={{d}}/out-inside.pcap,tx_pcap={{d}}/ctl-inside.pcap
mac = {IN_MAC}
clients = 10.16.0.0/12
neighbour = {CLIENT} {CLIENT_MAC}
[outside]
address = {OUT_IP}/24
port = net_pcap1,rx_pcap={{d}}/in-outside.pcap,tx_pcap={{d}}/out-outside.pcap,tx_pcap={{d}}/ctl-outside.pcap
mac = {OUT_MAC}
mtu = {OUT_MTU}
neighbour = {SERVER} {SERVER_MAC}
[routes]
static = 0.0.0.0/0 via {SERVER}
"""


def from_client(ident, dst=SERVER, **ip):
    return Ether(src=CLIENT_MAC, dst=IN_MAC) / IP(src=ip.pop("src", CLIENT), dst=dst, id=ident, **ip)


def from_server(ident, dst=CLIENT, **ip):
    return Ether(src=SERVER_MAC, dst=OUT_MAC) / IP(src=ip.pop("src", SERVER), dst=dst, id=ident, **ip)


def routed(frame, src_mac, dst_mac):
    """What sluice must send for a forwarded frame: new L2, TTL - 1, new checksum."""
    ip = frame[IP].copy()
    ip.ttl -= 1
    del ip.chksum
    return Ether(src=src_mac, dst=dst_mac) / ip


def icmp_error(frame, typ, code, src, dst_mac, src_mac, mtu=0):
    """An ICMP error about frame, as RFC 792/1812 and sluice build it."""
    quoted = bytes(frame[IP])[: 576 - 28]  # as it arrived: TTL not yet decremented
    ip = IP(src=src, dst=frame[IP].src, id=0, ttl=64, tos=0xC0, flags=0, proto=1)
    icmp = ICMP(type=typ, code=code, nexthopmtu=mtu) if mtu else ICMP(type=typ, code=code)
    icmp = icmp / Raw(quoted)
    return Ether(src=src_mac, dst=dst_mac) / ip / icmp


def build_cases():
    """Rows: (description, side, frame, expected) where expected is
    ("out", side, queue, frame[, reason the original is counted under]),
    ("arp", side, target) or ("drop", reason)."""
    rows = []

    f = from_client(1) / UDP(sport=4000, dport=53) / Raw(b"query")
    rows.append(("UDP inside->outside is routed, TTL-1, new L2", "inside", f,
                 ("out", "outside", "out", routed(f, OUT_MAC, SERVER_MAC))))
    f = from_server(2) / TCP(sport=80, dport=40000, flags="SA") / Raw(b"x" * 100)
    rows.append(("TCP outside->inside to a connected host", "outside", f,
                 ("out", "inside", "out", routed(f, IN_MAC, CLIENT_MAC))))
    f = from_client(3, dst=FAR) / UDP(sport=1, dport=2)
    rows.append(("off-link destination goes to the default gateway", "inside", f,
                 ("out", "outside", "out", routed(f, OUT_MAC, SERVER_MAC))))
    f = from_client(4, ttl=1) / UDP(sport=5, dport=6) / Raw(b"ttl")
    rows.append(("TTL 1 is answered with ICMP time exceeded from the inside address", "inside", f,
                 ("out", "inside", "out", icmp_error(f, 11, 0, IN_IP, CLIENT_MAC, IN_MAC),
                  "ttl-expired")))
    f = from_client(5, src="172.16.5.5") / UDP(sport=7, dport=8)
    rows.append(("source outside the client prefixes", "inside", f, ("drop", "spoofed-source")))
    f = from_client(6, chksum=0x1234) / UDP(sport=9, dport=10)
    rows.append(("bad header checksum", "inside", f, ("drop", "ip-bad-checksum")))
    f = Ether(src=CLIENT_MAC, dst=IN_MAC) / IPv6(src="fe80::1", dst="fe80::2") / UDP()
    rows.append(("IPv6 is not handled", "inside", f, ("drop", "not-ipv4")))
    f = from_client(8, dst=IN_IP) / ICMP(type=8, id=77, seq=1) / Raw(b"ping")
    reply = Ether(src=IN_MAC, dst=CLIENT_MAC) / IP(src=IN_IP, dst=CLIENT, id=8, ttl=64) / \
        ICMP(type=0, id=77, seq=1) / Raw(b"ping")
    rows.append(("echo request to our address is answered by control", "inside", f,
                 ("out", "inside", "ctl", reply)))
    f = from_client(9, dst=IN_IP) / UDP(sport=11, dport=12)
    rows.append(("UDP to our own address", "inside", f, ("drop", "local-unsupported")))
    f = from_client(10, flags="DF") / UDP(sport=13, dport=14) / Raw(b"y" * (OUT_MTU + 50))
    rows.append(("DF packet above the outside MTU gets fragmentation needed", "inside", f,
                 ("out", "inside", "out",
                  icmp_error(f, 3, 4, IN_IP, CLIENT_MAC, IN_MAC, mtu=OUT_MTU), "too-big")))
    f = from_client(11) / UDP(sport=15, dport=16) / Raw(b"z" * (OUT_MTU + 50))
    pieces = fragment(routed(f, OUT_MAC, SERVER_MAC)[IP], fragsize=(OUT_MTU - 20) // 8 * 8)
    rows.append(("packet above the MTU without DF is fragmented, in order (RFC 4787 REQ-13)",
                 "inside", f,
                 ("out", "outside", "out", [Ether(src=OUT_MAC, dst=SERVER_MAC) / p for p in pieces])))
    f = from_client(12, dst="10.16.1.255") / UDP(sport=17, dport=18)
    rows.append(("directed broadcast of the inside subnet", "inside", f,
                 ("drop", "martian-destination")))
    f = from_client(13, src="127.0.0.1") / UDP(sport=19, dport=20)
    rows.append(("loopback source", "inside", f, ("drop", "martian-source")))
    f = from_client(14, options=b"\x94\x04\x00\x00") / UDP(sport=21, dport=22)
    rows.append(("IP options are dropped by default", "inside", f, ("drop", "ip-options")))
    f = Ether(src=CLIENT_MAC, dst="02:99:99:99:99:99") / IP(src=CLIENT, dst=SERVER, id=15) / UDP()
    rows.append(("unicast frame for another MAC", "inside", f, ("drop", "not-for-us")))
    f = Ether(src=CLIENT_MAC, dst=IN_MAC) / Dot1Q(vlan=5) / IP(src=CLIENT, dst=SERVER, id=16) / UDP()
    rows.append(("tagged frame on an untagged interface", "inside", f, ("drop", "vlan-mismatch")))
    f = from_server(17, src=FAR, dst="10.16.1.9") / UDP(sport=23, dport=24)
    rows.append(("host without a static entry is resolved by ARP (request from control)",
                 "outside", f, ("arp", "inside", "10.16.1.9")))
    f = Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT,
                                                            pdst=IN_IP)
    reply = Ether(src=IN_MAC, dst=CLIENT_MAC) / ARP(op=2, hwsrc=IN_MAC, psrc=IN_IP,
                                                    hwdst=CLIENT_MAC, pdst=CLIENT)
    rows.append(("ARP request for our address is answered", "inside", f,
                 ("out", "inside", "ctl", reply)))
    return rows


def ip_id(frame):
    if IP in frame and ICMP in frame and frame[ICMP].type in (3, 11):
        return IP(bytes(frame[ICMP].payload)).id  # the quoted packet's
    return frame[IP].id if IP in frame else None


def run(binary, workdir):
    rows = build_cases()
    for side in ("inside", "outside"):
        wrpcap(f"{workdir}/in-{side}.pcap", [r[2] for r in rows if r[1] == side])
    conf = f"{workdir}/golden.conf"
    with open(conf, "w") as f:
        f.write(CONFIG.replace("{d}", workdir))
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    time.sleep(3)  # pcap RX is read at once; give control time for ARP and replies
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    if proc.returncode != 0:
        print(out)
        print(f"FAIL: sluice exited {proc.returncode}")
        return 1
    drops = {m[0]: int(m[1]) for m in re.findall(r"sluice: drop (\S+)\s+(\d+)", out)}
    sent = {(s, q): list(rdpcap(f"{workdir}/{q}-{s}.pcap"))
            for s in ("inside", "outside") for q in ("out", "ctl")}

    failures = 0
    expected_drops = {}
    for desc, side, frame, exp in rows:
        reason = exp[1] if exp[0] == "drop" else exp[4] if len(exp) > 4 else None
        if reason:
            expected_drops[reason] = expected_drops.get(reason, 0) + 1
        if exp[0] == "drop":
            continue
        if exp[0] == "arp":
            _, out_side, target = exp
            ok = any(ARP in p and p[ARP].op == 1 and p[ARP].pdst == target and
                     p[ARP].psrc == IN_IP and p.dst == "ff:ff:ff:ff:ff:ff"
                     for p in sent[(out_side, "ctl")])
        else:
            out_side, queue, wanted = exp[1:4]
            # One frame, or several that must leave one after the other.
            wanted = wanted if isinstance(wanted, list) else [wanted]
            want = [bytes(w.__class__(bytes(w))) for w in wanted]  # fill checksums and lengths
            got = [bytes(p) for p in sent[(out_side, queue)]]
            at = [got.index(w) if w in got else -1 for w in want]
            ok = -1 not in at and at == list(range(at[0], at[0] + len(at)))
            if not ok:
                for w in want:
                    print(f"  expected: {w.hex()}")
                for p in sent[(out_side, queue)]:
                    if ip_id(p) == ip_id(frame) or (ARP in p and ARP in frame):
                        print(f"  got:      {bytes(p).hex()}")
        print(f"{'PASS' if ok else 'FAIL'}: {desc}")
        failures += not ok
    for reason, count in sorted(expected_drops.items()):
        ok = drops.get(reason, 0) == count
        print(f"{'PASS' if ok else 'FAIL'}: drop counter {reason} == {count} "
              f"(got {drops.get(reason, 0)})")
        failures += not ok
    unexpected = {r: n for r, n in drops.items() if r not in expected_drops}
    if unexpected:
        print(f"FAIL: unexpected drops {unexpected}")
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2]))
