"""Authentication by username and password ([auth]), with password files
made by Debian's mosquitto_passwd, in MQTT 3.1.1 and 5.0."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from broker import MOSQUITTO_PASSWD, BrokerTestCase, NodeTestCase, RawClient, make_password_file
from raw_mqtt import V5, V311, connect_bytes

MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
DELAY_MS = 400


def connack(port, version, username=None, password=None, client_id="auth-test"):
    """(first byte, CONNACK body, seconds to the answer) of one CONNECT."""
    c = RawClient(port)
    try:
        start = time.monotonic()
        c.send(connect_bytes(client_id, version=version, username=username, password=password))
        answer = c.read_packet()
        return answer[0], answer[1], time.monotonic() - start
    finally:
        c.close()


@unittest.skipUnless(os.path.exists(MOSQUITTO_PASSWD), "mosquitto_passwd is not installed")
class PasswordAuthTest(BrokerTestCase):

    @classmethod
    def broker_options(cls):
        cls.passwords = os.path.join(cls.tmp.name, "passwords")
        make_password_file(cls.passwords, {"telematics": "s3cret", "dispatch": "other pw"})
        # An older mosquitto file line ($6$, salted SHA-512) in the same file.
        legacy = os.path.join(cls.tmp.name, "legacy")
        make_password_file(legacy, {"legacy": "old pw"}, hash_method="sha512")
        with open(legacy) as f, open(cls.passwords, "a") as out:
            out.write("# migrated from mosquitto 1.6\n" + f.read())
        # The delay stays fixed here (test_client_limits checks its growth
        # per address): these tests fail many logins from one address.
        return {"settings": {"auth.allow_anonymous": False, "auth.password_file": cls.passwords,
                             "auth.failure_delay_ms": DELAY_MS, "auth.max_failure_delay_ms": DELAY_MS}}

    def test_right_passwords_get_in(self):
        for version in (V5, V311):
            for user, password in (("telematics", "s3cret"), ("dispatch", "other pw"),
                                   ("legacy", "old pw")):
                with self.subTest(version=version, user=user):
                    # A client id of its own: a session belongs to the user
                    # that made it, and the previous one may still be ending.
                    first, body, _ = connack(self.broker.port, version, user, password,
                                             client_id=f"auth-{user}-{version}")
                    self.assertEqual((first, body[1]), (0x20, 0))

    def test_wrong_credentials_are_refused_after_the_delay(self):
        cases = [("telematics", "wrong"), ("telematics", None), ("nobody", "s3cret"),
                 ("telematics", "S3CRET"), ("dispatch", "s3cret")]
        for version, code in ((V5, 0x86), (V311, 4)):
            for user, password in cases:
                with self.subTest(version=version, user=user, password=password):
                    first, body, took = connack(self.broker.port, version, user, password)
                    self.assertEqual((first, body[1]), (0x20, code))
                    self.assertGreaterEqual(took, DELAY_MS / 1000 * 0.9)

    def test_no_username_is_not_authorized(self):
        for version, code in ((V5, 0x87), (V311, 5)):
            with self.subTest(version=version):
                first, body, _ = connack(self.broker.port, version)
                self.assertEqual((first, body[1]), (0x20, code))

    def test_a_refused_client_cannot_publish_and_the_node_goes_on(self):
        c = RawClient(self.broker.port)
        c.send(connect_bytes("sneaky", username="telematics", password="guess"))
        first, body = c.read_packet()
        self.assertEqual((first, body[1]), (0x20, 0x86))
        self.assertTrue(c.closed_by_peer())
        c.close()
        first, body, _ = connack(self.broker.port, V5, "telematics", "s3cret")
        self.assertEqual(body[1], 0)

    def test_passwords_never_reach_the_log(self):
        connack(self.broker.port, V5, "telematics", "a-password-to-look-for")
        time.sleep(0.1 + DELAY_MS / 1000)
        log = self.broker.log()
        self.assertNotIn("a-password-to-look-for", log)
        self.assertIn("refused login", log)
        with open(self.passwords) as f:
            for line in f:
                if line.startswith("telematics:"):
                    self.assertNotIn(line.split(":", 1)[1].strip(), log)

    @unittest.skipUnless(os.path.exists(MOSQUITTO_PUB), "mosquitto_pub is not installed")
    def test_mosquitto_clients_log_in(self):
        ok = subprocess.run([MOSQUITTO_PUB, "-p", str(self.broker.port), "-u", "telematics",
                             "-P", "s3cret", "-t", "auth/check", "-m", "hi", "-q", "1"],
                            capture_output=True, text=True, timeout=10)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = subprocess.run([MOSQUITTO_PUB, "-p", str(self.broker.port), "-u", "telematics",
                              "-P", "nope", "-t", "auth/check", "-m", "hi", "-q", "1"],
                             capture_output=True, text=True, timeout=10)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("bad user name or password", (bad.stderr + bad.stdout).lower())


class AnonymousDefaultTest(NodeTestCase):
    def test_the_developer_default_lets_anyone_in_and_says_so(self):
        broker = self.node()
        first, body, _ = connack(broker.port, V5)
        self.assertEqual(body[1], 0)
        # Without a password file usernames are not checked.
        first, body, _ = connack(broker.port, V311, "anyone", "anything")
        self.assertEqual(body[1], 0)
        self.assertIn("auth.allow_anonymous = true", broker.log())


class BadPasswordFileTest(NodeTestCase):
    def run_node(self, password_file):
        done = self.node_exits({"storage.enabled": False, "auth.password_file": password_file}, timeout=10)
        return done.returncode, done.output

    def test_a_bad_line_stops_the_node_naming_file_line_and_user(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "passwords")
            with open(path, "w") as f:
                f.write("# ok\nfleet:plain-text-secret\n")
            code, output = self.run_node(path)
            self.assertNotEqual(code, 0)
            self.assertIn(f"{path}:2", output)
            self.assertIn("'fleet'", output)
            self.assertNotIn("plain-text-secret", output)

    def test_a_missing_file_stops_the_node(self):
        code, output = self.run_node("/nonexistent/convoy-passwords")
        self.assertNotEqual(code, 0)
        self.assertIn("/nonexistent/convoy-passwords", output)


if __name__ == "__main__":
    unittest.main()
