"""Telemetry routing rules (rules.file) end to end with real MQTT clients:
low-priority bulk goes only to a gzip archive (unparsed, acknowledged once
written, not delivered, no state); a payload predicate on JSON, gzipped
JSON and MessagePack payloads picks speeding messages for an archive and
delivery; the state action follows the rules; an archive that cannot be
written answers QoS 1 with an error and counts it without stalling
delivery; a bad rules file stops the node with file and line."""

import glob
import gzip
import json
import os
import re
import time
import unittest

from paho.mqtt.packettypes import PacketTypes

from broker import BrokerTestCase, NodeTestCase, write_file
from http_api import Api
from paho_util import V5, Client, props
from raw_mqtt import Conn, connect_bytes, prop_pair, publish_bytes

RULES = """
[[rule]]
name = "bulk"
topic = "vehicles/+/telemetry/bulk/#"
user_properties = { priority = "low" }
actions = ["archive"]
archive = "cold"

[[rule]]
name = "speeding"
topic = "vehicles/+/telemetry/speed"
where = ["kmh > 130"]
actions = ["deliver", "state", "archive"]
archive = "speeding"

[archive.cold]
gzip = true
flush_ms = 50

[archive.speeding]
flush_ms = 50
"""

CAR = "RULESCAR000000001"


def msgpack_map(d):
    """A small MessagePack encoder (fixmap of str -> int/str), so the test
    needs no msgpack module."""
    out = bytes([0x80 | len(d)])
    for k, v in d.items():
        kb = k.encode()
        out += bytes([0xa0 | len(kb)]) + kb
        if isinstance(v, int):
            out += bytes([0xcd]) + v.to_bytes(2, "big")  # uint16
        else:
            vb = v.encode()
            out += bytes([0xa0 | len(vb)]) + vb
    return out


def rules_node(case, text, archive_dir=None, **settings):
    """A node of the test case's with `text` as its rules.file (archives in
    a directory of the test's unless said): (broker started, rules file
    path, archive dir)."""
    archive_dir = archive_dir or os.path.join(case.temp_dir(), "archive")
    broker = case.node({"rules.archive_dir": archive_dir, **settings}, files={"rules.file": text})
    return broker, broker.path("rules.file"), archive_dir


def wait_until(case, condition, explain, timeout=5):
    """Polls condition() until it holds; fails the test after `timeout`
    seconds with explain() (the node's log, say)."""
    deadline = time.monotonic() + timeout
    while not condition():
        case.assertLess(time.monotonic(), deadline, explain())
        time.sleep(0.05)


def read_archive(directory):
    lines = []
    for path in sorted(glob.glob(os.path.join(directory, "segment-*"))):
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        lines += [json.loads(l) for l in data.decode().splitlines() if l]
    return lines


class NodeClients:
    """client(cid): an MQTT 5 client of the class's node, closed after the test."""

    def client(self, cid):
        c = Client(self.broker.port, cid, V5)
        c.connect()
        self.addCleanup(c.close)
        return c


class RulesTest(NodeClients, BrokerTestCase):
    @classmethod
    def broker_options(cls):
        cls.archive_dir = os.path.join(cls.tmp.name, "archive")
        return {"settings": {"rules.archive_dir": cls.archive_dir}, "files": {"rules.file": RULES}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rules = cls.broker.path("rules.file")
        cls.api = Api(cls.broker.http_port)

    def wait_archive(self, name, count, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            lines = read_archive(os.path.join(self.archive_dir, name))
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def state(self):
        r = self.api.get(f"/api/v1/vehicles/{CAR}/state")
        return r.json["fields"] if r.status == 200 else {}

    def test_low_priority_bulk_goes_only_to_the_gzip_archive(self):
        car = self.client(CAR)
        watcher = self.client("rules-watcher")
        watcher.subscribe("vehicles/+/telemetry/#", qos=1)
        low = props(PacketTypes.PUBLISH, UserProperty=[("priority", "low")])
        blobs = [bytes([i, 0xff, 0x00]) * 10 for i in range(20)]
        for b in blobs:
            # QoS 1: the PUBACK comes once the archive has written it.
            car.publish(f"vehicles/{CAR}/telemetry/bulk/can", b, qos=1, properties=low)
        lines = read_archive(os.path.join(self.archive_dir, "cold"))
        self.assertEqual(len(lines), 20)
        self.assertTrue(all(l["topic"] == f"vehicles/{CAR}/telemetry/bulk/can" for l in lines))
        import base64
        self.assertEqual([base64.b64decode(l["payloadBase64"]) for l in lines], blobs)
        self.assertTrue(glob.glob(os.path.join(self.archive_dir, "cold", "segment-*.jsonl.gz")))
        watcher.expect_none()  # archived only
        self.assertNotIn("bulk.can", self.state())
        # Without the low priority the rule does not match: delivered as usual.
        car.publish(f"vehicles/{CAR}/telemetry/bulk/can", json.dumps({"n": 1}), qos=1)
        self.assertEqual(watcher.expect().topic, f"vehicles/{CAR}/telemetry/bulk/can")

    def test_a_payload_predicate_reads_json_gzip_and_msgpack(self):
        car = self.client(CAR)
        watcher = self.client("speed-watcher")
        watcher.subscribe(f"vehicles/{CAR}/telemetry/speed", qos=1)
        topic = f"vehicles/{CAR}/telemetry/speed"
        car.publish(topic, json.dumps({"kmh": 150}), qos=1)
        car.publish(topic, gzip.compress(json.dumps({"kmh": 160}).encode()), qos=1)
        car.publish(topic, msgpack_map({"kmh": 170}), qos=1)
        car.publish(topic, json.dumps({"kmh": 80}), qos=1)  # no rule: delivered, not archived
        self.assertEqual(len(watcher.expect_n(4)), 4)
        lines = self.wait_archive("speeding", 3)
        self.assertEqual(len(lines), 3, lines)
        self.assertEqual(json.loads(lines[0]["payload"]), {"kmh": 150})
        self.assertIn("payloadBase64", lines[1])  # gzip bytes are archived as they came
        time.sleep(0.3)
        self.assertEqual(len(read_archive(os.path.join(self.archive_dir, "speeding"))), 3)
        # The state action: the matched JSON message's field; the unmatched
        # one goes to the state by default.
        deadline = time.monotonic() + 5
        while self.state().get("speed.kmh", {}).get("value") != 80:
            self.assertLess(time.monotonic(), deadline, self.state())
            time.sleep(0.05)


class RulesFailureTest(NodeTestCase):
    def test_an_archive_that_cannot_be_written_fails_its_messages_only(self):
        tmp = self.temp_dir()
        blocked = write_file(os.path.join(tmp, "blocked"), "a file where the archive directory should be")
        broker = rules_node(self, RULES, archive_dir=blocked)[0]
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        watcher = Client(broker.port, "fail-watcher", V5)
        watcher.connect()
        self.addCleanup(watcher.close)
        watcher.subscribe("vehicles/+/telemetry/#", qos=1)
        # Raw bytes, to read the PUBACK's reason code: 0x83, not success.
        raw = Conn(broker.port)
        self.addCleanup(raw.close)
        raw.send(connect_bytes("RULESCAR000000002"))
        raw.expect(0x20)
        raw.send(publish_bytes("vehicles/RULESCAR000000002/telemetry/bulk/can", b"x", qos=1, pid=7,
                               props=prop_pair("priority", "low")))
        ack = raw.expect(0x40)
        self.assertEqual(ack[:3], b"\x00\x07\x83")
        # Delivery of everything else goes on.
        car.publish(f"vehicles/{CAR}/telemetry/doors", "locked", qos=1)
        self.assertEqual(watcher.expect().payload, b"locked")
        metrics = Api(broker.http_port).get("/metrics").body
        self.assertRegex(metrics, r'convoy_drops_total\{reason="archive_write"\} [1-9]')
        self.assertIn("cannot open", broker.log())

    def test_a_bad_rules_file_stops_the_node_naming_file_and_line(self):
        rules = write_file(os.path.join(self.temp_dir(), "rules.toml"),
                           '[[rule]]\nname = "x"\ntopic = "a/#"\nactions = ["teleport"]\n')
        p = self.node_exits({"rules.file": rules, "http.enabled": False, "websocket.enabled": False})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{rules}:4: rule 'x': unknown action 'teleport'", p.output)


class Hook:
    """A webhook endpoint on 127.0.0.1 that records the JSON arrays POSTed
    to it; `failing` makes it answer 500; with tls=(cert, key) it speaks
    https."""

    def __init__(self, tls=None):
        import http.server
        import threading
        self.batches = []
        self.failing = False
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.failing:
                    self.send_response(500)
                else:
                    hook.batches.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def items(self):
        return [i for b in list(self.batches) for i in b]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


ENRICHED = """
[[rule]]
name = "alerts"
topic = "vehicles/+/telemetry/alerts"
actions = ["deliver", "archive", "webhook", "republish"]
archive = "alerts"
webhook = "ops"
republish_topic = "services/alerts/{{vin}}"
subject = "alerts-app"

[archive.alerts]
flush_ms = 20

[webhook.ops]
url = "http://127.0.0.1:{port}/hook"
batch_size = 5
batch_ms = 100
retry_initial_ms = 100
retry_max_ms = 400
"""


class RuleActionsTest(NodeClients, BrokerTestCase):
    """Webhook with retry and back-off, republish with enrichment and
    consent, next to delivery and the archive."""

    @classmethod
    def broker_options(cls):
        cls.hook = Hook()
        cls.archive_dir = os.path.join(cls.tmp.name, "archive")
        return {"settings": {"rules.archive_dir": cls.archive_dir},
                "files": {"rules.file": ENRICHED.format(port=cls.hook.port)}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)
        assert cls.api.post("/api/v1/vehicles", {"vin": CAR, "model": "ID.4", "region": "eu-west"}).status == 201

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.hook.close()

    def wait(self, what, predicate, timeout=8):
        wait_until(self, predicate, lambda: what, timeout)

    def test_webhook_batches_and_survives_an_outage(self):
        car = self.client(CAR)
        watcher = self.client("hook-watcher")
        watcher.subscribe(f"vehicles/{CAR}/telemetry/alerts", qos=1)
        start = len(self.hook.items())
        for i in range(7):
            car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"n": i, "phase": "up"}), qos=1)
        self.wait("7 items posted", lambda: len(self.hook.items()) >= start + 7)
        items = self.hook.items()[start:]
        self.assertEqual([i["data"]["n"] for i in items], list(range(7)))
        self.assertTrue(all(len(b) <= 5 for b in self.hook.batches))
        self.assertEqual(items[0]["vin"], CAR)
        watcher.drain()

        # The endpoint fails: delivery and the archive go on at once.
        self.hook.failing = True
        before_archive = len(read_archive(os.path.join(self.archive_dir, "alerts")))
        t0 = time.monotonic()
        for i in range(5):
            car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"n": i, "phase": "down"}), qos=1)
        self.assertEqual(len(watcher.expect_n(5)), 5)
        self.assertLess(time.monotonic() - t0, 2)
        self.wait("archived while the hook is down",
                  lambda: len(read_archive(os.path.join(self.archive_dir, "alerts"))) >= before_archive + 5)
        time.sleep(0.6)  # a few failed retries
        metrics = self.api.get("/metrics").body
        self.assertRegex(metrics, r"convoy_webhook_failures_total [1-9]")
        # Operators see it held and failing, in the metrics and the API.
        self.assertIn('convoy_webhook_queued_items{webhook="ops"} 5', metrics)
        self.assertIn('convoy_webhook_failing{webhook="ops"} 1', metrics)
        shown = self.api.get("/api/v1/webhooks/ops").json
        self.assertEqual((shown["queued"], shown["failing"], shown["origin"]), (5, True, "file"))
        # Back up: the held items arrive, none lost, in order.
        self.hook.failing = False
        self.wait("held items posted after the outage",
                  lambda: sum(1 for i in self.hook.items() if i["data"].get("phase") == "down") >= 5)
        self.wait("the queue empty again", lambda: self.api.get("/api/v1/webhooks").json["data"][0]["queued"] == 0)
        self.assertIn('convoy_webhook_failing{webhook="ops"} 0', self.api.get("/metrics").body)
        down = [i["data"]["n"] for i in self.hook.items() if i["data"].get("phase") == "down"]
        self.assertEqual(down, list(range(5)))
        self.assertIn("failed", self.broker.log())

    def test_republish_enriches_and_needs_consent(self):
        car = self.client(CAR)
        service = self.client("alerts-service")
        service.subscribe("services/alerts/#", qos=1)
        car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"code": "P0420"}), qos=1)
        service.expect_none()  # no consent for alerts-app yet
        r = self.api.post(f"/api/v1/vehicles/{CAR}/consents", {"subject": "alerts-app", "purpose": "telemetry"})
        self.assertEqual(r.status, 201, r)
        car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"code": "P0301"}), qos=1)
        m = service.expect()
        self.assertEqual(m.topic, f"services/alerts/{CAR}")
        body = json.loads(m.payload)
        self.assertEqual((body["vin"], body["model"], body["region"], body["rule"]),
                         (CAR, "ID.4", "eu-west", "alerts"))
        self.assertEqual(body["data"], {"code": "P0301"})
        # An unregistered vehicle's alerts are not republished.
        other = self.client("RULESCAR000000009")
        other.publish("vehicles/RULESCAR000000009/telemetry/alerts", json.dumps({"code": "X"}), qos=1)
        service.expect_none()
        self.assertRegex(self.api.get("/metrics").body, r'convoy_drops_total\{reason="unregistered"\} [1-9]')
        self.api.delete(f"/api/v1/vehicles/{CAR}/consents/alerts-app/telemetry")


class RulesApiTest(NodeTestCase):
    def test_list_and_dry_run(self):
        broker = rules_node(self, RULES)[0]
        api = Api(broker.http_port)
        listed = api.get("/api/v1/rules").json["data"]
        self.assertEqual([r["name"] for r in listed], ["bulk", "speeding"])
        self.assertEqual(listed[0]["userProperties"], {"priority": "low"})
        self.assertEqual(listed[1]["where"], ["kmh > 130"])
        self.assertEqual(listed[1]["actions"], ["deliver", "state", "archive"])
        self.assertEqual(listed[1]["matched"], 0)
        d = api.post("/api/v1/rules/test", {"topic": f"vehicles/{CAR}/telemetry/bulk/x", "payload": "AAEC",
                                            "payloadEncoding": "base64", "userProperties": {"priority": "low"}}).json
        self.assertEqual(d, {"deliver": False, "state": False, "matched": ["bulk"], "archive": ["cold"],
                             "republish": [], "webhook": []})
        d = api.post("/api/v1/rules/test", {"topic": f"vehicles/{CAR}/telemetry/speed",
                                            "payload": json.dumps({"kmh": 99})}).json
        self.assertEqual((d["deliver"], d["state"], d["matched"]), (True, True, []))
        # A real message moves the counter; the dry runs did not.
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        car.publish(f"vehicles/{CAR}/telemetry/speed", json.dumps({"kmh": 200}), qos=1)
        self.assertEqual(api.get("/api/v1/rules").json["data"][1]["matched"], 1)
        # The same through convoy ctl.
        out = broker.ctl("rules", "list").stdout
        self.assertRegex(out, r"speeding\s+file\s+vehicles/\+/telemetry/speed\s+deliver,state,archive\s+1")
        out = broker.ctl("rules", "test", f"vehicles/{CAR}/telemetry/bulk/x", "raw", "-p", "priority=low").stdout
        self.assertRegex(out, r"matched:\s+bulk\n")
        self.assertRegex(out, r"deliver:\s+no\n")
        self.assertRegex(out, r"archive:\s+cold\n")
        for body, fragment in [({}, "\"topic\" is required"), ({"topic": "a/+"}, "not a valid topic"),
                               ({"topic": "a", "payload": "%%", "payloadEncoding": "base64"}, "base64"),
                               ({"topic": "a", "userProperties": {"k": 1}}, "values must be strings")]:
            r = api.post("/api/v1/rules/test", body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(fragment, r.json["message"])


class RulesReloadTest(NodeTestCase):
    """A changed rules.file applies without a restart, starting the
    archives and webhooks it adds and reconfiguring changed ones; one that
    does not load, or names an archive it does not define, leaves the rules
    in force."""

    def test_reload(self):
        broker, rules, _ = rules_node(self, RULES, **{"auth.reload_interval_ms": 100})

        def write(text):
            broker.write("rules.file", text)
        api = Api(broker.http_port)

        def decision(topic):
            return api.post("/api/v1/rules/test", {"topic": topic, "payload": "{}"}).json

        def wait_log(text, count):
            wait_until(self, lambda: broker.log().count(text) >= count, broker.log)

        self.assertTrue(decision(f"vehicles/{CAR}/telemetry/doors")["deliver"])
        time.sleep(1.1)  # a new modification time, whatever the file system's resolution
        write(RULES + '\n[[rule]]\nname = "doors-cold"\ntopic = "vehicles/+/telemetry/doors"\n'
                      'actions = ["archive"]\narchive = "cold"\n')
        wait_log("routing rules reloaded", 1)
        d = decision(f"vehicles/{CAR}/telemetry/doors")
        self.assertEqual((d["deliver"], d["matched"], d["archive"]), (False, ["doors-cold"], ["cold"]))
        # Broken, then naming an archive the node does not have: refused.
        time.sleep(1.1)
        write("[[rule]]\nname = \"x\"\n")
        wait_log("rules.file not reloaded", 1)
        time.sleep(1.1)
        write(RULES + '\n[[rule]]\nname = "y"\ntopic = "a/#"\nactions = ["archive"]\narchive = "gone"\n')
        wait_log("rules.file not reloaded", 2)
        self.assertIn("there is no archive 'gone'", broker.log())
        self.assertEqual(decision(f"vehicles/{CAR}/telemetry/doors")["matched"], ["doors-cold"])
        self.assertRegex(api.get("/metrics").body, r"convoy_rules_reload_failures_total 2")

    def test_a_reload_starts_new_archives_and_webhooks_and_retargets_changed_ones(self):
        first, second = Hook(), Hook()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        broker, rules, archive_dir = rules_node(self, RULES, **{"auth.reload_interval_ms": 100})
        added = """
[[rule]]
name = "doors"
topic = "vehicles/+/telemetry/doors"
actions = ["deliver", "archive", "webhook"]
archive = "doors"
webhook = "ops"

[archive.doors]
flush_ms = 20

[webhook.ops]
url = "http://127.0.0.1:{port}/hook"
batch_size = 1
batch_ms = 20
"""

        def write(text, reloads):
            time.sleep(1.1)  # a new modification time
            broker.write("rules.file", text)
            wait_until(self, lambda: broker.log().count("routing rules reloaded") >= reloads, broker.log)
        write(RULES + added.format(port=first.port), 1)
        self.assertIn("archive 'doors' started", broker.log())
        self.assertIn("webhook 'ops' started", broker.log())
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        car.publish(f"vehicles/{CAR}/telemetry/doors", json.dumps({"locked": True}), qos=1)
        self.assertEqual(len(read_archive(os.path.join(archive_dir, "doors"))), 1)  # PUBACK after the write
        wait_until(self, lambda: len(first.items()) >= 1, broker.log)
        # The webhook moves to another endpoint and the archive to gzip:
        # the same actors carry on with the new definitions.
        write(RULES + added.format(port=second.port).replace("flush_ms = 20", "flush_ms = 20\ngzip = true"), 2)
        car.publish(f"vehicles/{CAR}/telemetry/doors", json.dumps({"locked": False}), qos=1)
        self.assertEqual(len(read_archive(os.path.join(archive_dir, "doors"))), 2)
        self.assertTrue(glob.glob(os.path.join(archive_dir, "doors", "segment-*.jsonl.gz")))
        wait_until(self, lambda: len(second.items()) >= 1, broker.log)
        self.assertEqual(second.items()[0]["data"], {"locked": False})
        self.assertEqual(len(first.items()), 1)


class HttpsWebhookTest(NodeTestCase):
    """Webhooks over https verify the endpoint's certificate and name: a
    mismatch fails the POSTs (logged, counted, the items kept), and the
    corrected definition, reloaded, delivers them all."""

    def test_https_verifies_and_keeps_the_items_until_it_can_post(self):
        from certs import CertAuthority
        tmp = self.temp_dir()
        ca = CertAuthority(os.path.join(tmp, "ca"))
        hook = Hook(tls=ca.issue("hook", cn="localhost", sans=("DNS:localhost",), server=True))
        self.addCleanup(hook.close)
        text = """
[[rule]]
name = "doors"
topic = "vehicles/+/telemetry/doors"
actions = ["webhook"]
webhook = "secure"

[webhook.secure]
url = "https://{host}:{port}/hook"
ca_file = "{ca}"
batch_size = 1
batch_ms = 20
retry_initial_ms = 50
retry_max_ms = 200
"""
        # 127.0.0.1 is not a name the certificate carries: refused.
        broker, rules, _ = rules_node(self, text.format(host="127.0.0.1", port=hook.port, ca=ca.cert),
                                      **{"auth.reload_interval_ms": 100})
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        for i in range(3):
            car.publish(f"vehicles/{CAR}/telemetry/doors", json.dumps({"n": i}), qos=1)
        api = Api(broker.http_port)
        wait_until(self, lambda: re.search(r"convoy_webhook_failures_total [1-9]", api.get("/metrics").body), broker.log)
        self.assertIn("TLS handshake", broker.log())
        self.assertEqual(hook.items(), [])
        time.sleep(1.1)  # a new modification time
        with open(rules, "w") as f:
            f.write(text.format(host="localhost", port=hook.port, ca=ca.cert))
        wait_until(self, lambda: len(hook.items()) >= 3, broker.log, timeout=8)
        self.assertEqual([i["data"]["n"] for i in hook.items()], [0, 1, 2])

    def test_a_ca_file_that_cannot_be_read_stops_the_node(self):
        rules = write_file(os.path.join(self.temp_dir(), "rules.toml"),
                           '[webhook.x]\nurl = "https://localhost:1/h"\nca_file = "/nonexistent/ca.crt"\n')
        p = self.node_exits({"rules.file": rules})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ca_file /nonexistent/ca.crt cannot be read", p.output)


class RulesOverApiTest(NodeTestCase):
    """Rules made, replaced and deleted over the API: stored, in force for
    the next message, after the file's rules, kept across a restart, and
    refused with a message that names the problem."""

    def test_put_get_delete_and_restart(self):
        tmp = self.temp_dir()
        data_dir = os.path.join(tmp, "data")
        settings = {"auth.reload_interval_ms": 100, "node.data_dir": data_dir}
        broker, rules, archive_dir = rules_node(self, RULES, **settings)
        api = Api(broker.http_port)
        car = Client(broker.port, CAR, V5)
        car.connect()
        watcher = Client(broker.port, "api-rules-watcher", V5)
        watcher.connect()
        watcher.subscribe("vehicles/+/telemetry/doors", qos=1)
        doors = f"vehicles/{CAR}/telemetry/doors"

        r = api.call("PUT", "/api/v1/rules/doors",
                     body={"topic": "vehicles/+/telemetry/doors", "actions": ["archive"], "archive": "speeding"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json["name"], r.json["origin"], r.json["archive"]), ("doors", "api", "speeding"))
        car.publish(doors, json.dumps({"locked": True}), qos=1)
        self.assertEqual([l["topic"] for l in read_archive(os.path.join(archive_dir, "speeding"))], [doors])
        watcher.expect_none()  # archive only: not delivered
        # Replaced: now delivered too; GET shows it after the file's rules.
        body = {"topic": "vehicles/+/telemetry/doors", "actions": ["deliver", "archive"], "archive": "speeding",
                "where": ["exists locked"], "userProperties": {"priority": "high"}}
        r = api.call("PUT", "/api/v1/rules/doors", body=body)
        self.assertEqual(r.status, 200, r)
        high = props(PacketTypes.PUBLISH, UserProperty=[("priority", "high")])
        car.publish(doors, json.dumps({"locked": False}), qos=1, properties=high)
        self.assertEqual(watcher.expect().topic, doors)
        listed = api.get("/api/v1/rules").json["data"]
        self.assertEqual([(d["name"], d["origin"]) for d in listed],
                         [("bulk", "file"), ("speeding", "file"), ("doors", "api")])
        one = api.get("/api/v1/rules/doors").json
        self.assertEqual((one["where"], one["userProperties"], one["matched"]),
                         (["exists locked"], {"priority": "high"}, 1))
        # What GET shows can be written back as it is.
        self.assertEqual(api.call("PUT", "/api/v1/rules/doors", body=one).status, 200)

        for name, rule, status, fragment in [
                ("bulk", {"topic": "a/#", "actions": ["deliver"]}, 409, "both in rules.file and over the API"),
                ("x", {"topic": "a/#", "actions": ["archive"], "archive": "nowhere"}, 400,
                 "there is no archive 'nowhere'"),
                ("x", {"topic": "a/#", "actions": ["fly"]}, 400, "unknown action \"fly\""),
                ("x", {"topic": "vehicles/+/t", "actions": ["republish"]}, 400, "needs 'republishTopic'"),
                ("x", {"topic": "a/#/b", "actions": ["deliver"]}, 400, "'topic' must be a topic filter"),
                ("x", {"topic": "a/#", "actions": ["deliver"], "color": 1}, 400, "unknown key \"color\""),
                ("x", {"topic": "a/#", "actions": ["deliver"], "name": "y"}, 400, "the name in the path"),
                ("x", {"topic": "a/#", "actions": ["deliver"], "where": ["speed ~ 1"]}, 400, "expected one of"),
                ("x", {"actions": ["deliver"]}, 400, "'topic' is required"),
                ("x", {"topic": "a/#"}, 400, "'actions' is required"),
                ("a%20b", {"topic": "a/#", "actions": ["deliver"]}, 400, "letters, digits")]:
            r = api.call("PUT", f"/api/v1/rules/{name}", body=rule)
            self.assertEqual(r.status, status, (name, rule, r))
            self.assertIn(fragment, r.json["message"], (name, rule))
        self.assertEqual(api.call("PUT", "/api/v1/rules/x", raw=b"{", headers={"Content-Type": "application/json"}).status, 400)
        self.assertEqual(api.delete("/api/v1/rules/bulk").status, 409)
        self.assertEqual(api.delete("/api/v1/rules/absent").status, 404)
        self.assertEqual(api.get("/api/v1/rules/absent").status, 404)

        # A restart keeps it (LMDB), evaluated as before.
        car.close()
        watcher.close()
        broker.restart()
        api = Api(broker.http_port)
        self.assertEqual(api.get("/api/v1/rules/doors").json["origin"], "api")
        d = api.post("/api/v1/rules/test", {"topic": doors, "payload": "{\"locked\": true}",
                                            "userProperties": {"priority": "high"}}).json
        self.assertEqual((d["matched"], d["deliver"]), (["doors"], True))
        # A file that now defines the same name is refused while the API rule stands.
        time.sleep(1.1)
        with open(rules, "a") as f:
            f.write('\n[[rule]]\nname = "doors"\ntopic = "x/#"\nactions = ["deliver"]\n')
        wait_until(self, lambda: "rules.file not reloaded" in broker.log(), broker.log)
        self.assertIn("rule 'doors' is defined both in rules.file and over the API", broker.log())
        with open(rules, "w") as f:
            f.write(RULES)

        # Through convoy ctl: put, get, delete.
        p = broker.ctl("rules", "put", "hot", "vehicles/+/telemetry/temp", "-a", "deliver", "-a", "state",
                       "-w", "celsius > 90", "-p", "priority=high")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"origin:\s+api")
        self.assertRegex(p.stdout, r"where:\s+celsius > 90")
        out = broker.ctl("rules", "list").stdout
        self.assertRegex(out, r"hot\s+api\s+vehicles/\+/telemetry/temp\s+deliver,state")
        p = broker.ctl("rules", "put", "bad", "a/#", "-a", "fly")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unknown action", p.stderr)
        p = broker.ctl("rules", "delete", "hot")
        self.assertEqual(p.returncode, 0, p.stderr)

        # Deleted: gone now and after a restart.
        self.assertEqual(api.delete("/api/v1/rules/doors").status, 204)
        self.assertEqual(api.get("/api/v1/rules/doors").status, 404)
        broker.restart()
        api = Api(broker.http_port)
        self.assertEqual([d["name"] for d in api.get("/api/v1/rules").json["data"]], ["bulk", "speeding"])

    def test_archives_and_webhooks_over_the_api(self):
        first, second = Hook(), Hook()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        tmp = self.temp_dir()
        settings = {"node.data_dir": os.path.join(tmp, "data"), "rules.archive_dir": os.path.join(tmp, "arch")}
        broker = self.node(settings)
        api = Api(broker.http_port)
        hook = {"url": f"http://127.0.0.1:{first.port}/hook", "batchSize": 1, "batchMs": 20}
        r = api.call("PUT", "/api/v1/webhooks/ops", body=hook)
        self.assertEqual((r.status, r.json["origin"], r.json["maxQueue"]), (201, "api", 10000), r)
        r = api.call("PUT", "/api/v1/archives/cold", body={"gzip": True, "flushMs": 20})
        self.assertEqual((r.status, r.json["directory"]), (201, os.path.join(tmp, "arch", "cold")), r)
        rule = {"topic": "vehicles/+/telemetry/alerts", "actions": ["archive", "webhook"],
                "archive": "cold", "webhook": "ops"}
        self.assertEqual(api.call("PUT", "/api/v1/rules/alerts", body=rule).status, 201)
        for body, fragment in [({"url": "ftp://x/y"}, '"url" must be an http:// or https:// URL'),
                               ({"url": "http://h:1/x", "batchSize": 0}, '"batchSize" must be an integer from 1 to 100000'),
                               ({"url": "http://h:1/x", "caFile": "/x.pem"}, '"caFile" is for https:// URLs'),
                               ({"url": "https://h:1/x", "caFile": "/nonexistent.pem"}, "cannot be read"),
                               ({"batchSize": 1}, '"url" is required'),
                               ({"url": "http://h:1/x", "color": 1}, 'unknown key "color"')]:
            r = api.call("PUT", "/api/v1/webhooks/bad", body=body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(fragment, r.json["message"])
            self.assertTrue(r.json["message"].startswith("webhook 'bad': "), r.json["message"])
        r = api.call("PUT", "/api/v1/archives/bad", body={"flushMs": "soon"})
        self.assertEqual((r.status, r.json["message"]), (400, "archive 'bad': \"flushMs\" must be an integer"))
        r = api.delete("/api/v1/webhooks/ops")
        self.assertEqual(r.status, 409)
        self.assertIn("used by rule 'alerts'", r.json["message"])
        self.assertEqual(api.delete("/api/v1/archives/absent").status, 404)

        car = Client(broker.port, CAR, V5)
        car.connect()
        car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"n": 1}), qos=1)
        self.assertEqual(len(read_archive(os.path.join(tmp, "arch", "cold"))), 1)
        wait_until(self, lambda: len(first.items()) >= 1, broker.log)
        car.close()

        # All three come back after a restart; a changed webhook keeps its actor and moves.
        broker.restart()
        api = Api(broker.http_port)
        self.assertEqual([w["name"] for w in api.get("/api/v1/webhooks").json["data"]], ["ops"])
        self.assertEqual(api.get("/api/v1/archives/cold").json["gzip"], True)
        r = api.call("PUT", "/api/v1/webhooks/ops", body={**hook, "url": f"http://127.0.0.1:{second.port}/hook"})
        self.assertEqual(r.status, 200, r)
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        car.publish(f"vehicles/{CAR}/telemetry/alerts", json.dumps({"n": 2}), qos=1)
        self.assertEqual(len(read_archive(os.path.join(tmp, "arch", "cold"))), 2)
        wait_until(self, lambda: len(second.items()) >= 1, broker.log)
        self.assertEqual((len(first.items()), second.items()[0]["data"]), (1, {"n": 2}))
        # Deleted in order: the rule, then what it fed.
        self.assertEqual(api.delete("/api/v1/rules/alerts").status, 204)
        self.assertEqual(api.delete("/api/v1/webhooks/ops").status, 204)
        self.assertEqual(api.delete("/api/v1/archives/cold").status, 204)
        self.assertEqual(api.get("/api/v1/webhooks/ops").status, 404)
        self.assertEqual(api.get("/api/v1/archives").json["data"], [])
        # The same through convoy ctl.
        run = broker.ctl
        p = run("webhooks", "put", "ops2", f"http://127.0.0.1:{first.port}/hook", "--batch-size", "7")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"batchSize:\s+7")
        p = run("archives", "put", "warm", "--gzip", "true")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(run("webhooks", "list").stdout, r"ops2\s+api\s+http://127.0.0.1:\d+/hook")
        self.assertRegex(run("archives", "get", "warm").stdout, r"gzip:\s+true")
        p = run("webhooks", "put", "bad", "ftp://x")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("must be an http:// or https:// URL", p.stderr)
        self.assertEqual(run("webhooks", "delete", "ops2").returncode, 0)
        self.assertEqual(run("archives", "delete", "warm").returncode, 0)

    def test_the_api_holds_at_most_max_api_definitions(self):
        broker = self.node({"rules.max_api_definitions": 2})
        api = Api(broker.http_port)
        rule = {"topic": "a/#", "actions": ["deliver"]}
        self.assertEqual(api.call("PUT", "/api/v1/rules/a", body=rule).status, 201)
        self.assertEqual(api.call("PUT", "/api/v1/webhooks/w", body={"url": "http://127.0.0.1:9/x"}).status, 201)
        for path, body in (("/api/v1/rules/b", rule), ("/api/v1/archives/c", {})):
            r = api.call("PUT", path, body=body)
            self.assertEqual(r.status, 409, r)
            self.assertIn("rules.max_api_definitions", r.json["message"])
        self.assertEqual(api.call("PUT", "/api/v1/rules/a", body={**rule, "topic": "b/#"}).status, 200)  # a replacement fits
        self.assertEqual(api.delete("/api/v1/rules/a").status, 204)
        self.assertEqual(api.call("PUT", "/api/v1/rules/b", body=rule).status, 201)

    def test_names_rules_file_defines_are_not_the_apis(self):
        broker, _, _ = rules_node(self, RULES)
        api = Api(broker.http_port)
        listed = api.get("/api/v1/archives").json["data"]
        self.assertEqual([(a["name"], a["origin"]) for a in listed], [("cold", "file"), ("speeding", "file")])
        r = api.call("PUT", "/api/v1/archives/cold", body={})
        self.assertEqual(r.status, 409)
        self.assertIn("defined in rules.file", r.json["message"])
        self.assertEqual(api.delete("/api/v1/archives/speeding").status, 409)

    def test_without_a_rules_file_the_api_makes_the_rules(self):
        broker = self.node()
        api = Api(broker.http_port)
        self.assertEqual(api.get("/api/v1/rules").json["data"], [])
        watcher = Client(broker.port, "no-file-watcher", V5)
        watcher.connect()
        self.addCleanup(watcher.close)
        watcher.subscribe("vehicles/+/telemetry/#", qos=1)
        car = Client(broker.port, CAR, V5)
        car.connect()
        self.addCleanup(car.close)
        r = api.call("PUT", "/api/v1/rules/quiet", body={"topic": "vehicles/+/telemetry/debug/#", "actions": ["state"]})
        self.assertEqual(r.status, 201, r)
        car.publish(f"vehicles/{CAR}/telemetry/debug/x", json.dumps({"n": 1}), qos=1)
        car.publish(f"vehicles/{CAR}/telemetry/speed", json.dumps({"kmh": 1}), qos=1)
        self.assertEqual(watcher.expect().topic, f"vehicles/{CAR}/telemetry/speed")  # debug is not delivered
        self.assertEqual(api.call("PUT", "/api/v1/rules/a", body={"topic": "a", "actions": ["webhook"],
                                                                  "webhook": "ops"}).json["message"],
                         "rule 'a': there is no webhook 'ops'")
        self.assertEqual(api.delete("/api/v1/rules/quiet").status, 204)
        self.assertEqual(api.get("/api/v1/rules").json["data"], [])


if __name__ == "__main__":
    unittest.main()
