"""The device registry over real TLS (registry.required): vehicles must be
registered and active, and connect from an active device, known by its
certificate's fingerprint. Operators manage it through the MQTT control topic
$CONTROL/convoy/registry/v1; provisioning, part replacement and suspension
take effect on live connections. Each case runs in MQTT 3.1.1 and 5.0."""

import json
import time
import unittest
import uuid

from broker import NodeTestCase, TlsTestCase
from certs import fingerprint
from paho_util import V5, V311, Client, props
from paho.mqtt.packettypes import PacketTypes

CONTROL = "$CONTROL/convoy/registry/v1"
NOT_AUTHORIZED = {V5: 0x87, V311: 5}

ACL = """
[assign]
certificate = "vehicle"
password = "operator"

[roles.vehicle]
client_ids = ["{identity}", "{identity}-*"]
publish = ["vehicles/{vin}/#"]
subscribe = ["vehicles/{vin}/commands/#", "broadcast/{region}/#"]

[roles.operator]
publish = ["#", "$CONTROL/convoy/registry/v1"]
subscribe = ["#", "$CONTROL/convoy/registry/v1/#", "ops/#"]
"""


class RegistryTests:
    """Mixed into a test case that sets `version`."""

    settings = {"auth.allow_anonymous": False, "auth.failure_delay_ms": 0, "registry.required": True}

    @classmethod
    def broker_options(cls):
        return {**super().broker_options(), "files": {"auth.acl_file": ACL}, "passwords": {"ops": "0ps"}}

    def setUp(self):
        super().setUp()
        self.ops = Client(self.tls_port, f"ops-{uuid.uuid4().hex[:8]}", V5, tls=self.pki.paho_tls())
        self.ops.paho.username_pw_set("ops", "0ps")
        self.addCleanup(self.ops.close)
        self.ops.connect()
        self.reply_topic = f"ops/replies/{uuid.uuid4().hex[:8]}"
        self.ops.subscribe(self.reply_topic, qos=1)

    def control(self, *commands, raw=None):
        """Sends commands to the control topic and returns the parsed answer."""
        body = raw if raw is not None else json.dumps({"commands": list(commands)})
        correlation = uuid.uuid4().bytes
        self.ops.publish(CONTROL, body, qos=1,
                         properties=props(PacketTypes.PUBLISH, ResponseTopic=self.reply_topic,
                                          CorrelationData=correlation))
        m = self.ops.expect(timeout=5)
        self.assertEqual(m.properties.get("CorrelationData"), correlation)
        return json.loads(m.payload)


    def car(self, vin, pair, client_id=None):
        c = Client(self.tls_port, client_id or f"{vin}-{self.version}-{uuid.uuid4().hex[:4]}",
                   self.version, tls=self.pki.paho_tls(pair))
        self.addCleanup(c.close)
        return c

    def register(self, vin, pair, device_id="tcu-1", region="eu-west"):
        self.control({"command": "deleteVehicle", "vin": vin})  # a clean slate
        answer = self.control(
            {"command": "createVehicle", "vin": vin, "model": "ID.4", "region": region},
            {"command": "addDevice", "vin": vin, "deviceId": device_id,
             "fingerprint": fingerprint(pair[0])})
        self.assertTrue(all(r["ok"] for r in answer["responses"]), answer)
        return answer["responses"][-1]["vehicle"]

    def test_only_registered_vehicles_get_in(self):
        vin = "WVWZZZ1JZXW000001"
        self.control({"command": "deleteVehicle", "vin": vin})
        c = self.car(vin, self.pki.device)
        self.assertEqual(c.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        self.assertIn(f"vehicle {vin} is not registered", self.broker.log())
        vehicle = self.register(vin, self.pki.device)
        self.assertEqual(vehicle["status"], "active")
        self.assertEqual(vehicle["devices"][0]["deviceId"], "tcu-1")
        self.assertEqual(len(vehicle["devices"][0]["fingerprint"]), 64)
        c = self.car(vin, self.pki.device)
        self.assertEqual(c.connect().reason, 0)
        # Another certificate of the same VIN, valid at the CA, is not a
        # registered device of it.
        other = self.pki.ca.issue(f"unregistered-{self.version}", cn=vin)
        c2 = self.car(vin, other)
        self.assertEqual(c2.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])

    def test_part_replacement_takes_effect_on_the_live_connection(self):
        vin = "WVWZZZ1JZXW000001"
        self.register(vin, self.pki.device)
        old = self.car(vin, self.pki.device)
        old.connect()
        new_part = self.pki.ca.issue(f"tcu-2-{self.version}", cn=vin)
        started = time.monotonic()
        answer = self.control({"command": "replaceDevice", "vin": vin, "oldDeviceId": "tcu-1",
                               "deviceId": "tcu-2", "fingerprint": fingerprint(new_part[0])})
        self.assertTrue(answer["responses"][0]["ok"], answer)
        statuses = {d["deviceId"]: d["status"] for d in answer["responses"][0]["vehicle"]["devices"]}
        self.assertEqual(statuses, {"tcu-1": "replaced", "tcu-2": "active"})
        self.assertTrue(old.wait_disconnected(timeout=2))
        self.assertLess(old.disconnected_at - started, 1.0)
        if self.version == V5:
            self.assertEqual(old.server_disconnect_reason, 0x98)
        again = self.car(vin, self.pki.device)
        self.assertEqual(again.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        fresh = self.car(vin, new_part)
        self.assertEqual(fresh.connect().reason, 0)

    def test_suspension_disconnects_and_activation_lets_back_in(self):
        vin = "WVWZZZ1JZXW000002"
        self.register(vin, self.pki.second)
        car = self.car(vin, self.pki.second)
        car.connect()
        started = time.monotonic()
        answer = self.control({"command": "suspendVehicle", "vin": vin})
        self.assertEqual(answer["responses"][0]["vehicle"]["status"], "suspended")
        self.assertTrue(car.wait_disconnected(timeout=2))
        self.assertLess(car.disconnected_at - started, 1.0)
        if self.version == V5:
            self.assertEqual(car.server_disconnect_reason, 0x98)
        back = self.car(vin, self.pki.second)
        self.assertEqual(back.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        self.assertIn(f"vehicle {vin} is suspended", self.broker.log())
        self.control({"command": "activateVehicle", "vin": vin})
        back = self.car(vin, self.pki.second)
        self.assertEqual(back.connect().reason, 0)

    def test_the_region_in_access_rules_comes_from_the_registry(self):
        vin = "WVWZZZ1JZXW000002"
        self.register(vin, self.pki.second, region="eu-west")
        car = self.car(vin, self.pki.second)
        car.connect()
        refused = 0x87 if self.version == V5 else 0x80
        self.assertEqual(car.subscribe([("broadcast/eu-west/#", 1), ("broadcast/us-east/#", 1)]),
                         [1, refused])
        self.ops.publish("broadcast/eu-west/weather", b"rain", qos=1)
        self.assertEqual(car.expect().payload, b"rain")
        # The vehicle moves region: its old region's subscription goes.
        self.control({"command": "updateVehicle", "vin": vin, "region": "us-east"})
        self.broker.wait_for_log("subscription 'broadcast/eu-west/#' removed", timeout=2)
        self.ops.publish("broadcast/eu-west/weather", b"snow", qos=1)
        car.expect_none()
        self.assertEqual(car.subscribe("broadcast/us-east/#", qos=1), [1])

    def test_bad_commands_get_clear_errors(self):
        self.assertIn("expected a JSON object", self.control(raw="{not json")["error"])
        self.assertIn("expected a JSON object", self.control(raw='{"commands": 7}')["error"])
        vin = "WVWZZZ1JZXW000009"
        self.control({"command": "deleteVehicle", "vin": vin})
        answer = self.control(
            {"command": "launchRocket", "vin": vin},
            {"command": "createVehicle"},
            {"command": "createVehicle", "vin": "bad/vin+"},
            {"command": "createVehicle", "vin": vin, "model": 7},
            {"command": "createVehicle", "vin": vin},
            {"command": "createVehicle", "vin": vin},
            {"command": "addDevice", "vin": vin, "deviceId": "tcu", "fingerprint": "abc"},
            {"command": "suspendDevice", "vin": vin, "deviceId": "nope"},
            {"command": "getVehicle", "vin": "WVWZZZ1JZXW000404"},
            "not an object")
        errors = [r.get("error", "ok") for r in answer["responses"]]
        self.assertEqual(errors, [
            'unknown command "launchRocket"', 'missing "vin"', "invalid VIN 'bad/vin+'",
            '"model" must be a string', "ok", f"vehicle {vin} exists",
            "fingerprint must be a SHA-256 fingerprint (64 hex digits)",
            f"device nope of {vin} not found", "vehicle WVWZZZ1JZXW000404 not found",
            "a command must be a JSON object"])
        self.assertTrue(self.broker.alive())

    def test_vehicles_may_not_use_the_control_topic(self):
        vin = "WVWZZZ1JZXW000001"
        self.register(vin, self.pki.device)
        car = self.car(vin, self.pki.device)
        car.connect()
        car.publish(CONTROL, json.dumps({"commands": [{"command": "deleteVehicle", "vin": vin}]}),
                    qos=1)
        self.ops.expect_none()
        answer = self.control({"command": "getVehicle", "vin": vin})
        self.assertTrue(answer["responses"][0]["ok"])


class RegistryV311(RegistryTests, TlsTestCase):
    version = V311


class RegistryV5(RegistryTests, TlsTestCase):
    version = V5


class RegistryDurabilityTest(NodeTestCase):
    """Registrations are on disk before they are answered and survive SIGKILL."""

    def test_registry_survives_a_kill(self):
        pki = self.pki()
        # The $CONTROL topics need a role that grants them.
        acl = ('[assign]\nanonymous = "ops"\ncertificate = "ops"\n[roles.ops]\n'
               'publish = ["#", "$CONTROL/convoy/registry/v1"]\n'
               'subscribe = ["#", "$CONTROL/convoy/registry/v1/#"]\n')
        broker = self.node({"registry.required": True}, tls=pki.tls(), files={"auth.acl_file": acl})
        ops = Client(broker.port, "ops", V311)
        ops.connect()
        ops.subscribe(CONTROL + "/response", qos=1)
        vin = "WVWZZZ1JZXW000001"
        ops.publish(CONTROL, json.dumps({"commands": [
            {"command": "createVehicle", "vin": vin, "region": "eu"},
            {"command": "addDevice", "vin": vin, "deviceId": "tcu", "fingerprint": fingerprint(pki.device[0])},
        ]}), qos=1)
        answer = json.loads(ops.expect().payload)
        self.assertTrue(all(r["ok"] for r in answer["responses"]), answer)
        ops.close()
        broker.restart(kill=True)
        car = Client(broker.tls_port, vin, V5, tls=pki.paho_tls(pki.device))
        self.addCleanup(car.close)
        self.assertEqual(car.connect().reason, 0)


if __name__ == "__main__":
    unittest.main()
