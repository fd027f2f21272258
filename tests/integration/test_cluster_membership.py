"""Cluster membership through a real etcd: nodes join and see each other in
the API, /metrics and `convoy ctl cluster`; a member that is killed leaves
within its lease TTL and rejoins with a new incarnation; one that stops
leaves at once; a node cut off from etcd steps down (not ready, no
authority) before its lease can expire and comes back by itself; a second
node with a taken name is refused; a node started before etcd joins once
etcd is there; a node alone needs no etcd."""

import time
import unittest

from broker import Broker, NodeTestCase
from cluster_util import TTL, ClusterTestCase, wait_until
from etcd import Etcd
from http_api import Api


class MembershipTest(ClusterTestCase):
    def test_three_nodes_join_and_see_each_other_everywhere(self):
        nodes = [self.member(n) for n in ("a", "b", "c")]
        views = [self.wait_members(n, {"a", "b", "c"}) for n in nodes]
        # One incarnation per member, the same in every node's view, and
        # each node's own is the one it reports for itself.
        incarnations = {m: views[0][m]["incarnation"] for m in ("a", "b", "c")}
        self.assertEqual(len(set(incarnations.values())), 3)
        for node, view in zip(nodes, views):
            self.assertEqual({m: view[m]["incarnation"] for m in view}, incarnations)
            me = self.view(node)
            self.assertEqual(me["phase"], "member")
            self.assertEqual(me["incarnation"], incarnations[me["self"]])
            self.assertEqual(view[me["self"]]["link"], "self")
            self.assertIsNone(me["etcd"]["error"])
        # Addresses as registered: what a client or a peer dials.
        b = views[0]["b"]
        self.assertEqual((b["host"], b["mqttPort"], b["httpPort"]), ("127.0.0.1", nodes[1].port,
                                                                      nodes[1].http_port))
        # /metrics and /readyz.
        metrics = Api(nodes[0].http_port).get("/metrics").body
        self.assertIn("convoy_cluster_members 3", metrics)
        self.assertIn("convoy_cluster_authority 1", metrics)
        self.assertRegex(metrics, r'convoy_cluster_member\{member="b",incarnation="%d",link="up"\} 1'
                         % incarnations["b"])
        self.assertEqual(Api(nodes[2].http_port).get("/readyz").status, 200)
        # convoy ctl cluster, as a table and as the API's JSON.
        out = nodes[1].ctl("cluster")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"this node:\s+b\b")
        for m in ("a", "b", "c"):
            self.assertRegex(out.stdout, rf"\n{m}\s+{incarnations[m]}\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\s+"
                             rf"{'self' if m == 'b' else 'up'}\s")
        js = nodes[1].ctl("--json", "cluster")
        self.assertEqual(js.returncode, 0, js.stderr)
        self.assertIn('"incarnation":%d' % incarnations["b"], js.stdout.replace(" ", ""))
        # The log names who joined.
        nodes[0].wait_for_log("cluster test: joined as a (incarnation %d" % incarnations["a"])
        nodes[0].wait_for_log("member c (incarnation %d) joined" % incarnations["c"])

    def test_a_killed_member_leaves_within_its_ttl_and_rejoins_as_a_new_incarnation(self):
        a, b, c = (self.member(n) for n in ("a", "b", "c"))
        before = self.wait_members(a, {"a", "b", "c"})
        killed_at = time.monotonic()
        c.kill()
        # The link notices first (the socket closes), etcd within the TTL.
        self.wait_members(a, {"a", "b"}, timeout=TTL + 3)
        self.wait_members(b, {"a", "b"}, timeout=TTL + 3)
        self.assertLess(time.monotonic() - killed_at, TTL + 1.5)
        metrics = Api(a.http_port).get("/metrics").body
        self.assertRegex(metrics, r"convoy_cluster_members_left_total [1-9]")
        self.assertRegex(metrics, r"convoy_cluster_peer_links_lost_total [1-9]")
        # Back on the same data dir and ports: a new incarnation.
        c.start()
        after = self.wait_members(a, {"a", "b", "c"}, timeout=TTL + 8)
        self.assertGreater(after["c"]["incarnation"], before["c"]["incarnation"])
        self.assertEqual(after["a"]["incarnation"], before["a"]["incarnation"])
        self.wait_members(c, {"a", "b", "c"})

    def test_a_member_killed_and_restarted_at_once_waits_out_its_old_lease(self):
        a = self.member("a")
        b = self.member("b")
        old = self.wait_members(a, {"a", "b"})["b"]["incarnation"]
        b.kill()
        b.start()  # the previous incarnation's key is still there
        new = wait_until("b's new incarnation",
                         lambda: (self.members_of(a).get("b", {}).get("incarnation", old) > old
                                  and self.members_of(a)["b"]["incarnation"]), timeout=TTL + 8)
        self.assertGreater(new, old)
        b.wait_for_log("the member name 'b' is held by incarnation %d" % old)
        self.wait_members(a, {"a", "b"})

    def test_a_stopped_member_leaves_at_once(self):
        a = self.member("a")
        b = self.member("b")
        self.wait_members(a, {"a", "b"})
        stopped_at = time.monotonic()
        b.stop()  # revokes its lease on the way out
        self.wait_members(a, {"a"}, timeout=TTL)
        self.assertLess(time.monotonic() - stopped_at, 1.5)

    def test_cut_off_from_etcd_a_node_steps_down_before_its_lease_expires_and_comes_back(self):
        a = self.member("a")
        self.wait_members(a, {"a"})
        api = Api(a.http_port)
        paused_at = time.monotonic()
        self.etcd.pause()
        try:
            # Authority ends 3/4 of a TTL after the last renewal was sent.
            wait_until("a stepping down", lambda: not self.view(a)["authority"], timeout=TTL)
            self.assertLess(time.monotonic() - paused_at, TTL)
            v = self.view(a)
            self.assertEqual(v["phase"], "stepped_down")
            r = api.get("/readyz")
            self.assertEqual(r.status, 503)
            self.assertIn("not acting as a member of cluster 'test' (stepped_down)", r.body)
            self.assertRegex(api.get("/metrics").body, r"convoy_cluster_authority 0\n")
            wait_until("the failure to reach etcd in the view", lambda: self.view(a)["etcd"]["error"])
        finally:
            self.etcd.resume()
        # Back without an operator: the same incarnation if the lease
        # survived, a new one if etcd expired it meanwhile.
        wait_until("a acting as a member again", lambda: self.view(a)["authority"], timeout=TTL + 8)
        self.assertEqual(api.get("/readyz").status, 200)
        self.assertRegex(api.get("/metrics").body, r"convoy_cluster_authority_lost_total [1-9]")
        wait_until("etcd's error cleared", lambda: self.view(a)["etcd"]["error"] is None)

    def test_a_second_node_with_a_taken_name_is_refused(self):
        self.member("a")
        twin = Broker({"node.name": "a", "cluster.etcd": self.etcd.url, "cluster.name": "test",
                       "cluster.lease_ttl_seconds": TTL, "websocket.enabled": False})
        p = twin.exits(timeout=3 * TTL + 15)
        self.assertEqual(p.returncode, 1, p.output)
        self.assertIn("node.name 'a' is taken by a live member of cluster 'test'", p.output)

    def test_a_node_started_before_etcd_joins_once_etcd_answers(self):
        late = Etcd()
        self.addCleanup(late.stop)
        a = self.member("a", etcd_url=late.url)
        r = Api(a.http_port).get("/readyz")
        self.assertEqual(r.status, 503)
        self.assertIn("(joining)", r.body)
        self.assertIsNotNone(self.view(a)["etcd"]["error"])
        a.wait_for_log("not a member yet", timeout=2 * TTL + 6)
        self.assertEqual(a.log().count("Connection refused"), 1, a.log())
        late.start()
        self.wait_members(a, {"a"}, timeout=10)
        self.assertEqual(Api(a.http_port).get("/readyz").status, 200)


class SliceClaimTest(ClusterTestCase):
    """Each slice is claimed in etcd by the member rendezvous hashing picks,
    under that member's lease: one holder at most, an epoch per claim."""

    def settled(self, node, members):
        """node's slices once every one is held by its owner among members."""
        def ready():
            v = self.view(node)
            if {m["node"] for m in v["members"]} != set(members):
                return None
            if any(s["state"] != "owned" for s in v["slices"]):
                return None
            return v["slices"]
        return wait_until(f"the slices settling on {sorted(members)}", ready, timeout=TTL + 10)

    def test_slices_are_claimed_by_their_owners_and_move_when_a_member_dies(self):
        a, b, c = (self.member(n) for n in ("a", "b", "c"))
        before = self.settled(a, {"a", "b", "c"})
        # 8 topic, 4 vehicle and 16 client slices by default; every node agrees.
        self.assertEqual(sorted((s["kind"], s["slice"]) for s in before),
                         sorted([("topic", i) for i in range(8)] + [("vehicle", i) for i in range(4)]
                                + [("client", i) for i in range(16)]))
        self.assertEqual(self.settled(b, {"a", "b", "c"}), before)
        self.assertEqual({s["owner"] for s in before}, {"a", "b", "c"})
        by_slice = {(s["kind"], s["slice"]): s for s in before}
        out = a.ctl("cluster")
        self.assertRegex(out.stdout, r"topic\s+0\s+%s\s+%d\s+owned\s" % (by_slice[("topic", 0)]["owner"],
                                                                          by_slice[("topic", 0)]["epoch"]))
        # c dies: its slices go to their successors once its lease is gone,
        # with new epochs; the others' slices stay where they were.
        c.kill()
        after = {(s["kind"], s["slice"]): s for s in self.settled(a, {"a", "b"})}
        for key, was in by_slice.items():
            now = after[key]
            if was["owner"] == "c":
                self.assertEqual(now["owner"], was["successor"])
                self.assertGreater(now["epoch"], was["epoch"])
            else:
                self.assertEqual((now["owner"], now["epoch"]), (was["owner"], was["epoch"]))
        # c comes back: it takes back exactly the slices it wins.
        c.start()
        back = {(s["kind"], s["slice"]): s for s in self.settled(b, {"a", "b", "c"})}
        for key, was in by_slice.items():
            self.assertEqual(back[key]["owner"], was["owner"])
            if was["owner"] == "c":
                self.assertGreater(back[key]["epoch"], after[key]["epoch"])


class AloneTest(NodeTestCase):
    def test_a_node_without_etcd_is_a_cluster_of_one(self):
        a = self.node({"node.name": "solo"})
        v = Api(a.http_port).get("/api/v1/cluster").json
        self.assertFalse(v["enabled"])
        self.assertEqual([m["node"] for m in v["members"]], ["solo"])
        self.assertTrue(v["authority"])
        self.assertNotIn("convoy_cluster_members ", Api(a.http_port).get("/metrics").body)
        out = a.ctl("cluster")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("not in a cluster: node solo runs alone", out.stdout)


if __name__ == "__main__":
    unittest.main()
