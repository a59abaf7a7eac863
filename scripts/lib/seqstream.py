#!/usr/bin/python3
"""A paced UDP stream of numbered datagrams and a receiver that says which
numbers never arrived, to measure a loss window. Bounded in time on both ends.

  seqstream.py send --dst IP:PORT --pps N --seconds S [--bind IP[:PORT]]
      sends datagram 0, 1, 2, ... (the number in the first 8 bytes, 64
      bytes of payload) at N a second for S seconds, catching up after a
      stall rather than skipping numbers; prints "sent N".
  seqstream.py recv --bind IP:PORT --seconds S [--out FILE]
      takes datagrams for S seconds (or until 1 s after the stream's last
      one), then prints "received N highest H lost L" and one line per run
      of missing numbers: "gap FIRST-LAST lost N last-before T1 first-after
      T2" (T: arrival times, seconds since the epoch, of the datagrams
      either side of the run). With --out, every arrival "SEQ TIME" is
      written there too.

Lost packets times the interval (1/N s) is the loss window: how long the
stream ran into a link that no longer delivered, whatever the sender's
scheduling did meanwhile.
"""

import argparse
import socket
import struct
import sys
import time

PAYLOAD = 64


def endpoint(text, default_port=0):
    ip, _, port = text.partition(":")
    return ip, int(port) if port else default_port


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    if a.bind:
        s.bind(endpoint(a.bind))
    dst = endpoint(a.dst)
    pad = bytes(PAYLOAD - 8)
    start = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= a.seconds:
            break
        due = min(int(elapsed * a.pps) + 1, int(a.seconds * a.pps))
        while sent < due:
            try:
                s.sendto(struct.pack("!Q", sent) + pad, dst)
            except (ConnectionRefusedError, BlockingIOError):
                pass
            sent += 1
        time.sleep(min(1 / a.pps, 0.002))
    print(f"sent {sent}", flush=True)
    return 0


def recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(endpoint(a.bind))
    deadline = time.monotonic() + a.seconds
    arrivals = {}
    last_arrival = None
    while True:
        now = time.monotonic()
        if now >= deadline or (last_arrival is not None and now - last_arrival > 1.0):
            break
        s.settimeout(min(0.1, deadline - now))
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        if len(data) < 8:
            continue
        last_arrival = time.monotonic()
        arrivals.setdefault(struct.unpack("!Q", data[:8])[0], time.time())
    if a.out:
        with open(a.out, "w") as f:
            for seq in sorted(arrivals):
                f.write(f"{seq} {arrivals[seq]:.6f}\n")
    if not arrivals:
        print("received 0 highest -1 lost 0", flush=True)
        return 1
    seqs = sorted(arrivals)
    highest = seqs[-1]
    print(f"received {len(seqs)} highest {highest} lost {highest + 1 - len(seqs)}", flush=True)
    before = None
    for seq in seqs:
        expected = 0 if before is None else before + 1
        if seq > expected:
            t1 = f"{arrivals[before]:.6f}" if before is not None else "none"
            print(f"gap {expected}-{seq - 1} lost {seq - expected} last-before {t1} "
                  f"first-after {arrivals[seq]:.6f}", flush=True)
        before = seq
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    sd = sub.add_parser("send")
    sd.add_argument("--dst", required=True)
    sd.add_argument("--bind")
    sd.add_argument("--pps", type=float, required=True)
    sd.add_argument("--seconds", type=float, required=True)
    rv = sub.add_parser("recv")
    rv.add_argument("--bind", required=True)
    rv.add_argument("--seconds", type=float, required=True)
    rv.add_argument("--out")
    a = ap.parse_args()
    return {"send": send, "recv": recv}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
