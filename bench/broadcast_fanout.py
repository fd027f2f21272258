#!/usr/bin/python3
"""Broadcast fan-out: one service publishes to broadcast/eu-west/weather and
10,000 simulated vehicles subscribed to broadcast/eu-west/# receive every
message. Convoy and mosquitto on the same machine, alternating per
repetition; medians and the Convoy / mosquitto ratios are printed as a
Markdown table for docs/BENCHMARKS.md.

    bench/broadcast_fanout.py [--reps 3] [--vehicles 10000] [--rate 5] [--qos 1]
"""

import argparse
import statistics

from run import Broker, free_port, sim


def one(kind, args):
    extra = ["--vehicles", "1", "--publish-rate", str(args.rate), "--qos", str(args.qos),
             "--payload-size", "256", "--topic-template", "broadcast/eu-west/weather",
             "--subscribers", str(args.vehicles), "--subscribe-filter", "broadcast/eu-west/#",
             "--warmup", "4", "--source-ips", "--ramp-rate", "4000"]
    broker = Broker(kind, free_port()).start()
    try:
        r = sim(broker.port, extra, args.duration)[0]
        cpu, rss = broker.usage()
    finally:
        broker.stop()
    return {"deliveries": r["throughput_msgs_per_s"], "p50": r["latency_us"]["p50"],
            "p99": r["latency_us"]["p99"], "lost": r["lost"], "connected": r["connected"],
            "cpu": cpu, "rss_mib": rss / 1024}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--vehicles", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=5.0)
    p.add_argument("--qos", type=int, default=1)
    p.add_argument("--duration", type=float, default=20)
    args = p.parse_args()
    rows = {"convoy": [], "mosquitto": []}
    for _ in range(args.reps):
        for kind in rows:
            rows[kind].append(one(kind, args))
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in rows.items()}
    print(f"broadcast fan-out: 1 publisher at {args.rate:g} msg/s -> {args.vehicles:,} subscribers, "
          f"QoS {args.qos}, 256 B, {args.reps} repetitions (medians)\n")
    print("| broker | deliveries/s | p50 latency (ms) | p99 latency (ms) | lost | connected | broker CPU (s) | broker RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for k, m in med.items():
        print(f"| {k} | {m['deliveries']:,.0f} | {m['p50'] / 1000:.1f} | {m['p99'] / 1000:.1f} | {m['lost']:.0f} | "
              f"{m['connected']:,.0f} | {m['cpu']:.1f} | {m['rss_mib']:.0f} |")
    c, q = med["convoy"], med["mosquitto"]
    ratio = lambda a, b: a / b if b else float("nan")
    print(f"\nratios Convoy / mosquitto: p50 {ratio(c['p50'], q['p50']):.2f}, p99 {ratio(c['p99'], q['p99']):.2f}, "
          f"CPU {ratio(c['cpu'], q['cpu']):.2f}")
    for k, v in rows.items():
        print(f"{k} runs: " + ", ".join(f"p50 {r['p50'] / 1000:.1f} ms p99 {r['p99'] / 1000:.1f} ms lost {r['lost']}" for r in v))


if __name__ == "__main__":
    main()
