"""Starts and stops a real convoy node for black-box tests: the one place
that runs `convoy node`.

- Broker(settings, tls=, wss=, files=, passwords=): a node on ports it
  picks (port, ws_port, http_port, tls_port, wss_port; url), with its own
  data dir and config files; start(), stop(keep_data), kill(),
  restart(kill=False), alive(), log(), wait_for_log(), write(), ctl(),
  exits() for a node that must refuse to start.
- BrokerTestCase: one node per class (settings or broker_options());
  TlsTestCase: the same with TLS from a fresh certs.Pki.
- NodeTestCase: self.node(...) per test, stopped at cleanup;
  self.node_exits(...), self.temp_dir(), self.pki().
- convoy(...), convoy_in_background(...): the client commands (ctl, sim).

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

import certs

BINARY = os.environ.get("CONVOY_BINARY", os.path.join(os.path.dirname(__file__), "../../build/convoy"))
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_file(path, text):
    """Writes text to path atomically: a node reloading it never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def make_password_file(path, users, hash_method=None):
    """users: {name: password}, written with mosquitto_passwd (-b: batch)."""
    first = True
    for name, password in users.items():
        args = [MOSQUITTO_PASSWD]
        if hash_method:
            args += ["-H", hash_method]
        if first:
            args.append("-c")
        args += ["-b", path, name, password]
        subprocess.run(args, check=True, capture_output=True)
        first = False
    return path


def convoy(*args, timeout=30, **kwargs):
    """Runs a convoy client command (`ctl`, `sim`, `api-key`) to its end:
    a CompletedProcess with text output."""
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def convoy_in_background(*args, **kwargs):
    """A convoy client command (`sim`) left running: a Popen."""
    return subprocess.Popen([BINARY, *map(str, args)], **kwargs)


# The listeners the node opens on ports it picks itself (port 0; a restart
# keeps them): attribute, setting, the log line that names the port, and
# the setting that turns the listener on.
LISTENERS = (
    ("ws_port", "websocket.port", r"on ws://[^:]+:(\d+)/", "websocket.enabled", True),
    ("http_port", "http.port", r"on http://[^:]+:(\d+)/", "http.enabled", True),
    ("tls_port", "tls.port", r"MQTT over TLS on [^:]+:(\d+) ", "tls.enabled", False),
    ("wss_port", "websocket.tls_port", r"on wss://[^:]+:(\d+)/", "websocket.tls_enabled", False),
)


class Broker:
    """A convoy node on 127.0.0.1 and ports it picks, with a directory of its
    own (data dir, and the files it was given) that lasts as long as this
    object: a restart keeps it; stop() removes it unless told to keep it.

    settings: `--set key=value` overrides, e.g. {"mqtt.max_packet_size": 1024}.
    tls: the server side of TLS, {"cert", "key", "ca", "crl", "clients"}
      (paths; clients = tls.client_certificates); the MQTT-over-TLS listener
      opens on tls_port unless tls_listener=False. wss=True: MQTT over
      secure WebSocket on wss_port.
    files: {setting: text}, each written to a file in the node's directory
      that the setting names (ACLs, rules, purposes files); write() replaces
      one for reload tests, path() names it.
    passwords: {user: password}, an auth.password_file made by mosquitto_passwd.
    Ports: port (MQTT), ws_port, http_port, tls_port, wss_port; url (HTTP)."""

    def __init__(self, settings=None, port=None, tls=None, tls_listener=True, wss=False, files=None,
                 passwords=None, loopback_binds=True):
        self.settings = dict(settings or {})
        self.port = port
        # False: the node picks its listeners' addresses itself (local-only
        # mode or every interface); the tests still connect over loopback.
        self.loopback_binds = loopback_binds
        self.proc = None
        self.log_path = None
        self.dir = tempfile.mkdtemp(prefix="convoy-node-")
        self.data_dir = self.settings.pop("node.data_dir", None)
        self.owns_data_dir = self.data_dir is None
        if self.owns_data_dir:
            self.data_dir = os.path.join(self.dir, "data")
            os.mkdir(self.data_dir)
        for attr, *_ in LISTENERS:
            setattr(self, attr, None)
        if tls:
            for key, setting in (("cert", "tls.cert_file"), ("key", "tls.key_file"), ("ca", "tls.ca_file"),
                                 ("crl", "tls.crl_file"), ("clients", "tls.client_certificates")):
                if tls.get(key) is not None:
                    self.settings.setdefault(setting, tls[key])
            if tls_listener:
                self.settings.setdefault("tls.enabled", True)
        if wss:
            self.settings.setdefault("websocket.tls_enabled", True)
        self.files = {}
        for key, text in (files or {}).items():
            self.files[key] = os.path.join(self.dir, key.replace(".", "-"))
            write_file(self.files[key], text)
            self.settings[key] = self.files[key]
        if passwords:
            self.settings["auth.password_file"] = make_password_file(os.path.join(self.dir, "passwords"),
                                                                     passwords)

    def path(self, key):
        """The file made from files[key]."""
        return self.files[key]

    def write(self, key, text):
        """Replaces the file made from files[key] (atomically)."""
        return write_file(self.files[key], text)

    @property
    def url(self):
        """The management API's base URL, for `convoy ctl --url`."""
        return f"http://127.0.0.1:{self.http_port}"

    def ctl(self, *args, **kwargs):
        """`convoy ctl --url <this node> args...` to its end (a CompletedProcess)."""
        return convoy("ctl", "--url", self.url, *args, **kwargs)

    def _args(self):
        for attr, key, _, enabled, default in LISTENERS:
            if getattr(self, attr):  # a restart keeps the ports
                self.settings[key] = getattr(self, attr)
            elif self._enabled(enabled, default):
                self.settings.setdefault(key, 0)
        args = [BINARY, "node", "--set", f"mqtt.port={self.port or 0}",
                "--set", f"node.data_dir={self.data_dir}"]
        if self.loopback_binds:
            args += ["--set", "mqtt.bind=127.0.0.1", "--set", "websocket.bind=127.0.0.1"]
        for key, value in self.settings.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            args += ["--set", f"{key}={value}"]
        return args

    def _enabled(self, setting, default):
        return str(self.settings.get(setting, default)).lower() == "true"

    def start(self):
        """Starts the node and waits until it serves; a restarted node keeps
        its ports and data dir."""
        args = self._args()
        log = tempfile.NamedTemporaryFile(prefix="convoy-", suffix=".log", delete=False)
        self.log_path = log.name
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"convoy exited with {self.proc.returncode}:\n{self.log()}")
            if self.port is None:  # port 0: the node names the one it got
                m = re.search(r"listening for MQTT on [^:]+:(\d+) ", self.log())
                if not m:
                    time.sleep(0.05)
                    continue
                self.port = int(m.group(1))
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

    def exits(self, timeout=20):
        """Runs the node expecting it to stop by itself (bad configuration):
        a CompletedProcess (returncode, stdout, stderr) with `output`, both
        streams. A node that keeps running fails the test."""
        try:
            p = subprocess.run(self._args(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"convoy did not stop by itself within {timeout} s:\n{e.stdout}{e.stderr}")
        finally:
            self.remove_data()
        p.output = p.stdout + p.stderr
        return p

    def _read_ports(self):
        """Whether the ports the node picked are known (from its log)."""
        text = self.log()
        for attr, _, pattern, enabled, default in LISTENERS:
            if getattr(self, attr) or not self._enabled(enabled, default):
                continue
            m = re.search(pattern, text)
            if not m:
                return False
            setattr(self, attr, int(m.group(1)))
        return True

    def log(self):
        """Everything the running node has logged."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, text, count=1, timeout=5):
        """Waits until text stands at least count times in the log; fails
        with the log when it does not."""
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged {count} times within {timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def kill(self):
        """SIGKILL: the node dies without any chance to clean up."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        os.unlink(self.log_path)

    def restart(self, kill=False):
        """A stop (SIGTERM, checked) or with kill=True a SIGKILL, then a
        start on the same data dir and ports."""
        if kill:
            self.kill()
        else:
            self.stop(keep_data=True)
        return self.start()

    def remove_data(self):
        if self.owns_data_dir and self.data_dir and os.path.isdir(self.data_dir):
            shutil.rmtree(self.data_dir)
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)

    def stop(self, keep_data=False):
        """SIGTERM, then checks the node shut down cleanly (exit 0, no
        sanitizer report). Its directory goes too unless keep_data."""
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


class NodeTestCase(unittest.TestCase):
    """Tests that start nodes of their own: node() starts one that the
    test's cleanup stops; node_exits() runs one that must refuse to start."""

    def node(self, settings=None, **kwargs):
        broker = Broker(settings, **kwargs).start()
        self.addCleanup(broker.stop)
        return broker

    def node_exits(self, settings=None, timeout=20, **kwargs):
        return Broker(settings, **kwargs).exits(timeout)

    def temp_dir(self):
        """A directory removed at the test's cleanup."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        return tmp.name

    def pki(self):
        """A fresh certs.Pki for this test; its tls() is Broker(tls=...)."""
        return certs.Pki(self.temp_dir())


class BrokerTestCase(NodeTestCase):
    """One fresh node per test class, started with broker_options() (by
    default the class attribute `settings`); cls.tmp is a directory for the
    class's own files (certificates), made before the node starts. Each test
    starts by checking the node is still alive."""

    settings = {}

    @classmethod
    def broker_options(cls):
        """Broker() keyword arguments: settings, tls, files, passwords..."""
        return {"settings": cls.settings}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        try:
            cls.broker = Broker(**cls.broker_options()).start()
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()
        finally:
            cls.tmp.cleanup()

    def setUp(self):
        self.assertTrue(self.broker.alive(), "the node died during an earlier test")


class TlsTestCase(BrokerTestCase):
    """A BrokerTestCase whose node speaks MQTT over TLS on cls.tls_port, with
    the certificates of a fresh certs.Pki (cls.pki): devices' certificates
    tls_clients ("optional", "required"), checked against its CRL if tls_crl."""

    tls_clients = "optional"
    tls_crl = False

    @classmethod
    def broker_options(cls):
        cls.pki = certs.Pki(cls.tmp.name)
        return {"settings": cls.settings, "tls": cls.pki.tls(cls.tls_clients, cls.tls_crl)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tls_port = cls.broker.tls_port


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
