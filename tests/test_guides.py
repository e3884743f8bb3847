"""From discussion to documented practice (issue #19): a moderator's ``#guide`` makes a community page.

The page holds the question, the accepted answer or the moderator's summary, who took part and a
link to the discussion, in a commit authored by the moderator; the topic's page links to it. Pages
are trusted Markdown and this one is made from mail, so what mail says must stay inert text.
Real gateway on loopback, real Git, real MkDocs builds.
"""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailtest import DOMAIN, Harness, git, git_root, mail

from generator.builder import build_site
from intranet.format import read_intranet
from mailgateway.guides import inert, page_name

TO = f"handover@{DOMAIN}"
ANN, BO = "ann.lee@example.org", "bo.chen@example.org"  # Ann moderates handover; Bo answered
TOPIC, REPLY = "<t1@example.org>", "<r1@example.org>"
EXTENSIONS = ["admonition", "tables", "toc", "pymdownx.details", "pymdownx.superfences"]  # as mkdocs.yml
HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "![x](https://evil.example/x.png)",
    "<https://evil.example>",
    "*bold* and _under_ and `code`",
    "# Not a heading",
    '!!! danger "Not an admonition"',
    '??? note "Not a fold"',
    "```",
    "~~~",
    "a | b\n--- | ---\nc | d",
    "Title\n=====",
    "&copy; &lt;b&gt;",
    "{: onclick=alert(1) }",
    "    four spaces in",
]


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "guides-test-secret-0123456789abcdef")


def _render(text: str) -> str:
    return markdown.markdown(text, extensions=EXTENSIONS)


def _visible(html: str) -> str:
    return re.sub(
        r"\s+", "", nh3.clean(html, tags=set()).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_mails_text_shows_as_typed_and_makes_no_markup(text: str) -> None:
    html = _render(inert(text))
    assert set(re.findall(r"<(\w+)", html)) <= {"p"}, html
    assert _visible(html) == re.sub(r"\s+", "", text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <>&[]()!#*_`~|?=-:.\\{}\"'/\n")), max_size=80))
def test_no_text_makes_markup_but_paragraphs_and_lists(text: str) -> None:
    html = _render(inert(text))
    assert set(re.findall(r"<(\w+)", html)) <= {"p", "ul", "ol", "li", "code", "pre", "a"}, html
    assert not re.search(r"<a (?!href=\"https?://)", html), html  # links only as the readable text lists them


def test_a_page_name_from_the_title() -> None:
    assert page_name("Re: ISBAR at night: what goes on the card?", set()) == "isbar-at-night-what-goes-on-the-card"
    assert page_name("Übergabe – Nachtdienst", {"ubergabe-nachtdienst"}) == "ubergabe-nachtdienst-2"
    assert page_name("???", set()) == "guide"
    long = "Discharge summaries reaching community nurses after the first visit"
    assert page_name(long, set()) == "discharge-summaries-reaching-community-nurses-after-the"  # (whole words)
    assert page_name("x", {"x"} | {f"x-{n}" for n in range(2, 51)}) is None


def _reply(body: str, sender: str, to: str = REPLY):
    return mail(subject="Re: Night shift handover", body=body, sender=sender, in_reply_to=to)


def test_guide_by_mail_makes_a_page_once_and_links_both_ways(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    not_a_moderator = _reply("#guide\n\nMy summary.", BO, TOPIC)
    nothing_to_say = _reply("#guide", ANN, TOPIC)  # no accepted answer yet, no summary
    accept = _reply("#accept", ANN)
    guide = _reply("#guide\n\nUse the ISBAR card <script>alert(1)</script> [x](javascript:alert(1))", ANN, TOPIC)
    with Harness(root) as gw:
        gw.send(not_a_moderator, TO, sender=BO)
        assert gw.wait(not_a_moderator["Message-ID"])[0]["refused"] == {
            "guide": "only a moderator of the community may make a guide of a topic"
        }
        gw.send(nothing_to_say, TO, sender=ANN)
        assert "write a summary" in gw.wait(nothing_to_say["Message-ID"])[0]["refused"]["guide"]
        gw.send(accept, TO, sender=ANN)
        gw.wait(accept["Message-ID"])
        commits = int(git(root, "rev-list", "--count", "HEAD"))
        gw.send(guide, TO, sender=ANN)
        [done] = gw.wait(guide["Message-ID"])
        assert (done["outcome"], done["commands"]) == ("acted", ["guide"])  # the summary is not a reply
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 1
        assert git(root, "log", "-1", "--format=%an|%(trailers:key=Command,valueonly)").strip() == "Ann Lee|#guide"
        gw.send(guide, TO, sender=ANN)  # again: nothing changes, no second receipt
        gw.wait(guide["Message-ID"], count=2)
        again = _reply("#guide\n\nAnother summary.", ANN, TOPIC)
        gw.send(again, TO, sender=ANN)  # a second guide of the topic: the first is the editors' now
        gw.wait(again["Message-ID"])
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 1
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
    receipts = [
        m.get_body(("plain",)).get_content()
        for m in sent
        if str(m["Delivered-To"]) == ANN and "commands" in str(m["Subject"])
    ]
    assert sum("#guide: done, made a page of the community" in r for r in receipts) == 1
    assert sum("#guide: it was so already" in r for r in receipts) == 0  # (nothing changed: no receipt)
    [page] = [p for p in read_intranet(root).communities["handover"].pages if p.topic == TOPIC]
    assert page.name == "night-shift-handover" and page.title == "Night shift handover"
    assert "How do you run it" in page.text and "ISBAR" in page.text and "Ann Lee, Bo Chen." in page.text
    assert "](../../t/" in page.text and "<script" not in page.text
    build_site(root)
    guide_html = (root / "site/staff/c/handover/pages/night-shift-handover/index.html").read_text()
    assert "<script>alert" not in guide_html and "javascript:" not in guide_html.replace("javascript:alert(1)", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in guide_html
    link = re.search(r'<a href="([^"]+)">The whole discussion</a>', guide_html)
    assert link is not None
    topic_page = (root / "site/staff/c/handover/pages/night-shift-handover" / link.group(1) / "index.html").resolve()
    assert "A guide was made from this discussion" in topic_page.read_text()
    assert "night-shift-handover/" in topic_page.read_text()
