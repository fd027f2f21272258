"""QoS 0/1/2 delivery, ordering and in-flight windows, with paho in MQTT
3.1.1 and 5.0 (and raw bytes where a client must withhold acknowledgements)."""

import unittest

from paho_util import (V311, V5, PacketTypes, PahoTestCase, RawPublish, ack_packet, disconnect_reason,
                       encode_props, packet, props, publish_packet, raw_session, read_packet_within, subscribe_packet)


class QosTests:
    def test_delivered_qos_is_min_of_publish_and_subscription_qos(self):
        sub = self.client("sub")
        pub = self.client("pub")
        for sq in range(3):
            self.assertEqual(sub.subscribe(self.topic(f"s{sq}"), sq), [sq])
        for sq in range(3):
            for pq in range(3):
                with self.subTest(publish_qos=pq, subscription_qos=sq):
                    topic = self.topic(f"s{sq}")
                    payload = f"published at {pq}, subscribed at {sq}".encode()
                    pub.publish(topic, payload, qos=pq)
                    m = sub.expect()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain, m.dup),
                                     (topic, payload, min(pq, sq), False, False))
        sub.expect_none()

    def test_both_clients_publish_and_subscribe(self):
        a = self.client("a")
        b = self.client("b")
        self.assertEqual(a.subscribe(self.topic("to-a"), 2), [2])
        self.assertEqual(b.subscribe(self.topic("to-b"), 1), [1])
        for q in range(3):
            a.publish(self.topic("to-b"), f"a->b {q}", qos=q)
            b.publish(self.topic("to-a"), f"b->a {q}", qos=q)
            ma, mb = a.expect(), b.expect()
            self.assertEqual((ma.topic, ma.payload, ma.qos), (self.topic("to-a"), f"b->a {q}".encode(), q))
            self.assertEqual((mb.topic, mb.payload, mb.qos), (self.topic("to-b"), f"a->b {q}".encode(), min(q, 1)))
        a.expect_none(0.2)
        b.expect_none(0.2)

    def test_many_messages_each_qos_arrive_once_in_order(self):
        sub = self.client("sub")
        pub = self.client("pub")
        for q in range(3):
            with self.subTest(qos=q):
                topic = self.topic(f"q{q}")
                self.assertEqual(sub.subscribe(topic, q), [q])
                mids = [pub.publish(topic, f"{q}-{i}", qos=q, wait=False) for i in range(60)]
                for mid in mids:
                    pub.wait_published(mid)
                got = sub.expect_n(60)
                self.assertEqual([m.payload for m in got], [f"{q}-{i}".encode() for i in range(60)])
                self.assertEqual({m.qos for m in got}, {q})
                self.assertEqual({m.dup for m in got}, {False})
                sub.expect_none(0.3)

    def test_overlapping_subscriptions_deliver_once_at_highest_qos(self):
        sub = self.client("sub")
        pub = self.client("pub")
        self.assertEqual(sub.subscribe(self.topic("#"), 0), [0])
        self.assertEqual(sub.subscribe(self.topic("x/+"), 2), [2])
        pub.publish(self.topic("x/y"), b"overlap", qos=2)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload, m.qos), (self.topic("x/y"), b"overlap", 2))
        sub.expect_none()

    def test_fan_out_to_subscribers_of_both_versions(self):
        # Subscribers of either version get a correctly encoded PUBLISH from
        # the same message (QoS 0 headers may be shared between subscribers).
        subs = []
        for v in (V311, V5, V311, V5):
            c = self.client("fan", version=v)
            c.subscribe(self.topic(), 2)
            subs.append(c)
        rap = self.client("rap", version=V5)
        rap.subscribe(self.topic(), 0, retain_as_published=True)
        pub = self.client("pub")
        user = [("k", "v")]
        for q in range(3):
            for retain in (False, True):
                payload = f"fan {q} {retain}".encode()
                p = props(PacketTypes.PUBLISH, UserProperty=list(user)) if self.v5 else None
                pub.publish(self.topic(), payload, qos=q, retain=retain, properties=p)
                for c in subs + [rap]:
                    m = c.expect()
                    want_qos = 0 if c is rap else q
                    want_retain = retain and c is rap
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (self.topic(), payload, want_qos, want_retain), f"{c.client_id}")
                    if c.version == V5:
                        self.assertEqual(m.properties.get("UserProperty"), user if self.v5 else None)
                    else:
                        self.assertEqual(m.properties, {})
        pub.publish(self.topic(), b"", qos=0, retain=True)  # clear the retained message
        for c in subs + [rap]:
            c.expect()

    def test_large_payload_passes_unchanged(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic(), 1)
        payload = bytes(range(256)) * 1200  # 300 KiB
        for q in range(3):
            pub.publish(self.topic(), payload, qos=q)
            m = sub.expect()
            self.assertEqual((len(m.payload), m.payload == payload, m.qos), (len(payload), True, min(q, 1)))

    def test_unsubscribed_topic_is_no_longer_delivered(self):
        sub = self.client("sub")
        pub = self.client("pub")
        sub.subscribe(self.topic("u"), 1)
        pub.publish(self.topic("u"), b"before", qos=1)
        self.assertEqual(sub.expect().payload, b"before")
        reasons = sub.unsubscribe(self.topic("u"))
        if self.v5:
            self.assertEqual(reasons, [0])
        pub.publish(self.topic("u"), b"after", qos=1)
        sub.expect_none()


class QosV311(QosTests, PahoTestCase):
    version = V311


class QosV5(QosTests, PahoTestCase):
    version = V5


class SmallWindowTests:
    """mqtt.receive_maximum = 2 on the node; MQTT 5 subscribers announce a
    Receive Maximum of 2 too."""

    settings = {"mqtt.receive_maximum": 2}

    def subscriber(self):
        if self.v5:
            return self.client("sub", properties=props(PacketTypes.CONNECT, ReceiveMaximum=2))
        return self.client("sub")

    def test_many_qos1_messages_all_arrive_in_order(self):
        sub = self.subscriber()
        pub = self.client("pub")
        topic = self.topic()
        sub.subscribe(topic, 1)
        mids = [pub.publish(topic, f"m{i}", qos=1, wait=False) for i in range(100)]
        for mid in mids:
            pub.wait_published(mid)
        got = sub.expect_n(100)
        self.assertEqual([m.payload for m in got], [f"m{i}".encode() for i in range(100)])
        self.assertEqual({m.qos for m in got}, {1})
        sub.expect_none(0.3)
        self.assertFalse(pub.disconnected.is_set(), "publisher was disconnected")

    def test_many_qos2_messages_all_arrive_in_order(self):
        sub = self.subscriber()
        pub = self.client("pub")
        topic = self.topic()
        sub.subscribe(topic, 2)
        mids = [pub.publish(topic, f"m{i}", qos=2, wait=False) for i in range(60)]
        for mid in mids:
            pub.wait_published(mid)
        got = sub.expect_n(60)
        self.assertEqual([m.payload for m in got], [f"m{i}".encode() for i in range(60)])
        self.assertEqual({m.qos for m in got}, {2})
        sub.expect_none(0.3)


class SmallWindowV311(SmallWindowTests, PahoTestCase):
    version = V311

    def test_unreleased_qos2_messages_do_not_close_a_311_connection(self):
        # MQTT 3.1.1 has no Receive Maximum: the client cannot learn the
        # node's limit, so a well-formed 3.1.1 session with three QoS 2
        # messages awaiting PUBREL must not be cut off.
        r, (present, rc, _) = raw_session(self.broker.port, self.cid("raw"), V311)
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        for pid in (1, 2, 3):
            r.send(publish_packet(self.topic(), f"q2-{pid}", V311, qos=2, packet_id=pid))
            p = read_packet_within(r, 3)
            self.assertNotIn(p, (None, "timeout"), f"no PUBREC for packet {pid}: connection closed or silent")
            self.assertEqual(p, (0x50, pid.to_bytes(2, "big")))
        for pid in (1, 2, 3):
            r.send(ack_packet("pubrel", pid))
            self.assertEqual(read_packet_within(r, 3), (0x70, pid.to_bytes(2, "big")))


class SmallWindowV5(SmallWindowTests, PahoTestCase):
    version = V5

    def test_connack_announces_receive_maximum(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("ReceiveMaximum"), 2)

    def test_send_window_is_the_subscribers_receive_maximum(self):
        r, (_, rc, _) = raw_session(self.broker.port, self.cid("raw"), V5, props=encode_props(ReceiveMaximum=2))
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        topic = self.topic()
        r.send(subscribe_packet(1, [(topic, 1)], V5))
        self.assertEqual(read_packet_within(r, 3), (0x90, b"\x00\x01\x00\x01"))
        pub = self.client("pub")
        for i in range(5):
            pub.publish(topic, f"w{i}", qos=1)

        def next_publish():
            p = read_packet_within(r, 3)
            self.assertNotIn(p, (None, "timeout"))
            return RawPublish(p[0], p[1], V5)

        first, second = next_publish(), next_publish()
        self.assertEqual([first.payload, second.payload], [b"w0", b"w1"])
        self.assertEqual(read_packet_within(r, 0.5), "timeout", "a third PUBLISH exceeded Receive Maximum 2")
        r.send(ack_packet("puback", first.packet_id))
        third = next_publish()
        self.assertEqual(third.payload, b"w2")
        self.assertEqual(read_packet_within(r, 0.5), "timeout", "a PUBLISH exceeded Receive Maximum 2")
        r.send(ack_packet("puback", second.packet_id))
        r.send(ack_packet("puback", third.packet_id))
        rest = [next_publish(), next_publish()]
        self.assertEqual([p.payload for p in rest], [b"w3", b"w4"])
        self.assertEqual(len({first.packet_id, second.packet_id, third.packet_id}), 3)

    def raw_subscriber(self, receive_maximum, qos, client_id=None, clean=True):
        extra = encode_props(ReceiveMaximum=receive_maximum)
        if not clean:
            extra += encode_props(SessionExpiryInterval=300)
        r, (present, rc, _) = raw_session(self.broker.port, client_id or self.cid("raw"), V5, clean=clean,
                                          props=extra)
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        if present == 0:
            r.send(subscribe_packet(1, [(self.topic(), qos)], V5))
            self.assertEqual(read_packet_within(r, 3), (0x90, b"\x00\x01\x00" + bytes([qos])))
        return r, present

    def next_publish(self, r):
        p = read_packet_within(r, 3)
        self.assertNotIn(p, (None, "timeout"))
        return RawPublish(p[0], p[1], V5)

    def test_qos2_message_holds_its_window_slot_until_pubcomp(self):
        r, _ = self.raw_subscriber(1, 2)
        pub = self.client("pub")
        for i in range(2):
            pub.publish(self.topic(), f"e{i}", qos=2)
        first = self.next_publish(r)
        self.assertEqual(first.payload, b"e0")
        r.send(ack_packet("pubrec", first.packet_id))
        self.assertEqual(read_packet_within(r, 3), (0x62, first.packet_id.to_bytes(2, "big")))
        self.assertEqual(read_packet_within(r, 0.5), "timeout", "a PUBLISH before PUBCOMP exceeded Receive Maximum 1")
        r.send(ack_packet("pubcomp", first.packet_id))
        self.assertEqual(self.next_publish(r).payload, b"e1")

    def test_pubrec_with_error_ends_the_exchange_and_frees_the_slot(self):
        r, _ = self.raw_subscriber(1, 2)
        pub = self.client("pub")
        for i in range(2):
            pub.publish(self.topic(), f"e{i}", qos=2)
        first = self.next_publish(r)
        r.send(packet(0x50, first.packet_id.to_bytes(2, "big") + b"\x80"))  # PUBREC, Unspecified error
        second = self.next_publish(r)  # no PUBREL for the refused one
        self.assertEqual(second.payload, b"e1")

    def test_resent_messages_respect_a_lower_receive_maximum_after_reconnect(self):
        # Receive Maximum is per connection [MQTT-3.3.4-9]: a client that comes
        # back with Receive Maximum 2 must not get 4 unacknowledged PUBLISHes.
        cid = self.cid("raw")
        r, _ = self.raw_subscriber(10, 1, client_id=cid, clean=False)
        pub = self.client("pub")
        for i in range(4):
            pub.publish(self.topic(), f"r{i}", qos=1)
        self.assertEqual([self.next_publish(r).payload for _ in range(4)], [b"r0", b"r1", b"r2", b"r3"])
        r.close()  # none acknowledged
        r, present = self.raw_subscriber(2, 1, client_id=cid, clean=False)
        self.assertEqual(present, 1)
        a, b = self.next_publish(r), self.next_publish(r)
        self.assertEqual([(a.payload, a.dup), (b.payload, b.dup)], [(b"r0", True), (b"r1", True)])
        self.assertEqual(read_packet_within(r, 0.5), "timeout", "more PUBLISHes in flight than Receive Maximum 2")
        r.send(ack_packet("puback", a.packet_id))
        self.assertEqual(self.next_publish(r).payload, b"r2")
        r.send(ack_packet("puback", b.packet_id))
        self.assertEqual(self.next_publish(r).payload, b"r3")

    def test_client_exceeding_server_receive_maximum_is_disconnected(self):
        r, (_, rc, cprops) = raw_session(self.broker.port, self.cid("raw"), V5)
        self.addCleanup(r.close)
        self.assertEqual((rc, cprops.get("ReceiveMaximum")), (0, 2))
        for pid in (1, 2):
            r.send(publish_packet(self.topic(), b"x", V5, qos=2, packet_id=pid))
            p = read_packet_within(r, 3)
            self.assertEqual(p[0], 0x50)
        r.send(publish_packet(self.topic(), b"x", V5, qos=2, packet_id=3))
        self.assertEqual(disconnect_reason(read_packet_within(r, 3)), 0x93)
        self.assertTrue(r.closed_by_peer())


class InflightLimitTests:
    """mqtt.max_inflight_messages = 2: the node's own bound on unacknowledged
    QoS 1/2 messages to one client; a smaller client Receive Maximum wins."""

    settings = {"mqtt.max_inflight_messages": 2}

    def raw_subscriber(self, extra=b""):
        r, (_, rc, _) = raw_session(self.broker.port, self.cid("raw"), self.version, props=extra)
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        r.send(subscribe_packet(1, [(self.topic(), 1)], self.version))
        self.assertEqual(read_packet_within(r, 3)[0], 0x90)
        return r

    def window_of(self, r, n_published=5):
        pub = self.client("pub")
        for i in range(n_published):
            pub.publish(self.topic(), f"i{i}", qos=1)
        got = []
        while True:
            p = read_packet_within(r, 0.5)
            if p == "timeout":
                break
            self.assertIsNotNone(p, "connection closed")
            got.append(RawPublish(p[0], p[1], self.version))
        return got

    def test_unacknowledged_messages_are_bounded_by_the_node(self):
        r = self.raw_subscriber()
        got = self.window_of(r)
        self.assertEqual([p.payload for p in got], [b"i0", b"i1"])
        r.send(ack_packet("puback", got[0].packet_id))
        p = read_packet_within(r, 3)
        self.assertEqual(RawPublish(p[0], p[1], self.version).payload, b"i2")


class InflightLimitV311(InflightLimitTests, PahoTestCase):
    version = V311


class InflightLimitV5(InflightLimitTests, PahoTestCase):
    version = V5

    def test_smaller_client_receive_maximum_wins(self):
        r = self.raw_subscriber(encode_props(ReceiveMaximum=1))
        self.assertEqual([p.payload for p in self.window_of(r)], [b"i0"])

    def test_larger_client_receive_maximum_is_capped(self):
        r = self.raw_subscriber(encode_props(ReceiveMaximum=10))
        self.assertEqual([p.payload for p in self.window_of(r)], [b"i0", b"i1"])


if __name__ == "__main__":
    unittest.main()
