#!/usr/bin/python3
"""A paced UDP flood and a receiver that measures the rate it got, in IPv4
bits per second (payload + 28 bytes of IP and UDP header per datagram: the
length a policer counts). Bounded in time on both ends.

  flood.py send --dst IP:PORT --rate BPS --size BYTES --seconds S [--bind IP[:PORT]]
      sends datagrams of --size payload bytes at --rate IPv4 bit/s for
      --seconds, then prints "sent N".
  flood.py send --answer --bind IP:PORT --rate BPS --size BYTES --seconds S [--wait W]
      waits up to --wait s for one datagram on --bind, then floods its sender
      (behind a NAT: the client's public endpoint) as above.
  flood.py recv --bind IP:PORT --seconds S [--skip K] [--window W] [--hello IP:PORT]
      counts what arrives for --seconds; prints "packets N l3-bps X" for
      the window of W seconds (default 10) starting K seconds (default 1)
      after the first datagram, and "total N". With --hello, sends a small
      datagram to that address every 0.2 s until the first data arrives
      (to open the NAT mapping a flood from outside comes back on).
"""

import argparse
import socket
import sys
import time

HEADERS = 28  # IPv4 + UDP


def endpoint(text, default_port=0):
    ip, _, port = text.partition(":")
    return ip, int(port) if port else default_port


def flood(s, dst, rate, size, seconds):
    gap = (size + HEADERS) * 8 / rate
    payload = bytes(size)
    start = time.monotonic()
    sent = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) / gap) + 1
        while sent < due:
            try:
                s.sendto(payload, dst)
            except (ConnectionRefusedError, BlockingIOError):
                pass
            sent += 1
        time.sleep(min(gap, 0.002))
    print(f"sent {sent}", flush=True)
    return 0


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    if a.bind:
        s.bind(endpoint(a.bind))
    if not a.answer:
        return flood(s, endpoint(a.dst), a.rate, a.size, a.seconds)
    s.settimeout(a.wait)
    try:
        _, peer = s.recvfrom(65535)
    except socket.timeout:
        print("no datagram to answer", flush=True)
        return 1
    print(f"answering {peer[0]}:{peer[1]}", flush=True)
    return flood(s, peer, a.rate, a.size, a.seconds)


def recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(endpoint(a.bind))
    hello = endpoint(a.hello) if a.hello else None
    deadline = time.monotonic() + a.seconds
    first = None
    total = 0
    in_window = 0
    window_bytes = 0
    next_hello = 0.0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if hello and first is None and now >= next_hello:
            s.sendto(b"hello", hello)
            next_hello = now + 0.2
        s.settimeout(min(0.2, deadline - now))
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            continue
        now = time.monotonic()
        if first is None:
            first = now
        total += 1
        if a.skip <= now - first < a.skip + a.window:
            in_window += 1
            window_bytes += len(data) + HEADERS
    bps = int(window_bytes * 8 / a.window)
    print(f"packets {in_window} l3-bps {bps}", flush=True)
    print(f"total {total}", flush=True)
    return 0 if total else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    sd = sub.add_parser("send")
    sd.add_argument("--dst")
    sd.add_argument("--bind")
    sd.add_argument("--answer", action="store_true")
    sd.add_argument("--wait", type=float, default=5)
    sd.add_argument("--rate", type=float, required=True)
    sd.add_argument("--size", type=int, default=1200)
    sd.add_argument("--seconds", type=float, required=True)
    rv = sub.add_parser("recv")
    rv.add_argument("--bind", required=True)
    rv.add_argument("--seconds", type=float, required=True)
    rv.add_argument("--skip", type=float, default=1)
    rv.add_argument("--window", type=float, default=10)
    rv.add_argument("--hello")
    a = ap.parse_args()
    if a.mode == "send" and not a.answer and not a.dst:
        ap.error("send needs --dst or --answer")
    return {"send": send, "recv": recv}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
