"""The files' writes, as paths for the model (``intranet up`` on a folder that is not a Git work tree).

Changes are noticed with watchdog on ``communities/``, ``people/`` and
``mkdocs.yml`` (an editor saving a file, a ``git pull`` or checkout, the
gateway writing a post). A burst of changes is handed to
:meth:`intranet.model.Model.apply` together, after a short quiet moment; the
model tells its subscribers (the site) what changed.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from .model import Model

log = logging.getLogger("intranet.watch")

WATCHED = ("communities", "people", "mkdocs.yml")
# Only what writes: a file closed after writing, created, moved or deleted. Reads (the gateway indexing
# 100,000 posts) would otherwise flood inotify's queue.
WRITES: list[type[FileSystemEvent]] = [
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class Watcher(FileSystemEventHandler):
    """Feeds the paths written under the root to ``model``, a burst at a time, from a thread of its own."""

    def __init__(self, root: Path, model: Model, quiet_period: float = 0.05) -> None:
        self.root = str(root)
        self.watched = tuple(os.path.join(self.root, name) for name in WATCHED)
        self.model = model
        self.quiet_period = quiet_period
        self._paths: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self._observer = Observer()

    def start(self) -> list[str]:
        for name in WATCHED:
            path = Path(self.root) / name
            if path.is_dir():
                self._observer.schedule(self, str(path), recursive=True, event_filter=WRITES)
        self._observer.schedule(self, self.root, recursive=False, event_filter=WRITES)  # mkdocs.yml
        self._observer.start()
        self._thread.start()
        return []

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "modified"):
            return  # a write is seen when the file is closed
        paths = [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")]
        changed = [os.path.relpath(p, self.root) for p in paths if p and p.startswith(self.watched)]
        if changed:
            log.debug("change: %s %s", event.event_type, changed)
            with self._lock:
                self._paths.update(changed)
            self._changed.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.wait()
            # A short quiet moment so a burst of saves (a post and its attachments) makes one change.
            while not self._stop.is_set():
                self._changed.clear()
                if self._stop.wait(self.quiet_period) or not self._changed.is_set():
                    break
            with self._lock:
                paths, self._paths = self._paths, set()
            if paths and not self._stop.is_set():
                try:
                    self.model.apply(paths)
                except Exception:
                    log.exception("reading %d changed path(s) failed", len(paths))
