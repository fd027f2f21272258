"""JSON Web Token logins of cloud services ([jwt]) over real TLS: HS256,
RS256 and ES256 tokens made by PyJWT (Debian's python3-jwt) with keys made
by the openssl CLI; exp, nbf, iss and aud checked; the token's identity used
by the access rules; a token expiring on a live connection, and an MQTT 5
AUTH re-authentication keeping it. MQTT 3.1.1 and 5.0."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import unittest

import jwt

from broker import BrokerTestCase, NodeTestCase, packet, write_file
from certs import CertAuthority, client_context, server_tls
from certs import run as openssl
from paho_util import V5, V311, Client
from raw_mqtt import Conn, connect_bytes, parse_props, prop_str, props_block

ISSUER = "https://idp.fleet.example"
AUDIENCE = "convoy"
BAD_LOGIN = {V5: 0x86, V311: 4}

ACL = """
[assign]
jwt = "service"

[roles.service]
client_ids = ["{identity}-*"]
publish = ["vehicles/+/commands/#"]
subscribe = ["vehicles/+/telemetry/#"]
"""


class Keys:
    def __init__(self, directory):
        self.secret = secrets.token_hex(32)
        self.secret_file = os.path.join(directory, "hs256.secret")
        with open(self.secret_file, "w") as f:
            f.write(self.secret + "\n")
        self.rsa = os.path.join(directory, "rsa.key")
        self.rsa_pub = os.path.join(directory, "rsa.pub")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.rsa)
        openssl("pkey", "-in", self.rsa, "-pubout", "-out", self.rsa_pub)
        self.other_rsa = os.path.join(directory, "other-rsa.key")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.other_rsa)
        self.ec = os.path.join(directory, "ec.key")
        self.ec_pub = os.path.join(directory, "ec.pub")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.ec)
        openssl("pkey", "-in", self.ec, "-pubout", "-out", self.ec_pub)

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()

    def token(self, alg="HS256", key=None, lifetime=300, **claims):
        now = int(time.time())
        body = {"sub": "dispatch", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        if key is None:
            key = {"HS256": self.secret, "RS256": self.read(self.rsa), "ES256": self.read(self.ec)}[alg]
        return jwt.encode(body, key, algorithm=alg)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(key):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": "dispatch", "iss": ISSUER, "aud": AUDIENCE,
                              "exp": int(time.time()) + 300}).encode())
    mac = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac)}"


def tls_conn(port, ca, version):
    return Conn(port, version, tls=client_context(ca))


class JwtTestBase(BrokerTestCase):
    public_key = "rsa_pub"

    @classmethod
    def broker_options(cls):
        cls.keys = Keys(cls.tmp.name)
        cls.ca = CertAuthority(os.path.join(cls.tmp.name, "ca"))
        return {"settings": {
            "auth.allow_anonymous": False, "auth.failure_delay_ms": 0,
            "jwt.enabled": True, "jwt.hs256_secret_file": cls.keys.secret_file,
            "jwt.public_key_file": getattr(cls.keys, cls.public_key),
            "jwt.issuer": ISSUER, "jwt.audience": AUDIENCE, "jwt.leeway_s": 0,
        }, "tls": server_tls(cls.ca), "files": {"auth.acl_file": ACL}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tls_port = cls.broker.tls_port

    def login(self, version, token, client_id="dispatch-1", username="svc"):
        """The CONNACK reason (3.1.1 return code) of a CONNECT with the token as password."""
        c = tls_conn(self.tls_port, self.ca.cert, version)
        try:
            c.send(connect_bytes(client_id, version=version, username=username, password=token))
            first, body = c.read()
            self.assertEqual(first, 0x20)
            return body[1]
        finally:
            c.close()


class JwtLoginTest(JwtTestBase):

    def test_valid_tokens_log_in(self):
        for version in (V5, V311):
            for alg in ("HS256", "RS256"):
                with self.subTest(version=version, alg=alg):
                    self.assertEqual(self.login(version, self.keys.token(alg)), 0)

    def test_bad_tokens_are_bad_logins(self):
        k = self.keys
        cases = {
            "expired": k.token(lifetime=-5),
            "not yet valid": k.token(nbf=int(time.time()) + 600),
            "no exp": k.token(exp=None),
            "wrong audience": k.token(aud="someone-else"),
            "wrong issuer": k.token(iss="https://evil.example"),
            "wrong HS256 secret": k.token(key=secrets.token_hex(32)),
            "wrong RSA key": k.token("RS256", key=Keys.read(k.other_rsa)),
            "ES256 without its key": k.token("ES256"),
            "alg none": jwt.encode({"sub": "dispatch", "exp": int(time.time()) + 60, "iss": ISSUER,
                                    "aud": AUDIENCE}, None, algorithm="none") + "x",
            # The classic algorithm confusion: HS256 with the public key as
            # its secret (PyJWT refuses to make one, so it is made by hand).
            "HS256 keyed with the RSA public key": hs256_by_hand(Keys.read(k.rsa_pub).encode()),
            "tampered": k.token()[:-3] + "AAA",
            "garbage": "eyJhbGciOi.x.y",
        }
        for version in (V5, V311):
            for what, token in cases.items():
                with self.subTest(version=version, case=what):
                    self.assertEqual(self.login(version, token), BAD_LOGIN[version])
        self.assertIn("token: token expired", self.broker.log())
        self.assertIn("token: wrong audience", self.broker.log())
        self.assertTrue(self.broker.alive())

    def test_the_token_identity_is_the_login(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                token = self.keys.token(sub="dispatch")
                self.assertEqual(self.login(version, token, client_id="dispatch-7"), 0)
                # The role allows client ids of its own identity only.
                self.assertEqual(self.login(version, token, client_id="billing-7"),
                                 0x87 if version == V5 else 5)

    def test_a_token_expiring_on_a_live_connection_disconnects_it(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                c = Client(self.tls_port, f"dispatch-live-{version}", version,
                           tls={"ca_certs": self.ca.cert})
                c.paho.username_pw_set("svc", self.keys.token(lifetime=2))
                self.addCleanup(c.close)
                connected = time.monotonic()
                c.connect()
                self.assertTrue(c.wait_disconnected(timeout=6), "still connected after expiry")
                self.assertGreater(c.disconnected_at - connected, 1.0)
                if version == V5:
                    self.assertEqual(c.server_disconnect_reason, 0x87)
        self.assertIn("its token expired", self.broker.log())


def auth_packet(reason, token, method="JWT"):
    return packet(0xF0, bytes([reason]) + props_block(prop_str(0x15, method) + prop_str(0x16, token)))


class EnhancedAuthTest(JwtTestBase):
    """MQTT 5 Authentication Method JWT: the token in Authentication Data,
    renewed by AUTH (Re-authenticate) before it expires."""

    def connect(self, token, method="JWT"):
        c = tls_conn(self.tls_port, self.ca.cert, V5)
        self.addCleanup(c.close)
        c.send(connect_bytes("dispatch-auth", version=V5,
                             props=prop_str(0x15, method) + prop_str(0x16, token)))
        first, body = c.read()
        self.assertEqual(first, 0x20)
        return c, body

    def test_connack_names_the_method(self):
        c, body = self.connect(self.keys.token())
        self.assertEqual(body[1], 0)
        props, _ = parse_props(body, 2)
        self.assertIn((0x15, b"JWT"), props)

    def test_an_unknown_method_is_refused(self):
        _, body = self.connect(self.keys.token(), method="SCRAM-SHA-256")
        self.assertEqual(body[1], 0x8C)

    def test_a_bad_token_in_authentication_data_is_not_authorized(self):
        _, body = self.connect(self.keys.token(aud="elsewhere"))
        self.assertEqual(body[1], 0x87)

    def test_auth_with_a_fresh_token_keeps_the_connection(self):
        c, body = self.connect(self.keys.token(lifetime=2))
        self.assertEqual(body[1], 0)
        c.send(auth_packet(0x19, self.keys.token(lifetime=60)))
        first, body = c.read()
        self.assertEqual(first, 0xF0)
        self.assertEqual(body[0], 0x00)
        time.sleep(2.5)  # past the first token's expiry
        c.send(bytes([0xC0, 0]))  # PINGREQ
        self.assertEqual(c.read(), (0xD0, b""))

    def test_auth_as_another_identity_or_with_a_bad_token_disconnects(self):
        for token, why in ((self.keys.token(sub="billing"), b"same identity"),
                           (self.keys.token(lifetime=-1), b"token expired")):
            with self.subTest(why=why):
                c, _ = self.connect(self.keys.token())
                c.send(auth_packet(0x19, token))
                first, body = c.read()
                self.assertEqual((first, body[0]), (0xE0, 0x87))
                self.assertIn(why, body)
                self.assertTrue(c.closed())

    def test_auth_without_enhanced_auth_is_a_protocol_error(self):
        c = tls_conn(self.tls_port, self.ca.cert, V5)
        self.addCleanup(c.close)
        c.send(connect_bytes("dispatch-pw", version=V5, username="svc", password=self.keys.token()))
        self.assertEqual(c.read()[1][1], 0)
        c.send(auth_packet(0x19, self.keys.token()))
        first, body = c.read()
        self.assertEqual((first, body[0]), (0xE0, 0x82))


class Es256Test(JwtTestBase):
    public_key = "ec_pub"

    def test_es256_tokens(self):
        for version in (V5, V311):
            with self.subTest(version=version):
                self.assertEqual(self.login(version, self.keys.token("ES256")), 0)
                self.assertEqual(self.login(version, self.keys.token("ES256")[:-4] + "AAAA"),
                                 BAD_LOGIN[version])
                self.assertEqual(self.login(version, self.keys.token("RS256")), BAD_LOGIN[version])


class JwtConfigurationTest(NodeTestCase):
    def test_bad_key_files_stop_the_node(self):
        tmp = self.temp_dir()
        short = write_file(os.path.join(tmp, "short.secret"), "too short")
        not_pem = write_file(os.path.join(tmp, "not.pem"), "hello")
        for settings, named in (({"jwt.enabled": "true"}, "jwt.public_key_file"),
                                ({"jwt.enabled": "true", "jwt.hs256_secret_file": short}, "at least 32 bytes"),
                                ({"jwt.enabled": "true", "jwt.public_key_file": not_pem}, "not a PEM public key"),
                                ({"jwt.enabled": "true", "jwt.public_key_file": "/nonexistent"}, "cannot be read")):
            with self.subTest(named=named):
                p = self.node_exits(settings)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(named, p.output)


if __name__ == "__main__":
    unittest.main()
