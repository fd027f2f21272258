#!/usr/bin/python3
"""Runs Convoy and mosquitto side by side under `convoy sim` and writes
docs/BENCHMARKS.md.

    bench/run.py [--reps 3] [--scenarios fanin-q0-64,fanout-q1,...]
                 [--capacity fanin-q0,fanin-q1,...] [--capacity-reps 3]

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
    def __init__(self, kind, port, persistent=False, settings=None):
        self.kind, self.port, self.proc, self.tmp = kind, port, None, None
        self.persistent = persistent
        self.settings = dict(settings or {})  # Convoy --set overrides

    def start(self):
        if self.kind == "convoy":
            self.data_dir = tempfile.mkdtemp(prefix="convoy-bench-")
            args = [CONVOY, "node", "--set", "mqtt.bind=127.0.0.1", "--set", f"mqtt.port={self.port}",
                    "--set", "log.level=warn", "--set", "mqtt.max_queued_messages=1000",
                    "--set", f"node.data_dir={self.data_dir}"]
            for key, value in self.settings.items():
                args += ["--set", f"{key}={value}"]
        else:
            self.tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
            # Equivalent settings: anonymous, same queue and window bounds,
            # Nagle off (Convoy sets TCP_NODELAY too). Persistence only for
            # the persistent-session scenarios: mosquitto then saves its
            # whole state to one file every autosave_interval (default
            # 1800 s) and at shutdown, where Convoy commits each message to
            # LMDB before its PUBACK.
            persistence = "persistence false\n"
            if self.persistent:
                self.data_dir = tempfile.mkdtemp(prefix="mosquitto-bench-")
                persistence = f"persistence true\npersistence_location {self.data_dir}/\n"
            self.tmp.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{persistence}"
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
        if getattr(self, "data_dir", None):
            shutil.rmtree(self.data_dir, ignore_errors=True)


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
    "persistent-q1": ("persistent sessions: 1,000 publisher/subscriber pairs, QoS 1, 64 B, stored "
                      "(mosquitto with persistence)",
                      ["--vehicles", "1000", "--publish-rate", "10", "--qos", "1", "--payload-size", "64",
                       "--subscribers", "1000", "--subscribe-filter", "vehicles/{vin}/telemetry",
                       "--persistent", "--warmup", "2", "--source-ips"], 12, 1),
    "commands": ("remote commands: 1,000 vehicles answer 500 commands/s, QoS 1, round trip",
                 ["--vehicles", "1000", "--publish-rate", "0", "--subscribers", "0",
                  "--command-rate", "500", "--command-qos", "1", "--warmup", "2", "--source-ips"],
                 12, 1),
    "idle": ("idle connections: 19,000 (one process holds at most ~19,900 sockets here)",
             ["--vehicles", "19000", "--publish-rate", "0", "--subscribers", "0", "--source-ips",
              "--ramp-rate", "4000"], 12, 1),
    "connect-storm": ("connect storm: 19,000 connections as fast as they are accepted",
                      ["--vehicles", "19000", "--publish-rate", "0", "--subscribers", "0", "--source-ips",
                       "--max-connecting", "64"], 12, 1),
}


# Capacity: the highest offered load a broker sustains. Each step raises the
# per-client publish rate by half; a step passes when subscribers receive at
# least 97 % of what was offered and at most 1 % is lost. A broker's ladder
# stops at its first failed step.
# name -> (description, sim arguments without rate, per-client base rate,
#          messages received per published message)
CAPACITY = {
    "fanin-q0": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 0, 64 B",
                 ["--vehicles", "1000", "--subscribers", "1", "--qos", "0", "--payload-size", "64"], 50),
    "fanin-q1": ("fan-in: 1,000 publishers -> 1 subscriber, QoS 1, 64 B",
                 ["--vehicles", "1000", "--subscribers", "1", "--qos", "1", "--payload-size", "64"], 50),
    "fanout-q0": ("fan-out: 1 publisher -> 1,000 subscribers, QoS 0, 64 B",
                  ["--vehicles", "1", "--subscribers", "1000", "--qos", "0", "--payload-size", "64"], 50),
    "fanout-q1": ("fan-out: 1 publisher -> 1,000 subscribers, QoS 1, 64 B",
                  ["--vehicles", "1", "--subscribers", "1000", "--qos", "1", "--payload-size", "64"], 50),
    "pairs": ("pairs: 5,000 publisher/subscriber pairs, QoS 0, 64 B",
              ["--vehicles", "5000", "--subscribers", "5000", "--subscribe-filter",
               "vehicles/{vin}/telemetry", "--qos", "0", "--payload-size", "64", "--source-ips"], 10),
    "persistent-q1": ("persistent sessions: 1,000 pairs, QoS 1, 64 B, stored",
                      ["--vehicles", "1000", "--subscribers", "1000", "--subscribe-filter",
                       "vehicles/{vin}/telemetry", "--qos", "1", "--payload-size", "64", "--persistent",
                       "--source-ips"], 10),
}
CAPACITY_STEPS = [1.0, 1.5, 2.25, 3.4, 5.1, 7.6]


def offered_per_s(args, rate):
    vehicles = int(args[args.index("--vehicles") + 1])
    subscribers = int(args[args.index("--subscribers") + 1])
    per_message = subscribers if vehicles == 1 else 1
    return vehicles * rate * per_message


def run_capacity(kind, name):
    """Walks the load ladder for one broker; returns the last passing step."""
    _, extra, base = CAPACITY[name]
    best = None
    for step in CAPACITY_STEPS:
        rate = round(base * step)
        offered = offered_per_s(extra, rate)
        row = run_one(kind, name, (name, extra + ["--publish-rate", str(rate), "--warmup", "2"], 8, 1))
        row["offered"] = offered
        passed = row["throughput"] >= 0.97 * offered and row["lost"] <= 0.01 * offered * 8
        print(f"  {kind} {name} offered {offered}/s: received {row['throughput']:.0f}/s, "
              f"p99 {row['p99']} us, lost {row['lost']} -> {'pass' if passed else 'fail'}",
              file=sys.stderr, flush=True)
        if not passed:
            break
        best = row
        best["capped"] = step == CAPACITY_STEPS[-1]
    return best or {"offered": 0, "throughput": 0, "p50": 0, "p99": 0, "lost": 0,
                    "broker_cpu": 0, "sim_cpu": 0}


def run_one(kind, name, scenario):
    _, extra, duration, processes = scenario
    broker = Broker(kind, free_port(), persistent="--persistent" in extra).start()
    try:
        results = sim(broker.port, extra, duration, processes)
        cpu, rss = broker.usage()
        rss_growth = rss - broker.rss0
    finally:
        broker.stop()
    r = results[0]
    commands = r.get("commands", {})
    if commands.get("sent"):
        # Command round trips: commander -> broker -> vehicle -> broker -> commander.
        return {
            "throughput": commands["rate"],
            "p50": commands["round_trip_us"]["p50"], "p99": commands["round_trip_us"]["p99"],
            "lost": commands["unanswered"], "connected": r["connected"],
            "connect_rate": r["connect_rate_per_s"], "broker_cpu": cpu, "sim_cpu": r["cpu_seconds"],
            "rss_per_conn": rss_growth * 1024 / max(1, r["connected"]),
        }
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
    ap.add_argument("--capacity", default=",".join(CAPACITY),
                    help="capacity scenarios, or 'none'")
    ap.add_argument("--capacity-reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = ap.parse_args()
    names = [n for n in args.scenarios.split(",") if n and n != "none"]
    results = {n: {"convoy": [], "mosquitto": []} for n in names}
    for rep in range(args.reps):
        for n in names:
            for kind in ("convoy", "mosquitto"):
                print(f"rep {rep + 1}/{args.reps} {n} {kind}", file=sys.stderr, flush=True)
                results[n][kind].append(run_one(kind, n, SCENARIOS[n]))
    capacity_names = [n for n in args.capacity.split(",") if n and n != "none"]
    capacity = {n: {"convoy": [], "mosquitto": []} for n in capacity_names}
    for rep in range(args.capacity_reps):
        for n in capacity_names:
            for kind in ("convoy", "mosquitto"):
                print(f"capacity rep {rep + 1}/{args.capacity_reps} {n} {kind}", file=sys.stderr,
                      flush=True)
                capacity[n][kind].append(run_capacity(kind, n))
    write_report(args, names, results, capacity_names, capacity)


def command_line(args):
    cmd = f"bench/run.py --reps {args.reps} --capacity-reps {args.capacity_reps}"
    if args.scenarios != ",".join(SCENARIOS):
        cmd += f" --scenarios {args.scenarios}"
    if args.capacity != ",".join(CAPACITY):
        cmd += f" --capacity {args.capacity}"
    return cmd


def write_report(args, names, results, capacity_names, capacity):
    lines = ["# Benchmarks", "",
             f"Produced by `{command_line(args)}` on {platform.node()}: {os.cpu_count()} cores, "
             f"{platform.platform()}, mosquitto from Debian, Convoy Release build. "
             "Brokers run alternately on the same machine in the same run; numbers are medians over the "
             "repetitions; ratio = Convoy / mosquitto. The simulator shares the cores, so its CPU seconds "
             "are shown beside the broker's.", "",
             "Columns: *msgs/s received* is what subscribers received per second after the warm-up; the offered load is fixed per scenario (e.g. 1,000 x 50 msg/s), so equal numbers mean both brokers kept up. *lost* counts messages published but never received, broker drops under its queue and window limits included. *RSS/conn* is the broker's RSS growth during the run divided by the connections the simulator held. *connect/s* is the simulator's connection rate during its ramp. For *remote commands* the columns are commands per second answered, the command round trip (commander -> broker -> vehicle -> broker -> commander) and unanswered commands. *Persistent sessions* store every QoS 1 message: Convoy commits it to LMDB (fsync, group commit) before the PUBACK; mosquitto, with `persistence true`, keeps messages in memory and writes its whole state to one file every `autosave_interval` (30 min by default) and at shutdown, so a crash loses what it acknowledged since. Idle and connect-storm stop at 19,000 connections: one process holds at most ~19,900 sockets on this machine; 50,000 and 100,000 connections need several node processes (cluster issue).", "",
             "## Capacity", "",
             "The highest offered load each broker sustains: the simulator's per-client publish rate goes "
             f"up by half a step at a time ({', '.join(str(x) for x in CAPACITY_STEPS)} times the base), "
             "8 s per step with 2 s warm-up, and a step passes when subscribers receive at least 97 % of "
             "what was offered and at most 1 % is lost. *sustained msgs/s* is the offered load of the "
             "last passing step (median over the repetitions), latency and CPU are from that step. "
             "The simulator needs the same cores, so the machine, not only the broker, sets the ceiling.",
             "",
             "| scenario | broker | sustained msgs/s | p50 µs | p99 µs | broker CPU s | sim CPU s |",
             "|---|---|---|---|---|---|---|"]
    for n in capacity_names:
        desc = CAPACITY[n][0]
        med = {}
        for kind in ("convoy", "mosquitto"):
            rows = capacity[n][kind]
            med[kind] = {k: median(rows, k) for k in ("offered", "p50", "p99", "broker_cpu", "sim_cpu")}
            m = med[kind]
            # Passing the ladder's last step means the broker could take more.
            capped = statistics.median(1 if r.get("capped") else 0 for r in rows) >= 0.5
            lines.append(f"| {desc} | {kind} | {'≥ ' if capped else ''}{m['offered']:.0f} | "
                         f"{m['p50']:.0f} | {m['p99']:.0f} | {m['broker_cpu']:.1f} | {m['sim_cpu']:.1f} |")
        c, q = med["convoy"], med["mosquitto"]
        def cratio(k):
            return f"{c[k] / q[k]:.2f}" if q[k] else "n/a"
        convoy_capped = statistics.median(
            1 if r.get("capped") else 0 for r in capacity[n]["convoy"]) >= 0.5
        lines.append(f"| {desc} | **ratio** | {'≥ ' if convoy_capped else ''}{cratio('offered')} | "
                     f"{cratio('p50')} | {cratio('p99')} | {cratio('broker_cpu')} | |")
    lines += ["", "## Fixed load", "",
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
    notes = os.path.join(ROOT, "bench", "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    raw = os.path.splitext(args.out)[0] + ".json"
    with open(raw, "w") as f:
        json.dump({"command": command_line(args), "fixed": results, "capacity": capacity}, f, indent=1)
    print(f"wrote {args.out} and {raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
