#!/usr/bin/python3
"""A bounded UDP request/response exchange.

  udp.py serve --bind IP --port P [--seconds 30] [--tell]
      echoes every datagram back to its sender until --seconds have passed;
      with --tell, answers instead with the sender's address as the server
      saw it ("IP:PORT"): behind a NAT, the client's public endpoint.
  udp.py ping --dst IP --port P [--count 100] [--size 512] [--timeout 1]
              [--bind IP[:PORT]]
      sends --count datagrams one at a time, each carrying its sequence number,
      waits up to --timeout s for each echo, checks the echo is byte-identical,
      prints "sent N received M mismatched K rtt-avg-us X" and exits 0 when
      every datagram came back intact.
  udp.py probe --bind IP:PORT --dst IP:PORT [--dst IP:PORT ...] [--timeout 1]
               [--serve SECONDS]
      from one socket, sends one datagram to each --dst in turn (a --tell
      server) and prints "DST seen-as IP:PORT" (what it answered) or
      "DST seen-as none"; then, with --serve, answers every datagram that
      arrives on the socket like serve --tell for SECONDS and prints
      "answered PEER" for each. Exits 0 when every --dst answered.
"""

import argparse
import os
import socket
import sys
import time


def endpoint(text, default_port=0):
    """'IP:PORT' or 'IP' as a socket address."""
    ip, _, port = text.partition(":")
    return ip, int(port) if port else default_port


def answer(s, seconds, tell, log=False):
    """Echoes (or with tell, names the sender of) every datagram for seconds."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            return 0
        except ConnectionRefusedError:
            continue  # an ICMP error about an earlier datagram of ours
        if log:
            print(f"answered {peer[0]}:{peer[1]}", flush=True)
        s.sendto(f"{peer[0]}:{peer[1]}".encode() if tell else data, peer)


def serve(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    print(f"udp.py: {'telling' if a.tell else 'echoing'} on {a.bind}:{a.port}", flush=True)
    return answer(s, a.seconds, a.tell)


def probe(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(endpoint(a.bind))
    answered = 0
    for dst in a.dst:
        peer = endpoint(dst)
        s.sendto(b"probe", peer)
        seen = "none"
        deadline = time.monotonic() + a.timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                continue
            if src == peer:
                seen = data.decode(errors="replace")
                answered += 1
                break
        print(f"{dst} seen-as {seen}", flush=True)
    if a.serve:
        answer(s, a.serve, True, log=True)
    return 0 if answered == len(a.dst) else 1


def ping(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind(endpoint(a.bind))
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
    sv.add_argument("--tell", action="store_true")
    pg = sub.add_parser("ping")
    pg.add_argument("--dst", required=True)
    pg.add_argument("--port", type=int, required=True)
    pg.add_argument("--count", type=int, default=100)
    pg.add_argument("--size", type=int, default=512)
    pg.add_argument("--timeout", type=float, default=1.0)
    pg.add_argument("--bind")
    pr = sub.add_parser("probe")
    pr.add_argument("--bind", required=True)
    pr.add_argument("--dst", action="append", required=True)
    pr.add_argument("--timeout", type=float, default=1.0)
    pr.add_argument("--serve", type=float, default=0)
    a = ap.parse_args()
    return {"serve": serve, "ping": ping, "probe": probe}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
