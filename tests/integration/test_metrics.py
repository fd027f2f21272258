"""/metrics in the Prometheus text format, read with python3-prometheus-client's
parser (Debian): every family the node documents is there with its type,
and the values move when traffic flows: connections, messages and bytes by
QoS, refusals and drops by reason, queue depth, mailboxes, and the
publish-to-deliver and storage commit histograms."""

import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from broker import BrokerTestCase
from http_api import Api
from paho_util import V5, V311, Client
from raw_mqtt import Conn, connect_bytes, publish_bytes


def scrape(api):
    r = api.get("/metrics")
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    families = {}
    for family in text_string_to_metric_families(r.body):
        families[family.name] = family
    return families


def value(families, name, **labels):
    """The sample of family `name` (a counter's name without _total) with
    exactly these labels; histograms: name_count or name_bucket with le."""
    for family in families.values():
        for s in family.samples:
            if s.name in (name, name + "_total") and all(s.labels.get(k) == v for k, v in labels.items()):
                if not labels and s.labels:
                    continue
                return s.value
    raise AssertionError(f"no sample {name} {labels}")


class MetricsTest(BrokerTestCase):
    settings = {"mqtt.max_queued_messages": 3, "mqtt.queue_qos0_messages": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)

    def test_every_family_is_there_with_its_type(self):
        f = scrape(self.api)
        expected = {
            "convoy_connections": "gauge", "convoy_sessions": "gauge", "convoy_queued_messages": "gauge",
            "convoy_messages_received": "counter", "convoy_messages_delivered": "counter",
            "convoy_message_bytes_received": "counter", "convoy_message_bytes_delivered": "counter",
            "convoy_refusals": "counter", "convoy_drops": "counter", "convoy_actors": "gauge",
            "convoy_mailbox_messages": "gauge", "convoy_publish_to_deliver_seconds": "histogram",
            "convoy_storage_commit_seconds": "histogram", "convoy_bytes_received": "counter",
            "convoy_uptime_seconds": "gauge", "convoy_info": "gauge",
        }
        for name, kind in expected.items():
            self.assertIn(name, f)
            self.assertEqual(f[name].type, kind, name)
        reasons = {s.labels["reason"] for s in f["convoy_refusals"].samples}
        self.assertTrue({"malformed", "not_authorized", "publish_rate", "websocket_upgrade", "http_request"} <= reasons)
        self.assertIn("queue_full", {s.labels["reason"] for s in f["convoy_drops"].samples})
        mailboxes = {(s.labels["actor"], s.labels["index"]) for s in f["convoy_mailbox_messages"].samples}
        self.assertIn(("session_registry", "0"), mailboxes)
        self.assertIn(("topic_shard", "7"), mailboxes)
        self.assertEqual(value(f, "convoy_actors", kind="topic_shard"), 8)
        buckets = [s for s in f["convoy_publish_to_deliver_seconds"].samples if s.name.endswith("_bucket")]
        self.assertEqual(buckets[-1].labels["le"], "+Inf")
        counts = [s.value for s in buckets]
        self.assertEqual(counts, sorted(counts), "buckets are cumulative")

    def settled(self):
        """A scrape once the connections of earlier tests are closed."""
        deadline = time.monotonic() + 5
        while True:
            f = scrape(self.api)
            if value(f, "convoy_connections") == 0:
                return f
            self.assertLess(time.monotonic(), deadline, "connections of earlier tests stay open")
            time.sleep(0.05)

    def test_values_move_with_traffic(self):
        before = self.settled()
        sub = Client(self.broker.port, "m-sub", V5)
        sub.connect()
        sub.subscribe("m/#", qos=2)
        pub = Client(self.broker.port, "m-pub", V311)
        pub.connect()
        during = scrape(self.api)
        self.assertEqual(value(during, "convoy_connections"), value(before, "convoy_connections") + 2)
        for qos in (0, 1, 2):
            pub.publish(f"m/q{qos}", b"x" * 100, qos=qos)
        for _ in range(3):
            sub.expect()
        after = scrape(self.api)
        for qos in (0, 1, 2):
            q = str(qos)
            self.assertEqual(value(after, "convoy_messages_received", qos=q),
                             value(before, "convoy_messages_received", qos=q) + 1, q)
            self.assertEqual(value(after, "convoy_messages_delivered", qos=q),
                             value(before, "convoy_messages_delivered", qos=q) + 1, q)
            self.assertEqual(value(after, "convoy_message_bytes_received", qos=q),
                             value(before, "convoy_message_bytes_received", qos=q) + 100, q)
            self.assertEqual(value(after, "convoy_message_bytes_delivered", qos=q),
                             value(before, "convoy_message_bytes_delivered", qos=q) + 100, q)
        self.assertEqual(value(after, "convoy_publish_to_deliver_seconds_count"),
                         value(before, "convoy_publish_to_deliver_seconds_count") + 3)
        self.assertGreater(value(after, "convoy_publish_to_deliver_seconds_sum"),
                           value(before, "convoy_publish_to_deliver_seconds_sum"))
        self.assertGreater(value(after, "convoy_bytes_received"), value(before, "convoy_bytes_received"))
        sub.close()
        pub.close()

    def test_refusals_drops_queue_depth_and_storage_commits(self):
        before = self.settled()
        # A malformed packet: refused with its reason.
        c = Conn(self.broker.port)
        c.send(connect_bytes("m-bad"))
        c.read()
        c.send(bytes([0x30, 0x02, 0xFF, 0xFF]))
        c.read()
        c.close()
        # An offline persistent session queues; past its bound it drops.
        p = Client(self.broker.port, "m-offline", V311, clean=False)
        p.connect()
        p.subscribe("m/offline", qos=1)
        p.close()
        pub = Client(self.broker.port, "m-pub2", V5)
        pub.connect()
        for i in range(5):
            pub.publish("m/offline", b"q%d" % i, qos=0)
        pub.publish("m/offline", b"stored", qos=1)
        deadline = time.monotonic() + 5
        while True:
            after = scrape(self.api)
            if value(after, "convoy_drops", reason="queue_full") >= value(before, "convoy_drops", reason="queue_full") + 2:
                break
            self.assertLess(time.monotonic(), deadline, "no queue_full drops counted")
            time.sleep(0.05)
        self.assertEqual(value(after, "convoy_refusals", reason="malformed"),
                         value(before, "convoy_refusals", reason="malformed") + 1)
        self.assertEqual(value(after, "convoy_queued_messages"), value(before, "convoy_queued_messages") + 3)
        self.assertGreater(value(after, "convoy_storage_commit_seconds_count"),
                           value(before, "convoy_storage_commit_seconds_count"))
        # Picking the queue up empties it.
        back = Client(self.broker.port, "m-offline", V311, clean=False)
        back.connect()
        back.expect_n(3)
        deadline = time.monotonic() + 5
        while value(scrape(self.api), "convoy_queued_messages") != value(before, "convoy_queued_messages"):
            self.assertLess(time.monotonic(), deadline, "the queue gauge did not come back down")
            time.sleep(0.05)
        back.close()
        pub.close()


if __name__ == "__main__":
    unittest.main()
