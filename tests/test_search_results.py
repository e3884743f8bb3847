"""How many documents a search matches, and paging on through them (search-worker.js, search-results.js).

The theme counts the results the worker sends it, and the worker sends one
page: the worker also reports the true count and pages on through a port,
and the page script shows both. Tested on the worker alone, then in a real
MkDocs build read in headless Chromium.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import add_community, add_person, add_post, type_query, write_config
from test_search import SITE_DOCS, chromium, serve_tree, write_tree  # noqa: F401 - chromium is a fixture

import generator.search_format as search
from generator.builder import build_site
from generator.search_index import SearchDoc, SearchIndex
from generator.search_text import tokenize
from generator.search_worker import RESULTS_SCRIPT, results_script, worker_relpath

pytestmark = pytest.mark.browser

# Every query, and every further page the port gives until the last.
PAGES = """async (queries) => {
  const index = await (await fetch("search/search_index.json")).json()
  const worker = new Worker(WORKER)
  const next = () => new Promise((ok, fail) => {
    worker.onmessage = ev => ok(ev.data)
    worker.onerror = ev => fail(ev.message)
  })
  worker.postMessage({type: 0, data: {config: index.config, docs: index.docs, options: {}}})
  await next()
  const answers = []
  for (const query of queries) {
    worker.postMessage({type: 2, data: query})
    const { data } = await next()
    const { more, ...first } = data
    const answer = { ...first, more: more instanceof MessagePort, pages: [] }
    while (more && answer.pages.length < 10) {
      const page = await new Promise(ok => { more.onmessage = ev => ok(ev.data); more.postMessage("more") })
      answer.pages.push(page)
      if (page.shown >= page.total)
        break
    }
    answers.push(answer)
  }
  return answers
}"""


def ask_pages(browser, base: str, *queries: str) -> list[dict]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base)
    answers = page.evaluate(PAGES.replace("WORKER", json.dumps(worker_relpath())), list(queries))
    page.close()
    assert problems == []
    return answers


def locations(items: list[list[dict]]) -> list[str]:
    return [item["location"] for group in items for item in group]


@contextmanager
def shapes(**values: int) -> Iterator[None]:
    saved = {name: getattr(search, name) for name in values}
    for name, value in values.items():
        setattr(search, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(search, name, value)


# Rota words, each in its own third of 18 documents (lists in shards), beside the roster's "rota swap".
ROTA_WORDS = ("rota", "rotas", "rotation")
ROTA_DOCS = SITE_DOCS + [
    SearchDoc(f"c/q/t/{n}/", f"Question {n}", f"Is the {ROTA_WORDS[n % 3]} out?", "Rostering", f"2025-02-{n + 1:02d}")
    for n in range(18)
]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same documents indexed twice: with the worker's default limits, and letting a prefix fetch one list."""
    served = []
    for name, limits in (("defaults", {}), ("one-list", {"EXPAND": 1})):
        tree = tmp_path_factory.mktemp(f"search-{name}")
        with shapes(**limits):
            write_tree(tree, SearchIndex(ROTA_DOCS))
        (tree / "index.html").write_text('<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">')
        served.append(serve_tree(tree))
    yield tuple(next(s) for s in served)
    for s in served:
        next(s, None)


def having(*prefixes: str) -> set[str]:
    """The locations whose words start with every one of ``prefixes``."""
    return {
        d.location
        for d in ROTA_DOCS
        if all(any(w.startswith(p) for w in tokenize(f"{d.title} {d.text}")) for p in prefixes)
    }


def test_the_worker_counts_every_match_and_pages_through_them(chromium, sites) -> None:  # noqa: F811
    defaults, _ = sites
    queries = ("hando", "rot", "rota handover", "sepsis rotation", "ro", "zzzq")
    hando, rota, both, either, short, none = ask_pages(chromium, defaults, *queries)

    assert hando["total"] == len(having("hando")) == 27 and hando["exact"] and hando["shown"] == 20
    assert hando["more"] and len(locations(hando["items"])) == 20
    (page,) = hando["pages"]
    assert page["shown"] == page["total"] == 27 and page["exact"]
    seen = locations(hando["items"]) + locations(page["items"])
    assert len(seen) == len(set(seen)) == 27 and set(seen) == having("hando")
    assert seen[0] == "c/h/t/1/"  # the title match first, on the first page
    scores = [g[0]["score"] for g in hando["items"] + page["items"]]
    assert scores == sorted(scores, reverse=True)

    # A prefix stands for every word it starts when their lists fit the limits: exact.
    assert rota["total"] == len(having("rot")) == 25 + 18 and rota["exact"]
    assert len(locations(rota["items"]) + [loc for p in rota["pages"] for loc in locations(p["items"])]) == 43
    assert both["total"] == len(having("rota", "handover")) == 25 and both["exact"]
    # No page has both words: those with one of them, as many as there are.
    assert either["total"] == len(having("sepsis") | having("rotation")) == 7 and either["exact"]
    # One or two characters look at titles only: a lower bound.
    assert short["exact"] is False and short["total"] >= 25
    assert none == {"items": [], "total": 0, "shown": 0, "exact": True, "more": False, "pages": []}


def test_a_prefix_standing_for_more_lists_than_a_query_fetches_is_a_lower_bound(chromium, sites) -> None:  # noqa: F811
    _, one_list = sites
    prefix, whole, typed = ask_pages(chromium, one_list, "rot", "rotas ", "rota")
    assert prefix["exact"] is False  # rota, rotas, rotation: one list fetched, the most frequent word's
    assert prefix["total"] == len({d.location for d in ROTA_DOCS if "rota" in tokenize(d.text)}) == 25 + 6
    assert whole["exact"] and whole["total"] == 6  # a whole word: its lists, all of them
    assert typed["exact"] is False and typed["total"] == 31  # still being typed: it starts rotas and rotation too


# -- in a real build ------------------------------------------------------------------


DAY = dt.timedelta(days=1)


def _rostering_intranet(root: Path) -> Path:
    """One community of 45 topics that all mention rostering; staff only."""
    root.mkdir(parents=True)
    write_config(root)
    add_person(root, "ann.lee", name="Ann Lee")
    add_community(root, "rota", name="Rota Office")
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    for n in range(45):
        body = f"Who can cover the rostering gap on ward {n}?"
        add_post(root, "rota", f"<swap{n}@example.org>", subject=f"Shift swap {n}", body=body, date=start + n * DAY)
    return root


@pytest.fixture(scope="module")
def rostering_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _rostering_intranet(tmp_path_factory.mktemp("rostering") / "intranet")
    build_site(root)
    return root / "site" / "staff"


def arrow_to_more(page) -> None:
    """The theme's arrow keys, down until the control has the focus (it renders its results as they scroll in)."""
    for _ in range(200):  # past the last rendered result, the theme's arrows go back to the box: round again
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(25)
        if page.evaluate("document.activeElement.classList.contains('intranet-search-more__control')"):
            return
    raise AssertionError("the arrow keys never reached the control")


def test_the_reader_sees_the_true_count_and_pages_on(chromium, rostering_site: Path) -> None:  # noqa: F811
    assert (rostering_site / RESULTS_SCRIPT).read_bytes() == results_script()
    home = (rostering_site / "index.html").read_text()
    assert re.search(r'<script src="(\./)?assets/javascripts/intranet-search\.js"', home)
    topics = {f"c/rota/t/{p.name}/" for p in (rostering_site / "c" / "rota" / "t").iterdir()}
    assert len(topics) == 45
    problems: list[str] = []
    for base in serve_tree(rostering_site):
        page = chromium.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(base)
        type_query(page, "rostering")
        meta = page.locator(".md-search-result__meta")
        control = page.locator(".intranet-search-more__control")
        status = page.locator(".intranet-search-more__status")
        page.wait_for_function("document.querySelector('.md-search-result__meta').textContent.startsWith('45 ')")
        assert meta.inner_text() == "45 matching documents"  # the theme alone would say 20

        arrow_to_more(page)  # the keyboard: arrows to the control, Enter pages on
        assert status.inner_text() == "Showing 20 of 45" and control.get_attribute("role") == "button"
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('.md-search-result__item').length === 40")
        assert status.inner_text() == "Showing 40 of 45"
        focused = page.evaluate("document.activeElement.closest('.intranet-search-more__list') !== null")
        assert focused  # on to the first of the new results
        control.click()  # and the mouse
        page.wait_for_function("document.querySelectorAll('.md-search-result__item').length === 45")
        assert status.inner_text() == "Showing 45 of 45" and not control.is_visible()
        assert meta.inner_text() == "45 matching documents" and page.locator("input.md-search__input").is_visible()
        hrefs = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
        assert sorted(h[len(base) :].split("?")[0] for h in hrefs) == sorted(topics)
        assert all(h.endswith("?h=rostering") for h in hrefs)
        assert page.locator(".intranet-search-more__list mark").first.inner_text() == "rostering"

        type_query(page, "sh")  # two characters: title words only, a lower bound
        page.wait_for_function(
            "/^\\d+\\+ matching documents$/.test(document.querySelector('.md-search-result__meta').textContent)"
        )
        assert page.locator(".intranet-search-more__list > *").count() == 0  # a new query starts afresh
        page.locator(".md-search-result__item a").nth(0).click()
        page.wait_for_url(re.compile(r"/c/rota/t/"))
        assert problems == []
        page.close()
