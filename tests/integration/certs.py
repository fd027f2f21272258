"""Certificates made at test time with the openssl CLI: a CA (openssl ca,
so it can revoke and publish CRLs), server and device certificates, expired
ones, and ones of another CA."""

import os
import subprocess
import textwrap

OPENSSL = "/usr/bin/openssl"


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
