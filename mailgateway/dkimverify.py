"""The gateway's own DKIM check of incoming mail (an adapter: dkimpy, DNS through dnspython).

For a site whose MTA writes no ``Authentication-Results``, ``verify_dkim: true``
lets the gateway verify the ``DKIM-Signature`` headers itself. It only
verifies: what a result means is decided in :func:`mailgateway.policy.authenticate`,
which calls the check (:meth:`Verifier.checker`) only when the MTA's results
gave no answer, and judges a signature as it judges an MTA's ``dkim=`` result
(a pass whose ``d=`` is aligned with the From domain makes the sender
authentic).

Each signature becomes a :class:`~mailgateway.policy.Result` of method ``dkim``
with ``header.d`` and ``header.s``, and one of RFC 8601's words:

- ``pass``: it verifies with the key published at ``<s>._domainkey.<d>``;
- ``fail``: the key was found, and the signature does not verify with it (the
  message was changed on the way, or the signature was made up);
- ``permerror``: the signature or the key is malformed, or no key is published;
- ``temperror``: DNS did not answer in time, or failed (SERVFAIL).

DNS goes to ``dns_resolver`` (``127.0.0.1:5353``: host and port), or with it
empty to the servers of ``/etc/resolv.conf``. The check is bounded: each look-up
waits at most :data:`DNS_TIMEOUT` seconds, all of one message's together at most
:data:`DEADLINE`, and only the first :data:`MAX_SIGNATURES` signatures are
tried. It never raises: whatever dkimpy or DNS raises becomes a result (or, for
a message dkimpy cannot read at all, no result), and the message is judged
without it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import dkim
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from dkim.util import parse_tag_value

from intranet.settings import Settings, resolver_address

from .policy import Result

log = logging.getLogger(__name__)
_dkimpy_log = logging.getLogger(f"{__name__}.dkimpy")  # dkimpy's own complaints, at its levels

DNS_TIMEOUT = 4.0  # seconds one TXT look-up may take, retries included
DEADLINE = 10.0  # seconds all of one message's look-ups may take together
MAX_SIGNATURES = 5  # signatures tried per message; mail rarely carries more than two or three


def make_resolver(setting: str) -> dns.resolver.Resolver | None:
    """A resolver for ``dns_resolver`` (empty: the system's); None when the system has none configured."""
    if setting:
        address = resolver_address(setting)
        if address is None:  # Settings refuse such a value; this is for callers that made their own
            raise ValueError(f"not a DNS server address: {setting!r}")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [address[0]]
        resolver.port = address[1]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.exception.DNSException as exc:
            log.warning("no DNS resolver configured (%s): DKIM checks will all be temperror", exc)
            return None
    resolver.timeout = resolver.lifetime = DNS_TIMEOUT
    return resolver


class _Lookup:
    """dkimpy's ``dnsfunc`` for one signature: the TXT record at ``name``, through our resolver.

    It remembers what DNS said, which dkimpy does not pass on: a timeout or a
    failure (temperror), no record at all (permerror), or a record.
    """

    def __init__(self, resolver: dns.resolver.Resolver | None, deadline: float) -> None:
        self.resolver = resolver
        self.deadline = deadline
        self.failed = ""
        self.missing = False
        self.found = False

    def __call__(self, name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
        left = min(timeout, DNS_TIMEOUT, self.deadline - time.monotonic())
        if self.resolver is None or left <= 0:
            self.failed = "no resolver" if self.resolver is None else "no time left for DNS"
            raise dkim.DnsTimeoutError(self.failed)
        try:
            answer = self.resolver.resolve(
                name.decode("ascii"), dns.rdatatype.TXT, lifetime=left, search=False, raise_on_no_answer=False
            )
        except (dns.resolver.NXDOMAIN, UnicodeError, dns.exception.SyntaxError, dns.name.NameTooLong):  # no such name
            self.missing = True
            return None
        except dns.exception.DNSException as exc:  # Timeout, NoNameservers (SERVFAIL, REFUSED), ...
            self.failed = type(exc).__name__
            raise dkim.DnsTimeoutError(self.failed) from exc
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                self.found = True
                return b"".join(next(iter(rrset)).strings)
        self.missing = True
        return None


def _tags(value: bytes) -> dict[str, str]:
    """``header.d`` and ``header.s`` of a signature, as far as they can be read."""
    try:
        tags = parse_tag_value(value)
    except Exception:  # noqa: BLE001 - a malformed signature: its result says so, its domain stays unknown
        return {}
    return {
        f"header.{key}": tags[key.encode()].decode("ascii", "replace").strip()
        for key in ("d", "s")
        if key.encode() in tags
    }


def verify(
    raw: bytes, resolver: dns.resolver.Resolver | None, label: str = "", seconds: float = DEADLINE
) -> list[Result]:
    """The DKIM results of ``raw``'s signatures, topmost first, their look-ups done within ``seconds``."""
    deadline = time.monotonic() + seconds
    try:
        message = dkim.DKIM(raw, logger=_dkimpy_log, timeout=DNS_TIMEOUT)
        signatures = [value for name, value in message.headers if name.lower() == b"dkim-signature"]
    except Exception as exc:  # noqa: BLE001 - dkimpy could not read the message at all: no signature counts
        log.info("%s: DKIM signatures cannot be read (%s): none checked", label, exc)
        return []
    results = []
    for index, value in enumerate(signatures[:MAX_SIGNATURES]):
        lookup = _Lookup(resolver, deadline)
        try:
            good = message.verify(idx=index, dnsfunc=lookup)
            result = "pass" if good else "temperror" if lookup.failed else "permerror" if lookup.missing else "fail"
        except dkim.ValidationError as exc:  # after the key was found: the body hash does not match
            log.info("%s: DKIM signature %d does not verify (%s)", label, index + 1, exc)
            result = "fail" if lookup.found else "permerror"
        except Exception as exc:  # noqa: BLE001 - dkimpy raises DKIMException on malformed input, and more on hostile input
            log.info("%s: DKIM signature %d cannot be checked (%s)", label, index + 1, exc)
            result = "temperror" if lookup.failed else "permerror"
        properties = _tags(value)
        log.info("%s: DKIM signature of %s: %s", label, properties.get("header.d", "?"), result)
        results.append(Result("dkim", result, properties))
    return results


class Verifier:
    """The worker's DKIM checks: one resolver, and the last message's results (for its other recipients)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.verify_dkim
        self.resolver = make_resolver(settings.dns_resolver) if self.enabled else None
        self._last: tuple[bytes, list[Result]] | None = None

    def checker(self, raw: bytes, label: str = "") -> Callable[[], list[Result]] | None:
        """What :func:`mailgateway.policy.authenticate` calls to check ``raw``; None without ``verify_dkim``."""
        if not self.enabled:
            return None

        def check() -> list[Result]:
            digest = hashlib.sha256(raw).digest()
            if self._last is None or self._last[0] != digest:
                self._last = (digest, verify(raw, self.resolver, label))
            return self._last[1]

        return check
