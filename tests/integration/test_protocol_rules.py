"""Protocol flows over raw bytes, where the exact packets matter: QoS 2
exactly once, acknowledgement order, PINGREQ, UNSUBSCRIBE and SUBSCRIBE
results, the broker's own QoS 1/2 flows, redelivery after a reconnect,
retained messages, wills, session state and the MQTT 5 extras.

Waits are on events, each at most 5 s: a packet, or a barrier, an
UNSUBSCRIBE of a filter nobody has. The session answers it only after every
delivery that reached it before, so once a publisher holds its PUBACK (or
PUBREC) the barrier's UNSUBACK comes after whatever that publish caused.

The packet builders and the raw connection come from raw_mqtt.py.
"""

import itertools
import time
import unittest

from broker import BrokerTestCase, NodeTestCase, packet, utf8, varint

from raw_mqtt import (
    V5,
    V311,
    VERSIONS,
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



def parse_publish(first, body, version):
    """A PUBLISH as a dict: qos, dup, retain, topic, pid, props, payload."""
    assert first & 0xF0 == 0x30, f"not a PUBLISH: 0x{first:02x} {body!r}"
    qos = (first >> 1) & 3
    n = int.from_bytes(body[:2], "big")
    topic = body[2:2 + n].decode()
    i = 2 + n
    pid = None
    if qos:
        pid = int.from_bytes(body[i:i + 2], "big")
        i += 2
    props = []
    if version == V5:
        props, i = parse_props(body, i)
    return {"qos": qos, "dup": bool(first & 8), "retain": bool(first & 1), "topic": topic, "pid": pid,
            "props": props, "payload": body[i:]}


def ack(kind, pid, reason=None):
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    body = pid.to_bytes(2, "big") + (bytes([reason]) if reason is not None else b"")
    return packet(first, body)


class RulesTestCase(BrokerTestCase):
    counter = itertools.count(1)

    def name(self):
        return f"{type(self).__name__}-{next(self.counter)}"

    def connect(self, version=V5, client_id=None, clean=True, props=b"", present=False, keep_alive=60,
                will=None, will_props=b"", flags=None):
        """A connected client; CONNACK checked (session present as given), its
        properties in self.connack_props."""
        c = Conn(self.broker.port, version)
        self.addCleanup(c.close)
        c.send(connect_bytes(client_id if client_id is not None else self.name(), version, clean=clean,
                             keep_alive=keep_alive, props=props, will=will, will_props=will_props, flags=flags))
        body = c.expect(0x20)
        self.assertEqual(body[:2], bytes([1 if present else 0, 0]), f"CONNACK {body!r}")
        self.connack_props = parse_props(body, 2)[0] if version == V5 else []
        return c

    def persistent(self, version, client_id, present=False):
        """A session that outlives its connection: 3.1.1 clean session 0, MQTT 5
        session expiry 300 s with clean start unless resuming (present)."""
        if version == V5:
            return self.connect(V5, client_id, clean=not present, props=prop_u32(0x11, 300), present=present)
        return self.connect(V311, client_id, clean=False, present=present)

    def subscribe(self, c, entries, pid=1, granted=None, props=b""):
        c.send(subscribe_bytes(pid, entries, c.version, props=props))
        codes = bytes(granted if granted is not None else [opts & 3 for _, opts in entries])
        c.expect(0x90, pid.to_bytes(2, "big") + (b"\x00" if c.version == V5 else b"") + codes)

    def barrier(self, c, pid=0xBEEF):
        """Packets the session sends before it answers an UNSUBSCRIBE sent now."""
        c.send(unsubscribe_bytes(pid, ["no/such/filter"], c.version))
        got = []
        while True:
            p = c.read()
            self.assertIsNotNone(p, "connection closed before the UNSUBACK")
            if p[0] == 0xB0 and p[1][:2] == pid.to_bytes(2, "big"):
                return got
            got.append(p)

    def publishes(self, c, packets):
        return [parse_publish(f, b, c.version) for f, b in packets]

    def publish_ok(self, c, topic, payload, qos=1, pid=1, props=b"", retain=False, matched=True):
        """Publishes and completes the QoS 1/2 exchange."""
        c.send(publish_bytes(topic, payload, qos=qos, pid=pid if qos else None, version=c.version, props=props,
                             retain=retain))
        if qos == 0:
            return
        reason = b"" if matched or c.version != V5 else b"\x10"
        if qos == 1:
            c.expect(0x40, pid.to_bytes(2, "big") + reason)
        else:
            c.expect(0x50, pid.to_bytes(2, "big") + reason)
            c.send(ack("pubrel", pid))
            c.expect(0x70, pid.to_bytes(2, "big"))


class QoS2Test(RulesTestCase):
    def test_exactly_once_with_duplicate_publish(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"q2/{v}/once"
                s = self.connect(v)
                self.subscribe(s, [(topic, 2)])
                p = self.connect(v)
                pub = publish_bytes(topic, b"once", qos=2, pid=7, version=v)
                p.send(pub)
                p.expect(0x50, b"\x00\x07")
                p.send(bytes([pub[0] | 0x08]) + pub[1:])  # the same PUBLISH again, DUP set
                p.expect(0x50, b"\x00\x07")
                p.send(ack("pubrel", 7))
                p.expect(0x70, b"\x00\x07")
                got = self.publishes(s, self.barrier(s))
                self.assertEqual([(m["payload"], m["qos"], m["dup"]) for m in got], [(b"once", 2, False)])
                # The subscriber side completes; nothing further is owed.
                s.send(ack("pubrec", got[0]["pid"]))
                s.expect(0x62, got[0]["pid"].to_bytes(2, "big"))
                s.send(ack("pubcomp", got[0]["pid"]))
                self.assertEqual(self.barrier(s), [])

    def test_exactly_once_across_reconnect(self):
        # The PUBREC is lost with the connection; the client resends the
        # PUBLISH on its next connection and it is still delivered once.
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"q2/{v}/reconnect"
                s = self.connect(v)
                self.subscribe(s, [(topic, 2)])
                cid = self.name()
                p = self.persistent(v, cid)
                pub = publish_bytes(topic, b"only-once", qos=2, pid=9, version=v)
                p.send(pub)
                p.expect(0x50, b"\x00\x09")
                p.close()
                p = self.persistent(v, cid, present=True)
                p.send(bytes([pub[0] | 0x08]) + pub[1:])
                p.expect(0x50, b"\x00\x09")
                p.send(ack("pubrel", 9))
                p.expect(0x70, b"\x00\x09")
                got = self.publishes(s, self.barrier(s))
                self.assertEqual([m["payload"] for m in got], [b"only-once"])

    def test_pubrel_for_unknown_id(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                c.send(ack("pubrel", 99))
                c.expect(0x70, b"\x00\x63\x92" if v == V5 else b"\x00\x63")
                c.send(b"\xc0\x00")
                c.expect(0xD0, b"")

    def test_outgoing_qos2_flow(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"q2/{v}/out"
                cid = self.name()
                s = self.persistent(v, cid)
                self.subscribe(s, [(topic, 2)])
                p = self.connect(v)
                self.publish_ok(p, topic, b"two", qos=2, pid=3)
                m = parse_publish(*s.read(), v)
                self.assertEqual((m["qos"], m["dup"], m["retain"], m["topic"], m["payload"]),
                                 (2, False, False, topic, b"two"))
                self.assertNotEqual(m["pid"], 0)
                s.send(ack("pubrec", m["pid"]))
                s.expect(0x62, m["pid"].to_bytes(2, "big"))
                s.send(ack("pubcomp", m["pid"]))
                self.assertEqual(self.barrier(s), [])
                # Nothing left in flight: a resumed session resends nothing.
                s.send(b"\xe0\x00")
                self.assertTrue(s.closed())
                s = self.persistent(v, cid, present=True)
                self.assertEqual(self.barrier(s), [])

    def test_pubrec_for_unknown_id(self):
        # The broker answers a PUBREC it has no PUBLISH for with PUBREL (0x92 in MQTT 5).
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                c.send(ack("pubrec", 77))
                c.expect(0x62, b"\x00\x4d\x92" if v == V5 else b"\x00\x4d")


class AckOrderTest(RulesTestCase):
    def test_puback_order_follows_publish_order(self):
        # As many unacknowledged QoS 1 publishes as Receive Maximum (100) allows,
        # on topics spread over all shards, a third of them with a subscriber.
        for v in VERSIONS:
            with self.subTest(version=v):
                s = self.connect(v)
                self.subscribe(s, [(f"ord{v}/+/sub", 1)])  # a wildcard in the shard key: every shard
                p = self.connect(v)
                n = 99
                data = b"".join(
                    publish_bytes(f"ord{v}/{i}/" + ("sub" if i % 3 == 0 else "none"), str(i).encode(),
                                  qos=1, pid=i, version=v)
                    for i in range(1, n + 1))
                p.send(data)
                for i in range(1, n + 1):
                    matched = i % 3 == 0 or v != V5
                    p.expect(0x40, i.to_bytes(2, "big") + (b"" if matched else b"\x10"))
                got = []
                while len(got) < n // 3:
                    m = parse_publish(*s.read(), v)
                    got.append(int(m["payload"]))
                    s.send(ack("puback", m["pid"]))
                self.assertEqual(sorted(got), list(range(3, n + 1, 3)))

    def test_pubrec_order_mixed_with_puback(self):
        c = self.connect(V5)
        data = b""
        for i in range(1, 101):
            data += publish_bytes(f"mix/{i}/t", b"x", qos=1 + i % 2, pid=i)
        c.send(data)
        for i in range(1, 101):
            c.expect(0x40 if i % 2 == 0 else 0x50, i.to_bytes(2, "big") + b"\x10")

    def test_delivery_order_on_one_topic(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"seq/{v}"
                s = self.connect(v)
                self.subscribe(s, [(topic, 2)])
                p = self.connect(v)
                p.send(b"".join(publish_bytes(topic, str(i).encode(), qos=1, pid=i, version=v)
                                for i in range(1, 101)))
                got = []
                while len(got) < 100:
                    m = parse_publish(*s.read(), v)
                    got.append(int(m["payload"]))
                    s.send(ack("puback", m["pid"]))
                self.assertEqual(got, list(range(1, 101)))
                for i in range(1, 101):
                    p.expect(0x40, i.to_bytes(2, "big"))

    def test_311_pipelined_publishes_beyond_receive_maximum(self):
        # 3.1.1 has no Receive Maximum: a client may have any number of QoS 1
        # publishes unacknowledged, and a server that cannot keep up applies
        # back-pressure rather than closing the connection.
        p = self.connect(V311)
        n = 300
        p.send(b"".join(publish_bytes(f"pipe/{i}/x", b"x", qos=1, pid=i, version=V311) for i in range(1, n + 1)))
        for i in range(1, n + 1):
            p.expect(0x40, i.to_bytes(2, "big"))


class BasicsTest(RulesTestCase):
    def test_pingreq(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                for _ in range(3):
                    c.send(b"\xc0\x00")
                    self.assertEqual(c.read(), (0xD0, b""))

    def test_unsubscribe_known_and_unknown(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                self.subscribe(c, [("un/known", 1)])
                c.send(unsubscribe_bytes(5, ["un/unknown"], v))
                c.expect(0xB0, b"\x00\x05\x00\x11" if v == V5 else b"\x00\x05")
                c.send(unsubscribe_bytes(6, ["un/known"], v))
                c.expect(0xB0, b"\x00\x06\x00\x00" if v == V5 else b"\x00\x06")
                c.send(unsubscribe_bytes(7, ["un/known"], v))
                c.expect(0xB0, b"\x00\x07\x00\x11" if v == V5 else b"\x00\x07")
                self.subscribe(c, [("un/a", 0), ("un/b", 0)], pid=8)
                c.send(unsubscribe_bytes(9, ["un/a", "un/x", "un/b"], v))
                c.expect(0xB0, b"\x00\x09\x00\x00\x11\x00" if v == V5 else b"\x00\x09")
                # Unsubscribed means no more deliveries.
                self.publish_ok(c, "un/known", b"x", qos=1, pid=10, matched=False)
                self.assertEqual(self.barrier(c), [])

    def test_suback_granted_qos(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                self.subscribe(c, [("g/0", 0), ("g/1", 1), ("g/2", 2), ("g/+/x", 2)], granted=[0, 1, 2, 2])
                # Delivery QoS is the lower of the publish and the granted QoS.
                p = self.connect(v)
                self.publish_ok(p, "g/0", b"a", qos=2, pid=1)
                self.publish_ok(p, "g/1", b"b", qos=2, pid=2)
                self.publish_ok(p, "g/2", b"c", qos=1, pid=3)
                got = self.publishes(c, self.barrier(c))
                self.assertEqual([(m["topic"], m["qos"]) for m in got], [("g/0", 0), ("g/1", 1), ("g/2", 1)])

    def test_puback_no_matching_subscribers(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                c.send(publish_bytes(f"nobody/{v}", b"x", qos=1, pid=4, version=v))
                c.expect(0x40, b"\x00\x04\x10" if v == V5 else b"\x00\x04")
                c.send(publish_bytes(f"nobody/{v}", b"x", qos=2, pid=5, version=v))
                c.expect(0x50, b"\x00\x05\x10" if v == V5 else b"\x00\x05")
                c.send(ack("pubrel", 5))
                c.expect(0x70, b"\x00\x05")
                # With a subscriber the reason is success, left out of the packet.
                self.subscribe(c, [(f"nobody/{v}", 1)])
                c.send(publish_bytes(f"nobody/{v}", b"x", qos=1, pid=6, version=v))
                got = [c.read(), c.read()]
                self.assertIn((0x40, b"\x00\x06"), got)

    def test_qos0_publish_gets_no_ack(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                c.send(publish_bytes("q0/x", b"x", version=v))
                self.assertEqual(self.barrier(c), [])


class RedeliveryTest(RulesTestCase):
    def test_unacknowledged_publish_resent_with_dup(self):
        for v in VERSIONS:
            for qos in (1, 2):
                with self.subTest(version=v, qos=qos):
                    topic = f"redo/{v}/{qos}"
                    cid = self.name()
                    s = self.persistent(v, cid)
                    self.subscribe(s, [(topic, qos)])
                    p = self.connect(v)
                    self.publish_ok(p, topic, b"first", qos=qos, pid=1)
                    self.publish_ok(p, topic, b"second", qos=qos, pid=2)
                    got = [parse_publish(*s.read(), v) for _ in range(2)]
                    self.assertEqual([(m["payload"], m["dup"]) for m in got], [(b"first", False), (b"second", False)])
                    s.close()  # no acknowledgement, no DISCONNECT
                    s = self.persistent(v, cid, present=True)
                    again = [parse_publish(*s.read(), v) for _ in range(2)]
                    self.assertEqual([(m["payload"], m["dup"], m["qos"], m["pid"]) for m in again],
                                     [(m["payload"], True, qos, m["pid"]) for m in got])
                    for m in again:
                        if qos == 1:
                            s.send(ack("puback", m["pid"]))
                        else:
                            s.send(ack("pubrec", m["pid"]))
                            s.expect(0x62, m["pid"].to_bytes(2, "big"))
                            s.send(ack("pubcomp", m["pid"]))
                    self.assertEqual(self.barrier(s), [])
                    # Acknowledged now: the next resume has nothing to resend.
                    s.close()
                    s = self.persistent(v, cid, present=True)
                    self.assertEqual(self.barrier(s), [])

    def test_pubrel_resent_after_reconnect(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"rel/{v}"
                cid = self.name()
                s = self.persistent(v, cid)
                self.subscribe(s, [(topic, 2)])
                p = self.connect(v)
                self.publish_ok(p, topic, b"x", qos=2, pid=1)
                m = parse_publish(*s.read(), v)
                s.send(ack("pubrec", m["pid"]))
                s.expect(0x62, m["pid"].to_bytes(2, "big"))
                s.close()  # PUBCOMP never sent
                s = self.persistent(v, cid, present=True)
                self.assertEqual(s.read(), (0x62, m["pid"].to_bytes(2, "big")))
                s.send(ack("pubcomp", m["pid"]))
                self.assertEqual(self.barrier(s), [])

    def test_messages_queued_while_offline(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"offline/{v}"
                cid = self.name()
                s = self.persistent(v, cid)
                self.subscribe(s, [(topic, 1)])
                s.send(b"\xe0\x00")
                self.assertTrue(s.closed())
                p = self.connect(v)
                # QoS 0 is not kept for offline clients; it is sent first so the
                # acknowledged QoS 1 publishes behind it prove it was routed.
                self.publish_ok(p, topic, b"qos0", qos=0)
                for i in range(1, 6):
                    self.publish_ok(p, topic, str(i).encode(), qos=1, pid=i)
                s = self.persistent(v, cid, present=True)
                got = self.publishes(s, self.barrier(s))
                self.assertEqual([(m["payload"], m["dup"]) for m in got],
                                 [(str(i).encode(), False) for i in range(1, 6)])

    def test_clean_start_discards_the_session(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"clean/{v}"
                cid = self.name()
                s = self.persistent(v, cid)
                self.subscribe(s, [(topic, 1)])
                p = self.connect(v)
                self.publish_ok(p, topic, b"x", qos=1, pid=1)
                self.assertEqual(parse_publish(*s.read(), v)["payload"], b"x")
                s.close()
                s = self.connect(v, cid, clean=True)
                self.assertEqual(self.barrier(s), [])
                self.publish_ok(p, topic, b"y", qos=1, pid=2, matched=False)
                self.assertEqual(self.barrier(s), [])

    def test_session_takeover(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                cid = self.name()
                old = self.connect(v, cid)
                new = self.connect(v, cid)
                assert_disconnect(self, old, 0x8E)
                new.send(b"\xc0\x00")
                new.expect(0xD0, b"")


class RetainTest(RulesTestCase):
    def test_retained_message_and_its_deletion(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"ret/{v}/a"
                p = self.connect(v)
                self.publish_ok(p, topic, b"kept", qos=1, pid=1, retain=True, matched=False)
                s = self.connect(v)
                self.subscribe(s, [(f"ret/{v}/+", 1)])
                m = parse_publish(*s.read(), v)
                self.assertEqual((m["topic"], m["payload"], m["retain"], m["qos"]), (topic, b"kept", True, 1))
                s.send(ack("puback", m["pid"]))
                # A live delivery of a retained publish has RETAIN 0.
                self.publish_ok(p, topic, b"newer", qos=0, retain=True)
                m = parse_publish(*s.read(), v)
                self.assertEqual((m["payload"], m["retain"]), (b"newer", False))
                # An empty retained payload deletes it.
                self.publish_ok(p, topic, b"", qos=1, pid=2, retain=True)
                m = parse_publish(*s.read(), v)
                self.assertEqual((m["payload"], m["retain"]), (b"", False))
                s.send(ack("puback", m["pid"]))
                s2 = self.connect(v)
                self.subscribe(s2, [(f"ret/{v}/+", 1)])
                self.assertEqual(self.barrier(s2), [])

    def test_retain_handling_and_retain_as_published(self):
        topic = "rh/a"
        p = self.connect()
        self.publish_ok(p, topic, b"r", qos=1, pid=1, retain=True, matched=False)
        s = self.connect()
        self.subscribe(s, [(topic, 0x20)])  # retain handling 2: never
        self.assertEqual(self.barrier(s), [])
        self.subscribe(s, [("rh/+", 0x10)], pid=2)  # 1: only for a new subscription
        self.assertEqual([m["payload"] for m in self.publishes(s, self.barrier(s))], [b"r"])
        self.subscribe(s, [("rh/+", 0x10)], pid=3)  # exists now: nothing
        self.assertEqual(self.barrier(s), [])
        s2 = self.connect()
        self.subscribe(s2, [(topic, 0x08)])  # retain as published
        self.assertEqual([m["retain"] for m in self.publishes(s2, self.barrier(s2))], [True])
        self.publish_ok(p, topic, b"live", qos=0, retain=True)
        m = parse_publish(*s2.read(), V5)
        self.assertEqual((m["payload"], m["retain"]), (b"live", True))


    def test_retained_across_shards(self):
        p = self.connect()
        topics = [f"rs/{i}/v" for i in range(20)]
        for n, t in enumerate(topics, 1):
            self.publish_ok(p, t, t.encode(), qos=1, pid=n, retain=True, matched=False)
        c = self.connect()
        self.subscribe(c, [("rs/#", 1)])
        got = self.publishes(c, self.barrier(c))
        self.assertEqual(sorted(m["topic"] for m in got), sorted(topics))
        self.assertTrue(all(m["retain"] for m in got))
        # A shared subscription gets no retained messages.
        s = self.connect()
        self.subscribe(s, [("$share/g/rs/#", 1)])
        self.assertEqual(self.barrier(s), [])


class FeaturesTest(RulesTestCase):
    def test_will_on_abrupt_close_only(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"will/{v}"
                s = self.connect(v)
                self.subscribe(s, [(topic, 1)])
                w = self.connect(v, will=(topic, "gone"))
                w.send(b"\xe0\x00")  # normal disconnect: no will
                self.assertTrue(w.closed())
                self.assertEqual(self.barrier(s), [])
                w = self.connect(v, will=(topic, "gone"))
                w.close()
                m = parse_publish(*s.read(), v)
                self.assertEqual((m["topic"], m["payload"]), (topic, b"gone"))
                if v == V5:
                    w = self.connect(v, will=(topic, "asked"))
                    w.send(b"\xe0\x01\x04")  # disconnect with will message
                    self.assertTrue(w.closed())
                    m = parse_publish(*s.read(), v)
                    self.assertEqual(m["payload"], b"asked")

    def test_will_after_protocol_violation(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                topic = f"willbad/{v}"
                s = self.connect(v)
                self.subscribe(s, [(topic, 0)])
                w = self.connect(v, will=(topic, "bad"))
                w.send(b"\x00\x00")
                assert_disconnect(self, w, 0x81)
                m = parse_publish(*s.read(), v)
                self.assertEqual(m["payload"], b"bad")

    def test_no_local(self):
        c = self.connect()
        self.subscribe(c, [("nl/t", 0x04 | 1)])
        self.publish_ok(c, "nl/t", b"own", qos=1, pid=1, matched=False)
        self.assertEqual(self.barrier(c), [])
        other = self.connect()
        self.publish_ok(other, "nl/t", b"other", qos=1, pid=1)
        got = self.publishes(c, self.barrier(c))
        self.assertEqual([m["payload"] for m in got], [b"other"])

    def test_subscription_identifier_delivered(self):
        c = self.connect()
        self.subscribe(c, [("sid/+", 1)], props=b"\x0b\x2a")
        self.subscribe(c, [("sid/x", 0)], pid=2, props=b"\x0b\x80\x01")
        p = self.connect()
        self.publish_ok(p, "sid/x", b"x", qos=1, pid=1)
        m = parse_publish(*c.read(), V5)
        self.assertEqual(m["qos"], 1)
        self.assertEqual(sorted(v for k, v in m["props"] if k == 0x0B), [42, 128])

    def test_properties_forwarded(self):
        c = self.connect()
        self.subscribe(c, [("fw/x", 0)])
        props = (prop_byte(0x01, 1) + prop_str(0x03, "text/plain") + prop_str(0x08, "fw/reply")
                 + bytes([0x09]) + utf8(b"\x00\x01corr") + prop_pair("k", "v1") + prop_pair("k", "v2")
                 + prop_u32(0x02, 100))
        p = self.connect()
        self.publish_ok(p, "fw/x", b"hello", qos=0, props=props)
        m = parse_publish(*c.read(), V5)
        props = m["props"]
        self.assertIn((0x01, 1), props)
        self.assertIn((0x03, b"text/plain"), props)
        self.assertIn((0x08, b"fw/reply"), props)
        self.assertIn((0x09, b"\x00\x01corr"), props)
        self.assertEqual([v for k, v in props if k == 0x26], [(b"k", b"v1"), (b"k", b"v2")])
        expiry = [v for k, v in props if k == 0x02]
        self.assertEqual(len(expiry), 1)
        self.assertTrue(99 <= expiry[0] <= 100, expiry)

    def test_shared_subscription(self):
        a = self.connect()
        b = self.connect()
        self.subscribe(a, [("$share/grp/sh/t", 1)])
        self.subscribe(b, [("$share/grp/sh/t", 1)])
        p = self.connect()
        for i in range(1, 11):
            self.publish_ok(p, "sh/t", str(i).encode(), qos=1, pid=i)
        got = []
        for c in (a, b):
            for m in self.publishes(c, self.barrier(c)):
                got.append(int(m["payload"]))
                c.send(ack("puback", m["pid"]))
        self.assertEqual(sorted(got), list(range(1, 11)))

    def test_dollar_topics_not_matched_by_leading_wildcards(self):
        c = self.connect()
        self.subscribe(c, [("#", 0), ("+/x", 0)])
        p = self.connect()
        self.publish_ok(p, "$sys/x", b"hidden", qos=1, pid=1, matched=False)
        self.publish_ok(p, "plain/x", b"seen", qos=1, pid=2)
        got = self.publishes(c, self.barrier(c))
        self.assertEqual([m["topic"] for m in got], ["plain/x"])

    def test_client_receive_maximum(self):
        s = self.connect(props=prop_u16(0x21, 2))
        self.subscribe(s, [("rm/t", 1)])
        p = self.connect()
        for i in range(1, 6):
            self.publish_ok(p, "rm/t", str(i).encode(), qos=1, pid=i)
        first = self.publishes(s, self.barrier(s))
        self.assertEqual([m["payload"] for m in first], [b"1", b"2"])
        s.send(ack("puback", first[0]["pid"]))
        more = self.publishes(s, self.barrier(s))
        self.assertEqual([m["payload"] for m in more], [b"3"])
        for m in first[1:] + more:
            s.send(ack("puback", m["pid"]))
        rest = self.publishes(s, self.barrier(s))
        self.assertEqual([m["payload"] for m in rest], [b"4", b"5"])

    def test_client_receive_maximum_counts_qos2_until_pubcomp(self):
        s = self.connect(props=prop_u16(0x21, 1))
        self.subscribe(s, [("rm2/t", 2)])
        p = self.connect()
        self.publish_ok(p, "rm2/t", b"1", qos=2, pid=1)
        self.publish_ok(p, "rm2/t", b"2", qos=2, pid=2)
        first = self.publishes(s, self.barrier(s))
        self.assertEqual([m["payload"] for m in first], [b"1"])
        s.send(ack("pubrec", first[0]["pid"]))
        self.assertEqual(self.barrier(s), [(0x62, first[0]["pid"].to_bytes(2, "big"))])
        s.send(ack("pubcomp", first[0]["pid"]))
        self.assertEqual([m["payload"] for m in self.publishes(s, self.barrier(s))], [b"2"])

    def test_client_maximum_packet_size_boundary(self):
        # PUBLISH to an MQTT 5 client, QoS 0, topic "mpb/t": 10 bytes + payload.
        s = self.connect(props=prop_u32(0x27, 100))
        self.subscribe(s, [("mpb/t", 1)])
        p = self.connect()
        self.publish_ok(p, "mpb/t", b"a" * 90, qos=0)
        self.publish_ok(p, "mpb/t", b"b" * 91, qos=0)
        self.publish_ok(p, "mpb/t", b"c" * 88, qos=1, pid=1)  # QoS 1 adds the packet id: 100 bytes
        got = self.publishes(s, self.barrier(s))
        self.assertEqual([len(m["payload"]) for m in got], [90, 88])

    def test_many_filters_in_one_subscribe(self):
        c = self.connect()
        entries = [(f"many/{i}/x", i % 3) for i in range(500)] + [("many/0/x", 2)]
        self.subscribe(c, entries, granted=[i % 3 for i in range(500)] + [2])
        p = self.connect()
        self.publish_ok(p, "many/0/x", b"x", qos=2, pid=1)
        self.publish_ok(p, "many/499/x", b"y", qos=2, pid=2)
        got = self.publishes(c, self.barrier(c))
        self.assertEqual([(m["payload"], m["qos"]) for m in got], [(b"x", 2), (b"y", 1)])

    def test_shared_wildcard_subscription_across_shards(self):
        a = self.connect()
        b = self.connect()
        self.subscribe(a, [("$share/w/sw/#", 1)])
        self.subscribe(b, [("$share/w/sw/#", 1)])
        p = self.connect()
        for i in range(1, 21):
            self.publish_ok(p, f"sw/{i}/x", str(i).encode(), qos=1, pid=i)
        got = []
        for c in (a, b):
            for m in self.publishes(c, self.barrier(c)):
                got.append(int(m["payload"]))
                c.send(ack("puback", m["pid"]))
        self.assertEqual(sorted(got), list(range(1, 21)))
        a.send(unsubscribe_bytes(3, ["$share/w/sw/#"]))
        a.expect(0xB0, b"\x00\x03\x00\x00")

    def test_client_maximum_packet_size(self):
        s = self.connect(props=prop_u32(0x27, 100))
        self.subscribe(s, [("mps/t", 0)])
        p = self.connect()
        # Too large for the client: not sent (spec 3.1.2.11.4), as if delivered.
        self.publish_ok(p, "mps/t", b"x" * 200, qos=0)
        self.publish_ok(p, "mps/t", b"y" * 200, qos=1, pid=1)
        self.publish_ok(p, "mps/t", b"small", qos=1, pid=2)  # after the QoS 0 one on the same path
        self.assertEqual([m["payload"] for m in self.publishes(s, self.barrier(s))], [b"small"])

    def test_connack_properties(self):
        self.connect(keep_alive=4000)
        self.assertIn((0x13, 3600), self.connack_props)
        self.connect(props=prop_u32(0x11, 0xFFFFFFFF))
        self.assertIn((0x11, 604800), self.connack_props)
        self.connect(client_id="")
        assigned = [v for k, v in self.connack_props if k == 0x12]
        self.assertEqual(len(assigned), 1)
        self.assertTrue(assigned[0])
        # 3.1.1 clean session with an empty client id is accepted too.
        self.connect(V311, client_id="")

    def test_message_expiry_while_offline(self):
        cid = self.name()
        s = self.persistent(V5, cid)
        self.subscribe(s, [("exp/t", 1)])
        s.send(b"\xe0\x00")
        self.assertTrue(s.closed())
        p = self.connect()
        self.publish_ok(p, "exp/t", b"short", qos=1, pid=1, props=prop_u32(0x02, 1))
        self.publish_ok(p, "exp/t", b"long", qos=1, pid=2, props=prop_u32(0x02, 60))
        time.sleep(1.2)  # about time: the first message expires
        s = self.persistent(V5, cid, present=True)
        got = self.publishes(s, self.barrier(s))
        self.assertEqual([m["payload"] for m in got], [b"long"])
        expiry = [v for k, v in got[0]["props"] if k == 0x02]
        self.assertEqual(len(expiry), 1)
        self.assertTrue(58 <= expiry[0] <= 59, expiry)


MATCH_FILTERS = ["m/a/b", "m/+/b", "m/#", "m/a/#", "m/a/b/#", "+/a/b", "#", "m/+", "m/a/+", "m/+/+/+",
                 "m//b", "m/a/b/", "+/+", "/#", "+", "$m/#", "$m/+/b"]
MATCH_TABLE = {  # topic: the filters that match it
    "m/a/b": {"m/a/b", "m/+/b", "m/#", "m/a/#", "m/a/b/#", "+/a/b", "#", "m/a/+"},
    "m/a": {"m/#", "m/a/#", "#", "m/+", "+/+"},
    "m": {"m/#", "#", "+"},
    "m/a/b/c": {"m/#", "m/a/#", "m/a/b/#", "#", "m/+/+/+"},
    "m//b": {"m/+/b", "m/#", "#", "m//b"},
    "m/a/b/": {"m/#", "m/a/#", "m/a/b/#", "#", "m/a/b/", "m/+/+/+"},
    "/m": {"#", "/#", "+/+"},
    "$m/a/b": {"$m/#", "$m/+/b"},  # never matched by a leading wildcard
}


class RetainedMatchingTest(RulesTestCase):
    def test_retained_matching_table(self):
        # The same table for retained messages, which a subscription matches
        # when it is made rather than when the message is routed.
        p = self.connect()
        for n, topic in enumerate(MATCH_TABLE, 1):
            self.publish_ok(p, topic, topic.encode(), qos=1, pid=n, retain=True, matched=False)
        for f in MATCH_FILTERS:
            with self.subTest(filter=f):
                c = self.connect()
                self.subscribe(c, [(f, 0)])
                got = sorted(m["topic"] for m in self.publishes(c, self.barrier(c)))
                self.assertEqual(got, sorted(t for t, fs in MATCH_TABLE.items() if f in fs))
                c.close()


class MatchingTest(RulesTestCase):
    def test_topic_matching_table(self):
        # Each filter is its own subscription with its own identifier; the
        # identifiers on the one delivered copy say which filters matched.
        filters = MATCH_FILTERS
        c = self.connect()
        for i, f in enumerate(filters, 1):
            self.subscribe(c, [(f, 0)], pid=i, props=b"\x0b" + varint(i))
        p = self.connect()
        for n, (topic, expected) in enumerate(MATCH_TABLE.items(), 1):
            with self.subTest(topic=topic):
                self.publish_ok(p, topic, topic.encode(), qos=1, pid=n, matched=bool(expected))
                got = self.publishes(c, self.barrier(c))
                if not expected:
                    self.assertEqual(got, [])
                    continue
                self.assertEqual(len(got), 1, "one copy per client")
                ids = sorted(v for k, v in got[0]["props"] if k == 0x0B)
                self.assertEqual([filters[i - 1] for i in ids], sorted(expected, key=filters.index))

    def test_utf8_topic_bytes_kept(self):
        topic = "\ufeffbom/ü/\U0001F600"
        c = self.connect()
        self.subscribe(c, [(topic, 1)])
        p = self.connect()
        self.publish_ok(p, topic, b"x", qos=1, pid=2)
        got = self.publishes(c, self.barrier(c))
        self.assertEqual([m["topic"] for m in got], [topic])

    def test_resubscribe_replaces_options(self):
        c = self.connect()
        self.subscribe(c, [("re/t", 0)])
        self.subscribe(c, [("re/t", 2)], pid=2)
        p = self.connect()
        self.publish_ok(p, "re/t", b"x", qos=2, pid=1)
        got = self.publishes(c, self.barrier(c))
        self.assertEqual([(m["payload"], m["qos"]) for m in got], [(b"x", 2)])

    def test_publish_then_disconnect_in_one_write(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                c = self.connect(v)
                self.subscribe(c, [(f"pd/{v}", 1)])
                p = self.connect(v)
                p.send(publish_bytes(f"pd/{v}", b"q0", version=v) + publish_bytes(f"pd/{v}", b"q1", qos=1, pid=1,
                                                                                  version=v) + b"\xe0\x00")
                got = [parse_publish(*c.read(), v)["payload"] for _ in range(2)]
                self.assertEqual(got, [b"q0", b"q1"])

    def test_pubrec_with_error_ends_the_exchange(self):
        cid = self.name()
        s = self.persistent(V5, cid)
        self.subscribe(s, [("pre/t", 2)])
        p = self.connect()
        self.publish_ok(p, "pre/t", b"x", qos=2, pid=1)
        m = parse_publish(*s.read(), V5)
        s.send(ack("pubrec", m["pid"], 0x80))
        self.assertEqual(self.barrier(s), [])  # no PUBREL
        s.close()
        s = self.persistent(V5, cid, present=True)
        self.assertEqual(self.barrier(s), [])  # and nothing to resend


class TimingTest(RulesTestCase):
    """Behaviour that is about time: expiry intervals and delays of ~1 s."""

    def test_session_expiry(self):
        cid = self.name()
        c = self.connect(V5, cid, props=prop_u32(0x11, 1))
        self.subscribe(c, [("sx/t", 1)])
        c.close()
        time.sleep(1.5)
        c = self.connect(V5, cid, clean=False, props=prop_u32(0x11, 1), present=False)
        p = self.connect()
        self.publish_ok(p, "sx/t", b"x", qos=1, pid=1, matched=False)  # the subscription went with it

    def test_session_expiry_set_to_zero_at_disconnect(self):
        cid = self.name()
        c = self.connect(V5, cid, props=prop_u32(0x11, 300))
        self.subscribe(c, [("sz/t", 1)])
        c.send(packet(0xE0, b"\x00" + props_block(prop_u32(0x11, 0))))
        self.assertTrue(c.closed())
        c = self.connect(V5, cid, clean=False, present=False)

    def test_will_delay(self):
        s = self.connect()
        self.subscribe(s, [("wd/t", 1)])
        cid = self.name()
        props = prop_u32(0x11, 60)
        w = self.connect(V5, cid, props=props, will=("wd/t", "late"), will_props=prop_u32(0x18, 1))
        start = time.monotonic()
        w.close()
        m = parse_publish(*s.read(), V5)
        elapsed = time.monotonic() - start
        self.assertEqual(m["payload"], b"late")
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 3.0)
        # Reconnecting within the delay cancels the will.
        w = self.connect(V5, cid, clean=False, props=props, present=True, will=("wd/t", "cancelled"),
                         will_props=prop_u32(0x18, 1))
        w.close()
        w = self.connect(V5, cid, clean=False, props=props, present=True)
        time.sleep(1.3)
        self.assertEqual(self.barrier(s), [])

    def test_retained_message_expiry(self):
        p = self.connect()
        self.publish_ok(p, "rx/t", b"brief", qos=1, pid=1, retain=True, matched=False, props=prop_u32(0x02, 1))
        time.sleep(1.2)
        c = self.connect()
        self.subscribe(c, [("rx/t", 1)])
        self.assertEqual(self.barrier(c), [])

    def test_will_retained_with_properties(self):
        cid = self.name()
        wprops = prop_str(0x03, "text/plain") + prop_pair("why", "crash")
        w = self.connect(V5, cid, will=("wr/t", "last words"), will_props=wprops,
                         flags=0x02 | 0x04 | 0x08 | 0x20)  # will QoS 1, retained
        w.close()
        deadline = time.monotonic() + 5
        while True:
            c = self.connect()
            self.subscribe(c, [("wr/t", 1)])
            got = self.publishes(c, self.barrier(c))
            if got or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the will is published asynchronously to the close
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual((m["payload"], m["retain"], m["qos"]), (b"last words", True, 1))
        self.assertIn((0x03, b"text/plain"), m["props"])
        self.assertIn((0x26, (b"why", b"crash")), m["props"])


class BusyShardTest(RulesTestCase):
    """A topic shard kept busy (SUBSCRIBEs that scan 100 000 retained messages)
    so that a QoS 2 PUBLISH is still being routed when its client reconnects
    and sends it again."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = Conn(cls.broker.port, V5)
        c.send(connect_bytes("loader"))
        c.read()
        c.send(b"".join(publish_bytes(f"busy/a/{i}", b"r", retain=True) for i in range(100000)))
        c.send(publish_bytes("busy/a/sync", b"s", qos=1, pid=1))
        assert c.read() == (0x40, b"\x00\x01\x10")
        c.close()

    def test_qos2_resent_while_first_copy_is_being_routed(self):
        for v in VERSIONS:
            with self.subTest(version=v):
                scanner = self.connect(v)
                # 20 SUBSCRIBEs on the shard of busy/a/...; each scans every retained message.
                scanner.send(b"".join(subscribe_bytes(i, [("busy/a/none/+", 0)], v) for i in range(1, 21)))
                scanner.expect(0x90)  # the shard has started on them
                cid = self.name()
                p = self.persistent(v, cid)
                pub = publish_bytes("busy/a/q2", b"q2", qos=2, pid=7, version=v)
                p.send(pub)
                p.close()  # gone before the PUBREC
                p = self.persistent(v, cid, present=True)
                p.send(bytes([pub[0] | 0x08]) + pub[1:])
                # PUBREC, success or (MQTT 5) No matching subscribers.
                self.assertIn(p.expect(0x50), (b"\x00\x07", b"\x00\x07\x10") if v == V5 else (b"\x00\x07",))
                p.send(ack("pubrel", 7))
                p.expect(0x70, b"\x00\x07")
                # Later acknowledgements are not held up either.
                p.send(publish_bytes("busy/a/q1", b"q1", qos=1, pid=8, version=v))
                p.expect(0x40, b"\x00\x08" + (b"\x10" if v == V5 else b""))


    def test_qos2_duplicate_on_same_connection_while_routing(self):
        # A 3.1.1 client may resend an unacknowledged PUBLISH (DUP) without
        # reconnecting; both copies must be answered with PUBREC.
        for v in VERSIONS:
            with self.subTest(version=v):
                scanner = self.connect(v)
                scanner.send(b"".join(subscribe_bytes(i, [("busy/a/none/+", 0)], v) for i in range(1, 21)))
                scanner.expect(0x90)
                p = self.connect(v)
                pub = publish_bytes("busy/a/dup", b"d", qos=2, pid=5, version=v)
                p.send(pub + bytes([pub[0] | 0x08]) + pub[1:])
                for _ in range(2):
                    self.assertIn(p.expect(0x50), (b"\x00\x05", b"\x00\x05\x10"))
                p.send(ack("pubrel", 5))
                p.expect(0x70, b"\x00\x05")


class ShutdownTest(NodeTestCase):
    def test_clients_told_server_shutting_down(self):
        b = self.node()
        c5 = Conn(b.port, V5)
        c5.send(connect_bytes("bye5"))
        c5.expect(0x20)
        c4 = Conn(b.port, V311)
        c4.send(connect_bytes("bye4", V311))
        c4.expect(0x20)
        b.stop()
        self.assertEqual(c5.read(), (0xE0, b"\x8b"))
        self.assertIsNone(c5.read())
        self.assertIsNone(c4.read())
        c5.close()
        c4.close()


class MaximumQoSTest(RulesTestCase):
    settings = {"mqtt.maximum_qos": 1}

    def test_maximum_qos_1(self):
        c = self.connect()
        self.assertIn((0x24, 1), self.connack_props)
        self.subscribe(c, [("mq/a", 2), ("mq/b", 1), ("mq/c", 0)], granted=[1, 1, 0])
        c.send(publish_bytes("mq/a", b"x", qos=2, pid=1))
        assert_disconnect(self, c, 0x9B)
        c = Conn(self.broker.port, V5)
        self.addCleanup(c.close)
        c.send(connect_bytes(self.name(), will=("mq/w", "x"), flags=0x02 | 0x04 | 0x10))
        body = c.expect(0x20)
        self.assertEqual(body[:2], b"\x00\x9b")
        self.assertTrue(c.closed())
        c = self.connect(V311)
        self.subscribe(c, [("mq/a", 2)], granted=[1])


if __name__ == "__main__":
    unittest.main()
