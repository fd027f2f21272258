"""Starts and stops a real convoy node for black-box tests.

Tests run with /usr/bin/python3 (Debian's, which sees python3-paho-mqtt).
CONVOY_BINARY names the convoy executable; ctest sets it.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BINARY = os.environ.get("CONVOY_BINARY", os.path.join(os.path.dirname(__file__), "../../build/convoy"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A convoy node on 127.0.0.1 and a free port, with a data dir of its
    own that lasts as long as this object (a restart keeps it; stop()
    removes it unless told to keep it). Extra settings are `--set key=value`
    overrides, e.g. {"mqtt.max_packet_size": 1024}."""

    def __init__(self, settings=None, port=None, loopback_binds=True):
        self.settings = dict(settings or {})
        self.port = port
        # False: the node picks its listeners' addresses itself (local-only
        # mode or every interface); the tests still connect over loopback.
        self.loopback_binds = loopback_binds
        self.proc = None
        self.log_path = None
        self.data_dir = self.settings.pop("node.data_dir", None)
        self.owns_data_dir = self.data_dir is None
        if self.owns_data_dir:
            self.data_dir = tempfile.mkdtemp(prefix="convoy-data-")

    def start(self):
        """Starts the node; a restarted node keeps its port and data dir."""
        if self.port is None:
            self.port = free_port()
        # The WebSocket and HTTP listeners are on by default: on ports the
        # system picks (read from the log below), so that nodes of tests
        # running side by side never collide. A restart keeps the ports.
        for key, attr in (("websocket.port", "ws_port"), ("http.port", "http_port")):
            if getattr(self, attr, None):
                self.settings[key] = getattr(self, attr)
            self.settings.setdefault(key, 0)
            setattr(self, attr, self.settings[key] or None)
        args = [BINARY, "node", "--set", f"mqtt.port={self.port}",
                "--set", f"node.data_dir={self.data_dir}"]
        if self.loopback_binds:
            args += ["--set", "mqtt.bind=127.0.0.1", "--set", "websocket.bind=127.0.0.1"]
        for key, value in self.settings.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            args += ["--set", f"{key}={value}"]
        log = tempfile.NamedTemporaryFile(prefix="convoy-", suffix=".log", delete=False)
        self.log_path = log.name
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"convoy exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self._read_ports():
                return self
            time.sleep(0.05)
        raise RuntimeError("convoy did not start listening:\n" + self.log())

    def _read_ports(self):
        """Whether the ports the node picked are known (from its log)."""
        text = self.log()
        wanted = {"ws_port": (r"ws://[^:]+:(\d+)/", "websocket.enabled"),
                  "http_port": (r"on http://[^:]+:(\d+)/", "http.enabled")}
        for attr, (pattern, enabled) in wanted.items():
            if getattr(self, attr) or str(self.settings.get(enabled, True)).lower() == "false":
                continue
            m = re.search(pattern, text)
            if not m:
                return False
            setattr(self, attr, int(m.group(1)))
        return True

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self):
        """SIGKILL: the node dies without any chance to clean up."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        os.unlink(self.log_path)

    def remove_data(self):
        if self.owns_data_dir and self.data_dir and os.path.isdir(self.data_dir):
            shutil.rmtree(self.data_dir)

    def stop(self, keep_data=False):
        """SIGTERM, then checks the node shut down cleanly (exit 0, no
        sanitizer report). The data dir goes too unless keep_data."""
        if not keep_data:
            try:
                self._stop()
            finally:
                self.remove_data()
            return
        self._stop()

    def _stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("convoy did not stop within 15 s of SIGTERM:\n" + self.log())
        finally:
            self.proc = None
        text = self.log()
        os.unlink(self.log_path)
        if code != 0 or re.search(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:", text):
            raise AssertionError(f"convoy exited with {code}:\n{text}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BrokerTestCase(unittest.TestCase):
    """One fresh node per test class; settings from the class attribute."""

    settings = {}

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(cls.settings).start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.assertTrue(self.broker.alive(), "the node died during an earlier test")


# ---- raw MQTT bytes, for what no well-behaved client library sends ----

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def utf8(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def connect_packet(client_id, version=5, clean=True, keep_alive=60, props=b""):
    flags = 0x02 if clean else 0
    body = utf8("MQTT") + bytes([version, flags]) + keep_alive.to_bytes(2, "big")
    if version == 5:
        body += varint(len(props)) + props
    return packet(0x10, body + utf8(client_id))


def read_varint(data, i):
    """(value, offset after it) of the Variable Byte Integer at data[i]."""
    value, mult = 0, 1
    while True:
        b = data[i]
        i += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, i


def split_packet(buffer):
    """(first_byte, body, rest) when buffer starts with a whole packet, else None."""
    length, mult, i = 0, 1, 1
    while i < len(buffer) and i <= 4:
        b = buffer[i]
        length += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            if len(buffer) >= i + length:
                return buffer[0], bytes(buffer[i:i + length]), buffer[i + length:]
            return None
    return None


class RawClient:
    """A TCP connection that speaks bytes, for malformed-input tests; with
    an ssl.SSLContext, over TLS."""

    def __init__(self, port, timeout=3.0, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_packet(self):
        """Next whole packet as (first_byte, body), or None when the broker
        closed the connection."""
        while True:
            whole = split_packet(self.buffer)
            if whole:
                first, body, self.buffer = whole
                return first, body
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def closed_by_peer(self, timeout=3.0):
        """True once the broker has closed the connection (after any packets)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()
