"""DKIM signatures on the mail the gateway sends (dkimpy).

With ``dkim_key_file`` set, every message is signed once, as it leaves
(:class:`mailgateway.outgoing.Delivery`, for the relay and for the outbox
alike). By then its bytes are final, so the bytes signed are the bytes sent.
The signing domain (``d=``) is ``mail_domain``. That is also the domain of the
From of notifications (``"Name via Community" <community@mail_domain>``) and
of notices (``intranet-noreply@mail_domain``, unless ``notice_from`` names
another domain), so the signature aligns with From for DMARC. The key is an
RSA key in PEM (PKCS#1 or PKCS#8), read once at start. Its public half is
published at ``<dkim_selector>._domainkey.<mail_domain>`` (docs/deployment.md).

The signature covers From, To, Subject, Date, Message-ID, the list headers
(List-Unsubscribe and List-Unsubscribe-Post among them) and the MIME headers
of those a message has. The first group is listed once more than it
occurs, so nobody along the way can add a second one, say a second From or
a List-Unsubscribe of their own, without breaking the signature.
Canonicalisation is relaxed/relaxed, which survives a relay that refolds
headers or trims trailing spaces.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dkim
import dkim.crypto

from intranet.errors import ConfigError
from intranet.settings import Settings

log = logging.getLogger(__name__)

FROZEN = ("from", "to", "cc", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post")
SIGNED = (
    *FROZEN,
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-post",
    "list-subscribe",
    "list-archive",
    "archived-at",
    "auto-submitted",
    "precedence",
)


def header_names(raw: bytes) -> list[str]:
    """The names of the header fields of ``raw``, lower-case, in order (a name once per field)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        if line and line[:1] not in (b" ", b"\t") and b":" in line:
            names.append(line.split(b":", 1)[0].strip().decode("ascii", "replace").lower())
    return names


def signed_headers(raw: bytes) -> list[str]:
    """The ``h=`` list for ``raw``: each header of SIGNED it has, as often as it has it; FROZEN once more."""
    present = header_names(raw)
    names = [name for name in present if name in SIGNED]
    return names + [name for name in FROZEN if name in present]


class Signer:
    """Signs outgoing messages with one key for one domain and selector."""

    def __init__(self, key_file: Path, selector: str, domain: str) -> None:
        try:
            self.key = key_file.read_bytes()
            dkim.crypto.parse_pem_private_key(self.key)
        except (OSError, dkim.crypto.UnparsableKeyError, ValueError) as exc:
            raise ConfigError(f"dkim_key_file {key_file}: not a readable RSA private key in PEM ({exc})") from None
        if key_file.stat().st_mode & 0o077:
            log.warning("dkim_key_file %s can be read by others than its owner: chmod 600 it", key_file)
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("idna")

    @classmethod
    def from_settings(cls, settings: Settings, state_dir: Path) -> Signer | None:
        """The signer ``settings`` ask for (a relative key path is under ``state_dir``), or None."""
        if not settings.dkim_key_file:
            return None
        return cls(
            Path(state_dir) / os.path.expanduser(settings.dkim_key_file), settings.dkim_selector, settings.mail_domain
        )

    def sign(self, raw: bytes, message_id: str = "") -> bytes:
        """``raw`` with a DKIM-Signature on top; ``raw`` as it is if it cannot be signed (logged)."""
        try:
            signature = dkim.sign(
                raw,
                self.selector,
                self.domain,
                self.key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.encode("ascii") for name in signed_headers(raw)],
            )
        except dkim.DKIMException as exc:
            # Carrying on is safe: the mail still goes, only without the signature a receiver may want.
            log.error("outgoing %s: could not DKIM-sign it, sent unsigned: %s", message_id, exc)
            return raw
        return bytes(signature) + raw
