#!/usr/bin/env python3
"""RSS per idle connection over MQTT over WebSocket, next to plain TCP, for
Convoy and for mosquitto (Debian, its libwebsockets listener) on the same
machine: a node starts, 200 connections warm it up, then N more upgrade to
WebSocket, send CONNECT in a binary frame and stay idle; the growth of the
broker's RSS divided by N is the figure. Bounded: N connections, then stop.

    CONVOY_BINARY=build/convoy /usr/bin/python3 bench/websocket_idle_memory.py [N]
"""

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
from raw_mqtt import connect_bytes  # noqa: E402
from tls_idle_memory import rss_kib  # noqa: E402

BINARY = os.environ.get("CONVOY_BINARY", os.path.join(HERE, "..", "build", "convoy"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
PLAIN, WS = 19883, 19885


def masked_binary(payload):
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def open_one(port, websocket, client_id):
    s = socket.create_connection(("127.0.0.1", port))
    connect = connect_bytes(client_id, version=5, keep_alive=0)
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Protocol: mqtt\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("closed during the upgrade")
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(answer[:100])
        connect = masked_binary(connect)
    s.sendall(connect)
    s.recv(100)  # CONNACK
    return s


def measure(proc, port, websocket):
    warm = [open_one(port, websocket, f"warm-{i}") for i in range(200)]
    time.sleep(1)
    before = rss_kib(proc.pid)
    idle = [open_one(port, websocket, f"idle-{i}") for i in range(N)]
    time.sleep(2)
    after = rss_kib(proc.pid)
    for s in warm + idle:
        s.close()
    return (after - before) / N


def main():
    work = tempfile.mkdtemp(prefix="ws-mem-")
    brokers = {
        "convoy": [BINARY, "node", "--set", "mqtt.bind=127.0.0.1", "--set", f"mqtt.port={PLAIN}",
                   "--set", f"node.data_dir={work}/data", "--set", "websocket.bind=127.0.0.1",
                   "--set", f"websocket.port={WS}", "--set", "http.port=0", "--set", "log.level=warn"],
    }
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"user root\nper_listener_settings false\nallow_anonymous true\nmax_connections -1\n"
                f"listener {PLAIN} 127.0.0.1\nlistener {WS} 127.0.0.1\nprotocol websockets\n")
    brokers["mosquitto"] = [MOSQUITTO, "-c", conf]
    print(f"RSS per idle connection, N = {N} (KiB)")
    print("| broker | TCP | WebSocket | WebSocket extra |")
    print("|---|---|---|---|")
    for name, command in brokers.items():
        results = []
        for port, websocket in ((PLAIN, False), (WS, True)):
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)
            try:
                results.append(measure(proc, port, websocket))
            finally:
                proc.terminate()
                proc.wait()
        print(f"| {name} | {results[0]:.1f} | {results[1]:.1f} | {results[1] - results[0]:.1f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
