"""examples/cluster/cluster.sh: one command starts etcd and three nodes on
127.0.0.1-3 that see each other, one stops them all, leaving nothing
running."""

import json
import os
import subprocess
import tempfile
import unittest

from broker import BINARY, free_port
from etcd import quiet_port

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "cluster", "cluster.sh")


class ExampleClusterTest(unittest.TestCase):
    def test_start_status_stop(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, CLUSTER_DIR=tmp, CONVOY_BINARY=BINARY, MQTT_PORT=str(free_port()),
                       HTTP_PORT=str(free_port()), CLUSTER_PORT=str(free_port()), ETCD_PORT=str(quiet_port()),
                       ETCD_PEER_PORT=str(quiet_port()))
            run = lambda cmd, timeout=60: subprocess.run([SCRIPT, cmd], env=env, capture_output=True,  # noqa: E731
                                                         text=True, timeout=timeout)
            pids = {}
            try:
                started = run("start")
                self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
                for n, address in (("a", "127.0.0.1"), ("b", "127.0.0.2"), ("c", "127.0.0.3")):
                    self.assertIn(f"node {n}: MQTT {address}:{env['MQTT_PORT']}", started.stdout)
                    with open(os.path.join(tmp, f"{n}.pid")) as f:
                        pids[n] = int(f.read())
                    view = subprocess.run([BINARY, "ctl", "--url", f"http://{address}:{env['HTTP_PORT']}", "--json",
                                           "cluster"], capture_output=True, text=True, timeout=10)
                    v = json.loads(view.stdout)
                    self.assertEqual(v["self"], n)
                    self.assertEqual(sorted(m["node"] for m in v["members"]), ["a", "b", "c"])
                    self.assertTrue(all(m["link"] in ("self", "up") for m in v["members"]), v)
                    self.assertTrue(all(s["state"] == "owned" for s in v["slices"]), v["slices"])
                status = run("status")
                self.assertEqual(status.returncode, 0, status.stderr)
                self.assertEqual(status.stdout.count("acting as member: yes"), 3, status.stdout)
                again = run("start")
                self.assertEqual(again.returncode, 1)
                self.assertIn("already running", again.stderr)
            finally:
                stopped = run("stop")
            self.assertEqual(stopped.returncode, 0, stopped.stderr)
            for n, pid in pids.items():
                with self.assertRaises(ProcessLookupError, msg=f"node {n} still runs"):
                    os.kill(pid, 0)
            for n in ("a", "b", "c"):
                with open(os.path.join(tmp, f"{n}.log")) as f:
                    log = f.read()
                self.assertIn(f"joined as {n}", log)
                self.assertNotIn("[critical]", log)


if __name__ == "__main__":
    unittest.main()
