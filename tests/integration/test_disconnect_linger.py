"""A DISCONNECT reaches a client that is still sending.

The node disconnects a client for a violation while the client's next
packets are on their way. Closing the socket with those bytes unread makes
the kernel answer with a reset, and the client's next send or read fails
before it has read the reason code. The node therefore shuts down its write
side after the DISCONNECT and reads (and drops) what the client still
sends, for a bounded time, before it closes.
"""

import time
import unittest

from broker import BrokerTestCase
from raw_mqtt import V5, connect_bytes, publish_bytes, Conn
from test_websocket import WsConn

RECEIVE_MAXIMUM = 10
TRIES = 12


class DisconnectLingerTest(BrokerTestCase):
    settings = {"mqtt.receive_maximum": RECEIVE_MAXIMUM}

    def one_try(self, n, websocket=False):
        """Receive Maximum + 1 QoS 2 PUBLISHes, a PUBREL for every PUBREC;
        returns the DISCONNECT's reason code, or what went wrong first."""
        if websocket:
            c = WsConn(self.broker.ws_port)
            send, read = c.send_mqtt, c.read_packet
        else:
            c = Conn(self.broker.port, V5)
            send, read = c.send, c.read
        try:
            send(connect_bytes(f"linger-{n}"))
            first, _ = read()
            self.assertEqual(first, 0x20)
            # One by one, as a client library sends them, and without
            # reading: the node answers the first ones with PUBRECs before
            # the one too many arrives.
            for i in range(1, RECEIVE_MAXIMUM + 2):
                send(publish_bytes(f"linger/{n}/{i}", b"x" * 64, qos=2, pid=i))
                time.sleep(0.01)
            while True:
                p = read()
                if p is None:
                    return "closed (or reset) before a DISCONNECT was read"
                first, body = p
                if first == 0xE0:
                    return body[0] if body else 0
                if first == 0x50:
                    try:
                        send(b"\x62\x02" + body[:2])
                    except OSError as e:
                        return f"sending PUBREL failed: {e!r}"
        finally:
            c.close()

    def test_receive_maximum_exceeded_is_read_while_pubrels_flow(self):
        outcomes = [self.one_try(n) for n in range(TRIES)]
        self.assertEqual(outcomes, [0x93] * TRIES)
        self.assertTrue(self.broker.alive())

    def test_over_websocket_too(self):
        outcomes = [self.one_try(n, websocket=True) for n in range(TRIES)]
        self.assertEqual(outcomes, [0x93] * TRIES)


if __name__ == "__main__":
    unittest.main()
