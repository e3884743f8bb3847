"""Search benchmark: the sharded index at intranet scale, and what a browser downloads to search it.

What it measures, in one process run:

1. **Corpus** - ``--topics N`` topic documents (default 10,000) with
   ``--posts`` posts each on average (default 10, so 100,000 posts), one
   document per topic as the build gives them (title, community as parent,
   date, the posts' text one after another), plus a page per community and
   per person. Words are drawn from a Zipf-like distribution (rank ``r`` has
   weight ``1 / (r + 2.7)``) over a vocabulary of real words: a list of
   common English and health-care words first, then the words of the mail
   corpora in ``../shared/corpus`` by frequency, then their inflections,
   names and numbers, so posting lists are as skewed as real ones.
2. **Build** - ``SearchIndex(docs)``: seconds, peak traced memory (a second
   build under tracemalloc), file count, total size, largest file, and the
   sizes per kind of file.
3. **Update** - one changed topic (a reply's words added), one new topic and
   one removed topic, ``--updates`` times each: median and worst seconds, the
   files ``update`` reports and the bytes of those files.
4. **First query in the browser** - the files are written to a folder with
   the worker at Material's worker path and served on loopback with the
   server ``intranet up`` uses; for each query a fresh headless Chromium page
   (Debian's ``chromium``, driven by Playwright's library) fetches
   ``search/search_index.json``, starts the worker, sends SETUP and the query
   (a prefix typed letter by letter sends every prefix, as Material does),
   and every response body on the network, the worker's own fetches
   included, is summed. Target: 300 KB or less for the first query. Each
   line gives the count the worker reports (``+``: a lower bound), and when
   more results remain, what the next page of them costs.

Run it with the project's environment, from the repository root::

    python bench/search_bench.py                 # 10,000 topics, 100,000 posts
    python bench/search_bench.py --topics 1000 --no-browser
    python bench/search_bench.py --site /tmp/m2p/intranet/site/staff    # a built tree, Material's own search box
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator.search_index import SearchDoc, SearchIndex  # noqa: E402
from generator.search_text import tokenize  # noqa: E402
from generator.search_worker import worker_relpath, worker_script  # noqa: E402
from generator.serve import make_server  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
START = dt.date(2022, 1, 1)
SPAN_DAYS = 3 * 365
WORDS_PER_POST = (20, 140)  # uniform between

COMMON = """
the to and of a in is for that you it on with this we be are have not as at or will can our your
from by if all but they an so about please thanks thank what which would there any more when do
just one new been was has also need time their were us up out some like were know get should
patient patients ward shift handover night day team nurse nurses doctor pharmacist medication
dose doses chart charts policy procedure audit incident report reports risk safety review form
forms checklist training session sessions student students placement placements supervisor
feedback meeting agenda minutes rota roster staff partner supplier stock order delivery invoice
glove gloves mask masks sanitiser pump pumps device devices system login record records access
update updates change changes trial pilot evidence guideline guidelines template version draft
consent ethics family families carer carers discharge admission transfer referral community
clinic outpatient theatre bed beds escalation deterioration observation observations score
allergy allergies reconciliation error errors near miss learning outcome outcomes plan plans
support behaviour restrictive practice reporting quality improvement project timeline budget
weekly monthly quarterly region site sites campus library module assessment simulation debrief
agree think suggest propose noticed found shared attached checked asked wondering useful helpful
clear unclear old current previous next first last quick short long early late busy quiet
sepsis infection hygiene isolation outbreak vaccine wound pain falls pressure injury nutrition
insulin antibiotics anticoagulant oxygen cannula catheter ventilator monitor alarm telemetry
""".split()
SUFFIXES = ("s", "ed", "ing", "er", "ers", "ly", "ment", "ness", "al", "ation")
PREFIXES = ("re", "un", "pre", "non", "co", "sub", "over", "inter")


def vocabulary(rng: random.Random) -> list[str]:
    """Words in rank order: common first, then the mail corpora's words by frequency, then a long tail."""
    ranked = list(dict.fromkeys(COMMON))
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix != ".md":
            text = path.read_bytes().decode("utf-8", "replace")
            counts.update(w for w in re.findall(r"[A-Za-z][a-z]{2,14}", text))
    seen = set(ranked)
    for word, _ in counts.most_common():
        if word.lower() not in seen:
            seen.add(word.lower())
            ranked.append(word.lower())
    tail = []
    for word in ranked[:6000]:
        tail += [word + s for s in rng.sample(SUFFIXES, 3)] + [p + word for p in rng.sample(PREFIXES, 2)]
    tail += [f"{rng.choice(('ward', 'bay', 'room', 'bed'))}{n}" for n in range(400)]
    tail += [str(rng.randrange(1000, 99999)) for _ in range(4000)]
    rng.shuffle(tail)
    for word in tail:
        if word not in seen:
            seen.add(word)
            ranked.append(word)
    return ranked


def corpus(topics: int, posts: int, seed: int) -> list[SearchDoc]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1 / (r + 2.7) for r in range(len(words))]
    cum = list(_accumulate(weights))
    titled = words[60:3000]
    communities = ["Clinical Handover", "Medication Safety", "Infection Prevention", "Teaching & Learning"]
    communities += ["Procurement", "Disability Support", "Digital Health", "Research & Ethics"]
    docs = []
    for n in range(topics):
        count = max(1, min(40, int(rng.expovariate(1 / posts)) + 1))
        size = sum(rng.randint(*WORDS_PER_POST) for _ in range(count))
        text = " ".join(rng.choices(words, cum_weights=cum, k=size))
        title = " ".join(rng.sample(titled, rng.randint(3, 7))).capitalize()
        day = START + dt.timedelta(days=rng.randrange(SPAN_DAYS))
        community = rng.choice(communities)
        slug = re.sub(r"[^a-z]+", "-", community.lower()).strip("-")
        docs.append(SearchDoc(f"c/{slug}/t/{n:012x}/", title, text, community, day.isoformat()))
    for name in communities:
        docs.append(SearchDoc(f"c/{name.lower().replace(' ', '-')}/", name, " ".join(rng.sample(titled, 40))))
    for n in range(200):
        docs.append(SearchDoc(f"people/person{n}/", f"Person {n}", " ".join(rng.sample(titled, 15)), "People"))
    return docs


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB"


# --------------------------------------------------------------------------


def bench_build(docs: list[SearchDoc]) -> SearchIndex:
    started = time.perf_counter()
    index = SearchIndex(docs)
    seconds = time.perf_counter() - started
    files = index.files()
    print(f"build: {len(docs):,} documents in {seconds:.2f} s")
    sizes = {path: len(data) for path, data in files.items()}
    largest = max(sizes, key=sizes.__getitem__)
    print(f"  files: {len(files):,}, total {kb(sum(sizes.values()))}, largest {largest} {kb(sizes[largest])}")
    kinds: dict[str, list[int]] = collections.defaultdict(list)
    for path, size in sizes.items():
        kinds[path.split("/")[1] if path.count("/") > 1 else path].append(size)
    for kind, values in sorted(kinds.items()):
        print(
            f"  {kind:<22} {len(values):>6} files  total {kb(sum(values)):>11}  "
            f"median {kb(statistics.median(values)):>9}  max {kb(max(values)):>9}"
        )
    del files
    tracemalloc.start()
    SearchIndex(docs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  peak traced memory of a build: {peak / 2**20:,.0f} MB")
    return index


def bench_updates(index: SearchIndex, docs: list[SearchDoc], rounds: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    topics = [d for d in docs if "/t/" in d.location]
    extra = [w for d in rng.sample(topics, 50) for w in d.text.split()]
    cases: dict[str, list[tuple[float, int, int]]] = collections.defaultdict(list)

    def run(name: str, changed: list[SearchDoc], removed: list[str]) -> None:
        started = time.perf_counter()
        paths = index.update(changed, removed)
        seconds = time.perf_counter() - started
        size = sum(len(index.file(p) or b"") for p in paths)
        cases[name].append((seconds, len(paths), size))

    for i in range(rounds):
        doc = rng.choice(topics)
        reply = " ".join(rng.sample(extra, rng.randint(*WORDS_PER_POST)))
        changed = SearchDoc(doc.location, doc.title, doc.text + " " + reply, doc.parent, f"2025-01-0{i % 9 + 1}")
        run("reply to a topic", [changed], [])
        new = SearchDoc(f"c/new/t/{i:012x}/", "New topic " + reply[:40], reply, "New", "2025-01-10")
        run("new topic", [new], [])
        run("topic removed", [], [new.location])
    print(f"update ({rounds} times each; seconds median/worst, files written, bytes of those files):")
    for name, values in cases.items():
        secs = [v[0] for v in values]
        print(
            f"  {name:<18} {statistics.median(secs) * 1000:6.1f} ms / {max(secs) * 1000:6.1f} ms   "
            f"files median {statistics.median(v[1] for v in values):>5.0f} (max {max(v[1] for v in values)})   "
            f"bytes median {kb(statistics.median(v[2] for v in values))}"
        )


PAGE_JS = """async (queries) => {
  const index = await (await fetch("search/search_index.json", {cache: "no-store"})).json()
  const worker = new Worker(WORKER)
  const next = () => new Promise((ok, fail) => {
    worker.onmessage = ev => ok(ev.data)
    worker.onerror = e => fail(e.message)
  })
  worker.postMessage({type: 0, data: {config: index.config, docs: index.docs, options: {suggest: true}}})
  await next()
  const results = []
  for (const q of queries) {
    const t = performance.now()
    worker.postMessage({type: 2, data: q})
    const r = await next()
    const { items, total, exact, more } = r.data
    window.more = more
    results.push([q, items.length, performance.now() - t, total, exact])
  }
  return results
}"""

# The next page of the last answer, through the port the worker gave with it.
MORE_JS = """async () => {
  if (!window.more)
    return null
  const t = performance.now()
  const page = await new Promise(ok => { window.more.onmessage = ev => ok(ev.data); window.more.postMessage("more") })
  return [page.items.length, page.shown, performance.now() - t]
}"""


def body_size(request) -> int:
    """The response body's size; from Content-Length where Chromium reports none (a worker's script)."""
    size = request.sizes()["responseBodySize"]
    response = request.response()
    if not size and response is not None and response.status == 200:
        size = int(response.headers.get("content-length", 0))
    return size


def bench_browser(index: SearchIndex, queries: dict[str, list[str]], verbose: bool = False) -> None:
    from playwright.sync_api import sync_playwright

    site = Path(tempfile.mkdtemp(prefix="search-bench-"))
    try:
        for path, data in index.files().items():
            (site / path).parent.mkdir(parents=True, exist_ok=True)
            (site / path).write_bytes(data)
        worker = worker_relpath()
        (site / worker).parent.mkdir(parents=True, exist_ok=True)
        (site / worker).write_bytes(worker_script())
        (site / "index.html").write_text('<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">')
        server = make_server(site, ("127.0.0.1", 0))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        print(
            f"first query in the browser (bytes of every response body; search_index.json "
            f"{kb(len(index.file('search/search_index.json') or b''))}, worker {kb(len(worker_script()))}):"
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for name, typed in queries.items():
                context = browser.new_context()
                page = context.new_page()
                bodies: list[tuple[str, int]] = []
                page.on("requestfinished", lambda r, b=bodies: b.append((r.url, body_size(r))))
                context.on("requestfinished", lambda r, b=bodies: b.append((r.url, body_size(r))))
                page.goto(base)
                answers = page.evaluate(PAGE_JS.replace("WORKER", repr(worker)), typed)
                page.wait_for_timeout(100)
                seen = dict(bodies)  # each request once, whichever event reported it
                total = sum(size for url, size in seen.items() if not url.endswith("/"))
                files = len([u for u in seen if not u.endswith("/")])
                last = answers[-1]
                paged = page.evaluate(MORE_JS)
                page.wait_for_timeout(100)
                more = {url: size for url, size in bodies if url not in seen}
                if verbose:
                    kinds: dict[str, int] = collections.Counter()
                    for url, size in seen.items():
                        tail = url.rsplit("/", 1)[-1]
                        part = url.split("/search/", 1)[-1].split("/")[0] if "/search/" in url else tail
                        kinds[part] += size
                    print("     ", ", ".join(f"{k} {kb(v)}" for k, v in kinds.most_common()))
                count = f"{last[3]:,}" + ("" if last[4] else "+")
                print(
                    f"  {name:<34} {kb(total):>10} in {files:>3} files; "
                    f"{last[1]:>2} results of {count}, {sum(a[2] for a in answers):6.0f} ms"
                )
                if paged:
                    print(
                        f"  {'  next page':<34} {kb(sum(more.values())):>10} in {len(more):>3} files; "
                        f"{paged[0]:>2} results, {paged[1]:,} shown, {paged[2]:6.0f} ms"
                    )
                context.close()
            browser.close()
        server.shutdown()
    finally:
        shutil.rmtree(site, ignore_errors=True)


def bench_site(tree: Path, queries: list[str]) -> None:
    """Type each query into Material's search box on a built tree; sum what the network brings after the page."""
    from playwright.sync_api import sync_playwright

    server = make_server(tree, ("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"first query typed into Material's search box on {tree} (search_index.json, worker and index files):")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for query in queries:
            context = browser.new_context()
            page = context.new_page()
            bodies: dict[str, int] = {}

            def note(request: Any, bodies: dict[str, int] = bodies) -> None:
                if "/search/" in request.url or "/workers/search" in request.url:
                    bodies.setdefault(request.url, body_size(request))

            page.on("requestfinished", note)
            context.on("requestfinished", note)
            page.goto(base, wait_until="networkidle")
            started = time.perf_counter()
            page.click("input.md-search__input")
            page.keyboard.type(query, delay=60)
            page.wait_for_selector(".md-search-result__meta", state="attached")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            meta = page.inner_text(".md-search-result__meta")
            total = sum(bodies.values())
            print(
                f"  {query!r:<24} {kb(total):>10} in {len(bodies):>3} requests; {meta!r}, "
                f"{time.perf_counter() - started:.1f} s with typing"
            )
            context.close()
        browser.close()
    server.shutdown()


def pick_queries(docs: list[SearchDoc]) -> dict[str, list[str]]:
    df: collections.Counter[str] = collections.Counter()
    for doc in docs:
        df.update(set(tokenize(doc.title + " " + doc.text)))
    common = [w for w, _ in df.most_common(40) if len(w) > 3]
    rare = sorted((n, w) for w, n in df.items() if 2 <= n <= 5 and w.isalpha() and len(w) > 5)[-1:]
    rare = [w for _, w in rare]
    mid = [w for w, n in df.most_common() if 200 <= n <= 400 and w.isalpha()][:1]
    prefix = "medication"
    return {
        f"common word ({common[0]}, {df[common[0]]:,} docs)": [common[0]],
        f"rare word ({rare[0]}, {df[rare[0]]} docs)": [rare[0]],
        f"middling word ({mid[0]}, {df[mid[0]]} docs)": [mid[0]],
        f"two words ({common[1]} {common[5]})": [f"{common[1]} {common[5]}"],
        f"two words ({common[2]} {mid[0]})": [f"{common[2]} {mid[0]}"],
        f"prefix typed letter by letter ({prefix})": [prefix[:n] for n in range(1, len(prefix) + 1)],
        "no match (zzxqv)": ["zzxqv"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=10, help="posts per topic, on average")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--updates", type=int, default=20, help="times each kind of update is timed")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser measurements")
    parser.add_argument("--verbose", action="store_true", help="bytes per kind of file for each query")
    parser.add_argument(
        "--site", type=Path, metavar="TREE", help="instead: type queries into Material's search box on a built tree"
    )
    parser.add_argument("--query", action="append", help="with --site: a query to type (repeatable)")
    args = parser.parse_args()
    if args.site:
        bench_site(args.site, args.query or ["handover", "medication", "patient safety", "zzxqv"])
        return

    started = time.perf_counter()
    docs = corpus(args.topics, args.posts, args.seed)
    words = sum(len(d.text.split()) for d in docs)
    print(
        f"corpus: {args.topics:,} topics (~{args.topics * args.posts:,} posts), {len(docs):,} documents, "
        f"{words:,} words, {sum(len(d.text) for d in docs) / 2**20:,.0f} MB of text "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    index = bench_build(docs)
    if args.updates:
        bench_updates(index, docs, args.updates, args.seed)
    if not args.no_browser:
        bench_browser(index, pick_queries(docs), args.verbose)


if __name__ == "__main__":
    main()
