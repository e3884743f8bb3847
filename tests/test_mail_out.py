"""Email out through the local outbox: subscriptions, notifications, moderation, digests, bounces.

A real gateway on loopback with no relay configured, so everything it sends
lands in its outbox Maildir (as in the demo). The round trip through a real
relay and Dovecot is in test_mail_dovecot.py.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail

from intranet.addresses import signed_address, who_of
from intranet.format import read_intranet


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = git_root(tmp_path / "intranet")
    add_person(root, "cy.diaz", name="Cy Diaz")
    add_person(root, "di.park", name="Di Park", kind="partner", organisation="Coop Nursing")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "More people")
    return root


@pytest.fixture
def gw(root: Path):
    with Harness(root) as harness:
        yield harness


def reply(to: EmailMessage, body: str, sender: str, subject: str | None = None) -> EmailMessage:
    """What a mail client sends when someone presses Reply on ``to``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to["Reply-To"] or to["From"]
    message["Subject"] = subject or f"Re: {to['Subject']}"
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = email.utils.make_msgid(domain="example.org")
    message["In-Reply-To"] = to["Message-ID"]
    message["References"] = ((to["References"] or "") + " " + to["Message-ID"]).strip()
    message.set_content(f"{body}\n\nOn a day, someone wrote:\n> {to.get_body(('plain',)).get_content()[:60]}\n")
    return message


def sent_to(gw: Harness, address: str, subject_part: str = "") -> list[EmailMessage]:
    return [m for m in gw.outbox() if m["Delivered-To"] == address and subject_part in str(m["Subject"])]


def subscribe(gw: Harness, who: str, command: str = "subscribe", community: str = "handover") -> EmailMessage:
    ask = mail(subject=command, body=command, sender=who, to=f"{community}+{command}@{DOMAIN}")
    gw.send(ask, f"{community}+{command}@{DOMAIN}", sender=who)
    assert gw.wait(ask["Message-ID"])[0]["outcome"] == "confirming"
    found = [m for m in sent_to(gw, who) if m["In-Reply-To"] == ask["Message-ID"]]
    assert len(found) == 1, [(m["Subject"], m["Message-ID"]) for m in found]
    confirmation = found[0]
    assert confirmation["Subject"].startswith("Please confirm")
    answer = reply(confirmation, "Yes please.", who)
    gw.send(answer, confirmation["Reply-To"], sender=who)
    [record] = gw.wait(answer["Message-ID"])
    assert record["outcome"] == "subscription", record
    return confirmation


def subscribers(root: Path, community: str = "handover") -> dict:
    path = root / "communities" / community / "subscribers.yml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def test_subscribe_needs_a_confirmation_and_is_a_commit_by_the_person(gw: Harness) -> None:
    ask = mail(subject="subscribe", body="", sender="ann.lee@example.org", to=f"handover+subscribe@{DOMAIN}")
    gw.send(ask, f"handover+subscribe@{DOMAIN}", sender="ann.lee@example.org")
    gw.wait(ask["Message-ID"])
    assert subscribers(gw.root) == {}  # nothing until confirmed
    [confirmation] = sent_to(gw, "ann.lee@example.org", "Please confirm")
    token_address = confirmation["Reply-To"]
    assert token_address.startswith("handover+c") and confirmation["Auto-Submitted"] == "auto-generated"

    # Someone else answering the confirmation (a forwarded copy) changes nothing.
    forged = reply(confirmation, "yes", "cy.diaz@example.org")
    gw.send(forged, token_address, sender="cy.diaz@example.org")
    assert gw.wait(forged["Message-ID"])[0]["reason"] == "confirm-not-yours"
    assert subscribers(gw.root) == {}

    answer = reply(confirmation, "yes", "Ann Lee <ann.lee@example.org>")
    gw.send(answer, token_address, sender="ann.lee@example.org")
    assert gw.wait(answer["Message-ID"])[0]["reason"] == "each"
    assert subscribers(gw.root) == {"ann.lee": "each"}
    log = git(gw.root, "log", "-1", "--format=%an <%ae>|%s", "--", "communities/handover/subscribers.yml")
    assert log.strip() == "Ann Lee <ann.lee@example.org>|handover: ann.lee gets every post"
    assert sent_to(gw, "ann.lee@example.org", "You are subscribed")


def test_a_forged_confirmation_address_is_refused(gw: Harness) -> None:
    bad = signed_address(b"not the secret", "handover", DOMAIN, "c", "e", "5000", who_of("ann.lee@example.org"))
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        gw.send(mail(to=bad), bad)


def test_a_post_goes_to_each_subscriber_with_list_headers_and_a_reply_lands_in_the_topic(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org")
    subscribe(gw, "cy.diaz@example.org")
    post = mail(
        subject="Bedside handover audit",
        body="Audit results are in: 92% compliance.\n- Ward 7 | days\n- Ward 9 | *nights*",
        sender="Cy Diaz <cy.diaz@example.org>",
    )
    gw.send(post, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(post["Message-ID"])
    assert sent_to(gw, "cy.diaz@example.org", "Bedside") == []  # never to the author
    [note] = sent_to(gw, "ann.lee@example.org", "Bedside")
    assert note["Message-ID"] == post["Message-ID"]
    assert email.utils.parseaddr(note["From"]) == ("Cy Diaz via Clinical Handover", f"handover@{DOMAIN}")
    assert note["Reply-To"].startswith("handover+p") and note["Reply-To"].endswith(f"@{DOMAIN}")
    assert note["List-Id"] == f"Clinical Handover <handover.{DOMAIN}>"
    assert note["List-Post"] == f"<mailto:handover@{DOMAIN}>"
    assert note["List-Unsubscribe"].startswith("<mailto:handover+u")
    assert note["List-Archive"] == "<http://127.0.0.1:8000/c/handover/>"
    assert note["Archived-At"].startswith("<http://127.0.0.1:8000/c/handover/t/")
    assert (note["Auto-Submitted"], note["Precedence"], note["X-Auto-Response-Suppress"]) == (
        "auto-generated",
        "list",
        "All",
    )
    assert note["Return-Path"].startswith("<handover+b")
    text = note.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Audit results are in: 92% compliance.\n\n- Ward 7 | days\n- Ward 9 | *nights*\n")  # a list
    assert "92% compliance" in note.get_body(("html",)).get_content()

    # Ann replies from her mail client: the reply is in the topic and goes to Cy, threaded.
    answer = reply(note, "Great result, well done Ward 7.", "Ann Lee <ann.lee@example.org>")
    gw.send(answer, note["Reply-To"], sender="ann.lee@example.org")
    assert gw.wait(answer["Message-ID"])[0]["reason"] == "reply"
    assert gw.post(answer["Message-ID"]).topic == post["Message-ID"]
    [back] = sent_to(gw, "cy.diaz@example.org", "Bedside")
    assert back["In-Reply-To"] == post["Message-ID"] and post["Message-ID"] in back["References"]
    assert [m for m in sent_to(gw, "ann.lee@example.org") if m["Subject"].startswith("Re: Bedside")] == []


def test_a_reply_whose_client_dropped_the_headers_still_finds_its_topic(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org")
    post = mail(subject="Night shift", body="Starting tonight.", sender="cy.diaz@example.org")
    gw.send(post, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(post["Message-ID"])
    [note] = sent_to(gw, "ann.lee@example.org", "Night shift")
    bare = mail(subject="about that", body="Count me in.", sender="ann.lee@example.org", to=note["Reply-To"])
    gw.send(bare, note["Reply-To"], sender="ann.lee@example.org")
    gw.wait(bare["Message-ID"])
    assert gw.post(bare["Message-ID"]).topic == post["Message-ID"]


def test_a_partner_subscribed_to_a_staff_only_community_gets_nothing(gw: Harness) -> None:
    # An editor subscribes a partner by hand to Procurement (staff and suppliers only).
    path = gw.root / "communities" / "procurement" / "subscribers.yml"
    path.write_text("di.park: each\ncy.diaz: each\n")
    git(gw.root, "add", "-A")
    git(gw.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Subscribe")
    post = mail(
        subject="Glove recall", body="Lot 42 is recalled.", sender="ann.lee@example.org", to=f"procurement@{DOMAIN}"
    )
    gw.send(post, f"procurement@{DOMAIN}", sender="ann.lee@example.org")
    gw.wait(post["Message-ID"])
    assert sent_to(gw, "cy.diaz@example.org", "Glove recall")
    assert sent_to(gw, "di.park@example.org") == []
    # Asking by mail is answered, and changes nothing.
    ask = mail(subject="subscribe", sender="di.park@example.org", to=f"procurement+subscribe@{DOMAIN}")
    gw.send(ask, f"procurement+subscribe@{DOMAIN}", sender="di.park@example.org")
    assert gw.wait(ask["Message-ID"])[0]["reason"] == "not-in-audience"
    assert sent_to(gw, "di.park@example.org", "not open to you")


def test_list_unsubscribe_works_at_once(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org")
    post = mail(subject="Rosters", body="New rosters.", sender="cy.diaz@example.org")
    gw.send(post, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(post["Message-ID"])
    [note] = sent_to(gw, "ann.lee@example.org", "Rosters")
    address = note["List-Unsubscribe"].split("<mailto:", 1)[1].split("?", 1)[0]
    stop = mail(subject="unsubscribe", body="", sender="ann.lee@example.org", to=address)
    gw.send(stop, address, sender="ann.lee@example.org")
    assert gw.wait(stop["Message-ID"])[0]["reason"] == "none"
    assert subscribers(gw.root) == {}


def test_held_post_is_approved_by_a_moderator_reply(gw: Harness) -> None:
    subscribe(gw, "cy.diaz@example.org")
    held = mail(
        subject="Question from a GP", body="How do you hand over to GPs?", sender="Dr Eve Moss <eve@gp.example>"
    )
    gw.send(held, f"handover@{DOMAIN}", sender="eve@gp.example")
    assert gw.wait(held["Message-ID"])[0]["outcome"] == "held"
    [request] = sent_to(gw, "ann.lee@example.org", "Held for moderation")
    assert "How do you hand over to GPs?" in request.get_content()

    # A reply from someone who is not a moderator counts for nothing.
    sneaky = reply(request, "approve", "cy.diaz@example.org")
    gw.send(sneaky, request["Reply-To"], sender="cy.diaz@example.org")
    assert gw.wait(sneaky["Message-ID"])[0]["reason"] == "not-a-moderator"
    assert len(list(gw.gateway.worker.spool.held())) == 1

    yes = reply(request, "approve known partner", "Ann Lee <ann.lee@example.org>")
    gw.send(yes, request["Reply-To"], sender="ann.lee@example.org")
    gw.wait(yes["Message-ID"])
    post = gw.post(held["Message-ID"])
    assert post.body.startswith("How do you hand over")
    log = git(gw.root, "log", "--format=%an <%ae>|%B", "-n", "2")
    assert "Dr Eve Moss <eve@gp.example>" in log and "Approved-by: Ann Lee <ann.lee@example.org>" in log
    people = read_intranet(gw.root, posts=False).people
    [added] = [p for p in people.values() if "eve@gp.example" in p.emails]
    assert added.kind == "partner"
    assert list(gw.gateway.worker.spool.held()) == []
    assert sent_to(gw, "cy.diaz@example.org", "Question from a GP")  # published posts go out as usual


def test_held_post_rejected_by_a_moderator_tells_the_sender_once(gw: Harness) -> None:
    held = mail(subject="Buy our beds", body="Special offer.", sender="sales@beds.example")
    gw.send(held, f"handover@{DOMAIN}", sender="sales@beds.example")
    gw.wait(held["Message-ID"])
    [request] = sent_to(gw, "ann.lee@example.org", "Held for moderation")
    no = reply(request, "reject Advertising is not allowed here.", "ann.lee@example.org")
    gw.send(no, request["Reply-To"], sender="ann.lee@example.org")
    gw.wait(no["Message-ID"])
    again = reply(request, "reject", "ann.lee@example.org")
    gw.send(again, request["Reply-To"], sender="ann.lee@example.org")
    assert gw.wait(again["Message-ID"])[0]["reason"] == "nothing-held"
    [told] = sent_to(gw, "sales@beds.example", "not published")
    assert "Advertising is not allowed here." in told.get_content()
    assert not any(p.message_id == held["Message-ID"] for p in gw.posts())


def test_moderate_command_approves_at_a_terminal(gw: Harness) -> None:
    import subprocess
    import sys

    held = mail(subject="From a stranger", body="Hello there.", sender="x@elsewhere.example")
    gw.send(held, f"handover@{DOMAIN}", sender="x@elsewhere.example")
    gw.wait(held["Message-ID"])
    [item] = gw.gateway.worker.spool.held()
    run = [sys.executable, "-m", "intranet.cli", "moderate"]
    listing = subprocess.run([*run, "list", "--root", str(gw.root)], capture_output=True, text=True, check=True)
    assert item["id"] in listing.stdout
    done = subprocess.run(
        [*run, "approve", item["id"], "--root", str(gw.root)], capture_output=True, text=True, check=True, cwd=gw.root
    )
    assert "running gateway" in done.stdout  # the gateway holds the spool: it acts on the decision
    gw.wait(held["Message-ID"], count=2)
    assert gw.post(held["Message-ID"]).body.startswith("Hello there.")


def test_digest_lists_new_posts_and_a_reply_to_it_is_not_posted(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org", "digest")
    assert subscribers(gw.root) == {"ann.lee": "digest"}
    first = mail(subject="Discharge checklist", body="Here is our discharge checklist.", sender="cy.diaz@example.org")
    gw.send(first, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(first["Message-ID"])
    second = mail(
        subject="Re: Discharge checklist",
        body="We added a pharmacy step.",
        sender="cy.diaz@example.org",
        in_reply_to=first["Message-ID"],
    )
    gw.send(second, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(second["Message-ID"])
    gw.outbox()
    assert sent_to(gw, "ann.lee@example.org", "Discharge") == []  # digest readers get no single posts
    assert gw.gateway.notifier.send_digests("2026-11-27") == 1
    assert gw.gateway.notifier.send_digests("2026-11-27") == 0  # nothing new since
    [digest] = sent_to(gw, "ann.lee@example.org", "Clinical Handover digest, 2026-11-27")
    text = digest.get_body(("plain",)).get_content()
    assert "Discharge checklist (new topic)" in text and "We added a pharmacy step." in text
    assert "http://127.0.0.1:8000/c/handover/t/" in text

    answer = reply(digest, "Thanks, useful.", "ann.lee@example.org")
    gw.send(answer, digest["Reply-To"], sender="ann.lee@example.org")
    assert gw.wait(answer["Message-ID"])[0]["reason"] == "digest-reply"
    plain = reply(digest, "Thanks again.", "ann.lee@example.org")
    del plain["To"]
    plain["To"] = f"handover@{DOMAIN}"  # sent to the community itself, answering the digest
    gw.send(plain, f"handover@{DOMAIN}", sender="ann.lee@example.org")
    assert gw.wait(plain["Message-ID"])[0]["reason"] == "digest-reply"
    assert sent_to(gw, "ann.lee@example.org", "Replies to a digest")


def dsn(to_verp: str, failed: str, status: str = "5.1.1", n: int = 0) -> bytes:
    action = "failed" if status.startswith("5") else "delayed"
    return (
        f"From: MAILER-DAEMON@mx.example.org\r\nTo: {to_verp}\r\nSubject: Undelivered Mail\r\n"
        f"Message-ID: <dsn{n}.{status}@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: {action}\r\nStatus: {status}\r\n\r\n--b--\r\n"
    ).encode()


def test_bounces_to_the_verp_address_stop_mail_and_a_forged_token_changes_nothing(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org")
    post = mail(subject="Agenda", body="Agenda attached.", sender="cy.diaz@example.org")
    gw.send(post, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(post["Message-ID"])
    [note] = sent_to(gw, "ann.lee@example.org", "Agenda")
    verp = note["Return-Path"].strip("<>")
    forged = verp[:-4] + ("0000" if not verp.endswith("0000") else "1111")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        gw.send(dsn(forged, "ann.lee@example.org"), forged, sender="")
    day = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    for n in range(5):  # one hard bounce a day for five days reaches the threshold of 5
        gw.gateway.worker.clock = lambda n=n: day + dt.timedelta(days=n)
        gw.send(dsn(verp, "ann.lee@example.org", n=n), verp, sender="")
        [record] = gw.wait(f"<dsn{n}.5.1.1@mx.example.org>")
        assert (record["outcome"], record["reason"]) == ("bounce", "hard"), record
    assert record.get("stopped") is True
    person = read_intranet(gw.root, posts=False).people["ann.lee"]
    assert person.undeliverable == {"ann.lee@example.org": "2026-11-05"}
    second = mail(subject="Agenda v2", body="Updated.", sender="cy.diaz@example.org")
    gw.send(second, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(second["Message-ID"])
    assert sent_to(gw, "ann.lee@example.org", "Agenda v2") == []

    # After the probe interval the address is tried again.
    gw.gateway.worker.clock = lambda: day + dt.timedelta(days=13)
    gw.gateway.worker._probed = ""
    gw.gateway.worker.wake()
    third = mail(subject="Agenda v3", body="Final.", sender="cy.diaz@example.org")
    gw.send(third, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(third["Message-ID"])
    assert read_intranet(gw.root, posts=False).people["ann.lee"].undeliverable == {}
    assert sent_to(gw, "ann.lee@example.org", "Agenda v3")


def test_a_soft_bounce_scores_less_and_an_auto_reply_to_the_verp_address_is_not_a_bounce(gw: Harness) -> None:
    subscribe(gw, "ann.lee@example.org")
    post = mail(subject="Minutes", body="Minutes.", sender="cy.diaz@example.org")
    gw.send(post, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
    gw.wait(post["Message-ID"])
    [note] = sent_to(gw, "ann.lee@example.org", "Minutes")
    verp = note["Return-Path"].strip("<>")
    gw.send(dsn(verp, "ann.lee@example.org", "4.2.2"), verp, sender="")
    [record] = gw.wait("<dsn0.4.2.2@mx.example.org>")
    assert (record["reason"], record["score"]) == ("soft", 0.5)
    away = mail(
        subject="Out of office",
        body="Away until Monday.",
        sender="ann.lee@example.org",
        to=verp,
        headers={"Auto-Submitted": "auto-replied"},
    )
    gw.send(away, verp, sender="")
    assert gw.wait(away["Message-ID"])[0]["reason"] == "auto-reply-to-bounce-address"


def test_a_fan_out_run_again_queues_nobody_twice(gw: Harness) -> None:
    # As after a crash between queueing and marking the job done, or a redelivery of the post.
    (gw.root / "communities/handover/subscribers.yml").write_text("ann.lee: each\ncy.diaz: each\n")
    git(gw.root, "add", "-A")
    git(gw.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Subscribers")
    post = mail(subject="Once only", body="Exactly once.", sender="di.park@example.org")
    gw.send(post, f"handover@{DOMAIN}", sender="di.park@example.org")
    path = gw.wait(post["Message-ID"])[0]["path"]
    assert len([m for m in gw.outbox() if m["Message-ID"] == post["Message-ID"]]) == 2
    job = {"community": "handover", "relpath": path, "message_id": post["Message-ID"]}
    assert gw.gateway.notifier.fan_out(job) == 0
    gw.send(post, f"handover@{DOMAIN}", sender="di.park@example.org")  # the same message again
    assert gw.wait(post["Message-ID"], count=2)[1]["outcome"] == "duplicate"
    assert len([m for m in gw.outbox() if m["Message-ID"] == post["Message-ID"]]) == 2


def test_digests_fall_due_once_a_day_at_the_local_digest_time(gw: Harness) -> None:
    notifier = gw.gateway.notifier  # the demo settings: 07:00 in Australia/Sydney (UTC+11 in November)
    # The gateway's own loop asks too, by the real clock until it is set: after 07:00 in Sydney (20:00
    # UTC) it may have sent today's digest as the gateway started, and written that day as the last
    # one between the steps below. Its loop is stopped first; the steps then ask alone.
    notifier.clock = lambda: dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert notifier.stop()
    assert notifier.digest_due(dt.datetime(2026, 11, 26, 19, 59, tzinfo=dt.UTC)) is None  # 06:59 there
    assert notifier.digest_due(dt.datetime(2026, 11, 26, 20, 0, tzinfo=dt.UTC)) == "2026-11-27"
    notifier.send_digests("2026-11-27")
    assert notifier.digest_due(dt.datetime(2026, 11, 27, 5, 0, tzinfo=dt.UTC)) is None  # sent today already
    assert notifier.digest_due(dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)) == "2026-11-28"


def test_a_combined_digest_is_one_mail_for_all_communities(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", digest_combined=True)
    add_person(root, "cy.diaz", name="Cy Diaz")
    for community in ("handover", "procurement"):
        (root / "communities" / community / "subscribers.yml").write_text("cy.diaz: digest\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Digests")
    with Harness(root) as gw:
        for community in ("handover", "procurement"):
            post = mail(
                subject=f"News in {community}", body="News.", sender="ann.lee@example.org", to=f"{community}@{DOMAIN}"
            )
            gw.send(post, f"{community}@{DOMAIN}", sender="ann.lee@example.org")
            gw.wait(post["Message-ID"])
        gw.outbox()
        assert gw.gateway.notifier.send_digests("2026-11-27") == 1
        [digest] = sent_to(gw, "cy.diaz@example.org", "digest")
        text = digest.get_content() if not digest.is_multipart() else digest.get_body(("plain",)).get_content()
        assert "News in handover" in text and "News in procurement" in text


def test_a_thread_read_from_its_files_matches_the_whole_community_threaded(gw: Harness) -> None:
    # A topic started by hand by an editor (a path of their choosing), then replies by mail.
    by_hand = gw.root / "communities/handover/posts/editor/welcome.md"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_text("---\nauthor: ann.lee\ndate: 2026-11-20T09:00:00+00:00\nsubject: Welcome\n---\nHello all.\n")
    git(gw.root, "add", "-A")
    git(gw.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Welcome page")
    notifier = gw.gateway.notifier
    welcome = [p for p in gw.posts("handover") if p.subject == "Welcome"][0].message_id
    parent = welcome
    replies = []
    for n in range(3):
        answer = mail(subject="Re: Welcome", body=f"Reply {n}.", sender="cy.diaz@example.org", in_reply_to=parent)
        gw.send(answer, f"handover@{DOMAIN}", sender="cy.diaz@example.org")
        gw.wait(answer["Message-ID"])
        parent = answer["Message-ID"]
        replies.append(parent)
    for message_id in [welcome, "<t1@example.org>", *replies]:
        post = gw.post(message_id)
        fast = notifier.thread_of("handover", post.relpath, message_id)
        slow = notifier._thread_by_scan("handover", message_id)
        assert fast is not None and slow is not None
        assert (fast.root.message_id, fast.references, fast.title, fast.src) == (
            slow.root.message_id,
            slow.references,
            slow.title,
            slow.src,
        )
    assert notifier.thread_of("handover", "", replies[-1]).references == [welcome, *replies[:-1]]
