"""Writes the harness's report: report.md (tables), PNG plots and the raw
result.json beside them. Every figure is a median of repeated trials with
its min and max, and its ratio to the baseline measured in the same run on
the same transport with the same generator (dpdk-testpmd io forwarding).
"""

import os
import platform
import subprocess

TARGETS = {
    "cycles": 150,  # whole cgnat pipeline, established path, 1M sessions
    "cycles_vs_io": 3.0,
    "new_sessions": 4e6,  # per second per worker
    "memif_ndr_vs_testpmd": 0.5,
}
WIRE_OVERHEAD = 20  # preamble and inter-frame gap, bytes per frame on Ethernet
IMIX_AVERAGE = (7 * 64 + 4 * 594 + 1518) / 12


def host_info(root):
    def out(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                                  timeout=10).stdout.strip()
        except OSError:
            return ""
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"hostname": platform.node(), "kernel": platform.release(), "cpu": model,
            "cpus": os.cpu_count(), "load": load, "commit": out("git", "rev-parse", "--short",
                                                                   "HEAD"),
            "dpdk": out("pkg-config", "--modversion", "libdpdk")}


def frame_bytes(size):
    return IMIX_AVERAGE if size == "imix" else int(size)


def gbps(pps, size):
    return pps * (frame_bytes(size) + WIRE_OVERHEAD) * 8 / 1e9


def fmt_rate(s, scale=1e6):
    if not s:
        return "-"
    return f"{s['median'] / scale:.3f} ({s['min'] / scale:.3f}-{s['max'] / scale:.3f})"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def find(result, transport, dut):
    for r in result["runs"]:
        if r["transport"] == transport and r["dut"] == dut:
            return r
    return None


def size_rows(run):
    for step in run["steps"]:
        for row in step["sizes"]:
            yield step, row


def baseline_of(result, run, step, row, key):
    base = find(result, run["transport"], "testpmd")
    if base is None:
        return None
    for bstep, brow in size_rows(base):
        if bstep["sessions"] == step["sessions"] and brow["size"] == row["size"] and key in brow:
            return brow[key]["median"]
    return None


def micro_figures(micro):
    """cgnat (policed) cycles per packet at 1M sessions, io, new sessions/s."""
    if not micro:
        return None
    sizes = [s for s in micro["sizes"] if not s.get("error")]
    if not sizes:
        return None
    size = min(sizes, key=lambda s: abs(s["sessions"] - 1032192))
    est = {v["traffic"]: v for v in size["established"]}
    u = est["in2out uniform"]
    new = size["new_session_cycles"]["median"]
    return {"sessions": size["sessions"], "cgnat": u["policed"], "io": u["io"],
            "out2in": est["out2in uniform"]["policed"],
            "new_cycles": size["new_session_cycles"],
            "new_per_second": micro["tsc_ghz"] * 1e9 / new if new else 0,
            "bytes_per_session": size["bytes_per_session"]}


def targets(result):
    rows = []
    m = micro_figures(result.get("micro"))
    if m:
        c, io = m["cgnat"]["median"], m["io"]["median"]
        rows.append((f"whole cgnat pipeline, established, {m['sessions']:,} sessions, "
                     f"in2out uniform: <= {TARGETS['cycles']} cycles/packet",
                     f"{c:.0f} ({m['cgnat']['min']:.0f}-{m['cgnat']['max']:.0f})",
                     c <= TARGETS["cycles"]))
        rows.append((f"... and <= {TARGETS['cycles_vs_io']:.0f}x io forwarding in the same run",
                     f"{c / io:.2f}x (io {io:.0f})", c / io <= TARGETS["cycles_vs_io"]))
        rows.append((f"new sessions >= {TARGETS['new_sessions'] / 1e6:.0f} M/s per worker",
                     f"{m['new_per_second'] / 1e6:.2f} M/s ({m['new_cycles']['median']:.0f} "
                     "cycles each)", m["new_per_second"] >= TARGETS["new_sessions"]))
    s, t = find(result, "memif", "sluice"), find(result, "memif", "testpmd")
    if s and t and s["steps"] and t["steps"] and "ndr" in s["steps"][0]["sizes"][0]:
        sn = s["steps"][0]["sizes"][0]["ndr"]["median"]
        tn = t["steps"][0]["sizes"][0]["ndr"]["median"]
        rows.append(("memif: sluice cgnat NDR >= 50 % of testpmd io NDR",
                     f"{sn / 1e6:.3f} / {tn / 1e6:.3f} Mpps = {100 * sn / tn:.0f} %"
                     if tn else "testpmd NDR 0", bool(tn) and
                     sn / tn >= TARGETS["memif_ndr_vs_testpmd"]))
    reps = result["settings"].get("repeats", 1)
    rows.append(("every figure a median of repeated trials, min and max shown",
                 f"{reps} repeats" + (", see the spreads below" if reps > 1 else ""), reps > 1))
    return rows


def plot_throughput(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    bars = []
    for r in result["runs"]:
        for step, row in size_rows(r):
            for key in ("ndr", "pdr"):
                if key in row:
                    bars.append((f"{r['transport']}\n{r['dut']}\n{row['size']} B\n{key.upper()}",
                                 row[key]))
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars)), 4.5))
    med = [b[1]["median"] / 1e6 for b in bars]
    err = [[m - b[1]["min"] / 1e6 for m, b in zip(med, bars)],
           [b[1]["max"] / 1e6 - m for m, b in zip(med, bars)]]
    ax.bar(range(len(bars)), med, yerr=err, capsize=4,
           color=["#4c72b0" if "NDR" in b[0] else "#dd8452" for b in bars])
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=7)
    ax.set_ylabel("Mpps, both directions (median, min-max)")
    ax.set_title("Throughput: NDR (0 loss) and PDR (0.5 % loss)")
    fig.tight_layout()
    path = os.path.join(out, "throughput.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return "throughput.png"


def plot_latency(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = []
    for r in result["runs"]:
        for step, row in size_rows(r):
            for lat in row.get("latency", []):
                series.append((f"{r['transport']} {r['dut']} {int(100 * lat['fraction'])} %",
                               [lat[f"up_{q}"]["median"] / 1000
                                for q in ("p50", "p90", "p99", "p99_9", "max")]))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, values in series:
        ax.plot(["p50", "p90", "p99", "p99.9", "max"], values, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_ylabel("one-way latency in to out, µs (median of trials)")
    ax.set_title("Latency at fractions of NDR")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=100)
    plt.close(fig)
    return "latency.png"


def plot_search(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    any_trial = False
    for r in result["runs"]:
        for step, row in size_rows(r):
            trials = row.get("trials", []) + ([row["fixed"]] if "fixed" in row else [])
            if trials:
                any_trial = True
                ax.scatter([t["offered"] / 1e6 for t in trials],
                           [max(t["loss"], 1e-6) * 100 for t in trials], s=12,
                           label=f"{r['transport']} {r['dut']} {row['size']} B")
    if not any_trial:
        plt.close(fig)
        return None
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load, Mpps both directions")
    ax.set_ylabel("loss, % (1e-4 % = none)")
    ax.set_title("Every search trial")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "trials.png"), dpi=100)
    plt.close(fig)
    return "trials.png"


def counts_table(run):
    """Generator counts beside sluice's, port by port."""
    g, d = run.get("generator"), run.get("dut_counters")
    if not g or not d:
        return []
    pairs = [
        ("frames into sluice's inside port", g["inside_tx"] - g["inside_tx_refused"],
         d["inside"]["rx_packets"]),
        ("frames out of sluice's outside port", g["outside_rx"], d["outside"]["tx_packets"]),
        ("frames into sluice's outside port", g["outside_tx"] - g["outside_tx_refused"],
         d["outside"]["rx_packets"]),
        ("frames out of sluice's inside port", g["inside_rx"], d["inside"]["tx_packets"]),
    ]
    # Over veth the kernel sits between the two and may drop under overload
    # (af_packet rings, the veth backlog): there only a shortfall downstream
    # is expected. Over memif nothing is between: they must agree.
    def agree(sent, got):
        if sent == got:
            return "yes"
        if run["transport"] == "veth" and got < sent:
            return f"{sent - got:,} lost in the kernel between"
        return "NO"
    # Rows 1 and 3: the generator sent; rows 2 and 4: sluice sent.
    return [f"| {what} | {a:,} | {b:,} | {agree(a, b) if k % 2 == 0 else agree(b, a)} |"
            for k, (what, a, b) in enumerate(pairs)]


def write(result, out):
    lines = []
    h = result["host"]
    s = result["settings"]
    lines += [f"# sluice benchmark: {result['scenario']}", "",
              f"Host {h['hostname']}: {h['cpu']}, {h['cpus']} CPUs, kernel {h['kernel']}, DPDK "
              f"{h['dpdk']}, sluice {h['commit']}; load average at start {h['load']}. "
              f"Generator on CPU {result['gen_cpu']}, DUT on CPU(s) "
              f"{','.join(map(str, result['dut_cpus']))}. "
              f"{(result['finished'] - result['started']) / 60:.1f} minutes.", ""]
    if result["errors"]:
        lines += ["**Errors:**", ""] + [f"- {e}" for e in result["errors"]] + [""]
    lines += ["## Targets", "", "| target | result | met |", "|---|---|---|"]
    lines += [f"| {what} | {got} | {'yes' if ok else 'no'} |" for what, got, ok in targets(result)]
    lines += [""]

    if result.get("generator") == "pktgen":
        lines += ["Generator: **Pktgen-DPDK** (bench/pktgen_dpdk.py): stateless, one direction "
                  "(inside to outside), UDP only; throughput only (no latency, connection "
                  "rates or table capacity). Its load is frames per second up.", ""]
    lines += ["## Throughput", "",
              f"Bidirectional, {s['trial_seconds']:g}-s trials; Mpps in both directions, median "
              f"(min-max) of {s.get('repeats', 1)} searches; Gbit/s on the wire (with preamble "
              "and gap); ratio to dpdk-testpmd io forwarding on the same transport.", "",
              "| transport | DUT | sessions | frame | NDR Mpps | Gbit/s | vs testpmd | PDR Mpps "
              "| vs testpmd | generator max Mpps |", "|---|---|---|---|---|---|---|---|---|---|"]
    fixed = []
    for r in result["runs"]:
        for step, row in size_rows(r):
            if "fixed" in row:
                fixed.append((r, step, row["fixed"]))
                continue
            ndr, pdr = row["ndr"], row["pdr"]
            lines.append(
                f"| {r['transport']} | {r['dut']} | {step['sessions']:,} | {row['size']} | "
                f"{fmt_rate(ndr)} | {gbps(ndr['median'], row['size']):.2f} | "
                f"{ratio(ndr['median'], baseline_of(result, r, step, row, 'ndr'))} | "
                f"{fmt_rate(pdr)} | "
                f"{ratio(pdr['median'], baseline_of(result, r, step, row, 'pdr'))} | "
                f"{row['generator_max'] / 1e6:.3f} |")
    if fixed:
        lines += ["", "Fixed-load trials (no search):", "",
                  "| transport | DUT | sessions | load/s | sent | received | loss | reordered |",
                  "|---|---|---|---|---|---|---|---|"]
        for r, step, t in fixed:
            lines.append(f"| {r['transport']} | {r['dut']} | {step['sessions']:,} | "
                         f"{t['load']:,.0f} | {t['tx_up'] + t['tx_down']:,} | "
                         f"{t['rx_up'] + t['rx_down']:,} | {100 * t['loss']:.3f} % | "
                         f"{t['reordered_up'] + t['reordered_down']} |")
    lines += [""]

    lat_rows = []
    for r in result["runs"]:
        for step, row in size_rows(r):
            for lat in row.get("latency", []):
                cells = " | ".join(f"{lat[f'up_{q}']['median'] / 1000:.1f} / "
                                   f"{lat[f'down_{q}']['median'] / 1000:.1f}"
                                   for q in ("p50", "p90", "p99", "p99_9", "max"))
                lat_rows.append(f"| {r['transport']} | {r['dut']} | {row['size']} | "
                                f"{int(100 * lat['fraction'])} % {row['latency_base'].upper()} "
                                f"({lat['load'] / 1e6:.3f} Mpps) | {cells} |")
    if lat_rows:
        lines += ["## Latency", "",
                  "One-way through the DUT, µs, inside to outside / outside to inside; median of "
                  "the trials' percentiles.", "",
                  "| transport | DUT | frame | load | p50 | p90 | p99 | p99.9 | max |",
                  "|---|---|---|---|---|---|---|---|---|"] + lat_rows + [""]

    closing = s.get("closing_timeout", 2)
    lines += ["## Stateful metrics (RFC 9693)", "",
              "Connection establishment rate: the highest offered rate of new TCP connections "
              "(SYN, SYN-ACK, ACK through the DUT) at which every connection of a trial "
              f"({s['cps_clients']} clients x {s['per_client']}) was established. Tear-down "
              "rate: its own search on the close rate; each trial opens a fresh set (at half "
              "the establishment rate, with retries) and closes it (FIN, FIN-ACK, ACK) at the "
              "trial's rate; it passes when every close completed and the DUT's TCP table was "
              f"back to its size before the set within {closing + 3} s (both DUTs keep a "
              f"closed connection {closing} s here: sluice's tcp-transitory-timeout, the "
              "kernel's TIME_WAIT and other closing timeouts; testpmd has no table). Table "
              "capacity: UDP sessions opened set after set until the DUT refused some; the "
              "kernel's at the same nf_conntrack_max, set for the run.", "",
              "| transport | DUT | establishment conn/s | vs testpmd | tear-down conn/s | "
              "vs testpmd | tear-down trials | table capacity |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        c = r.get("connections")
        if not c:
            continue
        base = find(result, r["transport"], "testpmd")
        bc = base.get("connections") if base else None
        td = r.get("teardown") or {}
        btd = (base.get("teardown") or {}) if base else {}
        td_rate = td.get("teardown_rate")
        td_trials = td.get("trials", [])
        td_cell = (f"{sum(t['passed'] for t in td_trials)} of {len(td_trials)} passed"
                   if td_trials else "-")
        failed = [t for t in td_trials if not t["passed"]]
        if td_trials and not failed:
            td_cell += " (no failure: at least this; the generator's rate)"
        if failed:
            f = min(failed, key=lambda t: t["close_rate"])
            td_cell += (f"; lowest fail {f['close_rate']:,.0f}/s: {f['close_failed']} unclosed"
                        + (f", {f['table_left']} left in the table"
                           if f["table_left"] else ""))
        if r.get("table") and r["dut"] == "kernel":
            t = r["table"]
            ct = t.get("conntrack", {})
            cap = (f"{t['held_max']:,} entries held at most (nf_conntrack_max "
                   f"{t['dut_capacity']:,}) after {t['sessions']:,} sessions opened; "
                   f"{ct.get('early_drop', 0):,} evicted early, {ct.get('drop', 0):,} dropped, "
                   f"{t['refused']:,} unanswered in the last set")
        elif r.get("table"):
            t = r["table"]
            if t["reached"] and t["nat_table_full"]:
                cap = (f"{t['dut_sessions']:,} sessions held when refused (configured "
                       f"{t['dut_capacity']:,}; nat-table-full {t['nat_table_full']:,})")
            elif t["reached"]:
                cap = (f"not reached: {t['refused']:,} sessions unanswered after retries at "
                       f"{t['dut_sessions']:,}, none refused by the table (lost frames)")
            else:
                cap = f"not reached at {t['sessions']:,}"
        elif r["dut"] == "kernel":
            cap = f"not measured (nf_conntrack_max {r.get('capacity_configured', 0):,}, host-wide)"
        else:
            cap = "-"
        td_text = f"{td_rate:,.0f}" if td_rate is not None else "-"
        lines.append(f"| {r['transport']} | {r['dut']} | {c['establishment_rate']:,.0f} | "
                     f"{ratio(c['establishment_rate'], bc and bc['establishment_rate'])} | "
                     f"{td_text} | {ratio(td_rate, btd.get('teardown_rate'))} | {td_cell} | "
                     f"{cap} |")
    lines += [""]

    m = micro_figures(result.get("micro"))
    if m:
        lines += ["## Pipeline microbenchmark (nat_bench, no I/O)", "",
                  f"{m['sessions']:,} sessions, one worker, synthetic 64-byte frames; cycles per "
                  "packet, median (min-max) of 5 trials. Full table: nat-micro.md.", "",
                  "| path | cycles/packet | vs io |", "|---|---|---|",
                  f"| io (alloc, copy, TX to net_null) | {m['io']['median']:.0f} | 1.00 |",
                  f"| cgnat with policing, in2out uniform | {m['cgnat']['median']:.0f} "
                  f"({m['cgnat']['min']:.0f}-{m['cgnat']['max']:.0f}) | "
                  f"{m['cgnat']['median'] / m['io']['median']:.2f} |",
                  f"| cgnat with policing, out2in uniform | {m['out2in']['median']:.0f} | "
                  f"{m['out2in']['median'] / m['io']['median']:.2f} |",
                  f"| new session | {m['new_cycles']['median']:.0f} | |",
                  "", f"Bytes per session: {m['bytes_per_session']:.0f}.", ""]

    count_lines = []
    for r in result["runs"]:
        rows = counts_table(r)
        if rows:
            count_lines += [f"{r['transport']}:", "", "| what | generator | sluice | agree |",
                            "|---|---|---|---|"] + rows + [""]
    if count_lines:
        lines += ["## Counts: generator and sluice", ""] + count_lines

    plots = []
    try:
        plots = [p for p in (plot_throughput(result, out), plot_latency(result, out),
                             plot_search(result, out)) if p]
    except ImportError:
        lines += ["(no plots: python3-matplotlib is not installed)", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["Raw figures: result.json; the run's log: harness.log; each process's output: "
              "*.log.", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
