"""Who may post: sender authenticity and each community's posting policy (pure)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from intranet.format import Community
from intranet.settings import Settings

from .parse import Inbound

PASS = "pass"  # noqa: S105 - a result, not a password
FAIL = "fail"
NONE = "none"

# Hold reasons.
NOT_AUTHENTIC = "not-authentic"
UNVERIFIED = "unverified-sender"
NOT_KNOWN = "not-known"
NOT_MEMBER = "not-member"
TOKEN_MISMATCH = "token-not-yours"  # noqa: S105
NOT_IN_AUDIENCE = "not-in-audience"

RESULT_RE = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)", re.I)


@dataclass(frozen=True)
class Authenticity:
    result: str  # pass, fail or none
    why: str


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def authenticate(mail: Inbound, peer: str, settings: Settings) -> Authenticity:
    """Is the From address really the sender's, as far as a trusted MTA could tell?

    Only the topmost ``Authentication-Results`` header counts, only when it
    carries the configured ``trusted_authserv_id`` and the message came from a
    trusted MTA address: any other such header was written by someone else.
    """
    trusted_peer = any(_same_address(peer, mta) for mta in settings.trusted_mtas.split())
    results = mail.headers.get("authentication-results", [])
    if trusted_peer and settings.trusted_authserv_id and results:
        top = results[0]
        authserv = top.split(";", 1)[0].strip().split()[0].lower() if top.strip() else ""
        if authserv == settings.trusted_authserv_id.lower():
            found = {method.lower(): value.lower() for method, value in RESULT_RE.findall(top)}
            if found.get("dmarc") == "fail":
                return Authenticity(FAIL, "DMARC failed")
            if found.get("dmarc") == "pass" or found.get("dkim") == "pass":
                return Authenticity(PASS, f"{found.get('dmarc') and 'DMARC' or 'DKIM'} passed at {authserv}")
            if found.get("dkim") == "fail":
                return Authenticity(FAIL, "DKIM failed")
            return Authenticity(NONE, f"no DMARC or DKIM result at {authserv}")
    if trusted_peer and settings.trust_local_senders:
        return Authenticity(PASS, f"trusted local sender at {peer}")
    return Authenticity(NONE, "no trusted authentication result")


def hold_reason(
    community: Community,
    sender: str | None,
    authenticity: Authenticity,
    token_ok: bool = True,
    may_read: bool = True,
) -> str | None:
    """Why a message to ``community`` must be held for a moderator, or None.

    ``sender`` is the handle the From address matched in ``people/``, if any;
    ``may_read`` whether that person is in the community's audience.
    """
    if authenticity.result == FAIL:
        return NOT_AUTHENTIC
    if sender is not None and authenticity.result != PASS:
        return UNVERIFIED  # someone may be passing as a known person
    if not token_ok:
        return TOKEN_MISMATCH
    if sender is not None and not may_read:
        return NOT_IN_AUDIENCE
    if community.posting == "known" and sender is None:
        return NOT_KNOWN
    if community.posting == "members" and (
        sender is None or sender not in set(community.members) | set(community.moderators)
    ):
        return NOT_MEMBER
    return None
