"""Routing across a three-node cluster on a real etcd, with paho clients in
MQTT 3.1.1 and 5.0: a message published on one node reaches the matching
subscribers of every node (exact filters and wildcards, QoS 0, 1 and 2,
each subscriber once, at its own QoS); it crosses to another node once,
however many subscribers wait there; a shared subscription's members on two
other nodes share its messages, each message once; an unsubscribe on one
node stops deliveries from every node; a killed node's subscribers drop out
of the routes and the others go on receiving."""

import re
import unittest

from cluster_util import ClusterTestCase, counter, wait_until
from http_api import Api
from paho_util import V311, V5, Client


class RoutingTest(ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.nodes = self.start_members(("a", "b", "c"))
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        super().tearDown()

    def client(self, node, name, version=V5):
        c = Client(self.nodes[node].port, f"{name}-{version}", version)
        c.connect()
        self.clients.append(c)
        return c

    def wait_for_retained(self, node, topics, name):
        """Until a new subscriber to state/# on `node` gets a retained
        message for every topic: each node learns of a slice's move from its
        own view of etcd, so a subscription made before its view is current
        may miss some."""
        def complete():
            sub = self.client(node, f"{name}-{node}")
            sub.subscribe("state/#", 1)
            got = set()
            try:
                while True:
                    got.add(sub.expect(timeout=0.5).topic)
            except AssertionError:
                pass
            sub.close()
            return got == set(topics) or None
        wait_until(f"every retained message on {node}", complete, timeout=15, interval=0.2)

    def test_publish_reaches_subscribers_on_every_node_at_their_qos(self):
        for version in (V311, V5):
            with self.subTest(version=version):
                wild_b = self.client("b", "wild-b", version)
                exact_c = self.client("c", "exact-c", version)
                local_a = self.client("a", "local-a", version)
                self.assertEqual(wild_b.subscribe("fleet/+/telemetry", 1), [1])
                self.assertEqual(exact_c.subscribe("fleet/V1/telemetry", 2), [2])
                self.assertEqual(local_a.subscribe("fleet/#", 0), [0])
                pub = self.client("a", "pub", version)
                for qos in (0, 1, 2):
                    pub.publish("fleet/V1/telemetry", f"q{qos}".encode(), qos=qos)
                pub.publish("fleet/V2/telemetry", b"other", qos=1)
                got_b = wild_b.expect_n(4)
                self.assertEqual([m.payload for m in got_b], [b"q0", b"q1", b"q2", b"other"])
                self.assertEqual([m.qos for m in got_b], [0, 1, 1, 1])
                got_c = exact_c.expect_n(3)
                self.assertEqual([m.payload for m in got_c], [b"q0", b"q1", b"q2"])
                self.assertEqual([m.qos for m in got_c], [0, 1, 2])
                self.assertEqual(len(local_a.expect_n(4)), 4)
                for c in (wild_b, exact_c, local_a):
                    c.expect_none(0.3)  # each subscriber once, no echo from another node
                for c in (wild_b, exact_c, local_a, pub):
                    c.close()

    def test_one_message_per_destination_node_whatever_its_subscribers(self):
        subs = [self.client("b", f"many-{i}") for i in range(10)]
        for s in subs:
            s.subscribe("broadcast/all", 1)
        pub = self.client("a", "pub")
        sent_before = counter(self.nodes["a"], "cluster_routes_sent")
        received_before = counter(self.nodes["b"], "cluster_routes_received")
        pub.publish("broadcast/all", b"hello", qos=1)
        for s in subs:
            self.assertEqual(s.expect().payload, b"hello")
        self.assertEqual(counter(self.nodes["a"], "cluster_routes_sent") - sent_before, 1)
        self.assertEqual(counter(self.nodes["b"], "cluster_routes_received") - received_before, 1)
        # Node c has no subscriber: nothing went there.
        self.assertEqual(counter(self.nodes["c"], "cluster_routes_received"), 0)

    def test_shared_subscription_members_on_two_nodes_share_the_messages(self):
        on_b = self.client("b", "worker-b")
        on_c = self.client("c", "worker-c")
        on_b.subscribe("$share/workers/jobs/#", 1)
        on_c.subscribe("$share/workers/jobs/#", 1)
        pub = self.client("a", "pub")
        sent = [f"job-{i}".encode() for i in range(20)]
        for p in sent:
            pub.publish("jobs/new", p, qos=1)
        got_b = [m.payload for m in on_b.expect_n(10)]
        got_c = [m.payload for m in on_c.expect_n(10)]
        on_b.expect_none(0.3)
        on_c.expect_none(0.3)
        self.assertEqual(sorted(got_b + got_c), sorted(sent))  # each once across the group

    def test_unsubscribe_on_one_node_stops_deliveries_from_every_node(self):
        sub = self.client("b", "leaving")
        sub.subscribe("news/#", 1)
        pub = self.client("c", "pub")
        pub.publish("news/1", b"before", qos=1)
        self.assertEqual(sub.expect().payload, b"before")
        sub.unsubscribe("news/#")
        pub.publish("news/2", b"after", qos=1)
        sub.expect_none(0.5)

    def test_retained_messages_reach_new_subscribers_on_every_node(self):
        # Topics spread over the slices, so that their homes are on
        # different members.
        topics = [f"state/car{i}/doors" for i in range(12)]
        for version in (V311, V5):
            with self.subTest(version=version):
                pub = self.client("a", "retainer", version)
                for t in topics:
                    pub.publish(t, f"{t} {version}".encode(), qos=1, retain=True)
                for node in ("a", "b", "c"):
                    sub = self.client(node, f"late-{node}", version)
                    sub.subscribe("state/#", 1)
                    got = sorted((m.topic, m.payload, m.retain) for m in sub.expect_n(len(topics)))
                    self.assertEqual(got, sorted((t, f"{t} {version}".encode(), True) for t in topics))
                    sub.expect_none(0.2)
                    sub.close()
                # Deleted from another node: gone for everyone.
                other = self.client("c", "deleter", version)
                for t in topics:
                    other.publish(t, b"", qos=1, retain=True)
                for node in ("a", "b"):
                    sub = self.client(node, f"after-{node}", version)
                    sub.subscribe("state/#", 1)
                    sub.expect_none(0.5)
                    sub.close()
                pub.close()
                other.close()
        # The API of any node lists what the homes keep.
        pub = self.client("b", "api-retainer")
        for t in topics:
            pub.publish(t, b"kept", qos=1, retain=True)
        listed = set()
        for t in topics:
            r = Api(self.nodes["c"].http_port).get(f"/api/v1/retained/{t}")
            if r.status == 200:
                listed.add(t)
        self.assertEqual(listed, set(topics))

    def test_retained_messages_move_with_their_slices_when_a_member_joins(self):
        topics = [f"state/car{i}/doors" for i in range(40)]
        pub = self.client("a", "retainer")
        for t in topics:
            pub.publish(t, t.encode(), qos=1, retain=True)
        d = self.member("d")
        self.nodes["d"] = d

        def d_holds_topic_slices():
            v = self.view(d)
            held = [r for r in v["slices"] if r["kind"] == "topic" and r["holder"] == "d"]
            settled = all(r["state"] == "owned" for r in v["slices"])
            return settled and len(held) > 0 and held
        held = wait_until("d owning its topic slices", d_holds_topic_slices, timeout=20)
        self.assertGreater(len(held), 0)
        for node in ("a", "b", "c", "d"):
            self.wait_for_retained(node, topics, "after-join")

    def test_a_stopping_member_hands_its_retained_messages_over(self):
        topics = [f"state/car{i}/doors" for i in range(40)]
        pub = self.client("a", "retainer")
        for t in topics:
            pub.publish(t, t.encode(), qos=1, retain=True)
        held_by_b = [r for r in self.view(self.nodes["a"])["slices"]
                     if r["kind"] == "topic" and r["holder"] == "b"]
        self.assertGreater(len(held_by_b), 0)
        b = self.nodes.pop("b")
        b.stop()  # SIGTERM, checked: a clean exit; without the hand-over b's slices' messages go
        for node in ("a", "c"):
            self.wait_for_retained(node, topics, "after-stop")

    def test_a_killed_nodes_subscribers_drop_out_and_the_rest_go_on(self):
        on_b = self.client("b", "stays")
        on_c = self.client("c", "dies")
        on_b.subscribe("alerts/#", 1)
        on_c.subscribe("alerts/#", 1)
        pub = self.client("a", "pub")
        pub.publish("alerts/1", b"both", qos=1)
        self.assertEqual(on_b.expect().payload, b"both")
        self.assertEqual(on_c.expect().payload, b"both")
        self.nodes["c"].kill()
        # While a's link to c times out, routes to c fail by their timeout;
        # b gets every message all along.
        for i in range(5):
            pub.publish(f"alerts/{i}", b"after", qos=1, timeout=10)
        self.assertEqual(len(on_b.expect_n(5)), 5)
        wait_until("a seeing its link to c go down",
                   lambda: re.search(r"link to c \(incarnation \d+\) is down", self.nodes["a"].log()),
                   timeout=10)


if __name__ == "__main__":
    unittest.main()
