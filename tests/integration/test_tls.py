"""MQTT over TLS ([tls]): mutual TLS with device certificates made by the
openssl CLI at test time, refused certificates (expired, wrong CA, revoked,
none), revocation of connected devices when the CRL changes, certificate
reload without a restart, password logins next to certificates, real clients
(paho, mosquitto_pub/sub), bad input on the TLS port and bad configuration."""

import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest

from broker import NodeTestCase, TlsTestCase
from certs import VIN, CertAuthority, client_context
from paho_util import V5, V311, Client
from raw_mqtt import Conn, connect_bytes, publish_bytes, subscribe_bytes

MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
RELOAD_MS = 200


def tls_connack(port, ctx, client_id, version=V5, **connect):
    """The CONNACK (first byte, body) a CONNECT over TLS gets, or None when
    the node ends the connection first (a refused handshake ends there)."""
    try:
        c = Conn(port, version, tls=ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return None
    try:
        try:
            c.send(connect_bytes(client_id, version=version, **connect))
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return None
        return c.read()
    finally:
        c.close()


class MutualTlsTest(TlsTestCase):
    """tls.client_certificates = required, CRL checked, no anonymous logins:
    the certificate is the only way in."""

    tls_clients = "required"
    tls_crl = True
    settings = {
        "tls.reload_interval_ms": RELOAD_MS,
        "auth.allow_anonymous": False, "auth.failure_delay_ms": 0,
        "mqtt.connect_timeout_ms": 1000,
    }

    def client(self, client_id, version, pair, **kw):
        c = Client(self.tls_port, client_id, version, tls=self.pki.paho_tls(pair), **kw)
        self.addCleanup(c.close)
        return c

    def test_a_device_certificate_logs_in_and_messages_flow(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                c = self.client(f"{VIN}-{version}", version, self.pki.device)
                self.assertEqual(c.connect().reason, 0)
                c.subscribe(f"vehicles/{VIN}/#", qos=1)
                c.publish(f"vehicles/{VIN}/telemetry", b"speed=42", qos=1)
                self.assertEqual(c.expect().payload, b"speed=42")
                c.disconnect()

    def test_the_plain_port_still_wants_a_login(self):
        # Anonymous clients are off; without a certificate there is no identity.
        c = Conn(self.broker.port)
        c.send(connect_bytes("plain", version=V5))
        first, body = c.read()
        self.assertEqual((first, body[1]), (0x20, 0x87))
        c.close()

    def test_refused_certificates_never_reach_mqtt(self):
        cases = {
            "no certificate": None,
            "expired": self.pki.expired,
            "not yet valid": self.pki.not_yet,
            "another CA": self.pki.foreign,
            "revoked": self.pki.revoked,
        }
        for version in (V5, V311):
            for what, pair in cases.items():
                with self.subTest(version=version, case=what):
                    ctx = client_context(self.pki.ca.cert, *(pair or ()))
                    self.assertIsNone(tls_connack(self.tls_port, ctx, "x", version))
        self.assertTrue(self.broker.alive())
        # The refusals are logged with OpenSSL's reason.
        log = self.broker.log()
        self.assertIn("certificate has expired", log)
        self.assertIn("TLS handshake with 127.0.0.1", log)

    def test_a_certificate_without_the_identity_field_is_not_authorized(self):
        ctx = client_context(self.pki.ca.cert, *self.pki.no_cn)
        for version, code in ((V5, 0x87), (V311, 5)):
            with self.subTest(version=version):
                first, body = tls_connack(self.tls_port, ctx, "tcu", version)
                self.assertEqual((first, body[1]), (0x20, code))

    def test_the_username_in_connect_does_not_change_who_a_device_is(self):
        # A device cannot log in as someone else by naming them: its
        # certificate is its login, whatever username and password it sends.
        ctx = client_context(self.pki.ca.cert, *self.pki.device)
        answer = tls_connack(self.tls_port, ctx, VIN, V5, username="admin", password="guess")
        self.assertEqual((answer[0], answer[1][1]), (0x20, 0))

    def test_revoking_a_connected_device_disconnects_it(self):
        pair = self.pki.ca.issue("to-revoke", cn="WVWZZZ1JZXW000006")
        other = self.client("WVWZZZ1JZXW000002", V5, self.pki.second)
        other.connect()
        victims = {}
        for version in (V5, V311):
            c = self.client(f"WVWZZZ1JZXW000006-{version}", version, pair)
            c.connect()
            victims[version] = c
        self.pki.ca.revoke(pair[0])
        self.pki.ca.write_crl(self.pki.crl)
        started = time.monotonic()
        for version, c in victims.items():
            with self.subTest(version=version):
                self.assertTrue(c.wait_disconnected(timeout=3), "still connected after revocation")
                if version == V5:
                    self.assertEqual(c.server_disconnect_reason, 0x87)
        # Within a second of the file change, plus the reload check interval.
        self.assertLess(time.monotonic() - started, 1.0 + RELOAD_MS / 1000 + 0.5)
        # Devices still in good standing stay connected and keep working.
        other.subscribe("vehicles/WVWZZZ1JZXW000002/#", qos=1)
        other.publish("vehicles/WVWZZZ1JZXW000002/state", b"ok", qos=1)
        self.assertEqual(other.expect().payload, b"ok")
        # And the revoked certificate cannot come back.
        ctx = client_context(self.pki.ca.cert, *pair)
        self.assertIsNone(tls_connack(self.tls_port, ctx, "again"))

    def test_plain_mqtt_bytes_on_the_tls_port_are_dropped(self):
        c = Conn(self.tls_port)
        c.send(connect_bytes("not-tls", version=V5))
        self.assertTrue(c.closed())
        c.close()
        self.assertTrue(self.broker.alive())

    def test_a_stalled_handshake_is_closed_by_the_connect_timeout(self):
        c = Conn(self.tls_port)  # TCP only: no ClientHello follows
        started = time.monotonic()
        self.assertTrue(c.closed(timeout=4))
        self.assertLess(time.monotonic() - started, 3)
        c.close()

    def test_large_and_many_messages_cross_tls_records(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                c = self.client(f"{VIN}-big-{version}", version, self.pki.device)
                c.connect()
                c.subscribe(f"vehicles/{VIN}/big", qos=1)
                big = os.urandom(600_000)  # ~37 TLS records each way
                c.publish(f"vehicles/{VIN}/big", big, qos=1)
                self.assertEqual(c.expect(timeout=10).payload, big)
                for i in range(300):
                    c.publish(f"vehicles/{VIN}/big", b"%d" % i, qos=1, wait=False)
                got = [m.payload for m in c.expect_n(300, timeout=15)]
                self.assertEqual(got, [b"%d" % i for i in range(300)])
                c.disconnect()

    def test_raw_packets_split_across_tls_records(self):
        ctx = client_context(self.pki.ca.cert, *self.pki.device)
        c = Conn(self.tls_port, V5, tls=ctx)
        data = (connect_bytes(VIN + "-raw", version=V5)
                + subscribe_bytes(1, [("vehicles/raw", 0)], version=V5)
                + publish_bytes("vehicles/raw", b"one byte at a time", version=V5))
        for i in range(len(data)):
            c.send(data[i:i + 1])  # each byte its own TLS record
        self.assertEqual(c.read()[0], 0x20)
        self.assertEqual(c.read()[0], 0x90)
        first, body = c.read()
        self.assertEqual(first & 0xF0, 0x30)
        self.assertTrue(body.endswith(b"one byte at a time"))
        c.close()

    @unittest.skipUnless(os.path.exists(MOSQUITTO_SUB), "mosquitto clients are not installed")
    def test_mosquitto_clients_with_device_certificates(self):
        cert, key = self.pki.device
        common = ["-h", "127.0.0.1", "-p", str(self.tls_port), "--cafile", self.pki.ca.cert,
                  "--cert", cert, "--key", key]
        for version in ("mqttv5", "mqttv311"):
            with self.subTest(version=version):
                sub = subprocess.Popen([MOSQUITTO_SUB, *common, "-V", version, "-i", f"{VIN}-sub",
                                        "-t", f"vehicles/{VIN}/cmd", "-C", "1", "-W", "10", "-q", "1"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                time.sleep(0.5)
                subprocess.run([MOSQUITTO_PUB, *common, "-V", version, "-i", f"{VIN}-pub",
                                "-t", f"vehicles/{VIN}/cmd", "-m", "unlock", "-q", "1"],
                               check=True, capture_output=True, timeout=10)
                out, err = sub.communicate(timeout=15)
                self.assertEqual(sub.returncode, 0, err)
                self.assertEqual(out.strip(), "unlock")


@unittest.skipUnless(os.path.exists("/usr/bin/mosquitto_passwd"), "mosquitto_passwd is not installed")
class OptionalClientCertificatesTest(TlsTestCase):
    """tls.client_certificates = optional and tls.identity = san_uri:
    devices log in by certificate, services by password, on one port."""

    settings = {"tls.identity": "san_uri", "auth.allow_anonymous": False, "auth.failure_delay_ms": 0}

    @classmethod
    def broker_options(cls):
        return {**super().broker_options(), "passwords": {"dispatch": "s3cret"}}

    def connack(self, pair, version, **connect):
        ctx = client_context(self.pki.ca.cert, *(pair or ()))
        # A client id per login: a session belongs to the identity that made
        # it, and the previous connection's may still be ending.
        client_id = f"c-{os.path.basename(pair[0]) if pair else connect.get('username')}-{version}"
        answer = tls_connack(self.tls_port, ctx, client_id, version, **connect)
        self.assertIsNotNone(answer, "handshake refused")
        return answer[1][1]

    def test_devices_by_certificate_and_services_by_password(self):
        for version, refused in ((V5, (0x86, 0x87)), (V311, (4, 5))):
            with self.subTest(version=version):
                self.assertEqual(self.connack(self.pki.device, version), 0)
                self.assertEqual(self.connack(None, version, username="dispatch", password="s3cret"), 0)
                self.assertEqual(self.connack(None, version, username="dispatch", password="nope"),
                                 refused[0])
                self.assertEqual(self.connack(None, version), refused[1])
                # Its identity field (a URI SAN) is missing: not authorized,
                # even though the certificate itself is fine.
                self.assertEqual(self.connack(self.pki.second, version), refused[1])

    def test_bad_certificates_are_still_refused_when_optional(self):
        for pair in (self.pki.expired, self.pki.foreign):
            ctx = client_context(self.pki.ca.cert, *pair)
            self.assertIsNone(tls_connack(self.tls_port, ctx, "x"))


class ServerCertificateReloadTest(NodeTestCase):
    """Server-only TLS (tls.client_certificates = none); the certificate is
    replaced on disk and new handshakes get the new one without a restart."""

    def setUp(self):
        tmp = self.temp_dir()
        self.ca = CertAuthority(os.path.join(tmp, "ca"))
        self.cert = os.path.join(tmp, "server.crt")
        self.key = os.path.join(tmp, "server.key")
        self.install(self.ca.issue("first", cn="localhost", sans=["IP:127.0.0.1"], server=True))
        self.broker = self.node({"tls.reload_interval_ms": RELOAD_MS, "tls.min_version": "1.3"},
                                tls={"cert": self.cert, "key": self.key, "clients": "none"})
        self.tls_port = self.broker.tls_port

    def install(self, pair):
        # Key first, then certificate: a check between the two sees a
        # mismatch, keeps the old pair and loads the new one next time.
        shutil.copyfile(pair[1], self.key + ".tmp")
        os.replace(self.key + ".tmp", self.key)
        shutil.copyfile(pair[0], self.cert + ".tmp")
        os.replace(self.cert + ".tmp", self.cert)

    def served_serial(self):
        ctx = client_context(self.ca.cert)
        c = Conn(self.tls_port, V5, tls=ctx)
        serial = c.sock.getpeercert()["serialNumber"]
        self.assertEqual(c.sock.version(), "TLSv1.3")
        c.close()
        return serial

    def test_a_new_certificate_is_used_without_a_restart(self):
        first = self.served_serial()
        live = Client(self.tls_port, "dashboard", V5, tls={"ca_certs": self.ca.cert})
        self.addCleanup(live.close)
        live.connect()
        live.subscribe("broadcast/#")
        self.install(self.ca.issue("second", cn="localhost", sans=["IP:127.0.0.1"], server=True))
        deadline = time.monotonic() + 5
        while self.served_serial() == first:
            self.assertLess(time.monotonic(), deadline, "the new certificate was not picked up")
            time.sleep(0.1)
        self.assertIn("TLS files reloaded", self.broker.log())
        # The connection made with the old certificate carries on.
        live.publish("broadcast/weather", b"rain", qos=1)
        self.assertEqual(live.expect().payload, b"rain")

    def test_a_broken_file_keeps_the_previous_certificate(self):
        first = self.served_serial()
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        deadline = time.monotonic() + 5
        while "TLS files not reloaded" not in self.broker.log():
            self.assertLess(time.monotonic(), deadline, "the broken file was not reported")
            time.sleep(0.1)
        self.assertIn("tls.cert_file", self.broker.log())
        self.assertEqual(self.served_serial(), first)
        # Reported once, not at every check.
        time.sleep(RELOAD_MS * 3 / 1000)
        self.assertEqual(self.broker.log().count("TLS files not reloaded"), 1)

    def test_sighup_reloads(self):
        first = self.served_serial()
        self.broker.settings = {}  # unchanged; only the signal matters
        self.install(self.ca.issue("third", cn="localhost", sans=["IP:127.0.0.1"], server=True))
        self.broker.proc.send_signal(1)  # SIGHUP
        deadline = time.monotonic() + 5
        while self.served_serial() == first:
            self.assertLess(time.monotonic(), deadline, "SIGHUP did not reload")
            time.sleep(0.05)
        self.assertTrue(self.broker.alive())


class TlsConfigurationTest(NodeTestCase):
    """Bad [tls] settings stop the node at start with a message naming the key."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ca = CertAuthority(os.path.join(cls.tmp.name, "ca"))
        cls.server = cls.ca.issue("server", cn="localhost", server=True)
        cls.other = cls.ca.issue("other", cn="localhost", server=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start_fails(self, settings):
        p = self.node_exits({"tls.enabled": True, **settings})
        self.assertNotEqual(p.returncode, 0, p.output)
        return p.output

    def test_missing_and_unusable_files_are_named(self):
        cert, key = self.server
        cases = [
            ({"tls.key_file": key}, "tls.cert_file"),
            ({"tls.cert_file": cert}, "tls.key_file"),
            ({"tls.cert_file": cert, "tls.key_file": key}, "tls.ca_file"),
            ({"tls.cert_file": cert, "tls.key_file": key, "tls.client_certificates": "none",
              "tls.crl_file": cert}, "tls.ca_file"),
            ({"tls.cert_file": "/nonexistent.crt", "tls.key_file": key,
              "tls.client_certificates": "none"}, "tls.cert_file '/nonexistent.crt'"),
            ({"tls.cert_file": cert, "tls.key_file": self.other[1],
              "tls.client_certificates": "none"}, "does not match"),
            ({"tls.cert_file": cert, "tls.key_file": key, "tls.ca_file": cert,
              "tls.crl_file": cert}, "tls.crl_file"),
            ({"tls.cert_file": cert, "tls.key_file": key, "tls.client_certificates": "some"},
             "tls.client_certificates"),
            ({"tls.cert_file": cert, "tls.key_file": key, "tls.min_version": "1.0"},
             "tls.min_version"),
        ]
        for settings, named in cases:
            with self.subTest(named=named):
                self.assertIn(named, self.start_fails(settings))


if __name__ == "__main__":
    unittest.main()
