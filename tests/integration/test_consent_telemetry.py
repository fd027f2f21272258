"""Consent on the telemetry path: a service (a client of a role in
consent.service_roles) subscribed to vehicles/+/telemetry/# gets a
vehicle's telemetry only for purposes the vehicle consented to for the
service's identity. Grant and revocation take effect on the next message;
retained telemetry is checked too; other roles are not gated; a withheld
QoS 1 message of a persistent service session is not delivered after a
restart either (its stored copy was released)."""

import json
import unittest

from broker import BrokerTestCase
from http_api import Api
from paho.mqtt.packettypes import PacketTypes

from paho_util import V5, Client, props

CAR = "WVWZZZ1JZXW000701"
OTHER = "WVWZZZ1JZXW000702"

ACL = f"""
[assign]
password = "service"

[users]
ops = "operator"
"{CAR}" = "vehicle"
"{OTHER}" = "vehicle"

[roles.vehicle]
client_ids = ["{{identity}}"]
publish = ["vehicles/{{identity}}/telemetry/#", "vehicles/{{identity}}/command-status/#"]
subscribe = ["vehicles/{{identity}}/commands/#"]

[roles.service]
publish = ["broadcast/#"]
subscribe = ["vehicles/+/telemetry/#", "services/commands/#"]

[roles.operator]
publish = ["#"]
subscribe = ["#"]
"""


class ConsentTelemetryTest(BrokerTestCase):
    @classmethod
    def broker_options(cls):
        return {"settings": {"auth.allow_anonymous": False, "auth.failure_delay_ms": 0},
                "files": {"auth.acl_file": ACL},
                "passwords": {"insurer": "pw1", "ops": "pw2", CAR: "car", OTHER: "car"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)
        for vin in (CAR, OTHER):
            assert cls.api.post("/api/v1/vehicles", {"vin": vin}).status == 201

    def client(self, user, password, client_id=None, **kw):
        c = Client(self.broker.port, client_id or user, V5, **kw)
        c.paho.username_pw_set(user, password)
        c.connect()
        self.addCleanup(c.close)
        return c

    def grant(self, purpose, vin=CAR, subject="insurer"):
        r = self.api.post(f"/api/v1/vehicles/{vin}/consents", {"subject": subject, "purpose": purpose})
        self.assertEqual(r.status, 201, r)

    def revoke(self, purpose, vin=CAR, subject="insurer"):
        self.assertEqual(self.api.delete(f"/api/v1/vehicles/{vin}/consents/{subject}/{purpose}").status, 204)

    def dropped(self):
        for line in self.api.get("/metrics").body.splitlines():
            if line.startswith('convoy_drops_total{reason="no_consent"}'):
                return int(float(line.split()[-1]))
        self.fail("no no_consent drop counter")

    def publish(self, car, suffix, value, qos=1, retain=False):
        car.publish(f"vehicles/{car.client_id}/telemetry/{suffix}", json.dumps(value), qos=qos, retain=retain)

    def test_telemetry_follows_grant_and_revocation(self):
        car = self.client(CAR, "car")
        other = self.client(OTHER, "car")
        insurer = self.client("insurer", "pw1", "insurer-live")
        insurer.subscribe("vehicles/+/telemetry/#", qos=1)
        ops = self.client("ops", "pw2", "ops-live")
        ops.subscribe("vehicles/+/telemetry/#", qos=1)
        before = self.dropped()
        self.publish(car, "location", {"lat": 1})
        self.assertEqual(json.loads(ops.expect().payload), {"lat": 1})  # operators are not gated
        insurer.expect_none()
        self.assertEqual(self.dropped(), before + 1)

        self.grant("location")
        self.publish(car, "location", {"lat": 2})
        self.assertEqual(json.loads(insurer.expect().payload), {"lat": 2})
        self.publish(car, "speed", {"kmh": 80})  # not what location covers
        self.publish(other, "location", {"lat": 9})  # another vehicle's consent
        insurer.expect_none()
        self.grant("telemetry")
        self.publish(car, "speed", {"kmh": 81})
        self.assertEqual(insurer.expect().topic, f"vehicles/{CAR}/telemetry/speed")

        # Revocation applies to the very next message.
        self.revoke("telemetry")
        self.revoke("location")
        self.publish(car, "location", {"lat": 3})
        self.publish(car, "speed", {"kmh": 82})
        insurer.expect_none()
        self.assertEqual(len(ops.drain()), 6)  # every one of them, ungated

    def test_retained_telemetry_needs_consent_too(self):
        car = self.client(CAR, "car")
        self.publish(car, "location/last", {"lat": 5}, retain=True)
        first = self.client("insurer", "pw1", "insurer-retained-1")
        first.subscribe(f"vehicles/{CAR}/telemetry/location/#", qos=1)
        first.expect_none()
        self.grant("location")
        second = self.client("insurer", "pw1", "insurer-retained-2")
        second.subscribe(f"vehicles/{CAR}/telemetry/location/#", qos=1)
        m = second.expect()
        self.assertEqual((m.topic, m.retain), (f"vehicles/{CAR}/telemetry/location/last", True))
        self.revoke("location")
        car.publish(f"vehicles/{CAR}/telemetry/location/last", b"", qos=1, retain=True)

    def test_withheld_messages_of_a_persistent_session_are_released(self):
        car = self.client(CAR, "car")
        durable = props(PacketTypes.CONNECT, SessionExpiryInterval=300)
        insurer = self.client("insurer", "pw1", "insurer-durable", clean=False, properties=durable)
        insurer.subscribe(f"vehicles/{CAR}/telemetry/#", qos=1)
        insurer.disconnect()
        # Offline, without consent: nothing may be queued for it, in memory
        # or in storage.
        for i in range(5):
            self.publish(car, "location", {"n": i})
        self.grant("location")
        self.publish(car, "location", {"n": "allowed"})
        car.close()
        self.broker.restart()
        self.__class__.api = self.api = Api(self.broker.http_port)
        again = self.client("insurer", "pw1", "insurer-durable", clean=False, properties=durable)
        m = again.expect()
        self.assertEqual(json.loads(m.payload), {"n": "allowed"})
        again.expect_none()
        self.revoke("location")

if __name__ == "__main__":
    unittest.main()
