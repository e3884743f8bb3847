"""The sharded search index (generator/search_*.py) and its worker, in headless Chromium.

The index must come out byte for byte the same however a set of documents was
reached, report exactly the files an update changed, and answer Material's
search box through a worker that fetches only what a query needs.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import pytest
from helpers import type_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import generator.search_format as search
from generator.search_format import INDEX_FILE, decode_ids, encode_ids, pages_with
from generator.search_index import SearchDoc, SearchIndex, prepare
from generator.search_text import fold, tokenize
from generator.search_worker import worker_relpath, worker_script
from generator.serve import make_server

# -- words ---------------------------------------------------------------------------


def test_words_are_folded_split_and_stopped() -> None:
    assert tokenize("The Café serves CRÈME brûlée; naïve coöperation!") == [
        "cafe",
        "serves",
        "creme",
        "brulee",
        "naive",
        "cooperation",
    ]
    assert tokenize("ﬁle_name 2024-03-07 ISBAR/SBAR x") == ["file", "name", "2024", "03", "07", "isbar", "sbar", "x"]
    assert tokenize("it is not in the of and") == []
    assert tokenize("a" * 33 + " " + "b" * 32) == ["b" * 32]
    assert fold("İSTANBUL Ærø Σίσυφος") == "istanbul ærø σισυφος"


def test_id_lists_round_trip() -> None:
    from array import array

    for ids in ([], [0], [5, 70000, 16_000_000], list(range(0, 16_000_000, 9001)), list(range(3000, 4000))):
        data = encode_ids(array("I", ids))
        assert decode_ids(data + b"tail") == (ids, len(data))


# -- determinism ---------------------------------------------------------------------

WORDS = ["ab", "abc", "abcd", "abd", "abx", "b", "ba", "bab", "café", "cafe", "cz", "éa", "x", "xy", "xyz", "z"]


@contextmanager
def tiny_shapes() -> Iterator[None]:
    """Shrink every threshold so a handful of documents crosses each one: id collisions, inline,
    shard and own lists, both list formats, split prefixes, summaries."""
    saved = {name: getattr(search, name) for name in ("ID_SPACE", "INLINE", "OWN_MIN", "SHARDS", "SPLIT", "SUMMARY")}
    saved["BLOCKS_MIN"] = search.BLOCKS_MIN
    search.ID_SPACE, search.INLINE, search.OWN_MIN, search.SHARDS = 40, 1, 12, 3
    search.SPLIT, search.SUMMARY, search.BLOCKS_MIN = 3, 2, 4
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(search, name, value)


docs_st = st.builds(
    lambda n, title, text, day: SearchDoc(
        f"c/x/t/{n:02d}/" if n % 5 else f"c/x/pages/p/#s{n}",
        " ".join(title),
        " ".join(text),
        f"Community {n % 3}",
        f"2024-01-{day:02d}" if day else "",
    ),
    st.integers(0, 39),
    st.lists(st.sampled_from(WORDS), max_size=3),
    st.lists(st.sampled_from(WORDS), max_size=12),
    st.integers(0, 28),
)
steps_st = st.lists(
    st.tuples(st.lists(docs_st, max_size=4), st.lists(st.integers(0, 39), max_size=3)), min_size=1, max_size=12
)


def changed_files(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.lists(docs_st, max_size=20), steps=steps_st)
def test_updates_reach_the_same_bytes_as_a_fresh_build(start: list[SearchDoc], steps: list) -> None:
    with tiny_shapes():
        index = SearchIndex(start)
        docs = {d.location: d for d in start}
        for changed, removed_numbers in steps:
            removed = [f"c/x/t/{n:02d}/" if n % 5 else f"c/x/pages/p/#s{n}" for n in removed_numbers]
            before = index.files()
            reported = index.update(changed, removed)
            for loc in removed:
                docs.pop(loc, None)
            docs.update((d.location, d) for d in changed)
            after = index.files()
            assert reported == changed_files(before, after)
            assert after == SearchIndex(docs.values()).files()
        assert after == SearchIndex(reversed(list(docs.values()))).files()
        assert after == SearchIndex([prepare(d) for d in docs.values()]).files()  # as a build's shares send them
        for word in {fold(w) for w in WORDS}:  # and the files say what the documents say
            assert pages_with(after, word) == {
                d.location for d in docs.values() if word in tokenize(d.title + " " + d.text)
            }


def test_a_hundred_changes_match_a_fresh_build_at_real_thresholds() -> None:
    import random

    rng = random.Random(6)
    vocab = [f"w{i}" for i in range(400)] + [f"ab{i}x" for i in range(300)] + ["handover", "sepsis", "café", "naïve"]

    def doc(n: int) -> SearchDoc:
        text = " ".join(rng.choices(vocab, weights=[1 / (r + 1) for r in range(len(vocab))], k=rng.randint(5, 300)))
        return SearchDoc(f"c/c{n % 4}/t/{n:012x}/", " ".join(rng.sample(vocab, 3)), text, "C", f"2025-0{n % 9 + 1}-01")

    docs = {d.location: d for d in (doc(n) for n in range(900))}
    index = SearchIndex(docs.values())
    places = {unit.place for unit in index._units.values()}
    assert places == {search._INLINE, search._SHARD, search._OWN} and index._split("ab")
    for _ in range(100):
        n = rng.randrange(1000)
        if rng.random() < 0.2 and docs:
            loc = rng.choice(sorted(docs))
            del docs[loc]
            index.update([], [loc])
        else:
            d = doc(n)
            docs[d.location] = d
            index.update([d], [])
    files = index.files()
    assert files == SearchIndex(docs.values()).files()
    for word in ("handover", "cafe", "w0", "w399", "ab7x"):
        assert pages_with(files, word) == {d.location for d in docs.values() if word in tokenize(f"{d.title} {d.text}")}


def test_an_update_touches_only_the_files_of_its_words() -> None:
    docs = [
        SearchDoc(f"c/a/t/{n:012x}/", f"Topic {n}", f"common words here {n}", "A", "2025-01-01") for n in range(300)
    ]
    index = SearchIndex(docs)
    before = index.files()
    target = docs[7]
    grown = SearchDoc(target.location, target.title, target.text + " coelacanth", "A", "2025-01-01")
    reported = index.update([grown], [])
    assert reported == changed_files(before, index.files())
    meta = [p for p in reported if p.startswith("search/m/")]
    assert len(meta) == 1 and target.location in index.file(meta[0]).decode()
    assert "search/d/co.bin" in reported
    assert not reported & {INDEX_FILE, "search/r.bin"}  # same pages, same dates
    assert len(reported) <= 4, reported
    assert index.update([grown], []) == set()  # nothing new
    assert index.update([], ["c/nowhere/"]) == set()


def test_the_files_describe_themselves() -> None:
    index = SearchIndex([SearchDoc("c/a/t/1/", "Café rota", "Swap shifts at the café.", "Ward 4", "2025-02-03")])
    files = index.files()
    config = json.loads(files[INDEX_FILE])
    assert config["docs"] == [] and config["config"]["separator"] == search.SEPARATOR
    assert config["config"]["intranet"]["initials"] == ["c", "r", "s"]
    assert "the" in config["config"]["intranet"]["stopwords"]
    (meta,) = [json.loads(data) for path, data in files.items() if path.startswith("search/m/")]
    ((ident, location, title, parent, day, excerpt),) = meta
    assert (location, title, parent, excerpt) == ("c/a/t/1/", "Café rota", "Ward 4", "Swap shifts at the café.")
    assert day == (search.date(2025, 2, 3).toordinal() - search.EPOCH)
    ids, end = decode_ids(files["search/r.bin"])
    assert ids == [ident] and files["search/r.bin"][end:] == day.to_bytes(2, "little")
    assert sorted(p for p in files if p.startswith("search/d/")) == [
        "search/d/c.bin",
        "search/d/ca.bin",
        "search/d/r.bin",
        "search/d/ro.bin",
        "search/d/s.bin",
        "search/d/sh.bin",
        "search/d/sw.bin",
    ]


def test_worker_goes_where_materials_is() -> None:
    relpath = worker_relpath()
    assert re.fullmatch(r"assets/javascripts/workers/search\.[0-9a-f]+\.min\.js", relpath)
    material = Path(find_spec("material").submodule_search_locations[0]) / "templates"
    assert worker_relpath([Path(search.__file__).parent / "templates", material]) == relpath
    assert worker_relpath(str(material)) == relpath and worker_relpath([]) == ""
    assert worker_script().startswith(b"/*") and b"postMessage" in worker_script()


# -- in the browser ------------------------------------------------------------------

ASK = """async (queries) => {
  const index = await (await fetch("search/search_index.json")).json()
  const worker = new Worker(WORKER)
  const next = () => new Promise((ok, fail) => {
    worker.onmessage = ev => {
      if (ev.data.data && ev.data.data.more)
        ev.data.data.more = ev.data.data.more instanceof MessagePort  /* a port does not leave the page */
      ok(ev.data)
    }
    worker.onerror = ev => fail(ev.message)
  })
  worker.postMessage({type: 0, data: {config: index.config, docs: index.docs, options: {suggest: true}}})
  const answers = [await next()]
  for (const query of queries) {
    worker.postMessage({type: 2, data: query})
    answers.push(await next())
  }
  return answers
}"""


@pytest.fixture(scope="module")
def chromium(browser) -> Iterator:
    """Chromium for this module and the search-results tests (conftest's ``browser``)."""
    yield browser


def write_tree(tree: Path, index: SearchIndex) -> None:
    """What the build does: the index's files under the tree, our worker over Material's."""
    for relpath, data in index.files().items():
        (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tree / relpath).write_bytes(data)
    worker = tree / worker_relpath()
    worker.parent.mkdir(parents=True, exist_ok=True)
    worker.write_bytes(worker_script())


def serve_tree(tree: Path) -> Iterator[str]:
    server = make_server(tree, ("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


SITE_DOCS = [
    SearchDoc(
        "c/h/t/1/",
        "Night shift handover",
        "We use ISBAR for every handover at night.",
        "Clinical Handover",
        "2024-03-01",
    ),
    SearchDoc(
        "c/h/t/2/", "Café opening hours", "The café on level 2 opens at seven.", "Clinical Handover", "2024-04-01"
    ),
    SearchDoc(
        "c/h/t/3/",
        "Sepsis <b>pathway</b>",
        "Escalate sepsis early; handover to the registrar.",
        "Medication & Safety",
        "2023-01-01",
    ),
    SearchDoc("c/h/pages/guide/#escalation", "Escalation", "Call the rapid response team.", "Escalation guide"),
] + [
    SearchDoc(f"c/r/t/{n}/", f"Roster {n}", "rota swap " * 3 + "handover", "Rostering", f"2024-01-{n + 1:02d}")
    for n in range(25)
]


@pytest.fixture(scope="module")
def worker_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tree = tmp_path_factory.mktemp("search-site")
    write_tree(tree, SearchIndex(SITE_DOCS))
    (tree / "index.html").write_text('<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">')
    yield from serve_tree(tree)


def ask(chromium, base: str, *queries: str) -> tuple[list[dict], list[str]]:
    page = chromium.new_page()
    fetched: list[str] = []
    page.context.on("request", lambda r: fetched.append(r.url[len(base) :]))  # the worker's requests too
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base)
    answers = page.evaluate(ASK.replace("WORKER", json.dumps(worker_relpath())), list(queries))
    page.close()
    assert problems == []
    assert answers[0] == {"type": 1}
    assert all(a["type"] == 3 for a in answers[1:])
    return [a["data"] for a in answers[1:]], fetched


def locations(result: dict) -> list[str]:
    return [group[0]["location"] for group in result["items"]]


@pytest.mark.browser
def test_worker_answers_like_materials(chromium, worker_site: str) -> None:
    exact, prefix, both, accent, upper, nothing, partial = ask(
        chromium, worker_site, "sepsis ", "hando", "night handover", "cafe", "CAFÉ", "zzzq", "sepsis zebra "
    )[0]
    for result in (exact, prefix, both, accent, upper, partial):
        for group in result["items"]:
            for item in group:
                assert set(item) <= {"location", "title", "text", "score", "terms", "tags"}
                assert isinstance(item["location"], str) and isinstance(item["title"], str)
                assert isinstance(item["text"], str) and isinstance(item["score"], int | float)
                assert all(isinstance(v, bool) for v in item["terms"].values())

    (group,) = exact["items"]
    assert group[0]["location"] == "c/h/t/3/"
    assert group[0]["title"] == "<mark>Sepsis</mark> &#60;b&#62;pathway&#60;/b&#62;"  # escaped: the theme inserts HTML
    assert group[0]["text"] == "<p>Escalate <mark>sepsis</mark> early; handover to the registrar.</p>"
    assert group[0]["terms"] == {"sepsis": True} and group[0]["tags"] == ["Medication &#38; Safety"]
    assert exact["suggest"] == []

    # A prefix: title matches first, then newer first; at most 20 results; a suggestion.
    assert locations(prefix)[:1] == ["c/h/t/1/"]
    assert locations(prefix)[1:4] == ["c/r/t/24/", "c/r/t/23/", "c/r/t/22/"]
    assert len(prefix["items"]) == 20 and prefix["suggest"] == ["handover"]
    assert prefix["items"][0][0]["terms"] == {"hando": True}
    assert "<mark>handover</mark>" in prefix["items"][0][0]["title"]
    assert [g[0]["score"] for g in prefix["items"]] == sorted((g[0]["score"] for g in prefix["items"]), reverse=True)

    assert locations(both) == ["c/h/t/1/"]  # every word must match
    assert both["items"][0][0]["terms"] == {"night": True, "handover": True}
    assert locations(accent) == locations(upper) == ["c/h/t/2/"]
    assert accent["items"][0][0]["title"] == "<mark>Café</mark> opening hours"
    assert upper["items"][0][0]["terms"] == {"café": True}
    assert nothing == {"items": [], "total": 0, "shown": 0, "exact": True, "suggest": []}
    (group,) = partial["items"]  # no page has both: the best, with what is missing
    assert group[0]["location"] == "c/h/t/3/" and group[0]["terms"] == {"sepsis": True, "zebra": False}


@pytest.mark.browser
def test_worker_groups_a_part_under_its_page_and_fetches_little(chromium, worker_site: str) -> None:
    (result, rare), fetched = ask(chromium, worker_site, "rapid", "isbar ")
    (group,) = result["items"]
    assert [item["location"] for item in group] == ["c/h/pages/guide/#escalation", "c/h/pages/guide/"]
    assert group[1] == {
        "location": "c/h/pages/guide/",
        "title": "Escalation guide",
        "text": "",
        "score": 0,
        "terms": {},
    }
    assert locations(rare) == ["c/h/t/1/"]
    search_files = [f for f in fetched if f.startswith("search/")]
    assert INDEX_FILE in search_files and "search/r.bin" not in search_files  # few results: no ranking file
    assert len(set(search_files)) == len(search_files)  # each file once


@pytest.mark.browser
def test_materials_search_box_uses_the_sharded_index(chromium, demo_site: Path, tmp_path: Path) -> None:
    """The demo's staff tree searched through Material's own search box, results and page
    highlighting, fed by the new worker. A build that still writes Material's one-file index gets
    it swapped for ours here, as the build does it."""
    tree = tmp_path / "staff"
    shutil.copytree(demo_site, tree)
    index = json.loads((tree / INDEX_FILE).read_text())
    if "intranet" not in index["config"]:
        pages = [d for d in index["docs"] if "#" not in d["location"]]
        (tree / INDEX_FILE).unlink()
        write_tree(
            tree, SearchIndex(SearchDoc(d["location"], d["title"], re.sub(r"<[^>]+>", " ", d["text"])) for d in pages)
        )
    assert (tree / worker_relpath()).read_bytes() == worker_script()
    for base in serve_tree(tree):
        page = chromium.new_page()
        problems: list[str] = []
        big: list[str] = []
        page.on("console", lambda m, p=problems: p.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e, p=problems: p.append(str(e)))
        page.context.on(
            "requestfinished",
            lambda r, b=big: (
                b.append(r.url) if "/search/" in r.url and r.sizes()["responseBodySize"] > 50_000 else None
            ),
        )
        page.goto(base)
        type_query(page, "ISBAR")
        assert page.locator(".md-search-result__item").count() >= 1
        assert page.locator(".md-search-result__item mark").first.inner_text().lower() == "isbar"
        assert "matching document" in page.inner_text(".md-search-result__meta")
        href = page.locator(".md-search-result__item a").first.get_attribute("href")
        assert href.startswith(base) and "h=isbar" in href
        page.goto(href)
        page.wait_for_selector("article mark[data-md-highlight]", timeout=30_000)  # Material highlights on the page
        box = page.locator("input.md-search__input")
        box.click()
        box.type("hando", delay=20)
        page.wait_for_selector(".md-search-result__item mark", timeout=30_000)
        assert page.inner_text(".md-search__suggest").lower().startswith("hando")
        assert problems == [] and big == []
        page.close()


def test_compact_text_indexes_exactly_as_the_whole_text() -> None:
    import random

    from generator.search_text import compact_text

    rng = random.Random(3)
    words = ["alpha", "Béta", "gamma", "medication", "Handover", "café", "x1", "don't", "e-mail", "ÉCOLE"]
    for _ in range(100):
        docs = [
            SearchDoc(
                f"c/x/t/{i}/",
                "Title " + rng.choice(words),
                " ".join(rng.choice(words) for _ in range(rng.randint(0, 600))) + rng.choice(["\n\n", " "]) + "tail",
            )
            for i in range(5)
        ]
        compact = [SearchDoc(d.location, d.title, compact_text(d.text)) for d in docs]
        assert SearchIndex(compact).files() == SearchIndex(docs).files()
        assert all(len(c.text) <= len(d.text) for c, d in zip(compact, docs, strict=True))
