"""The site in ``intranet up``: build, serve one tree, and follow the model's changes.

:class:`SiteService` builds every tree from the process's model, serves one
tree over HTTP, and hands each :class:`~intranet.model.Change` of the model to
the :class:`~generator.builder.Builder` in a thread of its own
(:class:`Rebuilder`): new posts update the pages that show them within a
fraction of a second; other changes rebuild every tree beside the site and
swap it in. A failed build or update keeps the last good site, is logged, and
is tried again as a full build after a pause, even if nothing else changes.
"""

from __future__ import annotations

import functools
import http.server
import logging
import threading
from pathlib import Path

from intranet.model import Change, Model
from intranet.progress import Progress

from .build import summary
from .builder import Builder, BuildError

log = logging.getLogger("intranet.up")

RETRY_SECONDS = (5.0, 300.0)  # first and longest pause before a failed update is tried again as a full build


class Rebuilder:
    """Takes the model's changes and brings the site up to date, one run at a time, in a thread."""

    def __init__(self, builder: Builder, quiet_period: float = 0.05) -> None:
        self.builder = builder
        self.quiet_period = quiet_period
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        self._retry_in = 0.0  # seconds until a failed site is built again (0: nothing failed)
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="rebuilder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def take(self, change: Change) -> None:
        """The model changed (called in the applying thread: only queue it)."""
        with self._lock:
            self._changes.append(change)
        self._changed.set()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            woke = self._changed.wait(self._retry_in or None)
            if self._stop.is_set():
                return
            # A short quiet moment so a burst of changes makes one run.
            while True:
                self._changed.clear()
                if self._stop.wait(self.quiet_period) or not self._changed.is_set():
                    break
            if self._stop.is_set():
                return
            with self._lock:
                changes, self._changes = self._changes, []
            if changes or not woke:
                self._bring_up_to_date(changes)

    def _bring_up_to_date(self, changes: list[Change]) -> None:
        try:
            if self._retry_in:
                self.builder.build()
                done = "rebuilt"
            else:
                done = self.builder.apply(merged(changes)) if changes else "nothing"
        except Exception as exc:
            if isinstance(exc, BuildError):
                log.error("build failed, the last good site stays: %s", exc)
            else:
                log.exception("update failed; the last good site stays")
            self.builder.states = []  # whatever it knew may be half done: the next run is a full build
            self._retry_in = min(RETRY_SECONDS[1], max(RETRY_SECONDS[0], self._retry_in * 2))
            log.info("the site is built again in %.0f s, or at the next change", self._retry_in)
            return
        self._retry_in = 0.0
        if done != "nothing":
            self.builds += 1
            log.info("%s: %d change(s)", done, len(changes))


def merged(changes: list[Change]) -> Change:
    """Several changes of the model as one: each post's state before the first and after the last."""
    result = Change(max(c.seq for c in changes))
    for change in sorted(changes, key=lambda c: c.seq):
        for slug, pairs in change.posts.items():
            into = result.posts.setdefault(slug, {})
            for relpath, (before, after) in pairs.items():
                into[relpath] = (into[relpath][0] if relpath in into else before, after)
        result.forced |= change.forced
        result.structure += [p for p in change.structure if p not in result.structure]
    return result


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
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


class SiteService:
    """Builds the trees, serves ``audience``'s tree on ``http_address``, and follows ``model``.

    This is the demo and development server: it serves one tree to whoever asks. In production
    a web server with single sign-on picks each reader's tree (docs/deployment.md).
    """

    def __init__(
        self, root: Path, site: Path | None, http_address: tuple[str, int], audience: str, model: Model
    ) -> None:
        self.site_dir = Path(site).resolve() if site else root / "site"
        self.http_address = http_address
        self.audience = audience
        self.builder = Builder(root, self.site_dir, model)
        self.rebuilder = Rebuilder(self.builder)
        model.subscribe(self.rebuilder.take)  # before the first build: no change falls between
        self.server: http.server.ThreadingHTTPServer | None = None
        self._serving: threading.Thread | None = None

    def start(self) -> list[str]:
        self._first_build()
        tree = self.site_dir / self.audience
        if not tree.is_dir():
            trees = sorted(p.name for p in self.site_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            raise RuntimeError(f"no tree {self.audience!r} in {self.site_dir}; there are: {', '.join(trees)}")
        try:
            self.server = make_server(tree, self.http_address)
        except OSError as exc:
            raise RuntimeError(f"cannot serve on {self.http_address[0]}:{self.http_address[1]}: {exc}") from None
        self.rebuilder.start()
        self._serving = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.25}, name="http", daemon=True
        )
        self._serving.start()
        host, port = self.http_address[0], self.server.server_address[1]
        log.info("serving %s on http://%s:%d/", tree, host, port)
        return [f"the site on http://{host}:{port}/ ({self.audience})"]

    def _first_build(self) -> None:
        progress = Progress("Rendering pages")
        try:
            result = self.builder.build(progress=progress.update)
            log.info("built: %s", summary(result))
        except BuildError as exc:
            log.error("build failed: %s", exc)
            if not self.site_dir.is_dir():
                raise RuntimeError(f"the site cannot be built and there is none to serve: {exc}") from None
            self.rebuilder.take(Change(0))  # try again once the rebuilder runs
        finally:
            progress.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.rebuilder.stop()
        self.builder.close()
