#!/usr/bin/python3
"""Pktgen-DPDK as the harness's generator (bench/run SCENARIO --generator
pktgen), where a user has a `pktgen` binary (PATH, or PKTGEN=/path).

Pktgen-DPDK is not a Debian package: build it from
https://github.com/pktgen/Pktgen-DPDK (meson, against the DPDK the host
has). It is stateless, so it measures one direction: its port 0 sends into
the DUT's inside, its port 1 counts what comes out of the DUT's outside;
no responder answers, there are no TCP handshakes and no latency stamps.
The harness runs with it the throughput searches (NDR/PDR, method.py) of a
scenario at each of its session steps and frame sizes (64 to 1518; not
IMIX, which range mode cannot interleave); establishment and tear-down
rates, table capacity and latency stay sluice-pktgen's.

How it is driven: pktgen starts with -f SETUP.lua, which only turns the
screen off and defines a few functions (sluice_ranges, sluice_send,
sluice_link); then every harness command is one short Lua chunk sent to
pktgen's socket (-G: its Lua shell on TCP port 22022), which calls them.
Results come back in a file the chunk writes (key value lines), not on the
socket, so they do not depend on where pktgen's print goes. Counters are
read from pktgen.portStats() before and after each send, so a trial's
figures are differences whatever pktgen's clear does.

The campus from the scenario's parameters: clients 10.16.0.1 + first on
(pktgen.range.src_ip start/inc/min/max), per-client sessions as source
ports 1024 on (range.src_port), one server 198.18.0.1:5000. Range mode
steps every field on each frame, so the frames walk through clients x
ports pairs only if the two counts are coprime: the client count is raised
until it is (the session count in the report is the real one). The load is
a rate in per cent of the link (pktgen.set "rate"), from frames/s, the
frame size and --pktgen-link-mbps (PKTGEN_LINK_MBPS, 10000): the offered
load each trial reports is what pktgen counted as sent, so a link speed
off by a factor moves where the trials land, not what they measure.

`bench/pktgen_dpdk.py check` (tests/integration/bench.sh) writes the Lua
for the smoke and default scenarios, checks its syntax with luac5.4 -p and
runs it with lua5.4 against a stand-in `pktgen` table that records every
call, then checks that the ranges, sizes and rates are the scenario's. It
cannot run pktgen itself (not installed here).
"""

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

GEN_IN_MAC, GEN_OUT_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
CLIENT_BASE = (10 << 24) | (16 << 16) | 1  # 10.16.0.1
SERVER = "198.18.0.1"
CLIENT_PORT_BASE, SERVER_PORT = 1024, 5000
WIRE_OVERHEAD = 20
SOCKET_PORT = 22022

INSTALL = ("no pktgen binary: set PKTGEN=/path/to/pktgen or put `pktgen` on PATH. "
           "Pktgen-DPDK is not a Debian package: build it from "
           "https://github.com/pktgen/Pktgen-DPDK (meson and ninja, against this host's "
           "libdpdk-dev: `meson setup build && ninja -C build`, the binary is "
           "build/app/pktgen), then run again")



def read_fields(path):
    """A result file of the Lua side: one "key value" a line, numbers as int."""
    fields = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            fields[k] = int(v) if v.lstrip("-").isdigit() else v
    return fields


def find_binary():
    """The pktgen binary, or RuntimeError saying what to install."""
    path = os.environ.get("PKTGEN") or shutil.which("pktgen")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(INSTALL + (f" (PKTGEN={path} is not executable)"
                                      if os.environ.get("PKTGEN") else ""))
    return path


def ip(n):
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


def campus(first, clients, per_client):
    """The range of a session set: clients raised until coprime with the
    sessions per client (see the module's text)."""
    while math.gcd(clients, per_client) != 1:
        clients += 1
    return {"first_ip": ip(CLIENT_BASE + first), "last_ip": ip(CLIENT_BASE + first + clients - 1),
            "port_min": CLIENT_PORT_BASE, "port_max": CLIENT_PORT_BASE + per_client - 1,
            "clients": clients, "per_client": per_client, "sessions": clients * per_client}


def rate_percent(frames_per_second, size, link_mbps):
    """pktgen's rate (per cent of the link) for frames/s of `size` bytes."""
    return 100.0 * frames_per_second * (size + WIRE_OVERHEAD) * 8 / (link_mbps * 1e6)


def lua_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


SETUP = r"""-- Written by bench/pktgen_dpdk.py: pktgen -f this file, then the harness
-- calls these functions through pktgen's socket (one chunk per command).
-- Port 0 sends into the DUT's inside; port 1 counts what comes out of its
-- outside. Results go to the file each call is given, as key value lines.
pktgen.screen("off")

local function counts()
  local s = pktgen.portStats("0-1", "port")
  return {tx0 = s[0].opackets, rx0 = s[0].ipackets, tx1 = s[1].opackets,
          rx1 = s[1].ipackets, err0 = s[0].oerrors}
end

local function report(path, fields)
  local f = assert(io.open(path .. ".part", "w"))
  for k, v in pairs(fields) do f:write(k, " ", tostring(v), "\n") end
  f:write("done 1\n")
  f:close()
  assert(os.rename(path .. ".part", path))
end

-- The campus as ranges: clients first_ip..last_ip, one per frame in turn,
-- source ports port_min..port_max likewise, one server; the DUT's MAC.
function sluice_ranges(first_ip, last_ip, port_min, port_max, dut_mac, size)
  pktgen.set_range("0", "off")
  pktgen.range.dst_mac("0", "start", dut_mac)
  pktgen.range.src_mac("0", "start", "%(gen_in_mac)s")
  pktgen.range.src_ip("0", "start", first_ip)
  pktgen.range.src_ip("0", "inc", "0.0.0.1")
  pktgen.range.src_ip("0", "min", first_ip)
  pktgen.range.src_ip("0", "max", last_ip)
  pktgen.range.src_port("0", "start", port_min)
  pktgen.range.src_port("0", "inc", 1)
  pktgen.range.src_port("0", "min", port_min)
  pktgen.range.src_port("0", "max", port_max)
  pktgen.range.dst_ip("0", "start", "%(server)s")
  pktgen.range.dst_ip("0", "inc", "0.0.0.0")
  pktgen.range.dst_ip("0", "min", "%(server)s")
  pktgen.range.dst_ip("0", "max", "%(server)s")
  pktgen.range.dst_port("0", "start", %(server_port)d)
  pktgen.range.dst_port("0", "inc", 0)
  pktgen.range.dst_port("0", "min", %(server_port)d)
  pktgen.range.dst_port("0", "max", %(server_port)d)
  pktgen.range.ip_proto("0", "udp")
  pktgen.set_proto("0", "udp")
  sluice_size(size)
  pktgen.set_range("0", "on")
end

function sluice_size(size)
  pktgen.range.pkt_size("0", "start", size)
  pktgen.range.pkt_size("0", "inc", 0)
  pktgen.range.pkt_size("0", "min", size)
  pktgen.range.pkt_size("0", "max", size)
end

-- Sends from port 0 at rate (per cent of the link) for ms milliseconds, or
-- `count` frames (0: no limit), waits drain_ms, and reports what each port
-- sent and received meanwhile.
function sluice_send(rate, size, count, ms, drain_ms, path)
  sluice_size(size)
  pktgen.set("0", "rate", rate)
  pktgen.set("0", "count", count)
  local before = counts()
  pktgen.start("0")
  pktgen.delay(ms)
  pktgen.stop("0")
  pktgen.delay(drain_ms)
  local after = counts()
  local out = {ms = ms}
  for k, v in pairs(after) do out[k] = v - before[k] end
  report(path, out)
end

function sluice_counters(path)
  report(path, counts())
end

function sluice_link(path)
  local l = pktgen.linkState("0-1")
  report(path, {port0 = string.gsub(tostring(l[0]), " ", "_"),
                port1 = string.gsub(tostring(l[1]), " ", "_")})
end
""" % {"gen_in_mac": GEN_IN_MAC, "server": SERVER, "server_port": SERVER_PORT}


def chunk_ranges(c, dut_mac, size):
    return (f"sluice_ranges({lua_str(c['first_ip'])}, {lua_str(c['last_ip'])}, "
            f"{c['port_min']}, {c['port_max']}, {lua_str(dut_mac)}, {size})\n")


def chunk_send(rate, size, count, ms, drain_ms, path="@RESULT@"):
    """path: a Lua expression (@RESULT@: the file PktgenDpdk.lua picks)."""
    return f"sluice_send({rate:.6f}, {size}, {count}, {ms}, {drain_ms}, {path})\n"


def send_lua(text, port=SOCKET_PORT, timeout=10):
    """Sends one Lua chunk to pktgen's socket and closes it (pktgen runs
    what it got). Retries while pktgen is starting."""
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(text.encode())
                s.shutdown(socket.SHUT_WR)
                try:
                    while s.recv(4096):  # pktgen's own echo, if any: not the result
                        pass
                except socket.timeout:
                    pass
            return
        except OSError:
            if time.monotonic() > end:
                raise RuntimeError(f"pktgen's socket (127.0.0.1:{port}) did not answer") from None
            time.sleep(0.5)


class PktgenDpdk:
    """Pktgen-DPDK behind the same commands as sluice-pktgen (harness.Pktgen):
    link, open (UDP only: one frame per session), trial (one direction),
    counters, quit; close and TCP are refused with a reason."""

    directions = 1  # only the clients send: the load is up only

    def __init__(self, run, eal, ns, dut_mac, link_mbps):
        self.run, self.ns, self.dut_mac, self.link_mbps = run, ns, dut_mac, link_mbps
        binary = find_binary()
        self.dir = tempfile.mkdtemp(prefix="pktgen-dpdk.", dir=run.tmp)
        self.setup = os.path.join(self.dir, "setup.lua")
        with open(self.setup, "w") as f:
            f.write(SETUP)
        self.n = 0
        self.size = 64
        # Lcore 0 is pktgen's display and timers; 1 and 2 run ports 0 and 1.
        cmd = [binary] + eal + ["--", "-P", "-G", "-m", "[1].0,[2].1", "-f", self.setup]
        self.p = run.spawn(cmd, "pktgen-dpdk", ns=ns, stdin=subprocess.PIPE)

    def lua(self, text, timeout=60):
        """Runs a chunk that reports to a file; the file's fields."""
        self.n += 1
        path = os.path.join(self.dir, f"r{self.n}")
        text = text.replace("@RESULT@", lua_str(path))
        if self.ns:
            subprocess.run(["ip", "netns", "exec", self.ns, sys.executable,
                            os.path.abspath(__file__), "send"], input=text.encode(),
                           check=True, timeout=30)
        else:
            send_lua(text)
        end = time.monotonic() + timeout
        while not os.path.exists(path):
            if self.p.poll() is not None:
                raise RuntimeError(f"pktgen exited ({self.p.returncode}); see {self.p.logname}")
            if time.monotonic() > end:
                raise RuntimeError(f"pktgen did not run: {text.strip()} (see {self.p.logname})")
            time.sleep(0.05)
        return read_fields(path)

    def cmd(self, line, timeout=60):
        words = line.split()
        a = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        what = words[0]
        if what == "link":
            end = time.monotonic() + min(float(a.get("seconds", 10)), 60)
            while True:
                r = self.lua("sluice_link(@RESULT@)\n")
                up = all("UP" in str(r.get(p, "")).upper() for p in ("port0", "port1"))
                if up or time.monotonic() > end:
                    return {"up": up}
                time.sleep(0.5)
        if what == "open":
            if a.get("proto") != "udp":
                raise RuntimeError("Pktgen-DPDK is stateless: no TCP handshakes (connection "
                                   "rates stay sluice-pktgen's)")
            c = campus(int(a["first"]), int(a["clients"]), int(a["per"]))
            rate = float(a.get("rate", 10000))
            self.lua(chunk_ranges(c, self.dut_mac, 64) + "sluice_counters(@RESULT@)\n")
            ms = int(1000 * c["sessions"] / rate) + 200
            r = self.lua(chunk_send(rate_percent(rate, 64, self.link_mbps), 64, c["sessions"],
                                    ms, 300, "@RESULT@"), timeout=ms / 1000 + 60)
            # One frame per session; the first frame of each is what opens
            # it, so what came out translated is what was established.
            got = min(r["rx1"], c["sessions"])
            return {"offered": c["sessions"], "established": got, "failed": c["sessions"] - got,
                    "first_try": got, "send_seconds": ms / 1000, "seconds": ms / 1000,
                    "clients_used": c["clients"]}
        if what == "trial":
            load = float(a["load"])
            secs = float(a.get("seconds", 1))
            size = a.get("size", "64")
            if not size.isdigit():
                raise RuntimeError(f"Pktgen-DPDK range mode sends one size at a time: {size}")
            size = max(64, min(1518, int(size)))
            ms = int(1000 * secs)
            r = self.lua(chunk_send(rate_percent(load, size, self.link_mbps), size, 0, ms,
                                    int(1000 * float(a.get("drain", 0.3))), "@RESULT@"),
                         timeout=secs + 60)
            return {"load": load, "seconds": secs, "size": str(size), "tx_up": r["tx0"],
                    "rx_up": r["rx1"], "tx_down": 0, "rx_down": 0, "reordered_up": 0,
                    "reordered_down": 0, "tx_errors": r["err0"]}
        if what == "counters":
            r = self.lua("sluice_counters(@RESULT@)\n")
            return {"inside_tx": r["tx0"], "inside_tx_refused": 0, "inside_rx": r["rx0"],
                    "outside_tx": r["tx1"], "outside_tx_refused": 0, "outside_rx": r["rx1"]}
        raise RuntimeError(f"Pktgen-DPDK: '{what}' is not something it does (stateless, "
                           "one direction)")

    def quit(self):
        try:
            if self.ns:
                subprocess.run(["ip", "netns", "exec", self.ns, sys.executable,
                                os.path.abspath(__file__), "send"], input=b"pktgen.quit()\n",
                               timeout=15)
            else:
                send_lua("pktgen.quit()\n", timeout=2)
        except (OSError, RuntimeError, subprocess.SubprocessError):
            pass
        self.run.stop(self.p)


# The check: the generated Lua, its syntax and what it does, against a
# stand-in for pktgen's Lua library that records calls.
MOCK = r"""
calls = {}
local function rec(name) return function(...)
  local t = {name}
  for _, v in ipairs({...}) do t[#t + 1] = tostring(v) end
  calls[#calls + 1] = table.concat(t, "\t")
end end
local sent = 0
pktgen = {screen = rec("screen"), set = rec("set"), set_proto = rec("set_proto"),
  set_range = rec("set_range"), start = rec("start"), stop = rec("stop"),
  delay = rec("delay"), clr = rec("clr"), quit = rec("quit"), range = {}}
for _, f in ipairs({"dst_mac", "src_mac", "src_ip", "dst_ip", "src_port", "dst_port",
                    "pkt_size", "ip_proto"}) do pktgen.range[f] = rec("range." .. f) end
pktgen.portStats = function(ports, kind)
  sent = sent + 1000
  return {[0] = {opackets = sent, ipackets = 0, oerrors = 0},
          [1] = {opackets = 0, ipackets = sent - 1, oerrors = 0}, n = 2}
end
pktgen.linkState = function(ports) return {[0] = "<UP-10000-FD>", [1] = "<UP-10000-FD>", n = 2} end
"""


class Checked(PktgenDpdk):
    """PktgenDpdk with lua5.4 and the stand-in library in place of pktgen:
    every chunk the harness's commands make runs for real, calls recorded."""

    def __init__(self, lua, tmp, dut_mac):
        self.lua_binary, self.dir, self.dut_mac, self.link_mbps = lua, tmp, dut_mac, 10000
        self.ns, self.n, self.calls = None, 0, []  # every call of every chunk, in order

    def lua(self, text, timeout=60):
        self.n += 1
        path = os.path.join(self.dir, f"r{self.n}")
        text = text.replace("@RESULT@", lua_str(path))
        chunk = os.path.join(self.dir, f"c{self.n}.lua")
        with open(chunk, "w") as f:
            f.write(text)
        subprocess.run(["luac5.4", "-p", chunk], check=True)
        out = subprocess.run([self.lua_binary, "-e", MOCK + SETUP + text +
                              "\nfor _, c in ipairs(calls) do print(c) end"],
                             capture_output=True, text=True, check=True).stdout
        self.calls += [tuple(line.split("\t")) for line in out.splitlines()]
        return read_fields(path)


def check():
    """The generated Lua for the scenarios: syntax, and that the ranges,
    sizes and rates the harness's commands set are the scenario's. Exit 0
    or raise."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
    luac, lua = shutil.which("luac5.4"), shutil.which("lua5.4")
    if not luac or not lua:
        raise RuntimeError("lua5.4 (luac5.4, lua5.4) is not installed: scripts/deps")
    tmp = tempfile.mkdtemp(prefix="pktgen-lua-check.")
    try:
        setup = os.path.join(tmp, "setup.lua")
        with open(setup, "w") as f:
            f.write(SETUP)
        subprocess.run([luac, "-p", setup], check=True)
        g = Checked(lua, tmp, harness.DUT_IN_MAC)
        assert g.cmd("link seconds=1") == {"up": True}
        checked = 0
        for name in ("smoke", "default", "full"):
            sc = harness.SCENARIOS[name]
            clients = harness.method.Clients()
            for sessions in sc["steps"]:
                per = sc["per_client"]
                n_clients = -(-sessions // per)
                first, since = clients.next, len(g.calls)
                o = harness.method.open_set(g, clients, n_clients, per, "udp", 50000)
                c = campus(first, n_clients, per)
                assert o["offered"] == c["sessions"] >= sessions, (o, c)
                assert math.gcd(c["clients"], per) == 1, c
                want = {("range.src_ip", "0", "min", c["first_ip"]),
                        ("range.src_ip", "0", "max", c["last_ip"]),
                        ("range.src_port", "0", "min", str(CLIENT_PORT_BASE)),
                        ("range.src_port", "0", "max", str(CLIENT_PORT_BASE + per - 1)),
                        ("range.dst_mac", "0", "start", harness.DUT_IN_MAC),
                        ("set_range", "0", "on"), ("set", "0", "count", str(c["sessions"]))}
                got = set(g.calls[since:])
                assert not want - got, (name, sessions, want - got)
                rate = [float(x[3]) for x in g.calls[since:] if x[:3] == ("set", "0", "rate")]
                assert rate == [0.336], rate  # 50,000 frames/s of 64 B on 10G
                clients.next = first + c["clients"]
                for size in sc["sizes"]:
                    if not size.isdigit():
                        try:
                            g.cmd(f"trial load=1000 seconds=1 size={size}")
                            raise AssertionError("IMIX accepted")
                        except RuntimeError:
                            continue
                    load = sc.get("fixed_load", sc.get("max_load"))
                    t = harness.method.Trials(g, sc["trial_seconds"], size, lambda *_: None)
                    since = len(g.calls)
                    r = t.run(load)
                    calls = set(g.calls[since:])
                    want = {("range.pkt_size", "0", "max", size), ("set", "0", "count", "0"),
                            ("start", "0"), ("stop", "0"),
                            ("delay", str(int(1000 * sc["trial_seconds"])))}
                    assert not want - calls, (name, sessions, size, want - calls)
                    rate = [float(x[3]) for x in g.calls[since:] if x[:3] == ("set", "0", "rate")]
                    expect = 100 * load * (int(size) + 20) * 8 / 1e10
                    assert rate and abs(rate[-1] - expect) < 1e-4 * expect, (rate, expect)
                    assert r["offered"] == r["tx_up"] / r["seconds"] and r["rx_down"] == 0, r
                    checked += 1
        # The README's example, by hand: 1,024 clients x 63 sessions.
        since = len(g.calls)
        g.cmd("open proto=udp first=0 clients=1024 per=63 rate=50000")
        missing = {("range.src_ip", "0", "min", "10.16.0.1"),
                   ("range.src_ip", "0", "max", "10.16.4.0"),
                   ("range.src_port", "0", "max", "1086"),
                   ("range.dst_ip", "0", "start", SERVER)} - set(g.calls[since:])
        assert not missing, missing
        for refused in ("open proto=tcp first=0 clients=1 per=1 rate=1", "close rate=1"):
            try:
                g.cmd(refused)
                raise AssertionError(f"accepted: {refused}")
            except RuntimeError:
                pass
        print(f"pktgen Lua: setup and {g.n} chunks ({checked} trials of the smoke, default and "
              "full scenarios) pass luac5.4 -p, run against a stand-in pktgen library and set "
              "the scenarios' ranges, sizes and rates")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["check"]:
        check()
    elif sys.argv[1:] == ["send"]:
        send_lua(sys.stdin.read())
    elif sys.argv[1:] == ["find"]:
        try:
            print(find_binary())
        except RuntimeError as e:
            sys.exit(f"--generator pktgen: {e}")
    elif sys.argv[1:] == ["setup"]:
        sys.stdout.write(SETUP)
    else:
        sys.exit("usage: pktgen_dpdk.py check | find | send (a Lua chunk on stdin) | setup")
