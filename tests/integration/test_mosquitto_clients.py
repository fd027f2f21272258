"""The node with Debian's mosquitto_pub and mosquitto_sub, in both protocol
versions: QoS 0/1/2, retained messages and their deletion, wills, persistent
sessions, MQTT 5 properties, large payloads and long streams.

mosquitto_sub prints every message as topic|qos|retain|user properties|
expiry|payload in hex, so binary payloads compare exactly. A subscriber is
ready once a probe message published on its own topic comes back; a probe
on the same topic also follows any retained message the subscription
brings (both travel through the same topic shard).
"""

import itertools
import queue
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from broker import BrokerTestCase, packet, utf8

VERSIONS = ("mqttv5", "mqttv311")
PROBE = b"__probe__"
WAIT = 5.0


class Sub:
    """A running mosquitto_sub whose messages can be read one at a time."""

    def __init__(self, test, version, topics, qos=1, extra=()):
        self.test = test
        self.topics = list(topics)
        cmd = ["mosquitto_sub", "-p", str(test.broker.port), "-V", version, "-q", str(qos),
               "-F", "%t|%q|%r|%P|%E|%x"]
        for t in self.topics:
            cmd += ["-t", t]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        test.addCleanup(self.stop)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode().rstrip("\n"))
        self.lines.put(None)

    def _next_line(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise queue.Empty
        return self.lines.get(timeout=remaining)

    def ready(self, probe_topic=None):
        """Publishes probes on probe_topic (the first topic) until one arrives;
        returns the messages that came before it."""
        probe_topic = probe_topic or self.topics[0]
        before = []
        deadline = time.monotonic() + WAIT
        while True:
            self.test.publish_raw(probe_topic, PROBE)
            until = min(time.monotonic() + 0.1, deadline)
            while True:
                try:
                    line = self._next_line(until)
                except queue.Empty:
                    break
                if line is None:
                    self.test.fail("mosquitto_sub exited: " + self.proc.stderr.read().decode())
                m = self.parse(line)
                if m["payload"] == PROBE:
                    return before
                before.append(m)
            if time.monotonic() >= deadline:
                self.test.fail("mosquitto_sub did not receive its probe")

    @staticmethod
    def parse(line):
        topic, qos, retain, props, expiry, payload = line.split("|")
        return {"topic": topic, "qos": int(qos), "retain": retain == "1", "props": props,
                "expiry": expiry, "payload": bytes.fromhex(payload)}

    def next(self, timeout=WAIT):
        """The next message that is not a probe."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._next_line(deadline)
            except queue.Empty:
                self.test.fail("no message for mosquitto_sub within %s s" % timeout)
            if line is None:
                self.test.fail("mosquitto_sub exited: " + self.proc.stderr.read().decode())
            m = self.parse(line)
            if m["payload"] != PROBE:
                return m

    def kill(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=WAIT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=WAIT)
        self.proc.stdout.close()
        self.proc.stderr.close()


class MosquittoClientsTest(BrokerTestCase):
    counter = itertools.count(1)

    def unique(self, prefix):
        return f"{prefix}/{type(self).__name__}/{next(self.counter)}"

    def publish_raw(self, topic, payload):
        """A QoS 0 publish from a short-lived MQTT 5 connection (for probes)."""
        with socket.create_connection(("127.0.0.1", self.broker.port), timeout=WAIT) as s:
            body = utf8("MQTT") + bytes([5, 2]) + (60).to_bytes(2, "big") + b"\x00" + utf8("")
            s.sendall(packet(0x10, body))
            first = s.recv(1)
            if first != b"\x20":
                self.fail(f"probe publisher got {first!r} instead of CONNACK")
            s.sendall(packet(0x30, utf8(topic) + b"\x00" + payload) + b"\xe0\x00")
            while s.recv(4096):
                pass

    def pub(self, version, topic, *args, qos=1, stdin=None):
        cmd = ["mosquitto_pub", "-p", str(self.broker.port), "-V", version, "-t", topic, "-q", str(qos)]
        r = subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def test_qos_levels(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                topic = self.unique("qos")
                sub = Sub(self, version, [topic], qos=2)
                self.assertEqual(sub.ready(), [])
                for qos in (0, 1, 2):
                    self.pub(version, topic, "-m", f"at qos {qos}", qos=qos)
                    m = sub.next()
                    self.assertEqual((m["topic"], m["qos"], m["retain"], m["payload"]),
                                     (topic, qos, False, f"at qos {qos}".encode()))
                # A QoS 0 subscription gets everything at QoS 0.
                low = Sub(self, version, [topic], qos=0)
                low.ready()
                self.pub(version, topic, "-m", "downgraded", qos=2)
                m = low.next()
                self.assertEqual((m["qos"], m["payload"]), (0, b"downgraded"))
                self.assertEqual((sub.next()["qos"]), 2)

    def test_retained_message_and_deletion(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                topic = self.unique("retained")
                self.pub(version, topic, "-r", "-m", "kept", qos=1)
                sub = Sub(self, version, [topic], qos=1)
                before = sub.ready()
                self.assertEqual([(m["payload"], m["retain"], m["qos"]) for m in before], [(b"kept", True, 1)])
                # A newer retained message replaces it; live delivery has retain 0.
                self.pub(version, topic, "-r", "-m", "newer", qos=0)
                m = sub.next()
                self.assertEqual((m["payload"], m["retain"]), (b"newer", False))
                later = Sub(self, version, [topic], qos=1)
                self.assertEqual([(m["payload"], m["retain"], m["qos"]) for m in later.ready()],
                                 [(b"newer", True, 0)])
                # -r -n deletes it: a new subscriber gets nothing before its probe.
                self.pub(version, topic, "-r", "-n", qos=1)
                self.assertEqual(sub.next()["payload"], b"")
                gone = Sub(self, version, [topic], qos=1)
                self.assertEqual(gone.ready(), [])

    def test_will_after_sigkill(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                will_topic = self.unique("will")
                watcher = Sub(self, version, [will_topic], qos=1)
                watcher.ready()
                doomed = Sub(self, version, [self.unique("doomed")], qos=0,
                             extra=["--will-topic", will_topic, "--will-payload", "client died",
                                    "--will-qos", "1"])
                doomed.ready()
                doomed.kill(signal.SIGKILL)
                m = watcher.next()
                self.assertEqual((m["topic"], m["payload"], m["qos"]), (will_topic, b"client died", 1))
                # mosquitto_sub -C 1 leaves with DISCONNECT 0x00 after one message (its
                # probe): no will.
                polite = Sub(self, version, [self.unique("polite")], qos=0,
                             extra=["-C", "1", "--will-topic", will_topic, "--will-payload", "should not appear"])
                polite.ready()
                self.assertEqual(polite.proc.wait(timeout=WAIT), 0)
                # On SIGTERM mosquitto_sub sends DISCONNECT, in MQTT 5 with reason 0x04
                # (Disconnect with Will Message): the will is published then and only then.
                asked = Sub(self, version, [self.unique("asked")], qos=0,
                            extra=["--will-topic", will_topic, "--will-payload", "asked for"])
                asked.ready()
                asked.kill(signal.SIGTERM)
                self.pub(version, will_topic, "-m", "after", qos=1)
                expected = [b"asked for", b"after"] if version == "mqttv5" else [b"after"]
                # (The will and "after" come from different sessions: any order.)
                self.assertEqual(sorted(watcher.next()["payload"] for _ in expected), sorted(expected))

    def test_persistent_session(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                topic = self.unique("persistent")
                client_id = f"persist-{version}-{next(self.counter)}"
                args = ["-c", "-i", client_id]
                sub = Sub(self, version, [topic], qos=1, extra=args)
                sub.ready()
                sub.kill(signal.SIGTERM)
                for i in range(5):
                    self.pub(version, topic, "-m", f"offline {i}", qos=1)
                back = Sub(self, version, [topic], qos=1, extra=args)
                got = [back.next()["payload"] for _ in range(5)]
                self.assertEqual(got, [f"offline {i}".encode() for i in range(5)])
                # Acknowledged: a third connection gets nothing again.
                back.ready()
                back.kill(signal.SIGTERM)
                again = Sub(self, version, [topic], qos=1, extra=args)
                self.assertEqual(again.ready(), [])

    def test_user_properties_and_message_expiry(self):
        topic = self.unique("props")
        sub = Sub(self, "mqttv5", [topic], qos=1)
        sub.ready()
        self.pub("mqttv5", topic, "-m", "with props", "-D", "publish", "user-property", "colour", "blue",
                 "-D", "publish", "message-expiry-interval", "30", qos=1)
        m = sub.next()
        self.assertEqual(m["payload"], b"with props")
        self.assertEqual(m["props"], "colour:blue")
        self.assertIn(m["expiry"], ("29", "30"))
        # A 3.1.1 subscriber gets the same message without properties.
        old = Sub(self, "mqttv311", [topic], qos=1)
        old.ready()
        self.pub("mqttv5", topic, "-m", "plain", "-D", "publish", "user-property", "k", "v", qos=1)
        self.assertEqual(sub.next()["props"], "k:v")
        m = old.next()
        self.assertEqual((m["payload"], m["props"], m["expiry"]), (b"plain", "", ""))

    def test_message_expiry_while_offline(self):
        topic = self.unique("expiry")
        args = ["-c", "-i", f"expiry-{next(self.counter)}"]
        sub = Sub(self, "mqttv5", [topic], qos=1, extra=args)
        sub.ready()
        sub.kill(signal.SIGTERM)
        self.pub("mqttv5", topic, "-m", "short", "-D", "publish", "message-expiry-interval", "1", qos=1)
        self.pub("mqttv5", topic, "-m", "long", "-D", "publish", "message-expiry-interval", "60", qos=1)
        time.sleep(1.3)  # about time: the first message expires while its subscriber is away
        back = Sub(self, "mqttv5", [topic], qos=1, extra=args)
        m = back.next()
        self.assertEqual(m["payload"], b"long")
        self.assertIn(m["expiry"], ("58", "59"))
        self.assertEqual(back.ready(), [])

    def test_large_payload(self):
        payload = random.Random(500).randbytes(500 * 1024)
        with tempfile.NamedTemporaryFile(prefix="convoy-payload-") as f:
            f.write(payload)
            f.flush()
            for version in VERSIONS:
                with self.subTest(version=version):
                    topic = self.unique("large")
                    sub = Sub(self, version, [topic], qos=1)
                    sub.ready()
                    for qos in (0, 1, 2):
                        self.pub(version, topic, "-f", f.name, qos=qos)
                        m = sub.next()
                        self.assertEqual(len(m["payload"]), len(payload))
                        self.assertTrue(m["payload"] == payload, "payload changed on the way")
                        self.assertEqual(m["qos"], min(qos, 1))

    def test_many_messages_in_order(self):
        lines = "".join(f"line {i:04d}\n" for i in range(1000)).encode()
        for version in VERSIONS:
            for qos in (0, 1, 2):
                with self.subTest(version=version, qos=qos):
                    topic = self.unique("stream")
                    sub = Sub(self, version, [topic], qos=2)
                    sub.ready()
                    self.pub(version, topic, "-l", qos=qos, stdin=lines)
                    got = [sub.next()["payload"] for _ in range(1000)]
                    self.assertEqual(got, [f"line {i:04d}".encode() for i in range(1000)])


if __name__ == "__main__":
    unittest.main()
