"""What a reader sees, in headless Chromium (Debian's), against pages served on loopback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import type_query
from test_security import hostile_site_fixture  # noqa: F401 - the fixture hostile_site

from generator.builder import build_site
from intranet.format import path_key, post_relpath

pytestmark = pytest.mark.browser


class Reader:
    """One page load, with everything the console and network said."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page()
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        self.page.wait_for_timeout(150)

    def text(self) -> str:
        return self.page.inner_text("article.md-content__inner")


def first_link(page, selector: str) -> str:
    return page.locator(selector).first.get_attribute("href")


def test_reader_walks_home_community_topic_and_profile(browser, demo_site: Path, serve) -> None:
    base = serve(demo_site)
    home = Reader(browser, base)
    assert home.page.title().startswith("Home - ")
    assert "What is new" in home.text() and "Take part by email" in home.text()
    assert home.page.locator(".grid.cards li").count() >= 4
    assert home.problems == []

    community_href = first_link(home.page, ".grid.cards li a")
    community = Reader(browser, base + community_href)
    name = community.page.locator("article h1").inner_text()
    assert community.page.title().startswith(name)
    mailto = first_link(community.page, "a.md-button--primary")
    assert re.fullmatch(r"mailto:[a-z0-9.-]+@intranet\.localhost", mailto)
    assert community.page.locator(".intranet-topics table tbody tr").count() >= 1
    assert community.problems == []

    topic_link = community.page.locator(".intranet-topics table tbody tr td a").first
    title = topic_link.inner_text()
    topic_href = topic_link.get_attribute("href")
    topic = Reader(browser, community.page.url + topic_href)
    assert topic.page.locator("article h1").inner_text() == title
    assert topic.page.locator("article.intranet-post").count() >= 1
    assert topic.page.locator(".intranet-post__body").first.inner_text().strip()
    reply = first_link(topic.page, "a.intranet-reply")
    assert re.fullmatch(
        re.escape(mailto.split("@")[0]) + r"\+t[0-9a-z]{15}@intranet\.localhost\?subject=Re%3A%20.+", reply
    )
    assert topic.problems == []

    author = topic.page.locator("a.intranet-author").first
    person = author.inner_text()
    profile = Reader(browser, topic.page.url + author.get_attribute("href"))
    assert profile.page.locator("article h1").inner_text() == person
    assert "Recent topics" in profile.text()
    assert profile.problems == []


def test_folded_quotes_open_on_click(browser, small_site: Path, serve) -> None:
    base = serve(small_site / "site" / "staff")
    key = path_key(post_relpath("handover", "<t1@example.org>"))[:12]
    reader = Reader(browser, f"{base}c/handover/t/{key}/")
    quoted = reader.page.locator("details.intranet-quoted")
    assert not quoted.locator("blockquote").is_visible()
    quoted.locator("summary").click()
    assert quoted.locator("blockquote").is_visible()
    assert reader.problems == []


def test_search_finds_a_post(browser, small_site: Path, serve) -> None:
    reader = Reader(browser, serve(small_site / "site" / "staff"))
    type_query(reader.page, "ISBAR")
    assert "Night shift handover" in reader.page.inner_text(".md-search-result")


def test_no_script_from_content_runs(browser, hostile_site: Path, serve) -> None:
    base = serve(hostile_site)
    key = path_key(post_relpath("open", "<evil-topic@x>"))[:12]
    for url in (base, f"{base}c/open/", f"{base}c/open/t/{key}/"):
        reader = Reader(browser, url)
        for details in reader.page.locator("details summary").all():
            details.click()
        for link in reader.page.locator("article a").all():
            link.hover()
        assert reader.page.evaluate("window.__xss") is None, url
        assert not [p for p in reader.problems if "dialog" in p or "page error" in p], reader.problems
    topic = Reader(browser, f"{base}c/open/t/{key}/")
    assert "<script>window.__xss='subject'</script>" in topic.page.locator("article h1").inner_text()
    assert "Mallory" in topic.text()


def test_hostile_mail_through_the_gateway_runs_no_script(browser, tmp_path: Path, serve) -> None:
    from mailtest import DOMAIN, Harness, git_root, mail
    from test_security import PAYLOADS

    root = git_root(tmp_path / "intranet")
    evil = "<img src=x onerror=\"window.__xss='mail'\">"
    with Harness(root) as gw:
        plain = mail(
            subject=f"<script>window.__xss='subject'</script> {evil}",
            body="\n\n".join(PAYLOADS.values()),
            sender=f'"{evil} Mallory" <ann.lee@example.org>',
        )
        gw.send(plain, f"handover@{DOMAIN}")
        html = mail(subject="HTML payloads", body="see the HTML part")
        html.add_alternative(
            "<p>Hi <script>window.__xss='html'</script><img src=x onerror=\"window.__xss='html-img'\">"
            "<a href=\"javascript:window.__xss='html-link'\">link</a><svg onload=\"window.__xss='svg'\"></svg>"
            "<table><tr><td onmouseover=\"window.__xss='td'\">cell</td></tr></table>"
            "<iframe src=\"data:text/html,<script>parent.__xss='frame'</script>\"></iframe></p>",
            subtype="html",
        )
        gw.send(html, f"handover@{DOMAIN}")
        for message in (plain, html):
            assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
        topics = [p for p in gw.posts("handover") if p.message_id in (plain["Message-ID"], html["Message-ID"])]
    build_site(root)
    base = serve(root / "site" / "staff")
    for post in topics:
        key = path_key(post.relpath)[:12]
        reader = Reader(browser, f"{base}c/handover/t/{key}/")
        for details in reader.page.locator("details summary").all():
            details.click()
        for element in reader.page.locator("article a, article td").all():
            element.hover()
        assert reader.page.evaluate("window.__xss") is None
        assert not [p for p in reader.problems if "dialog" in p or "page error" in p], reader.problems
    home = Reader(browser, base)
    assert home.page.evaluate("window.__xss") is None
    assert "<script>window.__xss='subject'</script>" in home.text()


def test_a_reader_sees_reactions_a_solved_topic_an_edit_a_taken_back_post_and_a_closed_topic(
    browser, small_root: Path, serve
) -> None:
    """What mail changes in posts (issue #17), as Chromium shows it: written as the gateway writes it."""
    from helpers import add_post

    from intranet.format import with_entries, with_mark

    def change(message_id: str, text: Callable[[str], str]) -> None:
        path = small_root / post_relpath("handover", message_id)
        path.write_text(text(path.read_text()))

    change(
        "<r1@example.org>",
        lambda t: with_mark(with_mark(t, "reactions", "ann.lee", "like"), "reactions", "bo.chen", "thanks"),
    )
    change(
        "<r1@example.org>",
        lambda t: with_entries(t, body="We use ISBAR cards, laminated.", edited="2026-11-02T09:00:00+00:00"),
    )
    change("<t1@example.org>", lambda t: with_entries(t, accepted="<r1@example.org>", closed=True))
    add_post(
        small_root,
        "handover",
        "<r2@example.org>",
        "Re: Night shift handover",
        "Me too.",
        in_reply_to="<t1@example.org>",
    )
    change("<r2@example.org>", lambda t: with_entries(t, body="", drop_files=True, deleted=True))
    build_site(small_root)
    base = serve(small_root / "site" / "staff")
    key = path_key(post_relpath("handover", "<t1@example.org>"))[:12]
    topic = Reader(browser, f"{base}c/handover/t/{key}/")
    meta = topic.page.inner_text(".intranet-meta")
    assert "✓ Solved" in meta
    accepted = topic.page.locator("article.intranet-post--accepted")
    assert accepted.count() == 1 and "✓ Accepted answer" in accepted.inner_text()
    assert "laminated" in accepted.inner_text() and "edited" in accepted.locator("header").inner_text()
    reactions = accepted.locator(".intranet-reactions li").all_inner_texts()
    assert reactions == ["👍 Like 1: Ann Lee", "🙏 Thanks 1: Bo Chen"]
    topic.page.locator("a", has_text="accepted answer").first.click()
    assert topic.page.url.endswith("#" + accepted.get_attribute("id"))
    assert "taken back by its author" in topic.text() and "Me too" not in topic.text()
    assert topic.page.locator("a.intranet-reply").count() == 0 and "Closed." in topic.text()
    assert topic.problems == []
    community = Reader(browser, f"{base}c/handover/")
    row = community.page.locator(".intranet-topics tbody tr", has_text="Night shift handover")
    assert "✓ Solved" in row.inner_text()
    assert community.problems == []
