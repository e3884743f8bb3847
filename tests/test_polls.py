"""Polls by mail (issue #19): ``#poll`` in a new topic opens one; a reply of an option's number or text votes.

A vote is not a post: the poll's first post gains ``votes:`` in a commit authored by the voter, who
gets one receipt; subscribers are not mailed. ``#close`` (by the poll's author or a moderator) ends
it. The topic page shows the counts as bars drawn in SVG. Real gateway on loopback, real Git, real
MkDocs builds.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import add_post
from mailtest import DOMAIN, Harness, git, git_root, mail, with_subscribers
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import parse_post, post_relpath, read_post, with_entries, with_vote
from mailgateway.hashcommands import refusal
from mailgateway.parse import parse_message
from mailgateway.polls import HOW_TO_VOTE, poll_in, vote_in, vote_of
from mailgateway.pushplan import merge_file

TO = f"handover@{DOMAIN}"
ANN, BO, CY = "ann.lee@example.org", "bo.chen@example.org", "cy.diaz@example.org"  # Ann moderates handover
OPTIONS = ("Tuesday", "Wednesday *late*", "Thursday")


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "polls-test-secret-0123456789abcdef")


# -- what a poll and a vote are (pure) --------------------------------------------------------


def test_a_poll_is_a_list_under_a_first_line_of_hash_poll() -> None:
    opened = poll_in("#poll\nWhich day suits?\n\n- Tuesday\n- Wednesday \\*late\\*\n- Thursday\n\nThanks!")
    assert opened is not None and opened.problem == "" and opened.options == OPTIONS
    assert opened.body == (
        "Which day suits?\n\n1. Tuesday\n2. Wednesday \\*late\\*\n3. Thursday\n\nThanks!\n\n" + HOW_TO_VOTE
    )
    for listed in ("1\\. a\n2\\) b", "\\* a\n\\+ b", "\\- a\n\n\\- b", "1. a\n   2. b"):  # as mail gives them
        found = poll_in(f"\\#Poll\n\n{listed}")
        assert found is not None and found.options == ("a", "b"), listed
    assert poll_in("Hello.\n#poll\n- a\n- b") is None and poll_in("#poll a or b?") is None  # not at the top


def test_a_poll_from_html_mail_is_read_from_its_list() -> None:
    message = mail(subject="Which day?", body="")
    html = "<p>#poll</p><p>Which <b>day</b>?</p><ol><li>Tuesday</li><li>Wed_nesday &amp; after</li></ol><p>Thanks</p>"
    message.set_content(html, subtype="html")
    opened = poll_in(parse_message(message.as_bytes(), dt.datetime.now(dt.UTC)).body)
    assert opened is not None and opened.options == ("Tuesday", "Wed_nesday & after")
    assert opened.body.startswith("Which **day**?\n\n1. Tuesday\n2. Wed") and "Thanks" in opened.body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("#poll\nWhich day?", "at least 2 options"),
        ("#poll\n- Tuesday", "there was only one"),
        ("#poll\n" + "\n".join(f"- day {n}" for n in range(21)), "at most 20 options, and there were 21"),
        ("#poll\n- Tuesday\n- tuesday.", "two options are the same"),
        ("#poll\n- Tuesday\n- " + "x" * 201, "longer than 200 characters"),
    ],
)
def test_a_poll_that_cannot_be_is_published_as_written_with_the_reason(body: str, problem: str) -> None:
    opened = poll_in(body)
    assert opened is not None and opened.options == () and opened.body == body and problem in opened.problem


@pytest.mark.parametrize(
    ("said", "option"),
    [
        ("2", 2),
        ("#2", 2),
        ("2.", 2),
        ("3)", 3),
        ("\\#1", 1),
        ("tuesday!", 1),
        ("  WEDNESDAY   *late*.", 2),
        ("Wednesday \\*late\\*", 2),  # as plain text mail gives it
        ("4", None),  # no option 4
        ("0", None),
        ("Thursday, but only after 3pm", None),
        ("", None),
    ],
)
def test_a_vote_is_an_options_number_or_its_text(said: str, option: int | None) -> None:
    assert vote_of(said, OPTIONS) == option


def test_a_number_that_is_no_options_number_may_be_an_options_text() -> None:
    assert vote_of("2027", ("2026", "2027")) == 2 and vote_of("2", ("2026", "2027")) == 2


def test_a_vote_from_a_mail_client_sets_aside_quote_and_signature_and_is_no_vote_with_a_file() -> None:
    message = mail(subject="Re: Training", body="2\n\nOn Monday Bo wrote:\n> #poll\n\n-- \nAnn Lee", sender=ANN)
    assert vote_in(parse_message(message.as_bytes(), dt.datetime.now(dt.UTC)), OPTIONS) == 2
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="card.pdf")
    assert vote_in(parse_message(message.as_bytes(), dt.datetime.now(dt.UTC)), OPTIONS) is None


def test_poll_and_votes_in_front_matter_are_read_written_and_checked() -> None:
    text = (
        "---\nauthor: bo.chen\ndate: 2026-09-01 08:00\nsubject: When?\npoll:\n  options: [Tuesday, Thursday]\n---\nQ\n"
    )
    voted = with_vote(with_vote(with_vote(text, "cy.diaz", 2), "ann.lee", 2), "cy.diaz", 1)  # Cy changed his mind
    post, problems = parse_post("handover", "communities/handover/posts/when.md", voted, lambda _: None)
    assert problems == [] and post is not None
    assert post.poll == ("Tuesday", "Thursday") and post.votes == (("ann.lee", 2), ("cy.diaz", 1))
    assert voted.endswith("poll:\n  options: [Tuesday, Thursday]\nvotes:\n  ann.lee: 2\n  cy.diaz: 1\n---\nQ\n")
    assert with_vote(with_vote(voted, "cy.diaz", None), "ann.lee", None) == text
    closed = with_entries(voted, closed=True)
    assert closed.index("poll:") < closed.index("closed: true") < closed.index("votes:")
    bad = voted.replace("ann.lee: 2", "ann.lee: 3\n  bo.chen: true").replace("[Tuesday, Thursday]", "[Tue, Thu]")
    post, problems = parse_post("handover", "communities/handover/posts/when.md", bad, lambda _: None)
    assert post is not None and post.votes == (("cy.diaz", 1),)
    assert sorted(p.message for p in problems) == [
        "ann.lee: 3 is not the number of an option (1 to 2)",
        "bo.chen: True is not the number of an option (1 to 2)",
    ]
    lone = text.replace("poll:\n  options: [Tuesday, Thursday]\n", "poll: [Tuesday]\nvotes: {ann.lee: 1}\n")
    post, problems = parse_post("handover", "communities/handover/posts/when.md", lone, lambda _: None)
    assert post is not None and post.poll == () and post.votes == ()
    assert [p.field for p in problems] == ["poll", "votes"]
    with pytest.raises(ValueError):
        with_vote(text, "ann.lee", 21)


def test_the_author_of_a_poll_may_close_and_reopen_it_as_a_moderator_may() -> None:
    assert refusal("close", "bo", "bo", ["mo"], False, poll=True) == ""
    assert refusal("reopen", "bo", "bo", ["mo"], False, poll=True) == ""
    assert "only a moderator" in refusal("close", "bo", "bo", ["mo"], False)  # not a poll: as before
    assert "only a moderator" in refusal("close", "cy", "bo", ["mo"], False, poll=True)
    assert "only a moderator" in refusal("pin", "bo", "bo", ["mo"], False, poll=True)
    assert "new topic" in refusal("poll", "bo", "bo", ["mo"], False)


# -- by mail, through the real gateway ----------------------------------------------------------


def _vote(body: str, sender: str, to: str) -> EmailMessage:
    return mail(subject="Re: ISBAR training: which day?", body=body, sender=sender, in_reply_to=to)


def _receipts(sent: list[EmailMessage], to: str) -> list[str]:
    return [
        m.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        for m in sent
        if str(m["Delivered-To"]) == to and str(m["Subject"]).startswith("Your vote")
    ]


def test_a_poll_by_mail_votes_changed_votes_and_closing(tmp_path: Path) -> None:
    root = with_subscribers(git_root(tmp_path / "intranet"), "ann.lee: each\nbo.chen: each\ncy.diaz: each\n")
    opening = mail(
        subject="ISBAR training: which day?",
        body="#poll\nThe trainer can come one afternoon.\n\n- Tuesday\n- Wednesday *late*\n- Thursday",
        sender=f"Bo Chen <{BO}>",
    )
    poll_id = opening["Message-ID"]
    first = root / post_relpath("handover", poll_id)
    one = mail(subject="Lunch?", body="#poll\n- Soup", sender=ANN)
    ann_2, cy_3, ann_1 = _vote("2", ANN, poll_id), _vote("thursday.", CY, poll_id), _vote("#1", ANN, poll_id)
    eve = _vote("2", "eve@elsewhere.example", poll_id)
    words = _vote("Tuesday works, but only after 3pm.", CY, poll_id)
    close = _vote("#close", BO, poll_id)
    late = _vote("1", CY, poll_id)

    def votes() -> tuple[tuple[str, int], ...]:
        post, problems = read_post(root, "handover", first)
        assert problems == [] and post is not None
        return post.votes

    with Harness(root) as gw:
        gw.send(opening, TO, sender=BO)
        assert gw.wait(poll_id)[0]["outcome"] == "published"
        post = gw.post(poll_id)
        assert post.poll == OPTIONS and "1. Tuesday\n2. Wednesday \\*late\\*\n3. Thursday" in post.body
        gw.send(one, TO, sender=ANN)
        [done] = gw.wait(one["Message-ID"])
        assert done["outcome"] == "published"
        assert gw.post(one["Message-ID"]).poll == () and gw.post(one["Message-ID"]).body == "#poll\n\\- Soup"
        commits = int(git(root, "rev-list", "--count", "HEAD"))
        for message, sender in ((ann_2, ANN), (cy_3, CY)):
            gw.send(message, TO, sender=sender)
            [done] = gw.wait(message["Message-ID"])
            assert (done["outcome"], done["reason"], done["changed"]) == ("voted", "vote", True)
        assert votes() == (("ann.lee", 2), ("cy.diaz", 3))
        assert git(root, "log", "-1", "--format=%an <%ae>|%(trailers:key=Vote-In,valueonly)").strip() == (
            f"Cy Diaz <{CY}>|{poll_id}"
        )
        assert not (root / post_relpath("handover", ann_2["Message-ID"])).exists()  # no post of its own
        gw.send(ann_1, TO, sender=ANN)  # Ann changes her vote
        assert gw.wait(ann_1["Message-ID"])[0]["option"] == 1
        gw.send(ann_1, TO, sender=ANN)  # ... and the same mail comes again: nothing more
        assert gw.wait(ann_1["Message-ID"], count=2)[1]["changed"] is False
        assert votes() == (("ann.lee", 1), ("cy.diaz", 3))
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 3
        gw.send(eve, TO, sender="eve@elsewhere.example")  # not someone of people/: as any of their mail
        assert gw.wait(eve["Message-ID"])[0]["outcome"] == "held"
        gw.send(words, TO, sender=CY)  # not a vote: a reply
        assert gw.wait(words["Message-ID"])[0]["outcome"] == "published"
    with Harness(root) as gw:  # started again, from its cache of the posts: still knows the poll and its author
        gw.send(close, TO, sender=BO)
        assert gw.wait(close["Message-ID"])[0]["outcome"] == "acted"
        gw.send(late, TO, sender=CY)
        assert gw.wait(late["Message-ID"])[0]["reason"] == "topic-closed"
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
    assert votes() == (("ann.lee", 1), ("cy.diaz", 3)) and read_post(root, "handover", first)[0].closed  # type: ignore[union-attr]
    receipts = [text.split("\n")[2] for text in _receipts(sent, ANN)]  # one each time her vote changed
    assert receipts == [
        f"Your vote in \u201cISBAR training: which day?\u201d: {n}." for n in ("2. Wednesday *late*", "1. Tuesday")
    ]
    assert len(_receipts(sent, CY)) == 1 and "3. Thursday" in _receipts(sent, CY)[0]
    [notice] = [m for m in sent if "no poll was opened" in str(m["Subject"])]
    assert str(notice["Delivered-To"]) == ANN and "there was only one" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert any("closed" in str(m["Subject"]) and str(m["Delivered-To"]) == CY for m in sent)
    votes_ids = {m["Message-ID"] for m in (ann_2, cy_3, ann_1, late)}
    fanned = [m for m in sent if m["List-Id"]]  # the subscribers' mail, not notices or receipts
    assert {str(m["Message-ID"]) for m in fanned} & votes_ids == set()
    assert {str(m["In-Reply-To"]) for m in fanned} & votes_ids == set()
    poll_mail = [m for m in fanned if str(m["Message-ID"]) == poll_id and str(m["Delivered-To"]) == CY]
    assert "2. Wednesday" in poll_mail[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert any(str(m["Message-ID"]) == words["Message-ID"] for m in fanned)  # the reply that was no vote
    build_site(root)
    html = _page(root, "ISBAR training")
    assert "Closed" in html and "2 votes" in html
    assert (
        '<svg class="intranet-poll__bar"' in html
        and "Tuesday: 1 vote (50%)" in html
        and "Wednesday *late*: 0 votes (0%)" in html
    )


def _page(root: Path, title: str) -> str:
    pages = [p.read_text() for p in (root / "site/staff/c/handover/t").glob("*/index.html")]
    [html] = [h for h in pages if title in h]
    return html


def test_votes_and_closing_by_commits_are_updated_as_a_full_build_shows_them(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    builder = Builder(root)
    try:
        builder.build()
        first = add_post(
            root, "handover", "<poll@example.org>", subject="Which day?", body="Pick one.", author="bo.chen"
        )
        options = "poll:\n  options: [Tuesday, Thursday <script>x()</script>]\n"  # (options are text, never markup)
        text = first.read_text().replace("source: smtp\n", "source: smtp\n" + options)
        first.write_text(text)
        relpath = str(first.relative_to(root))
        assert builder.update([relpath]) == "updated"
        steps = [("ann.lee", 1), ("bo.chen", 2), ("ann.lee", 2)]  # Ann changes her vote
        for handle, option in steps:
            first.write_text(with_vote(first.read_text(), handle, option))
            git(root, "add", "-A")
            git(root, "-c", f"user.name={handle}", "-c", f"user.email={handle}@example.org", "commit", "-qm", "Vote")
            assert builder.update([relpath]) == "updated"
        assert "Tuesday: 0 votes (0%)" in _page(
            root, "Which day?"
        ) and "Thursday &lt;script&gt;x()&lt;/script&gt;: 2 votes (100%)" in _page(root, "Which day?")
        assert_same_as_full_build(root, tmp_path)
        first.write_text(with_entries(first.read_text(), closed=True))
        assert builder.update([relpath]) == "updated"
        assert "intranet-poll__closed" in _page(root, "Which day?")
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


def test_votes_made_at_two_gateways_are_both_kept_when_replayed() -> None:
    path = "communities/handover/posts/aa/bb.md"
    base = (
        "---\nmessage_id: <a@b>\ntopic: <a@b>\nauthor: bo.chen\ndate: '2026-11-03T09:14:22+00:00'\nsubject: When?\n"
        "poll:\n  options: [Tuesday, Thursday]\n---\nWhich day?\n"
    )
    ours, theirs = with_vote(base, "ann.lee", 1), with_vote(base, "cy.diaz", 2)  # the other gateway's came first
    merged = merge_file(path, base.encode(), ours.encode(), theirs.encode())
    assert merged.note == "" and merged.data is not None
    post, problems = parse_post("handover", path, merged.data.decode(), lambda _: None)
    assert problems == [] and post is not None and post.votes == (("ann.lee", 1), ("cy.diaz", 2))
    changed = with_vote(ours, "ann.lee", 2)  # Ann changed her vote here; there, Cy voted
    merged = merge_file(path, ours.encode(), changed.encode(), with_vote(ours, "cy.diaz", 2).encode())
    assert merged.data == with_vote(with_vote(base, "ann.lee", 2), "cy.diaz", 2).encode()
