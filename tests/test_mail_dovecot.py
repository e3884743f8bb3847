"""Email out with real parts: the gateway sends through an aiosmtpd relay into Dovecot.

The subscribers read their mail back over IMAP (imapclient) and answer with
the headers a mail client sets, as people would.
"""

from __future__ import annotations

import email.utils
import os
import signal
import smtplib
import time
from pathlib import Path

import yaml
from conftest import free_port
from dovecot import Dovecot, Relay, dovecot_fixture, relay_fixture  # noqa: F401
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail
from test_crash import start_gateway
from test_mail_out import reply

from generator.builder import build_site


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", message)


def test_round_trip_subscribe_post_reply_through_dovecot(tmp_path: Path, dovecot: Dovecot, relay: Relay) -> None:
    root = git_root(tmp_path / "intranet", relay=relay.address)
    add_person(root, "cy.diaz", name="Cy Diaz")
    add_person(root, "fay.ng", name="Fay Ng")
    commit_all(root, "People")
    with Harness(root) as gw:
        for who in ("ann.lee@example.org", "cy.diaz@example.org"):
            ask = mail(subject="subscribe", body="", sender=who, to=f"handover+subscribe@{DOMAIN}")
            gw.send(ask, f"handover+subscribe@{DOMAIN}", sender=who)
            [confirmation] = dovecot.wait_for(who, 1)
            assert confirmation["Reply-To"].startswith("handover+c")
            answer = reply(confirmation, "Yes.", who)
            gw.send(answer, confirmation["Reply-To"], sender=who)
            gw.wait(answer["Message-ID"])
        assert yaml.safe_load((root / "communities/handover/subscribers.yml").read_text()) == {
            "ann.lee": "each",
            "cy.diaz": "each",
        }

        post = mail(
            subject="Handover card v2",
            body="The new ISBAR card is ready for review.",
            sender="Fay Ng <fay.ng@example.org>",
        )
        gw.send(post, f"handover@{DOMAIN}", sender="fay.ng@example.org")
        gw.wait(post["Message-ID"])
        notes = {}
        for who in ("ann.lee@example.org", "cy.diaz@example.org"):
            mailbox = dovecot.wait_for(who, 3)  # confirmation, "you are subscribed", the post
            [note] = [m for m in mailbox if m["Message-ID"] == post["Message-ID"]]
            notes[who] = note
            assert note["List-Id"] == f"Clinical Handover <handover.{DOMAIN}>"
            assert note["Reply-To"].startswith("handover+p")
            assert note["List-Unsubscribe"].startswith("<mailto:handover+u")
            assert note["Archived-At"].startswith("<http://127.0.0.1:8000/c/handover/t/")
            assert note["Precedence"] == "list" and note["Auto-Submitted"] == "auto-generated"
            assert email.utils.parseaddr(note["From"]) == ("Fay Ng via Clinical Handover", f"handover@{DOMAIN}")
            assert "ISBAR card is ready" in note.get_body(("plain",)).get_content()
        assert dovecot.messages("fay.ng@example.org") == []  # the author gets no copy
        verps = {rcpts[0]: sender for sender, rcpts, raw in relay.received if post["Message-ID"].encode() in raw}
        assert set(verps) == {"ann.lee@example.org", "cy.diaz@example.org"}
        assert all(v.startswith("handover+b") for v in verps.values()) and len(set(verps.values())) == 2

        # Ann presses Reply in her mail client.
        answer = reply(
            notes["ann.lee@example.org"], "Looks good. Can we add allergies?", "Ann Lee <ann.lee@example.org>"
        )
        with smtplib.SMTP("127.0.0.1", gw.smtp) as client:
            client.send_message(answer, "ann.lee@example.org", [answer["To"]])
        gw.wait(answer["Message-ID"])
        mailbox = dovecot.wait_for("cy.diaz@example.org", 4)
        [relayed] = [m for m in mailbox if m["Message-ID"] == answer["Message-ID"]]
        assert relayed["In-Reply-To"] == post["Message-ID"]
        assert relayed["References"].split() == [post["Message-ID"]]
        assert "Can we add allergies?" in relayed.get_body(("plain",)).get_content()
        assert not [m for m in dovecot.messages("ann.lee@example.org") if m["Message-ID"] == answer["Message-ID"]]

    # And it is on the site, in the topic.
    build_site(root, root / "site")
    pages = [
        p
        for p in (root / "site" / "staff" / "c" / "handover" / "t").rglob("index.html")
        if "ISBAR card is ready" in p.read_text()
    ]
    assert len(pages) == 1 and "Can we add allergies?" in pages[0].read_text()


def test_a_refused_recipient_counts_as_a_bounce_and_does_not_block_the_others(
    tmp_path: Path, dovecot: Dovecot, relay: Relay
) -> None:
    root = git_root(tmp_path / "intranet", relay=relay.address)
    add_person(root, "cy.diaz", name="Cy Diaz")
    add_person(root, "fay.ng", name="Fay Ng")
    (root / "communities/handover/subscribers.yml").write_text("ann.lee: each\ncy.diaz: each\n")
    commit_all(root, "Subscribers")
    relay.refuse["ann.lee@example.org"] = "550 5.1.1 No such user"
    with Harness(root) as gw:
        post = mail(subject="Audit", body="Audit due.", sender="fay.ng@example.org")
        gw.send(post, f"handover@{DOMAIN}", sender="fay.ng@example.org")
        gw.wait(post["Message-ID"])
        [note] = dovecot.wait_for("cy.diaz@example.org", 1)
        assert note["Message-ID"] == post["Message-ID"]
        deadline = time.monotonic() + 60
        while not gw.gateway.worker.commands.bounces.score("ann.lee@example.org", _now()):
            assert time.monotonic() < deadline, "the 550 was not counted as a bounce"
            time.sleep(0.05)
        assert dovecot.messages("ann.lee@example.org") == []


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def test_killing_the_gateway_mid_fan_out_neither_drops_nor_duplicates(
    tmp_path: Path, dovecot: Dovecot, relay: Relay
) -> None:
    root = git_root(tmp_path / "intranet", relay=relay.address)
    handles = [f"member{n:02d}" for n in range(50)]
    for handle in handles:
        add_person(root, handle)
    add_person(root, "fay.ng", name="Fay Ng")
    (root / "communities/handover/subscribers.yml").write_text("".join(f"{h}: each\n" for h in handles))
    commit_all(root, "Fifty subscribers")
    port = free_port()
    gateway = start_gateway(root, port)
    killed_at: list[int] = []

    def kill_on(count: int) -> str | None:
        # The relay is in the middle of the 20th transaction when the gateway dies: no 250 for it.
        if count == 20 and not killed_at:
            killed_at.append(count)
            os.kill(gateway.pid, signal.SIGKILL)
            return "451 4.3.0 Connection lost"
        return None

    relay.on_data = kill_on
    try:
        post = mail(subject="Fan-out", body="To fifty people.", sender="fay.ng@example.org")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(post, "fay.ng@example.org", [f"handover@{DOMAIN}"])
        gateway.wait(timeout=60)
        assert killed_at == [20] and len(relay.received) == 19
        gateway = start_gateway(root, port)
        for handle in handles:
            dovecot.wait_for(f"{handle}@example.org", 1, timeout=60)
        queue = root / ".intranet" / "outgoing" / "queue"
        deadline = time.monotonic() + 60
        while list(queue.glob("*.msg")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        for handle in handles:
            copies = [m for m in dovecot.messages(f"{handle}@example.org") if m["Message-ID"] == post["Message-ID"]]
            assert len(copies) == 1, handle
        assert len(relay.received) == 50
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=60)
