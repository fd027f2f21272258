#!/usr/bin/env python3
"""RSS per idle connection over plain TCP and over TLS 1.3, for Convoy and for
mosquitto (Debian) on the same machine: a node starts, 200 connections warm it
up, then N more connect, send CONNECT and stay idle; the growth of the
broker's RSS divided by N is the figure. Bounded: N connections, then stop.

    CONVOY_BINARY=build/convoy /usr/bin/python3 bench/tls_idle_memory.py [N]
"""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from certs import CertAuthority  # noqa: E402
from raw_mqtt import connect_bytes  # noqa: E402

BINARY = os.environ.get("CONVOY_BINARY", os.path.join(HERE, "..", "build", "convoy"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
PLAIN, TLS = 19883, 19884


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def measure(proc, port, tls_ctx):
    def open_one(client_id):
        s = socket.create_connection(("127.0.0.1", port))
        if tls_ctx:
            s = tls_ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(connect_bytes(client_id, version=5, keep_alive=0))
        s.recv(100)  # CONNACK
        return s
    warm = [open_one(f"warm-{i}") for i in range(200)]
    time.sleep(1)
    before = rss_kib(proc.pid)
    idle = [open_one(f"idle-{i}") for i in range(N)]
    time.sleep(2)
    after = rss_kib(proc.pid)
    for s in warm + idle:
        s.close()
    return (after - before) / N


def main():
    work = tempfile.mkdtemp(prefix="tls-mem-")
    ca = CertAuthority(os.path.join(work, "ca"))
    cert, key = ca.issue("server", cn="localhost", sans=["IP:127.0.0.1"], server=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca.cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    brokers = {
        "convoy": [BINARY, "node", "--set", "mqtt.bind=127.0.0.1", "--set", f"mqtt.port={PLAIN}",
                   "--set", f"node.data_dir={work}/data", "--set", "tls.enabled=true",
                   "--set", f"tls.port={TLS}", "--set", "tls.bind=127.0.0.1",
                   "--set", f"tls.cert_file={cert}", "--set", f"tls.key_file={key}",
                   "--set", "tls.client_certificates=none", "--set", "log.level=warn"],
    }
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        # As root mosquitto would switch to its own user, which cannot read the key.
        f.write(f"user root\nper_listener_settings false\nallow_anonymous true\nmax_connections -1\n"
                f"listener {PLAIN} 127.0.0.1\nlistener {TLS} 127.0.0.1\n"
                f"certfile {cert}\nkeyfile {key}\n")
    brokers["mosquitto"] = [MOSQUITTO, "-c", conf]
    print(f"RSS per idle connection, N = {N} (KiB)")
    print("| broker | TCP | TLS 1.3 | TLS extra |")
    print("|---|---|---|---|")
    for name, command in brokers.items():
        results = []
        for port, tls_ctx in ((PLAIN, None), (TLS, ctx)):
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)
            try:
                results.append(measure(proc, port, tls_ctx))
            finally:
                proc.terminate()
                proc.wait()
        print(f"| {name} | {results[0]:.1f} | {results[1]:.1f} | {results[1] - results[0]:.1f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
