#!/usr/bin/python3
"""Runs Convoy and mosquitto side by side under `convoy sim` and writes
docs/BENCHMARKS.md.

    bench/run.py [--reps 3] [--scenarios fanin-q0-64,fanout-q1,...] [--quick]

Both brokers run on this machine, one at a time, alternating per
repetition (Convoy, mosquitto, Convoy, ...), each freshly started on a free
loopback port. Every number in the report is the median over the
repetitions; ratios are Convoy / mosquitto of those medians. The simulator
shares the machine's cores with the broker, so its own CPU time is reported
next to the broker's.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVOY = os.environ.get("CONVOY_BINARY", os.path.join(ROOT, "build", "convoy"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User+system CPU of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Broker:
    def __init__(self, kind, port):
        self.kind, self.port, self.proc, self.tmp = kind, port, None, None

    def start(self):
        if self.kind == "convoy":
            args = [CONVOY, "node", "--set", "mqtt.bind=127.0.0.1", "--set", f"mqtt.port={self.port}",
                    "--set", "log.level=warn", "--set", "mqtt.max_queued_messages=1000"]
        else:
            self.tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
            # Equivalent settings: no persistence, anonymous, same queue and
            # window bounds, Nagle off (Convoy sets TCP_NODELAY too).
            self.tmp.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                           "max_queued_messages 1000\nmax_inflight_messages 64\nset_tcp_nodelay true\n"
                           "log_type error\n")
            self.tmp.close()
            args = [MOSQUITTO, "-c", self.tmp.name]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    self.cpu0 = cpu_seconds(self.proc.pid)
                    self.rss0 = rss_kib(self.proc.pid)
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not start")

    def usage(self):
        return cpu_seconds(self.proc.pid) - self.cpu0, rss_kib(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.tmp:
            os.unlink(self.tmp.name)


def sim(port, extra, duration, processes=1):
    """Runs `processes` simulators in parallel; returns their JSON summaries."""
    procs, files = [], []
    for i in range(processes):
        out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
        out.close()
        files.append(out.name)
        args = [CONVOY, "sim", "--port", str(port), "--duration", str(duration), "--json", out.name] + extra
        if processes > 1:
            args += ["--client-id-prefix", f"S{i}"]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    results = []
    for p, f in zip(procs, files):
        _, err = p.communicate(timeout=duration + 120)
        with open(f) as fh:
            text = fh.read()
        os.unlink(f)
        if not text:
            raise RuntimeError(f"sim failed ({p.returncode}): {err[-2000:]}")
        results.append(json.loads(text))
    return results


def traffic(vehicles, subscribers, qos, size):
    """Sim arguments for vehicles publishing 50 msg/s each (1 vehicle: 50 msg/s)."""
    return ["--vehicles", str(vehicles), "--publish-rate", "50", "--qos", str(qos),
            "--payload-size", str(size), "--subscribers", str(subscribers), "--warmup", "2"]


# name -> (description, sim arguments, duration seconds, sim processes)
SCENARIOS = {
    "fanin-q0-64": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 0, 64 B", traffic(1000, 1, 0, 64), 12, 1),
    "fanin-q1-64": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 1, 64 B", traffic(1000, 1, 1, 64), 12, 1),
    "fanin-q0-1k": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 0, 1 KiB", traffic(1000, 1, 0, 1024), 12, 1),
    "fanin-q1-1k": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 1, 1 KiB", traffic(1000, 1, 1, 1024), 12, 1),
    "fanout-q0": ("fan-out: 1 publisher -> 1,000 subscribers, QoS 0, 64 B", traffic(1, 1000, 0, 64), 12, 1),
    "fanout-q1": ("fan-out: 1 publisher -> 1,000 subscribers, QoS 1, 64 B", traffic(1, 1000, 1, 64), 12, 1),
    "pairs": ("pairs: 5,000 publisher/subscriber pairs on distinct topics, QoS 0, 64 B",
              ["--vehicles", "5000", "--publish-rate", "10", "--qos", "0", "--payload-size", "64",
               "--subscribers", "5000", "--subscribe-filter", "vehicles/{vin}/telemetry",
               "--warmup", "3", "--source-ips"], 15, 1),
    "idle": ("idle connections: 19,000 (one process holds at most ~19,900 sockets here)",
             ["--vehicles", "19000", "--publish-rate", "0", "--subscribers", "0", "--source-ips",
              "--ramp-rate", "4000"], 12, 1),
    "connect-storm": ("connect storm: 19,000 connections as fast as they are accepted",
                      ["--vehicles", "19000", "--publish-rate", "0", "--subscribers", "0", "--source-ips",
                       "--max-connecting", "64"], 12, 1),
}


def run_one(kind, name, scenario):
    _, extra, duration, processes = scenario
    broker = Broker(kind, free_port()).start()
    try:
        results = sim(broker.port, extra, duration, processes)
        cpu, rss = broker.usage()
        rss_growth = rss - broker.rss0
    finally:
        broker.stop()
    r = results[0]
    return {
        "throughput": sum(x.get("throughput_msgs_per_s", 0) for x in results),
        "p50": r["latency_us"]["p50"], "p99": r["latency_us"]["p99"],
        "lost": sum(x.get("lost", 0) for x in results),
        "connected": sum(x.get("connected", 0) for x in results),
        "connect_rate": sum(x.get("connect_rate_per_s", 0) for x in results),
        "broker_cpu": cpu, "sim_cpu": sum(x.get("cpu_seconds", 0) for x in results),
        "rss_per_conn": rss_growth * 1024 / max(1, sum(x.get("connected", 0) for x in results)),
    }


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = ap.parse_args()
    names = args.scenarios.split(",")
    results = {n: {"convoy": [], "mosquitto": []} for n in names}
    for rep in range(args.reps):
        for n in names:
            for kind in ("convoy", "mosquitto"):
                print(f"rep {rep + 1}/{args.reps} {n} {kind}", file=sys.stderr, flush=True)
                results[n][kind].append(run_one(kind, n, SCENARIOS[n]))
    write_report(args, names, results)


def write_report(args, names, results):
    lines = ["# Benchmarks", "",
             f"Produced by `bench/run.py --reps {args.reps}` on {platform.node()}: {os.cpu_count()} cores, "
             f"{platform.platform()}, mosquitto from Debian, Convoy Release build. "
             "Brokers run alternately on the same machine in the same run; numbers are medians over the "
             "repetitions; ratio = Convoy / mosquitto. The simulator shares the cores, so its CPU seconds "
             "are shown beside the broker's.", "",
             "Columns: *msgs/s received* is what subscribers received per second after the warm-up; the offered load is fixed per scenario (e.g. 1,000 x 50 msg/s), so equal numbers mean both brokers kept up. *lost* counts messages published but never received, broker drops under its queue and window limits included. *RSS/conn* is the broker's RSS growth during the run divided by the connections the simulator held. *connect/s* is the simulator's connection rate during its ramp. Idle and connect-storm stop at 19,000 connections: one process holds at most ~19,900 sockets on this machine; 50,000 and 100,000 connections need several node processes (cluster issue).", "",
             "| scenario | broker | msgs/s received | p50 µs | p99 µs | lost | broker CPU s | sim CPU s | "
             "RSS/conn B | connect/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        desc = SCENARIOS[n][0]
        med = {}
        for kind in ("convoy", "mosquitto"):
            rows = results[n][kind]
            med[kind] = {k: median(rows, k) for k in rows[0]}
            m = med[kind]
            lines.append(f"| {desc} | {kind} | {m['throughput']:.0f} | {m['p50']:.0f} | {m['p99']:.0f} | "
                         f"{m['lost']:.0f} | {m['broker_cpu']:.1f} | {m['sim_cpu']:.1f} | "
                         f"{m['rss_per_conn']:.0f} | {m['connect_rate']:.0f} |")
        c, q = med["convoy"], med["mosquitto"]
        def ratio(k):
            return f"{c[k] / q[k]:.2f}" if q[k] else "n/a"
        lines.append(f"| {desc} | **ratio** | {ratio('throughput')} | {ratio('p50')} | {ratio('p99')} | | "
                     f"{ratio('broker_cpu')} | | {ratio('rss_per_conn')} | {ratio('connect_rate')} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
