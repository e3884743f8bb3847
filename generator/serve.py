"""``intranet up``: build, serve the site, keep it up to date.

Changes are noticed with watchdog on ``communities/``, ``people/`` and
``mkdocs.yml`` (an editor saving a file, a ``git pull`` or a commit that
touches the work tree, the gateway writing a post). The paths of a burst of
changes go to the :class:`~generator.builder.Builder` together: new posts
update the pages that show them within a fraction of a second; other changes
rebuild every tree beside the site and swap it in. A failed build keeps the
last good site and is logged.
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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

from intranet.progress import Progress

from .build import summary
from .builder import Builder, BuildError

log = logging.getLogger("intranet.up")

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


class Rebuilder:
    """Collects changed paths and brings the site up to date, one run at a time, in a thread."""

    def __init__(self, builder: Builder, quiet_period: float = 0.05) -> None:
        self.builder = builder
        self.quiet_period = quiet_period
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="rebuilder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self, paths: Iterable[str] = ()) -> None:
        """Note changed ``paths`` (relative to the root); with none, just look again soon."""
        with self._lock:
            self._paths.update(paths)
        self._changed.set()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.wait()
            if self._stop.is_set():
                return
            # A short quiet moment so a burst of saves (a post and its attachments) makes one run.
            while True:
                self._changed.clear()
                if self._stop.wait(self.quiet_period) or not self._changed.is_set():
                    break
            if self._stop.is_set():
                return
            with self._lock:
                paths, self._paths = self._paths, set()
            if not paths:
                continue
            try:
                done = self.builder.update(paths)
            except BuildError as exc:
                log.error("build failed, the last good site stays: %s", exc)
                continue
            except Exception:  # noqa: BLE001 - the server must keep serving; say what broke
                log.exception("update failed; the last good site stays, and the next change rebuilds it")
                self.builder.states = []
                continue
            if done != "nothing":
                self.builds += 1
                log.info("%s: %d changed path(s)", done, len(paths))


class _ChangeHandler(FileSystemEventHandler):
    def __init__(self, root: Path, rebuilder: Rebuilder) -> None:
        self.root = str(root)
        self.watched = tuple(os.path.join(self.root, name) for name in WATCHED)
        self.rebuilder = rebuilder

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "modified"):
            return  # a write is seen when the file is closed
        paths = [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")]
        changed = [os.path.relpath(p, self.root) for p in paths if p and p.startswith(self.watched)]
        if changed:
            log.debug("change: %s %s", event.event_type, changed)
            self.rebuilder.notify(changed)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("http: " + format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code == 404 and page.is_file():
            body = page.read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        super().send_error(code, message, explain)

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def make_server(site: Path, address: tuple[str, int]) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(address, handler)
    server.daemon_threads = True
    return server


def run_up(
    root: Path,
    site: Path | None,
    http_address: tuple[str, int],
    services: Sequence[tuple[Any, Any]] = (),
    audience: str = "staff",
) -> int:
    """Build, serve ``audience``'s tree and keep it up to date; ``services`` are (plugin, args) pairs run alongside.

    This is the demo and development server: it serves one tree to whoever
    asks. In production a web server with single sign-on picks each reader's
    tree (docs/deployment.md).
    """
    root = Path(root).resolve()
    site_dir = Path(site).resolve() if site else root / "site"
    builder = Builder(root, site_dir)
    try:
        progress = Progress("Rendering pages")
        try:
            result = builder.build(progress=progress.update)
        finally:
            progress.close()
        log.info("built: %s", summary(result))
    except BuildError as exc:
        log.error("build failed: %s", exc)
        if not site_dir.is_dir():
            builder.close()
            return 1
    tree = site_dir / audience
    if not tree.is_dir():
        trees = sorted(p.name for p in site_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        log.error("no tree %r in %s; there are: %s", audience, site_dir, ", ".join(trees))
        builder.close()
        return 1
    try:
        server = make_server(tree, http_address)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", http_address[0], http_address[1], exc)
        builder.close()
        return 1
    rebuilder = Rebuilder(builder)
    rebuilder.start()
    running = []
    try:
        for plugin, args in services:
            service = plugin.up_service(args, root, rebuilder.notify)
            if service is not None:
                for line in service.start():
                    log.info("started %s", line)
                running.append(service)
    except Exception as exc:  # noqa: BLE001 - say why and stop cleanly
        log.error("could not start: %s", exc)
        for service in running:
            service.stop()
        rebuilder.stop()
        server.server_close()
        builder.close()
        return 1
    observer = Observer()
    handler = _ChangeHandler(root, rebuilder)
    for name in WATCHED:
        path = root / name
        if path.is_dir():
            observer.schedule(handler, str(path), recursive=True, event_filter=WRITES)
    observer.schedule(handler, str(root), recursive=False, event_filter=WRITES)  # mkdocs.yml
    observer.start()
    host, port = server.server_address[:2]
    log.info("serving %s on http://%s:%d/ (Ctrl-C to stop)", tree, host, port)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        for service in running:
            service.stop()
        observer.stop()
        rebuilder.stop()
        server.server_close()
        observer.join(timeout=5)
        builder.close()
    return 0
