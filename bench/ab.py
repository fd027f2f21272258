#!/usr/bin/env python3
"""Two Convoy builds under the same load, alternately, in one run: does a
change cost throughput, latency, CPU or idle memory? Uses run.py's brokers and
simulator; prints a markdown table of medians.

    /usr/bin/python3 bench/ab.py --base build-base/convoy --new build/convoy --reps 3
    /usr/bin/python3 bench/ab.py --base ... --new ... --reps 6 --scenarios idle

Scenarios: run.py's fan-in (1,000 publishers -> 1 subscriber) at a load the
machine sustains (10 msg/s each, QoS 0 and 1, 64 B; run.py's fixed 50 msg/s
saturates a slow machine, where both builds collapse alike), and run.py's
19,000 idle connections (RSS growth per connection).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def fanin(qos):
    return ("", ["--vehicles", "1000", "--publish-rate", "10", "--qos", str(qos), "--payload-size", "64",
                 "--subscribers", "1", "--warmup", "2"], 12, 1)


# name -> (what the table calls it, run.py scenario)
SCENARIOS = {
    "fanin-q0": ("fan-in 10k msgs/s, QoS 0, 64 B", fanin(0)),
    "fanin-q1": ("fan-in 10k msgs/s, QoS 1, 64 B", fanin(1)),
    "idle": ("idle connections: 19,000", run.SCENARIOS["idle"]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated, of: " + ", ".join(SCENARIOS))
    args = ap.parse_args()
    chosen = {n: SCENARIOS[n] for n in args.scenarios.split(",")}
    builds = {"base": os.path.abspath(args.base), "new": os.path.abspath(args.new)}
    rows = {}
    for rep in range(args.reps):
        for name, (_, scenario) in chosen.items():
            for build, binary in builds.items():
                run.CONVOY = binary
                r = run.run_one("convoy", name, scenario)
                rows.setdefault((name, build), []).append(r)
                print(f"rep {rep + 1}/{args.reps} {name} {build}: {r['throughput']:.0f} msgs/s, "
                      f"cpu {r['broker_cpu']:.1f} s, {r['rss_per_conn']:.0f} B/conn", file=sys.stderr, flush=True)
    print("| scenario | build | msgs/s | p50 µs | p99 µs | lost | broker CPU s | RSS/conn B (each run) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in chosen:
        for build in builds:
            rs = rows[(name, build)]
            med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
            each = ", ".join(f"{r['rss_per_conn']:.0f}" for r in rs)
            print(f"| {chosen[name][0]} | {build} | {med('throughput'):.0f} | {med('p50'):.0f} | {med('p99'):.0f} | "
                  f"{med('lost'):.0f} | {med('broker_cpu'):.2f} | {med('rss_per_conn'):.0f} ({each}) |")


if __name__ == "__main__":
    main()
