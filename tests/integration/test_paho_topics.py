"""Topic filters and names, with paho in MQTT 3.1.1 and 5.0: wildcards,
$-topics, several filters per SUBSCRIBE, resubscription, invalid names and
filters."""

import unittest

from paho_util import (V311, V5, PahoTestCase, RawPublish, disconnect_reason, publish_packet, raw_session,
                       read_packet_within, subscribe_packet)


class TopicTests:
    def deliveries(self, sub, pub, topics):
        """Publishes one QoS 1 message to each topic; returns the topics the
        subscriber got."""
        for t in topics:
            pub.publish(t, t.encode(), qos=1)
        got = []
        while True:
            try:
                got.append(sub.expect(timeout=0.4).topic)
            except AssertionError:
                return got

    def test_single_level_wildcard(self):
        sub, pub = self.client("sub"), self.client("pub")
        sub.subscribe(self.topic("+/c"), 1)
        t = self.topic
        self.assertEqual(self.deliveries(sub, pub, [t("b/c"), t("b/c/d"), t("c"), t("x/c"), t("/c"), t("b/C")]),
                         [t("b/c"), t("x/c"), t("/c")])

    def test_multi_level_wildcard_also_matches_the_parent(self):
        sub, pub = self.client("sub"), self.client("pub")
        sub.subscribe(self.topic("a/#"), 1)
        t = self.topic
        self.assertEqual(self.deliveries(sub, pub, [t("a"), t("a/b"), t("a/b/c"), t("ab"), t("b/a")]),
                         [t("a"), t("a/b"), t("a/b/c")])

    def test_topic_names_are_case_sensitive_and_utf8(self):
        sub, pub = self.client("sub"), self.client("pub")
        sub.subscribe(self.topic("Grüße/ Wörld "), 1)
        t = self.topic
        self.assertEqual(self.deliveries(sub, pub, [t("grüße/ wörld "), t("Grüße/ Wörld "), t("Grüße/Wörld")]),
                         [t("Grüße/ Wörld ")])

    def test_several_filters_in_one_subscribe(self):
        sub, pub = self.client("sub"), self.client("pub")
        granted = sub.subscribe([(self.topic("q0"), 0), (self.topic("q1"), 1), (self.topic("q2"), 2)])
        self.assertEqual(granted, [0, 1, 2])
        for q in range(3):
            pub.publish(self.topic(f"q{q}"), b"x", qos=2)
            self.assertEqual(sub.expect().qos, q)

    def test_resubscribing_replaces_the_subscription(self):
        sub, pub = self.client("sub"), self.client("pub")
        self.assertEqual(sub.subscribe(self.topic(), 0), [0])
        self.assertEqual(sub.subscribe(self.topic(), 2), [2])
        pub.publish(self.topic(), b"upgraded", qos=2)
        m = sub.expect()
        self.assertEqual((m.payload, m.qos), (b"upgraded", 2))
        sub.expect_none()
        self.assertEqual(sub.subscribe(self.topic(), 1), [1])
        pub.publish(self.topic(), b"downgraded", qos=2)
        self.assertEqual(sub.expect().qos, 1)
        sub.expect_none()

    def test_publish_to_a_topic_with_a_wildcard_is_refused(self):
        r, (_, rc, _) = raw_session(self.broker.port, self.cid("raw"), self.version)
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        r.send(publish_packet(self.topic("+"), b"x", self.version, qos=1, packet_id=1))
        p = read_packet_within(r, 3)
        if self.v5:
            self.assertEqual(disconnect_reason(p), 0x90)  # Topic Name invalid
            self.assertTrue(r.closed_by_peer())
        else:
            self.assertIsNone(p)


class TopicV311(TopicTests, PahoTestCase):
    version = V311


class TopicV5(TopicTests, PahoTestCase):
    version = V5

    def test_invalid_filters_get_0x8f_and_valid_ones_are_granted(self):
        # paho checks filters itself, so this subscriber speaks raw bytes.
        r, (_, rc, _) = raw_session(self.broker.port, self.cid("raw"), V5)
        self.addCleanup(r.close)
        filters = [self.topic("ok"), self.topic("#/x"), self.topic("a+"), "$share/g", "$share//x",
                   self.topic("ok2")]
        r.send(subscribe_packet(3, [(f, 1) for f in filters[:-1]] + [(filters[-1], 2)], V5))
        self.assertEqual(read_packet_within(r, 3), (0x90, b"\x00\x03\x00" + bytes([1, 0x8F, 0x8F, 0x8F, 0x8F, 2])))
        pub = self.client("pub")
        pub.publish(self.topic("ok2"), b"fine", qos=2)
        p = RawPublish(*read_packet_within(r, 3), V5)
        self.assertEqual((p.topic, p.payload, p.qos), (self.topic("ok2"), b"fine", 2))

    def test_unsubscribe_reason_codes(self):
        sub = self.client("sub")
        sub.subscribe(self.topic("a"), 1)
        self.assertEqual(sub.unsubscribe([self.topic("a"), self.topic("never")]), [0x00, 0x11])
        self.assertEqual(sub.unsubscribe(self.topic("a")), [0x11])


class DollarTopicTests:
    """Its own node: a "#" subscriber must see nothing from other tests."""

    def test_leading_wildcards_do_not_match_dollar_topics(self):
        everything = self.client("all")
        self.assertEqual(everything.subscribe("#", 1), [1])
        plus = self.client("plus")
        self.assertEqual(plus.subscribe("+/x", 1), [1])
        dollar = self.client("dollar")
        self.assertEqual(dollar.subscribe("$convoy-test/#", 1), [1])
        pub = self.client("pub")
        pub.publish("$convoy-test/x", b"dollar", qos=1)
        self.assertEqual(dollar.expect().payload, b"dollar")
        everything.expect_none(0.3)
        plus.expect_none(0.1)
        pub.publish("plain/x", b"plain", qos=1)
        self.assertEqual(everything.expect().payload, b"plain")
        self.assertEqual(plus.expect().payload, b"plain")
        dollar.expect_none(0.1)

    def test_retained_dollar_topic_is_not_sent_to_a_leading_wildcard(self):
        pub = self.client("pub")
        pub.publish("$convoy-retained/x", b"r", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe("#", 1)
        sub.subscribe("+/x", 1)
        sub.expect_none()
        sub.subscribe("$convoy-retained/+", 1)
        self.assertEqual(sub.expect().payload, b"r")


class DollarTopicV311(DollarTopicTests, PahoTestCase):
    version = V311


class DollarTopicV5(DollarTopicTests, PahoTestCase):
    version = V5


if __name__ == "__main__":
    unittest.main()
