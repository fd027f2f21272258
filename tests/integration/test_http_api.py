"""The HTTP management API ([http]): authentication with API keys and bearer
JWTs carrying the operator role, JSON errors for every kind of bad request,
every route against a live node with real MQTT clients, paging, and the
OpenAPI document checked route by route against the running node."""

import base64
import http.client
import json
import os
import re
import secrets
import time
import unittest

import jwt

from broker import BrokerTestCase, NodeTestCase, convoy, write_file
from http_api import Api, quote, raw_http
from paho_util import V5, V311, Client, props
from paho.mqtt.packettypes import PacketTypes

VIN = "WVWZZZ1JZXW000777"
FP1 = ":".join(["ab"] * 32)
FP2 = ":".join(["cd"] * 32)


def make_key(directory, name="ops"):
    """A key made by `convoy api-key`, and the keys file holding it."""
    out = convoy("api-key", name, check=True).stdout
    key = re.search(r"key:\s+(\S+)", out).group(1)
    line = re.search(r"line:\s+(.+)", out).group(1)
    path = os.path.join(directory, "api-keys")
    with open(path, "a") as f:
        f.write(line + "\n")
    return key, path


class ApiTestCase(BrokerTestCase):
    @classmethod
    def broker_options(cls):
        cls.key, cls.keys_file = make_key(cls.tmp.name)
        cls.secret = secrets.token_hex(32)
        return {"settings": {"http.api_keys_file": cls.keys_file, "jwt.enabled": True,
                             "http.max_body_bytes": 4096, **getattr(cls, "extra", {})},
                "files": {"jwt.hs256_secret_file": cls.secret}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port, key=cls.key)
        cls.anonymous = Api(cls.broker.http_port)

    def token(self, lifetime=300, **claims):
        now = int(time.time())
        body = {"sub": "ops-dashboard", "iat": now, "exp": now + lifetime}
        body.update(claims)
        return jwt.encode(body, self.secret, algorithm="HS256")

    def assertError(self, r, status, message_part=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        body = r.json
        self.assertEqual(body["status"], status)
        self.assertIsInstance(body["error"], str)
        if message_part:
            self.assertIn(message_part, body["message"])

    def client(self, client_id, version=V5, **kw):
        c = Client(self.broker.port, client_id, version, **kw)
        c.connect()
        return c


class AuthTest(ApiTestCase):
    def test_without_credentials_the_api_answers_401_and_probes_answer(self):
        r = self.anonymous.get("/api/v1/node")
        self.assertError(r, 401, "credentials required")
        self.assertIn("Bearer", r.headers.get("WWW-Authenticate", ""))
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
            self.assertEqual(self.anonymous.get(path).status, 200, path)

    def test_api_keys_in_either_header(self):
        self.assertEqual(self.api.get("/api/v1/node").status, 200)
        self.assertEqual(self.anonymous.get("/api/v1/node", headers={"Authorization": f"Bearer {self.key}"}).status, 200)
        self.assertError(self.anonymous.get("/api/v1/node", headers={"X-API-Key": "wrong"}), 401, "unknown API key")
        self.assertError(self.anonymous.get("/api/v1/node", headers={"X-API-Key": self.key[:-1]}), 401)

    def test_bearer_jwts_need_the_operator_role(self):
        ok = Api(self.broker.http_port, token=self.token(role="operator"))
        self.assertEqual(ok.get("/api/v1/node").status, 200)
        ok = Api(self.broker.http_port, token=self.token(roles=["viewer", "operator"]))
        self.assertEqual(ok.get("/api/v1/stats").status, 200)
        self.assertError(Api(self.broker.http_port, token=self.token(role="viewer")).get("/api/v1/node"), 403,
                         "does not have the role 'operator'")
        self.assertError(Api(self.broker.http_port, token=self.token(lifetime=-120, role="operator")).get("/api/v1/node"),
                         401, "expired")
        forged = jwt.encode({"sub": "x", "role": "operator", "exp": int(time.time()) + 60}, "f" * 64, algorithm="HS256")
        self.assertError(Api(self.broker.http_port, token=forged).get("/api/v1/node"), 401, "bearer token refused")

    def test_a_new_key_in_the_file_works_without_a_restart(self):
        key, _ = make_key(self.tmp.name, "late")
        deadline = time.monotonic() + 5
        while Api(self.broker.http_port, key=key).get("/api/v1/node").status != 200:
            self.assertLess(time.monotonic(), deadline, "the new key was not picked up")
            time.sleep(0.2)


class BadRequestTest(ApiTestCase):
    def test_unknown_routes_and_methods(self):
        self.assertError(self.api.get("/api/v1/nothing"), 404, "no such route")
        r = self.api.call("PUT", "/api/v1/clients")
        self.assertError(r, 405)
        self.assertEqual(r.headers.get("Allow"), "GET")

    def test_bodies_that_are_not_json_objects(self):
        self.assertError(self.api.call("POST", "/api/v1/publish", raw=b"{oops", headers={"Content-Type": "application/json"}),
                         400, "not valid JSON")
        self.assertError(self.api.call("POST", "/api/v1/publish", raw=b"[1]", headers={"Content-Type": "application/json"}),
                         400, "JSON object")
        self.assertError(self.api.call("POST", "/api/v1/publish", raw=b"topic=a", headers={"Content-Type": "text/plain"}),
                         415)
        self.assertError(self.api.post("/api/v1/publish", {"topic": "a", "payload": "x" * 5000}), 413, "http.max_body_bytes")

    def test_bad_query_values(self):
        self.assertError(self.api.get("/api/v1/sessions?limit=0"), 400, "limit")
        self.assertError(self.api.get("/api/v1/sessions?limit=abc"), 400, "limit")
        self.assertError(self.api.get("/api/v1/sessions?after=%zz"), 400, "percent-encoding")
        self.assertError(self.api.get("/api/v1/retained?filter=a/%23/b"), 400, "filter")

    def test_malformed_http_gets_400_and_the_node_lives_on(self):
        answer = raw_http(self.broker.http_port, b"GARBAGE\x00\x01 nonsense\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)
        answer = raw_http(self.broker.http_port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431"), answer)
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        request = (f"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nX-API-Key: {self.key}\r\n\r\n").encode()
        last = (f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
        answer = raw_http(self.broker.http_port, request + request + last)
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 3, answer[:500])


class ClientsAndSessionsTest(ApiTestCase):
    def test_clients_are_listed_in_pages_and_filtered(self):
        clients = [self.client(f"page-{i}") for i in range(5)]
        offline = Client(self.broker.port, "page-offline", V311, clean=False)
        offline.connect()
        offline.close()
        seen, after, pages = [], "", 0
        while True:
            r = self.api.get(f"/api/v1/clients?prefix=page-&limit=2&after={quote(after)}")
            self.assertEqual(r.status, 200, r)
            body = r.json
            self.assertLessEqual(len(body["data"]), 2)
            seen += [c["clientId"] for c in body["data"]]
            pages += 1
            if body["next"] is None:
                break
            after = body["next"]
        self.assertEqual(seen, [f"page-{i}" for i in range(5)])
        self.assertGreaterEqual(pages, 3)
        sessions = [s["clientId"] for s in self.api.get("/api/v1/sessions?prefix=page-").json["data"]]
        self.assertEqual(sessions, sorted([f"page-{i}" for i in range(5)] + ["page-offline"]))
        one = self.api.get("/api/v1/clients?prefix=page-3").json["data"][0]
        self.assertEqual((one["clientId"], one["connected"], one["transport"], one["protocolVersion"]),
                         ("page-3", True, "tcp", "5.0"))
        self.assertRegex(one["peer"], r"^127\.0\.0\.1:\d+$")
        for c in clients:
            c.close()

    def test_identity_filter(self):
        a = Client(self.broker.port, "who-a", V5)
        a.paho.username_pw_set("fleet-ops")
        a.connect()
        b = self.client("who-b")
        data = self.api.get("/api/v1/clients?prefix=who-&identity=fleet-ops").json["data"]
        self.assertEqual([c["clientId"] for c in data], ["who-a"])
        self.assertEqual(data[0]["identity"], "fleet-ops")
        a.close()
        b.close()

    def test_one_client_with_subscriptions_and_kick(self):
        c = self.client("kick-me", properties=props(PacketTypes.CONNECT, SessionExpiryInterval=300))
        c.subscribe("fleet/+/status", qos=1)
        c.subscribe("fleet/alerts", qos=2)
        r = self.api.get("/api/v1/clients/kick-me")
        self.assertEqual(r.status, 200, r)
        filters = sorted((s["filter"], s["qos"]) for s in r.json["subscriptions"])
        self.assertEqual(filters, [("fleet/+/status", 1), ("fleet/alerts", 2)])
        self.assertEqual(r.json["subscriptionCount"], 2)
        self.assertEqual(self.api.get("/api/v1/sessions/kick-me/subscriptions").json["data"][0]["filter"], "fleet/+/status")
        page = self.api.get("/api/v1/sessions/kick-me/subscriptions?limit=1").json
        self.assertEqual(([s["filter"] for s in page["data"]], page["next"]), (["fleet/+/status"], "fleet/+/status"))
        page = self.api.get("/api/v1/sessions/kick-me/subscriptions?limit=1&after=" + quote(page["next"])).json
        self.assertEqual(([s["filter"] for s in page["data"]], page["next"]), (["fleet/alerts"], None))
        self.assertEqual(self.api.delete("/api/v1/clients/kick-me").status, 204)
        c.wait_disconnected()
        self.assertEqual(c.server_disconnect_reason, 0x98)
        self.assertError(self.api.delete("/api/v1/clients/kick-me"), 404, "not connected")
        self.assertError(self.api.get("/api/v1/clients/kick-me"), 404, "not connected")
        self.assertError(self.api.get("/api/v1/clients/nobody"), 404, "no session")
        c.close()

    def test_client_ids_with_slashes_and_spaces_are_reached_percent_encoded(self):
        c = self.client("tcu/eu west+1")
        r = self.api.get("/api/v1/clients/" + quote("tcu/eu west+1"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["clientId"], "tcu/eu west+1")
        c.close()

    def test_sessions_persist_offline_and_are_discarded(self):
        p = Client(self.broker.port, "keep-me", V311, clean=False)
        p.connect()
        p.subscribe("keep/#", qos=1)
        p.close()
        self.api.post("/api/v1/publish", {"topic": "keep/a", "payload": "queued", "qos": 1})
        s = self.api.get("/api/v1/sessions/keep-me").json
        self.assertEqual((s["connected"], s["queued"], s["subscriptionCount"]), (False, 1, 1))
        self.assertEqual(self.api.delete("/api/v1/sessions/keep-me").status, 204)
        deadline = time.monotonic() + 5
        while self.api.get("/api/v1/sessions/keep-me").status != 404:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        again = Client(self.broker.port, "keep-me", V311, clean=False)
        self.assertFalse(again.connect().session_present)
        again.close()
        self.assertError(self.api.delete("/api/v1/sessions/keep-me-not"), 404)


class PublishAndRetainedTest(ApiTestCase):
    def test_publish_reaches_subscribers_with_properties(self):
        sub = self.client("pub-watch")
        sub.subscribe("api/pub/#", qos=2)
        r = self.api.post("/api/v1/publish", {"topic": "api/pub/a", "payload": "hello", "qos": 1,
                                               "contentType": "text/plain", "userProperties": {"source": "api"},
                                               "responseTopic": "api/reply", "correlationData": "c-1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"receivers": 1, "refused": 0})
        m = sub.expect()
        self.assertEqual((m.topic, m.payload, m.qos), ("api/pub/a", b"hello", 1))
        self.assertEqual(m.properties["ContentType"], "text/plain")
        self.assertEqual(m.properties["UserProperty"], [("source", "api")])
        self.assertEqual(m.properties["ResponseTopic"], "api/reply")
        binary = bytes(range(256))
        r = self.api.post("/api/v1/publish", {"topic": "api/pub/bin", "payload": base64.b64encode(binary).decode(),
                                               "payloadEncoding": "base64", "qos": 2})
        self.assertEqual(r.json["receivers"], 1)
        self.assertEqual(sub.expect().payload, binary)
        self.assertEqual(self.api.post("/api/v1/publish", {"topic": "nobody/listens"}).json["receivers"], 0)
        sub.close()

    def test_bad_publishes(self):
        for body, part in (({}, "\"topic\" is required"),
                           ({"topic": "a/+"}, "not a valid topic"),
                           ({"topic": "$SYS/x"}, "'$'"),
                           ({"topic": "a", "qos": 3}, "\"qos\""),
                           ({"topic": "a", "qos": "1"}, "\"qos\""),
                           ({"topic": "a", "payload": 5}, "must be a string"),
                           ({"topic": "a", "payload": "***", "payloadEncoding": "base64"}, "base64"),
                           ({"topic": "a", "payloadEncoding": "hex"}, "utf8 or base64"),
                           ({"topic": "a", "retain": "yes"}, "\"retain\""),
                           ({"topic": "a", "userProperties": {"k": 1}}, "userProperties")):
            with self.subTest(body=body):
                self.assertError(self.api.post("/api/v1/publish", body), 400, part)

    def test_retained_messages_listed_got_and_deleted(self):
        for i in range(5):
            self.api.post("/api/v1/publish", {"topic": f"ret/car{i}/state", "payload": f"s{i}", "qos": 1, "retain": True})
        self.api.post("/api/v1/publish", {"topic": "other/x", "payload": "o", "retain": True})
        seen, after = [], ""
        while True:
            r = self.api.get(f"/api/v1/retained?filter={quote('ret/+/state')}&limit=2&after={quote(after)}").json
            seen += [m["topic"] for m in r["data"]]
            if r["next"] is None:
                break
            after = r["next"]
        self.assertEqual(seen, [f"ret/car{i}/state" for i in range(5)])
        r = self.api.get("/api/v1/retained/" + quote("ret/car2/state"))
        self.assertEqual((r.status, r.json["payload"], r.json["qos"]), (200, "s2", 1))
        self.assertEqual(self.api.delete("/api/v1/retained/" + quote("ret/car2/state")).status, 204)
        self.assertError(self.api.get("/api/v1/retained/" + quote("ret/car2/state")), 404)
        self.assertError(self.api.delete("/api/v1/retained/" + quote("ret/car2/state")), 404)
        self.assertError(self.api.get("/api/v1/retained/" + quote("ret/#")), 400)
        # The plain topic as the rest of the path, each level percent-decoded.
        r = self.api.get("/api/v1/retained/ret/car1/state")
        self.assertEqual((r.status, r.json["topic"], r.json["payload"]), (200, "ret/car1/state", "s1"))
        self.assertEqual(self.api.get("/api/v1/retained/ret%2Fcar1/state").json["payload"], "s1")
        self.assertEqual(self.api.get("/api/v1/retained/%72et/car1/state").json["payload"], "s1")
        self.assertError(self.api.get("/api/v1/retained/ret/car1"), 404)
        self.assertError(self.api.get("/api/v1/retained/ret/+/state"), 400, "not a valid topic name")
        self.assertError(self.api.get("/api/v1/retained/ret/%23"), 400, "not a valid topic name")
        self.assertError(self.api.get("/api/v1/retained/ret/%zz/state"), 404)
        self.api.post("/api/v1/publish", {"topic": "ret/a b//ü", "payload": "odd", "retain": True})
        r = self.api.get("/api/v1/retained/ret/" + quote("a b") + "//" + quote("ü"))
        self.assertEqual((r.status, r.json.get("topic")), (200, "ret/a b//ü"), r)
        self.assertEqual(self.api.delete("/api/v1/retained/ret/car1/state").status, 204)
        self.assertError(self.api.get("/api/v1/retained/ret/car1/state"), 404)
        self.assertError(self.api.delete("/api/v1/retained/ret/car1/state"), 404)
        self.assertEqual(self.api.call("PUT", "/api/v1/retained/ret/car3/state", body={}).status, 405)
        late = self.client("ret-late")
        late.subscribe("ret/car2/state", qos=1)
        late.expect_none()
        late.subscribe("ret/car3/state", qos=1)
        self.assertEqual(late.expect().payload, b"s3")
        late.close()


class RegistryTest(ApiTestCase):
    def test_vehicle_and_device_lifecycle(self):
        r = self.api.post("/api/v1/vehicles", {"vin": VIN, "model": "ID.4", "region": "eu-west"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json["vin"], r.json["status"], r.json["devices"]), (VIN, "active", []))
        self.assertError(self.api.post("/api/v1/vehicles", {"vin": VIN}), 409)
        self.assertEqual(self.api.get(f"/api/v1/vehicles/{VIN}").json["model"], "ID.4")
        r = self.api.patch(f"/api/v1/vehicles/{VIN}", {"region": "eu-north"})
        self.assertEqual((r.status, r.json["region"], r.json["model"]), (200, "eu-north", "ID.4"))
        r = self.api.post(f"/api/v1/vehicles/{VIN}/devices", {"deviceId": "tcu-1", "fingerprint": FP1})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["devices"][0]["deviceId"], "tcu-1")
        r = self.api.post(f"/api/v1/vehicles/{VIN}/devices/tcu-1/suspend")
        self.assertEqual(r.json["devices"][0]["status"], "suspended")
        r = self.api.post(f"/api/v1/vehicles/{VIN}/devices/tcu-1/activate")
        self.assertEqual(r.json["devices"][0]["status"], "active")
        r = self.api.post(f"/api/v1/vehicles/{VIN}/devices/tcu-1/replace", {"deviceId": "tcu-2", "fingerprint": FP2})
        self.assertEqual(r.status, 200, r)
        states = {d["deviceId"]: d["status"] for d in r.json["devices"]}
        self.assertEqual(states["tcu-2"], "active")
        self.assertNotEqual(states.get("tcu-1", "gone"), "active")
        r = self.api.post(f"/api/v1/vehicles/{VIN}/devices/tcu-2/revoke")
        self.assertEqual({d["deviceId"]: d["status"] for d in r.json["devices"]}["tcu-2"], "revoked")
        self.assertEqual(self.api.post(f"/api/v1/vehicles/{VIN}/suspend").json["status"], "suspended")
        self.assertEqual(self.api.post(f"/api/v1/vehicles/{VIN}/activate").json["status"], "active")
        self.assertEqual(self.api.delete(f"/api/v1/vehicles/{VIN}").status, 204)
        self.assertError(self.api.get(f"/api/v1/vehicles/{VIN}"), 404)

    def test_vehicles_are_listed_in_pages_with_filters_and_survive_a_restart(self):
        vins = [f"LIST{i:013d}" for i in range(9)]
        for i, vin in enumerate(vins):
            self.assertEqual(self.api.post("/api/v1/vehicles", {"vin": vin, "model": "ID.3",
                                                                 "region": "eu" if i % 3 else "us"}).status, 201)
        self.api.post(f"/api/v1/vehicles/{vins[4]}/suspend")
        self.api.post(f"/api/v1/vehicles/{vins[4]}/devices", {"deviceId": "tcu", "fingerprint": FP1})

        def listed(query):
            seen, after = [], ""
            while True:
                r = self.api.get(f"/api/v1/vehicles?{query}&limit=2&after={quote(after)}")
                self.assertEqual(r.status, 200, r)
                self.assertLessEqual(len(r.json["data"]), 2)
                seen += [v["vin"] for v in r.json["data"] if v["vin"].startswith("LIST")]
                if r.json["next"] is None:
                    return seen
                after = r.json["next"]

        self.assertEqual(listed("x=1"), vins)
        self.assertEqual(listed("region=us"), [vins[0], vins[3], vins[6]])
        self.assertEqual(listed("status=suspended"), [vins[4]])
        self.assertError(self.api.get("/api/v1/vehicles?status=gone"), 400, "status")
        # After a restart the pages come from storage.
        self.broker.restart()
        self.assertEqual(listed("x=1"), vins)
        one = [v for v in self.api.get(f"/api/v1/vehicles?after={vins[3]}&limit=1").json["data"]][0]
        self.assertEqual((one["vin"], one["status"], one["devices"][0]["deviceId"]), (vins[4], "suspended", "tcu"))
        # A deletion shows at once.
        self.api.delete(f"/api/v1/vehicles/{vins[1]}")
        self.assertNotIn(vins[1], listed("x=1"))

    def test_registry_errors(self):
        self.assertError(self.api.post("/api/v1/vehicles", {"model": "x"}), 400, "\"vin\" is required")
        self.assertError(self.api.post("/api/v1/vehicles", {"vin": 7}), 400, "must be a string")
        self.assertError(self.api.get("/api/v1/vehicles/NOSUCHVIN0000000"), 404)
        self.api.post("/api/v1/vehicles", {"vin": "WVWZZZ1JZXW000888"})
        self.assertError(self.api.post("/api/v1/vehicles/WVWZZZ1JZXW000888/devices", {"deviceId": "x"}), 400,
                         "\"fingerprint\" are required")
        self.assertError(self.api.post("/api/v1/vehicles/WVWZZZ1JZXW000888/devices/none/suspend"), 404)


class NodeTest(ApiTestCase):
    def test_node_status_and_stats(self):
        node = self.api.get("/api/v1/node").json
        self.assertEqual(node["name"], "convoy-1")
        protocols = {l["protocol"]: l["port"] for l in node["listeners"]}
        self.assertEqual(protocols["mqtt"], self.broker.port)
        self.assertEqual(protocols["ws"], self.broker.ws_port)
        self.assertEqual(protocols["http"], self.broker.http_port)
        self.assertGreater(node["residentMemoryBytes"], 1 << 20)
        before = self.api.get("/api/v1/stats").json["counters"]["refused_api_unauthorized"]
        self.anonymous.get("/api/v1/stats")
        after = self.api.get("/api/v1/stats").json
        self.assertEqual(after["counters"]["refused_api_unauthorized"], before + 1)
        self.assertIn("queuedMessages", after["gauges"])

    def test_readyz_and_healthz(self):
        self.assertEqual(self.anonymous.get("/readyz").json, {"status": "ready"})
        self.assertEqual(self.anonymous.get("/healthz").json, {"status": "ok"})


class OpenApiTest(ApiTestCase):
    """Every operation of /api/v1/openapi.json, called on the live node with
    parameters that exist and that do not, answers only with statuses the
    document lists, and secured ones refuse missing credentials with 401."""

    def test_every_documented_operation_answers_as_documented(self):
        doc = self.anonymous.get("/api/v1/openapi.json").json
        self.assertTrue(doc["openapi"].startswith("3."))
        self.api.post("/api/v1/vehicles", {"vin": "WVWZZZ1JZXW000999"})
        self.api.post("/api/v1/vehicles/WVWZZZ1JZXW000999/devices", {"deviceId": "d1", "fingerprint": FP1})
        self.api.post("/api/v1/publish", {"topic": "doc/t", "payload": "x", "retain": True})
        c = self.client("doc-client")
        command = self.api.post("/api/v1/vehicles/WVWZZZ1JZXW000999/commands",
                                {"command": "lock-doors", "ttlSeconds": 60}).json["id"]
        values = {"clientId": ["doc-client", "absent-client"], "vin": ["WVWZZZ1JZXW000999", "ABSENT0000000000"],
                  "deviceId": ["d1", "absent"], "topic": ["doc/t", "absent/t"],
                  "commandId": [command, "c000000000000absent"], "name": ["doc-rule", "absent-rule"]}
        bodies = {"/api/v1/publish": {"topic": "doc/t2", "payload": "y"},
                  "/api/v1/vehicles": {"vin": "WVWZZZ1JZXW001000"},
                  "/api/v1/vehicles/{vin}": {"model": "Golf"},
                  "/api/v1/vehicles/{vin}/devices": {"deviceId": "d2", "fingerprint": FP2},
                  "/api/v1/vehicles/{vin}/devices/{deviceId}/replace": {"deviceId": "d3", "fingerprint": FP2},
                  "/api/v1/vehicles/{vin}/commands": {"command": "climate", "ttlSeconds": 60},
                  "/api/v1/rules/test": {"topic": "vehicles/V/telemetry/x", "payload": "{}"},
                  "/api/v1/rules/{name}": {"topic": "doc/#", "actions": ["deliver"]},
                  "/api/v1/archives/{name}": {"gzip": True},
                  "/api/v1/webhooks/{name}": {"url": "http://127.0.0.1:9/doc"}}
        checked = 0
        # Reads first, then writes, deletes last: later calls still find things.
        order = {"get": 0, "post": 1, "patch": 1, "put": 1, "delete": 2}
        ops = sorted(((p, m, o) for p, item in doc["paths"].items() for m, o in item.items()),
                     key=lambda t: order[t[1]])
        for path, method, op in ops:
            for variant in (0, 1):
                concrete = path
                for name, choices in values.items():
                    concrete = concrete.replace("{" + name + "}", quote(choices[variant]))
                if variant == 1 and concrete == path:
                    continue
                with self.subTest(method=method, path=concrete):
                    body = bodies.get(path) if method in ("post", "patch", "put") else None
                    if "text/event-stream" in op["responses"].get("200", {}).get("content", {}):
                        # A stream that goes on: its status and type are what is checked.
                        conn = http.client.HTTPConnection("127.0.0.1", self.broker.http_port, timeout=10)
                        conn.request("GET", concrete, headers={"X-API-Key": self.api.key} if self.api.key else {})
                        answer = conn.getresponse()
                        self.assertIn(str(answer.status), op["responses"], concrete)
                        if answer.status == 200:
                            self.assertEqual(answer.getheader("Content-Type"), "text/event-stream")
                            self.assertTrue(answer.readline().startswith(b"id: 0"))
                        conn.close()
                        self.assertEqual(self.anonymous.call(method.upper(), concrete).status, 401)
                        checked += 1
                        continue
                    r = self.api.call(method.upper(), concrete, body=body)
                    self.assertIn(str(r.status), op["responses"], f"{method} {concrete}: {r}")
                    if r.status >= 400:
                        self.assertIn("message", r.json)
                    elif r.headers.get("Content-Type") == "application/json" and r.body:
                        r.json  # parses
                    if op.get("security", None) != []:
                        anon = self.anonymous.call(method.upper(), concrete, body=body)
                        self.assertEqual(anon.status, 401)
                        self.assertIn("401", op["responses"])
                    checked += 1
        self.assertGreaterEqual(checked, 40)
        c.close()


class GarbageTest(ApiTestCase):
    """Random bytes and random JSON at the HTTP and WebSocket ports (seeded,
    bounded): every answer is a client error, never a 5xx, and the node
    lives on."""

    def test_random_bytes_and_requests(self):
        import random
        rng = random.Random(1234)
        for i in range(150):
            blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400)))
            if i % 3 == 0:
                blob = b"GET /api/v1/" + blob + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            for port in (self.broker.http_port, self.broker.ws_port):
                try:
                    answer = raw_http(port, blob, timeout=3)
                except OSError:
                    continue
                if answer.startswith(b"HTTP/1.1 "):
                    self.assertLess(int(answer[9:12]), 500, (blob, answer[:200]))
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_random_json_bodies(self):
        import random
        rng = random.Random(99)
        values = [None, True, 0, -1, 2 ** 40, 1.5, "", "x" * 300, "a/+/b", "$x", [], {}, {"k": []}, ["a"]]
        keys = ["topic", "payload", "payloadEncoding", "qos", "retain", "messageExpiryInterval",
                "userProperties", "contentType", "responseTopic", "correlationData", "vin", "model",
                "region", "deviceId", "fingerprint", "actions", "where", "format", "archive", "webhook",
                "republishTopic", "subject", "name", "url", "caFile", "batchSize", "gzip", "flushMs", "sync"]
        targets = [("POST", "/api/v1/publish"), ("POST", "/api/v1/vehicles"),
                   ("PATCH", f"/api/v1/vehicles/{VIN}"), ("POST", f"/api/v1/vehicles/{VIN}/devices"),
                   ("POST", f"/api/v1/vehicles/{VIN}/devices/x/replace"), ("PUT", "/api/v1/rules/fuzz"),
                   ("PUT", "/api/v1/webhooks/fuzz"), ("PUT", "/api/v1/archives/fuzz")]
        self.api.post("/api/v1/vehicles", {"vin": VIN})
        for _ in range(200):
            body = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 5))}
            method, path = rng.choice(targets)
            r = self.api.call(method, path, body=body)
            self.assertLess(r.status, 500, (method, path, body, r))
            if r.status >= 400:
                self.assertIn("message", r.json)
        self.assertEqual(self.api.get("/healthz").status, 200)


class OpenByDefaultTest(NodeTestCase):
    def test_without_keys_or_jwt_the_api_is_open_on_loopback_and_the_node_warns(self):
        broker = self.node()
        self.assertEqual(Api(broker.http_port).get("/api/v1/node").status, 200)
        self.assertIn("takes requests without credentials", broker.log())

    def test_a_non_loopback_bind_without_credentials_is_refused_at_start(self):
        p = self.node_exits({"http.bind": "0.0.0.0"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("http.api_keys_file", p.stderr)

    def test_a_bad_keys_file_stops_the_node_naming_it(self):
        keys = write_file(os.path.join(self.temp_dir(), "keys"), "ops not-a-hash\n")
        p = self.node_exits({"http.api_keys_file": keys})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{keys}:1", p.output)


if __name__ == "__main__":
    unittest.main()
