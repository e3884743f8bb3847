"""A real MTA in front of the gateway: Postfix, OpenDKIM and OpenDMARC, set up as docs/deployment.md says.

Postfix relays to the gateway's LMTP port; the milters verify DKIM keys and
read DMARC and SPF policies from a DNS server on loopback (tests/postfix.py).
The gateway is configured as a deployment would be: no trust in loopback
senders, and the milters' authserv-id trusted. Every message comes, as far as
the milters can tell, from a host on the internet (XCLIENT), "from" one of two
known staff members:

- Amira, whose hospital's domain publishes a DKIM key and an SPF policy
  (not for that host) but no DMARC policy: only OpenDKIM's header, the lowest
  of the three the milters write, can say it is her;
- Bo, whose clinic's domain publishes a key, SPF and ``DMARC p=reject``.

``attacker.example`` publishes a key of its own. All messages go through one
Postfix, started once for the module; each test reads what became of its own.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import dkim
import pytest
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail, wire
from postfix import AUTHSERV_ID, CLIENT, MailStack, dkim_key, need_tools

from mailgateway import policy
from mailgateway.parse import Inbound, parse_message

NORTH, WEST, ATTACKER = "northhospital.org.uk", "westclinic.example", "attacker.example"
AMIRA, BO = f"amira.haddad@{NORTH}", f"bo.osei@{WEST}"
SPF = "v=spf1 ip4:192.0.2.25 -all"  # their own mail server; CLIENT is not it

# Results the sender writes in, with the trusted authserv-id, as plainly and as sneakily as it can.
FORGED = [
    f"{AUTHSERV_ID}; dkim=pass header.d={{domain}} header.s=s1; dmarc=pass header.from={{domain}}",
    f"(relayed) {AUTHSERV_ID.upper()}; dmarc=pass header.from={{domain}}",
    f"{AUTHSERV_ID}; spf=pass smtp.mailfrom={{domain}}",
]

# case -> (sender, signing domain or None, forged results or not)
CASES = {
    "aligned": (AMIRA, NORTH, False),
    "unaligned": (AMIRA, ATTACKER, False),
    "unsigned": (AMIRA, None, False),
    "forged-results": (AMIRA, None, True),
    "aligned-dmarc": (BO, WEST, False),
    "forged-results-dmarc": (BO, None, True),
}


@dataclass
class Delivered:
    gw: Harness
    stack: MailStack
    message_ids: dict[str, str]  # case -> Message-ID

    def record(self, case: str) -> dict:
        [record] = self.gw.wait(self.message_ids[case])
        return record

    def held_copy(self, case: str) -> Inbound:
        """The held message as the gateway got it from Postfix."""
        spooled, _info = self.gw.gateway.worker.spool.load_held(self.record(case)["held"])
        return parse_message(spooled.raw, dt.datetime.now(dt.UTC))


def message(case: str, keys: dict[str, bytes]) -> tuple[str, bytes]:
    sender, signer, forged = CASES[case]
    domain = sender.partition("@")[2]
    raw = wire(mail(subject=f"Ward rota ({case})", body=f"Case {case}.", sender=sender))
    if signer:
        raw = dkim.sign(raw, b"s1", signer.encode(), keys[signer]) + raw
    if forged:
        raw = b"".join(f"Authentication-Results: {v.format(domain=domain)}\r\n".encode() for v in FORGED) + raw
    return sender, raw


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivered]:
    need_tools("postfix", "opendkim", "opendmarc", "dnsmasq", "unshare", "ip")
    folder = tmp_path_factory.mktemp("mta")
    keys, records = {}, {}
    for domain in (NORTH, WEST, ATTACKER):
        keys[domain], records[f"s1._domainkey.{domain}"] = dkim_key(folder, domain)
    records.update({NORTH: SPF, WEST: SPF, f"_dmarc.{WEST}": "v=DMARC1; p=reject"})

    root = git_root(folder / "intranet", trust_local_senders=False, trusted_authserv_id=AUTHSERV_ID)
    add_person(root, "amira.haddad", name="Amira Haddad", emails=[AMIRA], organisation="North Hospital")
    add_person(root, "bo.osei", name="Bo Osei", emails=[BO], organisation="West Clinic")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Amira and Bo")

    with Harness(root) as gw, MailStack(folder / "mta", records, gw.lmtp, DOMAIN) as stack:
        sent = {case: message(case, keys) for case in CASES}
        stack.send(list(sent.values()), f"handover@{DOMAIN}")
        ids = {case: _message_id(raw) for case, (_, raw) in sent.items()}
        delivered = Delivered(gw, stack, ids)
        try:
            for case in CASES:
                gw.wait(ids[case])
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.log_tail()}") from None
        yield delivered


def _message_id(raw: bytes) -> str:
    return parse_message(raw, dt.datetime.now(dt.UTC)).message_id


def outcome(delivered: Delivered, case: str) -> tuple[str, str]:
    record = delivered.record(case)
    return record["outcome"], record.get("reason", "")


def mta_results(mail: Inbound) -> list[list[tuple[str, str]]]:
    """(method, result) of each header the MTA wrote (above its Received), topmost first."""
    found = []
    for value in policy.mta_headers(mail):
        authserv, results = policy.read_results(value)
        assert authserv == AUTHSERV_ID
        found.append([(r.method, r.result) for r in results])
    return found


def test_a_message_signed_for_the_senders_domain_is_published(delivered: Delivered) -> None:
    assert outcome(delivered, "aligned")[0] == "published"
    assert delivered.gw.post(delivered.message_ids["aligned"]).author.handle == "amira.haddad"


def test_the_milters_write_three_headers_above_postfixs_received(delivered: Delivered) -> None:
    # What OpenDMARC (DMARC, then SPF) and OpenDKIM write, above Postfix's own trace line. The
    # gateway reads all three: the topmost alone says dmarc=none, and "aligned" was published.
    held = delivered.held_copy("unaligned")
    assert held.header_names[:4] == ["authentication-results"] * 3 + ["received"]
    assert f"[{CLIENT[0]}]" in held.headers["received"][0]
    assert mta_results(held) == [[("dmarc", "none")], [("spf", "fail")], [("dkim", "pass"), ("dkim-atps", "neutral")]]
    assert "header.d=attacker.example" in held.headers["authentication-results"][2]


def test_a_message_signed_by_another_domain_is_held(delivered: Delivered) -> None:
    assert outcome(delivered, "unaligned") == ("held", "unverified-sender")


def test_an_unsigned_message_is_held(delivered: Delivered) -> None:
    assert outcome(delivered, "unsigned") == ("held", "unverified-sender")
    assert mta_results(delivered.held_copy("unsigned")) == [[("dmarc", "none")], [("spf", "fail")]]


@pytest.mark.parametrize("case", ["forged-results", "forged-results-dmarc"])
def test_results_the_sender_wrote_are_removed(delivered: Delivered, case: str) -> None:
    held = delivered.held_copy(case)
    # Only the milters' own headers are left, all above Postfix's Received: none of the three forged ones.
    assert len(held.headers["authentication-results"]) == len(policy.mta_headers(held)) == 2
    assert all("pass" not in results for header in mta_results(held) for _, results in header)
    expected = ("held", "unverified-sender") if case == "forged-results" else ("held", "not-authentic")
    assert outcome(delivered, case) == expected


def test_dmarc_of_the_senders_domain_is_checked(delivered: Delivered) -> None:
    # OpenDMARC found p=reject for Bo's domain in our DNS: a pass with his signature, a fail without.
    assert outcome(delivered, "aligned-dmarc")[0] == "published"
    held = delivered.held_copy("forged-results-dmarc")
    assert mta_results(held)[0] == [("dmarc", "fail")]
    _, info = delivered.gw.gateway.worker.spool.load_held(delivered.record("forged-results-dmarc")["held"])
    assert info["why"] == f"DMARC failed at {AUTHSERV_ID}"


def test_header_checks_of_the_deployment_doc_drop_only_forged_results(delivered: Delivered) -> None:
    store = delivered.stack.store

    def action(header: str) -> str:
        query = ["postmap", "-c", str(store / "etc"), "-q", header, f"regexp:{store / 'header_checks'}"]
        result = subprocess.run(query, capture_output=True, text=True)
        assert result.returncode in (0, 1), result.stderr  # 1: no match
        return result.stdout.strip()

    for value in FORGED:
        assert action(f"Authentication-Results: {value.format(domain=NORTH)}") == "IGNORE"
    assert action(f"Authentication-Results: mx.other.example; dkim=pass header.d={NORTH}") == ""
    assert action(f"Received: from {AUTHSERV_ID}") == ""
