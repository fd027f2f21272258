"""`convoy ctl` against a live node: every command in table and --json
form, credentials and the node's URL from flags and the environment, and its
documented exit codes: the node refuses (1), cannot be reached or the command
line is wrong (2, a mistyped subcommand named with the valid ones), a command
waited for does not succeed (3)."""

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

    @property
    def url(self):
        return self.broker.url

    def run_ctl(self, *args, key=True, url=True, env=None):
        argv = ["ctl"]
        if url:
            argv += ["--url", self.url]
        if key:
            argv += ["--api-key", self.key]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
        return convoy(*argv, *args, env={**environment, **(env or {})})

    def ctl(self, *args, key=True, url=True, expect=0, env=None):
        p = self.run_ctl(*args, key=key, url=url, env=env)
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
        self.assertIn("404", self.ctl("retained", "delete", "ctl/pub/x", expect=1))
        self.assertIn("400", self.ctl("retained", "get", "ctl/pub/+", expect=1))
        self.assertIn("400", self.ctl("publish", "bad/+", "x", expect=1))
        sub.close()

    def test_retained_by_the_plain_topic_path(self):
        # Levels that need encoding, an empty level: ctl sends the topic as the
        # rest of the path, level by level.
        topic = "ctl/ret/a b//ü"
        self.ctl("publish", topic, "odd", "--retain")
        got = json.loads(self.ctl("--json", "retained", "get", topic))
        self.assertEqual((got["topic"], got["payload"]), (topic, "odd"))
        self.assertIn("404", self.ctl("retained", "get", "ctl/ret/a b/ü", expect=1))
        self.assertIn(f"cleared the retained message of {topic}", self.ctl("retained", "delete", topic))
        self.assertEqual(json.loads(self.ctl("--json", "retained", "list", "ctl/ret/#")), [])

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
        # The simulated vehicle answers accepted, then succeeded (exit 0; until
        # it listens, the commands end otherwise, exit 3).
        deadline = time.monotonic() + 10
        while True:
            p = self.run_ctl("commands", "send", car, "lock-doors", "--subject", "companion-app",
                             "--params", '{"doors": "all"}', "--ttl", "10", "--wait")
            if p.returncode != 3 or time.monotonic() > deadline:
                break
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
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

    def test_wait_for_a_command_that_does_not_succeed_exits_3(self):
        car = "CTLWAIT0000000001"  # never connects
        self.ctl("vehicles", "create", car)
        self.ctl("consents", "grant", car, "companion-app", "remote-control")
        # Offline without a TTL: it ends at once, expired.
        p = self.run_ctl("commands", "send", car, "lock-doors", "--subject", "companion-app", "--wait")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"status:\s+expired")
        self.assertIn("the command did not succeed: expired", p.stderr)
        command_id = re.search(r"id:\s+(\S+)", p.stdout).group(1)
        # Held for its TTL, then expired: --wait follows it there.
        p = self.run_ctl("--json", "commands", "send", car, "climate", "--subject", "companion-app",
                         "--ttl", "1", "--wait")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual([e["status"] for e in json.loads(p.stdout)["timeline"]],
                         ["received", "queued", "expired"])
        # No consent: rejected.
        p = self.run_ctl("commands", "send", car, "lock-doors", "--subject", "nobody", "--wait")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("did not succeed: rejected", p.stderr)
        # get --wait of an ended command says the same; without --wait it is 0.
        self.assertIn("did not succeed: expired", self.ctl("commands", "get", car, command_id, "--wait", expect=3))
        self.assertRegex(self.ctl("commands", "get", car, command_id), r"status:\s+expired")
        self.assertRegex(self.ctl("commands", "send", car, "lock-doors", "--subject", "companion-app"),
                         r"status:\s+expired")

    def test_mistyped_or_missing_subcommands_exit_2_naming_the_valid_ones(self):
        err = self.ctl("clientz", expect=2)
        self.assertIn("unknown subcommand 'clientz'", err)
        self.assertRegex(err, r"one of: .*\bclients\b.*\bvehicles\b")
        self.assertNotIn("A subcommand is required", err)
        err = self.ctl("vehicles", "creat", VIN, expect=2)
        self.assertIn("convoy ctl vehicles: unknown subcommand 'creat'", err)
        self.assertRegex(err, r"one of: list, create, update, get, suspend, activate, delete")
        err = self.ctl("retained", "gett", "a/b", expect=2)
        self.assertIn("unknown subcommand 'gett'; one of: list, get, delete", err)
        self.assertIn("a subcommand is required; one of:", self.ctl(expect=2))
        self.assertIn("convoy ctl commands: a subcommand is required; one of: send, list, get, cancel",
                      self.ctl("commands", expect=2))
        # Other command line errors are 2 as well, not CLI11's own codes.
        self.assertIn("client_id is required", self.ctl("client", expect=2))
        self.assertIn("--bogus", self.ctl("node", "--bogus", expect=2))
        self.assertIn("extra", self.ctl("node", "extra", expect=2))
        self.assertIn("qos", self.ctl("publish", "a/b", "x", "-q", "7", expect=2).lower())
        for help_of in ((), ("vehicles",), ("commands", "send")):
            self.assertIn("Exit codes:", self.ctl(*help_of, "--help"), help_of)

    def test_exit_codes_are_documented(self):
        """--help lists 0-3, each as the tests here see it."""
        out = self.ctl("--help", key=False)
        table = dict(re.findall(r"^  (\d)  (.+)$", out[out.index("Exit codes:"):], re.M))
        self.assertEqual(sorted(table), ["0", "1", "2", "3"])
        self.assertIn("done", table["0"])
        self.assertIn("refused", table["1"])
        self.assertIn("could not be reached", table["2"])
        self.assertIn("--wait", table["3"])
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "CONFIG.md")) as f:
            config_md = f.read()
        for code in table:
            self.assertRegex(config_md, rf"\| {code} \|", f"exit code {code} not in docs/CONFIG.md")

    def test_url_from_the_environment_and_the_flag_wins(self):
        self.assertIn("name:", self.ctl("node", url=False, env={"CONVOY_URL": self.url}))
        dead = f"http://127.0.0.1:{free_port()}"
        self.assertIn("name:", self.ctl("node", env={"CONVOY_URL": dead}))
        err = self.ctl("node", url=False, env={"CONVOY_URL": dead}, expect=2)
        self.assertIn(f"cannot connect 127.0.0.1:{dead.rsplit(':', 1)[1]}", err)
        self.assertIn("plain HTTP", self.ctl("node", url=False, env={"CONVOY_URL": "https://x:1"}, expect=2))

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
