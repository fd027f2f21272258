"""MQTT over WebSocket ([websocket]): the opening handshake and its refusals,
MQTT packets split across and coalesced within frames, ping and close,
framing errors, the same limits and session actors as the TCP edge; real
clients: MQTT.js in Node.js over ws and wss, paho's WebSocket transport, and
MQTT.js in headless Debian chromium on a page that connects, subscribes,
publishes and shows what it received."""

import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import unittest

from broker import Broker, BrokerTestCase, NodeTestCase, split_packet
from certs import CertAuthority, server_tls
from paho_util import V5, V311, Client
from raw_mqtt import connect_bytes, publish_bytes, subscribe_bytes

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NODE = shutil.which("node") or "/usr/bin/node"
WAIT = 5.0


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def expected_accept(key):
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


def client_frame(opcode, payload, fin=True, mask=None):
    """A masked client-to-server frame."""
    mask = mask if mask is not None else os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes([first, 0x80 | n])
    elif n < 65536:
        header = bytes([first, 0x80 | 126]) + struct.pack(">H", n)
    else:
        header = bytes([first, 0x80 | 127]) + struct.pack(">Q", n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WsConn:
    """A raw WebSocket connection: the handshake, masked frames out, server
    frames in, and the MQTT byte stream their binary payloads carry."""

    def __init__(self, port, path="/mqtt", protocols="mqtt", extra_headers="", tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""
        self.mqtt = b""
        self.controls = []
        self.eof = False
        self.key = ws_key()
        headers = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n")
        if protocols is not None:
            headers += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        self.sock.sendall((headers + extra_headers + "\r\n").encode())
        self.status, self.headers, self.body = self._read_response()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"nothing within {WAIT} s")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def _read_response(self):
        deadline = time.monotonic() + WAIT
        while b"\r\n\r\n" not in self.buffer:
            if self.eof:
                raise AssertionError(f"closed before the HTTP response: {self.buffer!r}")
            self._fill(deadline)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = b""
        if status != 101:
            length = int(headers.get("content-length", "0"))
            while len(self.buffer) < length and not self.eof:
                self._fill(deadline)
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body.decode(errors="replace")

    def send(self, data):
        self.sock.sendall(data)

    def send_mqtt(self, data):
        self.send(client_frame(0x2, data))

    def _frame(self):
        """(fin, opcode, payload) of the next whole server frame in buffer, else None."""
        b = self.buffer
        if len(b) < 2:
            return None
        if b[1] & 0x80:
            raise AssertionError("the server masked a frame")
        n, at = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, at = struct.unpack(">H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, at = struct.unpack(">Q", b[2:10])[0], 10
        if len(b) < at + n:
            return None
        self.buffer = b[at + n:]
        return bool(b[0] & 0x80), b[0] & 0x0F, b[at:at + n]

    def pump(self, until, timeout=WAIT):
        """Reads frames until until() holds; binary payloads go to self.mqtt,
        control frames to self.controls."""
        deadline = time.monotonic() + timeout
        while not until():
            frame = self._frame()
            if frame is None:
                if self.eof:
                    return False
                self._fill(deadline)
                continue
            _, op, payload = frame
            if op in (0x0, 0x2):
                self.mqtt += payload
            elif op == 0x1:
                raise AssertionError("the server sent a text frame")
            else:
                self.controls.append((op, payload))
        return True

    def read_packet(self, timeout=WAIT):
        """Next MQTT packet (first byte, body) from the binary frames, or None at close."""
        holder = []

        def whole():
            p = split_packet(self.mqtt)
            if p:
                holder.append(p)
            return bool(p)

        if not self.pump(whole, timeout):
            return None
        first, body, self.mqtt = holder[0]
        return first, body

    def read_control(self, timeout=WAIT):
        if not self.pump(lambda: bool(self.controls), timeout):
            return None
        return self.controls.pop(0)

    def closed(self, timeout=WAIT):
        """Whether the node closed the TCP connection within timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except AssertionError:
                break
        return self.eof

    def close(self):
        self.sock.close()


def connack_reason(packet):
    first, body = packet
    assert first == 0x20, hex(first)
    return body[1]


class HandshakeTest(BrokerTestCase):
    settings = {"websocket.allowed_origins": "https://fleet.example.com, https://ops.example.com"}

    def test_upgrade_answers_101_with_accept_key_and_mqtt_subprotocol(self):
        c = WsConn(self.broker.ws_port, protocols="chat, mqtt")
        self.assertEqual(c.status, 101)
        self.assertEqual(c.headers["sec-websocket-accept"], expected_accept(c.key))
        self.assertEqual(c.headers["sec-websocket-protocol"], "mqtt")
        self.assertEqual(c.headers["upgrade"].lower(), "websocket")
        c.send_mqtt(connect_bytes("ws-handshake"))
        self.assertEqual(connack_reason(c.read_packet()), 0)
        c.close()

    def test_old_clients_offering_mqttv31_or_nothing_are_accepted(self):
        c = WsConn(self.broker.ws_port, protocols="mqttv3.1")
        self.assertEqual((c.status, c.headers["sec-websocket-protocol"]), (101, "mqttv3.1"))
        c.close()
        c = WsConn(self.broker.ws_port, protocols=None)
        self.assertEqual(c.status, 101)
        self.assertNotIn("sec-websocket-protocol", c.headers)
        c.close()

    def test_refusals_have_a_status_and_a_message_and_close(self):
        cases = [
            (dict(path="/other"), 404, "no WebSocket endpoint at /other"),
            (dict(protocols="chat"), 400, "none of the offered subprotocols is mqtt"),
            (dict(extra_headers="Origin: https://evil.example\r\n"), 403, "origin https://evil.example is not allowed"),
        ]
        for kwargs, status, message in cases:
            with self.subTest(status=status):
                c = WsConn(self.broker.ws_port, **kwargs)
                self.assertEqual(c.status, status)
                self.assertIn(message, c.body)
                self.assertTrue(c.closed())
                c.close()
        c = WsConn(self.broker.ws_port, extra_headers="Origin: https://ops.example.com\r\n")
        self.assertEqual(c.status, 101)
        c.close()

    def test_plain_http_and_garbage_get_http_errors(self):
        for request, status in ((b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 426),
                                (b"POST /mqtt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
                                (b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03abc\r\n\r\n", 400)):
            with self.subTest(status=status):
                s = socket.create_connection(("127.0.0.1", self.broker.ws_port), timeout=WAIT)
                s.sendall(request)
                answer = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
                s.close()
                self.assertTrue(answer.startswith(f"HTTP/1.1 {status} ".encode()), answer)

    def test_oversized_upgrade_request_is_refused_431(self):
        c = WsConn(self.broker.ws_port, extra_headers="X-Filler: " + "a" * 9000 + "\r\n")
        self.assertEqual(c.status, 431)
        c.close()

    def test_a_client_that_never_finishes_its_request_is_closed_by_the_connect_timeout(self):
        broker = self.node({"mqtt.connect_timeout_ms": 500})
        s = socket.create_connection(("127.0.0.1", broker.ws_port), timeout=WAIT)
        s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        self.assertEqual(s.recv(100), b"")
        self.assertLess(time.monotonic() - start, 3)
        s.close()


class FramingTest(BrokerTestCase):
    settings = {"mqtt.max_packet_size": 4096}

    def session(self, client_id, version=V5, **kw):
        c = WsConn(self.broker.ws_port)
        self.assertEqual(c.status, 101)
        c.send_mqtt(connect_bytes(client_id, version=version, **kw))
        self.assertEqual(connack_reason(c.read_packet()), 0)
        return c

    def test_packets_split_across_frames_and_coalesced_in_one(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                c = WsConn(self.broker.ws_port)
                connect = connect_bytes(f"ws-split-{version}", version=version)
                # CONNECT in a fragmented message of three frames, then in
                # one frame: SUBSCRIBE, and the first half of a PUBLISH...
                c.send(client_frame(0x2, connect[:3], fin=False) + client_frame(0x0, connect[3:7], fin=False)
                       + client_frame(0x0, connect[7:]))
                self.assertEqual(connack_reason(c.read_packet()), 0)
                topic = f"ws/split/{version}"
                sub = subscribe_bytes(1, [(topic, 1)], version=version)
                pub = publish_bytes(topic, b"A" * 3000, qos=1, pid=2, version=version)
                c.send_mqtt(sub + pub[:1000])
                # ...whose rest comes with a ping between its frames.
                c.send(client_frame(0x2, pub[1000:2000], fin=False) + client_frame(0x9, b"are you there")
                       + client_frame(0x0, pub[2000:]))
                kinds = {}
                while len(kinds) < 3:
                    first, body = c.read_packet()
                    kinds[first & 0xF0] = body
                self.assertIn(0x90, kinds)  # SUBACK
                self.assertIn(0x40, kinds)  # PUBACK
                delivered = kinds[0x30]
                self.assertTrue(delivered.endswith(b"A" * 3000))
                # The pong comes from the I/O thread, the acknowledgements
                # from the session: in either order.
                self.assertTrue(c.pump(lambda: (0xA, b"are you there") in c.controls), "no pong")
                c.close()

    def test_close_frame_is_echoed_and_publishes_the_will(self):
        watcher = Client(self.broker.port, "ws-will-watcher", V5)
        watcher.connect()
        watcher.subscribe("ws/will", qos=1)
        c = WsConn(self.broker.ws_port)
        c.send_mqtt(connect_bytes("ws-will", will=("ws/will", b"gone")))
        self.assertEqual(connack_reason(c.read_packet()), 0)
        c.send(client_frame(0x8, struct.pack(">H", 1000) + b"bye"))
        self.assertEqual(c.read_control(), (0x8, struct.pack(">H", 1000)))
        self.assertTrue(c.closed())
        self.assertEqual(watcher.expect().payload, b"gone")
        watcher.close()

    def test_mqtt_disconnect_then_close_frame_publishes_no_will(self):
        watcher = Client(self.broker.port, "ws-nowill-watcher", V5)
        watcher.connect()
        watcher.subscribe("ws/nowill", qos=1)
        c = WsConn(self.broker.ws_port)
        c.send_mqtt(connect_bytes("ws-nowill", will=("ws/nowill", b"gone")))
        self.assertEqual(connack_reason(c.read_packet()), 0)
        c.send(client_frame(0x2, bytes([0xE0, 0x00])) + client_frame(0x8, struct.pack(">H", 1000)))
        self.assertTrue(c.closed())
        watcher.expect_none()
        watcher.close()

    def test_framing_errors_close_with_their_status(self):
        cases = [
            ("text frame", lambda: client_frame(0x1, b"hello"), 1003),
            ("unmasked frame", lambda: bytes([0x82, 0x02]) + b"\xe0\x00", 1002),
            ("reserved bit", lambda: bytes([0xC2]) + client_frame(0x2, b"x")[1:], 1002),
            ("oversized ping", lambda: client_frame(0x9, b"p" * 126), 1002),
            ("stray continuation", lambda: client_frame(0x0, b"x"), 1002),
        ]
        for name, frame, code in cases:
            with self.subTest(name):
                c = self.session("ws-bad-frame")
                c.send(frame())
                control = c.read_control()
                self.assertIsNotNone(control, "no close frame")
                self.assertEqual(control[0], 0x8)
                self.assertEqual(struct.unpack(">H", control[1][:2])[0], code)
                self.assertTrue(c.closed())
                c.close()

    def test_the_tcp_edge_limits_apply(self):
        c = self.session("ws-too-large")
        c.send_mqtt(publish_bytes("ws/large", b"x" * 5000))
        first, body = c.read_packet()
        self.assertEqual((first, body[0]), (0xE0, 0x95))  # DISCONNECT Packet too large
        control = c.read_control()
        self.assertEqual(control[0], 0x8)
        self.assertTrue(c.closed())

    def test_ws_and_tcp_clients_share_sessions_and_topics(self):
        tcp = Client(self.broker.port, "ws-tcp-peer", V5)
        tcp.connect()
        tcp.subscribe("ws/shared/#", qos=1)
        ws = Client(self.broker.ws_port, "ws-paho", V5, websocket_path="/mqtt")
        ws.connect()
        ws.subscribe("ws/shared/#", qos=1)
        ws.publish("ws/shared/a", b"from ws", qos=1)
        tcp.publish("ws/shared/b", b"from tcp", qos=1)
        self.assertEqual(sorted(m.payload for m in tcp.expect_n(2)), [b"from tcp", b"from ws"])
        self.assertEqual(sorted(m.payload for m in ws.expect_n(2)), [b"from tcp", b"from ws"])
        ws.close()
        # A session taken over from WebSocket by TCP, with its subscription.
        p = Client(self.broker.ws_port, "ws-persistent", V311, clean=False, websocket_path="/mqtt")
        p.connect()
        p.subscribe("ws/persist", qos=1)
        p.close()
        tcp.publish("ws/persist", b"kept", qos=1)
        again = Client(self.broker.port, "ws-persistent", V311, clean=False)
        self.assertTrue(again.connect().session_present)
        self.assertEqual(again.expect().payload, b"kept")
        again.close()
        tcp.close()


def run_js(script, *args, publish=None, timeout=40):
    """Runs a JS client; once it prints READY, publish() runs (the test's
    other client). Returns the JSON it prints last."""
    proc = subprocess.Popen([NODE, os.path.join(JS, script), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=JS)
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.wait(timeout=5)
            raise AssertionError(f"{script}: {line!r} {proc.stderr.read()}")
        if publish:
            publish()
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}: {err}")
    return json.loads(out.strip().splitlines()[-1])


class RealClientsTest(BrokerTestCase):
    """MQTT.js and Chromium over ws and wss (server certificate from a test CA)."""

    @classmethod
    def broker_options(cls):
        cls.ca = CertAuthority(os.path.join(cls.tmp.name, "ca"))
        return {"tls": server_tls(cls.ca), "tls_listener": False, "wss": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wss_port = cls.broker.wss_port
        cls.urls = {"ws": f"ws://127.0.0.1:{cls.broker.ws_port}/mqtt",
                    "wss": f"wss://localhost:{cls.wss_port}/mqtt"}

    def external(self, topic, payload=b"from paho over tcp"):
        def publish():
            c = Client(self.broker.port, f"ext-{topic.replace('/', '-')}", V5)
            c.connect()
            c.publish(topic + "/external", payload, qos=1)
            c.close()
        return publish

    def test_mqtt_js_in_node_over_ws_and_wss(self):
        for scheme in ("ws", "wss"):
            for version in (5, 4):
                with self.subTest(scheme=scheme, version=version):
                    topic = f"js/{scheme}/{version}"
                    watcher = Client(self.broker.port, f"watch-{scheme}-{version}", V5)
                    watcher.connect()
                    watcher.subscribe(topic + "/q1", qos=1)
                    ca = [self.ca.cert] if scheme == "wss" else []
                    result = run_js("mqtt_client.js", self.urls[scheme], topic, f"js-{scheme}-{version}",
                                    version, *ca, publish=self.external(topic))
                    got = {r["topic"]: r for r in result["received"]}
                    self.assertEqual(got[topic + "/q0"]["text"], "zero")
                    self.assertEqual(got[topic + "/q1"]["text"], "one")
                    self.assertEqual((got[topic + "/q2"]["qos"], got[topic + "/q2"]["size"]), (2, 300 * 1024))
                    self.assertEqual(got[topic + "/external"]["text"], "from paho over tcp")
                    # What MQTT.js published over WebSocket reached a TCP client.
                    self.assertEqual(watcher.expect().payload, b"one")
                    watcher.close()

    def test_headless_chromium_page_over_ws_and_wss(self):
        for scheme in ("ws", "wss"):
            with self.subTest(scheme=scheme):
                topic = f"browser/{scheme}"
                watcher = Client(self.broker.port, f"watch-browser-{scheme}", V5)
                watcher.connect()
                watcher.subscribe(topic + "/from-browser", qos=1)
                shot = os.path.join(self.tmp.name, f"page-{scheme}.png")
                result = run_js("browser.js", self.urls[scheme], topic, f"chromium-{scheme}", shot,
                                publish=self.external(topic, b"hello browser"), timeout=60)
                self.assertEqual(result["status"], "subscribed")
                self.assertIn(f"{topic}/from-browser hello from chromium", result["received"])
                self.assertIn(f"{topic}/external hello browser", result["received"])
                self.assertEqual(watcher.expect().payload, b"hello from chromium")
                self.assertGreater(os.path.getsize(shot), 1000)
                watcher.close()

    def test_node_shutdown_says_goodbye_over_websocket(self):
        broker = self.node()
        c = WsConn(broker.ws_port)
        c.send_mqtt(connect_bytes("ws-shutdown"))
        self.assertEqual(connack_reason(c.read_packet()), 0)
        broker.stop()
        first, body = c.read_packet()
        self.assertEqual((first, body[0]), (0xE0, 0x8B))  # Server shutting down
        control = c.read_control()
        self.assertEqual((control[0], struct.unpack(">H", control[1][:2])[0]), (0x8, 1001))
        c.close()


class ConfigTest(NodeTestCase):
    def test_wss_without_certificate_and_bad_path_are_named(self):
        for settings, named in (({"websocket.tls_enabled": True}, "tls.cert_file"),
                                ({"websocket.path": "mqtt"}, "websocket.path")):
            p = self.node_exits(settings)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(named, p.output)

    def test_a_taken_port_is_named(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            broker = Broker({"websocket.port": port})
            with self.assertRaises(RuntimeError) as e:
                broker.start()
            self.assertIn(f"cannot listen for MQTT over WebSocket on 127.0.0.1:{port}", str(e.exception))
            broker.remove_data()


if __name__ == "__main__":
    unittest.main()
