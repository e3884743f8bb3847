"""Posts' HTML kept on disk through a full build that renders one tree at a time: each post's Markdown
rendered once, by whichever process of the build comes to it first, and the site unchanged."""

from __future__ import annotations

import datetime as dt
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import UTC, add_post
from test_incremental import assert_same_as_full_build
from test_landing import wait_landable

from generator import posthtml
from generator.builder import Builder
from generator.buildjob import BuildJob
from generator.posthtml import HtmlStore


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "posthtml-test-secret-0123456789abcdef")


def test_a_forked_process_writes_its_own_file_and_hands_over_where_its_posts_are(tmp_path: Path) -> None:
    store = HtmlStore(tmp_path, ".build.html-")
    mine = store.digest("communities/a/posts/1.md", "body", "Hello *there*")
    store.put(mine, "<p>Hello <em>there</em></p>")
    assert store.get(mine) is None  # found from the next tree on
    store.settle()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # as the build's second process: reads what was there, writes a file of its own
        status = 1
        try:
            posthtml.STORE = store
            assert store.get(mine) == "<p>Hello <em>there</em></p>"
            theirs = store.digest("communities/a/posts/2.md", "body", "Ünïcode — fine")
            store.put(theirs, "<p>Ünïcode — fine</p>")
            os.write(write, pickle.dumps(posthtml.taken()))
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    with os.fdopen(read, "rb") as pipe:
        handed = pickle.loads(pipe.read())
    name, keys, _ = handed
    assert len(keys) == 8  # one part's key
    assert name != store.names[0] and (tmp_path / name).is_file()  # a file of its own
    posthtml.STORE = store
    try:
        posthtml.adopt(handed)
        store.settle()
        assert posthtml.rendered("communities/a/posts/2.md", "body", "Ünïcode — fine", {}) == "<p>Ünïcode — fine</p>"
        assert posthtml.rendered("communities/a/posts/1.md", "body", "Changed.", {}) == "<p>Changed.</p>\n"
    finally:
        posthtml.STORE = None
        store.close()
    assert list(tmp_path.iterdir()) == []  # both files removed


def test_two_parts_that_share_a_key_are_never_mistaken_for_each_other(tmp_path: Path) -> None:
    store = HtmlStore(tmp_path, ".build.html-")
    first, second = b"\x01" * 8 + b"\x02" * 8, b"\x01" * 8 + b"\x03" * 8  # the same 64 bits of key
    store.put(first, "<p>first</p>")
    store.settle()
    assert store.get(first) == "<p>first</p>" and store.get(second) is None
    store.put(second, "<p>second</p>")
    store.settle()
    assert store.get(first) == "<p>first</p>" and store.get(second) == "<p>second</p>"
    store.close()


@dataclass
class NotingJob(BuildJob):
    """A build job that notes every Markdown text its process (and its helper) renders in ``log``."""

    log: Path = Path()

    def render(self, emit: Callable[[Any], None]) -> int:
        render, log = posthtml.render_post_markdown, self.log

        def noted(text: str, links: dict[str, str]) -> str:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.write(fd, text.encode() + b"\0")
            os.close(fd)
            return render(text, links)

        posthtml.render_post_markdown = noted  # (in the build process only)
        return super().render(emit)


def test_a_background_build_renders_each_post_once_and_makes_the_same_site(small_root: Path, tmp_path: Path) -> None:
    log = tmp_path / "rendered.log"  # every Markdown text rendered, by any process of the build
    for n in range(60):  # enough for the build process to render on both cores
        add_post(
            small_root,
            "handover",
            f"<many{n}@x>",
            f"Topic {n}",
            f"Text *{n}*.",
            date=dt.datetime(2026, 10, 1, tzinfo=UTC),
        )
    builder = Builder(small_root, background=True)
    builder.defer = False
    builder.job = lambda staged: NotingJob(**vars(Builder.job(builder, staged)), log=log)  # type: ignore[method-assign]
    try:
        assert builder.rebuild() == "rebuilding"
        wait_landable(builder)
        assert builder.land() == "rebuilt"
        assert not list(small_root.glob(".site.building-*.html-*"))  # the build's HTML files are gone
        bodies = [t for t in log.read_bytes().split(b"\0") if t.startswith(b"Text *")]
        # The community shows in two trees: each body once for its topic page (and once more for the
        # feeds, which show it without attachments' links), not once in each tree.
        assert len(set(bodies)) == 60 and len(bodies) < 2 * 60
        assert max(bodies.count(body) for body in bodies) <= 2
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)
