"""Per-client limits: publish rate in messages and bytes per second, topic
levels, subscriptions per client, and the login failure back-off per address,
each answered with the spec's reason code in MQTT 5 and 3.1.1."""

import time
import unittest

from broker import BrokerTestCase, NodeTestCase
from raw_mqtt import V5, V311, VERSIONS, Conn, assert_disconnect, connect_bytes, publish_bytes, subscribe_bytes


def session(port, version, client_id):
    c = Conn(port, version)
    c.send(connect_bytes(client_id, version=version))
    first, body = c.read()
    assert (first, body[1]) == (0x20, 0), (first, body)
    return c


class PublishRateTest(BrokerTestCase):
    settings = {"mqtt.max_publish_rate": 20}

    def test_a_client_above_the_rate_is_disconnected(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = session(self.broker.port, version, f"flood-{version}")
                c.send(b"".join(publish_bytes("t/flood", b"x", version=version) for _ in range(200)))
                assert_disconnect(self, c, 0x96)

    def test_a_client_within_the_rate_stays(self):
        c = session(self.broker.port, V5, "steady")
        c.send(subscribe_bytes(1, [("t/steady", 0)]))
        self.assertEqual(c.read()[0], 0x90)
        for i in range(30):  # 15 per second for two seconds
            c.send(publish_bytes("t/steady", b"%d" % i))
            time.sleep(1 / 15)
        got = [c.read()[0] & 0xF0 for _ in range(30)]
        self.assertEqual(got, [0x30] * 30)


class PublishBytesRateTest(NodeTestCase):
    def test_bytes_per_second(self):
        settings = {"mqtt.max_publish_bytes_rate": 2000, "mqtt.max_packet_size": 1024}
        broker = self.node(settings)
        for version in VERSIONS:
            with self.subTest(version=version):
                c = session(broker.port, version, f"bulk-{version}")
                c.send(b"".join(publish_bytes("t/bulk", b"x" * 900, version=version)
                                for _ in range(10)))
                assert_disconnect(self, c, 0x96)


class TopicLevelsAndSubscriptionsTest(BrokerTestCase):
    settings = {"mqtt.max_topic_levels": 4, "mqtt.max_subscriptions_per_client": 3}

    def test_too_many_levels(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = session(self.broker.port, version, f"levels-{version}")
                c.send(subscribe_bytes(1, [("a/b/+/#", 1), ("a/b/c/d/e", 1)], version=version))
                first, body = c.read()
                self.assertEqual(first, 0x90)
                refused = 0x8F if version == V5 else 0x80
                self.assertEqual(body[-2:], bytes([1, refused]))
                c.send(publish_bytes("a/b/c/d/e", b"deep", qos=1, pid=5, version=version))
                first, body = c.read()
                self.assertEqual(first, 0x40)
                self.assertEqual(body, b"\x00\x05\x90" if version == V5 else b"\x00\x05")
                c.send(publish_bytes("a/b/c/d", b"ok", qos=1, pid=6, version=version))
                # The message to a/b/c/d arrives (a/b/+/#); the deep one never did.
                kinds = sorted(c.read()[0] & 0xF0 for _ in range(2))
                self.assertEqual(kinds, [0x30, 0x40])

    def test_subscriptions_per_client(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = session(self.broker.port, version, f"subs-{version}")
                c.send(subscribe_bytes(1, [("s/1", 0), ("s/2", 0), ("s/3", 0), ("s/4", 0)],
                                       version=version))
                first, body = c.read()
                quota = 0x97 if version == V5 else 0x80
                self.assertEqual(body[-4:], bytes([0, 0, 0, quota]))
                # Changing one held is no new subscription.
                c.send(subscribe_bytes(2, [("s/2", 1)], version=version))
                self.assertEqual(c.read()[1][-1], 1)


class LoginBackoffTest(NodeTestCase):
    def test_the_delay_doubles_per_failure_and_a_success_resets_it(self):
        settings = {"auth.allow_anonymous": False, "auth.failure_delay_ms": 100, "auth.max_failure_delay_ms": 800}
        broker = self.node(settings, passwords={"svc": "right"})
        def login(password, version=V5):
            c = Conn(broker.port, version)
            start = time.monotonic()
            c.send(connect_bytes("b", version=version, username="svc", password=password))
            body = c.read()[1]
            took = time.monotonic() - start
            c.close()
            return body[1], took

        delays = []
        for _ in range(5):
            rc, took = login("wrong")
            self.assertEqual(rc, 0x86)
            delays.append(took)
        for took, expected in zip(delays, (0.1, 0.2, 0.4, 0.8, 0.8)):
            self.assertGreaterEqual(took, expected * 0.9)
            self.assertLess(took, expected + 0.5)
        self.assertEqual(login("right")[0], 0)
        rc, took = login("wrong", V311)
        self.assertEqual(rc, 4)
        self.assertLess(took, 0.5)  # back to the base delay


if __name__ == "__main__":
    unittest.main()
