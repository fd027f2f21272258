"""`convoy ctl` against a live node: every command in table and --json
form, credentials from flags and the environment, and its exit codes when
the node refuses (1) or cannot be reached (2)."""

import json
import os
import re
import time
import subprocess
import unittest

from broker import BrokerTestCase, convoy, convoy_in_background, free_port
from paho_util import V5, V311, Client
from test_http_api import make_key

VIN = "WVWZZZ1JZXW000555"
FP1 = ":".join(["a1"] * 32)
FP2 = ":".join(["b2"] * 32)


class CtlTest(BrokerTestCase):
    @classmethod
    def broker_options(cls):
        cls.key, keys_file = make_key(cls.tmp.name)
        return {"settings": {"http.api_keys_file": keys_file}}

    def ctl(self, *args, key=True, expect=0, env=None):
        p = self.broker.ctl(*(["--api-key", self.key] if key else []), *args, env={**os.environ, **(env or {})})
        self.assertEqual(p.returncode, expect, f"{args}: {p.stdout} {p.stderr}")
        return p.stdout if expect == 0 else p.stderr

    def rows(self, out):
        """A table as dicts, keyed by its header."""
        lines = [l for l in out.splitlines() if l.strip()]
        header = re.split(r"\s{2,}", lines[0].strip())
        return [dict(zip(header, re.split(r"\s{2,}", l.strip()))) for l in lines[1:]]

    def test_node_and_stats(self):
        out = self.ctl("node")
        self.assertIn("name:", out)
        self.assertRegex(out, rf"mqtt\s+{self.broker.port}")
        self.assertEqual(json.loads(self.ctl("--json", "node"))["name"], "convoy-1")
        stats = self.ctl("stats")
        self.assertRegex(stats, r"connections_accepted\s+\d+")
        self.assertIn("connections_accepted", json.loads(self.ctl("--json", "stats"))["counters"])

    def test_clients_sessions_kick_and_discard(self):
        a = Client(self.broker.port, "ctl-a", V5)
        a.connect()
        a.subscribe("ctl/sessions/#", qos=1)
        b = Client(self.broker.port, "ctl-b", V311, clean=False)
        b.connect()
        b.close()
        rows = self.rows(self.ctl("clients", "--prefix", "ctl-"))
        self.assertEqual([(r["CLIENT ID"], r["CONNECTED"]) for r in rows], [("ctl-a", "yes")])
        listed = json.loads(self.ctl("--json", "sessions", "--prefix", "ctl-", "--limit", "1", "--all"))
        self.assertEqual([s["clientId"] for s in listed], ["ctl-a", "ctl-b"])
        out = self.ctl("client", "ctl-a")
        self.assertRegex(out, r"transport:\s+tcp")
        self.assertRegex(out, r"ctl/sessions/#\s+1")
        self.assertIn("connected:      no", self.ctl("session", "ctl-b"))
        self.assertIn("disconnected ctl-a", self.ctl("kick", "ctl-a"))
        a.wait_disconnected()
        self.assertEqual(a.server_disconnect_reason, 0x98)
        self.assertIn("404", self.ctl("kick", "ctl-a", expect=1))
        self.assertIn("discarded", self.ctl("discard", "ctl-b"))
        a.close()

    def test_publish_and_retained(self):
        sub = Client(self.broker.port, "ctl-sub", V5)
        sub.connect()
        sub.subscribe("ctl/pub/#", qos=1)
        self.assertIn("delivered to 1 sessions", self.ctl("publish", "ctl/pub/x", "hello", "-q", "1", "--retain"))
        m = sub.expect()
        self.assertEqual((m.topic, m.payload, m.qos), ("ctl/pub/x", b"hello", 1))
        rows = self.rows(self.ctl("retained", "list", "ctl/pub/#"))
        self.assertEqual([(r["TOPIC"], r["PAYLOAD"]) for r in rows], [("ctl/pub/x", "hello")])
        self.assertRegex(self.ctl("retained", "get", "ctl/pub/x"), r"payload:\s+hello")
        self.assertIn("cleared", self.ctl("retained", "delete", "ctl/pub/x"))
        self.assertIn("404", self.ctl("retained", "get", "ctl/pub/x", expect=1))
        self.assertIn("400", self.ctl("publish", "bad/+", "x", expect=1))
        sub.close()

    def test_vehicles_and_devices(self):
        out = self.ctl("vehicles", "create", VIN, "--model", "ID.4", "--region", "eu-west")
        self.assertRegex(out, r"status:\s+active")
        self.assertRegex(out, r"created:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
        self.assertIn("409", self.ctl("vehicles", "create", VIN, expect=1))
        self.assertRegex(self.ctl("vehicles", "update", VIN, "--region", "eu-north"), r"region:\s+eu-north")
        out = self.ctl("devices", "add", VIN, "tcu-1", FP1)
        self.assertRegex(out, r"tcu-1\s+active")
        self.assertRegex(self.ctl("devices", "suspend", VIN, "tcu-1"), r"tcu-1\s+suspended")
        self.assertRegex(self.ctl("devices", "activate", VIN, "tcu-1"), r"tcu-1\s+active")
        self.assertRegex(self.ctl("devices", "replace", VIN, "tcu-1", "tcu-2", FP2), r"tcu-2\s+active")
        self.assertRegex(self.ctl("devices", "revoke", VIN, "tcu-2"), r"tcu-2\s+revoked")
        self.assertRegex(self.ctl("vehicles", "suspend", VIN), r"status:\s+suspended")
        self.assertRegex(self.ctl("vehicles", "activate", VIN), r"status:\s+active")
        rows = self.rows(self.ctl("vehicles", "list", "--region", "eu-north"))
        self.assertEqual([(r["VIN"], r["STATUS"], r["DEVICES"]) for r in rows], [(VIN, "active", "2")])
        self.assertEqual(json.loads(self.ctl("--json", "vehicles", "list", "--status", "suspended")), [])
        got = json.loads(self.ctl("--json", "vehicles", "get", VIN))
        self.assertEqual((got["vin"], got["region"]), (VIN, "eu-north"))
        self.assertIn("deleted", self.ctl("vehicles", "delete", VIN))
        self.assertIn("404", self.ctl("vehicles", "get", VIN, expect=1))

    def test_consents_and_state(self):
        vin = "WVWZZZ1JZXW000556"
        self.ctl("vehicles", "create", vin)
        out = self.ctl("consents", "grant", vin, "insurer-app", "location", "--ttl", "3600")
        self.assertRegex(out, r"purpose:\s+location")
        self.assertRegex(out, r"granted by:\s+key:ops")
        rows = self.rows(self.ctl("consents", "list", vin))
        self.assertEqual([(r["SUBJECT"], r["PURPOSE"]) for r in rows], [("insurer-app", "location")])
        self.assertIn("allowed (purpose location)",
                      self.ctl("consents", "check", vin, "insurer-app", "--topic", f"vehicles/{vin}/telemetry/location"))
        self.assertIn("not allowed", self.ctl("consents", "check", vin, "insurer-app", "--command", "lock-doors"))
        self.assertIn("revoked", self.ctl("consents", "revoke", vin, "insurer-app", "location"))
        self.assertIn("404", self.ctl("consents", "revoke", vin, "insurer-app", "location", expect=1))
        self.assertIn("remote-control", self.ctl("consents", "purposes"))
        car = Client(self.broker.port, vin, V5)
        car.connect()
        car.publish(f"vehicles/{vin}/telemetry/battery", json.dumps({"soc": 64}).encode(), qos=1)
        car.close()
        deadline = time.monotonic() + 5
        while True:
            p = self.broker.ctl("--api-key", self.key, "state", vin)
            if p.returncode == 0:
                break
            self.assertLess(time.monotonic(), deadline, p.stderr)
            time.sleep(0.1)
        self.assertRegex(p.stdout, r"battery\.soc\s+64")

    def test_commands_with_a_simulated_vehicle(self):
        car = "CTLSIM00000000000"  # `convoy sim --client-id-prefix CTLSIM`, vehicle 0
        self.ctl("vehicles", "create", car)
        self.ctl("consents", "grant", car, "companion-app", "remote-control")
        sim = convoy_in_background("sim", "--port", self.broker.port, "--vehicles", "1",
                                   "--subscribers", "0", "--publish-rate", "0", "--responders",
                                   "--client-id-prefix", "CTLSIM", "--duration", "20",
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(sim.wait, 30)
        self.addCleanup(sim.terminate)
        # The simulated vehicle answers accepted, then succeeded.
        deadline = time.monotonic() + 10
        while True:
            out = self.ctl("commands", "send", car, "lock-doors", "--subject", "companion-app",
                           "--params", '{"doors": "all"}', "--ttl", "10", "--wait")
            if "succeeded" in out or time.monotonic() > deadline:
                break
        self.assertRegex(out, r"status:\s+succeeded")
        timeline = [r["STATUS"] for r in self.rows(out[out.index("AT "):])]
        self.assertEqual(timeline[-3:], ["sent", "accepted", "succeeded"])
        command_id = re.search(r"id:\s+(\S+)", out).group(1)
        listed = self.rows(self.ctl("commands", "list", car))
        self.assertEqual(listed[0]["ID"], command_id)
        got = json.loads(self.ctl("--json", "commands", "get", car, command_id))
        self.assertEqual(got["result"], {"by": "convoy sim"})
        self.assertIn("409", self.ctl("commands", "cancel", car, command_id, expect=1))
        self.assertIn("rejected", self.ctl("commands", "send", car, "lock-doors", "--subject", "nobody"))
        self.assertIn("must be a JSON object", self.ctl("commands", "send", car, "x", "--params", "[1]", expect=2))

    def test_credentials_and_exit_codes(self):
        self.assertIn("401", self.ctl("node", key=False, expect=1))
        self.assertIn("name:", self.ctl("node", key=False, env={"CONVOY_API_KEY": self.key}))
        self.assertIn("401", self.ctl("--api-key", "wrong", "node", key=False, expect=1))
        p = convoy("ctl", "--url", f"http://127.0.0.1:{free_port()}", "node")
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot connect", p.stderr)
        p = convoy("ctl", "--url", "https://x:1", "node")
        self.assertEqual(p.returncode, 2)
        self.assertIn("plain HTTP", p.stderr)


if __name__ == "__main__":
    unittest.main()
