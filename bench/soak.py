#!/usr/bin/python3
"""The soak (issue 9): the reference deployment's load mix through sluice
for a long run, over memif, with memory and drops watched all along.
bench/run soak [--minutes N] calls it; not part of CI.

sluice-pktgen's `soak` command plays the campus: 20,000 clients x 15
sessions (300,000), every 4th UDP and the rest TCP with real handshakes,
opened at --fill per second; then for --minutes, IMIX data (7:4:1 of
64/594/1518 B) at --load frames/s up on the established sessions in turn,
answered down by the responder, while --churn sessions a second are closed
(TCP: FIN, FIN-ACK, ACK; UDP: left to sluice's timeout) and each slot opens
a new session from its client's next port. sluice keeps its RFC default
timeouts, so closed TCP sessions stay 240 s and abandoned UDP ones 300 s:
the table grows for the first 5 minutes by churn x those timeouts, then
holds steady.

Every --sample seconds it reads sluice's RSS (/proc/PID/status VmRSS), the
DPDK heap (telemetry /eal/heap_info), packet buffers in use (/sluice/stats
mbufs_in_use), sessions (/sluice/nat), and its counters and drops by
reason (/sluice/stats, /sluice/drops). The report (report.md, memory.png,
result.json) gives: unexpected drops by reason (target 0: every drop in
this mix is unexpected; the policer is set above any client's rate), the
generator's own loss, memory over time (first, last, max; target flat once
the table is steady) and every counter at the end.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import report  # noqa: E402
from harness import Telemetry  # noqa: E402

CLIENTS, PER_CLIENT, UDP_EVERY = 20000, 15, 4
# The longest idle timeout of a session the soak leaves behind (UDP, 300 s):
# after it (and the fill) the table is steady and memory should be flat.
STEADY_AFTER = 300


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mempools(stats):
    """Buffers in use in sluice's packet pool (/sluice/stats; DPDK 22.11's
    /mempool/info gives sizes only)."""
    if "mbufs_in_use" not in stats:
        raise ValueError("/sluice/stats has no mbufs_in_use: mbufs in use not sampled")
    return {"sluice": {"size": stats["mbufs"], "in_use": stats["mbufs_in_use"]}}


def heap(tel):
    total = {}
    ids = tel.query("/eal/heap_list")
    for heap_id in ids.get("Heap_id", [0]) if isinstance(ids, dict) else ids:
        info = tel.query(f"/eal/heap_info,{heap_id}")
        for k in ("Heap_size", "Alloc_size", "Free_size", "Alloc_count"):
            total[k] = total.get(k, 0) + int(info.get(k, 0))
    return total


class Sampler(threading.Thread):
    """Reads sluice every `every` seconds until stopped; one sample a dict."""

    def __init__(self, prefix, pid, gen_pid, every, log):
        super().__init__(daemon=True)
        self.prefix, self.pid, self.gen_pid, self.every, self.log = prefix, pid, gen_pid, every, log
        self.samples, self.errors = [], []
        self.phase = "fill"
        self.stop_event = threading.Event()
        self.start_time = time.monotonic()

    def sample(self):
        tel = Telemetry(self.prefix, wait=2)
        try:
            s = {"t": round(time.monotonic() - self.start_time, 2), "phase": self.phase,
                 "rss_kb": rss_kb(self.pid), "generator_rss_kb": rss_kb(self.gen_pid),
                 "nat": tel.query("/sluice/nat"), "stats": tel.query("/sluice/stats"),
                 "drops": tel.query("/sluice/drops")}
            try:
                s["heap"] = heap(tel)
            except (ValueError, OSError, AttributeError, TypeError) as e:
                s["heap"] = None
                self.note(f"heap: {e}")
            try:
                s["mempools"] = mempools(s["stats"])
            except (ValueError, OSError, AttributeError, TypeError) as e:
                s["mempools"] = None
                self.note(f"mempools: {e}")
            return s
        finally:
            tel.close()

    def note(self, text):
        if text not in self.errors:
            self.errors.append(text)
            self.log(f"  sampler: {text}")

    def run(self):
        while not self.stop_event.is_set():
            try:
                s = self.sample()
                self.samples.append(s)
                self.log(f"  t={s['t']:6.0f}s {s['phase']}: sessions {s['nat'].get('sessions', 0):,}"
                         f", RSS {s['rss_kb'] / 1024:.1f} MiB, dropped "
                         f"{s['stats'].get('dropped', 0):,}")
            except (ValueError, OSError, KeyError) as e:
                self.note(str(e))
            self.stop_event.wait(self.every)

    def stop(self):
        self.stop_event.set()
        self.join(30)
        try:
            self.samples.append(self.sample())  # the end
        except (ValueError, OSError, KeyError) as e:
            self.note(str(e))


def soak(run, args):
    scenario = dict(harness.SCENARIOS["smoke"])
    sessions = CLIENTS * PER_CLIENT
    # Room for the live sessions and those closed or abandoned but not yet
    # timed out (churn x 240-300 s), with margin.
    capacity = int(1.3 * (sessions + args.churn * STEADY_AFTER))
    scenario.update(dut_sessions=capacity, closing_timeout=240, capacity_sessions=0)
    transport = harness.Transport(run, "memif", args)
    gen_cpu, dut_cpus = harness.cpus(args)
    prefix = f"sluice-bench{run.tag}-gen-memif"
    run.prefixes.append(prefix)
    eal_ports, name_in, name_out = transport.gen_ports()
    gen = harness.Pktgen(
        run, ["--lcores", f"0@{gen_cpu}"] + harness.eal_common(prefix, 512) + eal_ports,
        ["--inside", name_in, "--outside", name_out, "--dut-inside-mac", harness.DUT_IN_MAC,
         "--dut-outside-mac", harness.DUT_OUT_MAC, "--rx-queues",
         str(harness.dut_tx_queues("sluice", dut_cpus))])
    res = {"sessions": sessions, "clients": CLIENTS, "per_client": PER_CLIENT,
           "udp_share": 1 / UDP_EVERY, "load": args.load, "churn": args.churn,
           "fill": args.fill, "minutes": args.minutes, "sample_seconds": args.sample,
           "dut_capacity": capacity, "gen_cpu": gen_cpu, "dut_cpus": dut_cpus}
    dut = sampler = None
    try:
        dut = harness.Dut(run, "sluice", transport, scenario, dut_cpus)
        if not gen.cmd("link seconds=20", timeout=30)["up"]:
            raise RuntimeError("the ports' links did not come up")
        time.sleep(0.5)
        clients = harness.method.Clients()
        for _ in range(20):
            if harness.method.open_set(gen, clients, 1, 1, "udp", 100, 0.5)["established"]:
                break
        else:
            raise RuntimeError("no answer through sluice")
        res["dut_before"] = dut.counters()
        sampler = Sampler(dut.prefix, dut.p.pid, gen.p.pid, args.sample, run.log)
        sampler.start()
        seconds = args.minutes * 60
        run.log(f"soak: {sessions:,} sessions ({CLIENTS:,} clients x {PER_CLIENT}, 1 in "
                f"{UDP_EVERY} UDP) filled at {args.fill:,.0f}/s, then {args.minutes:g} min of "
                f"IMIX at {args.load:,.0f} frames/s up and {args.churn:,.0f} sessions/s churn")
        # The fill's end is not known here: the generator says in its reply;
        # the samples are marked "run" from the expected end of the fill.
        fill_guess = sessions / args.fill + 2

        def mark_run():
            if not sampler.stop_event.wait(fill_guess):
                sampler.phase = "run"
        threading.Thread(target=mark_run, daemon=True).start()
        res["generator"] = gen.cmd(
            f"soak first={clients.next} clients={CLIENTS} per={PER_CLIENT} udp={UDP_EVERY} "
            f"fill={args.fill:.0f} load={args.load:.0f} churn={args.churn:.0f} "
            f"seconds={seconds:.0f} timeout=2", timeout=seconds + 4 * sessions / args.fill + 120)
        sampler.stop()
        res["samples"], res["sampler_errors"] = sampler.samples, sampler.errors
        res["dut_after"] = dut.counters()
        res["dut"] = harness.difference(res["dut_after"], res["dut_before"])
        res["nat_states"] = Telemetry(dut.prefix, wait=5).query("/sluice/nat_states")
    finally:
        if sampler and sampler.is_alive():
            sampler.stop()
            res.setdefault("samples", sampler.samples)
        gen.quit()
        if dut:
            dut.stop()
    return res


def figures(res):
    """The summary: drops, generator loss, memory first/last/max."""
    g = res["generator"]
    samples = [s for s in res["samples"] if s.get("rss_kb")]
    run_samples = [s for s in samples if s["phase"] == "run"] or samples
    steady = [s for s in run_samples
              if s["t"] >= res["generator"]["fill_seconds"] + STEADY_AFTER]
    drops = {k: v for k, v in res["dut"]["drops"].items() if isinstance(v, int) and v}

    def series(key):
        vals = [key(s) for s in run_samples if key(s) is not None]
        return {"first": vals[0], "last": vals[-1], "max": max(vals)} if vals else None

    def heap_alloc(s):
        return s["heap"]["Alloc_size"] if s.get("heap") else None

    def mbufs(s):
        return sum(p["in_use"] for p in s["mempools"].values()) if s.get("mempools") else None

    f = {"unexpected_drops": drops, "unexpected_drops_total": sum(drops.values()),
         "loss_up": g["tx_up"] - g["rx_up"], "loss_down": g["tx_down"] - g["rx_down"],
         "rss_kb": series(lambda s: s["rss_kb"]), "heap_alloc": series(heap_alloc),
         "mbufs_in_use": series(mbufs),
         "sessions": series(lambda s: s["nat"].get("sessions")),
         "steady_samples": len(steady)}
    if len(steady) >= 2:
        growth = steady[-1]["rss_kb"] - steady[0]["rss_kb"]
        minutes = (steady[-1]["t"] - steady[0]["t"]) / 60
        f["steady_rss_growth_kb_per_min"] = growth / minutes if minutes else 0
    return f


def plot(res, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    samples = [s for s in res["samples"] if s.get("rss_kb")]
    if not samples:
        return None
    t = [s["t"] for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    axes[0].plot(t, [s["rss_kb"] / 1024 for s in samples], label="sluice RSS")
    if all(s.get("heap") for s in samples):
        axes[0].plot(t, [s["heap"]["Alloc_size"] / 2**20 for s in samples],
                     label="DPDK heap allocated")
    axes[0].set_ylabel("MiB")
    axes[0].legend(fontsize=7)
    axes[0].set_title("sluice soak: memory, sessions and drops over time")
    axes[1].plot(t, [s["nat"].get("sessions", 0) for s in samples], label="sessions")
    if all(s.get("mempools") for s in samples):
        axes[1].plot(t, [sum(p["in_use"] for p in s["mempools"].values()) for s in samples],
                     label="mbufs in use")
    axes[1].legend(fontsize=7)
    first_drops = samples[0]["stats"].get("dropped", 0)
    axes[2].plot(t, [s["stats"].get("dropped", 0) - first_drops for s in samples],
                 label="dropped (all reasons)")
    axes[2].set_ylabel("since the first sample")
    axes[2].set_xlabel("seconds")
    axes[2].legend(fontsize=7)
    fill_end = res["generator"]["fill_seconds"]
    for ax in axes:
        ax.axvline(samples[0]["t"] + fill_end, color="grey", linestyle=":", linewidth=1)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "memory.png"), dpi=100)
    plt.close(fig)
    return "memory.png"


def flat_dict(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat_dict(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def write(result, out):
    res = result.get("soak")
    h = result["host"]
    lines = ["# sluice soak", "",
             f"Host {h['hostname']}: {h['cpu']}, {h['cpus']} CPUs, kernel {h['kernel']}, DPDK "
             f"{h['dpdk']}, sluice {h['commit']}; load average at start {h['load']}. "
             f"{(result['finished'] - result['started']) / 60:.1f} minutes in all.", ""]
    if result["errors"]:
        lines += ["**Errors:**", ""] + [f"- {e}" for e in result["errors"]] + [""]
    if not res or "generator" not in res:
        with open(os.path.join(out, "report.md"), "w") as f:
            f.write("\n".join(lines + ["No result."]))
        return
    g, f = res["generator"], figures(res)
    mib = (lambda v: f"{v / 1024:.1f} MiB")
    rss = f["rss_kb"]
    lines += [
        f"memif, sluice's cgnat pipeline (one worker), sluice-pktgen: {res['sessions']:,} "
        f"sessions ({res['clients']:,} clients x {res['per_client']}, 1 in "
        f"{round(1 / res['udp_share'])} UDP, the rest TCP), filled at {res['fill']:,.0f}/s in "
        f"{g['fill_seconds']:.1f} s ({g['fill_established']:,} established); then "
        f"{g['seconds']:.0f} s of IMIX at {res['load']:,.0f} frames/s up (answered down) and "
        f"{res['churn']:,.0f} sessions/s churn. Samples every {res['sample_seconds']:g} s.", "",
        "## Targets", "", "| target | result | met |", "|---|---|---|",
        f"| no unexpected drops in sluice | {f['unexpected_drops_total']:,}"
        + (" (" + ", ".join(f"{k} {v:,}" for k, v in f["unexpected_drops"].items()) + ")"
           if f["unexpected_drops"] else "") + f" | {'yes' if not f['unexpected_drops_total'] else 'no'} |",
        f"| no frame lost between generator and responder | up {f['loss_up']:,} of "
        f"{g['tx_up']:,} ({g['inside_tx_refused']:,} of them refused by memif: sluice's "
        f"inside RX ring full), down {f['loss_down']:,} of {g['tx_down']:,} "
        f"({g['outside_tx_refused']:,} refused) | "
        f"{'yes' if f['loss_up'] == 0 and f['loss_down'] == 0 else 'no'} |"]
    if "steady_rss_growth_kb_per_min" in f:
        growth = f["steady_rss_growth_kb_per_min"]
        lines.append(f"| memory flat once the table is steady (after fill + {STEADY_AFTER} s) | "
                     f"RSS {growth:+,.0f} KiB/min over {f['steady_samples']} samples | "
                     f"{'yes' if abs(growth) < 1024 else 'no'} |")
    else:
        lines.append(f"| memory flat once the table is steady (after fill + {STEADY_AFTER} s) | "
                     "not judged: the run ended before the table was steady | - |")
    lines += ["", "## Memory and sessions (run phase)", "",
              "| what | first | last | max |", "|---|---|---|---|"]
    if rss:
        lines.append(f"| sluice RSS (VmRSS) | {mib(rss['first'])} | {mib(rss['last'])} | "
                     f"{mib(rss['max'])} |")
    if f["heap_alloc"]:
        ha = f["heap_alloc"]
        lines.append(f"| DPDK heap allocated | {ha['first'] / 2**20:.1f} MiB | "
                     f"{ha['last'] / 2**20:.1f} MiB | {ha['max'] / 2**20:.1f} MiB |")
    if f["mbufs_in_use"]:
        mb = f["mbufs_in_use"]
        lines.append(f"| mbufs in use (all pools) | {mb['first']:,} | {mb['last']:,} | "
                     f"{mb['max']:,} |")
    else:
        lines.append("| mbufs in use | not exposed (see the sampler notes) | | |")
    if f["sessions"]:
        se = f["sessions"]
        lines.append(f"| sessions in sluice | {se['first']:,} | {se['last']:,} | {se['max']:,} |")
    lines += ["", "The table grows by churn x the timeouts of closed TCP (240 s) and abandoned UDP "
              f"(300 s) sessions until {STEADY_AFTER} s after the fill; with --no-huge, DPDK's "
              "memory is touched (and counted in RSS) as the table fills. Memory is judged flat "
              "only over samples after that.", ""]
    lines += ["## The generator", "", "| counter | value |", "|---|---|"]
    for k in ("sessions", "fill_established", "established_at_end", "opened", "established",
              "close_started", "closed", "stuck_opening", "stuck_closing", "tx_up", "rx_up",
              "tx_down", "rx_down", "old_gen", "stale", "foreign", "ignored", "no_mbuf",
              "data_skipped", "inside_tx_refused", "outside_tx_refused"):
        lines.append(f"| {k} | {g.get(k, 0):,} |")
    lines += ["", "stuck_opening / stuck_closing: slots due for churn whose open or close "
              "never completed (a lost handshake frame); old_gen: answers to a slot's previous "
              "session, received (counted in rx_down).", ""]
    lines += ["## sluice's counters at the end (since the soak began)", "",
              "| counter | value |", "|---|---|"]
    for k, v in flat_dict(res["dut"]):
        if isinstance(v, (int, float)) and v:
            lines.append(f"| {k} | {v:,} |")
    lines += ["", "Counters that stayed 0 are left out; all of them are in result.json "
              "(dut_after, and every sample).", ""]
    if res.get("nat_states"):
        lines += ["TCP sessions by state at the end: " + ", ".join(
            f"{k} {v:,}" for k, v in res["nat_states"].items() if v), ""]
    if res.get("sampler_errors"):
        lines += ["Sampler notes: " + "; ".join(res["sampler_errors"]), ""]
    try:
        p = plot(res, out)
        if p:
            lines += [f"![{p}]({p})", ""]
    except ImportError:
        lines += ["(no plot: python3-matplotlib is not installed)", ""]
    lines += ["Raw figures: result.json; the run's log: harness.log; each process's output: "
              "*.log.", ""]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="results folder (made)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the run (10)")
    ap.add_argument("--load", type=float, default=100000,
                    help="data frames per second up, answered down (100000)")
    ap.add_argument("--churn", type=float, default=200,
                    help="sessions closed and opened anew per second (200)")
    ap.add_argument("--fill", type=float, default=50000, help="sessions opened per second at "
                    "the start (50000)")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between samples (5)")
    ap.add_argument("--gen-cpu", type=int, help="the generator's CPU (default: the first)")
    ap.add_argument("--dut-cpus", help="sluice's CPUs: control first, then one per worker")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/soak.py: must run as root (DPDK runtime directories)")
    if not 0 < args.minutes <= 24 * 60:
        sys.exit("bench/soak.py: --minutes must be in (0, 1440]")
    os.makedirs(args.out, exist_ok=True)
    run = harness.Run(str(os.getpid()), args.out)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = {"scenario": "soak", "started": time.time(), "host": report.host_info(harness.ROOT),
              "errors": []}
    try:
        result["soak"] = soak(run, args)
    except (RuntimeError, KeyError, OSError, ValueError) as e:
        run.log(f"soak: FAILED: {e}")
        result["errors"].append(str(e))
    finally:
        run.cleanup()
        result["finished"] = time.time()
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    write(result, args.out)
    run.log(f"report: {os.path.join(args.out, 'report.md')}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
