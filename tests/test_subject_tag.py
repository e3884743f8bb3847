"""A community's subject tag on its mail, and the topic's tags in a header mail filters read (issue #17)."""

from __future__ import annotations

from pathlib import Path

from mailtest import DOMAIN, Harness, git, git_root, mail

from intranet.format import read_intranet
from intranet.subjects import with_tag, without_tag

TO = f"handover@{DOMAIN}"
ANN, BO = "ann.lee@example.org", "bo.chen@example.org"


def test_tags_are_put_in_once_and_taken_out_wherever_a_reply_left_them() -> None:
    assert with_tag("Night shift", "handover") == "[handover] Night shift"
    assert with_tag("Re: [Handover] Night shift", "handover") == "Re: [Handover] Night shift"
    assert with_tag("Night shift", "") == "Night shift"
    assert without_tag("Re: [handover] Night shift", "handover") == "Re: Night shift"
    assert without_tag("[HANDOVER] Re: Night [shift]", "handover") == "Re: Night [shift]"


def test_mail_carries_the_subject_tag_and_the_topics_tags_and_replies_are_stored_without_it(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    community = root / "communities/handover/community.yml"
    community.write_text(community.read_text() + "subject_tag: handover\n")
    (root / "communities/handover/subscribers.yml").write_text("bo.chen: each\nann.lee: each\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Subject tag")
    reply = mail(
        subject="Re: [handover] Night shift handover",
        body="We do it at 21:00.",
        sender=ANN,
        in_reply_to="<t1@example.org>",
    )
    with Harness(root) as gw:
        gw.send(reply, TO, sender=ANN)
        assert gw.wait(reply["Message-ID"])[0]["outcome"] == "published"
        sent = gw.outbox()
        assert gw.post(reply["Message-ID"]).subject == "Re: Night shift handover"  # stored without the tag
    [to_bo] = [m for m in sent if str(m["Delivered-To"]) == BO]
    assert str(to_bo["Subject"]) == "[handover] Re: Night shift handover"
    assert str(to_bo["Keywords"]) == "isbar"  # the topic's tags


def test_a_subject_tag_with_brackets_is_refused(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    community = root / "communities/handover/community.yml"
    community.write_text(community.read_text() + "subject_tag: '[handover]'\n")
    problems = [str(p) for p in read_intranet(root).problems]
    assert any("subject_tag" in p and "no brackets" in p for p in problems), problems
    assert read_intranet(root).communities["handover"].subject_tag == ""
