"""Mail respects audiences (issue #5): who gets a community's mail, whose replies are held, and what a
reply carried from a private community into another one may keep.

A real gateway on loopback with its outbox, as in test_mail_out.py.
"""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from helpers import add_community, add_person
from mailtest import DOMAIN, Harness, git, git_root, mail

from mailgateway.compose import QUOTES_REMOVED, SUBJECT_REMOVED

SECRET = "PRIVATE-7Q"  # planted in the members-only community; must never reach another one
PRIVATE = (
    f"The board meets on Friday. {SECRET}: the east wing closes in March.\n"
    "Keep this within the ward leads.\n\n"
    f"Ask {SECRET}."  # too short to be matched word for word: only its quote marks give it away
)
COPIED = f"{SECRET}: the east wing closes in March."  # pasted into a reply without quote marks


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = git_root(tmp_path / "intranet")
    for handle in ("cy.diaz", "ed.fox", "fay.gill", "gus.hale", "ivy.jones"):
        add_person(root, handle)
    add_person(root, "di.park", kind="partner", organisation="Coop Nursing")
    add_community(
        root,
        "leads",
        name="Ward Leads",
        audience=["members"],
        members=["ann.lee", "cy.diaz", "ed.fox", "gus.hale"],
        moderators=["cy.diaz"],
    )
    add_community(root, "staff-room", name="Staff Room", audience=["staff"], moderators=["ann.lee"])
    commit(root, "Ward leads and the staff room")
    return root


@pytest.fixture
def gw(root: Path):
    with Harness(root) as harness:
        yield harness


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", message)


def edit_yaml(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def sent_to(gw: Harness, address: str, subject_part: str = "") -> list[EmailMessage]:
    return [m for m in gw.outbox() if m["Delivered-To"] == address and subject_part in str(m["Subject"])]


def post(gw: Harness, community: str, subject: str, body: str, sender: str = "cy.diaz@example.org") -> str:
    message = mail(subject=subject, body=body, sender=sender, to=f"{community}@{DOMAIN}")
    gw.send(message, f"{community}@{DOMAIN}", sender=sender)
    [record] = gw.wait(message["Message-ID"])
    assert record["outcome"] == "published", record
    return message["Message-ID"]


def answer(note: EmailMessage, body: str, to: str, sender: str = "ann.lee@example.org") -> EmailMessage:
    """A reply to ``note`` as a mail client makes it, with ``body`` typed by the sender, sent to ``to``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Re: {note['Subject']}"
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = email.utils.make_msgid(domain="example.org")
    message["In-Reply-To"] = note["Message-ID"]
    message["References"] = ((note["References"] or "") + " " + note["Message-ID"]).strip()
    message.set_content(body)
    return message


def quote(note: EmailMessage) -> str:
    return "\n".join(f"> {line}" for line in note.get_body(("plain",)).get_content().splitlines())


TOP_POSTED = (
    "Let us tell all staff about the new rota next week.\n\nOn Mon, 2 Nov 2026 at 09:00, Cy Diaz wrote:\n{quote}\n"
)
INTERLEAVED = (
    "On Mon, 2 Nov 2026 at 09:00, Cy Diaz wrote:\n"
    "> The board meets on Friday. {secret}: the east wing closes in March.\n\n"
    "Let us tell all staff about the new rota next week.\n\n"
    "> Keep this within the ward leads.\n\n"
    "Then we only need to repeat:\n{copied}\n\n"
    "> Ask {secret}.\n\n"
    "And the rota goes on the notice board.\n"
)


@pytest.mark.parametrize("shape", ["top-posted", "interleaved"])
def test_a_reply_taken_to_another_community_leaves_the_private_text_behind(gw: Harness, shape: str) -> None:
    private = post(gw, "leads", "East wing", PRIVATE)
    [note] = sent_to(gw, "ann.lee@example.org", "East wing")  # Ann is a member: she gets it
    assert SECRET in note.get_body(("plain",)).get_content()
    template = TOP_POSTED if shape == "top-posted" else INTERLEAVED
    body = template.format(quote=quote(note), secret=SECRET, copied=COPIED)
    reply = answer(note, body, to=f"staff-room@{DOMAIN}")  # not the Reply-To: the all-staff community
    assert private in reply["References"] and reply["In-Reply-To"] == private
    gw.send(reply, f"staff-room@{DOMAIN}", sender="ann.lee@example.org")

    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["reason"], record["community"]) == ("published", "new-topic", "staff-room")
    committed = git(gw.root, "show", f"{record['commit']}:{record['path']}")
    assert SECRET not in committed and "east wing" not in committed.lower() and "ward leads" not in committed
    assert "Let us tell all staff about the new rota next week." in committed
    assert QUOTES_REMOVED in committed and record["quoted_removed"] is True
    if shape == "interleaved":
        assert "And the rota goes on the notice board." in committed
    staff_post = gw.post(reply["Message-ID"])
    assert staff_post.community == "staff-room" and staff_post.quoted == ""
    assert staff_post.subject == SUBJECT_REMOVED  # "Re: East wing" would name the private topic
    assert staff_post.in_reply_to is None and staff_post.topic == reply["Message-ID"]  # a topic of its own
    # Staff who subscribed to the staff room get the reply as the site shows it: no private text either.
    assert all(SECRET not in m.as_string() for m in gw.outbox() if m["Message-ID"] == reply["Message-ID"])


def test_a_reply_in_the_same_community_keeps_its_quote(gw: Harness) -> None:
    post(gw, "leads", "East wing", PRIVATE)
    [note] = sent_to(gw, "ann.lee@example.org", "East wing")
    reply = answer(note, TOP_POSTED.format(quote=quote(note)), to=note["Reply-To"])
    gw.send(reply, note["Reply-To"], sender="ann.lee@example.org")

    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["reason"], record["community"]) == ("published", "reply", "leads")
    assert "quoted_removed" not in record
    leads_post = gw.post(reply["Message-ID"])
    assert SECRET in leads_post.quoted and QUOTES_REMOVED not in leads_post.body
    assert leads_post.subject == "Re: East wing"


def test_mail_stops_at_once_for_someone_who_left_a_members_only_community(gw: Harness) -> None:
    subscribers = gw.root / "communities" / "leads" / "subscribers.yml"
    subscribers.write_text("ed.fox: each\ngus.hale: digest\ncy.diaz: digest\n")
    commit(gw.root, "Leads' delivery")
    post(gw, "leads", "Rota", "The rota for December is out.")
    assert sent_to(gw, "ed.fox@example.org", "Rota")  # a member: he gets every post

    # Ed and Gus leave the ward leads. Gus's digest of the post listed before is checked when it goes.
    edit_yaml(gw.root / "communities" / "leads" / "community.yml", members=["ann.lee", "cy.diaz"])
    commit(gw.root, "Ed and Gus leave the ward leads")
    assert gw.gateway.notifier.send_digests("2026-11-27") == 1
    assert sent_to(gw, "cy.diaz@example.org", "Ward Leads digest")
    assert sent_to(gw, "gus.hale@example.org") == []

    post(gw, "leads", "Budget", "The budget for next year.")
    assert sent_to(gw, "ann.lee@example.org", "Budget")
    assert sent_to(gw, "ed.fox@example.org", "Budget") == []
    assert gw.gateway.notifier.send_digests("2026-11-28") == 1
    assert sent_to(gw, "gus.hale@example.org") == []


def test_mail_stops_at_once_for_someone_whose_kind_changed(gw: Harness) -> None:
    subscribers = gw.root / "communities" / "staff-room" / "subscribers.yml"
    subscribers.write_text("fay.gill: each\nann.lee: each\nivy.jones: digest\ncy.diaz: digest\n")
    commit(gw.root, "Staff room delivery")
    post(gw, "staff-room", "Canteen", "The canteen opens at seven.")
    assert sent_to(gw, "fay.gill@example.org", "Canteen")

    # Fay and Ivy now work for a partner organisation.
    for handle in ("fay.gill", "ivy.jones"):
        edit_yaml(gw.root / "people" / f"{handle}.yml", kind="partner", organisation="Coop Nursing")
    commit(gw.root, "Fay and Ivy move to Coop Nursing")
    assert gw.gateway.notifier.send_digests("2026-11-27") == 1
    assert sent_to(gw, "cy.diaz@example.org", "Staff Room digest")
    assert sent_to(gw, "ivy.jones@example.org") == []

    post(gw, "staff-room", "Parking", "The car park is closed on Sunday.")
    assert sent_to(gw, "ann.lee@example.org", "Parking")
    assert sent_to(gw, "fay.gill@example.org", "Parking") == []


def test_a_reply_from_someone_who_left_a_members_only_community_is_held(gw: Harness) -> None:
    topic = post(gw, "leads", "Rota", "The rota for December is out.")
    [note] = sent_to(gw, "ed.fox@example.org", "Rota")
    edit_yaml(gw.root / "communities" / "leads" / "community.yml", members=["ann.lee", "cy.diaz", "gus.hale"])
    commit(gw.root, "Ed leaves the ward leads")

    reply = answer(note, "I can take the Friday night.", to=note["Reply-To"], sender="ed.fox@example.org")
    gw.send(reply, note["Reply-To"], sender="ed.fox@example.org")
    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["reason"]) == ("held", "not-in-audience")
    assert [p.message_id for p in gw.posts("leads")] == [topic]
    assert sent_to(gw, "cy.diaz@example.org", "Held for moderation")  # the moderator decides


def test_a_partner_posting_to_a_staff_only_community_is_held(gw: Harness) -> None:
    topic = post(gw, "staff-room", "Canteen", "The canteen opens at seven.")
    reply = mail(
        subject="Re: Canteen",
        body="Can partners eat there too?",
        sender="di.park@example.org",
        to=f"staff-room@{DOMAIN}",
        in_reply_to=topic,
    )
    gw.send(reply, f"staff-room@{DOMAIN}", sender="di.park@example.org")
    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["reason"]) == ("held", "not-in-audience")
    assert [p.message_id for p in gw.posts("staff-room")] == [topic]


def test_a_hidden_title_does_not_travel_in_a_subject(gw: Harness) -> None:
    """A members-only title, retyped with the reply prefix but without its list tag, stays behind."""
    add_community(gw.root, "ward-network", name="Ward Network", audience=["staff", "partners"])
    (gw.root / "communities" / "ward-network" / "subscribers.yml").write_text("di.park: each\nfay.gill: each\n")
    commit(gw.root, "A community for staff and partners")
    private = post(gw, "leads", "Incident review <x> [incidents]", "What went wrong on the night shift.")
    reply = mail(
        subject="RE: Incident review <x>",
        body="Lessons for everyone: two nurses per bay at night.",
        sender="ann.lee@example.org",
        to=f"ward-network@{DOMAIN}",
        in_reply_to=private,
    )
    gw.send(reply, f"ward-network@{DOMAIN}", sender="ann.lee@example.org")

    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["community"], record["subject_replaced"]) == ("published", "ward-network", True)
    committed = git(gw.root, "show", f"{record['commit']}:{record['path']}")
    assert "incident review" not in committed.lower() and "two nurses per bay" in committed
    assert gw.post(reply["Message-ID"]).subject == SUBJECT_REMOVED
    [partner_note] = sent_to(gw, "di.park@example.org", "subject removed")  # the partner gets the post ...
    assert "incident review" not in partner_note.as_string().lower()  # ... but not the title
    [notice] = sent_to(gw, "ann.lee@example.org", "published with another subject")
    text = notice.get_body(("plain",)).get_content()
    assert "Ward Network" in text and SUBJECT_REMOVED in text


def test_a_title_every_reader_may_read_stays_in_the_subject(gw: Harness) -> None:
    """A reply from the all-staff room into the ward leads: every lead may read the staff room."""
    public = post(gw, "staff-room", "Rota for March", "The March rota is on the board.")
    reply = mail(
        subject="Re: Rota for March", body="Leads: please check your wards.", to=f"leads@{DOMAIN}", in_reply_to=public
    )
    gw.send(reply, f"leads@{DOMAIN}", sender="ann.lee@example.org")

    [record] = gw.wait(reply["Message-ID"])
    assert (record["outcome"], record["community"]) == ("published", "leads") and "subject_replaced" not in record
    assert gw.post(reply["Message-ID"]).subject == "Re: Rota for March"
    assert not sent_to(gw, "ann.lee@example.org", "published with another subject")
