"""Connection limits and capabilities, with paho in MQTT 3.1.1 and 5.0:
assigned client identifiers, Maximum Packet Size both ways, mqtt.maximum_qos,
mqtt.retain_available, mqtt.wildcard_subscriptions and
mqtt.subscription_identifiers."""

import unittest

from paho_util import (V311, V5, PacketTypes, PahoTestCase, disconnect_reason, encode_props, parse_connack,
                       props, publish_packet, raw_connect_packet, read_packet_within, wire_size)


class ClientIdTests:
    def test_empty_client_id_with_clean_start_is_accepted(self):
        c = self.client("anon", client_id="")
        self.assertEqual(c.connack.reason, 0)
        c.subscribe(self.topic(), 1)
        c.publish(self.topic(), b"anonymous", qos=1)
        self.assertEqual(c.expect().payload, b"anonymous")


class ClientIdV311(ClientIdTests, PahoTestCase):
    version = V311

    def test_empty_client_id_without_clean_session_is_refused_with_return_code_2(self):
        r = self.raw()
        r.send(raw_connect_packet("", V311, clean=False))
        self.assertEqual(r.read_packet(), (0x20, b"\x00\x02"))  # [MQTT-3.1.3-8]
        self.assertTrue(r.closed_by_peer())

    def test_no_assigned_identifier_property_in_311(self):
        c = self.client("anon", client_id="")
        self.assertEqual(c.connack.properties, {})


class ClientIdV5(ClientIdTests, PahoTestCase):
    version = V5

    def test_empty_client_id_gets_an_assigned_client_identifier(self):
        a = self.client("anon", client_id="")
        b = self.client("anon", client_id="")
        ida = a.connack.properties.get("AssignedClientIdentifier")
        idb = b.connack.properties.get("AssignedClientIdentifier")
        self.assertTrue(ida and idb, f"no Assigned Client Identifier: {a.connack}")
        self.assertNotEqual(ida, idb)
        self.assertFalse(a.disconnected.is_set() or b.disconnected.is_set())

    def test_assigned_identifier_names_a_resumable_session(self):
        a = self.persistent(client_id="")
        assigned = a.connack.properties["AssignedClientIdentifier"]
        a.subscribe(self.topic(), 1)
        a.disconnect()
        pub = self.client("pub")
        pub.publish(self.topic(), b"for the assigned id", qos=1)
        again = self.persistent(client_id=assigned)
        self.assertEqual(again.connack.session_present, 1)
        self.assertEqual(again.expect().payload, b"for the assigned id")

    def test_client_chosen_identifier_is_not_echoed(self):
        c = self.client("named")
        self.assertNotIn("AssignedClientIdentifier", c.connack.properties)


class PacketSizeTests:
    """mqtt.max_packet_size = 1024."""

    settings = {"mqtt.max_packet_size": 1024}

    def publish_of_size(self, total, qos=1):
        """A PUBLISH of exactly `total` bytes, fixed header included."""
        topic = self.topic()
        overhead = 2 + len(topic.encode()) + (2 if qos else 0) + (1 if self.v5 else 0)
        payload_len = total - 1 - 2 - overhead  # 1 type byte, 2 length bytes (128..16383)
        data = publish_packet(topic, b"p" * payload_len, self.version, qos=qos, packet_id=1)
        self.assertEqual(len(data), total)
        return data, payload_len

    def assert_refused_too_large(self, c):
        self.assertTrue(c.wait_disconnected(), "an oversized PUBLISH did not close the connection")
        if self.v5:
            self.assertEqual(c.server_disconnect_reason, 0x95)
        else:
            self.assertIsNone(c.server_disconnect_reason, "a 3.1.1 server must not send DISCONNECT")

    def test_oversized_publish_from_client_is_refused_and_the_will_published(self):
        watcher = self.client("watcher")
        watcher.subscribe(self.topic("data"), 1)
        watcher.subscribe(self.topic("will"), 1)
        c = self.client("big", will={"topic": self.topic("will"), "payload": b"refused", "qos": 1})
        c.publish(self.topic("data"), b"x" * 2000, qos=1, wait=False)
        self.assert_refused_too_large(c)
        m = watcher.expect()
        self.assertEqual((m.topic, m.payload), (self.topic("will"), b"refused"))
        watcher.expect_none()

    def test_publish_of_exactly_the_maximum_is_accepted_and_one_more_byte_refused(self):
        watcher = self.client("watcher")
        watcher.subscribe(self.topic(), 1)
        r, (_, rc, _) = self.raw_connected()
        data, payload_len = self.publish_of_size(1024)
        r.send(data)
        ack = read_packet_within(r, 3)
        self.assertNotIn(ack, (None, "timeout"), "a 1024-byte PUBLISH was refused")
        self.assertEqual(ack[0], 0x40)
        self.assertEqual(watcher.expect().payload, b"p" * payload_len)
        r.send(self.publish_of_size(1025)[0])
        p = read_packet_within(r, 3)
        if self.v5:
            self.assertEqual(disconnect_reason(p), 0x95)
            self.assertTrue(r.closed_by_peer())
        else:
            self.assertIsNone(p)
        watcher.expect_none()

    def raw_connected(self):
        r = self.raw()
        r.send(raw_connect_packet(self.cid("raw"), self.version))
        connack = parse_connack(*r.read_packet(), self.version)
        self.assertEqual(connack[1], 0)
        return r, connack


class PacketSizeV311(PacketSizeTests, PahoTestCase):
    version = V311


class PacketSizeV5(PacketSizeTests, PahoTestCase):
    version = V5

    def test_connack_announces_maximum_packet_size(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("MaximumPacketSize"), 1024)

    def test_messages_above_the_clients_maximum_packet_size_are_not_sent(self):
        sub = self.client("small", properties=props(PacketTypes.CONNECT, MaximumPacketSize=200))
        sub.subscribe(self.topic(), 1)
        pub = self.client("pub")
        for q in (0, 1):
            with self.subTest(qos=q):
                pub.publish(self.topic(), b"L" * 500, qos=q)
                pub.publish(self.topic(), f"small {q}".encode(), qos=q)
                m = sub.expect()
                self.assertEqual(m.payload, f"small {q}".encode())
        sub.expect_none()
        self.assertFalse(sub.disconnected.is_set())

    def test_retained_message_above_the_clients_maximum_is_skipped(self):
        pub = self.client("pub")
        pub.publish(self.topic("big"), b"B" * 500, qos=1, retain=True)
        pub.publish(self.topic("small"), b"s", qos=1, retain=True)
        sub = self.client("small", properties=props(PacketTypes.CONNECT, MaximumPacketSize=200))
        sub.subscribe(self.topic("#"), 1)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), (self.topic("small"), b"s"))
        sub.expect_none()


class MaximumQosTests:
    settings = {"mqtt.maximum_qos": 1}

    def test_subscription_qos_is_granted_at_most_1(self):
        c = self.client("c")
        self.assertEqual(c.subscribe(self.topic("two"), 2), [1])
        self.assertEqual(c.subscribe(self.topic("one"), 1), [1])
        self.assertEqual(c.subscribe(self.topic("zero"), 0), [0])

    def test_qos1_publish_is_delivered(self):
        c = self.client("c")
        c.subscribe(self.topic(), 2)
        c.publish(self.topic(), b"q1", qos=1)
        m = c.expect()
        self.assertEqual((m.payload, m.qos), (b"q1", 1))

    def test_qos2_publish_closes_the_connection(self):
        watcher = self.client("watcher")
        watcher.subscribe(self.topic(), 1)
        c = self.client("c")
        c.publish(self.topic(), b"q2", qos=2, wait=False)
        self.assertTrue(c.wait_disconnected())
        if self.v5:
            self.assertEqual(c.server_disconnect_reason, 0x9B)
        else:
            self.assertIsNone(c.server_disconnect_reason)
        watcher.expect_none()


class MaximumQosV311(MaximumQosTests, PahoTestCase):
    version = V311


class MaximumQosV5(MaximumQosTests, PahoTestCase):
    version = V5

    def test_connack_announces_maximum_qos_1(self):
        c = self.client("c")
        self.assertEqual(c.connack.properties.get("MaximumQoS"), 1)

    def test_will_qos_2_is_refused_with_0x9b(self):
        c = self.client("c", connect=False, will={"topic": self.topic(), "payload": b"w", "qos": 2})
        connack = c.connect(expect_success=False)
        self.assertEqual(connack.reason, 0x9B)


class ServerPacketsWithinClientMaximumV5(PahoTestCase):
    """The node never sends a packet above the client's Maximum Packet Size
    [MQTT-3.1.2-24]; a Reason String is left out rather than make a
    DISCONNECT [MQTT-3.14.2-3] or CONNACK [MQTT-3.2.2-19] too large."""

    version = V5
    settings = {"mqtt.maximum_qos": 1}
    LIMIT = 32

    def connect(self, keep_alive=60, will=None, limit=LIMIT):
        r = self.raw()
        r.send(raw_connect_packet(self.cid("small"), V5, keep_alive=keep_alive, will=will,
                                  props=encode_props(MaximumPacketSize=limit)))
        return r

    def assert_disconnect_fits(self, r, reason, timeout=3):
        p = read_packet_within(r, timeout)
        self.assertEqual(disconnect_reason(p), reason)
        self.assertLessEqual(wire_size(p), self.LIMIT, f"DISCONNECT of {wire_size(p)} bytes: {p[1]!r}")

    def test_disconnect_for_a_bad_topic_alias_fits(self):
        r = self.connect()
        self.assertEqual(parse_connack(*r.read_packet(), V5)[1], 0)
        r.send(publish_packet("t", b"x", V5, props=encode_props(TopicAlias=1000)))
        self.assert_disconnect_fits(r, 0x94)

    def test_disconnect_for_a_malformed_topic_fits(self):
        r = self.connect()
        self.assertEqual(parse_connack(*r.read_packet(), V5)[1], 0)
        r.send(publish_packet("a/#", b"x", V5))
        self.assert_disconnect_fits(r, 0x90)

    def test_disconnect_for_keep_alive_timeout_fits(self):
        r = self.connect(keep_alive=1)
        self.assertEqual(parse_connack(*r.read_packet(), V5)[1], 0)
        self.assert_disconnect_fits(r, 0x8D, timeout=4)

    def test_refusing_connack_fits(self):
        r = self.connect(will={"topic": "w", "payload": b"w", "qos": 2}, limit=20)
        p = r.read_packet()
        self.assertEqual(parse_connack(*p, V5)[1], 0x9B)
        self.assertLessEqual(wire_size(p), 20, f"CONNACK of {wire_size(p)} bytes: {p[1]!r}")


class DefaultCapabilitiesV5(PahoTestCase):
    version = V5

    def test_connack_of_a_default_node(self):
        p = self.client("c").connack.properties
        self.assertNotIn("MaximumQoS", p)  # absent means 2
        self.assertEqual(p.get("RetainAvailable", 1), 1)
        self.assertEqual(p.get("WildcardSubscriptionAvailable", 1), 1)
        self.assertEqual(p.get("SubscriptionIdentifierAvailable", 1), 1)
        self.assertEqual(p.get("MaximumPacketSize"), 1048576)
        self.assertEqual(p.get("ReceiveMaximum"), 100)


class CapabilitiesOffTests:
    settings = {"mqtt.retain_available": False, "mqtt.wildcard_subscriptions": False,
                "mqtt.subscription_identifiers": False}

    def test_retained_publish_closes_the_connection(self):
        c = self.client("c")
        c.publish(self.topic(), b"r", qos=1, retain=True, wait=False)
        self.assertTrue(c.wait_disconnected())
        if self.v5:
            self.assertEqual(c.server_disconnect_reason, 0x9A)
        else:
            self.assertIsNone(c.server_disconnect_reason)

    def test_wildcard_subscription_is_refused(self):
        c = self.client("c")
        self.assertEqual(c.subscribe(self.topic("#"), 1), [0xA2 if self.v5 else 0x80])
        self.assertEqual(c.subscribe(self.topic("plain"), 1), [1])


class CapabilitiesOffV311(CapabilitiesOffTests, PahoTestCase):
    version = V311


class CapabilitiesOffV5(CapabilitiesOffTests, PahoTestCase):
    version = V5

    def test_connack_announces_what_is_off(self):
        p = self.client("c").connack.properties
        self.assertEqual((p.get("RetainAvailable"), p.get("WildcardSubscriptionAvailable"),
                          p.get("SubscriptionIdentifierAvailable")), (0, 0, 0))

    def test_subscription_identifier_is_refused_with_0xa1(self):
        c = self.client("c")
        c.paho.subscribe(self.topic(), 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=3))
        self.assertTrue(c.wait_disconnected())
        self.assertEqual(c.server_disconnect_reason, 0xA1)

    def test_will_retain_is_refused_with_0x9a(self):
        c = self.client("c", connect=False, will={"topic": self.topic(), "payload": b"w", "retain": True})
        self.assertEqual(c.connect(expect_success=False).reason, 0x9A)


if __name__ == "__main__":
    unittest.main()
