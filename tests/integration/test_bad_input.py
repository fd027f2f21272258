"""Bad input on the MQTT edge: every class of malformed or forbidden packet
gets the right reason code and a disconnect, in both protocol versions, and
never takes the node down.

MQTT 5: the exact DISCONNECT (or CONNACK) reason code byte is checked, then
the close. MQTT 3.1.1: the connection is closed without any packet, except
for the CONNECT problems 3.1.1 gives a CONNACK return code for. After every
case the node must still be running and must still serve a fresh,
well-behaved client (connect, subscribe, publish, receive).
"""

import itertools
import random
import socket
import time
import unittest

from broker import Broker, BrokerTestCase, packet, utf8, varint

from raw_mqtt import (
    V5,
    V311,
    VERSIONS,
    WAIT,
    prop_byte,
    prop_u16,
    prop_u32,
    prop_str,
    prop_pair,
    props_block,
    connect_bytes,
    publish_bytes,
    subscribe_bytes,
    unsubscribe_bytes,
    parse_props,
    Conn,
    assert_disconnect,
)


class EdgeTestCase(BrokerTestCase):
    """Helpers: connected clients, expected disconnects, a health check
    after every test."""

    counter = itertools.count(1)

    def connect(self, version=V5, client_id=None, props=b"", keep_alive=60, clean=True, present=False):
        """A connected client; its CONNACK properties in self.connack_props."""
        if client_id is None:
            client_id = f"{type(self).__name__}-{next(self.counter)}"
        c = Conn(self.broker.port, version)
        c.send(connect_bytes(client_id, version, clean=clean, keep_alive=keep_alive, props=props))
        body = c.expect(0x20)
        head = bytes([1 if present else 0, 0])
        if version == V5:
            self.assertEqual(body[:2], head, f"CONNACK {body!r}")
            self.connack_props, _ = parse_props(body, 2)
        else:
            self.assertEqual(body, head)
        self.addCleanup(c.close)
        return c

    def raw(self, version=V5):
        c = Conn(self.broker.port, version)
        self.addCleanup(c.close)
        return c

    def assert_connack_refused(self, c, code):
        """v5 CONNACK with this reason code, then the close."""
        body = c.expect(0x20)
        self.assertEqual(body[0], 0, "session present on a refused CONNECT")
        self.assertEqual(body[1], code, f"CONNACK reason 0x{body[1]:02x}, expected 0x{code:02x}")
        self.assertTrue(c.closed())

    def violation(self, version, data, v5_code):
        """A connected client sends data; it must be disconnected."""
        c = self.connect(version)
        c.send(data)
        assert_disconnect(self, c, v5_code)

    def assert_serves(self):
        """The node runs and a fresh client completes a QoS 1 round trip."""
        self.assertTrue(self.broker.alive(), "the node died:\n" + self.broker.log()[-3000:])
        n = next(self.counter)
        topic = f"health/{n}"
        c = Conn(self.broker.port, V5)
        try:
            c.send(connect_bytes(f"health-{n}"))
            body = c.expect(0x20)
            self.assertEqual(body[:2], b"\x00\x00")
            c.send(subscribe_bytes(1, [(topic, 1)]))
            c.expect(0x90, b"\x00\x01\x00\x01")
            c.send(publish_bytes(topic, b"alive", qos=1, pid=2))
            got = {}
            for _ in range(2):
                first, body = c.read()
                got[first & 0xF0] = (first, body)
            self.assertEqual(got.get(0x40), (0x40, b"\x00\x02"))
            first, body = got[0x30]
            self.assertEqual(first, 0x32)
            self.assertEqual(body, utf8(topic) + body[len(topic) + 2:len(topic) + 4] + b"\x00" + b"alive")
            c.send(b"\xe0\x00")
            self.assertTrue(c.closed())
        finally:
            c.close()

    def tearDown(self):
        self.assert_serves()


class BadInputTest(EdgeTestCase):
    settings = {"mqtt.max_packet_size": 1024, "mqtt.receive_maximum": 20, "mqtt.topic_alias_maximum": 16}

    # ---- framing ----

    def test_truncated_packet_then_close(self):
        # Before CONNECT, inside the CONNECT and inside the remaining length.
        whole = connect_bytes("half", V5)
        for cut in (1, 2, len(whole) // 2, len(whole) - 1):
            c = self.raw()
            c.send(whole[:cut])
            c.close()
        c = self.raw()
        c.send(b"\x10\xff")
        c.close()
        # A whole CONNECT (and more) and then gone before the CONNACK could be read.
        for i in range(30):
            c = self.raw()
            c.send(connect_bytes("gone-at-once", V5 if i % 2 else V311, clean=i % 3 == 0)
                   + publish_bytes("t/gone", b"x", qos=1, pid=1, version=V5 if i % 2 else V311))
            c.close()
        # After CONNECT, in both versions.
        for version in VERSIONS:
            whole = publish_bytes("t/trunc", b"x" * 100, qos=1, pid=5, version=version)
            for cut in (1, 2, 4, len(whole) - 1):
                c = self.connect(version)
                c.send(whole[:cut])
                c.close()
        self.assert_serves()

    def test_remaining_length_of_five_bytes(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, b"\x30\xff\xff\xff\xff\x7f", 0x81)
                self.violation(version, b"\xc0\x80\x80\x80\x80\x00", 0x81)
        # Before CONNECT: just closed.
        c = self.raw()
        c.send(b"\x10\xff\xff\xff\xff\x01")
        self.assertTrue(c.closed())

    def test_non_minimal_remaining_length(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, b"\xc0\x80\x00", 0x81)  # PINGREQ, length 0 in two bytes
                pub = publish_bytes("t/a", b"x", version=version)
                body = pub[2:]
                self.violation(version, bytes([0x30, 0x80 | len(body), 0x00]) + body, 0x81)

    def test_reserved_packet_type_0(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, b"\x00\x00", 0x81)
                self.violation(version, b"\x00\x02\x00\x01", 0x81)

    def test_packet_type_15_in_311(self):
        # AUTH exists only in MQTT 5; in 3.1.1 type 15 is reserved.
        self.violation(V311, b"\xf0\x00", 0x81)
        self.violation(V311, b"\xf0\x02\x00\x00", 0x81)

    def test_wrong_fixed_header_flags(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, subscribe_bytes(1, [("a/b", 0)], version, first=0x80), 0x81)
                self.violation(version, b"\x60\x02\x00\x01", 0x81)  # PUBREL with flags 0
                self.violation(version, unsubscribe_bytes(1, ["a/b"], version, first=0xA0), 0x81)
                self.violation(version, b"\x41\x02\x00\x01", 0x81)  # PUBACK with flags 1
                self.violation(version, b"\xc8\x00", 0x81)  # PINGREQ with flags 8
                self.violation(version, b"\xe2\x00", 0x81)  # DISCONNECT with flags 2

    def test_publish_qos_3(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, publish_bytes("t/q3", b"x", pid=1, version=version, first=0x36), 0x81)

    def test_dup_with_qos_0(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, publish_bytes("t/dup", b"x", version=version, first=0x38), 0x81)

    def test_packet_id_0(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, publish_bytes("t/id0", b"x", qos=1, pid=0, version=version), 0x82)
                self.violation(version, publish_bytes("t/id0", b"x", qos=2, pid=0, version=version), 0x82)
                self.violation(version, subscribe_bytes(0, [("a/b", 0)], version), 0x82)
                self.violation(version, unsubscribe_bytes(0, ["a/b"], version), 0x82)

    def test_invalid_utf8_in_topic(self):
        bad = {
            "overlong": b"a/\xc0\xaf",
            "overlong 3 byte": b"a/\xe0\x80\xaf",
            "surrogate": b"a/\xed\xa0\x80",
            "U+0000": b"a/\x00b",
            "above U+10FFFF": b"a/\xf4\x90\x80\x80",
            "lone continuation": b"a/\x80",
            "truncated sequence": b"a/\xe2\x82",
        }
        for version in VERSIONS:
            for name, topic in bad.items():
                with self.subTest(version=version, case=name):
                    self.violation(version, publish_bytes(topic, b"x", version=version), 0x81)
                    self.violation(version, subscribe_bytes(3, [(topic, 0)], version), 0x81)

    def test_wildcard_in_publish_topic(self):
        for version in VERSIONS:
            for topic in ("a/+", "a/#", "+", "#", "a/b+"):
                with self.subTest(version=version, topic=topic):
                    self.violation(version, publish_bytes(topic, b"x", version=version), 0x90)

    def test_empty_topic_in_311(self):
        self.violation(V311, publish_bytes("", b"x", version=V311), 0x82)

    def test_lengths_inconsistent_with_the_packet(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, b"\x30\x05\x00\x10abc", 0x81)  # topic longer than the packet
                props = b"\x00" if version == V5 else b""
                self.violation(version, packet(0x82, b"\x00\x01" + props + b"\x00\x09a\x00"), 0x81)  # filter
                self.violation(version, b"\xc0\x01\x00", 0x81)  # PINGREQ with a body
                self.violation(version, b"\x40\x01\x00", 0x81)  # PUBACK too short
                self.violation(version, b"\x62\x00", 0x81)  # PUBREL without packet id
        # MQTT 5 property blocks.
        self.violation(V5, packet(0x30, utf8("t/p") + b"\x0a\x01\x00"), 0x81)  # length beyond packet
        self.violation(V5, packet(0x30, utf8("t/p") + b"\x03\x02\x00\x00"), 0x81)  # truncated value
        self.violation(V5, packet(0x30, utf8("t/p") + b"\x80\x80\x80\x80\x01"), 0x81)  # 5-byte varint
        self.violation(V5, packet(0x30, utf8("t/p")), 0x81)  # no property length at all
        self.violation(V5, b"\x40\x03\x00\x01\x05", 0x81)  # PUBACK reason code that does not exist
        self.violation(V5, b"\x40\x04\x00\x01\x00\x05", 0x81)  # PUBACK property length beyond packet
        self.violation(V311, b"\x40\x03\x00\x01\x00", 0x81)  # 3.1.1 PUBACK with a reason code

    def test_invalid_property_values(self):
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_byte(0x01, 2)), 0x82)
        self.violation(V5, subscribe_bytes(1, [("a/b", 0)], props=b"\x0b\x00"), 0x82)
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_pair("k", "\x00")), 0x81)
        self.violation(V5, publish_bytes("t/p", b"x", props=b"\x03" + utf8(b"\xc0\xaf")), 0x81)
        for props, code in ((prop_u16(0x21, 0), 0x82), (prop_u32(0x27, 0), 0x82), (prop_byte(0x17, 2), 0x82),
                            (prop_byte(0x19, 5), 0x82)):
            with self.subTest(connect_props=props):
                c = self.raw()
                c.send(connect_bytes("badprop", props=props))
                self.assert_connack_refused(c, code)
        c = self.raw()
        c.send(connect_bytes(b"bad\xed\xa0\x80id"))
        self.assert_connack_refused(c, 0x81)
        c = self.raw()
        c.send(connect_bytes("willprop", will=("w/t", "bye"), will_props=prop_u16(0x23, 1)))
        self.assert_connack_refused(c, 0x81)

    def test_response_topic_with_wildcard(self):
        # MQTT-3.3.2-14: the Response Topic MUST NOT contain wildcard characters.
        c = self.connect()
        c.send(publish_bytes("t/rt", b"x", qos=1, pid=3, props=prop_str(0x08, "reply/#")))
        p = c.read()
        self.assertIsNotNone(p)
        self.assertEqual(p[0], 0xE0, f"accepted a Response Topic with a wildcard: {p!r}")
        self.assertIn(p[1][0], (0x82, 0x90))
        self.assertTrue(c.closed())

    def test_disconnect_with_session_expiry_after_zero(self):
        # MQTT-3.14.2-2: Session Expiry 0 at CONNECT cannot be raised at DISCONNECT.
        c = self.connect()
        c.send(packet(0xE0, b"\x00" + props_block(prop_u32(0x11, 60))))
        assert_disconnect(self, c, 0x82)

    # ---- MQTT 5 properties ----

    def test_unknown_property_id(self):
        for pid in (0x00, 0x04, 0x7F):
            with self.subTest(property=pid):
                self.violation(V5, publish_bytes("t/p", b"x", props=bytes([pid, 0])), 0x81)
        c = self.raw()
        c.send(connect_bytes("unknown-prop", props=b"\x7f\x00"))
        self.assert_connack_refused(c, 0x81)

    def test_duplicate_property(self):
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_u32(0x02, 10) + prop_u32(0x02, 20)), 0x82)
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_byte(0x01, 0) + prop_byte(0x01, 0)), 0x82)
        self.violation(V5, subscribe_bytes(4, [("a/b", 0)], props=b"\x0b\x01\x0b\x02"), 0x82)
        c = self.raw()
        c.send(connect_bytes("dup-prop", props=prop_u32(0x11, 10) + prop_u32(0x11, 10)))
        self.assert_connack_refused(c, 0x82)
        # User Property may repeat.
        c = self.connect()
        c.send(publish_bytes("t/p", b"x", qos=1, pid=9, props=prop_pair("a", "1") + prop_pair("a", "2")))
        body = c.expect(0x40)
        self.assertEqual(body[:2], b"\x00\x09")

    def test_property_not_allowed_in_packet(self):
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_u32(0x11, 10)), 0x81)  # Session Expiry
        self.violation(V5, publish_bytes("t/p", b"x", props=prop_u16(0x21, 10)), 0x81)  # Receive Maximum
        self.violation(V5, subscribe_bytes(5, [("a/b", 0)], props=prop_u32(0x02, 1)), 0x81)
        self.violation(V5, packet(0x40, b"\x00\x01\x00" + props_block(prop_u16(0x23, 1))), 0x81)  # PUBACK
        c = self.raw()
        c.send(connect_bytes("alias-in-connect", props=prop_u16(0x23, 1)))
        self.assert_connack_refused(c, 0x81)

    def test_subscription_identifier_in_client_publish(self):
        # MQTT-3.3.4-6: a PUBLISH from a client MUST NOT contain a Subscription Identifier.
        c = self.connect()
        c.send(publish_bytes("t/subid", b"x", qos=1, pid=3, props=b"\x0b\x05"))
        p = c.read()
        self.assertIsNotNone(p)
        self.assertEqual(p[0], 0xE0, f"accepted a client PUBLISH with Subscription Identifier: {p!r}")
        self.assertIn(p[1][0], (0x81, 0x82))
        self.assertTrue(c.closed())

    def test_payload_format_invalid(self):
        pfi = prop_byte(0x01, 1)
        for payload in (b"\xff\xfe", b"ok \xc0\xaf", b"\xed\xa0\x80"):
            with self.subTest(payload=payload):
                self.violation(V5, publish_bytes("t/pfi", payload, qos=1, pid=1, props=pfi), 0x99)
        # Valid UTF-8 (U+0000 included, RFC 3629 allows it) with the same indicator is fine.
        c = self.connect()
        c.send(publish_bytes("t/pfi", "grüße\x00".encode(), qos=1, pid=4, props=pfi))
        body = c.expect(0x40)
        self.assertEqual(body[:2], b"\x00\x04")

    # ---- size ----

    def test_oversize_packet_detected_from_fixed_header(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = self.connect(version)
                if version == V5:
                    self.assertIn((0x27, 1024), self.connack_props)
                # Only the fixed header of a 1 MB PUBLISH: the node must not wait for the body.
                c.send(b"\x30" + varint(1024 * 1024))
                assert_disconnect(self, c, 0x95)
                # One byte over the limit, sent whole.
                c = self.connect(version)
                head_len = 1 + len(varint(1024))
                body_len = 1025 - head_len
                topic = "t/big"
                fixed = len(utf8(topic)) + (1 if version == V5 else 0)
                c.send(publish_bytes(topic, b"y" * (body_len - fixed), version=version))
                assert_disconnect(self, c, 0x95)
                # Exactly the limit is accepted.
                c = self.connect(version)
                body_len = 1024 - head_len
                fixed = len(utf8(topic)) + 2 + (1 if version == V5 else 0)
                data = publish_bytes(topic, b"z" * (body_len - fixed), qos=1, pid=8, version=version)
                self.assertEqual(len(data), 1024)
                c.send(data)
                self.assertEqual(c.expect(0x40)[:2], b"\x00\x08")

    # ---- CONNECT ----

    def test_first_packet_not_connect(self):
        for data in (b"\xc0\x00", publish_bytes("t/x", b"x"), subscribe_bytes(1, [("a", 0)]),
                     b"\xe0\x00", b"\x20\x02\x00\x00"):
            with self.subTest(data=data):
                c = self.raw()
                c.send(data)
                self.assertTrue(c.closed())

    def test_second_connect(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, connect_bytes("second", version), 0x82)

    def test_unsupported_protocol_level(self):
        # Answered with the 3.1.1 CONNACK and return code 1, whatever the level.
        for name, level in (("MQTT", 3), ("MQTT", 6), ("MQTT", 0), ("MQTT", 255), ("MQIsdp", 3)):
            with self.subTest(name=name, level=level):
                c = self.raw()
                c.send(connect_bytes("lvl", V311, name=name, level=level))
                p = c.read()
                self.assertEqual(p, (0x20, b"\x00\x01"))
                self.assertTrue(c.closed())

    def test_bad_protocol_name(self):
        for version in VERSIONS:
            for name in ("MQTX", "mqtt", "", "MQTTT"):
                with self.subTest(version=version, name=name):
                    c = self.raw()
                    c.send(connect_bytes("name", version, name=name))
                    p = c.read()
                    # The spec allows closing outright or a refusing CONNACK
                    # (0x84 / return code 1), never acceptance.
                    if p is not None:
                        self.assertEqual(p[0], 0x20)
                        self.assertEqual(p[1][1], 0x84 if version == V5 else 0x01, f"CONNACK {p!r}")
                        self.assertTrue(c.closed())

    def connect_error(self, version, data, v5_code):
        c = self.raw(version)
        c.send(data)
        if version == V5:
            self.assert_connack_refused(c, v5_code)
        else:
            self.assertTrue(c.closed())

    def test_reserved_connect_flag(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.connect_error(version, connect_bytes("rsv", version, flags=0x03), 0x81)

    def test_will_qos_3(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.connect_error(version, connect_bytes("wq3", version, flags=0x02 | 0x04 | 0x18,
                                                          will=("w/t", "bye")), 0x81)

    def test_will_qos_or_retain_without_will_flag(self):
        for version in VERSIONS:
            for flags in (0x02 | 0x08, 0x02 | 0x10, 0x02 | 0x20):
                with self.subTest(version=version, flags=flags):
                    self.connect_error(version, connect_bytes("nowill", version, flags=flags), 0x81)

    def test_password_without_user_name_in_311(self):
        # 3.1.1 [MQTT-3.1.2-22]; MQTT 5 allows it.
        self.connect_error(V311, connect_bytes("pw", V311, password="secret"), 0x81)
        c = self.raw()
        c.send(connect_bytes("pw5", V5, password="secret"))
        self.assertEqual(c.expect(0x20)[:2], b"\x00\x00")

    def test_will_topic_with_wildcard(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.connect_error(version, connect_bytes("wildwill", version, will=("w/#", "bye")), 0x90)

    def test_empty_client_id_persistent_311(self):
        # 3.1.1 [MQTT-3.1.3-8]: CONNACK return code 2 (identifier rejected).
        c = self.raw(V311)
        c.send(connect_bytes("", V311, clean=False))
        self.assertEqual(c.read(), (0x20, b"\x00\x02"))
        self.assertTrue(c.closed())

    def test_authentication_method(self):
        c = self.raw()
        c.send(connect_bytes("auth", props=prop_str(0x15, "SCRAM-SHA-1")))
        self.assert_connack_refused(c, 0x8C)

    def test_receive_maximum_exceeded(self):
        # QoS 2 publishes stay in flight until PUBREL, so the window can be
        # filled deterministically: 20 are allowed, the 21st is one too many.
        c = self.connect()
        c.send(b"".join(publish_bytes(f"rm/{i}/x", b"x", qos=2, pid=i) for i in range(1, 21)))
        for i in range(1, 21):
            c.expect(0x50, i.to_bytes(2, "big") + b"\x10")
        c.send(publish_bytes("rm/21/x", b"x", qos=1, pid=21))
        assert_disconnect(self, c, 0x93)
        # Releasing one makes room again.
        c = self.connect()
        c.send(b"".join(publish_bytes(f"rm/{i}/x", b"x", qos=2, pid=i) for i in range(1, 21)))
        for i in range(1, 21):
            c.expect(0x50, i.to_bytes(2, "big") + b"\x10")
        c.send(b"\x62\x02\x00\x01")
        c.expect(0x70, b"\x00\x01")
        c.send(publish_bytes("rm/21/x", b"x", qos=1, pid=21))
        c.expect(0x40, b"\x00\x15\x10")

    def test_receive_maximum_announced(self):
        self.connect()
        self.assertIn((0x21, 20), self.connack_props)
        self.assertEqual([v for k, v in self.connack_props if k == 0x21], [20])

    # ---- packets in the wrong direction or state ----

    def test_packets_only_servers_send(self):
        for version in VERSIONS:
            v5 = version == V5
            cases = {
                "CONNACK": b"\x20\x03\x00\x00\x00" if v5 else b"\x20\x02\x00\x00",
                "SUBACK": b"\x90\x04\x00\x01\x00\x00" if v5 else b"\x90\x03\x00\x01\x00",
                "UNSUBACK": b"\xb0\x04\x00\x01\x00\x00" if v5 else b"\xb0\x02\x00\x01",
                "PINGRESP": b"\xd0\x00",
            }
            for name, data in cases.items():
                with self.subTest(version=version, packet=name):
                    self.violation(version, data, 0x82)

    def test_subscribe_without_filters(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.violation(version, subscribe_bytes(1, [], version), 0x82)
                self.violation(version, unsubscribe_bytes(1, [], version), 0x82)

    def test_invalid_topic_filters_refused_in_suback(self):
        bad = ["a/#/b", "a+", "+a/b", "#/a", "a/b#", "", "$share/g", "$share//a", "$share/g+/a"]
        for version in VERSIONS:
            with self.subTest(version=version):
                refused = 0x8F if version == V5 else 0x80
                c = self.connect(version)
                entries = [("ok/+/x", 1)] + [(f, 0) for f in bad] + [("ok/#", 2)]
                c.send(subscribe_bytes(7, entries, version))
                head = b"\x00\x07" + (b"\x00" if version == V5 else b"")
                c.expect(0x90, head + bytes([1] + [refused] * len(bad) + [2]))
                # The connection stays up and the valid filters work.
                c.send(b"\xc0\x00")
                c.expect(0xD0, b"")
                c.send(publish_bytes("ok/y/x", b"hi", version=version))
                body = c.expect(0x30)
                self.assertEqual(body, utf8("ok/y/x") + (b"\x00" if version == V5 else b"") + b"hi")

    def test_no_local_on_shared_subscription(self):
        self.violation(V5, subscribe_bytes(1, [("$share/g/a/b", 0x04)]), 0x82)

    def test_subscription_options_reserved_bits(self):
        self.violation(V5, subscribe_bytes(1, [("a/b", 0x40)]), 0x81)
        self.violation(V5, subscribe_bytes(1, [("a/b", 0x30)]), 0x81)  # retain handling 3
        self.violation(V5, subscribe_bytes(1, [("a/b", 0x03)]), 0x81)  # QoS 3
        self.violation(V311, subscribe_bytes(1, [("a/b", 0x04)], V311), 0x81)

    def test_topic_alias_invalid(self):
        for alias in (0, 17, 0xFFFF):
            with self.subTest(alias=alias):
                self.violation(V5, publish_bytes("t/alias", b"x", props=prop_u16(0x23, alias)), 0x94)
        # An alias that was never set, used with an empty topic.
        self.violation(V5, publish_bytes("", b"x", props=prop_u16(0x23, 3)), 0x82)

    def test_topic_alias_not_carried_to_a_new_connection(self):
        cid = f"alias-{next(self.counter)}"
        c = self.connect(client_id=cid, props=prop_u32(0x11, 60))
        c.send(publish_bytes("t/alias2", b"x", qos=1, pid=1, props=prop_u16(0x23, 5)))
        c.expect(0x40)
        c.close()
        c = self.connect(client_id=cid, clean=False, props=prop_u32(0x11, 60), present=True)
        c.send(publish_bytes("", b"x", qos=1, pid=2, props=prop_u16(0x23, 5)))
        assert_disconnect(self, c, 0x82)

    def test_topic_alias_works(self):
        c = self.connect()
        c.send(subscribe_bytes(1, [("t/aliased", 0)]))
        c.expect(0x90, b"\x00\x01\x00\x00")
        c.send(publish_bytes("t/aliased", b"one", props=prop_u16(0x23, 16)))
        c.send(publish_bytes("", b"two", props=prop_u16(0x23, 16)))
        for payload in (b"one", b"two"):
            body = c.expect(0x30)
            self.assertEqual(body, utf8("t/aliased") + b"\x00" + payload)

    def test_empty_topic_without_alias(self):
        self.violation(V5, publish_bytes("", b"x"), 0x82)
        self.violation(V5, publish_bytes("", b"x", qos=1, pid=2), 0x82)

    def test_auth_without_method(self):
        self.violation(V5, b"\xf0\x00", 0x82)
        self.violation(V5, b"\xf0\x02\x18\x00", 0x82)

    # ---- garbage ----

    def test_random_garbage(self):
        for seed in range(12):
            rng = random.Random(seed)
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            for connected, version in ((False, V5), (True, V5), (True, V311)):
                with self.subTest(seed=seed, connected=connected, version=version):
                    c = self.connect(version) if connected else self.raw()
                    c.send(garbage)
                    # Whatever the node makes of it, it ends once we stop sending.
                    c.sock.shutdown(socket.SHUT_WR)
                    while c.read() is not None:
                        pass
        self.assertTrue(self.broker.alive())

    def test_flood_of_malformed_packets(self):
        # 200 connections at once, each ending in a malformed packet: MQTT 5
        # and 3.1.1 clients after their CONNECT, and garbage before any CONNECT.
        conns = []
        for i in range(200):
            c = Conn(self.broker.port, V311 if i % 3 == 1 else V5)
            self.addCleanup(c.close)
            conns.append(c)
        for i, c in enumerate(conns):
            if i % 3 == 2:
                c.send(b"\x00\x00" + bytes(range(i % 50)))
            else:
                c.send(connect_bytes(f"flood-{i}", c.version)
                       + publish_bytes("t/flood", b"x", pid=1, version=c.version, first=0x36))
        for i, c in enumerate(conns):
            if i % 3 == 2:
                self.assertTrue(c.closed())
                continue
            body = c.expect(0x20)
            self.assertEqual(body[:2], b"\x00\x00")
            assert_disconnect(self, c, 0x81)


class FeaturesOffTest(EdgeTestCase):
    """Features a node may turn off: using them anyway is refused with the
    codes MQTT 5 assigns."""

    settings = {"mqtt.retain_available": False, "mqtt.wildcard_subscriptions": False,
                "mqtt.shared_subscriptions": False, "mqtt.subscription_identifiers": False,
                "mqtt.topic_alias_maximum": 0}

    def test_connack_announces_what_is_off(self):
        self.connect()
        props = dict(self.connack_props)
        self.assertEqual((props.get(0x25), props.get(0x28), props.get(0x29), props.get(0x2A)), (0, 0, 0, 0))
        self.assertNotIn(0x22, props)  # Topic Alias Maximum 0: left out

    def test_retain_not_available(self):
        self.violation(V5, publish_bytes("off/r", b"x", retain=True), 0x9A)
        c = self.raw()
        c.send(connect_bytes("willretain", flags=0x02 | 0x04 | 0x20, will=("w/t", "x")))
        self.assert_connack_refused(c, 0x9A)

    def test_wildcards_and_shared_refused_in_suback(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = self.connect(version)
                c.send(subscribe_bytes(1, [("off/+", 0), ("off/#", 1), ("$share/g/off/x", 1), ("off/x", 1)],
                                       version))
                codes = [0xA2, 0xA2, 0x9E, 0x01] if version == V5 else [0x80, 0x80, 0x80, 0x01]
                c.expect(0x90, b"\x00\x01" + (b"\x00" if version == V5 else b"") + bytes(codes))

    def test_subscription_identifier_refused(self):
        self.violation(V5, subscribe_bytes(1, [("off/x", 0)], props=b"\x0b\x01"), 0xA1)

    def test_topic_alias_refused(self):
        self.violation(V5, publish_bytes("off/x", b"x", props=prop_u16(0x23, 1)), 0x94)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class SlowConsumerTest(unittest.TestCase):
    """A subscriber that stops reading must not make the node hold every
    message for it: mqtt.max_outbound_bytes (4 MB) bounds what waits for its
    socket and mqtt.max_queued_bytes (16 MB) what waits in its session.
    A fresh node per protocol version, so that freed memory one case leaves
    in the allocator cannot hide the growth in the next."""

    def test_stalled_qos1_subscriber_memory_is_bounded(self):
        payload = b"s" * 900_000
        for version in VERSIONS:
            with self.subTest(version=version), Broker() as broker:
                topic = f"stall/{version}"
                s = Conn(broker.port, version)
                self.addCleanup(s.close)
                s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.send(connect_bytes("stalled", version))
                s.expect(0x20)
                s.send(subscribe_bytes(1, [(topic, 1)], version))
                s.expect(0x90)
                p = Conn(broker.port, version)
                self.addCleanup(p.close)
                p.send(connect_bytes("publisher", version))
                p.expect(0x20)
                before = rss_mb(broker.proc.pid)
                for i in range(1, 81):  # 72 MB, never read by the subscriber
                    p.send(publish_bytes(topic, payload, qos=1, pid=i, version=version))
                    p.expect(0x40)
                p.send(b"\xc0\x00")
                p.expect(0xD0, b"")
                grown = rss_mb(broker.proc.pid) - before
                s.close()
                p.close()
                self.assertLess(grown, 40, f"the node grew by {grown:.0f} MB for one stalled subscriber")


class ConnectTimeoutTest(EdgeTestCase):
    settings = {"mqtt.connect_timeout_ms": 500}

    def assert_closed_after_timeout(self, c, start):
        self.assertTrue(c.closed(timeout=WAIT))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.4, "closed before the connect timeout")
        self.assertLess(elapsed, 3.0)

    def test_half_connect_then_silence(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                start = time.monotonic()
                c = self.raw(version)
                c.send(connect_bytes("half", version)[:7])
                self.assert_closed_after_timeout(c, start)

    def test_no_bytes_at_all(self):
        start = time.monotonic()
        c = self.raw()
        self.assert_closed_after_timeout(c, start)

    def test_slowloris_beyond_the_timeout(self):
        start = time.monotonic()
        c = self.raw()
        data = connect_bytes("slowloris-late")
        closed = False
        for b in data:
            try:
                c.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - start > 2.0:
                break
        if not closed:
            self.assertTrue(c.closed())
        self.assertLess(time.monotonic() - start, 3.0)


class SlowClientTest(EdgeTestCase):
    settings = {"mqtt.connect_timeout_ms": 5000}

    def test_slowloris_within_the_timeout(self):
        c = self.raw()
        for b in connect_bytes("slow"):  # 17 bytes: 1.7 s
            c.send(bytes([b]))
            time.sleep(0.1)
        body = c.expect(0x20)
        self.assertEqual(body[:2], b"\x00\x00")
        c.send(b"\xc0\x00")
        c.expect(0xD0, b"")

    def test_keep_alive_counts_packets_not_bytes(self):
        # MQTT-3.1.2-22: no Control Packet within 1.5 x Keep Alive means
        # disconnect. A client trickling one byte every 300 ms of a PUBLISH it
        # never finishes sends no Control Packet at all.
        for version in VERSIONS:
            with self.subTest(version=version):
                c = self.connect(version, keep_alive=1)
                start = time.monotonic()
                data = publish_bytes("t/trickle", b"x" * 100, version=version)
                for b in data[:-1]:
                    try:
                        c.send(bytes([b]))
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    if time.monotonic() - start > 2.8:
                        break
                    try:
                        p = c.read(0.3)
                    except AssertionError:
                        continue  # nothing yet: keep trickling
                    # DISCONNECT 0x8D Keep Alive timeout (a Reason String may follow).
                    self.assertEqual(p and (p[0], p[1][:1]), (0xE0, b"\x8d") if version == V5 else None)
                    break
                else:
                    self.fail("the whole packet but its last byte was accepted")
                elapsed = time.monotonic() - start
                self.assertLess(elapsed, 2.7, "connection kept alive by a trickle of bytes")

    def test_keep_alive_kept_by_pingreq(self):
        c = self.connect(V5, keep_alive=1)
        for _ in range(5):
            time.sleep(0.5)
            c.send(b"\xc0\x00")
            c.expect(0xD0, b"")

    def test_truncated_packet_then_silence_hits_keep_alive(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = self.connect(version, keep_alive=1)
                start = time.monotonic()
                c.send(publish_bytes("t/ka", b"x" * 50, version=version)[:10])
                assert_disconnect(self, c, 0x8D)
                elapsed = time.monotonic() - start
                self.assertGreaterEqual(elapsed, 1.0)
                self.assertLess(elapsed, 3.5)


if __name__ == "__main__":
    unittest.main()
