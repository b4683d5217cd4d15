# SPDX-License-Identifier: MIT
"""A throw-away certificate authority for HTTPS tests (the openssl CLI)."""

import os
import shutil
import subprocess

from .settings import HarnessError


class TestCA:
    """Files made by make_test_ca(): ca_cert, ca_key, server_cert,
    server_key (PEM), all inside `dir`."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        self.server_cert = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server.key")

    def __repr__(self):
        return "<TestCA %s>" % self.dir


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl"] + list(args), cwd=cwd,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise HarnessError("openssl %s failed:\n%s" % (
            args[0], proc.stdout.decode("utf-8", "replace")))


def make_test_ca(directory, name="collectd-pagerduty test CA"):
    """Creates a CA and a server certificate signed by it, valid for
    IP:127.0.0.1 and DNS:localhost, in `directory` (created if needed).
    Each call makes an unrelated CA, so two calls give a "wrong CA"."""
    if shutil.which("openssl") is None:
        raise HarnessError("the openssl command is needed for HTTPS tests")
    os.makedirs(directory, exist_ok=True)
    ca = TestCA(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    _openssl("req", "-x509", *ec, "-nodes", "-sha256", "-days", "2",
             "-keyout", ca.ca_key, "-out", ca.ca_cert, "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=directory)
    csr = os.path.join(directory, "server.csr")
    _openssl("req", "-new", *ec, "-nodes", "-sha256", "-keyout",
             ca.server_key, "-out", csr, "-subj", "/CN=localhost",
             cwd=directory)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca.ca_cert, "-CAkey",
             ca.ca_key, "-CAcreateserial", "-sha256", "-days", "2",
             "-extfile", ext, "-out", ca.server_cert, cwd=directory)
    os.chmod(ca.ca_key, 0o600)
    os.chmod(ca.server_key, 0o600)
    return ca
