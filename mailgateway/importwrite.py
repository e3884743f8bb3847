"""The writing half of `intranet import`: post files and their blobs, in a process of its own.

The importing process decides what each post says (its thread), then hands its bytes here in
order. A process forked when the import starts makes the folders, writes each file whole or not
at all (a temporary file, renamed: a post file on disk is a complete post, whenever the import is
stopped) and puts its blob into the batch's pack (see :mod:`mailgateway.gitpack`). When a batch
ends it finishes that pack, syncs the disk, and answers with the blob of each file; only then is
the batch committed. So the importing process, which every message goes through, spends no time
on the file system and the compression; it goes on threading while the files are written.

Where no process can be forked (one core, or a process with other threads), :class:`Files` does
the same work in the importing process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from intranet.processes import die_with_parent

from .gitpack import BlobPack
from .importjobs import _widen
from .store import LooseBlobs, Store

log = logging.getLogger(__name__)

End = tuple[int, bytes] | None  # the compressed end of a file's blob, made by a worker (see BlobPack.add)
Write = tuple[str, bytes, End]  # a file's path, its bytes, the end of its blob
SEND_EVERY = 64  # files handed to the writing process at a time
_END = "end"  # a batch ends: finish its pack, sync, answer with its blobs
_STOP = "stop"  # the import is over (or failed): drop an unfinished pack, end the process


class Files:
    """Writes files and their blobs, a batch at a time, in this process."""

    def __init__(self, store: Store, tmp_file: str) -> None:
        self.store = store
        self.tmp_file = tmp_file  # each file is written here, then renamed
        self.folders: set[str] = set()  # folders known to exist
        self.pack: BlobPack | LooseBlobs | None = None
        self.blobs: dict[str, str] = {}  # files of the batch -> their blobs

    def write(self, path: str, data: bytes, end: End = None) -> None:
        folder = path.rpartition("/")[0]
        if folder not in self.folders:
            os.makedirs(folder, exist_ok=True)
            self.folders.add(folder)
        _write_file(path, data, self.tmp_file)
        if self.pack is None:
            self.pack = self.store.blob_writer()
        if end is not None and isinstance(self.pack, BlobPack):
            self.blobs[path] = self.pack.add(data, end)
        else:
            self.blobs[path] = self.pack.add(data)

    def end_batch(self) -> Callable[[], dict[str, str]]:
        """End the batch (its pack finished); what to call for its blobs, once on the disk (it syncs)."""
        blobs, self.blobs = self.blobs, {}
        if self.pack is not None:
            self.pack.close()
        self.pack = self.store.blob_writer()  # the next batch's, made while the store is this thread's

        def synced() -> dict[str, str]:
            os.sync()  # the posts and their blobs reach the disk before the commit that names them
            return blobs

        return synced

    def packs(self) -> bool:
        """Whether blobs go into packs, after :meth:`end_batch` (else through the store, which a thread
        that commits must then not share)."""
        return isinstance(self.pack, BlobPack)

    def close(self) -> None:
        """Drop an unfinished pack (its blobs are named by no commit)."""
        if self.pack is not None:
            self.pack.abandon()
            self.pack = None


class FilesProcess:
    """:class:`Files`' interface, the work done by a process forked now (see the module)."""

    def __init__(self, root: Path, tmp_file: str) -> None:
        fork = multiprocessing.get_context("fork")
        their_writes, self.writes = fork.Pipe(duplex=False)
        self.answers, their_answers = fork.Pipe(duplex=False)
        _widen(self.writes)
        mine = [self.writes, self.answers]
        self.process = fork.Process(
            target=_serve, args=(root, tmp_file, their_writes, their_answers, mine, os.getpid()), daemon=True
        )
        self.process.start()
        their_writes.close()
        their_answers.close()
        self.unsent: list[Write] = []

    def write(self, path: str, data: bytes, end: End = None) -> None:
        self.unsent.append((path, data, end))
        if len(self.unsent) >= SEND_EVERY:
            self._send(self.unsent)
            self.unsent = []

    def end_batch(self) -> Callable[[], dict[str, str]]:
        """Hand over what is left of the batch and its end; what to call (once, from any one thread,
        while this one goes on writing) for its blobs, when the process has them on the disk."""
        self.unsent.append((_END, b"", None))
        self._send(self.unsent)
        self.unsent = []
        return self._answer

    def packs(self) -> bool:
        return True  # (the store the process writes loose blobs with is its own)

    def _send(self, writes: list[Write]) -> None:
        try:
            self.writes.send(writes)
        except OSError:
            raise RuntimeError(f"import writer process {self.process.pid} ended unexpectedly") from None

    def _answer(self) -> dict[str, str]:
        try:
            blobs, error = self.answers.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"import writer process {self.process.pid} ended unexpectedly") from None
        if error:
            raise RuntimeError(f"import writer process {self.process.pid} failed:\n{error}")
        return blobs  # type: ignore[no-any-return]

    def close(self) -> None:
        """Let the process end once it has written what it was given (an unfinished pack is dropped)."""
        try:
            self.writes.send([*self.unsent, (_STOP, b"", None)])
        except OSError:  # it has gone already
            self.process.terminate()
        self.process.join()
        self.writes.close()
        self.answers.close()


def files_for(store: Store, root: Path, tmp_file: str) -> Files | FilesProcess:
    """A process of their own for the files when one can be forked safely, else this one."""
    if (os.cpu_count() or 1) < 2 or threading.active_count() > 1:  # forking a process with threads is not safe
        return Files(store, tmp_file)
    return FilesProcess(root, tmp_file)


def _serve(
    root: Path, tmp_file: str, writes: Connection, answers: Connection, inherited: list[Connection], parent: int
) -> None:
    """The writing process: write what comes, answer each batch's end, until told to stop. A thread
    takes what comes off the pipe at once, so the importing process never waits for a slow disk."""
    die_with_parent(parent)
    for conn in inherited:  # the importing process's ends, as this one was forked
        conn.close()
    inbox: queue.SimpleQueue[list[Write] | None] = queue.SimpleQueue()
    threading.Thread(target=_receive_all, args=(writes, inbox), daemon=True).start()
    files = Files(Store(root), tmp_file)  # (a repository of its own, opened here)
    error = ""
    try:
        while (got := inbox.get()) is not None:  # (None: the importing process has gone)
            for path, data, end in got:
                if path == _STOP:
                    return
                if path == _END:
                    answer, error = _ended(files, error)
                    answers.send(answer)
                elif not error:
                    try:
                        files.write(path, data, end)
                    except Exception:  # noqa: BLE001 - sent back at the batch's end: the import raises it
                        error = traceback.format_exc()
    except (OSError, KeyboardInterrupt):  # the importing process has gone, or is stopping
        pass
    finally:
        files.close()


def _ended(files: Files, error: str) -> tuple[tuple[dict[str, str], str], str]:
    """The answer to a batch's end (its blobs, or what failed), and what has failed so far."""
    if not error:
        try:
            return (files.end_batch()(), ""), ""
        except Exception:  # noqa: BLE001 - sent back: the import raises it
            error = traceback.format_exc()
    return ({}, error), error


def _receive_all(writes: Connection, inbox: queue.SimpleQueue[list[Write] | None]) -> None:
    try:
        while True:
            inbox.put(writes.recv())
    except (EOFError, OSError):
        inbox.put(None)


def _write_file(path: str, data: bytes, tmp: str) -> None:
    """Write whole or not at all (the temporary file ``tmp`` renamed); fsync comes once per commit."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)
