"""Retained messages (and the MQTT 5 subscription options around them:
retain handling, retain as published, no local), with paho in MQTT 3.1.1
and 5.0."""

import unittest

from paho_util import V311, V5, PahoTestCase, SubscribeOptions


class RetainTests:
    def test_retained_message_is_delivered_on_subscribe_with_retain_flag(self):
        pub = self.client("pub")
        for stored_qos, sub_qos in [(0, 2), (1, 1), (2, 1), (2, 0), (1, 2)]:
            with self.subTest(stored_qos=stored_qos, subscription_qos=sub_qos):
                topic = self.topic(f"{stored_qos}{sub_qos}")
                payload = f"retained at {stored_qos}".encode()
                pub.publish(topic, payload, qos=stored_qos, retain=True)
                sub = self.client("sub")
                self.assertEqual(sub.subscribe(topic, sub_qos), [sub_qos])
                m = sub.expect()
                self.assertEqual((m.topic, m.payload, m.retain, m.qos),
                                 (topic, payload, True, min(stored_qos, sub_qos)))
                sub.expect_none(0.2)

    def test_live_delivery_of_a_retained_publish_has_retain_flag_0(self):
        # 3.1.1: MUST set RETAIN 0 for an established subscription [MQTT-3.3.1-9];
        # MQTT 5: likewise unless Retain As Published is set [MQTT-3.3.1-12].
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1)
        pub.publish(self.topic(), b"live", qos=1, retain=True)
        m = sub.expect()
        self.assertEqual((m.payload, m.retain), (b"live", False))

    def test_new_retained_message_replaces_the_old_one(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"first", qos=1, retain=True)
        pub.publish(self.topic(), b"second", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1)
        m = sub.expect()
        self.assertEqual((m.payload, m.retain), (b"second", True))
        sub.expect_none()

    def test_empty_retained_payload_deletes_and_is_still_delivered_live(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"to be deleted", qos=1, retain=True)
        live = self.client("live")
        live.subscribe(self.topic(), 1)
        self.assertEqual(live.expect().payload, b"to be deleted")
        pub.publish(self.topic(), b"", qos=1, retain=True)
        m = live.expect()  # processed as normal for current subscribers
        self.assertEqual((m.payload, m.retain), (b"", False))
        late = self.client("late")
        late.subscribe(self.topic(), 1)
        late.expect_none()

    def test_wildcard_subscription_receives_every_matching_retained_message(self):
        pub = self.client("pub")
        expected = {}
        for leaf in ("a", "b/c", "d"):
            topic = self.topic(leaf)
            expected[topic] = f"value of {leaf}".encode()
            pub.publish(topic, expected[topic], qos=1, retain=True)
        pub.publish(self.topic("x"), b"not retained", qos=1)
        sub = self.client("sub")
        sub.subscribe(self.topic("#"), 1)
        got = sub.expect_n(3)
        self.assertEqual({m.topic: m.payload for m in got}, expected)
        self.assertTrue(all(m.retain for m in got))
        sub.expect_none()

    def test_retained_messages_are_gathered_from_every_topic_shard(self):
        # "+/..." has a wildcard in the shard key, so every topic shard is
        # asked for its retained messages.
        pub = self.client("pub")
        expected = {}
        for i in range(12):
            topic = f"k{i}/{self.topic()}"
            expected[topic] = f"r{i}".encode()
            pub.publish(topic, expected[topic], qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(f"+/{self.topic()}", 1)
        got = sub.expect_n(12)
        self.assertEqual({m.topic: m.payload for m in got}, expected)
        self.assertTrue(all(m.retain for m in got))
        sub.expect_none(0.3)

    def test_resumed_session_does_not_get_retained_messages_again(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"once", qos=1, retain=True)
        cid = self.cid("p")
        s = self.persistent(client_id=cid)
        s.subscribe(self.topic(), 1)
        self.assertEqual(s.expect().payload, b"once")
        s.disconnect()
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 1)
        s.expect_none()

    def test_resubscribe_resends_retained_message(self):
        # 3.1.1 [MQTT-3.8.4-3]; MQTT 5 with Retain Handling 0 (the default).
        pub = self.client("pub")
        pub.publish(self.topic(), b"kept", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1)
        self.assertEqual(sub.expect().payload, b"kept")
        sub.subscribe(self.topic(), 1)
        m = sub.expect()
        self.assertEqual((m.payload, m.retain), (b"kept", True))

    def test_retained_message_is_not_sent_to_a_shared_subscription(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"retained", qos=1, retain=True)
        sub = self.client("sub")
        self.assertEqual(sub.subscribe(f"$share/g/{self.topic()}", 1), [1])
        sub.expect_none()
        pub.publish(self.topic(), b"live", qos=1)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), (self.topic(), b"live"))


class RetainV311(RetainTests, PahoTestCase):
    version = V311


class RetainV5(RetainTests, PahoTestCase):
    version = V5

    def test_retain_handling_0_sends_on_every_subscribe(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1, retain_handling=0)
        self.assertEqual(sub.expect().payload, b"r")
        sub.subscribe(self.topic(), 1, retain_handling=0)
        m = sub.expect()
        self.assertEqual((m.payload, m.retain), (b"r", True))

    def test_retain_handling_1_sends_only_for_a_new_subscription(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1, retain_handling=1)
        m = sub.expect()
        self.assertEqual((m.payload, m.retain), (b"r", True))
        sub.subscribe(self.topic(), 1, retain_handling=1)
        sub.expect_none()
        sub.unsubscribe(self.topic())
        sub.subscribe(self.topic(), 1, retain_handling=1)
        self.assertEqual(sub.expect().payload, b"r")

    def test_retain_handling_2_never_sends_retained_messages(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=1, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 1, retain_handling=2)
        sub.expect_none()
        pub.publish(self.topic(), b"live", qos=1)
        self.assertEqual(sub.expect().payload, b"live")

    def test_retain_as_published_keeps_the_retain_flag_on_live_delivery(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("rap"), 1, retain_as_published=True)
        sub.subscribe(self.topic("plain"), 1, retain_as_published=False)
        for leaf in ("rap", "plain"):
            pub.publish(self.topic(leaf), b"retained", qos=1, retain=True)
            pub.publish(self.topic(leaf), b"not retained", qos=1, retain=False)
        got = [(m.topic, m.payload, m.retain) for m in sub.expect_n(4)]
        self.assertEqual(got, [
            (self.topic("rap"), b"retained", True),
            (self.topic("rap"), b"not retained", False),
            (self.topic("plain"), b"retained", False),
            (self.topic("plain"), b"not retained", False),
        ])

    def test_retained_on_subscribe_has_retain_flag_even_without_retain_as_published(self):
        pub = self.client("pub")
        pub.publish(self.topic(), b"r", qos=0, retain=True)
        sub = self.client("sub")
        sub.subscribe(self.topic(), 0, retain_as_published=False)
        self.assertTrue(sub.expect().retain)

    def test_no_local_suppresses_own_messages_only(self):
        a = self.client("a")
        b = self.client("b")
        a.subscribe(self.topic("nl"), 1, no_local=True)
        a.subscribe(self.topic("local"), 1, no_local=False)
        a.publish(self.topic("nl"), b"own", qos=1)
        a.publish(self.topic("local"), b"own local", qos=1)
        m = a.expect()
        self.assertEqual((m.topic, m.payload), (self.topic("local"), b"own local"))
        a.expect_none()
        b.publish(self.topic("nl"), b"from b", qos=1)
        m = a.expect()
        self.assertEqual((m.topic, m.payload), (self.topic("nl"), b"from b"))

    def test_no_local_on_a_shared_subscription_is_a_protocol_error(self):
        # [MQTT-3.8.3-4]: No Local 1 on a Shared Subscription is a Protocol Error.
        c = self.client("c")
        c.paho.subscribe(f"$share/g/{self.topic()}", options=SubscribeOptions(1, noLocal=True))
        self.assertTrue(c.wait_disconnected())
        self.assertEqual(c.server_disconnect_reason, 0x82)


if __name__ == "__main__":
    unittest.main()
