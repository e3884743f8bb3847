"""Commands by mail (issue #17): ``#accept``, ``#close``, ``#reopen`` at the top of a reply.

The topic's first post changes in a commit authored by the sender; the site shows Solved and the
accepted answer; the sender gets one receipt; the rest of the text is posted. Real gateway on
loopback, real Git, real MkDocs builds.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import re
from pathlib import Path

import pytest
from helpers import CORPUS, add_person, add_post, write_config
from mailtest import DOMAIN, Harness, git, git_root, mail, with_subscribers
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import path_key, post_relpath, read_post, with_entries
from mailgateway.hashcommands import commands_in, refusal
from mailgateway.parse import parse_message

TO = f"handover@{DOMAIN}"
ANN, BO = "ann.lee@example.org", "bo.chen@example.org"  # Ann asked (and moderates handover); Bo answered
TOPIC, REPLY = "<t1@example.org>", "<r1@example.org>"


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "commands-test-secret-0123456789abcdef")


def test_commands_are_the_lines_of_a_hash_and_a_word_at_the_top() -> None:
    found = commands_in("#accept\n\n\\#Close\nThanks, this worked.\n#reopen")
    assert found is not None and found.words == ("accept", "close") and found.rest == "Thanks, this worked.\n#reopen"
    assert commands_in("Thanks.\n#accept") is None  # not at the top
    assert commands_in("#1 priority is the ward") is None and commands_in("# Agenda\nItems") is None
    many = commands_in("\n".join(["#accept"] * 12))
    assert many is not None and len(many.words) == 10 and many.rest == "#accept\n#accept"


def test_who_may_give_which_command() -> None:
    moderators = ["mo"]
    assert refusal("accept", "asker", "asker", moderators, False) == ""
    assert refusal("accept", "mo", "asker", moderators, False) == ""
    assert "only the person who asked" in refusal("accept", "someone", "asker", moderators, False)
    assert "in reply to the answer" in refusal("accept", "asker", "asker", moderators, True)
    assert refusal("close", "mo", "asker", moderators, False) == ""
    assert "only a moderator" in refusal("close", "asker", "asker", moderators, False)
    assert refusal("pin", "mo", "asker", moderators, False) == ""
    assert "only a moderator of the community may pin a topic" in refusal("pin", "asker", "asker", moderators, False)
    assert refusal("mute", "someone", "asker", moderators, False) == ""  # for oneself: anyone who may read
    assert refusal("edit", "writer", "asker", moderators, False, "writer") == ""
    assert "only the post's author" in refusal("edit", "someone", "asker", moderators, False, "writer")
    assert "not a command we know" in refusal("frobnicate", "asker", "asker", moderators, False)


def _reply(body: str, sender: str, to: str = REPLY) -> object:
    return mail(subject="Re: Night shift handover", body=body, sender=sender, in_reply_to=to)


def _receipts(sent: list, to: str) -> list[str]:
    return [
        m.get_body(("plain",)).get_content()
        for m in sent
        if str(m["Delivered-To"]) == to and "commands" in str(m["Subject"])
    ]


def test_accept_close_and_reopen_by_mail_with_one_receipt_each(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    first = root / post_relpath("handover", TOPIC)
    accept = _reply("#accept\n\nThanks Bo, the ISBAR cards worked for us.\n\nOn Sunday Bo wrote:\n> ISBAR", ANN)
    not_bos = _reply("#accept\n#close\n#pin\n#frobnicate", BO)
    close = _reply("#close\n#pin", ANN, TOPIC)
    late = _reply("One more thing.", BO, TOPIC)
    reopen = _reply("#reopen\n\nOpen again for the night team.", ANN, TOPIC)
    stranger = _reply("#accept", "eve@elsewhere.example")
    with Harness(root) as gw:
        commits = int(git(root, "rev-list", "--count", "HEAD"))
        gw.send(accept, TO, sender=ANN)
        [done] = gw.wait(accept["Message-ID"])
        assert (done["outcome"], done["commands"]) == ("published", ["accept"])  # the rest is a reply
        topic, _ = read_post(root, "handover", first)
        assert topic is not None and topic.accepted == REPLY and topic.body == "How do you run it?"
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 2  # the command's, the reply's
        assert git(root, "log", "-2", "--format=%an|%(trailers:key=Command,valueonly)").split() == [
            "Ann",
            "Lee|",
            "Ann",
            "Lee|#accept",
        ]
        assert gw.post(accept["Message-ID"]).body.startswith("Thanks Bo")  # without the command line
        gw.send(accept, TO, sender=ANN)  # again: nothing changes, no second receipt
        gw.wait(accept["Message-ID"], count=2)
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 2
        gw.send(not_bos, TO, sender=BO)
        assert gw.wait(not_bos["Message-ID"])[0]["refused"].keys() == {"accept", "close", "pin", "frobnicate"}
        gw.send(close, TO, sender=ANN)
        assert gw.wait(close["Message-ID"])[0]["outcome"] == "acted"
        assert read_post(root, "handover", first)[0].closed  # type: ignore[union-attr]
        assert read_post(root, "handover", first)[0].pinned  # type: ignore[union-attr]
        gw.send(late, TO, sender=BO)
        assert gw.wait(late["Message-ID"])[0]["reason"] == "topic-closed"
        liked, stranger_liked = _reply("+1", BO), _reply("+1", "eve@elsewhere.example")
        gw.send(liked, TO, sender=BO)  # a closed topic may still be liked
        assert gw.wait(liked["Message-ID"])[0]["outcome"] == "reacted"
        gw.send(stranger_liked, TO, sender="eve@elsewhere.example")  # by someone whose mail would be held: no
        assert gw.wait(stranger_liked["Message-ID"])[0]["reason"] == "topic-closed"
        gw.send(reopen, TO, sender=ANN)  # a command reaches a closed topic
        assert gw.wait(reopen["Message-ID"])[0]["outcome"] == "published"
        assert not read_post(root, "handover", first)[0].closed  # type: ignore[union-attr]
        gw.send(stranger, TO, sender="eve@elsewhere.example")
        assert gw.wait(stranger["Message-ID"])[0]["reason"] == "command-not-authentic"
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
    ann = _receipts(sent, ANN)
    assert len(ann) == 3, ann  # accept (once), close, reopen
    assert "#accept: done, marked the reply you answered as the accepted answer." in ann[0]
    assert "The rest of your message was published." in ann[0]
    [bo] = _receipts(sent, BO)
    assert "#accept: not done: only the person who asked, or a moderator, may accept an answer." in bo
    assert "#close: not done: only a moderator" in bo and "#frobnicate: not done: not a command we know" in bo
    assert [
        m for m in sent if str(m["Delivered-To"]) == "eve@elsewhere.example" and "not carried out" in str(m["Subject"])
    ]
    build_site(root)
    pages = [p.read_text() for p in (root / "site/staff/c/handover/t").glob("*/index.html")]
    [page] = [p for p in pages if "Night shift handover" in p]
    assert "✓ Solved" in page and "✓ Accepted answer" in page and "Bo Chen's accepted answer" in page
    community = (root / "site/staff/c/handover/index.html").read_text()
    assert "✓ Solved" in community and "Pinned</span>" in community


def test_an_accepted_answer_and_a_closed_topic_are_updated_as_a_full_build_shows_them(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    builder = Builder(root)
    try:
        builder.build()
        first = root / post_relpath("handover", TOPIC)
        relpath = str(first.relative_to(root))
        for n, entries in enumerate(({"accepted": REPLY}, {"closed": True}, {"accepted": None}, {"closed": None})):
            first.write_text(with_entries(first.read_text(), **entries))
            assert builder.update([relpath]) == "updated"
            feeds = [(root / "site/staff" / f).read_text() for f in ("feed.xml", "c/handover/feed.xml")]
            for feed in feeds:  # feed readers see solved topics and their answer marked
                assert feed.count('term="solved"') == (2 if n < 2 else 0), feed
                assert feed.count('term="accepted-answer"') == (1 if n < 2 else 0)
            if n % 2:  # (a full build to compare with every second step: each costs one)
                assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


def test_an_announcements_community_takes_its_moderators_posts_and_everyone_elses_reactions(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    community = root / "communities/handover/community.yml"
    community.write_text(community.read_text() + "posting: moderators\n")
    git(root, "commit", "-qam", "Announcements only")
    news = mail(subject="New handover policy", body="From Monday, ISBAR on every ward.", sender=ANN)
    answer = _reply("Does this apply to agency staff?", BO, TOPIC)
    stranger = mail(subject="Offer", body="Buy our cards.", sender="eve@elsewhere.example")
    with Harness(root) as gw:
        gw.send(news, TO, sender=ANN)
        assert gw.wait(news["Message-ID"])[0]["outcome"] == "published"  # a moderator's announcement
        like = _reply("+1", BO, news["Message-ID"])
        for message, sender in ((answer, BO), (stranger, "eve@elsewhere.example"), (like, BO)):
            gw.send(message, TO, sender=sender)
        assert gw.wait(answer["Message-ID"])[0]["reason"] == "announcements-only"
        assert gw.wait(stranger["Message-ID"])[0]["reason"] == "announcements-only"
        assert gw.wait(like["Message-ID"])[0]["outcome"] == "reacted"  # readers may still like it
        sent = gw.outbox()
    told = [m for m in sent if "is for announcements" in str(m["Subject"])]
    assert sorted(str(m["Delivered-To"]) for m in told) == [BO, "eve@elsewhere.example"]
    post = gw.post(news["Message-ID"])
    assert post.reactions == (("bo.chen", "like"),)


def test_an_author_edits_and_takes_back_their_post_by_mail_and_nobody_else_can(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    add_person(root, "cy.diaz", name="Cy Diaz")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Cy")
    answer = root / post_relpath("handover", REPLY)
    edit = _reply("#edit\n\nWe use ISBAR cards, laminated.\n\nOn Sunday Bo wrote:\n> We use ISBAR cards.", BO)
    not_cys = _reply("#edit\n#delete\n\nCy's words.", "cy.diaz@example.org")
    empty = _reply("#edit", BO)
    delete = _reply("#delete", BO)
    with Harness(root) as gw:
        before = read_post(root, "handover", answer)[0]
        gw.send(edit, TO, sender=BO)
        assert gw.wait(edit["Message-ID"])[0]["outcome"] == "acted"  # the new text is not a reply of its own
        post = read_post(root, "handover", answer)[0]
        assert post is not None and before is not None
        assert post.body == "We use ISBAR cards, laminated." and post.edited is not None and not post.deleted
        assert (post.quoted, post.signature, post.attachments) == (before.quoted, before.signature, before.attachments)
        assert not (root / post_relpath("handover", edit["Message-ID"])).exists()
        for message, sender in ((not_cys, "cy.diaz@example.org"), (empty, BO)):
            gw.send(message, TO, sender=sender)
        assert gw.wait(not_cys["Message-ID"])[0]["refused"].keys() == {"edit", "delete"}
        assert "new text" in gw.wait(empty["Message-ID"])[0]["refused"]["edit"]
        assert read_post(root, "handover", answer)[0].body == "We use ISBAR cards, laminated."  # type: ignore[union-attr]
        build_site(root)
        assert "edited <time" in _topic_page(root)
        gw.send(delete, TO, sender=BO)
        assert gw.wait(delete["Message-ID"])[0]["outcome"] == "acted"
        post = read_post(root, "handover", answer)[0]
        assert post is not None and post.deleted and (post.body, post.quoted, post.attachments) == ("", "", [])
        assert git(root, "status", "--porcelain") == ""
    build_site(root)
    page = _topic_page(root)
    assert "taken back by its author" in page and "laminated" not in page and "ISBAR card.pdf" not in page
    assert "How do you run it?" in page  # the thread stays


def test_an_edited_and_a_deleted_post_are_updated_as_a_full_build_shows_them(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    builder = Builder(root)
    try:
        builder.build()
        answer = root / post_relpath("handover", REPLY)
        relpath = str(answer.relative_to(root))
        for entries in (
            {"body": "Laminated cards.", "edited": "2026-12-01T10:00:00+00:00"},
            {"body": "", "drop_files": True, "deleted": True},
        ):
            answer.write_text(with_entries(answer.read_text(), **entries))
            assert builder.update([relpath]) == "updated"
            assert (
                "edited <time"
                in (root / "site/staff/c/handover")
                .joinpath("t", path_key(post_relpath("handover", TOPIC))[:12], "index.html")
                .read_text()
                or "deleted" in entries
            )
        assert_same_as_full_build(root, tmp_path)  # (one full build to compare with, after both)
    finally:
        builder.close()


def _topic_page(root: Path) -> str:
    pages = [p.read_text() for p in (root / "site/staff/c/handover/t").glob("*/index.html")]
    [page] = [p for p in pages if "Night shift handover" in p]
    return page


def test_follow_and_mute_a_topic_by_mail_change_who_gets_its_replies(tmp_path: Path) -> None:
    root = with_subscribers(git_root(tmp_path / "intranet"), "ann.lee: each\nbo.chen: each\ncy.diaz: none\n")
    first = root / post_relpath("handover", TOPIC)
    mute = _reply("#mute", ANN, TOPIC)
    follow = _reply("#follow", "cy.diaz@example.org", TOPIC)
    news = _reply("Night staff now use ISBAR too.", BO)
    elsewhere = mail(subject="A new topic", body="Something else.", sender=BO)
    with Harness(root) as gw:
        gw.send(mute, TO, sender=ANN)
        gw.send(follow, TO, sender="cy.diaz@example.org")
        assert gw.wait(mute["Message-ID"])[0]["outcome"] == gw.wait(follow["Message-ID"])[0]["outcome"] == "acted"
        topic = read_post(root, "handover", first)[0]
        assert topic is not None and topic.notify == (("ann.lee", "mute"), ("cy.diaz", "follow"))
        gw.send(news, TO, sender=BO)
        gw.send(elsewhere, TO, sender=BO)
        assert (
            gw.wait(news["Message-ID"])[0]["outcome"] == gw.wait(elsewhere["Message-ID"])[0]["outcome"] == "published"
        )
        sent = gw.outbox()
    got = {(str(m["Delivered-To"]), str(m["Subject"])) for m in sent if "commands" not in str(m["Subject"])}
    about_news = {to for to, subject in got if "Night shift handover" in subject}
    about_other = {to for to, subject in got if "A new topic" in subject}
    assert about_news == {"cy.diaz@example.org"}  # Ann muted it, Cy follows it (Bo wrote it)
    assert about_other == {ANN}  # the community's other topics as before
    assert len(_receipts(sent, ANN)) == len(_receipts(sent, "cy.diaz@example.org")) == 1


def test_a_pinned_topic_is_listed_first_and_updates_as_a_full_build_shows(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    write_config(root, topics_per_page=3)
    for n in range(5):  # newer topics than the small intranet's own
        add_post(
            root,
            "handover",
            f"<new{n}@x>",
            f"Newer topic {n}",
            "News.",
            date=dt.datetime(2026, 12, 1, n, tzinfo=dt.UTC),
        )
    builder = Builder(root)
    try:
        builder.build()
        first = root / post_relpath("handover", TOPIC)
        first.write_text(with_entries(first.read_text(), pinned=True))
        assert builder.update([str(first.relative_to(root))]) == "updated"
        table = (root / "site/staff/c/handover/index.html").read_text().split('id="topics"')[1]
        titles = re.findall(r">(Night shift handover|Newer topic \d)</a>", table)
        assert titles[:3] == ["Night shift handover", "Newer topic 4", "Newer topic 3"]  # pinned, then the latest
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


TALON = CORPUS / "mailgun-talon" / "standard_replies"


@pytest.mark.parametrize("fixture", ["outlook.eml", "apple_mail.eml", "gmail.eml", "android.eml", "iphone.eml"])
def test_commands_at_the_top_of_real_mail_clients_replies_are_read(fixture: str) -> None:
    """talon's replies from Outlook, Apple Mail, Gmail and phones, their new text ("Hello" and the like)
    replaced by commands and a line of text, in every part the client sent, as those clients would."""
    original = email.message_from_bytes((TALON / fixture).read_bytes(), policy=email.policy.default)
    assert isinstance(original, email.message.EmailMessage)
    plain, html = original.get_body(("plain",)), original.get_body(("html",))
    new_plain = "#accept\n#close\nThanks, that settles it.\n"
    new_html = "#accept<br>#close<br>Thanks, that settles it.<br>"
    message = mail(subject="Re: Gloves", body="", in_reply_to="<p1@example.org>")
    first = plain.get_content() if plain is not None else ""
    word = re.match(r"\s*(\S[^\n]*)", first).group(1) if first else "Hello"  # the reply's own first line
    if plain is not None:
        message.set_content(first.replace(word, new_plain, 1))
    if html is not None:
        text = html.get_content()
        assert word in text, fixture
        if plain is not None:
            message.add_alternative(text.replace(word, new_html, 1), subtype="html")
        else:
            message.set_content(text.replace(word, new_html, 1), subtype="html")
    parsed = parse_message(message.as_bytes(), dt.datetime.now(dt.UTC))
    found = commands_in(parsed.body)
    assert found is not None and found.words == ("accept", "close"), parsed.body
    assert found.rest.strip() == "Thanks, that settles it.", parsed.body
