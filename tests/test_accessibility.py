"""Every kind of page for every reader (issue #18, in part): axe-core finds no WCAG 2.2 AA violation in
light and dark mode, and nothing scrolls sideways on a 390 px phone. Debian's Chromium, pages on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import add_post, type_query, write_config

from generator.builder import build_site
from intranet.format import path_key, post_relpath, with_entries, with_vote

pytestmark = pytest.mark.browser

WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
POLL = "<poll@example.org>"
PHONE, DESK = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


def page_kinds(tree: Path) -> dict[str, str]:
    """A page of each kind in ``tree`` (the demo's staff tree): name -> path. The topic is one with a folded part."""
    topics = sorted(tree.glob("c/*/t/*/index.html"))
    folded = next(p for p in topics if "<details" in p.read_text())
    guide = next(iter(sorted(tree.glob("c/*/pages/*/index.html"))))
    tag = next(p for p in sorted(tree.glob("tags/*/index.html")))

    def path(file: Path) -> str:
        return file.parent.relative_to(tree).as_posix() + "/"

    return {
        "home": "",
        "communities": "c/",
        "community": path(topics[0].parents[2] / "index.html"),
        "community health": path(topics[0].parents[2] / "health" / "index.html"),
        "health of every community": "health/",
        "topic": path(folded),
        "guide": path(guide),
        "people": "people/",
        "profile": "people/amira.haddad/",
        "tags": "tags/",
        "tag": path(tag),
        "not found": "no/such/page/",
    }


def violations(page) -> list[str]:
    """What axe-core (the copy axe-playwright-python ships) finds wrong with ``page`` as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]}  # (passes: not listed)
    found = Axe().run(page, options=options).response["violations"]
    return [f"{v['id']} ({v['impact']}): {n['target']} {n['failureSummary'][:160]}" for v in found for n in v["nodes"]]


def sideways(page) -> list[str]:
    """What scrolls sideways: the page itself, or a box in the article."""
    return page.evaluate(
        """() => {
          const found = [];
          if (document.documentElement.scrollWidth > window.innerWidth) found.push('the page');
          for (const e of document.querySelectorAll('article *')) {
            if (e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
              found.push(e.tagName.toLowerCase() + '.' + e.className);
          }
          return found;
        }"""
    )


@pytest.fixture(scope="module")
def archive_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small intranet at one topic a page: archive pages."""
    from helpers import small_intranet

    root = small_intranet(tmp_path_factory.mktemp("archive"))
    write_config(root, topics_per_page=1)
    add_post(root, "handover", POLL, subject="Which day for the training?", body="The trainer can come once.")
    poll = root / post_relpath("handover", POLL)  # a poll with votes, one option without (issue #19)
    text = poll.read_text().replace("source: smtp\n", "source: smtp\npoll:\n  options: [Tuesday, Wednesday, Friday]\n")
    poll.write_text(with_entries(with_vote(with_vote(text, "ann.lee", 1), "bo.chen", 2), closed=True))
    build_site(root)
    return root / "site" / "staff"


@pytest.mark.parametrize(("scheme", "viewport"), [("light", DESK), ("dark", PHONE)])
def test_every_kind_of_page_has_no_wcag_violation_and_no_sideways_scrolling(
    browser, demo_site: Path, archive_site: Path, serve, scheme: str, viewport: dict[str, int]
) -> None:
    base, archive = serve(demo_site), serve(archive_site)
    pages = {name: base + path for name, path in page_kinds(demo_site).items()}
    pages["archive page"] = archive + "c/handover/page-1/"
    pages["poll topic"] = archive + f"c/handover/t/{path_key(post_relpath('handover', POLL))[:12]}/"
    poll_page = archive_site / pages["poll topic"].removeprefix(archive) / "index.html"
    assert poll_page.read_text().count('<svg class="intranet-poll__bar"') == 3  # (the page is the poll's)
    found: dict[str, list[str]] = {}
    context = browser.new_context(color_scheme=scheme, viewport=viewport)
    try:
        page = context.new_page()
        for name, url in pages.items():
            page.goto(url, wait_until="load")
            assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == (
                "slate" if scheme == "dark" else "default"
            )
            found[name] = violations(page) + [f"scrolls sideways: {s}" for s in sideways(page)]
            if name in ("topic", "community health"):  # with its folded parts open
                for summary in page.locator("article details summary").all():
                    summary.click()
                found[f"{name}, folded parts open"] = violations(page) + [
                    f"scrolls sideways: {s}" for s in sideways(page)
                ]
        page.goto(base, wait_until="load")  # the search box, open with results
        if viewport is PHONE:
            page.locator("label.md-header__button[for='__search']").click()
        type_query(page, "handover")
        found["search results"] = violations(page)
    finally:
        context.close()
    problems = [f"{name}: {problem}" for name, listed in found.items() for problem in listed]
    assert not problems, "\n".join(problems)
    assert len(found) == 17


def test_a_keyboard_reaches_the_content_first_and_opens_folded_parts(browser, demo_site: Path, serve) -> None:
    base = serve(demo_site)
    page = browser.new_page()
    try:
        page.goto(base + page_kinds(demo_site)["topic"], wait_until="load")
        page.keyboard.press("Tab")  # the first stop is Material's "Skip to content"
        assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
        page.keyboard.press("Enter")
        page.wait_for_url("**#intranet-main", timeout=15_000)
        summary = page.locator("article details summary").first
        summary.focus()
        page.keyboard.press("Enter")  # a folded quote opens from the keyboard
        assert page.locator("article details").first.get_attribute("open") is not None
        threaded = next(p for p in sorted(demo_site.glob("c/*/t/*/index.html")) if "intranet-inreply" in p.read_text())
        page.goto(base + threaded.parent.relative_to(demo_site).as_posix() + "/", wait_until="load")
        reply_to = page.locator(".intranet-inreply a").first  # "in reply to" leads to the post answered
        target = reply_to.get_attribute("href")
        reply_to.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"**{target}", timeout=15_000)
        assert page.locator(f"article{target}").count() == 1
        page.set_default_timeout(15_000)
        page.goto(base, wait_until="load")  # search from the keyboard: "/" focuses the box, the arrows the results
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.classList.contains('md-search__input')")
        type_query(page, "handover")
        page.keyboard.press("ArrowDown")
        link = page.evaluate("document.activeElement.closest('.md-search-result__item') !== null")
        assert link, "the arrow keys reach the results"
        page.keyboard.press("Enter")
        page.wait_for_url("**/t/**", timeout=15_000)  # a topic the search found
    finally:
        page.close()
