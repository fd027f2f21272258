"""Broadcast (weather, traffic): an authorized service publishes to
broadcast/{region}/..., and every vehicle of that region subscribed there
receives it, live or on reconnect; vehicles of other regions do not, may not
subscribe to other regions, and may not broadcast. Vehicles log in with
client certificates and get their region from the device registry, managed
over the HTTP API."""

import unittest

from broker import TlsTestCase
from certs import common_name, fingerprint
from http_api import Api
from paho_util import V5, V311, Client

ACL = """
[assign]
certificate = "vehicle"

[users]
weather-svc = "broadcaster"

[roles.vehicle]
client_ids = ["{identity}"]
publish = ["vehicles/{vin}/#"]
subscribe = ["vehicles/{vin}/commands/#", "broadcast/{region}/#"]

[roles.broadcaster]
publish = ["broadcast/#"]
"""


class BroadcastTest(TlsTestCase):
    settings = {"auth.allow_anonymous": False, "auth.failure_delay_ms": 0, "registry.required": True}

    @classmethod
    def broker_options(cls):
        return {**super().broker_options(), "files": {"auth.acl_file": ACL},
                "passwords": {"weather-svc": "w3ather"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.third = cls.pki.ca.issue("third", cn="WVWZZZ1JZXW000009")
        api = Api(cls.broker.http_port)
        cls.cars = {}
        for name, pair, region in (("eu1", cls.pki.device, "eu-west"), ("eu2", cls.pki.second, "eu-west"),
                                   ("us1", cls.third, "us-east")):
            vin = common_name(pair[0])
            assert api.post("/api/v1/vehicles", {"vin": vin, "region": region}).status == 201
            assert api.post(f"/api/v1/vehicles/{vin}/devices",
                            {"deviceId": "tcu", "fingerprint": fingerprint(pair[0])}).status == 201
            cls.cars[name] = (vin, pair, region)

    def car(self, name, version=V5, clean=True, **kw):
        vin, pair, _ = self.cars[name]
        c = Client(self.tls_port, vin, version, clean=clean, tls=self.pki.paho_tls(pair), **kw)
        c.connect()
        self.addCleanup(c.close)
        return c

    def service(self):
        s = Client(self.tls_port, "weather-svc-1", V5, tls=self.pki.paho_tls())
        s.paho.username_pw_set("weather-svc", "w3ather")
        s.connect()
        self.addCleanup(s.close)
        return s

    def test_a_region_receives_its_broadcasts_only(self):
        eu1, eu2, us1 = self.car("eu1"), self.car("eu2", V311), self.car("us1")
        for c, region in ((eu1, "eu-west"), (eu2, "eu-west"), (us1, "us-east")):
            self.assertEqual(c.subscribe(f"broadcast/{region}/#", qos=1), [1])
        svc = self.service()
        svc.publish("broadcast/eu-west/weather", b"storm warning", qos=1)
        for c in (eu1, eu2):
            m = c.expect()
            self.assertEqual((m.topic, m.payload), ("broadcast/eu-west/weather", b"storm warning"))
        us1.expect_none()
        svc.publish("broadcast/us-east/traffic", b"I-95 closed", qos=1)
        self.assertEqual(us1.expect().payload, b"I-95 closed")
        eu1.expect_none()
        eu2.expect_none()

    def test_vehicles_may_not_listen_to_other_regions_nor_broadcast(self):
        eu1, eu2 = self.car("eu1"), self.car("eu2")
        self.assertEqual(eu1.subscribe("broadcast/us-east/#", qos=1), [0x87])
        self.assertEqual(eu1.subscribe("broadcast/#", qos=1), [0x87])
        eu2.subscribe("broadcast/eu-west/#", qos=1)
        api = Api(self.broker.http_port)
        before = api.get("/api/v1/stats").json["counters"]["refused_publish_not_authorized"]
        eu1.publish("broadcast/eu-west/fake", b"x", qos=1)  # answered, with 0x87
        eu2.expect_none()
        after = api.get("/api/v1/stats").json["counters"]["refused_publish_not_authorized"]
        self.assertEqual(after, before + 1)

    def test_an_offline_vehicle_gets_the_broadcast_when_it_comes_back(self):
        eu2 = self.car("eu2", V311, clean=False)
        eu2.subscribe("broadcast/eu-west/#", qos=1)
        eu2.close()
        self.service().publish("broadcast/eu-west/weather", b"fog tomorrow", qos=1)
        back = self.car("eu2", V311, clean=False)
        self.assertEqual(back.expect().payload, b"fog tomorrow")

    def test_operators_broadcast_through_the_api_too(self):
        us1 = self.car("us1")
        us1.subscribe("broadcast/us-east/#", qos=1)
        r = Api(self.broker.http_port).post("/api/v1/publish", {"topic": "broadcast/us-east/recall",
                                                                 "payload": "campaign 42", "qos": 1})
        self.assertEqual(r.json["receivers"], 1)
        self.assertEqual(us1.expect().payload, b"campaign 42")


if __name__ == "__main__":
    unittest.main()
