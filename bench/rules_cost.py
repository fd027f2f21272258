#!/usr/bin/python3
"""What routing rules cost on the publish path: fan-in of 1,000 vehicles
at 50 msg/s each (QoS 0, 64 B, one subscriber), with no rules and with
16 and 256 rules made over the API, against mosquitto (which has no rules)
on the same machine.

Every message matches one rule that delivers it and updates the vehicle
state, as a message with no rules does; the other rules share the
`vehicles/+` prefix and fail further down the filter, the common shape of
a fleet's rule set. In the last configuration one of the 256 has a payload
predicate that makes every message be decoded (the simulator's payloads are not JSON, so
it never matches). Reported: medians over the repetitions of throughput,
latency and the broker's CPU per 100,000 messages received (the CPU of the
whole run, connections and warm-up included, for both brokers alike).

    bench/rules_cost.py [--reps 3] [--duration 12]
"""

import argparse
import http.client
import json
import statistics
import sys
import time

from run import Broker, free_port, sim

LOAD = ["--vehicles", "1000", "--publish-rate", "50", "--qos", "0", "--payload-size", "64",
        "--subscribers", "1", "--warmup", "2"]


def rules(count, predicate=False):
    """The API rules of one configuration."""
    out = {"all": {"topic": "vehicles/+/telemetry", "actions": ["deliver", "state"]}}
    for i in range(count - 1):
        out[f"diag-{i}"] = {"topic": f"vehicles/+/diag-{i}/#", "actions": ["deliver"]}
    if predicate:
        out["speeding"] = {"topic": "vehicles/+/telemetry", "where": ["speed > 200"], "actions": ["state"]}
    return out


CONFIGS = [
    ("convoy, no rules", "convoy", {}),
    ("convoy, 16 rules", "convoy", rules(16)),
    ("convoy, 256 rules", "convoy", rules(256)),
    ("convoy, 256 rules, one with a predicate", "convoy", rules(255, predicate=True)),
    ("mosquitto", "mosquitto", {}),
]


def put_rules(port, definitions):
    deadline = time.monotonic() + 10
    while True:  # the API may open a moment after MQTT
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    for name, rule in definitions.items():
        conn.request("PUT", f"/api/v1/rules/{name}", body=json.dumps(rule),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status not in (200, 201):
            raise RuntimeError(f"PUT rule {name}: {r.status} {body[:200]}")


def run(kind, definitions, duration):
    settings = {"http.port": free_port()} if kind == "convoy" else {}
    broker = Broker(kind, free_port(), settings=settings).start()
    try:
        if definitions:
            put_rules(settings["http.port"], definitions)
        cpu_before, _ = broker.usage()
        r = sim(broker.port, LOAD, duration)[0]
        cpu, _ = broker.usage()
    finally:
        broker.stop()
    received = r["throughput_msgs_per_s"] * duration
    return {"throughput": r["throughput_msgs_per_s"], "p50": r["latency_us"]["p50"],
            "p99": r["latency_us"]["p99"], "lost": r.get("lost", 0),
            "cpu_per_100k": (cpu - cpu_before) / max(1, received) * 100_000}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=12)
    args = ap.parse_args()
    rows = {label: [] for label, _, _ in CONFIGS}
    for rep in range(args.reps):
        for label, kind, definitions in CONFIGS:
            print(f"rep {rep + 1}/{args.reps}: {label}", file=sys.stderr, flush=True)
            rows[label].append(run(kind, definitions, args.duration))
    med = {label: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for label, rs in rows.items()}
    base = med["mosquitto"]["cpu_per_100k"]
    print(f"Command: `bench/rules_cost.py --reps {args.reps} --duration {args.duration}`; medians of "
          f"{args.reps}.\n")
    print("| configuration | received msg/s | p50 µs | p99 µs | lost | broker CPU s per 100k msgs "
          "| CPU vs mosquitto |")
    print("|---|---|---|---|---|---|---|")
    for label, _, _ in CONFIGS:
        m = med[label]
        print(f"| {label} | {m['throughput']:.0f} | {m['p50']:.0f} | {m['p99']:.0f} | {m['lost']:.0f} "
              f"| {m['cpu_per_100k']:.2f} | {m['cpu_per_100k'] / base:.2f}x |")


if __name__ == "__main__":
    main()
