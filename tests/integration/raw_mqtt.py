"""Raw MQTT for black-box tests: packet builders for what no well-behaved
client library sends, property parsing, and a byte-level connection (Conn)
with waits bounded by WAIT. Shared by test_bad_input.py and
test_protocol_rules.py."""

import socket
import ssl
import time

from broker import packet, read_varint, split_packet, utf8, varint

V5, V311 = 5, 4
VERSIONS = (V5, V311)
WAIT = 5.0  # longest wait for any single event

# ---- packet builders ----


def prop_byte(pid, v):
    return bytes([pid, v])


def prop_u16(pid, v):
    return bytes([pid]) + v.to_bytes(2, "big")


def prop_u32(pid, v):
    return bytes([pid]) + v.to_bytes(4, "big")


def prop_str(pid, s):
    return bytes([pid]) + utf8(s)


def prop_pair(k, v):
    return b"\x26" + utf8(k) + utf8(v)


def props_block(props):
    return varint(len(props)) + props


def connect_bytes(client_id, version=V5, clean=True, keep_alive=60, props=b"", flags=None,
                  name="MQTT", level=None, will=None, will_props=b"", username=None, password=None):
    """A CONNECT; flags overrides the computed connect flags byte.
    will is (topic, payload) and goes into the payload whatever the flags say."""
    if flags is None:
        flags = 0x02 if clean else 0
        if will is not None:
            flags |= 0x04
        if username is not None:
            flags |= 0x80
        if password is not None:
            flags |= 0x40
    body = utf8(name) + bytes([version if level is None else level, flags]) + keep_alive.to_bytes(2, "big")
    if version == V5:
        body += props_block(props)
    body += utf8(client_id)
    if will is not None:
        if version == V5:
            body += props_block(will_props)
        body += utf8(will[0]) + utf8(will[1])
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += utf8(password)
    return packet(0x10, body)


def publish_bytes(topic, payload=b"", qos=0, pid=None, version=V5, props=b"", dup=False, retain=False,
                  first=None):
    if first is None:
        first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos or pid is not None:
        body += (pid if pid is not None else 1).to_bytes(2, "big")
    if version == V5:
        body += props_block(props)
    return packet(first, body + payload)


def subscribe_bytes(pid, entries, version=V5, props=b"", first=0x82):
    """entries: (filter, options byte) pairs."""
    body = pid.to_bytes(2, "big")
    if version == V5:
        body += props_block(props)
    for flt, opts in entries:
        body += utf8(flt) + bytes([opts])
    return packet(first, body)


def unsubscribe_bytes(pid, filters, version=V5, first=0xA2):
    body = pid.to_bytes(2, "big")
    if version == V5:
        body += props_block(b"")
    for flt in filters:
        body += utf8(flt)
    return packet(first, body)


def parse_props(body, i=0):
    """(list of (id, value), offset after the block). Values are ints, bytes or (k, v)."""
    length, i = read_varint(body, i)
    end = i + length
    out = []
    while i < end:
        pid = body[i]
        i += 1
        if pid in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
            out.append((pid, body[i]))
            i += 1
        elif pid in (0x13, 0x21, 0x22, 0x23):
            out.append((pid, int.from_bytes(body[i:i + 2], "big")))
            i += 2
        elif pid in (0x02, 0x11, 0x18, 0x27):
            out.append((pid, int.from_bytes(body[i:i + 4], "big")))
            i += 4
        elif pid == 0x0B:
            v, i = read_varint(body, i)
            out.append((pid, v))
        elif pid == 0x26:
            kl = int.from_bytes(body[i:i + 2], "big")
            k = body[i + 2:i + 2 + kl]
            i += 2 + kl
            vl = int.from_bytes(body[i:i + 2], "big")
            v = body[i + 2:i + 2 + vl]
            i += 2 + vl
            out.append((pid, (k, v)))
        else:
            n = int.from_bytes(body[i:i + 2], "big")
            out.append((pid, body[i + 2:i + 2 + n]))
            i += 2 + n
    return out, end


# ---- a raw connection ----


class Conn:
    """A TCP connection to the node speaking raw bytes; with an
    ssl.SSLContext, over TLS (the handshake happens here)."""

    def __init__(self, port, version=V5, tls=None):
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            # TLS: the node's alert after it refused our certificate.
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def read(self, timeout=WAIT):
        """Next packet as (first_byte, body); None once the node closed the
        connection; AssertionError if neither happens within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                whole = split_packet(self.buffer)
                if whole:
                    first, body, self.buffer = whole
                    return first, body
                if self.eof:
                    if self.buffer:
                        raise AssertionError(f"connection closed inside a packet: {self.buffer!r}")
                    return None
                self._fill(deadline)
        except socket.timeout:
            raise AssertionError(f"nothing from the node within {timeout} s") from None

    def expect(self, first, body=None, timeout=WAIT):
        p = self.read(timeout)
        if p is None:
            raise AssertionError(f"connection closed, expected packet 0x{first:02x}")
        if p[0] != first or (body is not None and p[1] != body):
            raise AssertionError(f"expected 0x{first:02x} {body!r}, got 0x{p[0]:02x} {p[1]!r}")
        return p[1]

    def closed(self, timeout=WAIT):
        """True if the node closes the connection within timeout (no more packets)."""
        p = self.read(timeout)
        if p is not None:
            raise AssertionError(f"expected the close, got packet 0x{p[0]:02x} {p[1]!r}")
        return True

    def close(self):
        self.sock.close()


def assert_disconnect(case, c, code):
    """The node ends the connection c for a violation: in MQTT 5 a
    DISCONNECT with exactly this reason code first (a DISCONNECT without
    one, meaning 0x00, fails too), then the close with no other packet; in
    3.1.1 the close without any packet. case: the unittest.TestCase."""
    if c.version == V5:
        p = c.read()
        case.assertIsNotNone(p, f"closed without DISCONNECT 0x{code:02x}")
        case.assertEqual(p[0], 0xE0, f"expected DISCONNECT 0x{code:02x}, got 0x{p[0]:02x} {p[1]!r}")
        case.assertGreaterEqual(len(p[1]), 1, "DISCONNECT without reason code (0x00)")
        case.assertEqual(p[1][0], code, f"DISCONNECT reason 0x{p[1][0]:02x}, expected 0x{code:02x}")
    case.assertTrue(c.closed())
