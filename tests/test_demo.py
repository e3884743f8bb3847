"""The repository's own demo intranet is valid and as rich as promised."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from helpers import REPO

from generator.search_format import pages_with
from intranet.format import read_intranet
from intranet.threads import build_topics


def test_demo_content_is_clean_and_big_enough() -> None:
    intranet = read_intranet(REPO)
    assert intranet.problems == []
    topics = build_topics(intranet.posts)
    assert len(intranet.communities) >= 4
    assert sum(len(t) for t in topics.values()) >= 30
    assert len(intranet.posts) >= 150
    assert len(intranet.people) >= 20
    kinds = Counter(p.kind for p in intranet.people.values())
    assert set(kinds) == {"staff", "partner", "supplier"}
    assert any(p.is_team for p in intranet.people.values())
    assert all(c.pages for c in intranet.communities.values()), "a good-practice page per community"
    assert any({"partners", "suppliers"} & set(c.audience) for c in intranet.communities.values())
    assert sum(1 for p in intranet.posts if p.attachments) >= 5
    assert sum(1 for p in intranet.posts if p.in_reply_to) >= 100
    assert any(p.quoted for p in intranet.posts) and any(p.signature for p in intranet.posts)
    assert any(p.tags for p in intranet.posts)
    authors = {p.author.handle for p in intranet.posts if p.author.handle}
    assert {intranet.people[h].kind for h in authors} == {"staff", "partner", "supplier"}
    for community, items in topics.items():
        assert len(items) >= 3, community


def test_intranet_check_passes_on_the_repository() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "check", "--root", str(REPO)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].startswith("OK: ")


def test_demo_site_has_every_kind_of_page(demo_trees: Path) -> None:
    demo_site = demo_trees / "staff+medication-safety-leads"  # the tree that shows every demo community
    intranet = read_intranet(REPO)
    for slug in intranet.communities:
        assert (demo_site / "c" / slug / "index.html").is_file()
        assert (demo_site / "c" / slug / "feed.xml").is_file()
    for handle in intranet.people:
        assert (demo_site / "people" / handle / "index.html").is_file()
    topics = sum(len(t) for t in build_topics(intranet.posts).values())
    assert len(list((demo_site / "c").glob("*/t/*/index.html"))) == topics
    attachments = [f for f in (demo_site / "c").glob("*/files/*/*") if f.is_file()]
    assert len(attachments) == sum(len(p.attachments) for p in intranet.posts)
    files = {str(p.relative_to(demo_site)): p.read_bytes() for p in (demo_site / "search").rglob("*") if p.is_file()}
    searchable = {loc for word in ("handover", "medication", "the", "support") for loc in pages_with(files, word)}
    assert len({loc for loc in searchable if "/t/" in loc}) > topics / 2
