"""Remote command workflows end to end: the management API submits, real
MQTT vehicles (paho, 5.0 and 3.1.1) receive and report, and every terminal
state is reached for real: succeeded, failed, rejected (unknown or
suspended vehicle, no consent, consent revoked), timed out, expired (no TTL,
TTL over), interrupted (the vehicle drops mid-command), cancelled; store-
and-forward to a vehicle that connects later, idempotency keys, long polls,
notifications, bounds and bad requests, and commands that resume after a
node restart."""

import http.client
import json
import subprocess
import time
import unittest

from broker import BrokerTestCase, NodeTestCase
from http_api import Api
from paho_util import V311, V5, Client, MqttTimeout

SUBJECT = "companion-app"
LONG = 8  # seconds a long poll may wait in these tests


def vin(n):
    return f"CMDTEST{n:010d}"


class EventStream:
    """A text/event-stream response read as a browser's EventSource would:
    events() yields {"id", "event", "data"} dicts until the node ends the
    stream."""

    def __init__(self, port, path, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=LONG + 10)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()

    def events(self):
        event = {}
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode().rstrip("\n")
            if not line:
                if event:
                    yield event
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value

    def close(self):
        self.conn.close()


class Commands:
    """Helpers over one node's API."""

    def setup_vehicle(self, v, consent=True):
        r = self.api.post("/api/v1/vehicles", {"vin": v, "model": "test", "region": "eu"})
        self.assertIn(r.status, (201, 409), r)
        if consent:
            r = self.api.post(f"/api/v1/vehicles/{v}/consents",
                              {"subject": SUBJECT, "purpose": "remote-control"})
            self.assertEqual(r.status, 201, r)

    def vehicle(self, v, version=V5, clean=True, subscribe=True):
        c = Client(self.broker.port, v, version, clean=clean)
        c.connect()
        if subscribe:
            c.subscribe(f"vehicles/{v}/commands/#", qos=1)
        self.addCleanup(c.close)
        return c

    def submit(self, v, command="lock-doors", expect=202, **fields):
        body = {"command": command, "subject": SUBJECT, **fields}
        r = self.api.post(f"/api/v1/vehicles/{v}/commands", body)
        self.assertEqual(r.status, expect, r)
        return r.json

    def get(self, v, cid, **query):
        q = "&".join(f"{k}={val}" for k, val in query.items())
        r = self.api.get(f"/api/v1/vehicles/{v}/commands/{cid}" + (f"?{q}" if q else ""),
                         timeout=LONG + 5)
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait_for(self, v, cid, status, within=LONG):
        """Long-polls until the command reaches `status` (fails on another
        terminal state or after `within` seconds)."""
        deadline = time.monotonic() + within
        c = self.get(v, cid)
        while c["status"] != status:
            if c["terminal"]:
                self.fail(f"command ended {c['status']}, not {status}: {c['timeline']}")
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"command still {c['status']} after {within} s: {c['timeline']}")
            c = self.get(v, cid, wait=max(1, min(int(left), LONG)), seen=c["events"])
        return c

    def report(self, vehicle, command_msg, status, detail=None, use_payload_topic=False):
        body = json.loads(command_msg.payload)
        topic = body["responseTopic"] if use_payload_topic else command_msg.properties["ResponseTopic"]
        payload = {"status": status}
        if detail is not None:
            payload["detail"] = detail
        vehicle.publish(topic, json.dumps(payload), qos=1)

    def statuses(self, c):
        return [e["status"] for e in c["timeline"]]


class CommandWorkflowTest(Commands, BrokerTestCase):
    settings = {"commands.max_active_per_vehicle": 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.broker.http_port)

    def test_succeeded_over_mqtt5_with_notification(self):
        v = vin(1)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        service = Client(self.broker.port, "svc-watch", V5)
        service.connect()
        self.addCleanup(service.close)
        service.subscribe(f"services/commands/{v}/+", qos=1)
        c = self.submit(v, "lock-doors", params={"doors": "all"}, timeoutSeconds=20)
        self.assertEqual(c["status"], "sent")
        self.assertEqual(c["requestedBy"], SUBJECT)
        m = car.expect()
        self.assertEqual(m.topic, f"vehicles/{v}/commands/lock-doors")
        self.assertEqual(m.qos, 1)
        self.assertEqual(m.properties["ResponseTopic"], f"vehicles/{v}/command-status/{c['id']}")
        self.assertEqual(m.properties["CorrelationData"], c["id"].encode())
        body = json.loads(m.payload)
        self.assertEqual((body["id"], body["command"], body["params"]), (c["id"], "lock-doors", {"doors": "all"}))
        self.report(car, m, "accepted")
        self.report(car, m, "in_progress", {"progress": 50})
        self.report(car, m, "succeeded", {"locked": True})
        done = self.wait_for(v, c["id"], "succeeded")
        self.assertEqual(self.statuses(done), ["received", "sent", "accepted", "in_progress", "succeeded"])
        self.assertEqual(done["result"], {"locked": True})
        self.assertTrue(done["terminal"])
        # Every event was announced on the service topic, in order.
        seen = []
        while "succeeded" not in seen:
            n = service.expect()
            self.assertEqual(n.topic, f"services/commands/{v}/{c['id']}")
            seen.append(json.loads(n.payload)["status"])
        self.assertEqual(seen, ["sent", "accepted", "in_progress", "succeeded"])
        # Listed newest first.
        listed = self.api.get(f"/api/v1/vehicles/{v}/commands").json["data"]
        self.assertEqual(listed[0]["id"], c["id"])

    def test_failed_over_mqtt311_with_the_id_in_the_payload(self):
        v = vin(2)
        self.setup_vehicle(v)
        car = self.vehicle(v, version=V311)
        c = self.submit(v, "climate", params={"celsius": 21})
        m = car.expect()
        body = json.loads(m.payload)
        self.assertEqual(body["id"], c["id"])
        self.assertEqual(body["responseTopic"], f"vehicles/{v}/command-status/{c['id']}")
        self.report(car, m, "failed", {"reason": "battery too low"}, use_payload_topic=True)
        done = self.wait_for(v, c["id"], "failed")
        self.assertEqual(done["result"], {"reason": "battery too low"})

    def test_rejected_unknown_suspended_and_without_consent(self):
        c = self.submit(vin(3), "lock-doors")  # never registered
        self.assertEqual(c["status"], "rejected")
        self.assertIn("not registered", c["detail"])
        v = vin(4)
        self.setup_vehicle(v, consent=False)
        self.vehicle(v)
        c = self.submit(v, "lock-doors")
        self.assertEqual(c["status"], "rejected")
        self.assertIn("no consent", c["detail"])
        # A command no purpose covers cannot have consent.
        self.api.post(f"/api/v1/vehicles/{v}/consents", {"subject": SUBJECT, "purpose": "remote-control"})
        self.assertEqual(self.submit(v, "self-destruct")["status"], "rejected")
        self.assertEqual(self.api.post(f"/api/v1/vehicles/{v}/suspend").status, 200)
        c = self.submit(v, "lock-doors")
        self.assertEqual(c["status"], "rejected")
        self.assertIn("suspended", c["detail"])

    def test_consent_revocation_stops_the_next_command_and_a_queued_one(self):
        v = vin(5)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        c = self.submit(v, "honk-flash")
        self.assertEqual(c["status"], "sent")
        car.expect()
        # Held for an offline vehicle, then the consent goes: it must not run.
        car.disconnect()
        queued = self.submit(v, "unlock-doors", ttlSeconds=60)
        self.assertEqual(queued["status"], "queued")
        self.assertEqual(self.api.delete(f"/api/v1/vehicles/{v}/consents/{SUBJECT}/remote-control").status, 204)
        c = self.submit(v, "lock-doors", ttlSeconds=60)
        self.assertEqual(c["status"], "rejected")
        again = self.vehicle(v)
        done = self.wait_for(v, queued["id"], "rejected")
        self.assertIn("no consent", done["detail"])
        again.expect_none()

    def test_timed_out(self):
        v = vin(6)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        c = self.submit(v, "charging", timeoutSeconds=1)
        self.report(car, car.expect(), "accepted")
        done = self.wait_for(v, c["id"], "timed_out", within=6)
        self.assertEqual(self.statuses(done)[-2:], ["accepted", "timed_out"])

    def test_expired_without_ttl_and_after_the_ttl(self):
        v = vin(7)
        self.setup_vehicle(v)
        c = self.submit(v, "lock-doors")  # offline, no TTL: fails fast
        self.assertEqual(c["status"], "expired")
        self.assertIn("offline", c["detail"])
        c = self.submit(v, "lock-doors", ttlSeconds=1)
        self.assertEqual(c["status"], "queued")
        done = self.wait_for(v, c["id"], "expired", within=6)
        self.assertEqual(self.statuses(done), ["received", "queued", "expired"])
        # Connected but not subscribed to its commands: held like offline.
        self.vehicle(v, subscribe=False)
        c = self.submit(v, "lock-doors")
        self.assertEqual(c["status"], "expired")
        self.assertIn("does not listen", c["detail"])

    def test_store_and_forward_delivers_on_connect(self):
        v = vin(8)
        self.setup_vehicle(v)
        c = self.submit(v, "climate", ttlSeconds=30, timeoutSeconds=20)
        self.assertEqual(c["status"], "queued")
        car = self.vehicle(v)
        m = car.expect()
        self.assertEqual(json.loads(m.payload)["id"], c["id"])
        self.report(car, m, "succeeded")
        done = self.wait_for(v, c["id"], "succeeded")
        self.assertEqual(self.statuses(done), ["received", "queued", "sent", "succeeded"])

    def test_interrupted_when_the_vehicle_drops(self):
        v = vin(9)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        c = self.submit(v, "unlock-doors", timeoutSeconds=30)
        self.report(car, car.expect(), "accepted")
        self.wait_for(v, c["id"], "accepted")
        car.drop()
        done = self.wait_for(v, c["id"], "interrupted")
        self.assertIn("connection closed", done["detail"])

    def test_cancelled_queued_and_sent(self):
        v = vin(10)
        self.setup_vehicle(v)
        c = self.submit(v, "lock-doors", ttlSeconds=60)
        r = self.api.post(f"/api/v1/vehicles/{v}/commands/{c['id']}/cancel")
        self.assertEqual((r.status, r.json["status"]), (200, "cancelled"), r)
        r = self.api.post(f"/api/v1/vehicles/{v}/commands/{c['id']}/cancel")
        self.assertEqual(r.status, 409, r)
        car = self.vehicle(v)
        car.expect_none()  # a cancelled command never reaches the vehicle
        c = self.submit(v, "climate", timeoutSeconds=30)
        self.assertEqual(json.loads(car.expect().payload)["id"], c["id"])
        r = self.api.post(f"/api/v1/vehicles/{v}/commands/{c['id']}/cancel")
        self.assertEqual(r.status, 200, r)
        notice = car.expect()
        self.assertEqual(notice.topic, f"vehicles/{v}/commands/climate/cancel")
        self.assertEqual(json.loads(notice.payload)["id"], c["id"])

    def test_idempotency_key(self):
        v = vin(11)
        self.setup_vehicle(v)
        first = self.submit(v, "lock-doors", ttlSeconds=60, idempotencyKey="req-1")
        again = self.api.post(f"/api/v1/vehicles/{v}/commands",
                              {"command": "lock-doors", "subject": SUBJECT, "ttlSeconds": 60},
                              headers={"Idempotency-Key": "req-1"})
        self.assertEqual((again.status, again.json["id"]), (200, first["id"]), again)
        other = self.api.post(f"/api/v1/vehicles/{v}/commands",
                              {"command": "unlock-doors", "subject": SUBJECT, "idempotencyKey": "req-1"})
        self.assertEqual(other.status, 409, other)
        self.api.post(f"/api/v1/vehicles/{v}/commands/{first['id']}/cancel")

    def test_reports_that_cannot_be_read_are_kept_in_the_timeline(self):
        v = vin(12)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        c = self.submit(v, "lock-doors", timeoutSeconds=20)
        m = car.expect()
        car.publish(m.properties["ResponseTopic"], b"not json", qos=1)
        car.publish(m.properties["ResponseTopic"], json.dumps({"status": "maybe"}), qos=1)
        self.report(car, m, "succeeded")
        done = self.wait_for(v, c["id"], "succeeded")
        ignored = [e["detail"] for e in done["timeline"] if e["detail"].startswith("ignored a report")]
        self.assertEqual(len(ignored), 2, done["timeline"])
        self.assertIn("not a JSON object", ignored[0])
        self.assertIn("\"maybe\"", ignored[1])

    def test_bounds_and_bad_requests(self):
        v = vin(13)
        self.setup_vehicle(v)
        base = f"/api/v1/vehicles/{v}/commands"
        for body, fragment in [
            ({}, "\"command\" is required"),
            ({"command": "lock/doors"}, "\"command\" must be"),
            ({"command": "lock-doors", "params": [1]}, "\"params\" must be"),
            ({"command": "lock-doors", "timeoutSeconds": 0}, "\"timeoutSeconds\""),
            ({"command": "lock-doors", "timeoutSeconds": 10**6}, "\"timeoutSeconds\""),
            ({"command": "lock-doors", "ttlSeconds": -1}, "\"ttlSeconds\""),
            ({"command": "lock-doors", "subject": ""}, "\"subject\""),
        ]:
            r = self.api.post(base, body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(fragment, r.json["message"])
        r = self.api.call("POST", base, raw=b"{nope", headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        r = self.api.post(base, {"command": "x", "params": {"blob": "y" * 20000}})
        self.assertEqual(r.status, 413, r)
        r = self.api.post("/api/v1/vehicles/bad+vin/commands", {"command": "lock-doors"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.api.get(f"{base}/c000000000000deadbeef").status, 404)
        self.assertEqual(self.api.get(f"{base}/x?wait=abc").status, 400)
        self.assertEqual(self.api.post(f"{base}/c000000000000deadbeef/cancel").status, 404)
        # At most commands.max_active_per_vehicle (3) on their way at once.
        held = [self.submit(v, "lock-doors", ttlSeconds=60)["id"] for _ in range(3)]
        r = self.api.post(base, {"command": "lock-doors", "subject": SUBJECT, "ttlSeconds": 60})
        self.assertEqual(r.status, 429, r)
        for cid in held:
            self.api.post(f"{base}/{cid}/cancel")
        self.submit(v, "lock-doors", ttlSeconds=60)
        metrics = self.api.get("/metrics").body
        self.assertRegex(metrics, r'convoy_refusals_total\{reason="command_limit"\} [1-9]')
        self.assertRegex(metrics, r"convoy_commands_cancelled_total [1-9]")

    def test_server_sent_events_follow_a_command_to_its_end(self):
        v = vin(40)
        self.setup_vehicle(v)
        car = self.vehicle(v)
        c = self.submit(v, "climate", params={"celsius": 21}, timeoutSeconds=20)
        path = f"/api/v1/vehicles/{v}/commands/{c['id']}/events"
        stream = EventStream(self.broker.http_port, path)
        self.addCleanup(stream.close)
        self.assertEqual(stream.resp.status, 200)
        self.assertEqual(stream.resp.getheader("Content-Type"), "text/event-stream")
        events = stream.events()
        self.assertEqual([next(events)["event"], next(events)["event"]], ["received", "sent"])
        m = car.expect()
        self.report(car, m, "accepted")
        accepted = next(events)
        self.assertEqual((accepted["id"], accepted["event"]), ("2", "accepted"))
        self.assertEqual(json.loads(accepted["data"])["terminal"], False)
        self.report(car, m, "succeeded", {"celsius": 21})
        last = next(events)
        data = json.loads(last["data"])
        self.assertEqual((last["event"], last["id"], data["id"], data["terminal"], data["result"]),
                         ("succeeded", "3", c["id"], True, {"celsius": 21}))
        self.assertEqual(list(events), [])  # the stream ends with the terminal event
        # A reconnecting EventSource resumes after the last event it saw.
        again = EventStream(self.broker.http_port, path, {"Last-Event-ID": "1"})
        self.addCleanup(again.close)
        self.assertEqual([e["event"] for e in again.events()], ["accepted", "succeeded"])
        # curl, as an operator would follow it.
        out = subprocess.run(["curl", "-sN", f"http://127.0.0.1:{self.broker.http_port}{path}"],
                             capture_output=True, text=True, timeout=20).stdout
        self.assertEqual(out.count("event: "), 4, out)
        self.assertIn("event: succeeded\n", out)
        # Streams that cannot start are ordinary JSON errors.
        r = self.api.get(f"/api/v1/vehicles/{v}/commands/c000000000000absent/events")
        self.assertEqual((r.status, r.json["status"]), (404, 404))
        r = self.api.get(path, headers={"Last-Event-ID": "x"})
        self.assertEqual(r.status, 400)
        self.assertIn("Last-Event-ID", r.json["message"])

    def test_an_event_stream_whose_client_leaves_ends_without_harm(self):
        v = vin(41)
        self.setup_vehicle(v)
        c = self.submit(v, "lock-doors", ttlSeconds=60)  # offline: held
        stream = EventStream(self.broker.http_port, f"/api/v1/vehicles/{v}/commands/{c['id']}/events")
        events = stream.events()
        self.assertEqual([next(events)["event"], next(events)["event"]], ["received", "queued"])
        stream.close()
        # The next event finds the client gone; the command and the node go on.
        self.assertEqual(self.api.post(f"/api/v1/vehicles/{v}/commands/{c['id']}/cancel").status, 200)
        self.assertEqual(self.wait_for(v, c["id"], "cancelled")["status"], "cancelled")
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_list_pages_newest_first(self):
        v = vin(14)
        self.setup_vehicle(v)
        made = []
        for _ in range(3):
            made.append(self.submit(v, "lock-doors")["id"])  # offline: each expires at once
            time.sleep(0.002)
        seen, before = [], ""
        while True:
            page = self.api.get(f"/api/v1/vehicles/{v}/commands?limit=2" + (f"&before={before}" if before else "")).json
            seen += [c["id"] for c in page["data"]]
            if page["next"] is None:
                break
            before = page["next"]
        self.assertEqual(seen, list(reversed(made)))


class CommandRestartTest(Commands, NodeTestCase):
    """Workflows are stored at every event and resume after a restart."""

    def setUp(self):
        self.broker = self.node()
        self.api = Api(self.broker.http_port)

    def restart(self, kill=False):
        self.broker.restart(kill=kill)
        self.api = Api(self.broker.http_port)

    def test_queued_command_survives_a_restart_and_is_delivered(self):
        v = vin(20)
        self.setup_vehicle(v)
        c = self.submit(v, "lock-doors", ttlSeconds=60, timeoutSeconds=20)
        self.assertEqual(c["status"], "queued")
        self.restart(kill=True)
        now = self.get(v, c["id"])
        self.assertEqual(now["status"], "queued")
        self.assertIn("restored after a node restart", [e["detail"] for e in now["timeline"]])
        car = self.vehicle(v)
        m = car.expect()
        self.report(car, m, "succeeded")
        self.wait_for(v, c["id"], "succeeded")

    def test_in_flight_command_resumes_and_its_timer_keeps_the_deadline(self):
        v = vin(21)
        self.setup_vehicle(v)
        car = self.vehicle(v, clean=False)
        slow = self.submit(v, "charging", timeoutSeconds=4)
        finishing = self.submit(v, "climate", timeoutSeconds=30)
        by_id = {}
        for m in car.expect_n(2):
            by_id[json.loads(m.payload)["id"]] = m
        self.report(car, by_id[slow["id"]], "accepted")
        self.report(car, by_id[finishing["id"]], "accepted")
        self.wait_for(v, finishing["id"], "accepted")
        self.wait_for(v, slow["id"], "accepted")
        started = time.monotonic()
        time.sleep(0.2)  # the last event's write reaches the data file
        # The node dies under the connected vehicle: no drop is seen, so
        # nothing is interrupted; the commands resume as stored.
        self.restart(kill=True)
        self.assertTrue(car.wait_disconnected())
        self.assertEqual(self.get(v, finishing["id"])["status"], "accepted")
        # The vehicle comes back and finishes what it accepted before.
        car = self.vehicle(v)
        self.report(car, by_id[finishing["id"]], "succeeded")
        self.wait_for(v, finishing["id"], "succeeded")
        # The other one times out at its original deadline, not later.
        self.wait_for(v, slow["id"], "timed_out", within=8)
        self.assertLess(time.monotonic() - started, 8)

    def test_a_finished_command_is_still_readable_after_a_restart(self):
        v = vin(22)
        self.setup_vehicle(v)
        c = self.submit(v, "lock-doors")
        self.assertEqual(c["status"], "expired")
        self.restart()
        now = self.get(v, c["id"])
        self.assertEqual(self.statuses(now), ["received", "expired"])


if __name__ == "__main__":
    unittest.main()
