"""Will messages: when they are published and when not, Will Delay
Interval, will retain and will properties, with paho in MQTT 3.1.1 and 5.0."""

import time
import unittest

from paho_util import V311, V5, PacketTypes, PahoTestCase, packet, props, raw_connect_packet


class WillTests:
    def will(self, payload=b"gone", qos=1, retain=False, **will_props):
        w = {"topic": self.topic("will"), "payload": payload, "qos": qos, "retain": retain}
        if will_props:
            w["properties"] = props(PacketTypes.WILLMESSAGE, **will_props)
        return w

    def watcher(self, qos=2):
        w = self.client("watcher")
        w.subscribe(self.topic("will"), qos)
        return w

    def test_will_is_published_when_the_connection_drops(self):
        watcher = self.watcher()
        c = self.client("dying", will=self.will(b"lost connection", qos=1))
        c.drop()
        m = watcher.expect()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (self.topic("will"), b"lost connection", 1, False))
        watcher.expect_none()

    def test_will_qos_is_kept(self):
        watcher = self.watcher(qos=2)
        for q in range(3):
            with self.subTest(will_qos=q):
                c = self.client("dying", will=self.will(f"qos {q}".encode(), qos=q))
                c.drop()
                m = watcher.expect()
                self.assertEqual((m.payload, m.qos), (f"qos {q}".encode(), q))

    def test_no_will_after_normal_disconnect(self):
        watcher = self.watcher()
        c = self.client("polite", will=self.will())
        c.disconnect()
        watcher.expect_none(1.0)

    def test_will_retain_leaves_a_retained_message(self):
        watcher = self.watcher()
        c = self.client("dying", will=self.will(b"retained will", qos=1, retain=True))
        c.drop()
        m = watcher.expect()
        self.assertEqual((m.payload, m.retain), (b"retained will", False))  # live: retain flag 0
        late = self.client("late")
        late.subscribe(self.topic("will"), 1)
        m = late.expect()
        self.assertEqual((m.payload, m.retain, m.qos), (b"retained will", True, 1))

    def test_will_is_published_when_the_server_closes_for_a_protocol_error(self):
        watcher = self.watcher()
        r = self.raw()
        r.send(raw_connect_packet(self.cid("bad"), self.version,
                                  will={"topic": self.topic("will"), "payload": b"violated", "qos": 1}))
        first, _ = r.read_packet()
        self.assertEqual(first, 0x20)
        r.send(packet(0x00, b""))  # packet type 0 is reserved: malformed
        self.assertTrue(r.closed_by_peer())
        m = watcher.expect()
        self.assertEqual(m.payload, b"violated")

    def test_will_is_published_when_a_clean_start_takes_over_the_connection(self):
        # The server closes the old connection without a DISCONNECT from its
        # client, and the clean start ends the old session: 3.1.1 publishes the
        # will when the connection closes [MQTT-3.1.2-8]; MQTT 5 3.1.4 (CONNECT
        # actions, step 2): "If the existing Client has a Will Message, that
        # Will Message is published as described in section 3.1.2.5", which
        # requires it once the session ends [MQTT-3.1.2-8]. mosquitto's
        # 07-will-takeover.py expects it too.
        watcher = self.watcher()
        cid = self.cid("twin")
        old = self.client("old", client_id=cid, will=self.will(b"taken over", qos=1))
        new = self.client("new", client_id=cid, clean=True)
        self.assertEqual(new.connack.session_present, 0)
        self.assertTrue(old.wait_disconnected())
        m = watcher.expect(timeout=2)
        self.assertEqual((m.payload, m.qos), (b"taken over", 1))


class WillV311(WillTests, PahoTestCase):
    version = V311

    def test_will_is_published_when_a_resumed_session_takes_over_the_connection(self):
        # 3.1.1 ties the will to the network connection: it MUST be published
        # when that connection closes without DISCONNECT [MQTT-3.1.2-8], also
        # when the new connection resumes the session.
        watcher = self.watcher()
        cid = self.cid("twin")
        old = self.persistent(client_id=cid, will=self.will(b"taken over", qos=1))
        new = self.persistent(client_id=cid)
        self.assertEqual(new.connack.session_present, 1)
        self.assertTrue(old.wait_disconnected())
        self.assertEqual(watcher.expect(timeout=2).payload, b"taken over")


class WillV5(WillTests, PahoTestCase):
    version = V5

    def test_disconnect_with_reason_0x04_publishes_the_will(self):
        watcher = self.watcher()
        c = self.client("leaving", will=self.will(b"asked for it", qos=1))
        c.disconnect(reason=0x04)
        m = watcher.expect()
        self.assertEqual((m.payload, m.qos), (b"asked for it", 1))

    def test_disconnect_with_other_error_reason_publishes_the_will(self):
        # Only reason 0x00 deletes the will [MQTT-3.14.4-3].
        watcher = self.watcher()
        c = self.client("leaving", will=self.will(b"unspecified", qos=1))
        c.disconnect(reason=0x80)
        self.assertEqual(watcher.expect().payload, b"unspecified")

    def test_will_delay_suppresses_will_when_client_reconnects_in_time(self):
        watcher = self.watcher()
        cid = self.cid("flaky")
        c = self.persistent(client_id=cid, expiry=60, will=self.will(b"delayed", WillDelayInterval=2))
        dropped = time.monotonic()
        c.drop()
        watcher.expect_none(0.5)
        again = self.persistent(client_id=cid, expiry=60)
        self.assertEqual(again.connack.session_present, 1)
        watcher.expect_none(max(2.6 - (time.monotonic() - dropped), 0.5))

    def test_will_delay_publishes_will_after_the_delay(self):
        watcher = self.watcher()
        c = self.persistent(expiry=60, will=self.will(b"delayed", WillDelayInterval=2))
        c.drop()
        dropped = c.disconnected_at
        watcher.expect_none(1.4)
        m = watcher.expect(timeout=3)
        elapsed = m.received_at - dropped
        self.assertEqual(m.payload, b"delayed")
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertLessEqual(elapsed, 3.0)

    def test_will_is_published_when_session_expires_before_the_delay(self):
        # The will is published when the Will Delay Interval passes or the
        # session ends, whichever is first [MQTT-3.1.3-9].
        watcher = self.watcher()
        c = self.persistent(expiry=1, will=self.will(b"session ended", WillDelayInterval=30))
        c.drop()
        dropped = c.disconnected_at
        m = watcher.expect(timeout=3)
        elapsed = m.received_at - dropped
        self.assertEqual(m.payload, b"session ended")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLessEqual(elapsed, 2.5)

    def test_will_with_delay_and_no_session_expiry_is_published_at_once(self):
        watcher = self.watcher()
        c = self.client("dying", will=self.will(b"no session", WillDelayInterval=30))
        c.drop()
        m = watcher.expect(timeout=1.5)
        self.assertEqual(m.payload, b"no session")

    def test_will_delay_suppresses_will_when_a_resumed_session_takes_over(self):
        # A new connection for the ClientID within the Will Delay Interval
        # means no will [MQTT-3.1.2-8].
        watcher = self.watcher()
        cid = self.cid("twin")
        old = self.persistent(client_id=cid, expiry=60, will=self.will(b"delayed", WillDelayInterval=1))
        new = self.persistent(client_id=cid, expiry=60)
        self.assertEqual(new.connack.session_present, 1)
        self.assertTrue(old.wait_disconnected())
        self.assertEqual(old.server_disconnect_reason, 0x8E)
        watcher.expect_none(1.6)

    def test_will_properties_are_passed_on(self):
        watcher = self.watcher()
        c = self.client("dying", will=self.will(
            b"{}", ContentType="application/json", PayloadFormatIndicator=1, ResponseTopic="reply/here",
            CorrelationData=b"\x01\x02", UserProperty=[("k1", "v1"), ("k2", "v2"), ("k1", "v3")],
            MessageExpiryInterval=60))
        c.drop()
        m = watcher.expect()
        p = m.properties
        self.assertEqual(p.get("ContentType"), "application/json")
        self.assertEqual(p.get("PayloadFormatIndicator"), 1)
        self.assertEqual(p.get("ResponseTopic"), "reply/here")
        self.assertEqual(p.get("CorrelationData"), b"\x01\x02")
        self.assertEqual(p.get("UserProperty"), [("k1", "v1"), ("k2", "v2"), ("k1", "v3")])
        self.assertIn(p.get("MessageExpiryInterval"), (59, 60))
        self.assertNotIn("WillDelayInterval", p)


if __name__ == "__main__":
    unittest.main()
