"""Joining by email (issue #17): staff of the organisation's own mail domains add themselves to people/."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
import yaml
from mailtest import DOMAIN, Harness, git, git_root, mail
from test_mail_out import reply

from intranet.format import post_relpath

TO = f"handover@{DOMAIN}"
NIA = "nia.nurse@northfield-health.example"


def test_a_new_colleague_joins_by_answering_the_invitation_and_what_waited_is_published(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", staff_domains="northfield-health.example, northfield.example")
    first = mail(subject="Night handover on Ward 9", body="How does Ward 9 do it?", sender=f"Nia Nurse <{NIA}>")
    partner = mail(subject="From a partner", body="Hello.", sender="pat@coop-nursing.example")
    with Harness(root) as gw:
        gw.send(first, TO, sender=NIA)
        gw.send(partner, TO, sender="pat@coop-nursing.example")
        assert gw.wait(first["Message-ID"])[0]["reason"] == "not-known"
        assert gw.wait(partner["Message-ID"])[0]["reason"] == "not-known"
        sent = gw.outbox()
        [invitation] = [m for m in sent if str(m["Delivered-To"]) == NIA and "Join" in str(m["Subject"])]
        assert not [
            m for m in sent if str(m["Delivered-To"]) == "pat@coop-nursing.example" and "Join" in str(m["Subject"])
        ]
        forwarded = reply(invitation, "yes", "someone.else@northfield-health.example")
        gw.send(forwarded, str(invitation["Reply-To"]), sender="someone.else@northfield-health.example")
        assert gw.wait(forwarded["Message-ID"])[0]["reason"] == "confirm-not-yours"
        yes = reply(invitation, "Yes please", f"Nia Nurse <{NIA}>")
        gw.send(yes, str(invitation["Reply-To"]), sender=NIA)
        [joined] = gw.wait(yes["Message-ID"])
        assert (joined["outcome"], joined["reason"]) == ("joined", "nia.nurse")
        person = yaml.safe_load((root / "people/nia.nurse.yml").read_text())
        assert person == {
            "name": "Nia Nurse",
            "emails": [NIA],
            "kind": "staff",
            "organisation": "northfield-health.example",
        }
        assert (
            git(root, "log", "-1", "--format=%an <%ae>", "--", "people/nia.nurse.yml").strip() == f"Nia Nurse <{NIA}>"
        )
        post = gw.post(first["Message-ID"])  # what waited is published, as hers
        assert post.author.handle == "nia.nurse"
        assert (root / post_relpath("handover", partner["Message-ID"])).exists() is False  # the partner still waits
        welcome = [m for m in gw.outbox() if str(m["Delivered-To"]) == NIA and "Welcome" in str(m["Subject"])]
        assert len(welcome) == 1 and "1, now published" in welcome[0].get_body(("plain",)).get_content()
        assert git(root, "status", "--porcelain") == ""


def test_writing_to_join_invites_a_colleague_and_tells_anyone_else_why_not(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", staff_domains="northfield-health.example")
    join = f"join@{DOMAIN}"
    ask = mail(subject="join", body="", sender=f"Nia Nurse <{NIA}>")
    partner = mail(subject="join", body="Please add me.", sender="pat@coop-nursing.example")
    known = mail(subject="join", body="", sender="Ann Lee <ann.lee@example.org>")
    with Harness(root) as gw:
        for message, sender in ((ask, NIA), (partner, "pat@coop-nursing.example"), (known, "ann.lee@example.org")):
            gw.send(message, join, sender=sender)
        assert gw.wait(ask["Message-ID"])[0]["outcome"] == "confirming"
        assert gw.wait(partner["Message-ID"])[0]["reason"] == "not-a-staff-domain"
        assert gw.wait(known["Message-ID"])[0]["reason"] == "join-already-known"
        sent = gw.outbox()
        by = {str(m["Delivered-To"]): m for m in sent}
        invitation = by[NIA]
        assert str(invitation["Subject"]) == "Join the intranet"
        assert str(invitation["Reply-To"]).startswith("join+cj")
        assert "You asked to join the intranet." in invitation.get_body(("plain",)).get_content()
        assert "moderator" in by["pat@coop-nursing.example"].get_body(("plain",)).get_content()
        assert "as Ann Lee" in by["ann.lee@example.org"].get_body(("plain",)).get_content()
        tampered = str(invitation["Reply-To"]).replace("join+cj", "join+ce", 1)
        with pytest.raises(smtplib.SMTPRecipientsRefused):  # a confirmation address that does not check out
            gw.send(reply(invitation, "yes", f"Nia Nurse <{NIA}>"), tampered, sender=NIA)
        yes = reply(invitation, "Yes please", f"Nia Nurse <{NIA}>")
        gw.send(yes, str(invitation["Reply-To"]), sender=NIA)
        [joined] = gw.wait(yes["Message-ID"])
        assert (joined["outcome"], joined["reason"]) == ("joined", "nia.nurse")
        assert yaml.safe_load((root / "people/nia.nurse.yml").read_text())["kind"] == "staff"
        assert "answered the invitation sent to join@" in git(root, "log", "-1", "--format=%B")
        [welcome] = [m for m in gw.outbox() if str(m["Delivered-To"]) == NIA and "Welcome" in str(m["Subject"])]
        assert f"handover@{DOMAIN}" in welcome.get_body(("plain",)).get_content()
        assert git(root, "status", "--porcelain") == ""


def test_profile_by_mail_changes_only_ones_own_file_and_keeps_what_an_editor_wrote(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    people = root / "people/ann.lee.yml"
    people.write_text("# Ann's file: kept by the editors\n" + people.read_text())
    git(root, "commit", "-qam", "A comment")
    ann = "ann.lee@example.org"
    update = mail(
        subject="my profile",
        body="#profile\nrole: Clinical nurse educator\nexpertise: ISBAR, night shifts\nshoe size: 38",
        sender=f"Ann Lee <{ann}>",
    )
    stranger = mail(subject="x", body="#profile\nrole: Chief", sender="eve@elsewhere.example")
    with Harness(root) as gw:
        gw.send(update, TO, sender=ann)
        [done] = gw.wait(update["Message-ID"])
        assert (done["outcome"], done["changed"]) == ("profiled", ["expertise", "role"])
        text = people.read_text()
        assert text.startswith("# Ann's file: kept by the editors\n")  # the rest as written
        data = yaml.safe_load(text)
        assert data["role"] == "Clinical nurse educator" and data["expertise"] == ["ISBAR", "night shifts"]
        assert git(root, "log", "-1", "--format=%an <%ae>").strip() == f"Ann Lee <{ann}>"
        assert not (root / post_relpath("handover", update["Message-ID"])).exists()  # nothing posted
        gw.send(stranger, TO, sender="eve@elsewhere.example")
        assert gw.wait(stranger["Message-ID"])[0]["reason"] == "command-not-authentic"
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
    [receipt] = [m for m in sent if str(m["Delivered-To"]) == ann and "Your profile" in str(m["Subject"])]
    body = receipt.get_body(("plain",)).get_content()
    assert "role: now 'Clinical nurse educator'" in body and "Not taken: 'shoe size: 38'" in body
