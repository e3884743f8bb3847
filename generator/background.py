"""A full build in a child process, while this process goes on updating the live trees.

``intranet up`` builds every tree again after an edit of ``people/``, of
``mkdocs.yml``, of a community, and once at every start. :class:`BackgroundBuild`
does it away from the thread that applies new posts:

1. a thread of this process takes a snapshot of the model
   (:meth:`generator.builder.Builder.snapshot_build`) and writes it, as the
   job the build process is given (:class:`generator.buildjob.BuildJob`),
   into a file: the posts a few thousand at a time, each with its texts'
   references into this process's spill file (:mod:`intranet.format.spill`),
   which the build process reads through a descriptor of its own, opened
   for reading only;
2. it starts the build process: a fresh interpreter running this module's
   :func:`child_main` (in a process group of its own, at a lower priority),
   not a fork of this process. A fork shares this process's heap, and any
   object it touches, or any free slot it fills, copies the page it is on:
   a forked build process ended up with a copy of most of the live trees
   and of the model (issue #14: 1 GB for the whole process tree at 100,000
   posts). The build process reads the job, then, one tree at a time, plans
   the tree (topics, tags, people), renders every page into the staging
   folder on both cores (it forks once more, as ``intranet build`` does,
   from its own small heap), writes what this process needs to go on from
   that tree into the result file (its plan without the posts, which both
   hold, digests, pages, attachments and search index) and lets the tree
   go before the next;
3. the thread that applies changes lands it when it has a moment
   (:meth:`generator.builder.Builder.land`): it lets the live trees go, reads
   the child's result in their place (:meth:`BackgroundBuild.read_result`),
   applies the changes that came after the snapshot to those trees, and swaps
   them in. The live trees and the new ones are never held at once: at
   100,000 posts each set is some 250 MB.

The parent meanwhile applies new posts to the live trees, first. Stopping kills
the child's process group and removes the staging folder: the last good site
stays.

For tests only: with ``INTRANET_TEST_HOLD_BUILD`` naming a file, the child
waits while that file exists before it renders (a build that is observably
under way; what it builds is not changed).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from intranet.format import Post
from intranet.format.spill import TEXTS, by_reference
from intranet.model import Change
from intranet.processes import alive, die_with_parent

from .codestamp import code_digest
from .pickling import Named, Naming, dump_posts, load_posts

log = logging.getLogger(__name__)

HOLD_ENV = "INTRANET_TEST_HOLD_BUILD"
NICENESS = 10  # the child yields the cores to new mail


@dataclass
class Landing:
    """What a finished background build hands to the thread that lands it."""

    staged: Any  # generator.builder.Staged: the snapshot, its planned trees and their staging folder
    pages: int = 0
    error: str = ""  # why it failed ("" if it did not)
    result: IO[bytes] | None = None  # what the child wrote, until it is read (:meth:`BackgroundBuild.read_result`)

    def discard(self) -> None:
        """Remove what was built: the staging folder and the result not read."""
        if self.result is not None:
            self.result.close()
            self.result = None
        if self.staged is not None:
            shutil.rmtree(self.staged.staging, ignore_errors=True)


class BackgroundBuild:
    """One full build: a snapshot taken here, planned and rendered by a child process, landed by the caller.

    ``snapshot`` runs in this process (a thread of its own) and returns the staged build; ``job``
    makes of it what the build process is given (a :class:`generator.buildjob.BuildJob`: pickled,
    the snapshot in ``job.staged``; its ``render(emit)``, run there, plans and renders each tree,
    emits its parts and returns the pages written); ``adopt`` takes those trees here (in the
    build's thread); ``fork_lock`` is held while the build process is started (so a cancel never
    misses it); ``done`` is called from the build's thread when there is something to land.
    """

    def __init__(
        self,
        snapshot: Callable[[], Any],
        job: Callable[[Any], Any],
        adopt: Callable[[Any, list[Any]], None],
        fork_lock: threading.Lock,
        done: Callable[[], None],
    ) -> None:
        self._snapshot = snapshot
        self._job = job
        self._adopt = adopt
        self._fork_lock = fork_lock
        self._done_callback = done
        self.since: list[Change] = []  # changes taken while it ran: applied again before it is swapped in
        self.started = time.monotonic()
        self.pid = 0
        self._landing: Landing | None = None
        self._cancelled = False
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="full-build", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def landing(self) -> Landing:
        """What the child built (once :attr:`done`)."""
        assert self._landing is not None
        return self._landing

    def cancel(self) -> None:
        """Stop the child (and its own child) and remove the staging folder."""
        with self._fork_lock:
            self._cancelled = True
            pid = self.pid
        if pid:
            for kill in (os.killpg, os.kill):  # the group: the child and the helper it forked
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
        self._thread.join(timeout=5)  # (still planning: it will not fork now)
        if self._landing is not None:
            self._landing.discard()

    def _run(self) -> None:
        landing = Landing(None)
        try:
            landing.staged = self._snapshot()
            if not self._cancelled:
                self._start_and_wait(landing)
        except Exception as exc:  # a content or theme problem: reported where it is landed, the old site stays
            log.debug("background build failed", exc_info=True)
            landing.error = str(exc) or type(exc).__name__
        self._landing = landing
        self._finished.set()
        if not self._cancelled:
            self._done_callback()

    def _start_and_wait(self, landing: Landing) -> None:
        staging = landing.staged.staging
        staging.parent.mkdir(parents=True, exist_ok=True)
        # The result goes through a file: the child has exited before this process reads it, so the
        # two never hold it at once. It is read when the build is landed (:meth:`read_result`), after
        # the live trees it replaces are let go, so this process never holds both either.
        spill = tempfile.TemporaryFile(dir=staging.parent, prefix=f"{staging.name}.result-")
        kept = False
        try:
            with tempfile.TemporaryFile(dir=staging.parent, prefix=f"{staging.name}.job-") as job:
                _write_job(job, self._job(landing.staged))
                job.seek(0)
                texts = TEXTS.reader()
                try:
                    with self._fork_lock:
                        if self._cancelled:
                            return
                        process = _start_child(job.fileno(), spill.fileno(), texts)
                        self.pid = process.pid
                finally:
                    if texts >= 0:
                        os.close(texts)
            log.info("full build: rendering in process %d (snapshot of change %d)", process.pid, landing.staged.seq)
            status = process.wait()
            if self._cancelled:
                landing.error = "cancelled"
                return
            if status == _OTHER_CODE:
                landing.error = "the code on disk was replaced since this process started: restart it to build again"
                return
            if status != 0:
                landing.error = f"the build process ended without a result (status {status}); see the log above"
                return
            landing.error, landing.pages = _status(spill)
            if not landing.error:
                landing.result, kept = spill, True  # the trees, read when landed
        finally:
            if not kept:
                spill.close()

    def read_result(self) -> Landing:
        """Read the trees the child built into the landing's staged build (once :attr:`done`, built)."""
        landing = self.landing()
        assert landing.result is not None and landing.staged is not None
        with landing.result as result:
            landing.result = None
            result.seek(_HEADER.size)
            parts, end = [], _status_at(result)
            intranet = landing.staged.intranet
            posts = {p.relpath: p for p in intranet.posts}
            while result.tell() < end:  # (the trees' parts: the snapshot's posts, people and communities by name)
                parts.append(Named(result, posts, intranet).load())
        self._adopt(landing.staged, parts)
        return landing


_BOOT = (  # the build process's program: this process's import path, then :func:`child_main`
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from generator import background; background.child_main(sys.argv[2:])"
)
_OTHER_CODE = 3  # the build process's status when its code is not its parent's (:mod:`generator.codestamp`)


def _start_child(job: int, result: int, texts: int) -> subprocess.Popen[bytes]:
    """The build process: this interpreter, this process's import path and logging, in a process group
    of its own; given the job's, the result's and the texts' descriptors (-1: no texts spilled)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.formatter is not None and h.formatter._fmt), None)
    logs = {
        "level": root.level,
        "format": handler.formatter._fmt if handler and handler.formatter else None,
        "levels": {
            name: logger.level
            for name, logger in root.manager.loggerDict.items()
            if isinstance(logger, logging.Logger) and logger.level
        },
    }
    fds = (job, result, texts)
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _BOOT,
            json.dumps(sys.path),
            code_digest(),
            str(os.getpid()),
            *map(str, fds),
            json.dumps(logs),
        ],
        pass_fds=[fd for fd in fds if fd >= 0],
        stdin=subprocess.DEVNULL,
        process_group=0,  # its own group: stopping kills it and its helper, and Ctrl-C is not theirs
    )


def child_main(argv: list[str]) -> None:
    """The build process (:func:`_start_child`): read the job, render, write the result, and leave."""
    code, (parent, job_fd, result_fd, texts_fd), logs = argv[0], map(int, argv[1:5]), json.loads(argv[5])
    logging.basicConfig(level=logs["level"], format=logs["format"], stream=sys.stderr)
    for name, level in logs["levels"].items():
        logging.getLogger(name).setLevel(level)
    if code != code_digest():  # (what it would read and write may not be what the parent reads and writes)
        os._exit(_OTHER_CODE)
    status = 1
    try:
        die_with_parent(parent)
        os.nice(NICENESS)
        if texts_fd >= 0:
            TEXTS.attach(texts_fd)
        with os.fdopen(job_fd, "rb") as handle:
            job = _read_job(handle)
        gc.freeze()  # what it was given lives to the end: out of the helper's collections too (fewer pages copied)
        _hold()
        with os.fdopen(result_fd, "r+b") as spill:
            _write_result(spill, job)
        status = 0
    except BaseException:
        log.exception("the build process failed")
    finally:
        logging.shutdown()
        os._exit(status)


def _write_result(spill: IO[bytes], job: Any) -> None:
    """The result file: a header (where the status is), each tree's parts as they are done, then the
    status: whether it was built ("") or why not, and the pages written."""
    spill.write(_HEADER.pack(0))
    error, pages = "", 0
    intranet = job.staged.intranet
    posts = {p.relpath: p for p in intranet.posts}
    try:  # (each part a pickle of its own; the snapshot's posts, people and communities by name: both hold them)
        pages = job.render(lambda part: Naming(spill, posts, intranet).dump(part))
    except Exception as exc:
        log.debug("background build failed", exc_info=True)
        error = str(exc) or type(exc).__name__
    at = spill.tell()
    pickle.dump((error, pages), spill)
    spill.seek(0)
    spill.write(_HEADER.pack(at))
    spill.flush()


def _write_job(handle: IO[bytes], job: Any) -> None:
    """``job`` (its snapshot in ``job.staged.intranet``) for the build process: the posts first, each
    text as its reference (:func:`intranet.format.spill.by_reference`), then the job, which names them."""
    posts = job.staged.intranet.posts
    dump_posts(handle, posts, by_reference(Post))
    Naming(handle, {p.relpath: p for p in posts}).dump(job)


def _read_job(handle: IO[bytes]) -> Any:
    """What :func:`_write_job` wrote (in the build process, its texts' file attached)."""
    posts = {p.relpath: p for chunk in load_posts(handle) for p in chunk}
    return Named(handle, posts).load()


_HEADER = struct.Struct("<Q")  # where in the result file the status is (0: the child wrote none)


def _status_at(spill: IO[bytes]) -> int:
    """Where in ``spill`` the status is (0: the child wrote none); the file's position is kept."""
    position = spill.tell()
    spill.seek(0)
    header = spill.read(_HEADER.size)
    spill.seek(position)
    return _HEADER.unpack(header)[0] if len(header) == _HEADER.size else 0


def _status(spill: IO[bytes]) -> tuple[str, int]:
    """What the child wrote last in ``spill``: why it failed ("" if it did not), and the pages written."""
    at = _status_at(spill)
    if not at:
        return "the build process ended without a result; see the log above", 0
    spill.seek(at)
    error, pages = pickle.load(spill)  # noqa: S301 - our own child's
    return error, pages


def _hold() -> None:
    path = os.environ.get(HOLD_ENV)
    while path and os.path.exists(path):
        time.sleep(0.05)


def discard_later(path: Path) -> threading.Thread:
    """Remove a tree swapped out of the site, in a thread (100,000 files take a while), under a name of
    its own so that the next build can stage where it was."""
    aside = path.with_name(f"{path.name}.old-{time.monotonic_ns()}")
    os.rename(path, aside)
    thread = threading.Thread(target=shutil.rmtree, args=(aside,), kwargs={"ignore_errors": True}, daemon=True)
    thread.start()
    return thread


def discard_leftovers(site_dir: Path) -> None:
    """Remove, in threads, what a process that stopped abruptly left beside the site: trees swapped out
    but not yet removed, and staging folders of build processes that no longer run."""
    for path in site_dir.parent.glob(f".{site_dir.name}.building-*"):  # building-PID-N[.result-X|.old-X]
        pid = path.name.split(".building-", 1)[1].split("-", 1)[0].split(".", 1)[0]
        if ".old-" not in path.name and (not pid.isdigit() or alive(int(pid))):
            continue
        with contextlib.suppress(OSError):
            log.info("removing %s, left by an earlier run", path.name)
            if path.is_dir():
                discard_later(path)
            else:  # a build's result file
                path.unlink()
