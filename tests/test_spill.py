"""Post text kept out of the heap: a model for the site spills it, and it reads back the same everywhere."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import os
import pickle
from pathlib import Path

from helpers import add_post

from intranet.format import Author, Post, is_spilled, post_relpath, spill
from intranet.format.spill import SMALLEST, TEXTS
from intranet.model import Model

LONG = "Escalation: a patient's early warning score rose twice in one shift — who calls the registrar? " * 3


def make_post(body: str = LONG, quoted: str = "> " + LONG, signature: str = "Ann") -> Post:
    return Post(
        "handover",
        "communities/handover/posts/00/abc.md",
        "<a@example.org>",
        "<a@example.org>",
        None,
        Author(None, "Ann Lee", "ann@example.org"),
        dt.datetime(2026, 12, 6, tzinfo=dt.UTC),
        "Escalation",
        "smtp",
        [],
        [],
        body,
        quoted,
        signature,
    )


def test_a_spilled_post_reads_compares_copies_and_pickles_as_the_same_post() -> None:
    kept = make_post()
    post = spill(make_post())
    assert is_spilled(post) and not is_spilled(kept)
    before = TEXTS.size
    assert post.body == LONG and post.quoted == "> " + LONG and post.signature == "Ann"  # short: stays
    assert TEXTS.size == before  # reading writes nothing
    assert post == kept and repr(post) == repr(kept)
    for other in (pickle.loads(pickle.dumps(post)), copy.deepcopy(post), dataclasses.replace(post)):
        assert other == kept and not is_spilled(other)  # a copy carries the text itself
    edited = dataclasses.replace(post, body="Changed. " * 10)
    assert edited != kept and post.body == LONG
    post.body = "now short"
    assert post.body == "now short" and post.quoted == "> " + LONG


def test_text_that_is_not_ascii_or_short_comes_back_unchanged() -> None:
    body = "Ünïcödé — 患者 🩺 " * 20 + "\udcff"  # a lone surrogate, as a broken mail may leave
    post = spill(make_post(body=body, quoted="", signature="x" * (SMALLEST - 1)))
    assert post.body == body and post.quoted == "" and post.signature == "x" * (SMALLEST - 1)
    assert type(post).__dict__["body"].spilled(post) and not type(post).__dict__["signature"].spilled(post)


def test_a_forked_child_reads_what_the_parent_spilled(tmp_path: Path) -> None:
    post = spill(make_post(body="Written before the fork. " * 10))
    out = tmp_path / "child.txt"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            out.write_text(post.body)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert out.read_text() == "Written before the fork. " * 10


def test_a_model_for_the_site_keeps_long_text_in_the_file(small_root: Path) -> None:
    model = Model(small_root)
    model.load()
    relpath = post_relpath("handover", "<spill@example.org>")
    add_post(small_root, "handover", "<spill@example.org>", "Long", LONG, "ann.lee")
    model.apply([relpath])
    post = model.posts["handover"][relpath]
    assert is_spilled(post) and post.body.strip() == LONG.strip()
    assert all(is_spilled(p) or len(p.body) < SMALLEST for p in model.snapshot()[0].posts)
    assert model.apply([relpath]).posts == {}  # read again: the same post, nothing changed
    gateway = Model(small_root, bodies=False)
    gateway.load()
    assert gateway.posts["handover"][relpath].body == "" and not is_spilled(gateway.posts["handover"][relpath])


def test_posts_a_model_keeps_hold_what_they_have_alike_once(small_root: Path) -> None:
    for n in range(3):  # three replies by one author to one topic, read from their own files
        reply = {"in_reply_to": "<t1@example.org>", "topic": "<t1@example.org>"}
        add_post(small_root, "handover", f"<alike{n}@example.org>", "Re: Night shift handover", "Yes.", **reply)
    for bodies in (True, False):
        model = Model(small_root, bodies=bodies)
        model.load()
        posts = [p for p in model.posts["handover"].values() if p.message_id.startswith("<alike")]
        assert len(posts) == 3
        assert len({id(p.community) for p in posts}) == 1 and len({id(p.author) for p in posts}) == 1
        assert len({id(p.topic) for p in posts}) == 1
        first = next(p for p in model.posts["handover"].values() if p.message_id == posts[0].topic)
        assert posts[0].topic is first.message_id  # the topic's Message-ID: the first post's own string
