"""Node limits on connections: mqtt.max_connections (Server busy) and
mqtt.max_connect_rate_per_address (Connection rate exceeded), answered with
a CONNACK in MQTT 5 and 3.1.1."""

import time
import unittest

from broker import NodeTestCase, RawClient
from raw_mqtt import V5, V311, connect_bytes


def connect(port, version, client_id):
    """(connection, CONNACK reason) of a CONNECT."""
    c = RawClient(port)
    c.send(connect_bytes(client_id, version=version))
    first, body = c.read_packet()
    assert first == 0x20, first
    return c, body[1]


class MaxConnectionsTest(NodeTestCase):
    def test_the_connection_past_the_limit_is_told_the_server_is_busy(self):
        broker = self.node({"mqtt.max_connections": 3})
        held = []
        for i in range(3):
            c, rc = connect(broker.port, V5, f"held-{i}")
            self.assertEqual(rc, 0)
            held.append(c)
        for version, code in ((V5, 0x89), (V311, 3)):
            with self.subTest(version=version):
                c, rc = connect(broker.port, version, "one-too-many")
                self.assertEqual(rc, code)
                self.assertTrue(c.closed_by_peer())
                c.close()
        # A freed place is taken again.
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            c, rc = connect(broker.port, V5, "next")
            c.close()
            if rc == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(rc, 0)
        for c in held:
            c.close()


class ConnectRateTest(NodeTestCase):
    def test_a_burst_from_one_address_is_cut_at_the_rate(self):
        broker = self.node({"mqtt.max_connect_rate_per_address": 5})
        reasons = []
        for i in range(12):
            c, rc = connect(broker.port, V5 if i % 2 else V311, f"burst-{i}")
            reasons.append(rc)
            c.close()
        accepted = reasons.count(0)
        # 5 at once, less the harness's probe that the node listens, plus
        # a token or two refilled while connecting.
        self.assertGreaterEqual(accepted, 4)
        self.assertLessEqual(accepted, 7)
        refused = [rc for rc in reasons if rc != 0]
        self.assertTrue(set(refused) <= {0x9F, 3}, reasons)
        self.assertIn(0x9F, refused)
        self.assertIn(3, refused)
        time.sleep(1.0)  # the bucket refills
        c, rc = connect(broker.port, V5, "later")
        c.close()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
