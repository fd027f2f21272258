#!/usr/bin/env python3
"""Cross-node fan-out: publishers on one node, subscribers spread over 1, 2
and 3 nodes of a cluster (etcd and Convoy members on this machine), in one
run, with one mosquitto holding the same load alone for reference.

Every subscriber subscribes to vehicles/+/telemetry, so each message goes to
every subscriber: with k nodes, to the publishers' node's own subscribers and
once to each of the k - 1 others (the node's cluster_routes_sent counter
says how many crossed). Reports, at a fixed offered load, the messages
received against those expected, the brokers' CPU seconds (all nodes
together), latency p50/p99 of the subscribers on the publishers' node and
on the others, and the messages that crossed per publish; medians of --reps
runs (received and expected: sums).

    /usr/bin/python3 bench/cluster_fanout.py [--publishers 50] [--rate 20]
        [--subscribers 30] [--qos 1] [--duration 10] [--reps 3]

The machine's two cores hold every node, the simulators and etcd: the
numbers show the cost of a hop between nodes, not a cluster's capacity.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
from cluster_idle import members, start_etcd  # noqa: E402


def counter(broker, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.settings['http.port']}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^convoy_{name}_total (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def start_sim(port, args, duration, prefix):
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    out.close()
    proc = subprocess.Popen([run.CONVOY, "sim", "--port", str(port), "--duration", str(duration),
                             "--json", out.name, "--client-id-prefix", prefix] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, out.name


def finish_sim(proc, path):
    _, err = proc.communicate(timeout=300)
    with open(path) as f:
        text = f.read()
    os.unlink(path)
    if not text:
        raise RuntimeError(f"sim failed ({proc.returncode}): {err[-2000:]}")
    return json.loads(text)


def one_run(kind, nodes, a, etcd_url, rep):
    brokers = []
    for i in range(nodes):
        settings = {}
        if kind == "convoy":
            settings = {"node.name": f"n{i}", "cluster.etcd": etcd_url, "cluster.name": f"fanout{nodes}r{rep}",
                        "http.port": run.free_port(), "websocket.enabled": "false",
                        "cluster.heartbeat_interval_ms": 500, "cluster.connection_timeout_ms": 3000}
        brokers.append(run.Broker(kind, run.free_port(), settings=settings).start())
    try:
        if kind == "convoy":
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all(members(b) == nodes for b in brokers):
                time.sleep(0.2)
            if not all(members(b) == nodes for b in brokers):
                raise RuntimeError("the nodes did not all join the cluster")
            time.sleep(1)  # the shards of every pair meet once the links are up
            crossed0 = counter(brokers[0], "cluster_routes_sent")
        qos = ["--qos", str(a.qos)]
        subs = []
        for i, b in enumerate(brokers):
            share = a.subscribers // nodes + (1 if i < a.subscribers % nodes else 0)
            subs.append(start_sim(b.port, ["--vehicles", "0", "--subscribers", str(share),
                                           "--subscribe-filter", "vehicles/+/telemetry"] + qos,
                                  a.duration + 3, f"SUB{i}"))
        time.sleep(1.5)  # subscribed before the first publish
        pub = start_sim(brokers[0].port, ["--vehicles", str(a.publishers), "--publish-rate", str(a.rate),
                                          "--subscribers", "0", "--payload-size", "64"] + qos,
                        a.duration, "PUB")
        p = finish_sim(*pub)
        s = [finish_sim(*x) for x in subs]
        crossed = None
        if kind == "convoy":
            crossed = (counter(brokers[0], "cluster_routes_sent") - crossed0) / max(1, p["sent"])
        cpu = sum(b.usage()[0] for b in brokers)
    finally:
        for b in brokers:
            b.stop()
    expected = p["sent"] * a.subscribers
    received = sum(x["received"] for x in s)
    remote = s[1:] or s
    return {
        "offered": p["send_rate"],
        "deliveries": p["send_rate"] * a.subscribers, "received": received, "expected": expected,
        "cpu": cpu,
        "p50_local": s[0]["latency_us"]["p50"], "p99_local": s[0]["latency_us"]["p99"],
        "p50_remote": statistics.median(x["latency_us"]["p50"] for x in remote),
        "p99_remote": max(x["latency_us"]["p99"] for x in remote),
        "lost": max(0, expected - received), "crossed_per_publish": crossed,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--publishers", type=int, default=50)
    ap.add_argument("--rate", type=float, default=20, help="messages per second per publisher")
    ap.add_argument("--subscribers", type=int, default=30)
    ap.add_argument("--qos", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="convoy-cluster-fanout-")
    etcd, url = start_etcd(tmp)
    cases = [("convoy", 1), ("convoy", 2), ("convoy", 3), ("mosquitto", 1)]
    rows = {c: [] for c in cases}
    try:
        for rep in range(a.reps):  # interleaved, so that drift hits every case alike
            for kind, nodes in cases:
                rows[(kind, nodes)].append(one_run(kind, nodes, a, url, rep))
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rs, key):
        values = [r[key] for r in rs if r[key] is not None]
        return statistics.median(values) if values else None

    print(f"{a.publishers} publishers x {a.rate:g} msg/s on node 1, {a.subscribers} subscribers to "
          f"vehicles/+/telemetry spread over the nodes, QoS {a.qos}, {a.duration:g} s, "
          f"medians of {a.reps}\n")
    print("| broker | nodes | offered msg/s | deliveries/s | received / expected | broker CPU s, all nodes | "
          "p50 / p99 µs, publishers' node | p50 / p99 µs, other nodes | crossings per publish |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (kind, nodes), rs in rows.items():
        crossed = med(rs, "crossed_per_publish")
        other = (f"{med(rs, 'p50_remote'):.0f} / {med(rs, 'p99_remote'):.0f}" if nodes > 1 else "–")
        got, want = sum(r["received"] for r in rs), sum(r["expected"] for r in rs)
        print(f"| {kind} | {nodes} | {med(rs, 'offered'):,.0f} | {med(rs, 'deliveries'):,.0f} | "
              f"{got:,} / {want:,} | {med(rs, 'cpu'):.2f} | "
              f"{med(rs, 'p50_local'):.0f} / {med(rs, 'p99_local'):.0f} | {other} | "
              f"{'–' if crossed is None else f'{crossed:.2f}'} |")


if __name__ == "__main__":
    main()
