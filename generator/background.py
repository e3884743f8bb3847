"""A full build in a child process, while this process goes on updating the live trees.

``intranet up`` builds every tree again after an edit of ``people/``, of
``mkdocs.yml``, of a community, and once at every start. :class:`BackgroundBuild`
does it away from the thread that applies new posts:

1. a thread of this process takes a snapshot of the model
   (:meth:`generator.builder.Builder.snapshot_build`);
2. it forks a child (in a process group of its own, at a lower priority) that,
   one tree at a time, plans the tree (topics, tags, people), renders every
   page into the staging folder on both cores (the child forks once more, as
   ``intranet build`` does), writes what this process needs to go on from
   that tree into the result file (its plan without the posts, which both
   hold, digests, pages, attachments and search index) and lets the tree go
   before the next: the child holds one tree's plan at a time, not all of
   them (issue #14: 1 GB for the whole process tree at 100,000 posts);
3. the thread that applies changes lands it when it has a moment
   (:meth:`generator.builder.Builder.land`): it lets the live trees go, reads
   the child's result in their place (:meth:`BackgroundBuild.read_result`),
   applies the changes that came after the snapshot to those trees, and swaps
   them in. The live trees and the new ones are never held at once: at
   100,000 posts each set is some 350 MB.

The parent meanwhile applies new posts to the live trees, first. Stopping kills
the child's process group and removes the staging folder: the last good site
stays.

For tests only: with ``INTRANET_TEST_HOLD_BUILD`` naming a file, the child
waits while that file exists before it renders (a build that is observably
under way; what it builds is not changed).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import pickle
import shutil
import signal
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from intranet.format import Community, Intranet, Person, Post
from intranet.model import Change
from intranet.processes import alive, close_inherited_channels

log = logging.getLogger(__name__)

HOLD_ENV = "INTRANET_TEST_HOLD_BUILD"
NICENESS = 10  # the child yields the cores to new mail
_PR_SET_PDEATHSIG = 1


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

    ``snapshot`` runs in this process (a thread of its own) and returns the staged build; ``render``
    runs in the child, plans and renders it, and returns ``(trees, pages)``; ``adopt`` takes those
    trees here (in the build's thread); ``fork_lock`` is held while forking (the thread that renders
    updates holds it, so no template cache is caught half-written); ``done`` is called from the
    build's thread when there is something to land.
    """

    def __init__(
        self,
        snapshot: Callable[[], Any],
        render: Callable[[Any, Callable[[Any], None]], int],
        adopt: Callable[[Any, list[Any]], None],
        fork_lock: threading.Lock,
        done: Callable[[], None],
    ) -> None:
        self._snapshot = snapshot
        self._render = render
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
                self._fork_and_wait(landing)
        except Exception as exc:  # a content or theme problem: reported where it is landed, the old site stays
            log.debug("background build failed", exc_info=True)
            landing.error = str(exc) or type(exc).__name__
        self._landing = landing
        self._finished.set()
        if not self._cancelled:
            self._done_callback()

    def _fork_and_wait(self, landing: Landing) -> None:
        staging = landing.staged.staging
        staging.parent.mkdir(parents=True, exist_ok=True)
        # The result goes through a file: the child has exited before this process reads it, so the
        # two never hold it at once. It is read when the build is landed (:meth:`read_result`), after
        # the live trees it replaces are let go, so this process never holds both either.
        spill = tempfile.TemporaryFile(dir=staging.parent, prefix=f"{staging.name}.result-")
        kept = False
        try:
            with self._fork_lock:
                if self._cancelled:
                    return
                pid = os.fork()
                if pid == 0:
                    self._child(landing.staged, spill)  # never returns
                with contextlib.suppress(OSError):
                    os.setpgid(pid, pid)  # (the child does it too: whichever comes first)
                self.pid = pid
            log.info("full build: rendering in process %d (snapshot of change %d)", pid, landing.staged.seq)
            _, status = os.waitpid(pid, 0)
            if self._cancelled:
                landing.error = "cancelled"
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
            while result.tell() < end:
                parts.append(_Unpickler(result, landing.staged.intranet).load())
        self._adopt(landing.staged, parts)
        return landing

    def _child(self, staged: Any, spill: IO[bytes]) -> None:
        """In the child: render, write the result, and leave without running the parent's cleanup."""
        status = 1
        try:
            close_inherited_channels()  # (a thread here may be starting a program: not the child's to hold)
            os.setpgid(0, 0)  # its own group: stopping kills it and its helper, and Ctrl-C is not theirs
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            _die_with_parent()
            gc.freeze()  # leave the parent's objects alone: fewer pages copied
            os.nice(NICENESS)
            _hold()
            # The file: a header (where the status is), each tree's parts as they are done, then the status:
            # whether it was built ("") or why not, and the pages written. Read as soon as the child ends.
            spill.write(_HEADER.pack(0))
            error, pages = "", 0
            try:
                pages = self._render(staged, lambda part: _Pickler(spill, staged.intranet).dump(part))
            except Exception as exc:
                log.debug("background build failed", exc_info=True)
                error = str(exc) or type(exc).__name__
            at = spill.tell()
            pickle.dump((error, pages), spill)
            spill.seek(0)
            spill.write(_HEADER.pack(at))
            spill.flush()
            status = 0
        except BaseException:
            log.exception("the build process failed")
        finally:
            os._exit(status)


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


class _Pickler(pickle.Pickler):
    """Pickles the planned trees without the snapshot's posts, people and communities: both processes
    hold those already, so only their names travel (``intranet``: the snapshot)."""

    def __init__(self, file: IO[bytes], intranet: Intranet) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._posts = {p.relpath: p for p in intranet.posts}
        self._intranet = intranet

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if isinstance(obj, Post) and self._posts.get(obj.relpath) is obj:
            return ("post", obj.relpath)
        if isinstance(obj, Person) and self._intranet.people.get(obj.handle) is obj:
            return ("person", obj.handle)
        if isinstance(obj, Community) and self._intranet.communities.get(obj.slug) is obj:
            return ("community", obj.slug)
        return None


class _Unpickler(pickle.Unpickler):
    """Reads what :class:`_Pickler` wrote, with this process's objects of the same snapshot."""

    def __init__(self, file: IO[bytes], intranet: Intranet) -> None:
        super().__init__(file)
        self._posts = {p.relpath: p for p in intranet.posts}
        self._intranet = intranet

    def persistent_load(self, pid: Any) -> Any:
        kind, key = pid
        if kind == "post":
            return self._posts[key]
        if kind == "person":
            return self._intranet.people[key]
        if kind == "community":
            return self._intranet.communities[key]
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")


def _die_with_parent() -> None:
    """Linux: the child is killed if this process dies without stopping it (no orphaned build).

    (The signal comes when the thread that forked ends: that thread waits for the child, so only
    if the whole process goes.)
    """
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


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
