#!/usr/bin/python3
"""Remote command round trip with 1,000 simulated vehicles.

Two measurements, each repeated and reported as medians:

1. The command workflow (Convoy only: mosquitto has none): an API client
   POSTs /api/v1/vehicles/{vin}/commands and long-polls the command until
   it is terminal; the vehicles (`convoy sim --responders`) report accepted
   and succeeded on the response topic. Round trip = POST sent to the
   client seeing "succeeded"; it includes the registry and consent checks
   and two storage commits (the receipt and the send; each waits for the
   fsync), and the Python client's own HTTP cost. The node's own view, the
   command's first to last timeline event, is reported too.
2. The plain MQTT request/response underneath, for a same-machine baseline:
   `convoy sim --command-rate` has one back-end client publish commands to
   the vehicles and time their responses, against Convoy and mosquitto.

    bench/command_roundtrip.py [--reps 3] [--vehicles 1000] [--rate 100] [--duration 20]
"""

import argparse
import http.client
import json
import statistics
import subprocess
import threading
import time

from run import CONVOY, Broker, free_port, sim


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


class Api:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)


def sim_vins(n):
    # The simulator names vehicle i with base-33 digits after the prefix.
    alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    out = []
    for i in range(n):
        tail, x = [], i
        for _ in range(12):
            tail.append(alphabet[x % 33])
            x //= 33
        out.append("BENCH" + "".join(reversed(tail)))
    return out


def workflow_run(args):
    port, http_port = free_port(), free_port()
    broker = Broker("convoy", port, settings={"http.port": http_port,
                                               "commands.max_active_per_vehicle": 64}).start()
    try:
        api = Api(http_port)
        vins = sim_vins(args.vehicles)
        for v in vins:
            assert api.call("POST", "/api/v1/vehicles", {"vin": v})[0] == 201
            assert api.call("POST", f"/api/v1/vehicles/{v}/consents",
                            {"subject": "bench-app", "purpose": "remote-control"})[0] == 201
        fleet = subprocess.Popen([CONVOY, "sim", "--port", str(port), "--vehicles", str(args.vehicles),
                                  "--subscribers", "0", "--publish-rate", "0", "--responders",
                                  "--client-id-prefix", "BENCH", "--ramp-rate", "2000",
                                  "--duration", str(args.duration + 30)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while api.call("GET", "/api/v1/node")[1]["connections"] < args.vehicles:
                assert time.monotonic() < deadline, "the simulated fleet did not connect"
                time.sleep(0.2)
            time.sleep(1)
            cpu0 = broker.usage()[0]
            rtts, server, outcomes = [], [], {}
            lock = threading.Lock()
            total = int(args.rate * args.duration)
            start = time.monotonic()

            def client(k):
                local = Api(http_port)
                for i in range(k, total, args.clients):
                    due = start + i / args.rate
                    time.sleep(max(0.0, due - time.monotonic()))
                    t0 = time.monotonic()
                    status, c = local.call("POST", f"/api/v1/vehicles/{vins[i % len(vins)]}/commands",
                                           {"command": "lock-doors", "subject": "bench-app",
                                            "timeoutSeconds": 30})
                    while status == 202 or (status == 200 and not c["terminal"]):
                        if c["terminal"]:
                            break
                        status, c = local.call("GET", f"/api/v1/vehicles/{c['vin']}/commands/{c['id']}"
                                                      f"?wait=20&seen={c['events']}")
                    t1 = time.monotonic()
                    with lock:
                        outcomes[c["status"]] = outcomes.get(c["status"], 0) + 1
                        if c["status"] == "succeeded":
                            rtts.append((t1 - t0) * 1e6)
                            server.append((c["updatedAt"] - c["createdAt"]) * 1000)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
            cpu = broker.usage()[0] - cpu0
        finally:
            fleet.terminate()
            fleet.wait(30)
    finally:
        broker.stop()
    return {"p50": percentile(rtts, 0.5), "p99": percentile(rtts, 0.99),
            "server_p50": percentile(server, 0.5), "server_p99": percentile(server, 0.99),
            "succeeded": outcomes.get("succeeded", 0), "other": sum(v for k, v in outcomes.items() if k != "succeeded"),
            "rate": total / elapsed, "cpu": cpu}


def mqtt_run(kind, args):
    broker = Broker(kind, free_port()).start()
    try:
        extra = ["--vehicles", str(args.vehicles), "--subscribers", "0", "--publish-rate", "0",
                 "--command-rate", str(args.rate), "--command-qos", "1", "--ramp-rate", "2000",
                 "--warmup", "2"]
        r = sim(broker.port, extra, args.duration)[0]
        cpu, _ = broker.usage()
    finally:
        broker.stop()
    c = r["commands"]
    return {"p50": c["round_trip_us"]["p50"], "p99": c["round_trip_us"]["p99"],
            "answered": c["answered"], "sent": c["sent"], "cpu": cpu}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100.0, help="commands per second in all")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--clients", type=int, default=32, help="API client threads")
    args = p.parse_args()
    wf = [workflow_run(args) for _ in range(args.reps)]
    mq = {"convoy": [], "mosquitto": []}
    for _ in range(args.reps):
        for kind in mq:
            mq[kind].append(mqtt_run(kind, args))
    med = lambda runs, f: statistics.median(r[f] for r in runs)
    print(f"command round trip, {args.vehicles:,} vehicles, {args.rate:g} commands/s for {args.duration:g} s, "
          f"{args.reps} repetitions (medians)\n")
    print("| path | p50 (ms) | p99 (ms) | broker CPU (s) | outcome |")
    print("|---|---|---|---|---|")
    print(f"| Convoy workflow: API -> vehicle -> status -> API (client view) | {med(wf, 'p50') / 1000:.1f} | "
          f"{med(wf, 'p99') / 1000:.1f} | {med(wf, 'cpu'):.1f} | {med(wf, 'succeeded'):.0f} succeeded, "
          f"{med(wf, 'other'):.0f} other |")
    print(f"| Convoy workflow: first to last timeline event (node view) | {med(wf, 'server_p50') / 1000:.1f} | "
          f"{med(wf, 'server_p99') / 1000:.1f} | | |")
    for kind, runs in mq.items():
        print(f"| plain MQTT request/response via {kind} | {med(runs, 'p50') / 1000:.1f} | "
              f"{med(runs, 'p99') / 1000:.1f} | {med(runs, 'cpu'):.1f} | |")
    c, q = mq["convoy"], mq["mosquitto"]
    print(f"\nplain MQTT ratios Convoy / mosquitto: p50 {med(c, 'p50') / med(q, 'p50'):.2f}, "
          f"p99 {med(c, 'p99') / med(q, 'p99'):.2f}, CPU {med(c, 'cpu') / med(q, 'cpu'):.2f}")
    for r in wf:
        print(f"workflow run: p50 {r['p50'] / 1000:.1f} ms p99 {r['p99'] / 1000:.1f} ms, "
              f"{r['succeeded']} succeeded, {r['other']} other, {r['rate']:.0f}/s")


if __name__ == "__main__":
    main()
