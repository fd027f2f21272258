"""Certificates made at test time with the openssl CLI: a CA (openssl ca,
so it can revoke and publish CRLs), server and device certificates, expired
ones, and ones of another CA."""

import os
import ssl
import subprocess
import textwrap

OPENSSL = "/usr/bin/openssl"
VIN = "WVWZZZ1JZXW000001"  # the CN of Pki.device


def run(*args):
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


class CertAuthority:
    def __init__(self, directory, name="Convoy Test CA"):
        self.dir = directory
        os.makedirs(os.path.join(directory, "issued"), exist_ok=True)
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        self.config = os.path.join(directory, "ca.cnf")
        open(os.path.join(directory, "index.txt"), "w").close()
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(directory, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(self.config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [ ca ]
                default_ca = test_ca
                [ test_ca ]
                dir = {directory}
                database = $dir/index.txt
                new_certs_dir = $dir/issued
                certificate = $dir/ca.crt
                private_key = $dir/ca.key
                serial = $dir/serial
                crlnumber = $dir/crlnumber
                default_md = sha256
                default_days = 30
                default_crl_days = 30
                policy = policy_any
                unique_subject = no
                copy_extensions = none
                [ policy_any ]
                commonName = optional
                organizationName = optional
                """))
        run("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "365", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, cn=None, sans=(), server=False, start=None, end=None):
        """(cert, key) paths of a new certificate. sans: "DNS:x" / "URI:x" /
        "IP:x" entries; start/end: YYYYMMDDHHMMSSZ for certificates not valid now."""
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        cert = os.path.join(self.dir, f"{name}.crt")
        ext = os.path.join(self.dir, f"{name}.ext")
        subject = f"/CN={cn}" if cn else "/O=Convoy tests"
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", subject)
        lines = ["[ ext ]", "basicConstraints = CA:FALSE",
                 "keyUsage = digitalSignature, keyEncipherment",
                 f"extendedKeyUsage = {'serverAuth' if server else 'clientAuth'}"]
        if sans:
            lines.append("subjectAltName = " + ", ".join(sans))
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        args = ["ca", "-batch", "-config", self.config, "-in", csr, "-out", cert,
                "-extfile", ext, "-extensions", "ext", "-notext"]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        run(*args)
        return cert, key

    def revoke(self, cert):
        run("ca", "-batch", "-config", self.config, "-revoke", cert)

    def write_crl(self, path):
        """Writes the CA's current CRL to path (atomically: a reader never
        sees half a file)."""
        tmp = path + ".tmp"
        run("ca", "-batch", "-config", self.config, "-gencrl", "-out", tmp)
        os.replace(tmp, path)
        return path


def client_context(ca, cert=None, key=None):
    """An ssl context that trusts ca, with the client certificate (cert, key) if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def server_tls(ca, clients="none", **more):
    """Broker(tls=...) for a server certificate for localhost and 127.0.0.1
    issued by ca; clients: tls.client_certificates."""
    cert, key = ca.issue("server", cn="localhost", sans=["DNS:localhost", "IP:127.0.0.1"], server=True)
    return {"cert": cert, "key": key, "clients": clients, **more}


class Pki:
    """One CA with server and device certificates, and a second CA nobody trusts."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = CertAuthority(os.path.join(directory, "ca"))
        self.other_ca = CertAuthority(os.path.join(directory, "other-ca"), name="Untrusted CA")
        self.server = self.ca.issue("server", cn="localhost", sans=["DNS:localhost", "IP:127.0.0.1"],
                                    server=True)
        self.device = self.ca.issue("device", cn=VIN, sans=[f"URI:urn:vin:{VIN}"])
        self.second = self.ca.issue("second", cn="WVWZZZ1JZXW000002")
        self.expired = self.ca.issue("expired", cn="WVWZZZ1JZXW000003",
                                     start="20200101000000Z", end="20210101000000Z")
        self.not_yet = self.ca.issue("not-yet", cn="WVWZZZ1JZXW000004",
                                     start="20990101000000Z", end="20991231000000Z")
        self.no_cn = self.ca.issue("no-cn", sans=["DNS:tcu.example"])
        self.foreign = self.other_ca.issue("foreign", cn=VIN)
        self.revoked = self.ca.issue("revoked", cn="WVWZZZ1JZXW000005")
        self.ca.revoke(self.revoked[0])
        self.crl = self.ca.write_crl(os.path.join(directory, "crl.pem"))

    def tls(self, clients="optional", crl=False):
        """Broker(tls=...): the server certificate, this CA for the devices'
        certificates (tls.client_certificates = clients), its CRL if crl."""
        return {"cert": self.server[0], "key": self.server[1], "ca": self.ca.cert,
                "crl": self.crl if crl else None, "clients": clients}

    def paho_tls(self, pair=None):
        args = {"ca_certs": self.ca.cert}
        if pair:
            args["certfile"], args["keyfile"] = pair
        return args


def fingerprint(cert):
    """The certificate's SHA-256 fingerprint, "AB:CD:..." as operators copy it."""
    out = subprocess.run([OPENSSL, "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def common_name(cert):
    """The CN of the certificate's subject."""
    out = subprocess.run([OPENSSL, "x509", "-in", cert, "-noout", "-subject", "-nameopt", "multiline"],
                         check=True, capture_output=True, text=True).stdout
    return out.split("commonName")[1].split("=")[1].strip()
