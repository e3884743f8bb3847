"""``intranet up``: build, serve the site, rebuild when content changes.

Changes are noticed with watchdog on ``communities/``, ``people/`` and
``mkdocs.yml`` (an editor saving a file, a ``git pull`` or a commit that
touches the work tree). Bursts of changes coalesce into one rebuild; a
failed rebuild keeps the last good site and is logged.
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .build import run_build, summary, timed_build

log = logging.getLogger("intranet.up")

WATCHED = ("communities", "people", "mkdocs.yml")


class Rebuilder:
    """Coalesces change notices and runs one build at a time in a thread."""

    def __init__(self, root: Path, site: Path | None, quiet_period: float = 0.25) -> None:
        self.root = root
        self.site = site
        self.quiet_period = quiet_period
        self._changed = threading.Event()
        self._stop = threading.Event()
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="rebuilder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._changed.set()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.wait()
            if self._stop.is_set():
                return
            # Wait for a quiet moment so a burst of saves makes one build.
            while True:
                self._changed.clear()
                if self._stop.wait(self.quiet_period) or not self._changed.is_set():
                    break
            if self._stop.is_set():
                return
            result, seconds = timed_build(self.root, self.site)
            self.builds += 1
            if result is not None:
                log.info("rebuilt: %s", summary(result))


class _ChangeHandler(FileSystemEventHandler):
    def __init__(self, root: Path, rebuilder: Rebuilder) -> None:
        self.watched = tuple(str(root / name) for name in WATCHED)
        self.rebuilder = rebuilder

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")]
        if any(p.startswith(self.watched) for p in paths if p):
            log.debug("change: %s %s", event.event_type, event.src_path)
            self.rebuilder.notify()


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
    """Build, serve ``audience``'s tree and rebuild; ``services`` are (plugin, args) pairs run alongside.

    This is the demo and development server: it serves one tree to whoever
    asks. In production a web server with single sign-on picks each reader's
    tree (docs/deployment.md).
    """
    root = Path(root).resolve()
    site_dir = Path(site).resolve() if site else root / "site"
    if run_build(root, site_dir) is None and not site_dir.is_dir():
        return 1
    tree = site_dir / audience
    if not tree.is_dir():
        trees = sorted(p.name for p in site_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        log.error("no tree %r in %s; there are: %s", audience, site_dir, ", ".join(trees))
        return 1
    try:
        server = make_server(tree, http_address)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", http_address[0], http_address[1], exc)
        return 1
    rebuilder = Rebuilder(root, site_dir)
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
        return 1
    observer = Observer()
    handler = _ChangeHandler(root, rebuilder)
    for name in WATCHED:
        path = root / name
        if path.is_dir():
            observer.schedule(handler, str(path), recursive=True)
    observer.schedule(handler, str(root), recursive=False)  # mkdocs.yml
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
    return 0
