"""A small synchronous layer over paho-mqtt 1.6 (Debian's python3-paho-mqtt)
for the test_paho_*.py black-box tests, plus raw-byte helpers for what paho
cannot do (stay silent, withhold acknowledgements, send bad topic aliases).

Every wait is for an event and has a timeout (TIMEOUT, at most 5 s); the few
time.sleep calls in tests are where time itself has to pass (an expiry
interval) or a client paces itself (pings). A test class mixes a
behaviour class into PahoTestCase and sets `version` (V311 or V5), so the same
test body runs in both protocol versions:

    class QosTests:
        def test_x(self): ...
    class QosV311(QosTests, PahoTestCase): version = V311
    class QosV5(QosTests, PahoTestCase): version = V5
"""

import itertools
import queue
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker import BrokerTestCase, RawClient, packet, read_varint, utf8, varint

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5

TIMEOUT = 5.0  # longest wait for something that must happen
QUIET = 0.5  # how long to watch for something that must not happen


class MqttTimeout(AssertionError):
    pass


# ---- properties ----

def props(packet_type, **values):
    """Properties(packet_type) with the named values, e.g.
    props(PacketTypes.PUBLISH, MessageExpiryInterval=5, UserProperty=[("a", "1")])."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def props_dict(p):
    """The properties paho decoded, as {CompressedName: value}."""
    if p is None:
        return {}
    out = {}
    for name in p.names:
        compressed = name.replace(" ", "")
        if hasattr(p, compressed):
            out[compressed] = getattr(p, compressed)
    return out


def reason_value(rc):
    if rc is None:
        return None
    if isinstance(rc, ReasonCodes):
        return rc.value
    return int(rc)


class Connack:
    def __init__(self, session_present, reason, properties):
        self.session_present = session_present
        self.reason = reason  # 3.1.1 return code or MQTT 5 reason code
        self.properties = properties  # dict, empty in 3.1.1

    def __repr__(self):
        return f"Connack(session_present={self.session_present}, reason={self.reason:#x}, {self.properties})"


class Message:
    def __init__(self, m):
        self.topic = m.topic
        self.payload = bytes(m.payload)
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.dup = bool(m.dup)
        self.mid = m.mid
        self.properties = props_dict(getattr(m, "properties", None))
        self.received_at = time.monotonic()

    def __repr__(self):
        return (f"Message({self.topic!r}, {self.payload[:40]!r}, qos={self.qos}, retain={self.retain}, "
                f"{self.properties})")


class _Paho(mqtt.Client):
    """paho 1.6.1 ignores a DISCONNECT from the server whose remaining length
    is at most 2 (a reason code without properties), which is how a broker
    normally sends one. This subclass records the reason code first."""

    convoy_owner = None

    def _handle_disconnect(self):
        body = bytes(self._in_packet["packet"])
        if self.convoy_owner is not None:
            self.convoy_owner._server_disconnect(body[0] if body else 0, body)
        return super()._handle_disconnect()


class Client:
    """One paho client driven synchronously: connect() waits for CONNACK,
    subscribe() for SUBACK, publish() for the end of the QoS exchange,
    expect() for the next delivered message."""

    def __init__(self, port, client_id, version, clean=True, keepalive=60, properties=None,
                 will=None, receive_maximum=None, tls=None, websocket_path=None):
        """tls: paho tls_set() arguments (ca_certs, certfile, keyfile) for
        MQTT over TLS. websocket_path: MQTT over WebSocket at that path
        (port is then the WebSocket port)."""
        self.port = port
        self.client_id = client_id
        self.version = version
        self.clean = clean
        self.keepalive = keepalive
        self.connect_properties = properties
        self.messages = queue.Queue()
        self.connack = None
        self.server_disconnect_reason = None  # reason code of a DISCONNECT from the server
        self.server_disconnect_body = b""
        self.disconnect_rc = None  # what paho's on_disconnect reported
        self.disconnected = threading.Event()
        self.disconnected_at = None
        self._connacks = queue.Queue()
        self._cond = threading.Condition()
        self._acks = {}  # mid -> result, for SUBACK/UNSUBACK/publish completion
        self._started = False
        self.paho = _Paho(client_id=client_id, clean_session=clean if version == V311 else None,
                          protocol=version, reconnect_on_failure=False,
                          transport="websockets" if websocket_path else "tcp")
        if websocket_path:
            self.paho.ws_set_options(path=websocket_path)
        self.paho.convoy_owner = self
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_publish = self._on_publish
        if will is not None:
            self.paho.will_set(**will)
        if tls is not None:
            self.paho.tls_set(**tls)

    # ---- callbacks (paho's thread) ----

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self._connacks.put(Connack(flags["session present"], reason_value(rc), props_dict(properties)))

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = reason_value(rc)
        self.disconnected_at = time.monotonic()
        with self._cond:
            self.disconnected.set()
            self._cond.notify_all()

    def _server_disconnect(self, reason, body=b""):
        self.server_disconnect_reason = reason
        self.server_disconnect_body = body  # reason code and properties, as sent

    def _on_message(self, client, userdata, m):
        self.messages.put(Message(m))

    def _ack(self, mid, result):
        with self._cond:
            self._acks[("ack", mid)] = result
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self._ack(mid, [reason_value(g) for g in granted])

    def _on_unsubscribe(self, client, userdata, mid, properties=None, reasons=None):
        if isinstance(reasons, list):
            reasons = [reason_value(r) for r in reasons]
        elif reasons is not None:
            reasons = [reason_value(reasons)]
        self._ack(mid, reasons)

    def _on_publish(self, client, userdata, mid):
        self._ack(mid, True)

    def _wait_ack(self, mid, what, timeout=TIMEOUT):
        key = ("ack", mid)
        with self._cond:
            if not self._cond.wait_for(lambda: key in self._acks or self.disconnected.is_set(), timeout):
                raise MqttTimeout(f"{self.client_id}: no {what} within {timeout} s")
            if key not in self._acks:
                raise AssertionError(f"{self.client_id}: connection lost waiting for {what} "
                                     f"(server DISCONNECT {self.server_disconnect_reason}, rc {self.disconnect_rc})")
            return self._acks.pop(key)

    # ---- operations ----

    def connect(self, timeout=TIMEOUT, expect_success=True):
        """Connects and returns the CONNACK."""
        kwargs = {}
        if self.version == V5:
            kwargs["clean_start"] = self.clean
            kwargs["properties"] = self.connect_properties
        self.paho.connect("127.0.0.1", self.port, self.keepalive, **kwargs)
        self.paho.loop_start()
        self._started = True
        try:
            self.connack = self._connacks.get(timeout=timeout)
        except queue.Empty:
            raise MqttTimeout(f"{self.client_id}: no CONNACK within {timeout} s") from None
        if expect_success and self.connack.reason != 0:
            raise AssertionError(f"{self.client_id}: connection refused: {self.connack}")
        if self.version == V5:
            # A well-behaved client keeps within the server's Receive Maximum;
            # paho 1.6 does not read it from the CONNACK itself.
            self.paho.max_inflight_messages_set(self.connack.properties.get("ReceiveMaximum", 20))
        return self.connack

    def subscribe(self, topic, qos=0, no_local=False, retain_as_published=False, retain_handling=0,
                  properties=None, timeout=TIMEOUT):
        """SUBSCRIBE one filter (or a list of (filter, qos)); returns the
        granted QoS / reason codes from the SUBACK as ints."""
        if isinstance(topic, list):
            if self.version == V5:
                topic = [(t, SubscribeOptions(q)) for t, q in topic]
            rc, mid = self.paho.subscribe(topic, properties=properties)
        elif self.version == V5:
            options = SubscribeOptions(qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                       retainHandling=retain_handling)
            rc, mid = self.paho.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.paho.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"subscribe failed locally: {rc}")
        return self._wait_ack(mid, "SUBACK", timeout)

    def unsubscribe(self, topic, timeout=TIMEOUT):
        rc, mid = self.paho.unsubscribe(topic)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"unsubscribe failed locally: {rc}")
        return self._wait_ack(mid, "UNSUBACK", timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, wait=True, timeout=TIMEOUT):
        """PUBLISH; with wait, returns once the QoS exchange is complete
        (PUBACK / PUBCOMP, or written to the socket for QoS 0)."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"{self.client_id}: publish failed locally: {mqtt.error_string(info.rc)} "
                                 f"(server DISCONNECT {self.server_disconnect_reason}, rc {self.disconnect_rc})")
        if wait:
            self._wait_ack(info.mid, f"completion of QoS {qos} PUBLISH {info.mid}", timeout)
        return info.mid

    def wait_published(self, mid, timeout=TIMEOUT):
        return self._wait_ack(mid, f"completion of PUBLISH {mid}", timeout)

    def expect(self, timeout=TIMEOUT):
        """The next delivered message; fails after timeout."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise MqttTimeout(f"{self.client_id}: no message within {timeout} s") from None

    def expect_n(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise MqttTimeout(f"{self.client_id}: {len(out)} of {n} messages within {timeout} s: "
                                  f"{[m.payload for m in out]}") from None
        return out

    def expect_none(self, quiet=QUIET):
        """Fails if a message arrives within `quiet` seconds."""
        try:
            m = self.messages.get(timeout=quiet)
        except queue.Empty:
            return
        raise AssertionError(f"{self.client_id}: unexpected message {m}")

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout=TIMEOUT):
        """True once the connection has ended (for whatever reason)."""
        return self.disconnected.wait(timeout)

    def disconnect(self, reason=None, properties=None, timeout=TIMEOUT):
        """A DISCONNECT (MQTT 5: with reason code `reason` and properties),
        then the socket closes."""
        rc = None if reason is None else ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        if self.version == V5:
            self.paho.disconnect(reasoncode=rc, properties=properties)
        else:
            self.paho.disconnect()
        if not self.disconnected.wait(timeout):
            raise MqttTimeout(f"{self.client_id}: DISCONNECT not completed")
        self._stop()

    def drop(self, timeout=TIMEOUT):
        """Ends the connection without DISCONNECT (as a crashed client would)."""
        sock = self.paho.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if not self.disconnected.wait(timeout):
            raise MqttTimeout(f"{self.client_id}: socket did not close")
        self._stop()

    def _stop(self):
        if self._started:
            self._started = False
            self.paho.loop_stop()

    def close(self):
        """Cleanup: a normal DISCONNECT if still connected."""
        try:
            if self._started and not self.disconnected.is_set():
                self.paho.disconnect()
                self.disconnected.wait(2)
        finally:
            self._stop()


class PahoTestCase(BrokerTestCase):
    """One node per concrete class; `version` is V311 or V5."""

    version = V5

    def setUp(self):
        super().setUp()
        self._clients = []
        self._seq = itertools.count()

    def tearDown(self):
        for c in reversed(self._clients):
            try:
                c.close()
            except Exception:
                pass
        super().tearDown()

    @property
    def v5(self):
        return self.version == V5

    def cid(self, name="c"):
        """A client id unique to this test run."""
        return f"{name}-{next(self._seq)}-{uuid.uuid4().hex[:10]}"

    def topic(self, suffix=""):
        """A topic unique to this test class (version) and method."""
        base = f"{type(self).__name__}/{self._testMethodName}"
        return f"{base}/{suffix}" if suffix else base

    def client(self, name="c", connect=True, client_id=None, version=None, **kwargs):
        """A paho client of this class's protocol version (or `version`),
        connected unless connect=False; closed after the test."""
        c = Client(self.broker.port, client_id if client_id is not None else self.cid(name),
                   version or self.version, **kwargs)
        self._clients.append(c)
        if connect:
            c.connect()
        return c

    def persistent(self, name="p", client_id=None, expiry=300, **kwargs):
        """A client whose session outlives its connection (3.1.1 clean
        session 0; MQTT 5 clean start 0 with a Session Expiry Interval)."""
        if kwargs.get("version", self.version) == V5:
            p = kwargs.pop("properties", None) or Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = expiry
            kwargs["properties"] = p
        return self.client(name, client_id=client_id, clean=False, **kwargs)

    def raw(self, timeout=3.0):
        r = RawClient(self.broker.port, timeout=timeout)
        self.addCleanup(r.close)
        return r


# ---- raw packets ----

PROP_TYPES = {  # id -> (name, kind)
    0x01: ("PayloadFormatIndicator", "byte"), 0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"), 0x08: ("ResponseTopic", "str"), 0x09: ("CorrelationData", "bin"),
    0x0B: ("SubscriptionIdentifier", "varint"), 0x11: ("SessionExpiryInterval", "u32"),
    0x12: ("AssignedClientIdentifier", "str"), 0x13: ("ServerKeepAlive", "u16"),
    0x15: ("AuthenticationMethod", "str"), 0x16: ("AuthenticationData", "bin"),
    0x17: ("RequestProblemInformation", "byte"), 0x18: ("WillDelayInterval", "u32"),
    0x19: ("RequestResponseInformation", "byte"), 0x1A: ("ResponseInformation", "str"),
    0x1C: ("ServerReference", "str"), 0x1F: ("ReasonString", "str"), 0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"), 0x23: ("TopicAlias", "u16"), 0x24: ("MaximumQoS", "byte"),
    0x25: ("RetainAvailable", "byte"), 0x26: ("UserProperty", "pair"), 0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"), 0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROP_IDS = {name: (pid, kind) for pid, (name, kind) in PROP_TYPES.items()}


def encode_props(**values):
    """MQTT 5 property bytes (without the length prefix) from names as in PROP_TYPES."""
    out = bytearray()
    for name, value in values.items():
        pid, kind = PROP_IDS[name]
        items = value if kind == "pair" else [value]
        for v in items:
            out += varint(pid)
            if kind == "byte":
                out.append(v)
            elif kind == "u16":
                out += v.to_bytes(2, "big")
            elif kind == "u32":
                out += v.to_bytes(4, "big")
            elif kind == "varint":
                out += varint(v)
            elif kind in ("str", "bin"):
                out += utf8(v)
            else:
                out += utf8(v[0]) + utf8(v[1])
    return bytes(out)


def decode_props(data, i):
    """(properties dict, index after them); repeated properties become lists."""
    length, i = read_varint(data, i)
    end = i + length
    out = {}
    while i < end:
        pid, i = read_varint(data, i)
        name, kind = PROP_TYPES[pid]
        if kind == "byte":
            v, i = data[i], i + 1
        elif kind == "u16":
            v, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif kind == "u32":
            v, i = int.from_bytes(data[i:i + 4], "big"), i + 4
        elif kind == "varint":
            v, i = read_varint(data, i)
        else:
            n = int.from_bytes(data[i:i + 2], "big")
            v = bytes(data[i + 2:i + 2 + n])
            i += 2 + n
            if kind == "str":
                v = v.decode()
            elif kind == "pair":
                m = int.from_bytes(data[i:i + 2], "big")
                v = (v.decode(), bytes(data[i + 2:i + 2 + m]).decode())
                i += 2 + m
        if name in ("UserProperty", "SubscriptionIdentifier"):
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out, end


def raw_connect_packet(client_id, version, clean=True, keep_alive=60, props=b"", will=None):
    """CONNECT bytes; will = dict(topic, payload, qos=0, retain=False, props=b"")."""
    proto_level = 5 if version == V5 else 4
    flags = 0x02 if clean else 0
    will_part = b""
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == V5:
            wp = will.get("props", b"")
            will_part += varint(len(wp)) + wp
        will_part += utf8(will["topic"]) + utf8(will["payload"])
    body = utf8("MQTT") + bytes([proto_level, flags]) + keep_alive.to_bytes(2, "big")
    if version == V5:
        body += varint(len(props)) + props
    return packet(0x10, body + utf8(client_id) + will_part)


def parse_connack(first, body, version):
    """(session_present, reason, properties) of a CONNACK."""
    assert first == 0x20, f"expected CONNACK, got first byte {first:#x}"
    props_out = {}
    if version == V5 and len(body) > 2:
        props_out, _ = decode_props(body, 2)
    return body[0] & 1, body[1], props_out


def subscribe_packet(packet_id, filters, version, props=b""):
    """SUBSCRIBE bytes; filters is a list of (filter, options byte)."""
    body = packet_id.to_bytes(2, "big")
    if version == V5:
        body += varint(len(props)) + props
    for f, options in filters:
        body += utf8(f) + bytes([options])
    return packet(0x82, body)


def publish_packet(topic, payload, version, qos=0, packet_id=0, retain=False, dup=False, props=b""):
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = utf8(topic)
    if qos:
        body += packet_id.to_bytes(2, "big")
    if version == V5:
        body += varint(len(props)) + props
    return packet(first, body + (payload.encode() if isinstance(payload, str) else payload))


def ack_packet(kind, packet_id):
    """PUBACK/PUBREC/PUBREL/PUBCOMP with reason Success (short form)."""
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return packet(first, packet_id.to_bytes(2, "big"))


DISCONNECT = packet(0xE0, b"")
PINGREQ = packet(0xC0, b"")


def disconnect_reason(p):
    """The reason code of a DISCONNECT read by read_packet_within (its
    properties, e.g. a Reason String, are parsed and ignored); fails for
    anything else."""
    assert p not in (None, "timeout"), f"expected DISCONNECT, got {p!r}"
    first, body = p
    assert first == 0xE0, f"expected DISCONNECT, got first byte {first:#x}"
    if not body:
        return 0
    if len(body) > 1:
        decode_props(body, 1)  # must be well-formed
    return body[0]


def wire_size(p):
    """Size on the wire of a packet returned by read_packet, fixed header included."""
    first, body = p
    return 1 + len(varint(len(body))) + len(body)


class RawPublish:
    def __init__(self, first, body, version):
        assert first >> 4 == 3, f"expected PUBLISH, got first byte {first:#x}"
        self.qos = (first >> 1) & 3
        self.retain = bool(first & 1)
        self.dup = bool(first & 8)
        n = int.from_bytes(body[0:2], "big")
        self.topic = bytes(body[2:2 + n]).decode()
        i = 2 + n
        self.packet_id = 0
        if self.qos:
            self.packet_id = int.from_bytes(body[i:i + 2], "big")
            i += 2
        self.properties = {}
        if version == V5:
            self.properties, i = decode_props(body, i)
        self.payload = bytes(body[i:])

    def __repr__(self):
        return f"RawPublish({self.topic!r}, {self.payload!r}, qos={self.qos}, id={self.packet_id}, dup={self.dup})"


def read_packet_within(raw, timeout):
    """The next packet, None if the peer closed, or "timeout"."""
    raw.sock.settimeout(timeout)
    try:
        return raw.read_packet()
    except socket.timeout:
        return "timeout"
    except (ConnectionResetError, BrokenPipeError):
        return None


def raw_session(port, client_id, version, clean=True, keep_alive=60, props=b"", will=None, timeout=3.0):
    """A RawClient that has connected; returns (client, (session_present, reason, props))."""
    r = RawClient(port, timeout=timeout)
    r.send(raw_connect_packet(client_id, version, clean, keep_alive, props, will))
    p = r.read_packet()
    if p is None:
        raise AssertionError("connection closed instead of CONNACK")
    return r, parse_connack(p[0], p[1], version)
