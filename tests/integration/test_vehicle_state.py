"""Last known vehicle state ([state]): telemetry published by vehicles
(JSON, nested JSON, plain values) sets fields with their times; GET
/api/v1/vehicles/{vin}/state and /history show them; the state survives a
restart; binary payloads and other topics leave it alone."""

import json
import time
import unittest

from broker import BrokerTestCase, NodeTestCase
from http_api import Api
from paho_util import V5, V311, Client

VIN = "WVWZZZ1JZXW000456"


class VehicleStateTest(BrokerTestCase):
    settings = {"state.history_size": 5}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)

    def state(self, vin=VIN, wanted=None):
        """The state once it holds `wanted` fields (telemetry is routed asynchronously)."""
        deadline = time.monotonic() + 5
        while True:
            r = self.api.get(f"/api/v1/vehicles/{vin}/state")
            if r.status == 200 and all(f in r.json["fields"] for f in (wanted or [])):
                return r.json
            self.assertLess(time.monotonic(), deadline, f"state never held {wanted}: {r}")
            time.sleep(0.05)

    def test_fields_history_and_restart(self):
        car = Client(self.broker.port, VIN, V5)
        car.connect()
        before = int(time.time() * 1000)
        car.publish(f"vehicles/{VIN}/telemetry/battery", json.dumps({"soc": 81, "temp": {"cell": 21.5}}), qos=1)
        car.publish(f"vehicles/{VIN}/telemetry", json.dumps({"speed": 50, "gear": "D"}), qos=1)
        car.publish(f"vehicles/{VIN}/telemetry/doors/front", b"locked", qos=1)
        car.publish(f"vehicles/{VIN}/telemetry/blob", bytes([0xFF, 0x00, 0xFE]), qos=1)
        car.publish(f"vehicles/{VIN}/status", json.dumps({"ignored": True}), qos=1)
        s = self.state(wanted=["battery.soc", "speed", "doors.front"])
        f = s["fields"]
        self.assertEqual(f["battery.soc"]["value"], 81)
        self.assertEqual(f["battery.temp.cell"]["value"], 21.5)
        self.assertEqual((f["speed"]["value"], f["gear"]["value"], f["doors.front"]["value"]), (50, "D", "locked"))
        self.assertGreaterEqual(f["speed"]["at"], before - 1000)
        self.assertNotIn("blob", f)
        self.assertNotIn("ignored", f)
        # A new value replaces the old; the history keeps the latest 5 changes, newest first.
        for soc in (80, 79, 78):
            car.publish(f"vehicles/{VIN}/telemetry/battery", json.dumps({"soc": soc}), qos=1)
        deadline = time.monotonic() + 5
        while self.state()["fields"]["battery.soc"]["value"] != 78:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        history = self.api.get(f"/api/v1/vehicles/{VIN}/history").json["data"]
        self.assertEqual(len(history), 5)
        self.assertEqual([h["value"] for h in history[:3]], [78, 79, 80])
        soc = self.api.get(f"/api/v1/vehicles/{VIN}/history?field=battery.soc&limit=2").json["data"]
        self.assertEqual([h["value"] for h in soc], [78, 79])
        times = [h["at"] for h in history]
        self.assertEqual(times, sorted(times, reverse=True))
        car.close()
        # Durable: a restart brings it back.
        self.broker.restart()
        again = self.state(wanted=["battery.soc"])
        self.assertEqual(again["fields"]["battery.soc"]["value"], 78)
        self.assertEqual(again["fields"]["gear"]["value"], "D")

    def test_many_vehicles_each_keep_their_own(self):
        cars = [Client(self.broker.port, f"MANY{i:013d}", V311) for i in range(20)]
        for i, c in enumerate(cars):
            c.connect()
            c.publish(f"vehicles/MANY{i:013d}/telemetry/odometer", str(1000 + i).encode(), qos=1)
        for i in range(20):
            self.assertEqual(self.state(f"MANY{i:013d}", ["odometer"])["fields"]["odometer"]["value"], 1000 + i)
        for c in cars:
            c.close()

    def test_unknown_vehicles_and_bad_queries(self):
        r = self.api.get("/api/v1/vehicles/NOTHINGKNOWN00000/state")
        self.assertEqual(r.status, 404)
        self.assertIn("no telemetry known", r.json["message"])
        self.assertEqual(self.api.get(f"/api/v1/vehicles/{VIN}/history?limit=0").status, 400)


class StateOffTest(NodeTestCase):
    def test_state_off_answers_404_saying_so(self):
        broker = self.node({"state.enabled": False})
        r = Api(broker.http_port).get(f"/api/v1/vehicles/{VIN}/state")
        self.assertEqual(r.status, 404)
        self.assertIn("state.enabled", r.json["message"])


if __name__ == "__main__":
    unittest.main()
