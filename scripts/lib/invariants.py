#!/usr/bin/python3
"""Checks the counter identities the sluice code guarantees, on live telemetry.

  invariants.py -p PREFIX [--tries 15]
  invariants.py --summary LOGFILE

The second form checks the same identities (all but the last, which needs
counters the summary does not print) on the summary sluice prints when it
exits, where they must hold exactly: the workers have stopped and what they
had handed to each other has been processed.

Every packet a worker receives ends in exactly one place: handed to the
driver (tx_packets), dropped for a reason, punted to control, or (cgnat)
handed off to the worker that owns its client, which counts it as handed_in
and then ends it in one of those places itself. A packet the worker turned
into an ICMP error is counted twice (under its drop reason, then sent or
dropped again as the error) and corrected for with icmp_errors_sent; an error
the rate limit suppressed is not a drop (icmp_errors_suppressed). A packet
split into k fragments adds k - 1 packets (fragments_made), each of which
ends in one place. So, when nothing is in flight, for each worker and summed
over the workers:

  rx_packets == tx_packets + punted + dropped - icmp_errors_sent
                - fragments_made + handed_off - handed_in
  dropped    == sum of the drops by reason
  rx_packets == sum over ports of ethdev ipackets
  sum over ports of ethdev opackets == tx_packets + arp_requests_out + arp_replies_out
                                     + echo_replies + resolve_sent - control_tx_failed

("forwarded" is tx_packets + tx-full by definition, so it is not checked.)

A snapshot is several telemetry reads, so a packet arriving in between makes
it inconsistent: the check is retried (--tries, 0.2 s apart) until one quiet
snapshot satisfies all of them; exit 0 then, 1 if none did (the last is shown).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from telemetry import Telemetry  # noqa: E402


def snapshot(tel):
    stats = tel.query("/sluice/stats")
    # Reasons are spelt with '-' (as in the exit summary); accept '_' too.
    drops = {k.replace("_", "-"): v for k, v in tel.query("/sluice/drops").items()}
    ports = [tel.query(f"/ethdev/stats,{p}") for p in tel.query("/ethdev/list")]
    workers = [tel.query(f"/sluice/worker,{k}") for k in range(stats.get("workers", 0))]
    return stats, drops, ports, workers


def packet_fate(s):
    """Right-hand side of the per-packet identity (handoff counters 0 when absent)."""
    return (s["tx_packets"] + s["punted"] + s["dropped"] - s["icmp_errors_sent"]
            - s.get("fragments_made", 0) + s.get("handed_off", 0) - s.get("handed_in", 0))


FATE = ("rx_packets == tx_packets + punted + dropped - icmp_errors_sent - fragments_made"
        " + handed_off - handed_in")


def check(stats, drops, ports, workers=(), control=True):
    s = stats
    rows = []
    rows.append((FATE, s["rx_packets"], packet_fate(s)))
    if len(workers) > 1:
        for k, w in enumerate(workers):
            rows.append((f"worker {k}: {FATE}", w["rx_packets"], packet_fate(w)))
    rows.append(("dropped == sum of /sluice/drops", s["dropped"], sum(drops.values())))
    rows.append(("rx_packets == sum of ethdev ipackets", s["rx_packets"], sum(p["ipackets"] for p in ports)))
    if not control:
        return rows
    control = (s["arp_requests_out"] + s["arp_replies_out"] + s["echo_replies"] + s["resolve_sent"]
               - s["control_tx_failed"])
    rows.append(("sum of ethdev opackets == tx_packets + control frames sent",
                 sum(p["opackets"] for p in ports), s["tx_packets"] + control))
    return rows


def parse_summary(path):
    """The exit summary as (stats, drops, ports), in telemetry's names."""
    stats, drops, ports = None, {}, []
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[:2] == ["sluice:", "workers"]:
                v = dict(zip(w[2::2], (int(x) for x in w[3::2])))
                stats = {"rx_packets": v["rx"], "tx_packets": v["tx"], "forwarded": v["forwarded"],
                         "punted": v["punted"], "icmp_errors_sent": v["icmp-errors"],
                         "fragments_made": v.get("fragments-made", 0),
                         "handed_off": v["handed-off"], "handed_in": v["handed-in"]}
            elif w[:2] == ["sluice:", "drop"]:
                drops[w[2]] = int(w[3])
            elif w[:2] == ["sluice:", "port"]:
                ports.append({"ipackets": int(w[w.index("rx") + 1]),
                              "opackets": int(w[w.index("tx") + 1])})
    if stats is None:
        raise ValueError(f"{path}: no exit summary ('sluice: workers ...')")
    stats["dropped"] = sum(drops.values())
    return stats, drops, ports


def report(rows):
    """Prints each identity; 0 when all hold."""
    for what, l, r in rows:
        print(f"{'ok ' if l == r else 'BAD'} {what}: {l} vs {r}")
    return 0 if all(l == r for _, l, r in rows) else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--prefix")
    ap.add_argument("--summary", metavar="LOGFILE")
    ap.add_argument("--tries", type=int, default=15)
    a = ap.parse_args()
    if a.summary:
        try:
            rows = check(*parse_summary(a.summary), control=False)
        except (OSError, ValueError, KeyError) as e:
            print(f"invariants.py: {e}", file=sys.stderr)
            return 1
        return report(rows)
    if not a.prefix:
        ap.error("-p PREFIX or --summary LOGFILE")
    try:
        tel = Telemetry(a.prefix)
        for attempt in range(a.tries):
            rows = check(*snapshot(tel))
            if all(l == r for _, l, r in rows):
                break
            time.sleep(0.2)
        tel.close()
    except (OSError, ValueError, KeyError) as e:
        print(f"invariants.py: {e}", file=sys.stderr)
        return 1
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
