"""Safe defaults, like mosquitto 2.0's local-only mode: a node that lets
anonymous clients in and has no auth.acl_file takes MQTT connections on
loopback only (unless a bind address is set) and says so at start; the
$CONTROL topics (registry and operator requests) are refused unless an ACL
role grants them; a vehicle's registered region fills {region} in access
rules also when registry.required is false."""

import json
import socket
import subprocess
import unittest

from broker import NodeTestCase, TlsTestCase
from certs import VIN
from http_api import Api
from paho_util import V5, Client
from raw_mqtt import Conn, connect_bytes, publish_bytes

CONTROL = "$CONTROL/convoy/registry/v1"
NEW_VIN = "WVWZZZ1JZXW000777"


def listening_addresses(port):
    """The local addresses something listens on at TCP `port` (/proc/net/tcp)."""
    found = set()
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                address, state = fields[1], fields[3]
                ip_hex, port_hex = address.split(":")
                if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(ip_hex)
                # The kernel prints each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
    return found


def create_vehicle_over_mqtt(port):
    """What a new user tries: mosquitto_rr with a createVehicle request.
    Returns (exit code, what it printed)."""
    body = json.dumps({"commands": [{"command": "createVehicle", "vin": NEW_VIN, "region": "eu"}]})
    done = subprocess.run(["mosquitto_rr", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5",
                           "-t", CONTROL, "-e", "ops/replies", "-m", body, "-W", "2"],
                          capture_output=True, text=True, timeout=20)
    return done.returncode, done.stdout


class LocalOnlyModeTest(NodeTestCase):
    def node(self, settings=None, **kwargs):
        return super().node(settings, loopback_binds=False, **kwargs)

    def test_the_default_node_listens_on_loopback_and_says_so(self):
        broker = self.node()
        self.assertEqual(listening_addresses(broker.port), {"127.0.0.1"})
        self.assertEqual(listening_addresses(broker.ws_port), {"127.0.0.1"})
        self.assertIn("local-only mode", broker.log())
        self.assertIn("MQTT listens on 127.0.0.1", broker.log())

    def test_a_bind_address_set_explicitly_is_kept(self):
        broker = self.node({"mqtt.bind": "0.0.0.0"})
        self.assertEqual(listening_addresses(broker.port), {"0.0.0.0"})
        self.assertEqual(listening_addresses(broker.ws_port), {"127.0.0.1"})

    def test_a_node_with_an_acl_or_without_anonymous_logins_listens_everywhere(self):
        acl = '[assign]\nanonymous = "any"\n[roles.any]\npublish = ["#"]\n'
        for settings, files in (({}, {"auth.acl_file": acl}), ({"auth.allow_anonymous": False}, {})):
            with self.subTest(settings=settings, files=files):
                broker = self.node(settings, files=files)
                self.assertEqual(listening_addresses(broker.port), {"0.0.0.0"})
                self.assertNotIn("local-only mode", broker.log())
                broker.stop()

    def test_control_topics_are_refused_without_an_acl(self):
        broker = self.node()
        rc, printed = create_vehicle_over_mqtt(broker.port)
        self.assertNotEqual(rc, 0, printed)  # no answer within -W
        self.assertNotIn('"ok":true', printed.replace(" ", ""))
        self.assertEqual(Api(broker.http_port).get(f"/api/v1/vehicles/{NEW_VIN}").status, 404)
        # MQTT 5 is told why; other topics work as before.
        c = Conn(broker.port, V5)
        self.addCleanup(c.close)
        c.send(connect_bytes("curious", version=V5))
        self.assertEqual(c.read()[0], 0x20)
        c.send(publish_bytes(CONTROL, b"{}", qos=1, pid=3, version=V5))
        self.assertEqual(c.read(), (0x40, b"\x00\x03\x87"))
        c.send(publish_bytes("fleet/notes", b"x", qos=1, pid=4, version=V5))
        self.assertEqual(c.read(), (0x40, b"\x00\x04\x10"))  # no matching subscribers
        self.assertIn("$CONTROL topics", broker.log())

    def test_an_acl_role_grants_the_control_topics(self):
        acl = ('[assign]\nanonymous = "ops"\n[roles.ops]\n'
               'publish = ["#", "$CONTROL/convoy/registry/v1"]\nsubscribe = ["#"]\n')
        broker = self.node({"mqtt.bind": "127.0.0.1"}, files={"auth.acl_file": acl})
        rc, printed = create_vehicle_over_mqtt(broker.port)
        self.assertEqual(rc, 0, printed)
        self.assertEqual(json.loads(printed)["responses"][0]["ok"], True, printed)
        self.assertEqual(Api(broker.http_port).get(f"/api/v1/vehicles/{NEW_VIN}").status, 200)


ACL = """
[assign]
certificate = "vehicle"
anonymous = "broadcaster"

[roles.vehicle]
client_ids = ["{identity}"]
subscribe = ["broadcast/{region}/#"]

[roles.broadcaster]
publish = ["broadcast/#"]
"""


class RegionWithoutRequiredRegistryTest(TlsTestCase):
    """registry.required = false: any certificate of the CA connects, and a
    registered vehicle's region still reaches {region}."""

    settings = {"registry.required": False}

    @classmethod
    def broker_options(cls):
        options = super().broker_options()
        options["files"] = {"auth.acl_file": ACL}
        return options

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = Api(cls.broker.http_port)
        assert api.post("/api/v1/vehicles", {"vin": VIN, "region": "eu-west"}).status == 201

    def car(self, pair, client_id):
        c = Client(self.tls_port, client_id, V5, tls=self.pki.paho_tls(pair))
        self.addCleanup(c.close)
        self.assertEqual(c.connect().reason, 0)
        return c

    def test_a_registered_vehicle_gets_its_regions_broadcasts(self):
        car = self.car(self.pki.device, VIN)
        self.assertEqual(car.subscribe("broadcast/eu-west/#", qos=1), [1])
        self.assertEqual(car.subscribe("broadcast/us-east/#", qos=1), [0x87])
        svc = Client(self.broker.port, "weather", V5)
        self.addCleanup(svc.close)
        svc.connect()
        svc.publish("broadcast/eu-west/storm", b"storm", qos=1)
        self.assertEqual(car.expect().payload, b"storm")

    def test_an_unregistered_vehicle_connects_without_a_region(self):
        car = self.car(self.pki.second, "WVWZZZ1JZXW000002")
        self.assertEqual(car.subscribe("broadcast/eu-west/#", qos=1), [0x87])


if __name__ == "__main__":
    unittest.main()
