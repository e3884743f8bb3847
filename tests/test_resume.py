"""A restart goes on from the trees saved at the last stop: the same site as a full build, or a full build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import add_post, copy_demo
from test_incremental import assert_same_as_full_build, edit_yaml

from generator import pickling
from generator.builder import Builder
from generator.resume import STATE_FILE, resume_trees, save_trees
from intranet.format import post_relpath, read_intranet


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "resume-test-secret-0123456789abcdef")


def built_and_saved(root: Path) -> None:
    builder = Builder(root, background=True)  # as in `intranet up`
    builder.defer = False
    try:
        builder.build()
        assert save_trees(builder) == root / "site" / STATE_FILE
    finally:
        builder.close()


def test_what_changed_while_stopped_is_applied_to_the_saved_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pickling, "CHUNK", 7)  # the saved posts in many pickles, read back one at a time
    root = copy_demo(tmp_path / "demo")
    built_and_saved(root)
    posts = read_intranet(root).posts
    reply = next(p for p in posts if p.in_reply_to)
    add_post(
        root, reply.community, "<while-stopped@x>", "Re: x", "Down.", author="tomas.lindqvist", in_reply_to=reply.topic
    )
    edited = root / reply.relpath
    edited.write_text(edited.read_text() + "\nAn editor's addition.\n")
    gone = next(p for p in posts if p.in_reply_to and p.relpath != reply.relpath)
    (root / gone.relpath).unlink()
    edit_yaml(root, "people/amira.haddad.yml", name="Amira Haddad-Kerr")
    builder = Builder(root)
    try:
        assert resume_trees(builder) == "updated"
        assert not (root / "site" / STATE_FILE).exists()
        assert builder.update([post_relpath(reply.community, "<while-stopped@x>")]) == "nothing"  # (already in)
    finally:
        builder.close()
    assert_same_as_full_build(root, tmp_path)


def test_other_settings_or_other_trees_mean_a_full_build(small_root: Path) -> None:
    root = small_root  # what is refused is the state, whatever the content: the small intranet will do
    built_and_saved(root)
    state = root / "site" / STATE_FILE
    kept = state.read_bytes()
    config = root / "mkdocs.yml"
    text = config.read_text()
    assert "primary: custom" in text
    config.write_text(text.replace("primary: custom", "primary: indigo"))
    builder = Builder(root)
    try:
        assert resume_trees(builder) is None  # another mkdocs.yml: the pages differ
        assert not state.exists() and builder.states == []
        config.write_text(text)
        # `intranet build --audience staff` swaps in a new folder for a tree: the state is not for it.
        shutil.copytree(root / "site" / "staff", root / "site" / "staff.new")
        shutil.rmtree(root / "site" / "staff")
        (root / "site" / "staff.new").rename(root / "site" / "staff")
        state.write_bytes(kept)
        assert resume_trees(builder) is None
        assert resume_trees(builder) is None  # (nothing left to take back)
    finally:
        builder.close()


def test_a_stop_renders_the_pages_that_wait_and_saves_the_trees(small_root: Path, tmp_path: Path) -> None:
    import datetime as dt

    from helpers import write_config

    from generator.deferred import Deferred
    from generator.serve import Rebuilder

    write_config(small_root, topics_per_page=2)  # archive pages
    for n in range(4):
        add_post(small_root, "handover", f"<t{n}@x>", f"Topic {n}", date=dt.datetime(2026, 11, 10 + n, tzinfo=dt.UTC))
    builder = Builder(small_root, background=True)
    builder.defer, builder.deferred = True, Deferred()
    try:
        builder.build()
        old = add_post(small_root, "handover", "<old@x>", "Long ago", date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        assert builder.update([str(old.relative_to(small_root))]) == "updated"
        assert builder.deferred  # its community's archive pages wait
        Rebuilder(builder).save()  # (its thread never started: as after it ended)
        assert not builder.deferred
        (small_root / "site" / STATE_FILE).unlink()  # (saved: the pages are compared below)
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)
