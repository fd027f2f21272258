"""MQTT 5 only: topic aliases, message expiry, forwarded PUBLISH properties
and request/response, subscription identifiers."""

import time
import unittest

from paho_util import V5, PacketTypes, PahoTestCase, props


def pub_props(**values):
    return props(PacketTypes.PUBLISH, **values)


def sub_props(**values):
    return props(PacketTypes.SUBSCRIBE, **values)


class TopicAliasV5(PahoTestCase):
    version = V5

    def test_connack_announces_topic_alias_maximum(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("TopicAliasMaximum"), 16)

    def test_subscriber_receives_the_full_topic_of_an_aliased_publish(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("#"), 1)
        topic = self.topic("vehicle/telemetry")
        pub.publish(topic, b"first", qos=1, properties=pub_props(TopicAlias=1))
        pub.publish("", b"second", qos=1, properties=pub_props(TopicAlias=1))
        pub.publish("", b"third", qos=0, properties=pub_props(TopicAlias=1))
        got = sub.expect_n(3)
        self.assertEqual([(m.topic, m.payload) for m in got],
                         [(topic, b"first"), (topic, b"second"), (topic, b"third")])
        # The subscriber announced no Topic Alias Maximum: no alias may reach it.
        self.assertFalse([m for m in got if "TopicAlias" in m.properties])

    def test_alias_can_be_mapped_to_another_topic(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("#"), 1)
        pub.publish(self.topic("one"), b"1", qos=1, properties=pub_props(TopicAlias=3))
        pub.publish(self.topic("two"), b"2", qos=1, properties=pub_props(TopicAlias=3))
        pub.publish("", b"3", qos=1, properties=pub_props(TopicAlias=3))
        self.assertEqual([(m.topic, m.payload) for m in sub.expect_n(3)],
                         [(self.topic("one"), b"1"), (self.topic("two"), b"2"), (self.topic("two"), b"3")])

    def test_alias_above_topic_alias_maximum_is_refused_with_0x94(self):
        pub = self.client("pub")
        maximum = pub.connack.properties["TopicAliasMaximum"]
        pub.publish(self.topic(), b"x", qos=0, properties=pub_props(TopicAlias=maximum + 1), wait=False)
        self.assertTrue(pub.wait_disconnected())
        self.assertEqual(pub.server_disconnect_reason, 0x94)

    def test_highest_allowed_alias_is_accepted(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1)
        maximum = pub.connack.properties["TopicAliasMaximum"]
        pub.publish(self.topic(), b"x", qos=1, properties=pub_props(TopicAlias=maximum))
        pub.publish("", b"y", qos=1, properties=pub_props(TopicAlias=maximum))
        self.assertEqual([m.payload for m in sub.expect_n(2)], [b"x", b"y"])
        self.assertFalse(pub.disconnected.is_set())

    def test_empty_topic_with_an_unmapped_alias_is_a_protocol_error(self):
        pub = self.client("pub")
        pub.publish("", b"x", qos=1, properties=pub_props(TopicAlias=5), wait=False)
        self.assertTrue(pub.wait_disconnected())
        self.assertEqual(pub.server_disconnect_reason, 0x82)

    def test_aliases_do_not_survive_a_reconnect(self):
        cid = self.cid("pub")
        pub = self.persistent(client_id=cid)
        pub.publish(self.topic(), b"x", qos=1, properties=pub_props(TopicAlias=2))
        pub.disconnect()
        pub = self.persistent(client_id=cid)
        self.assertEqual(pub.connack.session_present, 1)
        pub.publish("", b"y", qos=1, properties=pub_props(TopicAlias=2), wait=False)
        self.assertTrue(pub.wait_disconnected())
        self.assertEqual(pub.server_disconnect_reason, 0x82)


class NoTopicAliasesV5(PahoTestCase):
    version = V5
    settings = {"mqtt.topic_alias_maximum": 0}

    def test_any_alias_is_refused_when_aliases_are_off(self):
        pub = self.client("pub")
        self.assertEqual(pub.connack.properties.get("TopicAliasMaximum", 0), 0)
        pub.publish(self.topic(), b"x", qos=1, properties=pub_props(TopicAlias=1), wait=False)
        self.assertTrue(pub.wait_disconnected())
        self.assertEqual(pub.server_disconnect_reason, 0x94)


class MessageExpiryV5(PahoTestCase):
    version = V5

    def test_expired_message_is_not_delivered_to_a_returning_subscriber(self):
        cid = self.cid("sub")
        sub = self.persistent(client_id=cid)
        sub.subscribe(self.topic(), 1)
        sub.disconnect()
        pub = self.client("pub")
        pub.publish(self.topic(), b"short-lived", qos=1, properties=pub_props(MessageExpiryInterval=1))
        pub.publish(self.topic(), b"long-lived", qos=1, properties=pub_props(MessageExpiryInterval=30))
        published = time.monotonic()
        time.sleep(2.0)  # the short-lived message has to expire
        sub = self.persistent(client_id=cid)
        self.assertEqual(sub.connack.session_present, 1)
        m = sub.expect()
        waited = m.received_at - published
        self.assertEqual(m.payload, b"long-lived")
        # The interval is lowered by the time the message waited [MQTT-3.3.2-6].
        self.assertLessEqual(m.properties.get("MessageExpiryInterval"), 28)
        self.assertGreaterEqual(m.properties.get("MessageExpiryInterval"), int(30 - waited) - 1)
        sub.expect_none()

    def test_expired_retained_message_is_not_delivered(self):
        pub = self.client("pub")
        pub.publish(self.topic("short"), b"short", qos=1, retain=True, properties=pub_props(MessageExpiryInterval=1))
        pub.publish(self.topic("long"), b"long", qos=1, retain=True, properties=pub_props(MessageExpiryInterval=30))
        time.sleep(2.0)  # the short-lived retained message has to expire
        sub = self.client("sub")
        sub.subscribe(self.topic("#"), 1)
        m = sub.expect()
        self.assertEqual((m.topic, m.retain), (self.topic("long"), True))
        self.assertLessEqual(m.properties.get("MessageExpiryInterval"), 28)
        sub.expect_none()

    def test_live_delivery_keeps_the_expiry_interval(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 2)
        pub.publish(self.topic(), b"e", qos=1, properties=pub_props(MessageExpiryInterval=30))
        pub.publish(self.topic(), b"none", qos=1)
        with_expiry, without = sub.expect_n(2)
        self.assertIn(with_expiry.properties.get("MessageExpiryInterval"), (29, 30))
        self.assertNotIn("MessageExpiryInterval", without.properties)


class PropertiesV5(PahoTestCase):
    version = V5

    USER = [("key", "v1"), ("another", "x"), ("key", "v2"), ("ünï", "cödé")]

    def test_publish_properties_pass_through_unchanged(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 2)
        for q in range(3):
            with self.subTest(qos=q):
                p = pub_props(UserProperty=list(self.USER), ContentType="application/cbor",
                              PayloadFormatIndicator=0, ResponseTopic=self.topic("reply"),
                              CorrelationData=b"\x00corr\xff")
                pub.publish(self.topic(), b"\x00\x01binary", qos=q, properties=p)
                m = sub.expect()
                self.assertEqual(m.payload, b"\x00\x01binary")
                self.assertEqual(m.properties, {
                    "UserProperty": self.USER, "ContentType": "application/cbor",
                    "PayloadFormatIndicator": 0, "ResponseTopic": self.topic("reply"),
                    "CorrelationData": b"\x00corr\xff"})

    def test_payload_format_indicator_1_and_utf8_payload(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1)
        pub.publish(self.topic(), "grüße".encode(), qos=1,
                    properties=pub_props(PayloadFormatIndicator=1, ContentType="text/plain; charset=utf-8"))
        m = sub.expect()
        self.assertEqual((m.payload.decode(), m.properties.get("PayloadFormatIndicator"),
                          m.properties.get("ContentType")), ("grüße", 1, "text/plain; charset=utf-8"))

    def test_properties_of_a_retained_message_are_kept(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=1, retain=True,
                    properties=pub_props(UserProperty=list(self.USER), ContentType="c/t"))
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1)
        m = sub.expect()
        self.assertEqual((m.properties.get("UserProperty"), m.properties.get("ContentType")), (self.USER, "c/t"))

    def test_request_response_round_trip(self):
        requester = self.client("requester")
        responder = self.client("responder")
        responder.subscribe(self.topic("request/+"), 1)
        reply_topic = self.topic(f"reply/{requester.client_id}")
        requester.subscribe(reply_topic, 1)
        for n in range(3):
            correlation = f"req-{n}".encode() + bytes([0, 255])
            requester.publish(self.topic("request/add"), f"{n}+1".encode(), qos=1,
                              properties=pub_props(ResponseTopic=reply_topic, CorrelationData=correlation))
            request = responder.expect()
            self.assertEqual(request.properties.get("ResponseTopic"), reply_topic)
            a, b = request.payload.decode().split("+")
            responder.publish(request.properties["ResponseTopic"], str(int(a) + int(b)).encode(), qos=1,
                              properties=pub_props(CorrelationData=request.properties["CorrelationData"]))
            reply = requester.expect()
            self.assertEqual((reply.topic, reply.payload, reply.properties.get("CorrelationData")),
                             (reply_topic, str(n + 1).encode(), correlation))


class SubscriptionIdentifierV5(PahoTestCase):
    version = V5

    def test_overlapping_subscriptions_give_one_delivery_with_both_identifiers(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("a/#"), 1, properties=sub_props(SubscriptionIdentifier=1))
        sub.subscribe(self.topic("a/b"), 1, properties=sub_props(SubscriptionIdentifier=2))
        pub.publish(self.topic("a/b"), b"both", qos=1)
        m = sub.expect()
        self.assertEqual((m.payload, sorted(m.properties.get("SubscriptionIdentifier", []))), (b"both", [1, 2]))
        sub.expect_none(0.3)
        pub.publish(self.topic("a/c"), b"one", qos=1)
        m = sub.expect()
        self.assertEqual((m.payload, m.properties.get("SubscriptionIdentifier")), (b"one", [1]))
        sub.expect_none(0.3)

    def test_subscription_without_identifier_delivers_none(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("x/#"), 1, properties=sub_props(SubscriptionIdentifier=7))
        sub.subscribe(self.topic("y"), 1)
        pub.publish(self.topic("y"), b"plain", qos=1)
        self.assertNotIn("SubscriptionIdentifier", sub.expect().properties)

    def test_resubscribe_replaces_the_identifier(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1, properties=sub_props(SubscriptionIdentifier=5))
        sub.subscribe(self.topic(), 1, properties=sub_props(SubscriptionIdentifier=268435455))
        pub.publish(self.topic(), b"x", qos=1)
        self.assertEqual(sub.expect().properties.get("SubscriptionIdentifier"), [268435455])

    def test_resubscribe_without_identifier_removes_it(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1, properties=sub_props(SubscriptionIdentifier=5))
        sub.subscribe(self.topic(), 1)
        pub.publish(self.topic(), b"x", qos=1)
        self.assertNotIn("SubscriptionIdentifier", sub.expect().properties)

    def test_retained_message_carries_the_identifier(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1, properties=sub_props(SubscriptionIdentifier=42))
        m = sub.expect()
        self.assertEqual((m.retain, m.properties.get("SubscriptionIdentifier")), (True, [42]))

    def test_shared_subscription_delivery_carries_its_identifier(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(f"$share/g/{self.topic()}", 1, properties=sub_props(SubscriptionIdentifier=9))
        pub.publish(self.topic(), b"s", qos=1)
        self.assertEqual(sub.expect().properties.get("SubscriptionIdentifier"), [9])


if __name__ == "__main__":
    unittest.main()
