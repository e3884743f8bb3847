"""Reactions by mail (issue #17): a reply that is only "+1", a heart or "thanks" marks the post it answers.

No post is made and nobody is mailed; the post's front matter gains ``reactions:``, in a commit
authored by who reacted, and the site shows who reacted under the post. Real gateway on
loopback, real Git, real MkDocs builds.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import CORPUS, add_person
from mailtest import DOMAIN, Harness, git, git_root, mail
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import parse_post, post_relpath, read_post, with_reaction
from mailgateway.parse import parse_message
from mailgateway.pushplan import merge_file
from mailgateway.reactwords import reaction_of

TO = f"handover@{DOMAIN}"
ANN, BO = "ann.lee@example.org", "bo.chen@example.org"
TOPIC, REPLY = "<t1@example.org>", "<r1@example.org>"


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "reactions-test-secret-0123456789abcdef")


def _read(body: str, attachment: bool = False) -> str | None:
    message = mail(subject="Re: Night shift handover", body=body, sender=ANN, in_reply_to=REPLY)
    if attachment:
        message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="card.pdf")
    return reaction_of(parse_message(message.as_bytes(), dt.datetime.now(dt.UTC)))


@pytest.mark.parametrize(
    ("body", "reaction"),
    [
        ("+1", "like"),
        ("+1\n\nOn Sunday Bo wrote:\n> We use ISBAR cards.", "like"),
        ("\U0001f44d\U0001f3fd", "like"),  # a thumbs up with a skin tone
        ("Like!", "like"),
        ("\u2764\ufe0f", "love"),
        ("<3", "love"),
        ("Thank you!!", "thanks"),
        ("thanks.\n\n-- \nAnn Lee\nWard 7", "thanks"),  # the signature is not new text
        ("+1 we do the same on Ward 7", None),
        ("Thanks, but we tried that and it failed.", None),
        ("", None),
    ],
)
def test_only_a_whole_reply_of_one_reaction_is_one(body: str, reaction: str | None) -> None:
    assert _read(body) == reaction


def test_a_reaction_with_a_file_is_a_post() -> None:
    assert _read("+1", attachment=True) is None


FIXTURES = CORPUS / "discourse-email-fixtures"


def _cut(text: str, start: str, end: str, new: str) -> str:
    """``text`` with what runs from ``start`` up to ``end`` replaced by ``new``."""
    return text[: text.index(start)] + new + text[text.index(end) :]


def _as_ann(fixture: str, plain: tuple[str, str] | None, html: tuple[str, str] | None) -> EmailMessage:
    """The corpus's reply from a mail client, its new text replaced by "+1", sent by Ann to the reply."""
    original = email.message_from_bytes((FIXTURES / fixture).read_bytes(), policy=email.policy.default)
    assert isinstance(original, EmailMessage)
    message = mail(subject="Re: Night shift handover", body="", sender=ANN, in_reply_to=REPLY)
    texts = {}
    for subtype, cut in (("plain", plain), ("html", html)):
        part = original.get_body((subtype,))
        if part is not None and cut is not None:
            texts[subtype] = _cut(part.get_content(), *cut, "+1\n" if subtype == "plain" else "<div>+1</div>")
    message.set_content(texts.get("plain") or texts["html"], subtype="plain" if "plain" in texts else "html")
    if "plain" in texts and "html" in texts:
        message.add_alternative(texts["html"], subtype="html")
    return message


@pytest.mark.parametrize(
    ("fixture", "plain", "html"),
    [
        ("ios_default.eml", ("### this is a reply", "\n\n\n> On Nov 28"), ("<div>### this", "<div><br>On Nov 28")),
        ("android_gmail.eml", ("### this is a reply", "On Nov 28, 2014"), None),
        ("gmail_html_reply.eml", None, ("<p>This is a", "</p>")),  # (Gmail's signature div is set aside)
    ],
)
def test_real_mail_clients_replies_of_plus_one_are_likes(
    fixture: str, plain: tuple[str, str] | None, html: tuple[str, str] | None
) -> None:
    message = _as_ann(fixture, plain, html)
    assert reaction_of(parse_message(message.as_bytes(), dt.datetime.now(dt.UTC))) == "like"


def test_reactions_in_front_matter_are_read_written_and_checked() -> None:
    text = (root_post := "---\nauthor: ann.lee\ndate: 2026-09-01 08:00\nsubject: Welcome\n---\nHello.\n")
    liked = with_reaction(with_reaction(text, "bo.chen", "like"), "amira.haddad", "thanks")
    post, problems = parse_post("handover", "communities/handover/posts/welcome.md", liked, lambda _: None)
    assert problems == [] and post is not None
    assert post.reactions == (("amira.haddad", "thanks"), ("bo.chen", "like"))
    assert liked.startswith("---\nauthor: ann.lee\ndate: 2026-09-01 08:00\nsubject: Welcome\nreactions:\n")
    assert with_reaction(with_reaction(liked, "bo.chen", None), "amira.haddad", None) == root_post
    bad = text.replace("subject: Welcome\n", "subject: Welcome\nreactions: {Bo Chen: like, ann.lee: wow}\n")
    post, problems = parse_post("handover", "communities/handover/posts/welcome.md", bad, lambda _: None)
    assert post is not None and post.reactions == ()
    assert sorted(p.message for p in problems) == [
        "'Bo Chen' is not a handle",
        "ann.lee: 'wow' is not one of like, love, thanks",
    ]
    with pytest.raises(ValueError):
        with_reaction(text, "bo.chen", "wow")


def test_a_plus_one_by_mail_marks_the_post_once_and_is_neither_posted_nor_mailed(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    add_person(root, "cy.diaz", name="Cy Diaz")
    (root / "communities/handover/subscribers.yml").write_text("ann.lee: each\nbo.chen: each\ncy.diaz: each\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@example.org", "commit", "-qm", "Subscribers")
    reply_file = root / post_relpath("handover", REPLY)
    like = mail(
        subject="Re: Night shift handover", body="+1\n\nOn Sunday Bo wrote:\n> ISBAR", sender=ANN, in_reply_to=REPLY
    )
    love = mail(subject="Re: Night shift handover", body="\u2764\ufe0f", sender=BO, in_reply_to=TOPIC)
    stranger = mail(subject="Re: Night shift handover", body="+1", sender="eve@elsewhere.example", in_reply_to=TOPIC)
    words = mail(subject="Re: Night shift handover", body="+1, we do the same.", sender=ANN, in_reply_to=TOPIC)
    with Harness(root) as gw:
        commits = int(git(root, "rev-list", "--count", "HEAD"))
        gw.send(like, TO, sender=ANN)
        [done] = gw.wait(like["Message-ID"])
        assert (done["outcome"], done["reason"], done["post"], done["changed"]) == ("reacted", "like", REPLY, True)
        post, problems = read_post(root, "handover", reply_file)
        assert problems == [] and post is not None and post.reactions == (("ann.lee", "like"),)
        assert post.body == "We use **ISBAR** cards." and post.attachments  # the rest as it was
        assert not (root / post_relpath("handover", like["Message-ID"])).exists()  # no post of its own
        assert git(root, "log", "-1", "--format=%an <%ae>|%(trailers:key=Reaction-To,valueonly)").strip() == (
            f"Ann Lee <{ANN}>|{REPLY}"
        )
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 1
        gw.send(like, TO, sender=ANN)  # delivered again: nothing more
        assert gw.wait(like["Message-ID"], count=2)[1]["changed"] is False
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 1
        gw.send(love, TO, sender=BO)
        assert gw.wait(love["Message-ID"])[0]["reason"] == "love"
        gw.send(stranger, TO, sender="eve@elsewhere.example")  # not someone of people/: as any of their mail
        assert gw.wait(stranger["Message-ID"])[0]["outcome"] == "held"
        gw.send(words, TO, sender=ANN)
        assert gw.wait(words["Message-ID"])[0]["outcome"] == "published"
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
    about = {str(m["In-Reply-To"]) for m in sent if m["In-Reply-To"]} | {str(m["Subject"]) for m in sent}
    mailed = [m for m in sent if str(m["Delivered-To"]) == "cy.diaz@example.org"]
    assert len(mailed) == 1 and "we do the same" in mailed[0].get_body(("plain",)).get_content()
    assert like["Message-ID"] not in about and love["Message-ID"] not in about
    topic_file = root / post_relpath("handover", TOPIC)
    assert read_post(root, "handover", topic_file)[0].reactions == (("bo.chen", "love"),)  # type: ignore[union-attr]
    build_site(root)
    page = (root / "site/staff/c/handover/t").glob("*/index.html")
    html = "".join(p.read_text() for p in page)
    assert "Like 1: Ann Lee</li>" in html and "Love 1: Bo Chen</li>" in html


def test_a_reaction_and_a_rename_of_who_reacted_are_updated_as_a_full_build_shows_them(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    builder = Builder(root)
    try:
        builder.build()
        path = root / post_relpath("handover", REPLY)
        path.write_text(with_reaction(path.read_text(), "ann.lee", "thanks"))
        assert builder.update([str(path.relative_to(root))]) == "updated"
        people = root / "people/ann.lee.yml"
        people.write_text(people.read_text().replace("name: Ann Lee", "name: Ann Lee-Hart"))
        assert builder.update(["people/ann.lee.yml"]) == "updated"
        assert "Thanks 1: Ann Lee-Hart</li>" in "".join(
            p.read_text() for p in (root / "site/staff/c/handover/t").glob("*/index.html")
        )
        assert_same_as_full_build(root, tmp_path)
        path.write_text(with_reaction(path.read_text(), "ann.lee", None))
        assert builder.update([str(path.relative_to(root))]) == "updated"
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


def test_reactions_made_at_two_gateways_or_beside_an_editors_fix_are_all_kept_when_replayed() -> None:
    path = "communities/handover/posts/aa/bb.md"
    base = "---\nmessage_id: <a@b>\ntopic: <a@b>\nauthor: ann.lee\ndate: '2026-11-03T09:14:22+00:00'\n---\nBody\n"
    ours = with_reaction(base, "ann.lee", "like")
    theirs = with_reaction(base, "bo.chen", "love")  # the other gateway's reaction got there first
    merged = merge_file(path, base.encode(), ours.encode(), theirs.encode())
    assert merged.note == "" and merged.data is not None
    post, _ = parse_post("handover", path, merged.data.decode(), lambda _: None)
    assert post is not None and post.reactions == (("ann.lee", "like"), ("bo.chen", "love"))
    fixed = base.replace("Body", "Body, corrected by an editor")
    merged = merge_file(path, base.encode(), ours.encode(), fixed.encode())
    assert merged.data == with_reaction(fixed, "ann.lee", "like").encode()
    taken_back = merge_file(path, ours.encode(), base.encode(), with_reaction(ours, "bo.chen", "love").encode())
    assert taken_back.data == with_reaction(base, "bo.chen", "love").encode()
    edited = base.replace("Body", "Our other text")  # not only reactions: the remote's version, as before
    assert merge_file(path, base.encode(), edited.encode(), theirs.encode()).data == theirs.encode()


def test_a_closed_topic_shows_closed_and_no_reply_button(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    topic = root / post_relpath("handover", TOPIC)
    topic.write_text(
        topic.read_text().replace("subject: Night shift handover\n", "subject: Night shift handover\nclosed: true\n")
    )
    build_site(root)
    [page] = [p for p in (root / "site/staff/c/handover/t").glob("*/index.html") if "Night shift" in p.read_text()]
    html = page.read_text()
    assert "This topic takes no more replies" in html and "Reply by email" not in html


@pytest.mark.parametrize(
    "signature",
    [
        '<div class="gmail_signature" data-smartmail="gmail_signature">Ann Lee<br>Ward 7</div>',
        '<div id="Signature"><p>Ann Lee</p><p>Ward 7</p></div>',  # Outlook
        '<div class="moz-signature">-- <br>Ann Lee<br>Ward 7</div>',  # Thunderbird
    ],
)
def test_a_signature_a_mail_client_marks_in_html_is_set_aside(signature: str) -> None:
    message = mail(subject="Re: Night shift handover", body="", sender=ANN, in_reply_to=REPLY)
    message.set_content(f"<div><p>We use cards.</p>{signature}</div>", subtype="html")
    parsed = parse_message(message.as_bytes(), dt.datetime.now(dt.UTC))
    assert parsed.body == "We use cards." and "Ward 7" in parsed.signature and "Ward 7" not in parsed.body
    alone = mail(subject="Re: Night shift handover", body="", sender=ANN, in_reply_to=REPLY)
    alone.set_content(signature, subtype="html")  # nothing else: kept as the text
    assert "Ward 7" in parse_message(alone.as_bytes(), dt.datetime.now(dt.UTC)).body
