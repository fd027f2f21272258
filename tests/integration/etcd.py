"""A real etcd (Debian's etcd-server) for the cluster tests: one member on
127.0.0.1, ports it picks, a data directory of its own.

- Etcd(): start() waits until it answers; url is its client endpoint;
  pause()/resume() SIGSTOP and SIGCONT it (etcd unreachable but its
  sockets open: what a partition looks like); stop() ends it and removes
  its data.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from broker import free_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class Etcd:
    def __init__(self, client_port=None):
        self.client_port = client_port or free_port()
        self.peer_port = free_port()
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
