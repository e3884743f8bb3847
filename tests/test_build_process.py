"""The build process of ``intranet up``: a fresh interpreter given the snapshot, not a fork of the
process that serves and takes mail (issue #14: memory), which reads posts' texts by reference and
refuses to run other code than its parent's."""

from __future__ import annotations

import io
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import add_post
from test_landing import wait_landable

from generator import background
from generator.background import HOLD_ENV
from generator.builder import Builder
from generator.mkdocs_adapter import BuildError
from intranet.format import is_spilled, post_relpath, spill
from intranet.format.spill import TextFile


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "build-process-test-secret-0123456789abcdef")


def _resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_the_build_process_does_not_share_the_heap_of_the_process_that_starts_it(
    small_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forked process maps every page of its parent's heap (and copies each it touches): its
    # resident set starts at the parent's. A process started fresh holds only what it reads.
    ballast = bytearray(b"x" * (300 << 20))  # 300 MB in this process's heap, every page touched
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(HOLD_ENV, str(hold))  # the build process waits, its job read, before it renders
    builder = Builder(small_root, background=True)
    try:
        assert builder.rebuild() == "rebuilding"
        deadline = time.monotonic() + 60
        while not (builder.running and builder.running.pid):
            assert time.monotonic() < deadline, "the build process was not started"
            time.sleep(0.02)
        pid = builder.running.pid
        time.sleep(1)  # (its job read: it waits on the file)
        assert _resident_mb(pid) < 200, "the build process holds this process's heap"
        hold.unlink()
        wait_landable(builder)
        assert builder.land() == "rebuilt"
        assert (builder.site_dir / "staff" / "index.html").is_file()
    finally:
        del ballast
        builder.close()


def test_posts_texts_go_to_the_build_process_by_reference(small_root: Path) -> None:
    builder = Builder(small_root)
    builder.model.load()
    staged = builder.snapshot_build()
    text = "A long text that is spilled to the file, " * 10
    post = spill(replace(staged.intranet.posts[0], relpath="communities/handover/posts/long.md", body=text))
    assert is_spilled(post)
    staged.intranet.posts.append(post)
    handle = io.BytesIO()
    background._write_job(handle, builder.job(staged))
    assert text.encode() not in handle.getvalue()  # its reference travels, not its text
    handle.seek(0)
    job = background._read_job(handle)  # (this process reads its own file, as the build process reads it)
    assert [p.relpath for p in job.staged.intranet.posts] == [p.relpath for p in staged.intranet.posts]
    assert job.staged.intranet.posts[-1].body == text and job.staged.intranet.posts == staged.intranet.posts
    builder.close()


def test_a_build_process_of_other_code_refuses_and_the_live_trees_stay(
    small_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = Builder(small_root, background=True)
    builder.defer = False
    try:
        builder.build()
        live = builder.states
        # As if the code on disk had been replaced since this process started.
        monkeypatch.setattr(background, "code_digest", lambda: "the code this process started with")
        builder.rebuild()
        wait_landable(builder)
        with pytest.raises(BuildError, match="code on disk was replaced"):
            builder.land()
        assert builder.states is live
        add_post(small_root, "handover", "<after@example.org>", "After the refusal", "Still shown.", "ann.lee")
        assert builder.update([post_relpath("handover", "<after@example.org>")]) == "updated"
    finally:
        builder.close()


def test_a_process_attached_to_anothers_texts_reads_them_and_writes_none() -> None:
    own = TextFile()
    ref = own.put("A text long enough to be kept in the file rather than in the heap, " * 3)
    reader = own.reader()
    attached = TextFile()
    attached.attach(reader)
    try:
        assert attached.get(ref) == own.get(ref)
        with pytest.raises(RuntimeError, match="spills none of its own"):
            attached.put("anything")
        with pytest.raises(OSError):  # (and the descriptor itself cannot write)
            os.pwrite(reader, b"x", 0)
    finally:
        os.close(reader)
