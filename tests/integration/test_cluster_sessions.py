"""Sessions across a three-node cluster on a real etcd, with paho clients in
MQTT 3.1.1 and 5.0: a client id connecting to another member takes its
session over from the old one (subscriptions, queued messages, in-flight
window; the old connection gets 0x8E Session taken over), so a vehicle moving
between members behind a load balancer loses nothing, also while messages
flow; a clean start on another member ends the old session everywhere; a
session belongs to the identity that made it, on every member; a member
joining takes client slices over with their directories rebuilt from the
members, and sessions are still found."""

import threading
import time
import unittest

from cluster_util import ClusterTestCase, counter, wait_until
from http_api import Api
from paho_util import V311, V5, Client, PacketTypes, props

EXPIRY = 300  # seconds: a persistent session in MQTT 5


class SessionsAcrossMembers(ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = self.start_members(("a", "b", "c"), **self.extra_settings())
        self.clients = []

    def extra_settings(self):
        return {}

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        super().tearDown()

    def client(self, node, client_id, version=V5, clean=True, expect_success=True, **kwargs):
        properties = None
        if version == V5 and not clean:
            properties = props(PacketTypes.CONNECT, SessionExpiryInterval=EXPIRY)
        c = Client(self.nodes[node].port, client_id, version, clean=clean, properties=properties,
                   **kwargs)
        c.connect(expect_success=expect_success)
        self.clients.append(c)
        return c

    def publisher(self, node="c"):
        return self.client(node, f"pub-{node}-{time.monotonic_ns()}")

    def moved(self, node):
        return counter(self.nodes[node], "cluster_sessions_moved_in")


class TakeoverTest(SessionsAcrossMembers):
    def check_offline_session_moves(self, version):
        car = self.client("a", f"car-{version}", version, clean=False)
        self.assertEqual(car.subscribe("fleet/car/cmd", 1), [1])
        car.disconnect()
        pub = self.publisher()
        for i in range(5):
            pub.publish("fleet/car/cmd", f"queued {i}".encode(), qos=1)
        car = self.client("b", f"car-{version}", version, clean=False)
        self.assertTrue(car.connack.session_present, "the session came along from a")
        got = [m.payload for m in car.expect_n(5)]
        self.assertEqual(got, [f"queued {i}".encode() for i in range(5)])
        # The subscription lives on b now: a message published anywhere
        # reaches the car there, once.
        pub.publish("fleet/car/cmd", b"after the move", qos=1)
        self.assertEqual(car.expect().payload, b"after the move")
        car.expect_none()
        self.assertEqual(self.moved("b"), 1)
        self.assertEqual(counter(self.nodes["a"], "cluster_sessions_moved_out"), 1)
        # And back to a.
        car.disconnect()
        pub.publish("fleet/car/cmd", b"while away", qos=1)
        car = self.client("a", f"car-{version}", version, clean=False)
        self.assertTrue(car.connack.session_present)
        self.assertEqual(car.expect().payload, b"while away")
        car.expect_none()

    def test_an_offline_session_moves_with_its_subscriptions_and_queue_v311(self):
        self.check_offline_session_moves(V311)

    def test_an_offline_session_moves_with_its_subscriptions_and_queue_v5(self):
        self.check_offline_session_moves(V5)

    def test_a_connection_on_another_member_takes_the_session_over_with_0x8E(self):
        old = self.client("a", "car-live", V5, clean=False)
        old.subscribe("fleet/live/#", 1)
        new = self.client("b", "car-live", V5, clean=False)
        self.assertTrue(new.connack.session_present)
        self.assertTrue(old.wait_disconnected(), "the old connection was not closed")
        self.assertEqual(old.server_disconnect_reason, 0x8E)
        pub = self.publisher()
        pub.publish("fleet/live/door", b"unlock", qos=1)
        self.assertEqual(new.expect().payload, b"unlock")
        new.expect_none()

    def test_a_clean_start_on_another_member_ends_the_old_session(self):
        old = self.client("a", "car-clean", V5, clean=False)
        old.subscribe("fleet/clean/#", 1)
        old.disconnect()
        new = self.client("b", "car-clean", V5, clean=True)
        self.assertFalse(new.connack.session_present)
        pub = self.publisher()
        pub.publish("fleet/clean/x", b"nobody", qos=1)
        new.expect_none()
        new.disconnect()  # no session expiry: its session ends with it
        # Nothing of either session is left, on a either.
        again = self.client("a", "car-clean", V5, clean=False)
        self.assertFalse(again.connack.session_present)
        again.expect_none()

    def test_nothing_is_lost_while_a_session_moves_under_load(self):
        car = self.client("a", "car-load", V5, clean=False)
        car.subscribe("fleet/load/cmd", 1)
        pub = self.publisher()
        total = 300
        done = threading.Event()

        def publish_all():
            for i in range(total):
                pub.publish("fleet/load/cmd", str(i).encode(), qos=1)
                time.sleep(0.003)
            done.set()

        t = threading.Thread(target=publish_all, daemon=True)
        t.start()
        received = []
        wait_until("the first messages on a", lambda: car.messages.qsize() >= 30)
        received += car.drain()
        moved = self.client("b", "car-load", V5, clean=False)
        self.assertTrue(moved.connack.session_present)
        self.assertTrue(done.wait(30), "the publisher did not finish")
        t.join()
        received += car.drain()
        deadline = time.monotonic() + 10
        got = set()
        fresh = []  # first deliveries (no DUP): each message once
        while time.monotonic() < deadline:
            for m in received:
                got.add(int(m.payload))
                if not m.dup:
                    fresh.append(int(m.payload))
            received = moved.drain()
            if len(got) == total:
                break
            time.sleep(0.1)
        self.assertEqual(sorted(set(range(total)) - got), [], "acknowledged messages lost")
        doubled = sorted({i for i in fresh if fresh.count(i) > 1})
        self.assertEqual(doubled, [], "messages delivered twice, not as resends")


class ApiAnywhereTest(SessionsAcrossMembers):
    def test_the_api_and_ctl_of_any_member_answer_for_a_session_held_on_another(self):
        car = self.client("a", "car-api", V5, clean=False)
        car.subscribe("fleet/api/#", 1)
        api = Api(self.nodes["c"].http_port)
        r = api.get("/api/v1/sessions/car-api")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["connected"])
        self.assertEqual([s["filter"] for s in r.json["subscriptions"]], ["fleet/api/#"])
        self.assertEqual(api.get("/api/v1/clients/car-api").status, 200)
        out = self.nodes["b"].ctl("client", "car-api")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("fleet/api/#", out.stdout)
        self.assertEqual(api.get("/api/v1/sessions/nobody").status, 404)
        # An operator on c disconnects the client on a; its session stays.
        self.assertEqual(api.delete("/api/v1/clients/car-api").status, 204)
        self.assertTrue(car.wait_disconnected())
        self.assertEqual(car.server_disconnect_reason, 0x98)
        r = api.get("/api/v1/sessions/car-api")
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["connected"])
        self.assertEqual(api.delete("/api/v1/sessions/car-api").status, 204)
        wait_until("the session gone everywhere",
                   lambda: api.get("/api/v1/sessions/car-api").status == 404)


    def test_session_listings_of_any_member_cover_every_member(self):
        for node in ("a", "b", "c"):
            for i in range(2):
                c = self.client(node, f"list-{node}{i}", V5, clean=False)
                c.disconnect()
        api = Api(self.nodes["b"].http_port)
        r = api.get("/api/v1/sessions?prefix=list-")
        self.assertEqual(r.status, 200, r)
        ids = [s["clientId"] for s in r.json["data"]]
        self.assertEqual(ids, sorted(f"list-{n}{i}" for n in "abc" for i in range(2)))
        # Page by page, in order, each once.
        seen, after = [], None
        while True:
            r = api.get("/api/v1/sessions?prefix=list-&limit=4" + (f"&after={after}" if after else ""))
            self.assertEqual(r.status, 200, r)
            seen += [s["clientId"] for s in r.json["data"]]
            after = r.json["next"]
            if after is None:
                break
        self.assertEqual(seen, ids)
        out = self.nodes["c"].ctl("sessions")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for cid in ids:
            self.assertIn(cid, out.stdout)


class OwnershipTest(SessionsAcrossMembers):
    def extra_settings(self):
        return {}

    def setUp(self):
        ClusterTestCase.setUp(self)
        users = {"alice": "alice-pw", "bob": "bob-pw"}
        names = ("a", "b", "c")
        self.nodes = {}
        for n in names:
            self.nodes[n] = self.member(n, passwords=users)
        for node in self.nodes.values():
            self.wait_members(node, set(names))
        for name, node in self.nodes.items():
            wait_until(f"{name} seeing every slice owned",
                       lambda: all(r["state"] == "owned" for r in self.view(node)["slices"]),
                       timeout=15)
        self.clients = []

    def login(self, c, user):
        c.paho.username_pw_set(user, f"{user}-pw")
        return c

    def test_another_identity_cannot_take_a_session_over_from_another_member(self):
        for version in (V311, V5):
            cid = f"shared-{version}"
            alice = Client(self.nodes["a"].port, cid, version, clean=False,
                           properties=props(PacketTypes.CONNECT, SessionExpiryInterval=EXPIRY)
                           if version == V5 else None)
            self.login(alice, "alice").connect()
            self.clients.append(alice)
            alice.subscribe("fleet/alice/#", 1)
            alice.disconnect()
            bob = Client(self.nodes["b"].port, cid, version, clean=False)
            self.clients.append(bob)
            connack = self.login(bob, "bob").connect(expect_success=False)
            self.assertEqual(connack.reason, 0x87 if version == V5 else 5)
            # Alice's session is where she left it, for her, on any member.
            again = Client(self.nodes["c"].port, cid, version, clean=False,
                           properties=props(PacketTypes.CONNECT, SessionExpiryInterval=EXPIRY)
                           if version == V5 else None)
            self.clients.append(again)
            self.assertTrue(self.login(again, "alice").connect().session_present)
            again.disconnect()


class DirectoryMovesTest(SessionsAcrossMembers):
    def test_sessions_are_found_after_a_member_joins_and_takes_client_slices_over(self):
        ids = [f"car-{i}" for i in range(12)]
        for cid in ids:
            c = self.client("a", cid, V5, clean=False)
            c.subscribe(f"fleet/{cid}/cmd", 1)
            c.disconnect()
        self.nodes["d"] = self.member("d")
        for node in self.nodes.values():
            self.wait_members(node, set(self.nodes))

        def d_holds_client_slices():
            rows = [r for r in self.view(self.nodes["d"])["slices"] if r["kind"] == "client"]
            return sum(1 for r in rows if r["holder"] == "d" and r["state"] == "owned") > 0
        wait_until("d owning client slices", d_holds_client_slices, timeout=20)
        self.nodes["d"].wait_for_log("routing with a through", timeout=10)
        time.sleep(1)  # the directories d took over collect the members' reports
        pub = self.publisher("c")
        for cid in ids:
            pub.publish(f"fleet/{cid}/cmd", b"hello", qos=1)
        for cid in ids:
            c = self.client("b", cid, V5, clean=False)
            self.assertTrue(c.connack.session_present, f"{cid} lost its session")
            self.assertEqual(c.expect().payload, b"hello")
            c.disconnect()


if __name__ == "__main__":
    unittest.main()
