#!/usr/bin/env python3
"""Idle connections across a cluster: etcd and 6 Convoy nodes (cluster
members, one etcd lease each) holding 17,000 idle MQTT connections each,
102,000 in all, against 6 mosquitto processes holding the same, in one run.
A process holds at most ~19,900 sockets on this machine, so 100,000 need
several. Reports the RSS growth per connection of each process and the
median.

    /usr/bin/python3 bench/cluster_idle.py [--nodes 6] [--per-node 17000]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def start_etcd(tmp):
    port, peer = run.free_port(), run.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([ETCD, "--data-dir", os.path.join(tmp, "etcd"), "--listen-client-urls", url,
                             "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("etcd did not start")


def members(broker):
    """The members a Convoy node sees acting as members (its API)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{broker.settings['http.port']}/api/v1/cluster",
                                    timeout=2) as r:
            view = json.load(r)
    except OSError:
        return 0
    return len(view["members"]) if view.get("authority") else 0


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def hold(kind, count, per_node, etcd_url):
    """Starts `count` brokers, connects per_node idle clients to each at
    once, returns (connected, RSS growth per connection) of each."""
    brokers = []
    for i in range(count):
        settings = {}
        if kind == "convoy":
            http = run.free_port()
            settings = {"node.name": f"n{i}", "cluster.etcd": etcd_url, "cluster.name": "bench",
                        "http.port": http, "websocket.enabled": "false"}
        brokers.append(run.Broker(kind, run.free_port(), settings=settings).start())
    try:
        if kind == "convoy":  # every node a member of the cluster before the load
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all(members(b) == count for b in brokers):
                time.sleep(0.2)
            if not all(members(b) == count for b in brokers):
                raise RuntimeError("the nodes did not all join the cluster")
        args = ["--vehicles", str(per_node), "--publish-rate", "0", "--subscribers", "0", "--source-ips",
                "--ramp-rate", "2000"]
        procs, files = [], []
        for i, b in enumerate(brokers):
            out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
            out.close()
            files.append(out.name)
            procs.append(subprocess.Popen([run.CONVOY, "sim", "--port", str(b.port), "--duration", "25",
                                           "--json", out.name, "--client-id-prefix", f"S{i}"] + args,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        # Measured while the connections are open: once every broker holds
        # its clients (its open files say so), or 20 s into the hold.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(open_files(b.proc.pid) < per_node for b in brokers):
            time.sleep(0.5)
        time.sleep(1)
        rss = [run.rss_kib(b.proc.pid) - b.rss0 for b in brokers]
        results = []
        for p, f in zip(procs, files):
            p.communicate(timeout=120)
            with open(f) as fh:
                results.append(json.load(fh))
            os.unlink(f)
    finally:
        for b in brokers:
            b.stop()
    return [(r["connected"], kib * 1024 / max(1, r["connected"])) for r, kib in zip(results, rss)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--per-node", type=int, default=17000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="convoy-cluster-idle-")
    etcd, url = start_etcd(tmp)
    try:
        rows = {kind: hold(kind, a.nodes, a.per_node, url) for kind in ("convoy", "mosquitto")}
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| broker | processes | connections held | RSS/conn B, median (each process) |")
    print("|---|---|---|---|")
    for kind, r in rows.items():
        each = ", ".join(f"{b:.0f}" for _, b in r)
        print(f"| {kind} | {len(r)} | {sum(c for c, _ in r):,} | "
              f"{statistics.median(b for _, b in r):.0f} ({each}) |")
    c, m = (statistics.median(b for _, b in rows[k]) for k in ("convoy", "mosquitto"))
    print(f"\nConvoy / mosquitto RSS per connection: {c / m:.2f}")


if __name__ == "__main__":
    main()
