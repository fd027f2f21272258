"""Consent records over the management API ([consent]): grant, list, check,
revoke taking effect at once, expiry, durability across a restart, a
purposes file of the operator's own, and the errors of each."""

import os
import time
import unittest

from broker import BrokerTestCase, NodeTestCase, write_file
from http_api import Api, quote

VIN = "WVWZZZ1JZXW000321"


class ConsentTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)
        assert cls.api.post("/api/v1/vehicles", {"vin": VIN}).status == 201

    def base(self, vin=VIN):
        return f"/api/v1/vehicles/{vin}/consents"

    def check(self, subject, topic=None, command=None, vin=VIN):
        q = f"subject={quote(subject)}"
        q += f"&topic={quote(topic)}" if topic else f"&command={quote(command)}"
        r = self.api.get(f"{self.base(vin)}/check?{q}")
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_grant_check_revoke(self):
        self.assertFalse(self.check("fleet-app", topic=f"vehicles/{VIN}/telemetry/location")["allowed"])
        r = self.api.post(self.base(), {"subject": "fleet-app", "purpose": "location"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json["subject"], r.json["purpose"], r.json["expiresAt"]), ("fleet-app", "location", None))
        self.assertEqual(self.check("fleet-app", topic=f"vehicles/{VIN}/telemetry/location/gps"),
                         {"allowed": True, "purpose": "location"})
        verdict = self.check("fleet-app", topic=f"vehicles/{VIN}/telemetry/speed")
        self.assertFalse(verdict["allowed"])
        self.assertIn("no consent", verdict["reason"])
        self.assertFalse(self.check("other-app", topic=f"vehicles/{VIN}/telemetry/location")["allowed"])
        self.assertFalse(self.check("fleet-app", command="lock-doors")["allowed"])
        self.api.post(self.base(), {"subject": "fleet-app", "purpose": "remote-control"})
        self.assertTrue(self.check("fleet-app", command="lock-doors")["allowed"])
        # Revocation applies to the very next check.
        self.assertEqual(self.api.delete(f"{self.base()}/fleet-app/remote-control").status, 204)
        self.assertFalse(self.check("fleet-app", command="lock-doors")["allowed"])
        self.assertEqual(self.api.delete(f"{self.base()}/fleet-app/remote-control").status, 404)
        self.assertTrue(self.check("fleet-app", topic=f"vehicles/{VIN}/telemetry/location")["allowed"])
        self.api.delete(f"{self.base()}/fleet-app/location")

    def test_list_is_paged_by_subject_and_purpose(self):
        for subject in ("a-app", "b-app", "c-app"):
            for purpose in ("location", "diagnostics"):
                self.assertEqual(self.api.post(self.base(), {"subject": subject, "purpose": purpose}).status, 201)
        seen, after = [], ""
        while True:
            r = self.api.get(f"{self.base()}?limit=4&after={quote(after)}").json
            seen += [(c["subject"], c["purpose"]) for c in r["data"]]
            if r["next"] is None:
                break
            after = r["next"]
        mine = [s for s in seen if s[0] in ("a-app", "b-app", "c-app")]
        self.assertEqual(mine, sorted((s, p) for s in ("a-app", "b-app", "c-app") for p in ("location", "diagnostics")))
        for subject in ("a-app", "b-app", "c-app"):
            for purpose in ("location", "diagnostics"):
                self.api.delete(f"{self.base()}/{subject}/{purpose}")

    def test_consents_expire(self):
        r = self.api.post(self.base(), {"subject": "short-app", "purpose": "telemetry", "ttlSeconds": 1})
        self.assertEqual(r.status, 201, r)
        self.assertIsInstance(r.json["expiresAt"], int)
        self.assertTrue(self.check("short-app", topic=f"vehicles/{VIN}/telemetry/x")["allowed"])
        deadline = time.monotonic() + 5
        while self.check("short-app", topic=f"vehicles/{VIN}/telemetry/x")["allowed"]:
            self.assertLess(time.monotonic(), deadline, "the consent did not expire")
            time.sleep(0.1)
        listed = [c["subject"] for c in self.api.get(self.base()).json["data"]]
        self.assertNotIn("short-app", listed)

    def test_errors(self):
        cases = [
            ({"purpose": "location"}, 400, "\"subject\" is required"),
            ({"subject": "x"}, 400, "\"purpose\" is required"),
            ({"subject": "x", "purpose": "nothing"}, 400, "unknown purpose"),
            ({"subject": "x", "purpose": "location", "ttlSeconds": 0}, 400, "ttlSeconds"),
            ({"subject": "x", "purpose": "location", "expiresAt": 1000}, 400, "expire before"),
            ({"subject": "x", "purpose": "location", "expiresAt": 1, "ttlSeconds": 5}, 400, "not both"),
            ({"subject": "x\n", "purpose": "location"}, 400, "control characters"),
        ]
        for body, status, part in cases:
            with self.subTest(body=body):
                r = self.api.post(self.base(), body)
                self.assertEqual(r.status, status, r)
                self.assertIn(part, r.json["message"])
        r = self.api.post(self.base("NOTREGISTERED0000"), {"subject": "x", "purpose": "location"})
        self.assertEqual(r.status, 404)
        self.assertIn("not registered", r.json["message"])
        for query, part in (("", "subject"), ("subject=x", "one of"), ("subject=x&topic=a&command=b", "one of"),
                            ("subject=x&topic=a/%23", "topic")):
            r = self.api.get(f"{self.base()}/check?{query}")
            self.assertEqual(r.status, 400, (query, r))
            self.assertIn(part, r.json["message"])

    def test_purposes_are_listed(self):
        names = {p["name"]: p for p in self.api.get("/api/v1/consent-purposes").json["data"]}
        self.assertEqual(set(names), {"telemetry", "location", "diagnostics", "remote-control"})
        self.assertIn("lock-doors", names["remote-control"]["commands"])

    def test_grants_and_revocations_survive_a_restart(self):
        self.api.post(self.base(), {"subject": "kept-app", "purpose": "diagnostics"})
        self.api.post(self.base(), {"subject": "gone-app", "purpose": "diagnostics"})
        self.api.delete(f"{self.base()}/gone-app/diagnostics")
        self.broker.restart()
        self.assertTrue(self.check("kept-app", command="read-dtc")["allowed"])
        self.assertFalse(self.check("gone-app", command="read-dtc")["allowed"])
        self.api.delete(f"{self.base()}/kept-app/diagnostics")


class PurposesFileTest(NodeTestCase):
    def test_a_purposes_file_replaces_the_builtin_catalog(self):
        broker = self.node(files={"consent.purposes_file": '[purposes.ev-charging]\ndescription = "Charging"\n'
                                  'topics = ["vehicles/{vin}/telemetry/battery/#"]\ncommands = ["charging"]\n'})
        api = Api(broker.http_port)
        self.assertEqual([p["name"] for p in api.get("/api/v1/consent-purposes").json["data"]], ["ev-charging"])
        api.post("/api/v1/vehicles", {"vin": VIN})
        self.assertEqual(api.post(f"/api/v1/vehicles/{VIN}/consents",
                                  {"subject": "cpo", "purpose": "location"}).status, 400)
        self.assertEqual(api.post(f"/api/v1/vehicles/{VIN}/consents",
                                  {"subject": "cpo", "purpose": "ev-charging"}).status, 201)
        r = api.get(f"/api/v1/vehicles/{VIN}/consents/check?subject=cpo&topic="
                    f"{quote(f'vehicles/{VIN}/telemetry/battery/soc')}").json
        self.assertEqual(r, {"allowed": True, "purpose": "ev-charging"})

    def test_a_bad_purposes_file_stops_the_node_naming_it(self):
        path = write_file(os.path.join(self.temp_dir(), "purposes.toml"), '[purposes.bad]\ntopics = ["elsewhere/#"]\n')
        p = self.node_exits({"consent.purposes_file": path})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{path}:1", p.output)
        self.assertIn("must start with vehicles/{vin}/", p.output)


if __name__ == "__main__":
    unittest.main()
