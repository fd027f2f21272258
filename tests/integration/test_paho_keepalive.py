"""Keep alive: silent clients are cut off after one and a half keep alive
periods (and their will published), pinging clients are not; MQTT 5 Server
Keep Alive from mqtt.max_keep_alive and mqtt.default_keep_alive."""

import time
import unittest

from paho_util import (PINGREQ, V311, V5, PahoTestCase, disconnect_reason, parse_connack,
                       raw_connect_packet, raw_session, read_packet_within)


class KeepAliveHelpers:
    def connect_silent(self, keep_alive, will_payload=None):
        will = None
        if will_payload is not None:
            will = {"topic": self.topic("will"), "payload": will_payload, "qos": 1}
        r, connack = raw_session(self.broker.port, self.cid("silent"), self.version, keep_alive=keep_alive,
                                 will=will)
        self.addCleanup(r.close)
        return r, connack, time.monotonic()

    def assert_cut_off(self, r, since, low=1.4, high=2.6):
        """The node ends the connection between low and high seconds after
        `since`; MQTT 5 with DISCONNECT 0x8D (Keep Alive timeout) first,
        3.1.1 without any packet."""
        p = read_packet_within(r, high + 1.0)
        elapsed = time.monotonic() - since
        self.assertNotEqual(p, "timeout", f"still connected after {elapsed:.2f} s")
        if self.v5:
            self.assertEqual(disconnect_reason(p), 0x8D)
            self.assertTrue(r.closed_by_peer(1.0))
        else:
            self.assertIsNone(p, "a 3.1.1 server must not send DISCONNECT")
        self.assertGreaterEqual(elapsed, low)
        self.assertLessEqual(elapsed, high)


class KeepAliveTests(KeepAliveHelpers):
    def test_silent_client_is_disconnected_and_its_will_published(self):
        watcher = self.client("watcher")
        watcher.subscribe(self.topic("will"), 1)
        r, (_, rc, _), since = self.connect_silent(1, will_payload=b"went silent")
        self.assertEqual(rc, 0)
        self.assert_cut_off(r, since)
        m = watcher.expect(timeout=2)
        self.assertEqual((m.topic, m.payload), (self.topic("will"), b"went silent"))

    def test_pinging_client_stays_connected(self):
        r, (_, rc, _), _ = self.connect_silent(1)
        self.assertEqual(rc, 0)
        for _ in range(5):  # 2.5 s, well past 1.5 keep alive periods
            time.sleep(0.5)  # the interval at which this client pings
            r.send(PINGREQ)
            self.assertEqual(read_packet_within(r, 1.0), (0xD0, b""))


class KeepAliveV311(KeepAliveTests, PahoTestCase):
    version = V311


class KeepAliveV5(KeepAliveTests, PahoTestCase):
    version = V5

    def test_no_server_keep_alive_when_the_request_is_within_limits(self):
        c = self.client("c", keepalive=30)
        self.assertEqual(c.connack.properties.get("ServerKeepAlive", 30), 30)


class ServerKeepAliveV5(PahoTestCase):
    version = V5
    settings = {"mqtt.max_keep_alive": 10, "mqtt.default_keep_alive": 5}

    def test_keep_alive_above_maximum_is_lowered(self):
        c = self.client("c", keepalive=60)
        self.assertEqual(c.connack.properties.get("ServerKeepAlive"), 10)

    def test_keep_alive_zero_gets_the_default(self):
        c = self.client("c", keepalive=0)
        self.assertEqual(c.connack.properties.get("ServerKeepAlive"), 5)

    def test_keep_alive_within_limits_is_kept(self):
        c = self.client("c", keepalive=7)
        self.assertEqual(c.connack.properties.get("ServerKeepAlive", 7), 7)


class EnforcedServerKeepAliveV5(KeepAliveHelpers, PahoTestCase):
    """The node enforces the keep alive it assigned, not the one asked for."""

    version = V5
    settings = {"mqtt.max_keep_alive": 1, "mqtt.default_keep_alive": 1}

    def test_lowered_keep_alive_is_enforced(self):
        r, (_, rc, cprops), since = self.connect_silent(60)
        self.assertEqual((rc, cprops.get("ServerKeepAlive")), (0, 1))
        self.assert_cut_off(r, since)

    def test_default_keep_alive_is_enforced(self):
        r, (_, rc, cprops), since = self.connect_silent(0)
        self.assertEqual((rc, cprops.get("ServerKeepAlive")), (0, 1))
        self.assert_cut_off(r, since)


class ConnectTimeoutTests:
    settings = {"mqtt.connect_timeout_ms": 500}

    def test_connection_without_connect_is_closed(self):
        r = self.raw()
        since = time.monotonic()
        self.assertIsNone(read_packet_within(r, 3), "a packet instead of a close")
        elapsed = time.monotonic() - since
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLessEqual(elapsed, 1.5)

    def test_connect_in_time_is_accepted_and_not_cut_off_later(self):
        r = self.raw()
        time.sleep(0.2)  # a slow client, still within the CONNECT timeout
        r.send(raw_connect_packet(self.cid("slow"), self.version))
        self.assertEqual(parse_connack(*r.read_packet(), self.version)[1], 0)
        self.assertEqual(read_packet_within(r, 0.8), "timeout", "the connection closed after CONNACK")


class ConnectTimeoutV311(ConnectTimeoutTests, PahoTestCase):
    version = V311


class ConnectTimeoutV5(ConnectTimeoutTests, PahoTestCase):
    version = V5


if __name__ == "__main__":
    unittest.main()
