"""A throwaway certificate authority for tests, made with the ``openssl`` command.

``TestCA.make(folder)`` writes a CA (``ca.pem``) and a server certificate for ``127.0.0.1`` and
``localhost`` signed by it (``server.pem`` with its key ``server.key``). Nothing trusts the CA but
what is told to (``ca_file``). Keys are P-256, so making them takes milliseconds; the fixture
``test_ca`` makes one CA per test session (per xdist worker). Import it with
``from testca import TestCA, test_ca_fixture  # noqa: F401``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import skip_or_fail

DAYS = "3"  # a session lasts minutes; a few days keeps clock skew out of it
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class TestCA:
    ca_file: Path  # the CA's certificate: what a client that trusts the CA loads
    cert_file: Path  # the server's certificate
    key_file: Path  # the server's private key

    __test__ = False  # not a test class, whatever its name says

    @classmethod
    def make(cls, folder: Path) -> TestCA:
        """A new CA and a server certificate signed by it, in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        ca, ca_key = folder / "ca.pem", folder / "ca.key"
        cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
        (folder / "server.ext").write_text(SERVER_EXTENSIONS)
        _openssl(
            "req", "-x509", *KEY, "-keyout", ca_key, "-out", ca, "-days", DAYS,
            "-subj", "/CN=Intranet test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
        )  # fmt: skip
        _openssl("req", *KEY, "-keyout", key, "-out", request, "-subj", "/CN=localhost")
        _openssl(
            "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", DAYS, "-extfile", folder / "server.ext",
        )  # fmt: skip
        for path in (ca_key, key):
            path.chmod(0o600)
        return cls(ca, cert, key)


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


@pytest.fixture(name="test_ca", scope="session")
def test_ca_fixture(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """One CA and server certificate for the whole session."""
    if shutil.which("openssl") is None:
        skip_or_fail("the openssl command is not installed (apt-get install openssl)")
    return TestCA.make(tmp_path_factory.mktemp("test-ca"))
