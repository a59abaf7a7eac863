#!/usr/bin/python3
"""A bounded UDP request/response exchange.

  udp.py serve --bind IP --port P [--seconds 30]
      echoes every datagram back to its sender until --seconds have passed.
  udp.py ping --dst IP --port P [--count 100] [--size 512] [--timeout 1]
      sends --count datagrams one at a time, each carrying its sequence number,
      waits up to --timeout s for each echo, checks the echo is byte-identical,
      prints "sent N received M mismatched K rtt-avg-us X" and exits 0 when
      every datagram came back intact.
"""

import argparse
import os
import socket
import sys
import time


def serve(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    print(f"udp.py: echoing on {a.bind}:{a.port}", flush=True)
    deadline = time.monotonic() + a.seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            return 0
        s.sendto(data, peer)


def ping(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((a.dst, a.port))
    received = mismatched = 0
    rtt_total = 0.0
    for seq in range(a.count):
        payload = b"%08d" % seq + os.urandom(max(0, a.size - 8))
        t0 = time.monotonic()
        s.send(payload)
        deadline = t0 + a.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                break
            if data[:8] != payload[:8]:
                continue  # a late echo of an earlier datagram
            if data == payload:
                received += 1
                rtt_total += time.monotonic() - t0
            else:
                mismatched += 1
            break
    avg = int(rtt_total / received * 1e6) if received else 0
    print(f"sent {a.count} received {received} mismatched {mismatched} rtt-avg-us {avg}")
    return 0 if received == a.count and mismatched == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("--bind", required=True)
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--seconds", type=float, default=30)
    pg = sub.add_parser("ping")
    pg.add_argument("--dst", required=True)
    pg.add_argument("--port", type=int, required=True)
    pg.add_argument("--count", type=int, default=100)
    pg.add_argument("--size", type=int, default=512)
    pg.add_argument("--timeout", type=float, default=1.0)
    a = ap.parse_args()
    return serve(a) if a.mode == "serve" else ping(a)


if __name__ == "__main__":
    sys.exit(main())
