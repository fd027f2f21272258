"""What the cluster tests share: a real etcd per test, members joined to it
with a short lease and fast link heartbeats, and waits on a node's view of
its cluster (GET /api/v1/cluster)."""

import re
import time

from broker import NodeTestCase
from etcd import Etcd
from http_api import Api

TTL = 2  # cluster.lease_ttl_seconds of every node here


def wait_until(what, predicate, timeout=10.0, interval=0.05):
    """predicate()'s first truthy value within timeout; fails naming what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def counter(node, name):
    """convoy_<name>_total from the node's /metrics."""
    text = Api(node.http_port).get("/metrics").body
    m = re.search(rf"^convoy_{name}_total (\d+)$", text, re.M)
    assert m, f"convoy_{name}_total not in /metrics"
    return int(m.group(1))


class ClusterTestCase(NodeTestCase):
    def setUp(self):
        self.etcd = Etcd().start()
        self.addCleanup(self.etcd.stop)

    def member(self, name, etcd_url=None, passwords=None, **settings):
        s = {"node.name": name, "cluster.etcd": etcd_url or self.etcd.url, "cluster.name": "test",
             "cluster.lease_ttl_seconds": TTL, "cluster.heartbeat_interval_ms": 200,
             "cluster.connection_timeout_ms": 1000, "websocket.enabled": False}
        s.update(settings)
        return self.node(s, passwords=passwords)

    @staticmethod
    def view(node):
        r = Api(node.http_port).get("/api/v1/cluster")
        assert r.status == 200, r
        return r.json

    def members_of(self, node):
        return {m["node"]: m for m in self.view(node)["members"]}

    def wait_members(self, node, names, links_up=True, timeout=10.0):
        """node's view once it lists exactly `names`, each link up."""
        def ready():
            v = self.view(node)
            members = {m["node"]: m for m in v["members"]}
            if set(members) != set(names) or not v["authority"]:
                return None
            if links_up and any(m["link"] not in ("up", "self") for m in members.values()):
                return None
            return members
        return wait_until(f"{node.settings['node.name']} seeing {sorted(names)}", ready, timeout)

    def start_members(self, names, etcd_urls=None, **settings):
        """Members `names` on this test's etcd (or etcd_urls[name]), once each
        sees all the others with links up and routes flowing, and every slice
        has the owner it should have in every member's view (the claims of the
        first member to start have moved to the later ones). {name: node}."""
        etcd_urls = etcd_urls or {}
        nodes = {n: self.member(n, etcd_url=etcd_urls.get(n), **settings) for n in names}
        for node in nodes.values():
            self.wait_members(node, set(nodes))
        for name, node in nodes.items():
            for other in nodes:
                if other != name:
                    node.wait_for_log(f"routing with {other} through", timeout=10)
        for name, node in nodes.items():
            wait_until(f"{name} seeing every slice owned",
                       lambda: all(r["state"] == "owned" for r in self.view(node)["slices"]),
                       timeout=15)
        return nodes
