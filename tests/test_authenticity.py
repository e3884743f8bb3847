"""Who sent it: a known person's address is believed only on an aligned, trusted authentication result.

A real gateway on loopback, configured as a deployment would be: no trust in
loopback senders (``trust_local_senders: false``), and a ``trusted_authserv_id``
whose topmost ``Authentication-Results`` header is believed. Each case is a
message "from" a known staff member; what the gateway records for it is the
test. Mail commands (moderation, confirmations, unsubscribe) need the same
authentic From as well as their signed token.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail

from intranet.addresses import load_secret, signed_address, who_of
from intranet.settings import Settings
from mailgateway import policy
from mailgateway.parse import parse_message

MX = "mx.intranet.localhost"
AMIRA = "amira.haddad@northhospital.org.uk"
ANN = "ann.lee@example.org"


def deployment_root(root: Path) -> Path:
    git_root(root, trust_local_senders=False, trusted_authserv_id=MX)
    add_person(root, "amira.haddad", name="Amira Haddad", emails=[AMIRA], organisation="North Hospital")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Amira")
    return root


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with Harness(deployment_root(tmp_path_factory.mktemp("auth") / "intranet")) as harness:
        yield harness


def from_amira(results: list[str], body: str) -> EmailMessage:
    """A message from Amira's address, with ``results`` as Authentication-Results headers, topmost first."""
    message = mail(subject="Ward 7 rota", body=body, sender=f"Amira Haddad <{AMIRA}>")
    for value in results:
        message["Authentication-Results"] = value
    return message


def outcome(gw: Harness, message: EmailMessage) -> tuple[str, str]:
    gw.send(message, f"handover@{DOMAIN}", sender=AMIRA)
    [record] = gw.wait(message["Message-ID"])
    return record["outcome"], record["reason"]


# The four cases of issue #13 that were published as Amira, and must not be.
FORGED = {
    "unaligned-dkim-dmarc-none": (
        f"{MX}; dkim=pass header.d=attacker.example; dmarc=none header.from=northhospital.org.uk",
        "unverified-sender",
    ),
    "unaligned-dkim-spf-fail": (f"{MX}; dkim=pass header.d=attacker.example; spf=fail", "unverified-sender"),
    "pass-inside-a-value": (
        f"{MX}; dmarc=fail header.from=northhospital.org.uk; dkim=pass header.i=dmarc=pass@attacker.example",
        "not-authentic",
    ),
    "pass-inside-a-reason": (f'{MX}; dmarc=fail reason="x dmarc=pass"', "not-authentic"),
    # Not in the table, but the same lie in a comment, and an alignment across a public suffix.
    "pass-inside-a-comment": (f"{MX}; dmarc=none (dmarc=pass) header.from=northhospital.org.uk", "unverified-sender"),
    "dkim-of-a-neighbour-under-org.uk": (f"{MX}; dkim=pass header.d=southhospital.org.uk", "unverified-sender"),
    "spf-of-another-domain": (f"{MX}; spf=pass smtp.mailfrom=amira@attacker.example", "unverified-sender"),
    "dmarc-pass-for-another-domain": (f"{MX}; dmarc=pass header.from=attacker.example", "unverified-sender"),
    "unreadable": (f"{MX}; dkim=pass header.d=northhospital.org.uk;;; =", "unverified-sender"),
}


@pytest.mark.parametrize("case", FORGED)
def test_a_forged_known_sender_is_held(gw: Harness, case: str) -> None:
    header, reason = FORGED[case]
    message = from_amira([header], f"Forged: {case}.")
    assert outcome(gw, message) == ("held", reason)
    assert not [p for p in gw.posts() if p.message_id == message["Message-ID"]]


AUTHENTIC = {
    "aligned-dkim": f"{MX}; dkim=pass header.d=northhospital.org.uk header.s=s1; dmarc=none",
    "aligned-dkim-of-a-subdomain": f"{MX}; dkim=pass (2048-bit key) header.d=mail.northhospital.org.uk; spf=fail",
    "dmarc-pass": f"{MX}; dmarc=pass (p=reject dis=none) header.from=northhospital.org.uk",
    "aligned-spf": f"{MX}; spf=pass smtp.mailfrom=bounces@lists.northhospital.org.uk; dkim=none",
}


@pytest.mark.parametrize("case", AUTHENTIC)
def test_an_aligned_result_publishes(gw: Harness, case: str) -> None:
    message = from_amira([AUTHENTIC[case]], f"Really Amira: {case}.")
    assert outcome(gw, message)[0] == "published"
    assert gw.post(message["Message-ID"]).author.handle == "amira.haddad"


def test_without_a_received_header_only_the_topmost_header_counts(gw: Harness) -> None:
    # Where the MTA's headers end is unknown: a second, lower header with the trusted id (the
    # sender's own, let through by the MTA) does not count.
    lower = from_amira([f"{MX}; dkim=none", f"{MX}; dmarc=pass header.from=northhospital.org.uk"], "Lower pass.")
    assert outcome(gw, lower) == ("held", "unverified-sender")
    # A topmost header of another server hides ours below it: nothing is believed.
    other = from_amira(
        [
            "mx.other.example; dmarc=pass header.from=northhospital.org.uk",
            f"{MX}; dkim=pass header.d=northhospital.org.uk",
        ],
        "Another server on top.",
    )
    assert outcome(gw, other) == ("held", "unverified-sender")


# -- the rule itself, on values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "aligned"),
    [
        ("northhospital.org.uk", "NorthHospital.org.uk.", True),
        ("mail.northhospital.org.uk", "northhospital.org.uk", True),
        ("a.example.com", "b.example.com", True),
        ("southhospital.org.uk", "northhospital.org.uk", False),
        ("example.co.jp", "other.co.jp", False),
        ("org.uk", "northhospital.org.uk", False),
        ("attacker.example", "example.org", False),
        ("intranet.localhost", "intranet.localhost", True),
        ("xn--bcher-kva.de", "mail.bücher.de", True),
        ("", "example.org", False),
    ],
)
def test_relaxed_alignment_is_one_organisational_domain(a: str, b: str, aligned: bool) -> None:
    assert policy.aligned(a, b) is aligned


def test_the_result_is_read_from_the_header_structure_not_its_words() -> None:
    settings = Settings(trusted_authserv_id=MX, trust_local_senders=False)

    def result(header: str, peer: str = "127.0.0.1") -> str:
        raw = f"From: {AMIRA}\r\nAuthentication-Results: {header}\r\nSubject: x\r\n\r\nHi.\r\n".encode()
        inbound = parse_message(raw, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
        return policy.authenticate(inbound, peer, settings).result

    assert result(f"{MX}; dkim=pass header.d=northhospital.org.uk") == policy.PASS
    assert result(f"{MX}; dkim=pass header.d=northhospital.org.uk", peer="192.0.2.1") == policy.NONE
    assert result(f"{MX.upper()}; DKIM=Pass header.d=NorthHospital.org.uk") == policy.PASS
    assert result(f"{MX}; dkim=pass header.i=@northhospital.org.uk") == policy.NONE  # header.d, or nothing
    assert result(f"{MX}; dmarc=fail header.from=northhospital.org.uk; dkim=pass header.d=northhospital.org.uk") == (
        policy.FAIL
    )
    assert result(f"{MX}; none") == policy.NONE


RECEIVED = f"Received: from mail.example.net (mail.example.net [192.0.2.99])\r\n\tby {MX} (Postfix) with ESMTP id 4A1"


def judged(*top: str, dkim_check: list[policy.Result] | None = None) -> policy.Authenticity:
    """What the gateway makes of a message from Amira whose header starts with the fields ``top``."""
    settings = Settings(trusted_authserv_id=MX, trust_local_senders=False)
    head = "".join(f"{field}\r\n" for field in top)
    raw = f"{head}From: {AMIRA}\r\nSubject: x\r\nReceived: from a by b\r\n\r\nHi.\r\n".encode()
    inbound = parse_message(raw, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    check = None if dkim_check is None else (lambda: dkim_check)
    return policy.authenticate(inbound, "127.0.0.1", settings, check)


def test_the_mtas_headers_are_all_those_above_its_received() -> None:
    # What Postfix with OpenDMARC and OpenDKIM writes (tests/test_mta.py): the DKIM pass is in the third.
    milters = [
        f"Authentication-Results: {MX}; dmarc=none (p=none dis=none) header.from=northhospital.org.uk",
        f"Authentication-Results: {MX}; spf=fail smtp.mailfrom=northhospital.org.uk",
        f"Authentication-Results: {MX};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=northhospital.org.uk"
        " header.s=s1 header.b=W88VqTzk;\r\n\tdkim-atps=neutral",
    ]
    assert judged(*milters, RECEIVED).result == policy.PASS
    # Below the MTA's Received line, the trusted id counts for nothing: the sender wrote it.
    below = f"Authentication-Results: {MX}; dmarc=pass header.from=northhospital.org.uk"
    assert judged(milters[0], RECEIVED, below).result == policy.NONE
    assert judged(RECEIVED, below).result == policy.NONE
    # Any dmarc=fail of the MTA wins over a pass in another of its headers.
    fail = f"Authentication-Results: {MX}; dmarc=fail header.from=northhospital.org.uk"
    assert judged(fail, milters[2], RECEIVED).result == policy.FAIL
    # Another filter's header among the MTA's is not believed, and hides nothing.
    other = "Authentication-Results: spam.filter.example; dmarc=pass header.from=northhospital.org.uk"
    assert judged(other, milters[0], RECEIVED).result == policy.NONE
    assert judged(other, milters[2], RECEIVED).result == policy.PASS
    # A header of the MTA's that cannot be read adds nothing, and takes nothing from the others.
    assert judged(f"Authentication-Results: {MX}; dkim=pass;;; =", milters[2], RECEIVED).result == policy.PASS


def test_the_gateways_own_dkim_check_is_judged_like_the_mtas() -> None:
    aligned = policy.Result("dkim", "pass", {"header.d": "mail.northhospital.org.uk", "header.s": "s1"})
    unaligned = policy.Result("dkim", "pass", {"header.d": "attacker.example", "header.s": "s1"})
    broken = policy.Result("dkim", "fail", {"header.d": "northhospital.org.uk", "header.s": "s1"})
    no_key = policy.Result("dkim", "permerror", {"header.d": "northhospital.org.uk", "header.s": "s1"})
    assert judged(dkim_check=[aligned]) == policy.Authenticity(
        policy.PASS, "DKIM of mail.northhospital.org.uk passed at the gateway"
    )
    assert judged(dkim_check=[unaligned, aligned]).result == policy.PASS
    assert judged(dkim_check=[unaligned]).result == policy.NONE
    assert judged(dkim_check=[broken]).result == policy.FAIL
    assert judged(dkim_check=[no_key]).result == policy.NONE
    assert judged(dkim_check=[]).result == policy.NONE
    # Only where the MTA gave no answer: its dmarc=fail stands, and its pass needs no DNS.
    fail = f"Authentication-Results: {MX}; dmarc=fail header.from=northhospital.org.uk"
    assert judged(fail, RECEIVED, dkim_check=[aligned]).result == policy.FAIL
    passed = f"Authentication-Results: {MX}; dkim=pass header.d=northhospital.org.uk"

    def must_not_be_called() -> list[policy.Result]:
        raise AssertionError("checked DKIM again")

    settings = Settings(trusted_authserv_id=MX)
    raw = f"{passed}\r\n{RECEIVED}\r\nFrom: {AMIRA}\r\n\r\nHi.\r\n".encode()
    inbound = parse_message(raw, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert policy.authenticate(inbound, "127.0.0.1", settings, must_not_be_called).result == policy.PASS


# -- mail commands need an authentic From -------------------------------------------------------------


@pytest.fixture
def commands(tmp_path: Path) -> Iterator[Harness]:
    root = deployment_root(tmp_path / "intranet")
    (root / "communities" / "handover" / "subscribers.yml").write_text("amira.haddad: each\n")
    add_person(root, "cy.diaz", name="Cy Diaz")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Subscribed")
    with Harness(root) as harness:
        yield harness


def answer(to: EmailMessage, body: str, sender: str, results: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to["Reply-To"]
    message["Subject"] = f"Re: {to['Subject']}"
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = email.utils.make_msgid(domain="example.org")
    message["In-Reply-To"] = to["Message-ID"]
    for value in results:
        message["Authentication-Results"] = value
    message.set_content(body)
    return message


def sent_to(gw: Harness, address: str, subject_part: str) -> list[EmailMessage]:
    return [m for m in gw.outbox() if m["Delivered-To"] == address and subject_part in str(m["Subject"])]


def record_of(gw: Harness, message: EmailMessage, to: str, sender: str) -> dict:
    gw.send(message, to, sender=sender)
    [record] = gw.wait(message["Message-ID"])
    return record


ANN_PASS = f"{MX}; dmarc=pass header.from=example.org"
ANN_FORGED = f"{MX}; dkim=pass header.d=attacker.example; dmarc=none header.from=example.org"


def test_a_forged_moderator_cannot_approve_held_mail(commands: Harness) -> None:
    gw = commands
    held = mail(subject="Question from a GP", body="How do you hand over?", sender="Dr Eve Moss <eve@gp.example>")
    gw.send(held, f"handover@{DOMAIN}", sender="eve@gp.example")
    assert gw.wait(held["Message-ID"])[0]["outcome"] == "held"
    [request] = sent_to(gw, ANN, "Held for moderation")

    # The moderator's valid token, from an attacker's own server claiming Ann's address.
    for results in ([], [ANN_FORGED]):
        forged = answer(request, "approve", f"Ann Lee <{ANN}>", results)
        record = record_of(gw, forged, request["Reply-To"], ANN)
        assert (record["outcome"], record["reason"]) == ("rejected", "unverified-sender")
        assert [h["id"] for h in gw.gateway.worker.spool.held()]  # still held
        assert not [p for p in gw.posts() if p.message_id == held["Message-ID"]]

    real = answer(request, "approve", f"Ann Lee <{ANN}>", [ANN_PASS])
    assert record_of(gw, real, request["Reply-To"], ANN)["outcome"] == "moderated"
    assert gw.post(held["Message-ID"]).body.startswith("How do you hand over")
    assert list(gw.gateway.worker.spool.held()) == []


def test_a_confirmation_needs_an_authentic_from(commands: Harness) -> None:
    gw = commands
    ask = mail(subject="subscribe", body="subscribe", sender=ANN, to=f"handover+subscribe@{DOMAIN}")
    assert record_of(gw, ask, f"handover+subscribe@{DOMAIN}", ANN)["outcome"] == "confirming"
    [confirmation] = sent_to(gw, ANN, "Please confirm")

    forged = answer(confirmation, "yes", ANN, [ANN_FORGED])
    record = record_of(gw, forged, confirmation["Reply-To"], ANN)
    assert (record["outcome"], record["reason"]) == ("rejected", "unverified-sender")
    assert "ann.lee" not in (gw.root / "communities" / "handover" / "subscribers.yml").read_text()

    real = answer(confirmation, "yes", ANN, [ANN_PASS])
    assert record_of(gw, real, confirmation["Reply-To"], ANN)["reason"] == "each"
    assert "ann.lee: each" in (gw.root / "communities" / "handover" / "subscribers.yml").read_text()


def test_unsubscribe_at_once_needs_the_person_themselves(commands: Harness) -> None:
    gw = commands
    secret = load_secret(gw.root / gw.settings.state_dir)
    address = signed_address(secret, "handover", DOMAIN, "u", who_of(AMIRA))
    subscribers = gw.root / "communities" / "handover" / "subscribers.yml"

    def stop(sender: str, results: list[str]) -> dict:
        message = mail(subject="unsubscribe", body="", sender=sender, to=address)
        for value in results:
            message["Authentication-Results"] = value
        return record_of(gw, message, address, sender)

    forged = stop(AMIRA, [f"{MX}; dkim=pass header.d=attacker.example"])
    assert (forged["outcome"], forged["reason"]) == ("rejected", "unverified-sender")
    # Someone else, authentic, with Amira's forwarded notification: not theirs to use.
    other = stop(ANN, [ANN_PASS])
    assert (other["outcome"], other["reason"]) == ("rejected", "unsubscribe-not-yours")
    assert "amira.haddad: each" in subscribers.read_text()

    real = stop(AMIRA, [f"{MX}; dkim=pass header.d=northhospital.org.uk"])
    assert (real["outcome"], real["reason"]) == ("subscription", "none")
    assert "amira.haddad" not in subscribers.read_text()
