"""A real etcd (Debian's etcd-server) for the cluster tests: one member on
127.0.0.1, ports it picks, a data directory of its own.

- Etcd(): start() waits until it answers; url is its client endpoint;
  pause()/resume() SIGSTOP and SIGCONT it (etcd unreachable but its
  sockets open: what a partition looks like); stop() ends it and removes
  its data.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def quiet_port():
    """A free port below the kernel's ephemeral range: no socket bound to port
    0 (another test's listener) and no outgoing connection (a node dialling
    an etcd that is not up yet) can take it before etcd binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class Etcd:
    def __init__(self, client_port=None):
        self.client_port = client_port or quiet_port()
        self.peer_port = quiet_port()
        self.dir = tempfile.mkdtemp(prefix="convoy-etcd-")
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.client_port}"

    def start(self):
        # The child keeps its own descriptor of the log; ours closes at once.
        with open(os.path.join(self.dir, "etcd.log"), "w") as log:
            self.proc = subprocess.Popen(
                [ETCD, "--name", "convoy-test", "--data-dir", os.path.join(self.dir, "data"),
                 "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                 "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                 "--initial-cluster", f"convoy-test=http://127.0.0.1:{self.peer_port}",
                 "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=0.5) as r:
                    if json.load(r).get("health") == "true":
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy:\n" + self.log())

    def log(self):
        with open(os.path.join(self.dir, "etcd.log"), errors="replace") as f:
            return f.read()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
