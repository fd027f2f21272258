"""Offline queues and outgoing QoS 1/2 messages on disk: what a publisher saw
acknowledged reaches its persistent subscribers across a SIGKILL of the node,
QoS 2 exactly once, and queues keep their bounds with a defined policy."""

import threading
import time
import unittest

import paho.mqtt.client as mqtt

from broker import NodeTestCase, RawClient
from paho_util import V311, V5, PacketTypes, props
from raw_mqtt import V5 as RAW_V5, V311 as RAW_V311, connect_bytes, packet, prop_u32, \
    publish_bytes, subscribe_bytes
from restart_harness import RestartableNode


def pid_of(body):
    return int.from_bytes(body[:2], "big")


def read_publish(body, first, version=RAW_V5):
    """(topic, packet id, payload) of a PUBLISH body."""
    n = int.from_bytes(body[:2], "big")
    topic = body[2:2 + n].decode()
    i = 2 + n
    pid = 0
    if (first >> 1) & 3:
        pid = pid_of(body[i:])
        i += 2
    if version == RAW_V5:
        length, shift = 0, 0
        while True:  # property length varint
            b = body[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        i += length
    return topic, pid, body[i:]


class QueuedAcrossRestartTests(RestartableNode):

    def test_queued_qos1_and_qos2_messages_survive_sigkill_once_acknowledged(self):
        name = f"tunnel-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe([(f"fleet/{name}/q1", 1), (f"fleet/{name}/q2", 2)])
        v.close()  # into the tunnel: offline, session kept
        pub = self.client("backend")
        for i in range(5):
            pub.publish(f"fleet/{name}/q1", f"q1-{i}".encode(), qos=1)
            pub.publish(f"fleet/{name}/q2", f"q2-{i}".encode(), qos=2)
        self.kill_and_restart()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)
        got = v.expect_n(10)
        self.assertEqual([m.payload for m in got if m.topic.endswith("q1")],
                         [f"q1-{i}".encode() for i in range(5)], "QoS 1 lost or out of order")
        self.assertEqual([m.payload for m in got if m.topic.endswith("q2")],
                         [f"q2-{i}".encode() for i in range(5)], "QoS 2 lost or out of order")
        self.assertEqual({(m.topic.rsplit("/", 1)[1], m.qos) for m in got}, {("q1", 1), ("q2", 2)})
        v.expect_none(0.5)

    def test_acknowledged_deliveries_are_not_sent_again_after_restart(self):
        name = f"done-{self.version}-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"done/{name}", 2)
        pub = self.client("backend")
        pub.publish(f"done/{name}", b"one", qos=1)
        pub.publish(f"done/{name}", b"two", qos=2)
        self.assertEqual(sorted(m.payload for m in v.expect_n(2)), [b"one", b"two"])
        time.sleep(0.3)  # the PUBACK and PUBCOMP reach the node
        self.kill_and_restart()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)
        v.expect_none(0.8)


class QueuedAcrossRestartV311(QueuedAcrossRestartTests, NodeTestCase):
    version = V311


class QueuedAcrossRestartV5(QueuedAcrossRestartTests, NodeTestCase):
    version = V5

    def test_message_expiry_is_honoured_across_restart(self):
        name = f"expiry-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"expiry/{name}/#", 1)
        v.close()
        pub = self.client("backend")
        pub.publish(f"expiry/{name}/brief", b"stale soon", qos=1,
                    properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
        pub.publish(f"expiry/{name}/long", b"still good", qos=1,
                    properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
        self.kill_and_restart()
        time.sleep(1.5)
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)
        m = v.expect()
        self.assertEqual(m.payload, b"still good")
        self.assertLessEqual(m.properties.get("MessageExpiryInterval"), 60)
        self.assertGreater(m.properties.get("MessageExpiryInterval"), 50)
        v.expect_none(0.5)


class InflightAcrossRestartTest(RestartableNode, NodeTestCase):
    """Messages on the wire when the node dies are resent after the restart
    under their packet ids: QoS 2 PUBLISH with DUP, or the PUBREL once the
    client's PUBREC had arrived, so the client never takes them for new."""

    def raw_subscriber(self, name, clean):
        c = RawClient(self.broker.port)
        c.send(connect_bytes(name, clean=clean, props=prop_u32(0x11, 300)))
        first, body = c.read_packet()
        self.assertEqual(first, 0x20)
        return c, bool(body[0] & 1)

    def test_unacknowledged_qos2_is_resent_under_its_packet_id(self):
        name = f"raw-{time.monotonic_ns()}"
        sub, _ = self.raw_subscriber(name, clean=True)
        sub.send(subscribe_bytes(1, [(f"wire/{name}/#", 2)]))
        self.assertEqual(sub.read_packet()[0], 0x90)
        pub = self.client("backend")
        pub.publish(f"wire/{name}/a", b"withheld", qos=2)
        pub.publish(f"wire/{name}/b", b"half done", qos=2)
        first, body = sub.read_packet()
        topic_a, pid_a, payload = read_publish(body, first)
        self.assertEqual((first & 0xF6, payload), (0x34, b"withheld"))
        first, body = sub.read_packet()
        topic_b, pid_b, payload = read_publish(body, first)
        self.assertEqual(payload, b"half done")
        # The subscriber never answers a; it sends PUBREC for b and gets PUBREL.
        sub.send(packet(0x50, pid_b.to_bytes(2, "big")))
        first, body = sub.read_packet()
        self.assertEqual((first, pid_of(body)), (0x62, pid_b))
        sub.close()
        self.kill_and_restart()

        sub, present = self.raw_subscriber(name, clean=False)
        self.assertTrue(present)
        seen = {}
        for _ in range(2):
            first, body = sub.read_packet()
            if first >> 4 == 3:
                topic, pid, payload = read_publish(body, first)
                seen["publish"] = (topic, pid, payload, bool(first & 0x08))
            else:
                seen["pubrel"] = (first, pid_of(body))
        self.assertEqual(seen["publish"], (topic_a, pid_a, b"withheld", True))
        self.assertEqual(seen["pubrel"], (0x62, pid_b))
        sub.send(packet(0x70, pid_b.to_bytes(2, "big")))
        sub.send(packet(0x50, pid_a.to_bytes(2, "big")))
        first, body = sub.read_packet()
        self.assertEqual((first, pid_of(body)), (0x62, pid_a))
        sub.send(packet(0x70, pid_a.to_bytes(2, "big")))
        sub.close()
        # Completed now: nothing comes back after another restart.
        time.sleep(0.3)
        self.kill_and_restart()
        sub, present = self.raw_subscriber(name, clean=False)
        self.assertTrue(present)
        sub.sock.settimeout(0.8)
        with self.assertRaises(OSError):
            sub.read_packet()
        sub.close()


    def test_unacknowledged_qos1_is_resent_under_its_packet_id_with_dup(self):
        name = f"raw1-{time.monotonic_ns()}"
        sub, _ = self.raw_subscriber(name, clean=True)
        sub.send(subscribe_bytes(1, [(f"wire1/{name}", 1)]))
        self.assertEqual(sub.read_packet()[0], 0x90)
        pub = self.client("backend")
        pub.publish(f"wire1/{name}", b"unacked", qos=1)
        first, body = sub.read_packet()
        topic, pid, payload = read_publish(body, first)
        self.assertEqual((first & 0xF6, payload), (0x32, b"unacked"))
        time.sleep(0.2)  # the packet id reaches the disk (nothing waits for it)
        sub.close()
        self.kill_and_restart()
        sub, present = self.raw_subscriber(name, clean=False)
        self.assertTrue(present)
        first, body = sub.read_packet()
        self.assertEqual(read_publish(body, first), (topic, pid, b"unacked"))
        self.assertTrue(first & 0x08, "a resent PUBLISH carries DUP")
        sub.send(packet(0x40, pid.to_bytes(2, "big")))
        sub.close()


class QueueBoundsTest(RestartableNode, NodeTestCase):
    """A full queue drops its oldest QoS 0 message first; with none left, new
    QoS 1/2 messages are refused with Quota exceeded (0x97)."""

    settings = {"mqtt.max_queued_messages": 3, "mqtt.queue_qos0_messages": True}

    def test_oldest_qos0_goes_first_then_new_messages_are_refused(self):
        name = f"bounded-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"bounded/{name}", 2)
        v.close()
        pub = RawClient(self.broker.port)
        pub.send(connect_bytes(f"pub-{name}"))
        self.assertEqual(pub.read_packet()[0], 0x20)
        topic = f"bounded/{name}"

        def publish(payload, qos, pid=None):
            pub.send(publish_bytes(topic, payload, qos=qos, pid=pid))
            if qos == 0:
                return None
            first, body = pub.read_packet()
            self.assertEqual((first >> 4, pid_of(body)), (4 if qos == 1 else 5, pid))
            time.sleep(0.1)  # the session's queue state reaches the shard
            return body[2] if len(body) > 2 else 0

        publish(b"q0-a", 0)
        publish(b"q0-b", 0)
        self.assertEqual(publish(b"q1-a", 1, 1), 0)     # queue: q0-a q0-b q1-a
        self.assertEqual(publish(b"q1-b", 1, 2), 0)     # q0-a dropped
        self.assertEqual(publish(b"q2-c", 2, 3), 0)     # q0-b dropped
        pub.send(packet(0x62, (3).to_bytes(2, "big")))
        self.assertEqual(pub.read_packet()[0], 0x70)
        self.assertEqual(publish(b"q1-d", 1, 4), 0x97)  # full of QoS 1/2: refused
        publish(b"q0-e", 0)                              # dropped too
        time.sleep(0.3)  # routed while the subscriber is still offline
        pub.close()
        v = self.persistent(name)
        self.assertTrue(v.connect().session_present)
        self.assertEqual([m.payload for m in v.expect_n(3)], [b"q1-a", b"q1-b", b"q2-c"])
        v.expect_none(0.5)
        # Drained: the queue takes messages again.
        v.close()
        pub = self.client("again")
        pub.publish(topic, b"room again", qos=1)
        v = self.persistent(name)
        v.connect()
        self.assertEqual(v.expect().payload, b"room again")

    def test_a_mqtt311_publisher_gets_its_puback_and_the_message_is_dropped(self):
        name = f"bounded311-{time.monotonic_ns()}"
        v = self.persistent(name)
        v.connect()
        v.subscribe(f"b311/{name}", 1)
        v.close()
        pub = RawClient(self.broker.port)
        pub.send(connect_bytes(f"pub311-{name}", version=RAW_V311))
        self.assertEqual(pub.read_packet()[0], 0x20)
        for i in range(1, 6):
            pub.send(publish_bytes(f"b311/{name}", f"m{i}".encode(), qos=1, pid=i,
                                   version=RAW_V311))
            first, body = pub.read_packet()
            self.assertEqual((first, body), (0x40, i.to_bytes(2, "big")))
            time.sleep(0.1)
        pub.close()
        v = self.persistent(name)
        v.connect()
        self.assertEqual([m.payload for m in v.expect_n(3)], [b"m1", b"m2", b"m3"])
        v.expect_none(0.5)


class CrashTest(RestartableNode, NodeTestCase):
    """The issue's crash test: a publisher streams K QoS 1 and K QoS 2 messages
    to two persistent subscribers, one offline and one online; the node is
    killed with SIGKILL mid-stream and restarted. Every message whose PUBACK or
    PUBCOMP the publisher received is delivered to both, QoS 2 exactly once."""

    K = 300

    def test_nothing_acknowledged_is_lost_when_the_node_dies(self):
        run = time.monotonic_ns()
        topic = f"crash/{run}"
        offline = self.persistent(f"offline-{run}")
        offline.connect()
        offline.subscribe(f"{topic}/#", 2)
        offline.close()
        online = self.persistent(f"online-{run}")
        online.connect()
        online.subscribe(f"{topic}/#", 2)

        acked_mids = set()
        sent = {}  # mid -> message name; only this thread writes it
        lock = threading.Lock()
        half = threading.Event()

        # Runs on paho's thread with paho's own message lock held, so it takes
        # only its own lock and never waits for this thread's publish().
        def on_publish(client, userdata, mid):
            with lock:
                acked_mids.add(mid)
                if len(acked_mids) >= self.K:
                    half.set()

        pub = mqtt.Client(client_id=f"crash-pub-{run}", protocol=mqtt.MQTTv5,
                          reconnect_on_failure=False)
        pub.on_publish = on_publish
        pub.max_inflight_messages_set(20)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", self.broker.port)
        pub.loop_start()
        try:
            for i in range(self.K):
                for qos in (1, 2):
                    name = f"q{qos}-{i}"
                    sent[pub.publish(f"{topic}/q{qos}", name.encode(), qos=qos).mid] = name
            self.assertTrue(half.wait(20),
                            f"only {len(acked_mids)} acknowledged before the crash")
            self.broker.kill()  # mid-stream: the rest is still in flight
        finally:
            pub.loop_stop()
        with lock:
            acknowledged = {sent[mid] for mid in acked_mids}
        self.assertLess(len(acknowledged), 2 * self.K, "the node died after the stream ended")
        # Stop the clients' threads before reading what they got: a PUBREL
        # that left before the kill may still be on its way to a callback.
        for c in self.clients:
            c.close()
        self.clients = []
        before = [m.payload.decode() for m in online.drain()]
        self.broker.start()

        got = {"offline": [], "online": before}
        for who in ("offline", "online"):
            # The online subscriber comes back as the same client, as a
            # persistent client must: it keeps the QoS 2 messages it received
            # and has not been released yet (PUBREC sent, PUBREL awaited), and
            # delivers them when the restarted node sends the PUBREL.
            c = online if who == "online" else self.persistent(f"{who}-{run}")
            if c is online:
                self.clients.append(c)
            self.assertTrue(c.connect().session_present)
            deadline = time.monotonic() + 20
            while not acknowledged <= set(got[who]) and time.monotonic() < deadline:
                try:
                    got[who].append(c.expect(timeout=0.5).payload.decode())
                except AssertionError:
                    pass
            got[who] += [m.payload.decode() for m in c.drain()]
            missing = acknowledged - set(got[who])
            self.assertFalse(missing, f"{who}: {len(missing)} acknowledged messages lost, "
                                      f"e.g. {sorted(missing)[:5]}")
            duplicated = [n for n in set(got[who]) if n.startswith("q2") and got[who].count(n) > 1]
            self.assertFalse(duplicated, f"{who}: QoS 2 delivered twice: {duplicated[:5]}")


if __name__ == "__main__":
    unittest.main()
