"""A full build in the background takes the live trees' place: never both held, the live ones kept if it fails."""

from __future__ import annotations

import os
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import add_post
from test_incremental import assert_same_as_full_build

from generator.background import HOLD_ENV, BackgroundBuild, discard_leftovers
from generator.builder import Builder
from generator.buildjob import BuildJob
from generator.mkdocs_adapter import BuildError
from intranet.format import post_relpath


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "landing-test-secret-0123456789abcdef")


def wait_landable(builder: Builder) -> None:
    deadline = time.monotonic() + 120
    while not builder.landable:
        assert time.monotonic() < deadline, "the background build did not finish"
        time.sleep(0.05)


def test_a_landed_build_replaces_the_live_trees_which_are_let_go(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root, background=True)
    builder.defer = False
    try:
        builder.build()
        live = builder.states
        assert builder.rebuild() == "rebuilding"
        add_post(small_root, "handover", "<during@example.org>", "During the build", "New mail first.", "ann.lee")
        assert builder.update([post_relpath("handover", "<during@example.org>")]) == "updated"  # the live trees
        wait_landable(builder)
        assert builder.land() == "rebuilt"
        assert builder.states and all(new is not old for new, old in zip(builder.states, live, strict=True))
        for old in live:  # emptied before the new trees were read
            assert vars(old.site) == {} and old.digests == {} and len(old.search) == 0
        assert builder.update([post_relpath("handover", "<during@example.org>")]) == "nothing"  # (caught up)
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)


class BrokenJob(BuildJob):
    """A build job whose process fails as a theme problem would."""

    def render(self, emit: Any) -> int:
        raise BuildError("a theme problem, for the test")


def test_a_failed_background_build_leaves_the_live_trees_working(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root, background=True)
    builder.defer = False
    try:
        builder.build()
        live = builder.states
        builder.job = lambda staged: BrokenJob(**vars(Builder.job(builder, staged)))  # type: ignore[method-assign]
        builder.rebuild()
        wait_landable(builder)
        with pytest.raises(BuildError, match="a theme problem"):
            builder.land()
        assert builder.states is live and all(vars(s.site) for s in live)
        assert not list(small_root.glob(".site.building-*")) and not list(small_root.glob(".site.building-*.result-*"))
        add_post(small_root, "handover", "<after@example.org>", "After the failure", "Still shown.", "ann.lee")
        assert builder.update([post_relpath("handover", "<after@example.org>")]) == "updated"
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)


def test_each_build_stages_apart_and_leftovers_of_dead_processes_go(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root, background=True)
    try:
        builder.build()
        # A build started while another lands (an edit during it) must not stage in the same folder.
        first, second = builder.snapshot_build(), builder.snapshot_build()
        assert first.staging != second.staging and first.staging.parent == second.staging.parent
    finally:
        builder.close()
    dead = 2**22 + 17  # beyond Linux's default pid_max: no such process
    leftovers = [small_root / f".site.building-{dead}-3", small_root / f".site.building-{dead}-3.old-5"]
    for folder in leftovers:
        (folder / "staff").mkdir(parents=True)
    result = small_root / f".site.building-{dead}-3.result-abc"
    result.write_bytes(b"x")
    ours = small_root / f".site.building-{os.getpid()}-9"
    ours.mkdir()
    discard_leftovers(small_root / "site")
    wait = time.monotonic() + 30
    while any(p.exists() for p in [*leftovers, result]) and time.monotonic() < wait:
        time.sleep(0.05)
    assert not any(p.exists() for p in [*leftovers, result]) and ours.is_dir()


@dataclass
class _Content:
    posts: list[Any]


@dataclass
class _Staged:
    staging: Path
    seq: int = 0
    intranet: _Content = field(default_factory=lambda: _Content([]))


@dataclass
class FailingJob:
    """A job whose build process renders nothing."""

    staged: _Staged

    def render(self, emit: Any) -> int:
        raise RuntimeError("rendered nothing, for the test")


def test_the_build_process_does_not_hold_what_another_thread_was_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread that starts a program (``subprocess``) reads a pipe until the program has started: it
    # learns that from the pipe's writer being closed. The build process is started while such a pipe
    # is open; if it kept a copy, the thread would wait until the whole build ends (seen as a reply
    # not committed while a catch-up build ran).
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(HOLD_ENV, str(hold))
    reading, writing = os.pipe()

    ended = threading.Event()
    build = BackgroundBuild(
        lambda: _Staged(tmp_path / ".site.building-test"), FailingJob, lambda *_: None, threading.Lock(), ended.set
    )
    try:
        build.start()
        deadline = time.monotonic() + 60
        while not build.pid:
            assert time.monotonic() < deadline, "the build process was not started"
            time.sleep(0.01)
        os.close(writing)  # the program has started: only the build process could still hold the writer
        readable, _, _ = select.select([reading], [], [], 30)
        assert readable and os.read(reading, 1) == b"", "the build process holds the pipe while it is held"
        assert not ended.is_set()  # (it is still under way)
    finally:
        hold.unlink()
        os.close(reading)
    assert ended.wait(60)
    assert build.landing().error == "rendered nothing, for the test"  # its result file was kept open
