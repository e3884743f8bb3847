"""Who may post: sender authenticity and each community's posting policy (pure)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import authres
from publicsuffixlist import PublicSuffixList

from intranet.addresses import COMMANDS
from intranet.format import Community
from intranet.settings import Settings

from .parse import Inbound

log = logging.getLogger(__name__)

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
NOT_MODERATOR = "not-moderator"  # an announcements-only community (``posting: moderators``): refused, not held

# Commands anyone may write to: all they do is mail the From address a confirmation, or a notice.
OPEN_COMMANDS = frozenset(COMMANDS)


@dataclass(frozen=True)
class Authenticity:
    result: str  # pass, fail or none
    why: str


@dataclass(frozen=True)
class Result:
    """One method's result in an ``Authentication-Results`` header (RFC 8601), as the MTA wrote it."""

    method: str  # dkim, spf, dmarc, ... (lower case)
    result: str  # pass, fail, none, ... (lower case)
    properties: dict[str, str]  # "header.d" -> "example.org", "smtp.mailfrom" -> "a@example.org"


def read_results(value: str) -> tuple[str, list[Result]]:
    """The authserv-id and results of one header value; raises ``authres.AuthResError`` if unreadable.

    The header is parsed by its grammar (``authres``): a word such as
    ``dmarc=pass`` inside a property's value, a ``reason="..."`` or a comment
    is never taken for a result.
    """
    header = authres.AuthenticationResultsHeader.parse_value(value)
    results = [
        Result(
            str(r.method).lower(),
            str(r.result).lower(),
            {f"{p.type}.{p.name}".lower(): str(p.value) for p in r.properties},
        )
        for r in header.results
    ]
    return str(header.authserv_id).lower(), results


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: nothing is fetched


def _domain(value: str) -> str:
    """The domain of an address or domain, lower case, in ASCII (``bücher.de`` -> ``xn--bcher-kva.de``)."""
    domain = value.rpartition("@")[2].strip().strip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain  # not a name IDNA can write: compared as it is


def organisational_domain(domain: str) -> str:
    """The registrable part of ``domain``: one label below its public suffix.

    The public suffix comes from the Public Suffix List as shipped by the
    ``publicsuffixlist`` package (``mail.north.org.uk`` -> ``north.org.uk``,
    ``a.example.com`` -> ``example.com``; a name under a top-level domain the
    list does not know is taken as under a one-label suffix). A domain that is
    itself a public suffix (``org.uk``) has none: "".
    """
    domain = _domain(domain)
    return (_suffixes().privatesuffix(domain) or "") if domain else ""


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment (RFC 7489, 3.1): the two domains have the same organisational domain.

    So ``mail.example.org`` is aligned with ``example.org``, but
    ``north.org.uk`` is not aligned with ``south.org.uk``. Equal domains are
    always aligned; a public suffix is aligned with nothing else.
    """
    a, b = _domain(a), _domain(b)
    if not a or not b:
        return False
    if a == b:
        return True
    org = organisational_domain(a)
    return bool(org) and org == organisational_domain(b)


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def authenticate(
    mail: Inbound, peer: str, settings: Settings, dkim_check: Callable[[], list[Result]] | None = None
) -> Authenticity:
    """Is the From address really the sender's, as far as a trusted MTA, or our own DKIM check, could tell?

    The MTA's word is its ``Authentication-Results`` headers (:func:`mta_headers`)
    that carry the configured ``trusted_authserv_id``, on mail from a trusted
    MTA address. What their results mean, taken together, is :func:`judge`.
    Where they give no answer, ``dkim_check`` (with ``verify_dkim``: the
    gateway's own DKIM verification, :func:`mailgateway.dkimverify.checker`,
    called only then) gives results judged the same way. Mail from a trusted
    MTA without its headers is authentic only with ``trust_local_senders``.
    """
    from_domain = _domain(mail.from_address)
    trusted_peer = any(_same_address(peer, mta) for mta in settings.trusted_mtas.split())
    results = None
    verdict = Authenticity(NONE, "no trusted authentication result")
    if trusted_peer and settings.trusted_authserv_id:
        results = mta_results(mail, settings.trusted_authserv_id.lower())
        if results is not None:
            verdict = judge(results, from_domain, settings.trusted_authserv_id.lower())
    if verdict.result == NONE and dkim_check is not None:
        own = judge([r for r in dkim_check() if r.method == "dkim"], from_domain, "the gateway")
        if own.result != NONE:
            return own
    if results is None and trusted_peer and settings.trust_local_senders:
        return Authenticity(PASS, f"trusted local sender at {peer}")
    return verdict


def mta_headers(mail: Inbound) -> list[str]:
    """The ``Authentication-Results`` values the MTA that delivered ``mail`` wrote, topmost first.

    Those are the ones above the topmost ``Received`` header, the MTA's own
    trace of where it got the message from: OpenDKIM and OpenDMARC in Postfix
    each put theirs there (three headers: DMARC, SPF, DKIM), and rspamd its
    one. Anything below was in the message when the MTA received it, so the
    sender may have written it. A message without a ``Received`` header says
    nothing of where the MTA's headers end: only the topmost counts.
    """
    values = mail.headers.get("authentication-results", [])
    names = mail.header_names
    if "received" not in names:
        return values[:1]
    return values[: names[: names.index("received")].count("authentication-results")]


def mta_results(mail: Inbound, authserv_id: str) -> list[Result] | None:
    """The results in the MTA's headers (:func:`mta_headers`) that carry ``authserv_id``; None if it wrote none.

    A header that cannot be parsed adds no result, but still counts as
    written by the MTA (its authserv-id cannot be read either).
    """
    found: list[Result] | None = None
    for value in mta_headers(mail):
        try:
            authserv, results = read_results(value)
        except Exception as exc:  # noqa: BLE001 - authres raises AuthResError; whatever it raises, no result is safe
            log.warning("%s: Authentication-Results cannot be read (%s): no result", mail.message_id, exc)
            found = found or []
            continue
        if authserv == authserv_id:
            found = (found or []) + results
    return found


def judge(results: list[Result], from_domain: str, authserv: str) -> Authenticity:
    """What the trusted MTA's results say of a From address in ``from_domain``.

    Authentic (pass) only with ``dmarc=pass`` whose ``header.from`` is the
    From domain, or ``dkim=pass`` whose ``header.d`` is aligned with it, or
    ``spf=pass`` whose ``smtp.mailfrom`` domain is aligned with it (see
    :func:`aligned`). Not authentic (fail) on any ``dmarc=fail``, which wins
    over a pass (the domain's own policy, strict alignment perhaps, said no),
    or an aligned ``dkim=fail`` with no pass. Anything else is no result.
    """
    if any(r.method == "dmarc" and r.result == FAIL for r in results):
        return Authenticity(FAIL, f"DMARC failed at {authserv}")
    for r in results:
        if r.result != PASS:
            continue
        if r.method == "dmarc" and from_domain and _domain(r.properties.get("header.from", "")) == from_domain:
            return Authenticity(PASS, f"DMARC passed for {from_domain} at {authserv}")
        if r.method == "dkim" and aligned(r.properties.get("header.d", ""), from_domain):
            return Authenticity(PASS, f"DKIM of {_domain(r.properties['header.d'])} passed at {authserv}")
        if r.method == "spf" and aligned(r.properties.get("smtp.mailfrom", ""), from_domain):
            return Authenticity(PASS, f"SPF of {_domain(r.properties['smtp.mailfrom'])} passed at {authserv}")
    if any(
        r.method == "dkim" and r.result == FAIL and aligned(r.properties.get("header.d", ""), from_domain)
        for r in results
    ):
        return Authenticity(FAIL, f"DKIM of {from_domain} failed at {authserv}")
    return Authenticity(NONE, f"no DMARC, DKIM or SPF pass for {from_domain or 'the From domain'} at {authserv}")


def command_refusal(kind: str, authenticity: Authenticity) -> str | None:
    """Why a mail command of ``kind`` may not act for its From address, or None.

    A signed token (a confirmation, a moderator's reply address, an
    unsubscribe address) names a person; a forwarded or leaked one must not
    let someone else act, so every command but :data:`OPEN_COMMANDS` needs an
    authentic From as well.
    """
    if kind in OPEN_COMMANDS or authenticity.result == PASS:
        return None
    return NOT_AUTHENTIC if authenticity.result == FAIL else UNVERIFIED


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
    if community.posting == "moderators" and (sender is None or sender not in community.moderators):
        return NOT_MODERATOR
    if community.posting == "known" and sender is None:
        return NOT_KNOWN
    if community.posting == "members" and (
        sender is None or sender not in set(community.members) | set(community.moderators)
    ):
        return NOT_MEMBER
    return None
