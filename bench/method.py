"""The measurement methods of the harness, on a running sluice-pktgen.

Throughput (RFC 2544 26.1, CSIT MLRsearch style): trials of fixed length at
an offered load, bidirectional (the load is frames per second in all: half
sent up by the clients, the other half the responder's answers; with
Pktgen-DPDK, which has no responder, all of it up). A trial
passes a criterion when its loss ratio, (sent - received) / sent over both
directions, is at most the criterion's: 0 for NDR (no drop rate), 0.5 % for
PDR (partial drop rate). The search starts with one trial at the largest
load asked for (the generator sends what it can), whose forwarding rate is
the first candidate, then halves the interval between the highest load that
passed and the lowest that failed, reusing every trial already made, until
the interval is within `precision` of its top or the trials run out. The
result is the highest load that passed. A trial the generator could not
offer at its load (its own CPU) counts at the load it did offer.

Latency: trials at fractions of the NDR (or of the PDR where the NDR is 0),
one-way per direction, percentiles from the generator's histograms.

RFC 9693 stateful metrics: connection establishment rate (the highest rate
of new TCP connections, real three-way handshakes, at which every
connection of a trial is established), connection tear-down rate (its own
binary search on the close rate: each trial opens a fresh set of
connections at a rate they all establish at, then closes them at the
trial's rate; it passes when every close completed, FIN/FIN-ACK/ACK through
the device, and the device's TCP table is back to its size before the set
within the trial's window) and the connection table capacity (UDP sessions
opened set after set until the device refuses some).
"""

import statistics
import time


def summary(values):
    """Median, min and max of repeated figures."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


class Trials:
    """Runs trials on one generator and one session set, keeping them all."""

    def __init__(self, gen, seconds, size, log):
        self.gen = gen
        self.seconds = seconds
        self.size = size
        self.log = log
        self.all = []

    def run(self, load, seconds=None):
        secs = seconds or self.seconds
        r = self.gen.cmd(f"trial load={load:.0f} seconds={secs} size={self.size} drain=0.3",
                         timeout=secs * 3 + 30)
        sent = r["tx_up"] + r["tx_down"]
        received = r["rx_up"] + r["rx_down"]
        r["loss"] = (sent - received) / sent if sent else 1.0
        # What was offered: up at the rate it was sent (in the trial's time:
        # a generator slower than the load sent less), down what came up;
        # a generator with no responder (Pktgen-DPDK) offers up only.
        ways = getattr(self.gen, "directions", 2)
        r["offered"] = ways * r["tx_up"] / r["seconds"] if r["seconds"] > 0 else 0
        r["forwarded"] = received / r["seconds"] if r["seconds"] > 0 else 0
        r["generator_limited"] = r["offered"] < 0.97 * load
        self.all.append(r)
        self.log(f"    trial {load:>12,.0f}/s offered {r['offered']:>12,.0f}/s "
                 f"loss {100 * r['loss']:7.3f} %")
        return r

    def search(self, max_load, threshold, precision, steps):
        """The highest offered load whose loss is at most threshold."""
        def known():
            passed = [t["offered"] for t in self.all if t["loss"] <= threshold]
            failed = [t["offered"] for t in self.all if t["loss"] > threshold]
            lo = max(passed, default=0.0)
            hi = min([f for f in failed if f > lo], default=None)
            return lo, hi

        if not self.all:
            self.run(max_load)
        for _ in range(steps):
            lo, hi = known()
            if hi is None:
                break  # everything up to what the generator offers passed
            if hi - lo <= precision * hi:
                break
            first = self.all[0]
            candidate = first["forwarded"] * (1 - threshold)
            load = candidate if lo < candidate < hi and len(self.all) == 1 else (lo + hi) / 2
            self.run(load)
        return known()[0]


def throughput(gen, max_load, seconds, size, repeats, precision, steps, log):
    """NDR and PDR, each searched `repeats` times; each search starts afresh."""
    ndr, pdr, trials = [], [], []
    for k in range(repeats):
        t = Trials(gen, seconds, size, log)
        log(f"  search {k + 1}/{repeats}: PDR")
        pdr.append(t.search(max_load, 0.005, precision, steps))
        log(f"  search {k + 1}/{repeats}: NDR")
        ndr.append(t.search(max_load, 0.0, precision, steps))
        trials.extend(t.all)
    return {"ndr": summary(ndr), "pdr": summary(pdr), "generator_max": max(
        t["offered"] for t in trials), "trials": trials}


def latency(gen, base_load, fractions, seconds, size, repeats, log):
    """Percentiles at fractions of base_load: the median of `repeats` trials each."""
    out = []
    for f in fractions:
        t = Trials(gen, seconds, size, log)
        runs = [t.run(max(base_load * f, 1000)) for _ in range(repeats)]
        row = {"fraction": f, "load": base_load * f}
        for way in ("up", "down"):
            for q in ("p50", "p90", "p99", "p99_9", "max"):
                row[f"{way}_{q}"] = summary([r[f"latency_{way}_ns"][q] for r in runs])
        row["loss"] = summary([r["loss"] for r in runs])
        out.append(row)
    return out


class Clients:
    """Hands out fresh client addresses, so every set is new to the device."""

    def __init__(self, first=0):
        self.next = first
        self.established = 0  # sessions established in every set, in all

    def take(self, n):
        first = self.next
        self.next += n
        return first


def open_set(gen, clients, n_clients, per_client, proto, rate, timeout=2.0, retries=0):
    first = clients.take(n_clients)
    o = gen.cmd(f"open proto={proto} first={first} clients={n_clients} per={per_client} "
                f"rate={rate:.0f} timeout={timeout} retries={retries}", timeout=600)
    clients.established += o["established"]
    # A generator may take more clients than asked (Pktgen-DPDK's ranges).
    clients.next += o.get("clients_used", n_clients) - n_clients
    return o


def search_rate(attempt, max_rate, steps, passed, rate_key, achieved):
    """Binary search on a rate: attempt(rate) runs a trial and returns its
    row; passed(row) says whether it held, row[rate_key] is the rate it
    offered. The first trial is at max_rate; when it fails, the first
    candidate is what it achieved(row) in the time it took. Stops after
    `steps` trials or when the bounds are within 10 %."""
    first = attempt(max_rate)
    if passed(first):
        return
    lo, hi = 0.0, first[rate_key]
    candidate = achieved(first)
    for _ in range(steps):
        load = candidate if lo < candidate < hi else (lo + hi) / 2
        candidate = 0
        r = attempt(load)
        if passed(r):
            lo = max(lo, r[rate_key])
        else:
            hi = min(hi, r[rate_key])
        if hi - lo <= 0.1 * hi:
            break


def connection_rates(gen, clients, n_clients, per_client, max_rate, steps, log):
    """RFC 9693 connection establishment rate (TCP). Each trial's set is
    closed after it (at the same rate), so sets do not pile up; the
    tear-down rate is searched apart (teardown_rate)."""
    trials = []

    def attempt(rate):
        o = open_set(gen, clients, n_clients, per_client, "tcp", rate)
        c = gen.cmd(f"close rate={rate:.0f} timeout=2", timeout=600)
        offered_rate = o["offered"] / o["send_seconds"] if o["send_seconds"] > 0 else 0
        row = {"rate": rate, "offered_rate": offered_rate, "opened": o["established"],
               "open_failed": o["failed"], "open_seconds": o["seconds"],
               "closed": c.get("closed", 0), "close_failed": c.get("failed", 0),
               "close_rate": (c["offered"] / c["send_seconds"]
                              if c.get("send_seconds", 0) > 0 else 0)}
        trials.append(row)
        log(f"    {rate:>10,.0f} conn/s offered {offered_rate:>10,.0f}: established "
            f"{o['established']}/{o['offered']}, closed {row['closed']}/{o['established']}")
        return row

    def best(key_failed, key_rate):
        ok = [t[key_rate] for t in trials if t[key_failed] == 0]
        return max(ok, default=0.0)

    search_rate(attempt, max_rate, steps, lambda r: r["open_failed"] == 0, "offered_rate",
                lambda r: r["opened"] / max(r["open_seconds"], 1e-6))
    return {"establishment_rate": best("open_failed", "offered_rate"), "trials": trials}


def teardown_rate(gen, clients, n_clients, per_client, open_rate, max_rate, steps, table,
                  window, log):
    """RFC 9693 connection tear-down rate: binary search on the close rate.

    Each trial opens a fresh set of n_clients x per_client TCP connections
    at open_rate (with retries: the set is whole before it is closed), then
    closes them at the trial's rate. Pass: every close completed (the
    generator saw every FIN-ACK and sent the last ACK) and table(), the
    device's TCP connections, is back to its value before the set within
    `window` seconds of the last close (closed connections leave after the
    device's closing timeout, which the harness sets short; `window` is that
    timeout and 3 s). table is None for a device without one (testpmd):
    closes completing is the criterion.
    """
    trials = []

    def settled():
        """The table once it has not changed for `window` - 2 s (the closing
        timeout and a second): connections closed before this trial (the
        establishment search's) leave it first, so they are not counted as
        this trial's emptying. At most 2 x window."""
        start = time.monotonic()
        value, since = table(), time.monotonic()
        while time.monotonic() - start < 2 * window:
            time.sleep(0.2)
            now = table()
            if now != value:
                value, since = now, time.monotonic()
            elif time.monotonic() - since >= window - 2:
                break
        return value

    def attempt(rate):
        before = settled() if table else None
        o = open_set(gen, clients, n_clients, per_client, "tcp", open_rate, 2.0, 3)
        opened_table = table() if table else None
        c = gen.cmd(f"close rate={rate:.0f} timeout=2", timeout=600)
        close_rate = c["offered"] / c["send_seconds"] if c.get("send_seconds", 0) > 0 else 0
        left, emptied = None, None
        if table:
            start = time.monotonic()
            while True:
                left = table() - before
                if left <= 0:
                    emptied = time.monotonic() - start
                    break
                if time.monotonic() - start >= window:
                    break
                time.sleep(0.2)
        row = {"rate": rate, "close_rate": close_rate, "opened": o["established"],
               "open_failed": o["failed"], "closed": c["closed"], "close_failed": c["failed"],
               "close_seconds": c["seconds"], "table_before": before,
               "table_opened": opened_table, "table_left": left, "emptied_seconds": emptied}
        row["passed"] = (o["established"] > 0 and c["failed"] == 0
                         and (left is None or left <= 0))
        trials.append(row)
        log(f"    close {rate:>10,.0f} conn/s offered {close_rate:>10,.0f}: closed "
            f"{c['closed']}/{o['established']}"
            + (f", table {'empty' if left is not None and left <= 0 else f'{left} left'}"
               f" after {emptied if emptied is not None else window:.1f} s" if table else "")
            + (" pass" if row["passed"] else " FAIL"))
        return row

    search_rate(attempt, max_rate, steps, lambda r: r["passed"], "close_rate",
                lambda r: r["closed"] / max(r["close_seconds"], 1e-6))
    return {"teardown_rate": max([t["close_rate"] for t in trials if t["passed"]], default=0.0),
            "window": window, "trials": trials}


def table_capacity(gen, clients, per_client, set_clients, rate, limit, log, held=None):
    """Opens UDP sets until some sessions are refused (no answer after three
    tries more: a frame lost on a busy host gets through on a retry, a
    refused session never does); the sessions established. held(), where
    given, is the device's own count, read after each set: a device that
    evicts old entries to admit new ones (the kernel's conntrack early drop)
    refuses later than it is full, and what it holds is the figure."""
    total, most = 0, 0
    while total < limit:
        o = open_set(gen, clients, set_clients, per_client, "udp", rate, 1.0, 3)
        total += o["established"]
        now = held() if held else None
        most = max(most, now or 0)
        log(f"    capacity: {total:,} sessions established, {o['failed']} refused in the last set"
            + (f", the device holds {now:,}" if held else ""))
        if o["failed"]:
            return {"sessions": total, "refused": o["failed"], "reached": True, "held_max": most}
    return {"sessions": total, "refused": 0, "reached": False, "held_max": most}
