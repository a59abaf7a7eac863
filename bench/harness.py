#!/usr/bin/python3
"""The benchmark harness: sets up a transport, runs each device under test
(DUT) against sluice-pktgen, measures it (method.py) and writes the report
(report.py). bench/run SCENARIO calls it after building.

Transports (two ports each side of the DUT: inside and outside):
  memif  two DPDK processes over net_memif: the generator is the memif server
         of two sockets, the DUT (sluice or dpdk-testpmd) their client.
  veth   net_af_packet on two veth pairs between namespaces: generator in
         one, DUT in the other (sluice, dpdk-testpmd, or the Linux kernel
         with nftables masquerade).
  nic    real ports: the generator's and the DUT's PCI addresses given with
         --nic GEN_IN,GEN_OUT,DUT_IN,DUT_OUT (cabled GEN_IN-DUT_IN,
         GEN_OUT-DUT_OUT, bound to vfio-pci), cores with --gen-cpu and
         --dut-cpus.
DUTs: testpmd (io forwarding: the cost of moving frames at all), kernel (the
old system: conntrack and masquerade), sluice (the cgnat pipeline). Every
process and namespace made is removed on exit, failures included, and a
host-wide setting changed for a measurement (nf_conntrack_max, for the
kernel's table capacity) is put back.
"""

import argparse
import datetime
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import method  # noqa: E402
import pktgen_dpdk  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from telemetry import Telemetry  # noqa: E402

BUILD = os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build"))
PKTGEN = os.path.join(BUILD, "bench", "sluice-pktgen")
SLUICE = os.path.join(BUILD, "control", "sluice")
NAT_BENCH = os.path.join(BUILD, "bench", "nat_bench")

GEN_IN_MAC, GEN_OUT_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
DUT_IN_MAC, DUT_OUT_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"

# Scenarios: what is measured and how long it takes.
SCENARIOS = {
    # A few minutes: every transport and DUT here, 64,512 sessions, 64 B.
    "default": dict(
        transports=["memif", "veth"], duts=["testpmd", "kernel", "sluice"],
        steps=[64512], per_client=63, sizes=["64"], trial_seconds=1.0, repeats=3,
        precision=0.05, search_steps=5, max_load=20e6, latency_fractions=[0.1, 0.5, 0.9],
        latency_seconds=1.0, cps_clients=64, cps_max=1e6, cps_steps=3,
        teardown_steps=4, closing_timeout=2, capacity_sessions=131072, micro=True),
    # The whole of it, for a real host: every CSIT scale step and frame size.
    "full": dict(
        transports=["memif", "veth"], duts=["testpmd", "kernel", "sluice"],
        steps=[64512, 258048, 1032192, 4128768], per_client=63,
        sizes=["64", "imix", "1518"], trial_seconds=10.0, repeats=5, precision=0.01,
        search_steps=10, max_load=30e6, latency_fractions=[0.1, 0.5, 0.9],
        latency_seconds=10.0, cps_clients=1024, cps_max=5e6, cps_steps=6,
        teardown_steps=6, closing_timeout=2, capacity_sessions=8388608, micro=True),
    # Seconds: keeps the harness working (tests/integration/bench.sh). One
    # fixed low load, no search; counts are compared, not speed.
    "smoke": dict(
        transports=["memif"], duts=["sluice"], steps=[256], per_client=4, sizes=["64"],
        trial_seconds=1.0, repeats=1, fixed_load=4000, latency_fractions=[],
        latency_seconds=1.0, cps_clients=8, cps_max=2000, cps_steps=0,
        teardown_steps=0, closing_timeout=2, capacity_sessions=0, micro=False),
}


class Run:
    """Processes, namespaces and files of one harness run; all removed on exit."""

    def __init__(self, tag, out):
        self.tag = tag
        self.out = out
        self.procs = []
        self.namespaces = []
        self.links = []
        self.prefixes = []
        self.restore = []  # (path, original value) of host-wide settings changed
        self.tmp = tempfile.mkdtemp(prefix=f"sluice-bench.{tag}.")
        self.logfile = open(os.path.join(out, "harness.log"), "a")

    def log(self, text):
        line = f"{datetime.datetime.now():%H:%M:%S} {text}"
        print(line, flush=True)
        self.logfile.write(line + "\n")
        self.logfile.flush()

    def sh(self, *cmd, check=True, ns=None, input=None):
        full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
        r = subprocess.run(full, input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(full)}: {r.stderr.strip()}")
        return r.stdout

    def spawn(self, cmd, name, ns=None, stdin=None, stdout=None):
        full = (["ip", "netns", "exec", ns] if ns else []) + cmd
        log = open(os.path.join(self.out, f"{name}.log"), "w")
        p = subprocess.Popen(full, stdin=stdin, stdout=stdout or log, stderr=log, text=True,
                             start_new_session=True)
        p.logname = log.name
        self.procs.append(p)
        return p

    def stop(self, p, seconds=10):
        """SIGTERM, then SIGKILL; by PID only."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(seconds)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def netns(self, name):
        self.sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.sh("ip", "link", "set", "lo", "up", ns=name)
        self.sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1", ns=name)

    def veth(self, a, ns_a, mac_a, b, ns_b, mac_b):
        self.sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        self.links.append(a)
        for dev, ns, mac in ((a, ns_a, mac_a), (b, ns_b, mac_b)):
            self.sh("ip", "link", "set", dev, "netns", ns)
            self.sh("ip", "link", "set", dev, "address", mac, ns=ns)
            self.sh("ethtool", "-K", dev, "tx", "off", "rx", "off", ns=ns, check=False)
            self.sh("ip", "link", "set", dev, "up", ns=ns)

    def set_host(self, path, value):
        """Writes a host-wide setting (a /proc/sys file), remembering its
        value to put back in put_back() and cleanup(), failures included."""
        with open(path) as f:
            original = f.read().strip()
        if not any(p == path for p, _ in self.restore):
            self.restore.append((path, original))
        with open(path, "w") as f:
            f.write(str(value))
        self.log(f"  {path}: {original} -> {value} for this run (put back on exit)")

    def put_back(self):
        for path, original in reversed(self.restore):
            try:
                with open(path, "w") as f:
                    f.write(original)
                self.log(f"  {path}: {original} again")
            except OSError as e:
                self.log(f"  {path}: could not put back {original}: {e}")
        self.restore = []

    def cleanup(self):
        self.put_back()
        for p in list(self.procs):
            try:
                if p.stdin:
                    p.stdin.close()
            except OSError:
                pass
            self.stop(p, 5)
        for ns in self.namespaces:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for prefix in self.prefixes:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.namespaces, self.links = [], []


class Pktgen:
    """sluice-pktgen driven line by line."""

    def __init__(self, run, eal, options, ns=None):
        self.run = run
        cmd = [PKTGEN] + eal + ["--"] + options
        self.p = run.spawn(cmd, "pktgen", ns=ns, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self.read(60)
        if not ready.get("ready"):
            raise RuntimeError(f"sluice-pktgen did not start (see {self.p.logname})")

    def read(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, end - time.monotonic()))
            if r:
                line = self.p.stdout.readline()
                if not line:
                    break
                return json.loads(line)
        raise RuntimeError(f"sluice-pktgen did not answer (see {self.p.logname})")

    def cmd(self, line, timeout=60):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = self.read(timeout)
        if "error" in r:
            raise RuntimeError(f"sluice-pktgen: {line}: {r['error']}")
        return r

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.run.stop(self.p)


class Transport:
    """Where the generator and the DUT's ports are, and how each reaches them."""

    def __init__(self, run, kind, args):
        self.run = run
        self.kind = kind
        self.ns_gen = self.ns_dut = None
        t = run.tag
        if kind == "memif":
            self.sock_in = os.path.join(run.tmp, "in.sock")
            self.sock_out = os.path.join(run.tmp, "out.sock")
        elif kind == "veth":
            self.ns_gen, self.ns_dut = f"sb{t}-gen", f"sb{t}-dut"
            self.gi, self.go, self.di, self.do = f"sb{t}gi", f"sb{t}go", f"sb{t}di", f"sb{t}do"
            run.netns(self.ns_gen)
            run.netns(self.ns_dut)
            run.veth(self.gi, self.ns_gen, GEN_IN_MAC, self.di, self.ns_dut, DUT_IN_MAC)
            run.veth(self.go, self.ns_gen, GEN_OUT_MAC, self.do, self.ns_dut, DUT_OUT_MAC)
        elif kind == "nic":
            self.pci = args.nic.split(",")
            if len(self.pci) != 4:
                raise RuntimeError("--nic GEN_IN,GEN_OUT,DUT_IN,DUT_OUT")

    def gen_ports(self):
        """EAL device arguments of the generator and its port names."""
        if self.kind == "memif":
            return (["--vdev", f"net_memif0,role=server,socket={self.sock_in},id=0,mac={GEN_IN_MAC}",
                     "--vdev", f"net_memif1,role=server,socket={self.sock_out},id=0,"
                     f"mac={GEN_OUT_MAC}", "--no-pci"], "net_memif0", "net_memif1")
        if self.kind == "veth":
            return (["--vdev", f"net_af_packet0,iface={self.gi},qpairs=1", "--vdev",
                     f"net_af_packet1,iface={self.go},qpairs=1", "--no-pci"],
                    "net_af_packet0", "net_af_packet1")
        return (["-a", self.pci[0], "-a", self.pci[1]], self.pci[0], self.pci[1])

    def dut_ports(self):
        """The DUT's two port specifications (a vdev or a PCI address)."""
        if self.kind == "memif":
            return (f"net_memif0,role=client,socket={self.sock_in},id=0,mac={DUT_IN_MAC}",
                    f"net_memif1,role=client,socket={self.sock_out},id=0,mac={DUT_OUT_MAC}")
        if self.kind == "veth":
            return f"net_af_packet0,iface={self.di}", f"net_af_packet1,iface={self.do}"
        return self.pci[2], self.pci[3]


def cpus(args):
    allowed = sorted(os.sched_getaffinity(0))
    gen = args.gen_cpu if args.gen_cpu is not None else allowed[0]
    dut = ([int(c) for c in args.dut_cpus.split(",")] if args.dut_cpus
           else [c for c in allowed if c != gen][:1] or [gen])
    return gen, dut


def hugepage_args():
    with open("/proc/meminfo") as f:
        free = [int(line.split()[1]) for line in f if line.startswith("HugePages_Free:")]
    return ["--in-memory"] if free and free[0] > 0 else ["--no-huge", "--no-shconf"]


def eal_common(prefix, memory_mb):
    return hugepage_args() + ["-m", str(memory_mb), "--file-prefix", prefix, "--log-level=error"]


def sluice_config(run, transport, prefix, scenario, cores, workers, sessions=None, nat_extra=""):
    p_in, p_out = transport.dut_ports()
    # Room for every set the run opens; the capacity phase then fills it.
    sessions = sessions or max(65536, scenario["capacity_sessions"],
                               int(1.5 * (sum(scenario["steps"]) + scenario["cps_clients"] *
                                          scenario["per_client"] *
                                          (scenario["cps_steps"] + scenario["teardown_steps"] +
                                           3))))
    memory = max(512, sessions * 600 // 1048576 + 256)
    conf = f"""# written by bench/harness.py
[eal]
prefix = {prefix}
cores = {",".join(str(c) for c in cores)}
memory-mb = {memory}
log-level = error

[dataplane]
pipeline = cgnat
workers = {workers}

[inside]
address = 10.255.0.1/30
port = {p_in}
mac = {DUT_IN_MAC}
neighbour = 10.255.0.2 {GEN_IN_MAC}
clients = 10.16.0.0/12

[outside]
address = 192.0.2.2/30
port = {p_out}
mac = {DUT_OUT_MAC}
neighbour = 192.0.2.1 {GEN_OUT_MAC}

[routes]
static = 10.16.0.0/12 via 10.255.0.2
static = 0.0.0.0/0 via 192.0.2.1

[nat]
pool = 198.51.100.0/24
sessions = {sessions}
clients = {max(131072, sessions // 32)}
# A closed connection leaves the table after this (default 240 s; below the
# RFC's minimum on purpose, warned): the tear-down search waits for it.
tcp-transitory-timeout = {scenario.get("closing_timeout", 240)}
{nat_extra}
# Every client is policed (the meter runs for every packet) at a rate no
# benchmark client reaches: the pipeline's cost is measured, not the policy.
[policing]
cir = 10000000000
cbs = 100000000
"""
    path = os.path.join(run.tmp, f"{prefix}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path, sessions


class Dut:
    """A device under test, started on a transport; counters() before stop()."""

    def __init__(self, run, kind, transport, scenario, dut_cpus):
        self.run, self.kind, self.transport = run, kind, transport
        self.scenario = scenario
        self.prefix = f"sluice-bench{run.tag}-{kind}-{transport.kind}"
        run.prefixes.append(self.prefix)
        self.p = None
        self.capacity = None
        ns = transport.ns_dut
        if kind == "sluice":
            cores = dut_lcores(dut_cpus)
            workers = len(cores) - 1
            conf, self.capacity = sluice_config(run, transport, self.prefix, scenario, cores,
                                                workers, scenario.get("dut_sessions"),
                                                scenario.get("nat_extra", ""))
            self.p = run.spawn([SLUICE, "-c", conf], f"sluice-{transport.kind}", ns=ns)
            self.wait_running()
        elif kind == "testpmd":
            p_in, p_out = transport.dut_ports()
            devs = (["-a", p_in, "-a", p_out] if transport.kind == "nic"
                    else ["--no-pci", "--vdev", p_in, "--vdev", p_out])
            lcores = dut_lcores(dut_cpus)
            cmd = (["dpdk-testpmd", "--lcores", ",".join(f"{i}@{c}" for i, c in enumerate(lcores))]
                   + eal_common(self.prefix, 512) + devs +
                   ["--", "-i", "--forward-mode=io", f"--nb-cores={len(lcores) - 1}",
                    f"--rxq={len(lcores) - 1}", f"--txq={len(lcores) - 1}",
                    "--total-num-mbufs=16384", "--auto-start"])
            self.p = run.spawn(cmd, f"testpmd-{transport.kind}", ns=ns, stdin=subprocess.PIPE)
        elif kind == "kernel":
            self.start_kernel(dut_cpus)
        else:
            raise RuntimeError(f"unknown DUT {kind}")

    def wait_running(self):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise RuntimeError(f"sluice exited ({self.p.returncode}); see {self.p.logname}")
            with open(self.p.logname) as f:
                if "sluice: running" in f.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"sluice did not start; see {self.p.logname}")

    def start_kernel(self, dut_cpus):
        t, ns, sh = self.transport, self.transport.ns_dut, self.run.sh
        if t.kind != "veth":
            raise RuntimeError("the kernel baseline runs on veth only")
        sh("ip", "addr", "add", "10.255.0.1/30", "dev", t.di, ns=ns)
        sh("ip", "addr", "add", "192.0.2.2/30", "dev", t.do, ns=ns)
        sh("ip", "route", "add", "10.16.0.0/12", "via", "10.255.0.2", ns=ns)
        sh("ip", "route", "add", "default", "via", "192.0.2.1", ns=ns)
        sh("ip", "neigh", "replace", "10.255.0.2", "lladdr", GEN_IN_MAC, "dev", t.di, "nud",
           "permanent", ns=ns)
        sh("ip", "neigh", "replace", "192.0.2.1", "lladdr", GEN_OUT_MAC, "dev", t.do, "nud",
           "permanent", ns=ns)
        sh("nft", "-f", "-", ns=ns, input=f"""
table ip sluice_bench {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{t.do}" masquerade
  }}
}}
""")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
           f"net.ipv4.conf.{t.di}.rp_filter=0", f"net.ipv4.conf.{t.do}.rp_filter=0", ns=ns)
        # The generator numbers TCP segments per frame, not per byte.
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_be_liberal=1", ns=ns)
        # A closed connection leaves the table as soon as in sluice (the
        # tear-down search waits for it): TIME_WAIT and the other closing
        # states, per namespace.
        closing = self.scenario.get("closing_timeout", 120)
        sh("sysctl", "-qw", *(f"net.netfilter.nf_conntrack_tcp_timeout_{state}={closing}"
                              for state in ("fin_wait", "close_wait", "last_ack", "time_wait",
                                            "close")), ns=ns)
        # The table's size is host-wide (writable only outside namespaces):
        # the scenario's for this run, put back on exit.
        if self.scenario["capacity_sessions"]:
            self.run.set_host("/proc/sys/net/netfilter/nf_conntrack_max",
                              self.scenario["capacity_sessions"])
        # Forwarding runs where the frames are received: on the DUT's CPU
        # (RPS), not on the generator's.
        mask = f"{sum(1 << c for c in dut_cpus):x}"
        for dev in (t.di, t.do):
            sh("sh", "-c", f"echo {mask} > /sys/class/net/{dev}/queues/rx-0/rps_cpus", ns=ns)
        with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
            self.capacity = int(f.read())

    def tcp_connections(self):
        """The DUT's TCP connections now (its table), None without a table."""
        if self.kind == "sluice":
            return Telemetry(self.prefix, wait=5).query("/sluice/nat_states")["sessions_tcp"]
        if self.kind == "kernel":
            entries = self.run.sh("cat", "/proc/net/nf_conntrack", ns=self.transport.ns_dut)
            return sum(1 for line in entries.splitlines() if line.split()[2:3] == ["tcp"])
        return None

    def conntrack(self):
        """The kernel's table now: entries, and its counters summed over
        CPUs (/proc/net/stat/nf_conntrack: drop, early_drop, insert_failed)."""
        ns = self.transport.ns_dut
        count = int(self.run.sh("cat", "/proc/sys/net/netfilter/nf_conntrack_count", ns=ns))
        rows = self.run.sh("cat", "/proc/net/stat/nf_conntrack", ns=ns).split("\n")
        names = rows[0].split()
        sums = {n: 0 for n in names}
        for row in rows[1:]:
            for n, v in zip(names, row.split()):
                sums[n] += int(v, 16)
        return {"entries": count, "drop": sums.get("drop", 0),
                "early_drop": sums.get("early_drop", 0),
                "insert_failed": sums.get("insert_failed", 0)}

    def counters(self):
        """The DUT's own counts, for comparison with the generator's."""
        if self.kind != "sluice":
            return None
        tel = Telemetry(self.prefix, wait=5)
        return {"inside": tel.query("/sluice/port,0"), "outside": tel.query("/sluice/port,1"),
                "stats": tel.query("/sluice/stats"), "nat": tel.query("/sluice/nat"),
                "drops": tel.query("/sluice/drops")}

    def stop(self):
        if self.p is None:
            if self.kind == "kernel":
                self.run.sh("nft", "delete", "table", "ip", "sluice_bench",
                            ns=self.transport.ns_dut, check=False)
                for dev in (self.transport.di, self.transport.do):
                    self.run.sh("ip", "addr", "flush", "dev", dev, ns=self.transport.ns_dut,
                                check=False)
                self.run.sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns=self.transport.ns_dut,
                            check=False)
                self.run.put_back()
            return
        if self.kind == "testpmd":
            try:
                self.p.stdin.write("stop\nquit\n")
                self.p.stdin.flush()
                self.p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.run.stop(self.p)


def difference(after, before):
    """after - before, for every number in two dicts of the same shape."""
    if after is None or before is None:
        return None
    if isinstance(after, dict):
        return {k: difference(v, before.get(k)) for k, v in after.items()}
    if isinstance(after, (int, float)) and isinstance(before, (int, float)):
        return after - before
    return after


def dut_lcores(dut_cpus):
    """The DUT's lcores: a control (or main) lcore, then one per worker."""
    return [dut_cpus[0]] + dut_cpus if len(dut_cpus) == 1 else dut_cpus


def dut_tx_queues(kind, dut_cpus):
    """TX queues the DUT opens per port: a memif server must poll exactly the
    rings its client made (one more reads the first ring twice)."""
    if kind == "sluice":
        return len(dut_lcores(dut_cpus))  # one per worker and the control thread's
    if kind == "testpmd":
        return len(dut_lcores(dut_cpus)) - 1  # one per forwarding core
    return 1


def measure(run, scenario, transport, kind, args, gen_cpu, dut_cpus):
    """Everything measured on one DUT; a dict for the report."""
    log = run.log
    res = {"transport": transport.kind, "dut": kind, "steps": []}
    prefix = f"sluice-bench{run.tag}-gen-{transport.kind}"
    run.prefixes.append(prefix)
    eal_ports, name_in, name_out = transport.gen_ports()
    stateless = args.generator == "pktgen"
    if stateless:
        # Pktgen-DPDK: a display lcore and one per port, all on the
        # generator's CPU; its ports 0 and 1 are the inside and outside.
        res["generator_name"] = "Pktgen-DPDK"
        gen = pktgen_dpdk.PktgenDpdk(
            run, ["--lcores", f"0@{gen_cpu},1@{gen_cpu},2@{gen_cpu}"] +
            eal_common(prefix, 1024) + eal_ports, transport.ns_gen, DUT_IN_MAC,
            args.pktgen_link_mbps)
    else:
        gen = Pktgen(run, ["--lcores", f"0@{gen_cpu}"] + eal_common(prefix, 512) + eal_ports,
                     ["--inside", name_in, "--outside", name_out, "--dut-inside-mac", DUT_IN_MAC,
                      "--dut-outside-mac", DUT_OUT_MAC, "--rx-queues",
                      str(dut_tx_queues(kind, dut_cpus))], ns=transport.ns_gen)
    dut = None
    try:
        dut = Dut(run, kind, transport, scenario, dut_cpus)
        res["capacity_configured"] = dut.capacity
        if not gen.cmd("link seconds=20", timeout=30)["up"]:
            raise RuntimeError("the ports' links did not come up")
        time.sleep(0.5)  # sluice's up-delay (200 ms) before a member carries traffic
        clients = method.Clients()
        # The first packets of a fresh DUT can meet an unready path: probe
        # with one session until it answers (10 s at most).
        for _ in range(20):
            if method.open_set(gen, clients, 1, 1, "udp", 100, 0.5)["established"]:
                break
        else:
            raise RuntimeError("no answer through the DUT")
        # Counts from here on: what the DUT's control plane sent while the
        # ports came up (memif drops frames sent before both ends are
        # connected) is not the benchmark's.
        clients.established = 0
        gen_before, dut_before = gen.cmd("counters"), dut.counters()
        for sessions in scenario["steps"]:
            per = scenario["per_client"]
            n_clients = -(-sessions // per)
            log(f"  {sessions:,} sessions: opening ({n_clients} clients x {per})")
            o = method.open_set(gen, clients, n_clients, per, "udp", 50000, 1.0, 5)
            step = {"sessions": n_clients * per, "established": o["established"], "sizes": []}
            if o["failed"]:
                log(f"  {o['failed']} sessions not established")
            for size in scenario["sizes"]:
                if stateless and not size.isdigit():
                    log(f"  {size}: not with Pktgen-DPDK (range mode sends one size at a time)")
                    continue
                log(f"  {sessions:,} sessions, {size} B: throughput")
                row = {"size": size}
                if "fixed_load" in scenario:
                    t = method.Trials(gen, scenario["trial_seconds"], size, log)
                    r = t.run(scenario["fixed_load"])
                    row["fixed"] = r
                else:
                    row.update(method.throughput(
                        gen, scenario["max_load"], scenario["trial_seconds"], size,
                        scenario["repeats"], scenario["precision"], scenario["search_steps"], log))
                    base = row["ndr"]["median"] or row["pdr"]["median"]
                    row["latency_base"] = "ndr" if row["ndr"]["median"] else "pdr"
                    if stateless:
                        step["sizes"].append(row)
                        continue  # no stamps in Pktgen-DPDK's frames here
                    log(f"  latency at {scenario['latency_fractions']} of "
                        f"{row['latency_base'].upper()} {base:,.0f}/s")
                    row["latency"] = method.latency(gen, base, scenario["latency_fractions"],
                                                    scenario["latency_seconds"], size,
                                                    scenario["repeats"], log)
                step["sizes"].append(row)
            res["steps"].append(step)
        if stateless:
            log("  connection rates and table capacity: sluice-pktgen only (TCP handshakes)")
            res["established"] = clients.established
            res["generator"] = difference(gen.cmd("counters"), gen_before)
            res["dut_counters"] = difference(dut.counters(), dut_before)
            return res
        log("  connection establishment rate (TCP)")
        res["connections"] = method.connection_rates(
            gen, clients, scenario["cps_clients"], scenario["per_client"], scenario["cps_max"],
            scenario["cps_steps"], log)
        window = scenario["closing_timeout"] + 3
        log(f"  connection tear-down rate (TCP; the table empty within {window} s)")
        # Sets are opened at half the establishment rate (all establish).
        open_rate = max(1000.0, 0.5 * res["connections"]["establishment_rate"])
        res["teardown"] = method.teardown_rate(
            gen, clients, scenario["cps_clients"], scenario["per_client"], open_rate,
            scenario["cps_max"], scenario["teardown_steps"],
            dut.tcp_connections if kind != "testpmd" else None, window, log)
        # Over veth, af_packet loses more first frames at the fill rate than
        # three retries recover: the table capacity is measured elsewhere.
        if kind == "sluice" and scenario["capacity_sessions"] and transport.kind != "veth":
            log("  connection table capacity")
            res["table"] = method.table_capacity(
                gen, clients, scenario["per_client"], 256, 100000, 2 * dut.capacity, log)
            tel = Telemetry(dut.prefix, wait=5)
            nat = tel.query("/sluice/nat")
            res["table"]["dut_sessions"] = nat.get("sessions")
            res["table"]["dut_capacity"] = nat.get("session_capacity")
            res["table"]["nat_table_full"] = tel.query("/sluice/drops").get("nat_table_full")
        if kind == "kernel" and scenario["capacity_sessions"]:
            # The old system's table beside sluice's: conntrack at the same
            # size. Filled slower than sluice's (veth loses frames at speed);
            # the kernel evicts unassured entries (early drop) before it
            # refuses, so what it holds is the figure.
            log(f"  connection table capacity (nf_conntrack_max {dut.capacity:,})")
            before = dut.conntrack()
            res["table"] = method.table_capacity(
                gen, clients, scenario["per_client"], 256, 20000, int(1.5 * dut.capacity), log,
                held=lambda: dut.conntrack()["entries"])
            after = dut.conntrack()
            res["table"]["dut_capacity"] = dut.capacity
            res["table"]["dut_sessions"] = res["table"]["held_max"]
            res["table"]["conntrack"] = difference(after, before)
            res["table"]["conntrack"]["entries"] = after["entries"]
        res["established"] = clients.established
        res["generator"] = difference(gen.cmd("counters"), gen_before)
        res["dut_counters"] = difference(dut.counters(), dut_before)
    finally:
        gen.quit()
        if dut:
            dut.stop()
    return res


def micro(run, scenario):
    """The pipeline microbenchmark (nat_bench) at 1,032,192 sessions."""
    path = os.path.join(run.out, "nat-micro.json")
    sizes = "1032192" if scenario["trial_seconds"] < 5 else "64512,1032192,4128768"
    run.log(f"microbenchmark: nat_bench --sessions {sizes}")
    with open(os.path.join(run.out, "nat-micro.md"), "w") as f:
        subprocess.run([NAT_BENCH, "--sessions", sizes, "--trials", "5", "--rounds", "1",
                        "--json", path], stdout=f, stderr=subprocess.STDOUT, timeout=900,
                       check=True)
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--out", required=True, help="results folder (made)")
    ap.add_argument("--transports", help="comma-separated: memif,veth,nic")
    ap.add_argument("--duts", help="comma-separated: testpmd,kernel,sluice")
    ap.add_argument("--steps", help="session-scale steps, comma-separated")
    ap.add_argument("--sizes", help="frame sizes: 64,imix,1518")
    ap.add_argument("--trial-seconds", type=float)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--no-micro", action="store_true", help="skip the nat_bench microbenchmark")
    ap.add_argument("--nic", help="GEN_IN,GEN_OUT,DUT_IN,DUT_OUT PCI addresses (transport nic)")
    ap.add_argument("--gen-cpu", type=int, help="the generator's CPU (default: the first)")
    ap.add_argument("--dut-cpus", help="the DUT's CPUs: control first, then one per worker")
    ap.add_argument("--generator", choices=["sluice-pktgen", "pktgen"], default="sluice-pktgen",
                    help="pktgen: drive Pktgen-DPDK (PATH or PKTGEN=/path) for the throughput "
                    "searches; see bench/pktgen_dpdk.py")
    ap.add_argument("--pktgen-link-mbps", type=float,
                    default=float(os.environ.get("PKTGEN_LINK_MBPS", 10000)),
                    help="the link speed Pktgen-DPDK's rate per cent is of (10000)")
    ap.add_argument("--cps-clients", type=int, help="clients per connection-rate set "
                    "(x the scenario's sessions per client)")
    ap.add_argument("--cps-max", type=float, help="the connection searches' first rate, conn/s")
    ap.add_argument("--cps-steps", type=int, help="establishment search steps after the first")
    ap.add_argument("--teardown-steps", type=int, help="tear-down search steps after the first")
    ap.add_argument("--capacity", type=int, help="table capacity sessions (sluice's table "
                    "size floor; the kernel's nf_conntrack_max for the run); 0: not measured")
    args = ap.parse_args()
    if args.generator == "pktgen":
        try:
            pktgen_dpdk.find_binary()
        except RuntimeError as e:
            print(f"bench/harness.py: --generator pktgen: {e}", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        sys.exit("bench/harness.py: must run as root (namespaces, DPDK runtime directories)")

    scenario = dict(SCENARIOS[args.scenario])
    if args.transports:
        scenario["transports"] = args.transports.split(",")
    if args.duts:
        scenario["duts"] = args.duts.split(",")
    if args.steps:
        scenario["steps"] = [int(s) for s in args.steps.split(",")]
    if args.sizes:
        scenario["sizes"] = args.sizes.split(",")
    if args.trial_seconds:
        scenario["trial_seconds"] = scenario["latency_seconds"] = args.trial_seconds
    if args.repeats:
        scenario["repeats"] = args.repeats
    if args.no_micro:
        scenario["micro"] = False
    if args.capacity is not None:
        scenario["capacity_sessions"] = args.capacity
    for key in ("cps_clients", "cps_max", "cps_steps", "teardown_steps"):
        if getattr(args, key) is not None:
            scenario[key] = getattr(args, key)

    os.makedirs(args.out, exist_ok=True)
    run = Run(str(os.getpid()), args.out)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    gen_cpu, dut_cpus = cpus(args)
    result = {"scenario": args.scenario, "settings": scenario, "started": time.time(),
              "generator": args.generator,
              "host": report.host_info(ROOT), "gen_cpu": gen_cpu, "dut_cpus": dut_cpus,
              "runs": [], "errors": []}
    try:
        for kind in scenario["transports"]:
            transport = Transport(run, kind, args)
            for dut in scenario["duts"]:
                if dut == "kernel" and kind != "veth":
                    continue
                run.log(f"{kind}: {dut}")
                try:
                    result["runs"].append(measure(run, scenario, transport, dut, args, gen_cpu,
                                                  dut_cpus))
                except (RuntimeError, KeyError, OSError) as e:
                    run.log(f"{kind}: {dut}: FAILED: {e}")
                    result["errors"].append(f"{kind} {dut}: {e}")
        if scenario["micro"]:
            result["micro"] = micro(run, scenario)
    finally:
        run.cleanup()
        result["finished"] = time.time()
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    report.write(result, args.out)
    run.log(f"report: {os.path.join(args.out, 'report.md')}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
