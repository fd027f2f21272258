"""Shared subscriptions ($share/{group}/{filter}), with paho in MQTT 3.1.1
and 5.0: each message goes to one member of each group."""

import time
import unittest

from paho_util import V311, V5, PahoTestCase


class SharedTests:
    N = 20

    def publish_all(self, pub, topic, qos=1):
        payloads = [f"m{i:02}".encode() for i in range(self.N)]
        for p in payloads:
            pub.publish(topic, p, qos=qos)
        return payloads

    def collect(self, *clients, total):
        """Every message the clients receive until `total` have arrived,
        then a quiet period; returns one list of payloads per client."""
        got = [[] for _ in clients]

        deadline = time.monotonic() + 5
        while sum(map(len, got)) < total and time.monotonic() < deadline:
            for i, c in enumerate(clients):
                for m in c.drain():
                    got[i].append(m)
            time.sleep(0.01)  # polling several queues
        for c in clients:
            c.expect_none(0.3)
        return got

    def test_each_message_goes_to_exactly_one_member(self):
        a, b, plain = self.client("a"), self.client("b"), self.client("plain")
        self.assertEqual(a.subscribe(f"$share/g/{self.topic()}", 1), [1])
        self.assertEqual(b.subscribe(f"$share/g/{self.topic()}", 1), [1])
        self.assertEqual(plain.subscribe(self.topic(), 1), [1])
        pub = self.client("pub")
        payloads = self.publish_all(pub, self.topic())
        got_a, got_b = self.collect(a, b, total=self.N)
        pa, pb = [m.payload for m in got_a], [m.payload for m in got_b]
        self.assertEqual(sorted(pa + pb), payloads, "every message exactly once across the group")
        self.assertTrue(pa and pb, f"one member got everything: {len(pa)} / {len(pb)}")
        self.assertEqual(pa, sorted(pa))  # each member sees its share in order
        self.assertEqual(pb, sorted(pb))
        self.assertTrue(all(m.topic == self.topic() and m.qos == 1 for m in got_a + got_b))
        self.assertEqual([m.payload for m in plain.expect_n(self.N)], payloads)
        plain.expect_none(0.2)

    def test_round_robin_alternates_between_two_members(self):
        a, b = self.client("a"), self.client("b")
        a.subscribe(f"$share/rr/{self.topic()}", 0)
        b.subscribe(f"$share/rr/{self.topic()}", 0)
        pub = self.client("pub")
        self.publish_all(pub, self.topic())
        got_a, got_b = self.collect(a, b, total=self.N)
        self.assertEqual((len(got_a), len(got_b)), (self.N // 2, self.N // 2))

    def test_every_group_gets_every_message(self):
        a, b = self.client("a"), self.client("b")
        a.subscribe(f"$share/one/{self.topic()}", 1)
        b.subscribe(f"$share/two/{self.topic()}", 1)
        pub = self.client("pub")
        payloads = self.publish_all(pub, self.topic())
        self.assertEqual([m.payload for m in a.expect_n(self.N)], payloads)
        self.assertEqual([m.payload for m in b.expect_n(self.N)], payloads)

    def test_wildcard_shared_filter_and_qos_downgrade(self):
        a, b = self.client("a"), self.client("b")
        self.assertEqual(a.subscribe(f"$share/w/{self.topic('+/x')}", 0), [0])
        self.assertEqual(b.subscribe(f"$share/w/{self.topic('+/x')}", 0), [0])
        pub = self.client("pub")
        for i in range(4):
            pub.publish(self.topic(f"{i}/x"), f"w{i}".encode(), qos=2)
        got_a, got_b = self.collect(a, b, total=4)
        self.assertEqual(sorted(m.payload for m in got_a + got_b), [b"w0", b"w1", b"w2", b"w3"])
        self.assertEqual({m.qos for m in got_a + got_b}, {0})

    def test_first_level_wildcard_group_spans_topic_shards(self):
        # A filter with a wildcard in its shard key lives in every topic
        # shard; each message must still reach one member only.
        a, b, plain = self.client("a"), self.client("b"), self.client("plain")
        shared = f"$share/span/+/{self.topic()}"
        self.assertEqual(a.subscribe(shared, 1), [1])
        self.assertEqual(b.subscribe(shared, 1), [1])
        self.assertEqual(plain.subscribe(f"+/{self.topic()}", 1), [1])
        pub = self.client("pub")
        payloads = []
        for i in range(self.N):
            payloads.append(f"s{i:02}".encode())
            pub.publish(f"k{i}/{self.topic()}", payloads[-1], qos=1)
        got_a, got_b = self.collect(a, b, total=self.N)
        pa, pb = [m.payload for m in got_a], [m.payload for m in got_b]
        self.assertEqual(sorted(pa + pb), payloads)
        self.assertTrue(pa and pb, f"one member got everything: {len(pa)} / {len(pb)}")
        self.assertEqual(sorted(m.payload for m in plain.expect_n(self.N)), payloads)

    def test_remaining_member_gets_everything_after_the_other_leaves(self):
        a, b = self.client("a"), self.client("b")
        a.subscribe(f"$share/g/{self.topic()}", 1)
        b.subscribe(f"$share/g/{self.topic()}", 1)
        b.unsubscribe(f"$share/g/{self.topic()}")
        pub = self.client("pub")
        payloads = self.publish_all(pub, self.topic())
        self.assertEqual([m.payload for m in a.expect_n(self.N)], payloads)
        b.expect_none(0.2)

    def test_member_disconnecting_leaves_the_group(self):
        a, b = self.client("a"), self.client("b")
        a.subscribe(f"$share/g/{self.topic()}", 1)
        b.subscribe(f"$share/g/{self.topic()}", 1)
        b.disconnect()
        pub = self.client("pub")
        payloads = self.publish_all(pub, self.topic())
        self.assertEqual([m.payload for m in a.expect_n(self.N)], payloads)


class SharedV311(SharedTests, PahoTestCase):
    version = V311


class SharedV5(SharedTests, PahoTestCase):
    version = V5

    def test_connack_does_not_deny_shared_subscriptions(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("SharedSubscriptionAvailable", 1), 1)


class SharedOffV5(PahoTestCase):
    version = V5
    settings = {"mqtt.shared_subscriptions": False}

    def test_shared_subscription_is_refused_with_0x9e(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("SharedSubscriptionAvailable"), 0)
        self.assertEqual(c.subscribe(f"$share/g/{self.topic()}", 1), [0x9E])


if __name__ == "__main__":
    unittest.main()
