"""Durable storage seen from outside: the data dir a node refuses, and
retained messages that survive a SIGKILL, in MQTT 3.1.1 and 5.0."""

import os
import tempfile
import time
import unittest

from broker import Broker, NodeTestCase, RawClient
from paho_util import V311, V5, Client, PacketTypes, props
from raw_mqtt import V5 as RAW_V5, connect_bytes, packet, prop_u32, publish_bytes
from restart_harness import RestartableNode

START_TIMEOUT = 10


def run_node_expecting_failure(data_dir):
    """Starts a node that must refuse to run; returns its exit code and output."""
    done = Broker({"node.data_dir": data_dir}).exits(timeout=START_TIMEOUT)
    return done.returncode, done.output


class DataDirTest(NodeTestCase):
    def test_second_node_on_the_same_data_dir_is_refused(self):
        first = self.node()
        code, output = run_node_expecting_failure(first.data_dir)
        self.assertNotEqual(code, 0)
        self.assertIn(first.data_dir, output)
        self.assertIn("in use by another node", output)
        self.assertIn(f"pid {first.proc.pid}", output)
        self.assertTrue(first.alive(), "the refused node disturbed the running one")

    def test_a_dir_that_is_not_a_convoy_data_dir_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "data.mdb"), "wb") as f:
                f.write(os.urandom(64 * 1024))
            code, output = run_node_expecting_failure(d)
            self.assertNotEqual(code, 0)
            self.assertIn(d, output)
            self.assertRegex(output, r"not an LMDB|not a Convoy|foreign|corrupt")

    def test_a_data_dir_that_cannot_be_created_is_refused(self):
        with tempfile.NamedTemporaryFile() as f:
            code, output = run_node_expecting_failure(os.path.join(f.name, "sub"))
            self.assertNotEqual(code, 0)
            self.assertIn(f.name, output)

    def test_a_lock_left_by_a_killed_node_does_not_block_the_next(self):
        broker = self.node()
        broker.restart(kill=True)
        self.assertTrue(broker.alive())


class RetainedAcrossRestartTests(RestartableNode):

    def test_acknowledged_retained_messages_survive_sigkill(self):
        pub = self.client("pub")
        for qos in (1, 2):
            pub.publish(f"storage/retained/{qos}", f"kept at QoS {qos}".encode(), qos=qos, retain=True)
        self.kill_and_restart()
        sub = self.client("sub")
        sub.subscribe("storage/retained/+", 2)
        got = sorted((m.topic, m.payload, m.qos, m.retain) for m in sub.expect_n(2))
        self.assertEqual(got, [("storage/retained/1", b"kept at QoS 1", 1, True),
                               ("storage/retained/2", b"kept at QoS 2", 2, True)])

    def test_replaced_and_deleted_retained_messages_stay_so_after_restart(self):
        pub = self.client("pub")
        pub.publish("storage/replaced", b"old", qos=1, retain=True)
        pub.publish("storage/replaced", b"new", qos=1, retain=True)
        pub.publish("storage/deleted", b"soon gone", qos=1, retain=True)
        pub.publish("storage/deleted", b"", qos=1, retain=True)
        self.kill_and_restart()
        sub = self.client("sub")
        sub.subscribe("storage/#", 1)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), ("storage/replaced", b"new"))
        sub.expect_none(0.5)


class SessionsAcrossRestartTests:
    """Persistent sessions brought back after SIGKILL (in the base class's
    setUp/tearDown node)."""

    def test_a_resumed_session_has_its_subscriptions_after_sigkill(self):
        name = f"vehicle-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        self.assertFalse(v.connect().session_present)
        v.subscribe(f"vehicles/{name}/commands/#", 1)
        self.kill_and_restart()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present, "the session did not survive the restart")
        pub = self.client("backend")
        pub.publish(f"vehicles/{name}/commands/lock", b"lock", qos=1)
        m = v.expect()
        self.assertEqual((m.topic, m.payload, m.qos), (f"vehicles/{name}/commands/lock", b"lock", 1))

    def test_an_offline_session_keeps_receiving_after_restart(self):
        name = f"parked-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"parked/{name}", 1)
        v.close()  # offline, session kept
        self.kill_and_restart()
        # The subscription is live again before the vehicle returns.
        sub_check = self.client("watch")
        sub_check.subscribe(f"parked/{name}", 1)
        pub = self.client("backend")
        pub.publish(f"parked/{name}", b"while offline", qos=1)
        sub_check.expect()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)

    def test_a_clean_start_discards_the_stored_session(self):
        name = f"fresh-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"fresh/{name}", 1)
        v.close()
        clean = Client(self.broker.port, name, self.version, clean=True)
        self.clients.append(clean)
        self.assertFalse(clean.connect().session_present)
        clean.close()
        self.kill_and_restart()
        v = self.persistent(name)
        self.assertFalse(v.connect().session_present, "a discarded session came back")
        pub = self.client("backend")
        pub.publish(f"fresh/{name}", b"nobody", qos=1)
        v.expect_none(0.5)

    def test_an_acknowledged_unsubscribe_stays_after_sigkill(self):
        name = f"unsub-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"unsub/{name}/a", 1)
        v.subscribe(f"unsub/{name}/b", 1)
        v.unsubscribe(f"unsub/{name}/a")
        self.kill_and_restart()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)
        pub = self.client("backend")
        pub.publish(f"unsub/{name}/a", b"gone", qos=1)
        pub.publish(f"unsub/{name}/b", b"kept", qos=1)
        m = v.expect()
        self.assertEqual((m.topic, m.payload), (f"unsub/{name}/b", b"kept"))
        v.expect_none(0.5)

    def test_the_will_of_a_client_connected_at_the_crash_fires_after_restart(self):
        name = f"will-{self.version}-{time.monotonic_ns()}"
        will = {"topic": f"status/{name}", "payload": b"offline", "qos": 1, "retain": True}
        v = self.persistent(name, will=will)
        v.connect()
        # A normal DISCONNECT first would delete the will.
        self.kill_and_restart(connected=True)
        watcher = self.client("watcher")
        watcher.subscribe(f"status/{name}", 1)
        m = watcher.expect()
        self.assertEqual((m.topic, m.payload), (f"status/{name}", b"offline"))


class SessionsAcrossRestartV311(SessionsAcrossRestartTests, RetainedAcrossRestartTests,
                                NodeTestCase):
    version = V311


class SessionsAcrossRestartV5(SessionsAcrossRestartTests, RetainedAcrossRestartTests,
                              NodeTestCase):
    version = V5

    def test_session_expiry_counts_the_time_the_node_was_down(self):
        name = f"brief-{time.monotonic_ns()}"
        v = self.persistent(name, expiry=2)
        v.connect()
        v.subscribe("brief/#", 1)
        v.close()
        self.kill_and_restart()
        time.sleep(2.5)
        v = self.persistent(name, expiry=2)
        self.assertFalse(v.connect().session_present, "an expired session came back")

    def test_session_expiry_left_is_kept_across_restart(self):
        name = f"long-{time.monotonic_ns()}"
        v = self.persistent(name, expiry=60)
        v.connect()
        v.close()
        self.kill_and_restart()
        time.sleep(1.0)
        v = self.persistent(name, expiry=60)
        self.assertTrue(v.connect().session_present)


class RetainedAcrossRestartV311(RetainedAcrossRestartTests, NodeTestCase):
    version = V311


class RetainedAcrossRestartV5(RetainedAcrossRestartTests, NodeTestCase):
    version = V5

    def test_properties_and_expiry_survive_restart(self):
        pub = self.client("pub")
        kept = props(PacketTypes.PUBLISH, ContentType="application/json", PayloadFormatIndicator=1,
                     UserProperty=[("vin", "WVW123"), ("priority", "high")], MessageExpiryInterval=60)
        pub.publish("storage/props", b'{"soc": 81}', qos=1, retain=True, properties=kept)
        brief = props(PacketTypes.PUBLISH, MessageExpiryInterval=1)
        pub.publish("storage/brief", b"expires", qos=1, retain=True, properties=brief)
        self.kill_and_restart()
        time.sleep(1.5)  # the brief one expires meanwhile
        sub = self.client("sub")
        sub.subscribe("storage/#", 1)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), ("storage/props", b'{"soc": 81}'))
        self.assertEqual(m.properties.get("ContentType"), "application/json")
        self.assertEqual(m.properties.get("PayloadFormatIndicator"), 1)
        self.assertEqual(m.properties.get("UserProperty"), [("vin", "WVW123"), ("priority", "high")])
        self.assertLessEqual(m.properties.get("MessageExpiryInterval"), 60)
        self.assertGreater(m.properties.get("MessageExpiryInterval"), 50)
        sub.expect_none(0.5)


class ExactlyOnceAcrossRestartTest(NodeTestCase):
    """Incoming QoS 2 state survives SIGKILL: a resent PUBLISH whose PUBREC
    the client saw is not routed twice, and an id released with PUBCOMP is
    free for a new message."""

    def setUp(self):
        self.broker = self.node()

    def publisher(self, clean):
        c = RawClient(self.broker.port)
        c.send(connect_bytes("qos2-pub", clean=clean, props=prop_u32(0x11, 300)))
        first, body = c.read_packet()
        self.assertEqual(first, 0x20)
        return c, bool(body[0] & 1)

    def subscriber(self):
        s = Client(self.broker.port, f"qos2-sub-{time.monotonic_ns()}", V5)
        s.connect()
        s.subscribe("exactly/#", 2)
        return s

    def test_resend_after_restart_is_not_routed_twice_and_released_ids_are_free(self):
        sub = self.subscriber()
        pub, _ = self.publisher(clean=True)
        # id 7: PUBREC seen, PUBREL not yet sent when the node dies.
        pub.send(publish_bytes("exactly/once", b"once", qos=2, pid=7))
        self.assertEqual(pub.read_packet()[0], 0x50)
        # id 8: the whole exchange completes before the node dies.
        pub.send(publish_bytes("exactly/done", b"done", qos=2, pid=8))
        self.assertEqual(pub.read_packet()[0], 0x50)
        pub.send(packet(0x62, (8).to_bytes(2, "big")))
        first, body = pub.read_packet()
        self.assertEqual((first, body[:2]), (0x70, (8).to_bytes(2, "big")))
        got = sorted(m.payload for m in sub.expect_n(2))
        self.assertEqual(got, [b"done", b"once"])
        sub.close()
        pub.close()

        self.broker.restart(kill=True)

        sub = self.subscriber()
        pub, present = self.publisher(clean=False)
        self.assertTrue(present)
        pub.send(publish_bytes("exactly/once", b"once", qos=2, pid=7, dup=True))
        self.assertEqual(pub.read_packet()[0], 0x50)
        pub.send(packet(0x62, (7).to_bytes(2, "big")))
        first, body = pub.read_packet()
        self.assertEqual((first, body[:2]), (0x70, (7).to_bytes(2, "big")))
        # A new message reusing the released id 8 is routed.
        pub.send(publish_bytes("exactly/new", b"new", qos=2, pid=8))
        self.assertEqual(pub.read_packet()[0], 0x50)
        m = sub.expect()
        self.assertEqual(m.payload, b"new", "the resent QoS 2 message was routed twice")
        sub.expect_none(0.5)
        sub.close()
        pub.close()


class RapidCleanStartsTest(NodeTestCase):
    """Clean starts of one client id arriving back to back, while the
    previous session is still being replaced: each gets its own CONNACK in
    turn, one session ends up serving the last connection, and the node
    still stops cleanly (no orphaned session keeps it alive)."""

    def test_back_to_back_clean_starts_leave_one_session(self):
        broker = self.node()
        first = RawClient(broker.port)
        first.send(connect_bytes("twin", props=prop_u32(0x11, 60)))
        self.assertEqual(first.read_packet()[0], 0x20)
        others = [RawClient(broker.port) for _ in range(5)]
        for c in others:
            c.send(connect_bytes("twin", clean=True))
        last = others[-1]
        self.assertEqual(last.read_packet()[0], 0x20)
        last.send(publish_bytes("twin/check", b"x", qos=1, pid=1))
        first_byte, body = last.read_packet()
        self.assertEqual((first_byte, body[:2]), (0x40, (1).to_bytes(2, "big")))
        # A replaced connection may have had its CONNACK (then a
        # DISCONNECT 0x8E) or, replaced before its CONNACK could go, none;
        # either way it is closed.
        for c in [first] + others[:-1]:
            seen = []
            while (p := c.read_packet()) is not None:
                seen.append(p[0])
            self.assertTrue(set(seen) <= {0x20, 0xE0}, f"unexpected packets {seen}")
            c.close()
        last.close()


class StorageFullTest(NodeTestCase):
    def test_a_full_storage_refuses_the_publish_and_the_node_goes_on(self):
        # 1 MiB of map: the third retained message of 300 KiB no longer fits.
        broker = self.node({"storage.map_size_mb": 1, "mqtt.max_packet_size": 1 << 20})
        c = RawClient(broker.port)
        c.send(connect_bytes("filler"))
        self.assertEqual(c.read_packet()[0], 0x20)
        reasons = []
        for i in range(1, 6):
            c.send(publish_bytes(f"storage/full/{i}", os.urandom(300 * 1024), qos=1, pid=i,
                                 retain=True))
            first, body = c.read_packet()
            self.assertEqual((first, body[:2]), (0x40, i.to_bytes(2, "big")))
            reasons.append(body[2] if len(body) > 2 else 0)
        self.assertLess(reasons[0], 0x80, "the first message fits")  # 0x10: no subscribers
        self.assertIn(0x83, reasons, "no publish was refused though the map is full")
        self.assertIn("storage full", broker.log())
        # Small writes still go through and the node still routes.
        c.send(publish_bytes("storage/small", b"tiny", qos=1, pid=9))
        first, body = c.read_packet()
        self.assertEqual((first, body[:2]), (0x40, (9).to_bytes(2, "big")))
        c.close()


class StorageDisabledTest(NodeTestCase):
    def test_without_storage_retained_messages_end_with_the_process(self):
        broker = self.node({"storage.enabled": False})
        pub = Client(broker.port, "pub-disabled", V5)
        pub.connect()
        pub.publish("storage/off", b"gone after restart", qos=1, retain=True)
        pub.close()
        broker.restart(kill=True)
        sub = Client(broker.port, "sub-disabled", V5)
        sub.connect()
        sub.subscribe("storage/off", 1)
        sub.expect_none(0.5)
        sub.close()
        self.assertEqual(os.listdir(broker.data_dir), [], "the node wrote to its data dir")


if __name__ == "__main__":
    unittest.main()
