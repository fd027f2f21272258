"""Sessions: clean start / session present, resumption with subscriptions
and queued messages, redelivery of unacknowledged messages, session expiry
(MQTT 5) and session takeover, with paho in MQTT 3.1.1 and 5.0."""

import time
import unittest

from paho_util import (V311, V5, PacketTypes, PahoTestCase, RawPublish, ack_packet, disconnect_reason,
                       encode_props, packet, props, publish_packet, raw_session, read_packet_within,
                       subscribe_packet)


class SessionTests:
    def raw_persistent(self, client_id):
        extra = encode_props(SessionExpiryInterval=300) if self.v5 else b""
        r, connack = raw_session(self.broker.port, client_id, self.version, clean=False, props=extra)
        self.addCleanup(r.close)
        return r, connack

    def by_topic(self, messages):
        # Order is only defined per topic and QoS (spec 4.6), and paho hands
        # a QoS 2 message over at PUBREL: compare each topic's messages sorted.
        out = {}
        for m in messages:
            out.setdefault(m.topic, []).append((m.payload, m.qos))
        return {topic: sorted(ms) for topic, ms in out.items()}

    def test_first_persistent_connect_has_no_session_present(self):
        c = self.persistent()
        self.assertEqual((c.connack.session_present, c.connack.reason), (0, 0))

    def test_persistent_session_resumes_with_subscriptions_and_queued_messages(self):
        cid = self.cid("p")
        s = self.persistent(client_id=cid)
        self.assertEqual(s.subscribe(self.topic("q1"), 1), [1])
        self.assertEqual(s.subscribe(self.topic("q2"), 2), [2])
        s.disconnect()
        pub = self.client("pub")
        pub.publish(self.topic("q1"), b"one-a", qos=1)
        pub.publish(self.topic("q2"), b"two-a", qos=2)
        pub.publish(self.topic("q1"), b"one-b", qos=2)  # downgraded to 1
        pub.publish(self.topic("q2"), b"two-b", qos=1)
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 1)
        got = s.expect_n(4)
        self.assertEqual(self.by_topic(got), {
            self.topic("q1"): [(b"one-a", 1), (b"one-b", 1)],
            self.topic("q2"): [(b"two-a", 2), (b"two-b", 1)],
        })
        s.expect_none(0.3)
        pub.publish(self.topic("q2"), b"live", qos=2)
        m = s.expect()
        self.assertEqual((m.topic, m.payload, m.qos), (self.topic("q2"), b"live", 2))

    def test_clean_start_discards_the_old_session(self):
        cid = self.cid("p")
        s = self.persistent(client_id=cid)
        s.subscribe(self.topic(), 1)
        s.disconnect()
        pub = self.client("pub")
        pub.publish(self.topic(), b"queued for the old session", qos=1)
        clean = self.client("clean", client_id=cid, clean=True)
        self.assertEqual(clean.connack.session_present, 0)
        pub.publish(self.topic(), b"after clean start", qos=1)
        clean.expect_none()
        clean.disconnect()
        # The clean session ended with its connection: nothing to resume.
        again = self.persistent(client_id=cid)
        self.assertEqual(again.connack.session_present, 0)
        pub.publish(self.topic(), b"after reconnect", qos=1)
        again.expect_none()

    def test_unacknowledged_qos1_message_is_resent_with_dup_on_reconnect(self):
        cid = self.cid("raw")
        r, (present, rc, _) = self.raw_persistent(cid)
        self.assertEqual((present, rc), (0, 0))
        r.send(subscribe_packet(7, [(self.topic(), 1)], self.version))
        self.assertEqual(read_packet_within(r, 3)[0], 0x90)
        pub = self.client("pub")
        pub.publish(self.topic(), b"ack me", qos=1)
        first = RawPublish(*read_packet_within(r, 3), self.version)
        self.assertEqual((first.payload, first.qos, first.dup), (b"ack me", 1, False))
        r.close()  # without PUBACK
        r, (present, rc, _) = self.raw_persistent(cid)
        self.assertEqual((present, rc), (1, 0))
        again = RawPublish(*read_packet_within(r, 3), self.version)
        self.assertEqual((again.payload, again.qos, again.dup, again.packet_id),
                         (b"ack me", 1, True, first.packet_id))
        r.send(ack_packet("puback", again.packet_id))
        self.assertEqual(read_packet_within(r, 0.5), "timeout")

    def test_unacknowledged_messages_come_back_first_then_queued_ones_in_order(self):
        cid = self.cid("raw")
        r, _ = self.raw_persistent(cid)
        r.send(subscribe_packet(7, [(self.topic(), 1)], self.version))
        self.assertEqual(read_packet_within(r, 3)[0], 0x90)
        pub = self.client("pub")
        for i in range(2):
            pub.publish(self.topic(), f"m{i}", qos=1)
        first = [RawPublish(*read_packet_within(r, 3), self.version) for _ in range(2)]
        self.assertEqual([p.payload for p in first], [b"m0", b"m1"])
        r.close()  # neither acknowledged
        for i in range(2, 5):
            pub.publish(self.topic(), f"m{i}", qos=1)
        r, (present, _, _) = self.raw_persistent(cid)
        self.assertEqual(present, 1)
        got = []
        for _ in range(5):
            p = RawPublish(*read_packet_within(r, 3), self.version)
            got.append((p.payload, p.dup))
            r.send(ack_packet("puback", p.packet_id))
        self.assertEqual(got, [(b"m0", True), (b"m1", True), (b"m2", False), (b"m3", False), (b"m4", False)])
        self.assertEqual(read_packet_within(r, 0.5), "timeout")

    def test_unreleased_qos2_exchange_resumes_with_pubrel_on_reconnect(self):
        cid = self.cid("raw")
        r, _ = self.raw_persistent(cid)
        r.send(subscribe_packet(7, [(self.topic(), 2)], self.version))
        self.assertEqual(read_packet_within(r, 3)[0], 0x90)
        pub = self.client("pub")
        pub.publish(self.topic(), b"exactly once", qos=2)
        p = RawPublish(*read_packet_within(r, 3), self.version)
        self.assertEqual((p.payload, p.qos), (b"exactly once", 2))
        r.send(ack_packet("pubrec", p.packet_id))
        self.assertEqual(read_packet_within(r, 3), (0x62, p.packet_id.to_bytes(2, "big")))
        r.close()  # without PUBCOMP
        r, (present, _, _) = self.raw_persistent(cid)
        self.assertEqual(present, 1)
        self.assertEqual(read_packet_within(r, 3), (0x62, p.packet_id.to_bytes(2, "big")))
        r.send(ack_packet("pubcomp", p.packet_id))
        self.assertEqual(read_packet_within(r, 0.5), "timeout", "the message was sent again")

    def test_resent_qos2_publish_after_reconnect_is_delivered_once(self):
        sub = self.client("sub")
        sub.subscribe(self.topic(), 2)
        cid = self.cid("raw")
        r, _ = self.raw_persistent(cid)
        publish = publish_packet(self.topic(), b"once only", self.version, qos=2, packet_id=10)
        r.send(publish)
        self.assertEqual(read_packet_within(r, 3), (0x50, b"\x00\x0a"))
        r.close()  # before PUBREL
        r, (present, _, _) = self.raw_persistent(cid)
        self.assertEqual(present, 1)
        r.send(publish_packet(self.topic(), b"once only", self.version, qos=2, packet_id=10, dup=True))
        self.assertEqual(read_packet_within(r, 3), (0x50, b"\x00\x0a"))
        r.send(ack_packet("pubrel", 10))
        self.assertEqual(read_packet_within(r, 3), (0x70, b"\x00\x0a"))
        self.assertEqual(sub.expect().payload, b"once only")
        sub.expect_none()

    def test_pubrel_after_reconnect_completes_the_qos2_exchange(self):
        sub = self.client("sub")
        sub.subscribe(self.topic(), 2)
        cid = self.cid("raw")
        r, _ = self.raw_persistent(cid)
        r.send(publish_packet(self.topic(), b"released later", self.version, qos=2, packet_id=11))
        self.assertEqual(read_packet_within(r, 3), (0x50, b"\x00\x0b"))
        r.close()
        r, _ = self.raw_persistent(cid)
        r.send(ack_packet("pubrel", 11))
        # Success, not 0x92 (Packet Identifier not found): the id is session state.
        self.assertEqual(read_packet_within(r, 3), (0x70, b"\x00\x0b"))
        self.assertEqual(sub.expect().payload, b"released later")
        sub.expect_none()

    def test_second_connection_with_the_same_client_id_takes_over(self):
        cid = self.cid("twin")
        first = self.client("first", client_id=cid)
        second = self.client("second", client_id=cid)
        self.assertEqual(second.connack.reason, 0)
        self.assertTrue(first.wait_disconnected(), "the first connection was not closed")
        if self.v5:
            self.assertEqual(first.server_disconnect_reason, 0x8E)
        else:
            self.assertIsNone(first.server_disconnect_reason, "a 3.1.1 server must not send DISCONNECT")
        self.assertEqual(second.subscribe(self.topic(), 1), [1])
        second.publish(self.topic(), b"still works", qos=1)
        self.assertEqual(second.expect().payload, b"still works")
        self.assertFalse(second.disconnected.is_set())

    def test_takeover_of_a_persistent_session_keeps_it(self):
        cid = self.cid("twin")
        first = self.persistent(client_id=cid)
        first.subscribe(self.topic(), 1)
        second = self.persistent(client_id=cid)
        self.assertEqual(second.connack.session_present, 1)
        self.assertTrue(first.wait_disconnected())
        pub = self.client("pub")
        pub.publish(self.topic(), b"to the new connection", qos=1)
        self.assertEqual(second.expect().payload, b"to the new connection")
        first.expect_none(0.2)


class SessionV311(SessionTests, PahoTestCase):
    version = V311


class SessionV5(SessionTests, PahoTestCase):
    version = V5

    def test_session_with_expiry_1_is_gone_after_two_seconds(self):
        cid = self.cid("short")
        s = self.persistent(client_id=cid, expiry=1)
        s.subscribe(self.topic(), 1)
        s.disconnect()
        pub = self.client("pub")
        pub.publish(self.topic(), b"for an expiring session", qos=1)
        time.sleep(2.0)  # the Session Expiry Interval has to pass
        s = self.persistent(client_id=cid, expiry=1)
        self.assertEqual(s.connack.session_present, 0)
        s.expect_none()
        pub.publish(self.topic(), b"after expiry", qos=1)
        s.expect_none()

    def test_session_with_expiry_0_ends_at_disconnect(self):
        cid = self.cid("zero")
        s = self.persistent(client_id=cid, expiry=0)
        s.subscribe(self.topic(), 1)
        s.disconnect()
        s = self.persistent(client_id=cid, expiry=0)
        self.assertEqual(s.connack.session_present, 0)

    def test_disconnect_can_end_the_session(self):
        cid = self.cid("p")
        s = self.persistent(client_id=cid, expiry=300)
        s.subscribe(self.topic(), 1)
        s.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 0)

    def test_disconnect_can_extend_the_session(self):
        cid = self.cid("p")
        s = self.persistent(client_id=cid, expiry=1)
        s.subscribe(self.topic(), 1)
        s.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=60))
        pub = self.client("pub")
        pub.publish(self.topic(), b"kept", qos=1)
        time.sleep(1.8)  # longer than the Session Expiry Interval given at CONNECT
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 1)
        self.assertEqual(s.expect().payload, b"kept")

    def test_disconnect_giving_expiry_to_a_session_without_one_is_a_protocol_error(self):
        # [MQTT-3.14.2-2]: the server answers DISCONNECT 0x82.
        r, (_, rc, _) = raw_session(self.broker.port, self.cid("raw"), V5)
        self.addCleanup(r.close)
        self.assertEqual(rc, 0)
        body = b"\x00" + bytes([5]) + encode_props(SessionExpiryInterval=30)
        r.send(packet(0xE0, body))
        self.assertEqual(disconnect_reason(read_packet_within(r, 3)), 0x82)
        self.assertTrue(r.closed_by_peer())

    def test_clean_start_with_expiry_still_creates_a_persistent_session(self):
        cid = self.cid("p")
        s = self.client("p", client_id=cid, clean=True,
                        properties=props(PacketTypes.CONNECT, SessionExpiryInterval=300))
        self.assertEqual(s.connack.session_present, 0)
        s.subscribe(self.topic(), 1)
        s.disconnect()
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 1)


class QueueLimitTests:
    settings = {"mqtt.max_queued_messages": 5}

    def test_offline_queue_is_bounded_and_keeps_order(self):
        cid = self.cid("p")
        s = self.persistent(client_id=cid)
        s.subscribe(self.topic(), 1)
        s.disconnect()
        pub = self.client("pub")
        for i in range(8):
            pub.publish(self.topic(), f"q{i}", qos=1)
        s = self.persistent(client_id=cid)
        self.assertEqual(s.connack.session_present, 1)
        got = [m.payload for m in s.expect_n(5)]
        s.expect_none()
        self.assertEqual(got, sorted(got))
        self.assertTrue(set(got) <= {f"q{i}".encode() for i in range(8)})
        pub.publish(self.topic(), b"live", qos=1)
        self.assertEqual(s.expect().payload, b"live")


class QueueLimitV311(QueueLimitTests, PahoTestCase):
    version = V311


class QueueLimitV5(QueueLimitTests, PahoTestCase):
    version = V5


class SessionExpiryLimitV5(PahoTestCase):
    version = V5
    settings = {"mqtt.max_session_expiry": 5}

    def test_connack_announces_the_lowered_session_expiry(self):
        c = self.persistent(expiry=100)
        self.assertEqual(c.connack.properties.get("SessionExpiryInterval"), 5)

    def test_session_expiry_within_the_limit_is_not_announced(self):
        c = self.persistent(expiry=5)
        self.assertEqual(c.connack.properties.get("SessionExpiryInterval", 5), 5)


if __name__ == "__main__":
    unittest.main()
