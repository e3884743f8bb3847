"""verify_dkim: the gateway checks DKIM signatures itself, with keys from a DNS server on loopback.

dnsmasq (tests/postfix.py's ``Dns``, no root needed) publishes the keys of
Amira's hospital and of attacker.example. The adapter
(:mod:`mailgateway.dkimverify`) is tried on its own, then a gateway that
trusts no MTA's results judges what it found.
"""

from __future__ import annotations

import email
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import dkim
import pytest
from conftest import free_port
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail, wire
from postfix import Dns, dkim_key, need_tools

from intranet.settings import Settings
from mailgateway.dkimverify import make_resolver, verify
from mailgateway.policy import Result

NORTH, ATTACKER = "northhospital.org.uk", "attacker.example"
AMIRA = f"amira.haddad@{NORTH}"


@dataclass
class Keys:
    dns: Dns
    private: dict[str, bytes]  # domain -> PEM key, published at s1._domainkey.<domain>

    def signed(self, domain: str, subject: str = "Ward 7 rota", selector: str = "s1") -> bytes:
        raw = wire(mail(subject=subject, body="The rota is up.", sender=f"Amira Haddad <{AMIRA}>"))
        return dkim.sign(raw, selector.encode(), domain.encode(), self.private[domain]) + raw


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    need_tools("dnsmasq")
    folder = tmp_path_factory.mktemp("dkim-dns")
    private, records = {}, {}
    for domain in (NORTH, ATTACKER):
        private[domain], records[f"s1._domainkey.{domain}"] = dkim_key(folder, domain)
    with Dns(folder, records) as server:
        yield Keys(server, private)


def results(keys: Keys, raw: bytes, **kwargs: float) -> list[tuple[str, str, str]]:
    found = verify(raw, make_resolver(keys.dns.address), "test", **kwargs)
    assert all(isinstance(r, Result) and r.method == "dkim" for r in found)
    return [(r.result, r.properties.get("header.d", ""), r.properties.get("header.s", "")) for r in found]


def test_a_signature_verifies_with_the_published_key(keys: Keys) -> None:
    assert results(keys, keys.signed(NORTH)) == [("pass", NORTH, "s1")]
    # Each signature on its own, topmost first.
    signed = keys.signed(NORTH)
    both = dkim.sign(signed, b"s1", ATTACKER.encode(), keys.private[ATTACKER]) + signed
    assert [r[:2] for r in results(keys, both)] == [("pass", ATTACKER), ("pass", NORTH)]


def test_a_changed_message_fails_and_a_missing_key_is_an_error(keys: Keys) -> None:
    raw = keys.signed(NORTH)
    assert results(keys, raw.replace(b"The rota is up.", b"The rota is off.")) == [("fail", NORTH, "s1")]
    assert results(keys, keys.signed(NORTH, selector="s2")) == [("permerror", NORTH, "s2")]
    # Signed with a key the attacker made for Amira's domain: the published key says no.
    forged = dkim.sign(raw, b"s1", NORTH.encode(), keys.private[ATTACKER]) + raw
    assert results(keys, forged)[0] == ("fail", NORTH, "s1")


def test_nothing_it_is_given_makes_it_raise(keys: Keys) -> None:
    raw = wire(mail(sender=AMIRA))
    assert results(keys, raw) == []
    assert results(keys, b"DKIM-Signature: v=1; garbage\r\n" + raw) == [("permerror", "", "")]
    assert results(keys, b"DKIM-Signature: v=1; a=rsa-sha256; d=..; s=s1; h=from; bh=x; b=y\r\n" + raw)[0][0] in (
        "permerror",
        "fail",
    )
    assert verify(b"\x00\xff\r\n\r\n", make_resolver(keys.dns.address)) == []
    assert [r.result for r in verify(keys.signed(NORTH), None)] == ["temperror"]


def test_dns_that_does_not_answer_is_a_temporary_error() -> None:
    # Nothing listens there: the look-up waits out the time it is given, and says so.
    silent = make_resolver(f"127.0.0.1:{free_port()}")
    key = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]
    raw = dkim.sign(wire(mail(sender=AMIRA)), b"s1", NORTH.encode(), subprocess.run(key, capture_output=True).stdout)
    assert [r.result for r in verify(raw, silent, seconds=0.3)] == ["temperror"]


def test_the_resolver_setting_is_an_address_and_a_port() -> None:
    for value, nameserver, port in [("127.0.0.1:5353", "127.0.0.1", 5353), ("[::1]:53", "::1", 53), ("::1", "::1", 53)]:
        resolver = make_resolver(Settings.from_mapping({"dns_resolver": value}).dns_resolver)
        assert resolver is not None
        assert (resolver.nameservers, resolver.port) == ([nameserver], port)
    for bad in ("localhost", "127.0.0.1:0", "127.0.0.1:99999", "[::1]x", "1.2.3.4:53:1"):
        with pytest.raises(ValueError, match="dns_resolver"):
            Settings.from_mapping({"dns_resolver": bad})


@pytest.fixture(scope="module")
def gw(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A gateway behind an MTA that writes no results, checking DKIM itself."""
    root = tmp_path_factory.mktemp("dkim-gw") / "intranet"
    git_root(root, trust_local_senders=False, verify_dkim=True, dns_resolver=keys.dns.address)
    add_person(root, "amira.haddad", name="Amira Haddad", emails=[AMIRA], organisation="North Hospital")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Amira")
    with Harness(root) as harness:
        yield harness


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("aligned", ("published", "")),
        ("unaligned", ("held", "unverified-sender")),
        ("changed", ("held", "not-authentic")),
        ("unsigned", ("held", "unverified-sender")),
    ],
)
def test_the_gateway_judges_its_own_dkim_results(keys: Keys, gw: Harness, case: str, expected: tuple) -> None:
    raw = {
        "aligned": lambda: keys.signed(NORTH, f"Rota ({case})"),
        "unaligned": lambda: keys.signed(ATTACKER, f"Rota ({case})"),
        "changed": lambda: keys.signed(NORTH, f"Rota ({case})").replace(b"The rota is up.", b"Send me your password."),
        "unsigned": lambda: wire(mail(subject=f"Rota ({case})", sender=AMIRA)),
    }[case]()
    gw.send(raw, f"handover@{DOMAIN}", sender=AMIRA)
    [record] = gw.wait(email.message_from_bytes(raw)["Message-ID"])
    assert (record["outcome"], record["reason"] if record["outcome"] == "held" else "") == expected
