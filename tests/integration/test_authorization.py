"""Authorization (auth.acl_file) over real TLS: vehicles log in with client
certificates made by the openssl CLI, services with passwords, and every
publish, subscribe, client id and will is checked against the role's topic
templates. Sessions belong to the identity that made them. Rule changes
reach connected clients at once. Each case runs in MQTT 3.1.1 and 5.0."""

import json
import time
import unittest

from broker import NodeTestCase, TlsTestCase
from certs import client_context
from paho_util import V5, V311, Client, MqttTimeout, props
from paho.mqtt.packettypes import PacketTypes
from raw_mqtt import Conn, connect_bytes, publish_bytes

VIN1 = "WVWZZZ1JZXW000001"  # the CN of Pki.device
VIN2 = "WVWZZZ1JZXW000002"  # the CN of Pki.second
RELOAD_MS = 200

ACL = """
[assign]
certificate = "vehicle"
password = "service"

[users]
ops = "operator"

[roles.vehicle]
client_ids = ["{identity}", "{identity}-*"]
publish = ["vehicles/{vin}/telemetry/#", "vehicles/{vin}/status", "vehicles/{vin}/commands/+/response"]
subscribe = ["vehicles/{vin}/commands/#", "broadcast/#"]

[roles.service]
client_ids = ["svc-{username}-*"]
publish = ["vehicles/+/commands/#", "broadcast/#"]
subscribe = ["vehicles/+/telemetry/#", "vehicles/+/status", "vehicles/+/commands/+/response"]

[roles.operator]
publish = ["#"]
subscribe = ["#"]
"""

NOT_AUTHORIZED = {V5: 0x87, V311: 5}  # CONNACK
SUBACK_REFUSED = {V5: 0x87, V311: 0x80}


class AuthorizationTests:
    """Mixed into a test case that sets `version`."""

    settings = {
        "auth.allow_anonymous": False, "auth.failure_delay_ms": 0, "auth.reload_interval_ms": RELOAD_MS,
        # These tests are about the rules alone: the service role's
        # telemetry is not consent-gated here (test_consent_telemetry).
        "consent.service_roles": "",
    }

    @classmethod
    def broker_options(cls):
        return {**super().broker_options(), "files": {"auth.acl_file": ACL},
                "passwords": {"dispatch": "s3cret", "ops": "0ps"}}

    def write_acl(self, text):
        self.broker.write("auth.acl_file", text)

    def restore_acl(self):
        """Puts the original rules back and waits until the node has them."""
        before = self.broker.log().count("access rules reloaded")
        self.write_acl(ACL)
        self.wait_reloads(before + 1)

    def wait_reloads(self, count, timeout=5):
        self.broker.wait_for_log("access rules reloaded", count, timeout)

    def vehicle(self, client_id=VIN1, pair=None, **kw):
        c = Client(self.tls_port, client_id, self.version,
                   tls=self.pki.paho_tls(pair or self.pki.device), **kw)
        self.addCleanup(c.close)
        return c

    def service(self, user="dispatch", password="s3cret", client_id=None, **kw):
        c = Client(self.tls_port, client_id or f"svc-{user}-{self.version}", self.version,
                   tls=self.pki.paho_tls(), **kw)
        c.paho.username_pw_set(user, password)
        self.addCleanup(c.close)
        return c

    def operator(self, client_id=None):
        return self.service("ops", "0ps", client_id or f"ops-console-{self.version}")

    # ---- topics ----

    def test_a_vehicle_publishes_only_its_own_telemetry(self):
        ops = self.operator()
        ops.connect()
        ops.subscribe("vehicles/#", qos=1)
        car = self.vehicle()
        car.connect()
        car.publish(f"vehicles/{VIN1}/telemetry/speed", b"88", qos=1)
        self.assertEqual(ops.expect().payload, b"88")
        for topic in (f"vehicles/{VIN2}/telemetry/speed", f"vehicles/{VIN1}/commands/lock",
                      "broadcast/eu/weather"):
            with self.subTest(topic=topic):
                # MQTT 5 says Not authorized in the PUBACK; 3.1.1 acknowledges
                # as usual (it has no way to refuse) and drops the message.
                car.publish(topic, b"spoofed", qos=1)
                ops.expect_none()
        car.publish(f"vehicles/{VIN1}/status", b"online", qos=0)
        self.assertEqual(ops.expect().payload, b"online")

    def test_a_refused_publish_is_answered_in_its_acknowledgement(self):
        ctx = client_context(self.pki.ca.cert, *self.pki.device)
        c = Conn(self.tls_port, self.version, tls=ctx)
        self.addCleanup(c.close)
        c.send(connect_bytes(f"{VIN1}-raw-{self.version}", version=self.version))
        self.assertEqual(c.read()[0], 0x20)
        c.send(publish_bytes(f"vehicles/{VIN2}/status", b"x", qos=1, pid=7, version=self.version))
        c.send(publish_bytes(f"vehicles/{VIN2}/status", b"x", qos=2, pid=8, version=self.version))
        puback, pubrec = c.read(), c.read()
        if self.version == V5:
            self.assertEqual(puback, (0x40, b"\x00\x07\x87"))
            self.assertEqual(pubrec, (0x50, b"\x00\x08\x87"))
        else:
            # 3.1.1: acknowledged as usual, and the QoS 2 exchange completes.
            self.assertEqual(puback, (0x40, b"\x00\x07"))
            self.assertEqual(pubrec, (0x50, b"\x00\x08"))
            c.send(bytes([0x62, 2, 0, 8]))  # PUBREL
            self.assertEqual(c.read(), (0x70, b"\x00\x08"))
        # Still connected, and allowed topics still work.
        c.send(publish_bytes(f"vehicles/{VIN1}/status", b"x", qos=1, pid=9, version=self.version))
        self.assertEqual(c.read()[0], 0x40)

    def test_subscriptions_outside_the_role_are_refused(self):
        car = self.vehicle()
        car.connect()
        granted = car.subscribe([(f"vehicles/{VIN1}/commands/#", 1), (f"vehicles/{VIN2}/commands/#", 1),
                                 ("vehicles/#", 1), ("broadcast/#", 0), ("#", 0)])
        refused = SUBACK_REFUSED[self.version]
        self.assertEqual(granted, [1, refused, refused, 0, refused])
        svc = self.service()
        svc.connect()
        svc.publish(f"vehicles/{VIN1}/commands/lock", b"lock", qos=1)
        self.assertEqual(car.expect().payload, b"lock")
        svc.publish(f"vehicles/{VIN2}/commands/lock", b"not for you", qos=1)
        car.expect_none()
        # A service may not listen to commands meant for vehicles.
        self.assertEqual(svc.subscribe(f"vehicles/{VIN1}/commands/#"), [refused])
        self.assertEqual(svc.subscribe("$share/workers/vehicles/+/telemetry/#"), [0])

    # ---- client ids and sessions ----

    def test_client_ids_are_bound_to_identities(self):
        for client_id, ok in ((VIN1, True), (f"{VIN1}-infotainment", True), (VIN2, False),
                              ("anything", False), ("", False)):
            with self.subTest(client_id=client_id):
                c = self.vehicle(client_id=client_id)
                connack = c.connect(expect_success=False)
                self.assertEqual(connack.reason, 0 if ok else NOT_AUTHORIZED[self.version])
                c.close()
        svc = self.service(client_id=f"svc-ops-{self.version}")  # dispatch posing as ops
        self.assertEqual(svc.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])

    def test_a_hijack_is_refused_and_the_victim_keeps_its_queue(self):
        session = {"clean": False}
        if self.version == V5:
            session["properties"] = props(PacketTypes.CONNECT, SessionExpiryInterval=300)
        victim_id = f"{VIN1}-hijack-{self.version}"
        victim = self.vehicle(client_id=victim_id, **session)
        victim.connect()
        victim.subscribe(f"vehicles/{VIN1}/commands/#", qos=1)
        victim.disconnect()
        svc = self.service()
        svc.connect()
        for i in range(3):
            svc.publish(f"vehicles/{VIN1}/commands/unlock", b"cmd%d" % i, qos=1)
        # Another vehicle's certificate may not use the id at all; an
        # operator may use any id, but not a session another identity owns.
        thief = self.vehicle(client_id=victim_id, pair=self.pki.second, **session)
        self.assertEqual(thief.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        ops = Client(self.tls_port, victim_id, self.version, tls=self.pki.paho_tls(), **session)
        ops.paho.username_pw_set("ops", "0ps")
        self.addCleanup(ops.close)
        self.assertEqual(ops.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        self.assertIn("the session belongs to", self.broker.log())
        # Clean start is no way in either: it would discard the victim's session.
        ops2 = Client(self.tls_port, victim_id, self.version, tls=self.pki.paho_tls(), clean=True)
        ops2.paho.username_pw_set("ops", "0ps")
        self.addCleanup(ops2.close)
        self.assertEqual(ops2.connect(expect_success=False).reason, NOT_AUTHORIZED[self.version])
        back = self.vehicle(client_id=victim_id, **session)
        connack = back.connect()
        self.assertTrue(connack.session_present)
        self.assertEqual([m.payload for m in back.expect_n(3)], [b"cmd0", b"cmd1", b"cmd2"])

    # ---- wills ----

    def test_wills_are_published_only_where_their_client_may_publish(self):
        ops = self.operator()
        ops.connect()
        ops.subscribe("vehicles/#", qos=1)
        for topic, published in ((f"vehicles/{VIN1}/status", True),
                                 (f"vehicles/{VIN2}/status", False)):
            with self.subTest(topic=topic):
                car = self.vehicle(client_id=f"{VIN1}-will-{self.version}",
                                   will={"topic": topic, "payload": b"offline", "qos": 1})
                car.connect()
                car.drop()
                if published:
                    m = ops.expect()
                    self.assertEqual((m.topic, m.payload), (topic, b"offline"))
                else:
                    ops.expect_none(quiet=1.0)

    # ---- changing rules ----

    def test_a_rule_change_applies_to_connected_clients_within_a_second(self):
        self.addCleanup(self.restore_acl)
        car = self.vehicle()
        car.connect()
        car.subscribe("broadcast/#", qos=1)
        car.subscribe(f"vehicles/{VIN1}/commands/#", qos=1)
        svc = self.service()
        svc.connect()
        ops = self.operator()
        ops.connect()
        ops.subscribe(f"vehicles/{VIN1}/telemetry/#", qos=1)
        svc.publish("broadcast/eu/weather", b"sun", qos=1)
        self.assertEqual(car.expect().payload, b"sun")
        before = self.broker.log().count("access rules reloaded")
        self.write_acl(ACL.replace('subscribe = ["vehicles/{vin}/commands/#", "broadcast/#"]',
                                   'subscribe = ["vehicles/{vin}/commands/#"]')
                          .replace('publish = ["vehicles/{vin}/telemetry/#", ',
                                   'publish = ['))
        changed = time.monotonic()
        self.wait_reloads(before + 1)
        self.assertLess(time.monotonic() - changed, 1.0)
        time.sleep(0.1)  # the sessions handle the change
        svc.publish("broadcast/eu/weather", b"rain", qos=1)
        car.expect_none()
        car.publish(f"vehicles/{VIN1}/telemetry/speed", b"10", qos=1)
        ops.expect_none()
        # What is still allowed keeps working, on the same connection.
        svc.publish(f"vehicles/{VIN1}/commands/lock", b"lock", qos=1)
        self.assertEqual(car.expect().payload, b"lock")
        self.assertFalse(car.disconnected.is_set())
        self.assertIn(f"subscription 'broadcast/#' removed", self.broker.log())

    def test_a_broken_rule_file_keeps_the_rules_in_force(self):
        self.addCleanup(self.restore_acl)
        self.write_acl(ACL + '\n[roles.bad]\npublish = ["{nope}"]\n')
        self.broker.wait_for_log("auth.acl_file not reloaded")
        self.assertIn("unknown placeholder {nope}", self.broker.log())
        car = self.vehicle()
        car.connect()
        self.assertEqual(car.subscribe(f"vehicles/{VIN1}/commands/#", qos=1), [1])


class AuthorizationV311(AuthorizationTests, TlsTestCase):
    version = V311


class AuthorizationV5(AuthorizationTests, TlsTestCase):
    version = V5


class ResumeUnderNewRulesTest(NodeTestCase):
    """A persistent session stored under old rules loses, when it comes back
    after a restart, the subscriptions the new rules no longer allow."""

    def test_restored_subscriptions_are_checked_again(self):
        pki = self.pki()
        broker = self.node({"auth.allow_anonymous": False}, tls=pki.tls(), files={"auth.acl_file": ACL},
                           passwords={"dispatch": "s3cret"})
        tls_port = broker.tls_port
        for version in (V5, V311):
            session = {"clean": False}
            if version == V5:
                session["properties"] = props(PacketTypes.CONNECT, SessionExpiryInterval=300)
            car = Client(tls_port, f"{VIN1}-{version}", version, tls=pki.paho_tls(pki.device), **session)
            car.connect()
            car.subscribe("broadcast/#", qos=1)
            car.subscribe(f"vehicles/{VIN1}/commands/#", qos=1)
            car.disconnect()
        broker.stop(keep_data=True)
        broker.write("auth.acl_file", ACL.replace('"vehicles/{vin}/commands/#", "broadcast/#"',
                                                  '"vehicles/{vin}/commands/#"'))
        broker.start()
        svc = Client(tls_port, "svc-dispatch-1", V5, tls=pki.paho_tls())
        svc.paho.username_pw_set("dispatch", "s3cret")
        self.addCleanup(svc.close)
        svc.connect()
        # Both sessions are offline: the command is queued for each, the
        # broadcast for neither.
        svc.publish("broadcast/eu/weather", b"storm", qos=1)
        svc.publish(f"vehicles/{VIN1}/commands/lock", b"lock", qos=1)
        for version in (V5, V311):
            with self.subTest(version=version):
                car = Client(tls_port, f"{VIN1}-{version}", version, tls=pki.paho_tls(pki.device),
                             **({"clean": False} if version == V311 else
                                {"clean": False, "properties": props(PacketTypes.CONNECT,
                                                                     SessionExpiryInterval=300)}))
                self.addCleanup(car.close)
                self.assertTrue(car.connect().session_present)
                self.assertEqual(car.expect().payload, b"lock")
                car.expect_none()
                car.close()
        self.assertIn("subscription 'broadcast/#' removed", broker.log())


if __name__ == "__main__":
    unittest.main()


class RefusalRingTest(NodeTestCase):
    """Every refusal is counted and recorded in the client's refusal ring,
    which operators read on $CONTROL/convoy/clients/v1: the why behind a
    message that did not arrive."""

    def test_each_reason_lands_in_the_ring(self):
        pki = self.pki()
        acl = (ACL.replace('publish = ["#"]', 'publish = ["#", "$CONTROL/convoy/+/v1"]')
                  .replace('subscribe = ["#"]', 'subscribe = ["#", "$CONTROL/convoy/+/v1/#"]'))
        broker = self.node({"auth.allow_anonymous": False, "auth.failure_delay_ms": 0,
                            "mqtt.max_queued_messages": 3, "mqtt.max_topic_levels": 6},
                           tls=pki.tls(), files={"auth.acl_file": acl},
                           passwords={"ops": "0ps", "dispatch": "s3cret"})
        tls_port = broker.tls_port
        for version in (V5, V311):
            with self.subTest(version=version):
                car_id = f"{VIN1}-ring-{version}"
                persistent = {"clean": False}
                if version == V5:
                    persistent["properties"] = props(PacketTypes.CONNECT, SessionExpiryInterval=300)
                car = Client(tls_port, car_id, version, tls=pki.paho_tls(pki.device), **persistent)
                self.addCleanup(car.close)
                car.connect()
                car.subscribe(f"vehicles/{VIN1}/commands/#", qos=1)
                car.subscribe(f"vehicles/{VIN2}/commands/#", qos=1)  # not authorized
                car.subscribe(f"vehicles/{VIN1}/commands/a/b/c/d/e")  # too many levels
                car.publish(f"vehicles/{VIN2}/telemetry/speed", b"1", qos=1)  # not authorized
                car.disconnect()
                svc = Client(tls_port, f"svc-dispatch-ring-{version}", V5, tls=pki.paho_tls())
                svc.paho.username_pw_set("dispatch", "s3cret")
                self.addCleanup(svc.close)
                svc.connect()
                svc.publish(f"vehicles/{VIN1}/commands/x", b"short-lived", qos=1,
                            properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
                for i in range(4):  # the queue holds 3: two are refused
                    svc.publish(f"vehicles/{VIN1}/commands/lock", b"%d" % i, qos=1)
                time.sleep(1.2)
                ops = Client(tls_port, f"ops-ring-{version}", V5, tls=pki.paho_tls())
                ops.paho.username_pw_set("ops", "0ps")
                self.addCleanup(ops.close)
                ops.connect()
                ops.subscribe("ops/ring", qos=1)
                ops.publish("$CONTROL/convoy/clients/v1",
                            json.dumps({"commands": [{"command": "getRefusals", "clientId": car_id}]}),
                            qos=1, properties=props(PacketTypes.PUBLISH, ResponseTopic="ops/ring"))
                answer = json.loads(ops.expect().payload)["responses"][0]
                self.assertTrue(answer["ok"], answer)
                seen = {(r["reason"], r["topic"], r["direction"], r["reasonCode"])
                        for r in answer["refusals"]}
                self.assertIn(("refused_subscribe_not_authorized", f"vehicles/{VIN2}/commands/#",
                               "from client", 0x87), seen)
                self.assertIn(("refused_topic_levels", f"vehicles/{VIN1}/commands/a/b/c/d/e",
                               "from client", 0x90), seen)
                self.assertIn(("refused_publish_not_authorized", f"vehicles/{VIN2}/telemetry/speed",
                               "from client", 0x87), seen)
                self.assertIn(("refused_queue_full", f"vehicles/{VIN1}/commands/lock",
                               "to client", 0x97), seen)
                # The expired message is dropped when the vehicle comes back.
                if version == V5:
                    # This time the vehicle takes packets of at most 200 bytes.
                    persistent["properties"] = props(PacketTypes.CONNECT, SessionExpiryInterval=300,
                                                     MaximumPacketSize=200)
                back = Client(tls_port, car_id, version, tls=pki.paho_tls(pki.device), **persistent)
                self.addCleanup(back.close)
                back.connect()
                self.assertEqual([m.payload for m in back.expect_n(2)], [b"0", b"1"])
                if version == V5:
                    svc.publish(f"vehicles/{VIN1}/commands/update", b"x" * 500, qos=1)
                back.expect_none()
                ops.publish("$CONTROL/convoy/clients/v1",
                            json.dumps({"commands": [{"command": "getRefusals", "clientId": car_id},
                                                     {"command": "nope"}]}),
                            qos=1, properties=props(PacketTypes.PUBLISH, ResponseTopic="ops/ring"))
                responses = json.loads(ops.expect().payload)["responses"]
                reasons = {r["reason"] for r in responses[0]["refusals"]}
                self.assertIn("dropped_expired", reasons)
                if version == V5:
                    self.assertIn("dropped_too_large_for_client", reasons)
                self.assertEqual(responses[1]["error"], 'unknown command "nope"')
                # Each reason is counted in the node's metrics too.
                ops.publish("$CONTROL/convoy/node/v1",
                            json.dumps({"commands": [{"command": "getMetrics"}]}), qos=1,
                            properties=props(PacketTypes.PUBLISH, ResponseTopic="ops/ring"))
                counters = json.loads(ops.expect().payload)["responses"][0]["counters"]
                for reason in ("refused_subscribe_not_authorized", "refused_topic_levels",
                               "refused_publish_not_authorized", "refused_queue_full",
                               "dropped_expired") + (("dropped_too_large_for_client",)
                                                     if version == V5 else ()):
                    self.assertGreater(counters[reason], 0, reason)
