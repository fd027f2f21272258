"""A node per test that a test kills with SIGKILL and restarts on the same
data dir, with paho clients that are closed around each restart. Shared by
the storage tests."""

import time

from paho_util import V5, Client, PacketTypes, props


class RestartableNode:
    """Mixed into a broker.NodeTestCase; `settings` are the node's --set
    overrides, `version` the clients' MQTT version."""

    settings = None
    version = V5

    def setUp(self):
        self.broker = self.node(self.settings)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass

    def client(self, name):
        """A connected clean-start client with a unique id."""
        c = Client(self.broker.port, f"{name}-{self.version}-{time.monotonic_ns()}", self.version)
        self.clients.append(c)
        c.connect()
        return c

    def persistent(self, name, expiry=300, **kwargs):
        """A client with a persistent session (not yet connected): clean start
        0 and, in MQTT 5, a session expiry (3.1.1 keeps clean-session-0
        sessions for mqtt.max_session_expiry)."""
        properties = props(PacketTypes.CONNECT, SessionExpiryInterval=expiry) \
            if self.version == V5 else None
        c = Client(self.broker.port, name, self.version, clean=False, properties=properties, **kwargs)
        self.clients.append(c)
        return c

    def kill_and_restart(self, connected=False):
        """SIGKILL, then a start on the same data dir. The clients disconnect
        first (normally), or with connected=True only after the kill, so that
        they were connected when the node died."""
        if connected:
            self.broker.kill()
        for c in self.clients:
            c.close()
        self.clients = []
        self.broker.restart(kill=True)
