"""The site in ``intranet up``: serve one tree at once, build behind it, and follow the model's changes.

:class:`SiteService` serves one tree over HTTP from the moment ``intranet up``
starts: the last site built, or a small "being built" page (HTTP 503 with
``Retry-After``) on a first start. It hands each
:class:`~intranet.model.Change` of the model to the
:class:`~generator.builder.Builder` in a thread of its own (:class:`Rebuilder`):
new posts update the pages that show them within a fraction of a second; a
catch-up build at start, and a full build after other changes, run in a child
process (:mod:`generator.background`) while new posts go on updating the live
trees, and the new trees are swapped in, with every change after their
snapshot, when ready. A failed build or update keeps the last good site, is
logged, and is tried again as a full build after a pause, even if nothing else
changes.
"""

from __future__ import annotations

import functools
import http.server
import io
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from intranet.model import Change, Model
from intranet.settings import read_settings

from .audiences import plan_trees
from .background import discard_leftovers
from .backlog import Backlog
from .builder import FULL_BUILD_ABOVE, Builder, BuildError
from .resume import resume_trees, save_trees

log = logging.getLogger("intranet.up")

RETRY_AFTER = 10  # seconds, in the 503 answer while the first build is under way
BEING_BUILT = (
    b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Being built</title>'
    b'<meta http-equiv="refresh" content="10"></head>\n'
    b"<body><h1>The intranet is being built</h1><p>Mail sent to it meanwhile is kept and shows when it is "
    b"ready. This page looks again every 10 seconds.</p></body></html>\n"
)
RETRY_SECONDS = (5.0, 300.0)  # first and longest pause before a failed update is tried again as a full build


class Rebuilder:
    """Takes the model's changes and brings the site up to date, one run at a time, in a thread.

    With a builder that builds in the background (``intranet up``), it first waits for the model's
    posts and starts the catch-up build; new posts are applied to the live trees first, and a
    finished full build is landed (brought up to date and swapped in) in between.
    """

    def __init__(self, builder: Builder, quiet_period: float = 0.05) -> None:
        self.builder = builder
        self.quiet_period = quiet_period
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        self.backlog = Backlog(whole_above=FULL_BUILD_ABOVE)  # new mail first; an editor's big commit in parts
        self._retry_in = 0.0  # seconds between a failure and the next full build (0: nothing failed)
        self._retry_at = 0.0  # when (time.monotonic) that build is due
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="rebuilder", daemon=True)
        builder.on_built = self._changed.set

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
        if self.builder.background:
            while not self.builder.model.wait_loaded(0.2):
                if self._stop.is_set():
                    return
            if self._resume() is None:
                log.info("catching up: a full build runs in the background; the last site is served meanwhile")
                self._bring_up_to_date([], rebuild=True)
        while not self._stop.is_set():
            if not self.backlog and not self.builder.deferred:
                self._changed.wait(max(0.0, self._retry_at - time.monotonic()) if self._retry_at else None)
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
            due = bool(self._retry_at) and time.monotonic() >= self._retry_at
            if changes or due or self.builder.landable or self.backlog or self.builder.deferred:
                self._bring_up_to_date(changes, rebuild=due)

    def _resume(self) -> str | None:
        """Take back the trees saved at the last clean stop (:mod:`generator.resume`); None: a full build is due."""
        try:
            done = resume_trees(self.builder)
        except Exception:
            log.exception("the trees saved at the last stop could not be taken back: a full build")
            self.builder.states = []
            return None
        if done is not None:
            log.info("resumed: %s", done)
        return done

    def save(self) -> None:
        """At a clean stop, once the thread is done: save the trees for the next start."""
        if self._thread.is_alive():
            return
        try:
            while self.builder.deferred:  # (the pages that wait: none wait in saved trees)
                self.builder.render_deferred()
            path = save_trees(self.builder)
        except Exception:
            log.exception("the trees could not be saved: the next start makes a full build")
            return
        if path is not None:
            log.info("saved the trees' state for the next start: %s", path)

    def _mail_waits(self) -> bool:
        with self._lock:
            return bool(self._changes)

    def _take_turn(self, changes: list[Change]) -> str:
        """New mail first, then a part of a big change and a part of the pages that wait, if any wait and
        no newer change came meanwhile (it goes first, at the next turn)."""
        done = "nothing"
        self.backlog.whole_above = self.builder.full_build_above
        now = self.backlog.add(changes)
        if now is not None:
            done = self.builder.apply(now)
        part = self.backlog.next_part() if not self._mail_waits() else None
        if part is not None:
            parted = self.builder.apply(part)
            done = parted if parted != "nothing" else done
            log.info("%d post(s) of a big change applied, %d wait", part.post_count, self.backlog.waiting_posts)
        if self.builder.deferred and not self._mail_waits():
            rendered = self.builder.render_deferred()
            done = "updated" if done == "nothing" else done
            log.info("%d page(s) that waited rendered, %d wait", rendered, len(self.builder.deferred))
        return done

    def _bring_up_to_date(self, changes: list[Change], rebuild: bool = False) -> None:
        done = "nothing"
        try:
            again = bool(self._retry_at) and not self.builder.background  # a full build covers the changes too
            if again:
                self.backlog.waiting = self.backlog.overflow = None  # (the model has them all)
            else:
                done = self._take_turn(changes)
            if rebuild or again:
                self._retry_at = 0.0
                done = self.builder.rebuild()
            if self.builder.landable:
                done = self.builder.land()
        except Exception as exc:
            if isinstance(exc, BuildError):
                log.error("build failed, the last good site stays: %s", exc)
            else:
                log.exception("update failed; the last good site stays")
            if not self.builder.background:
                self.builder.states = []  # whatever it knew may be half done: the next run is a full build
            self._retry_in = min(RETRY_SECONDS[1], max(RETRY_SECONDS[0], self._retry_in * 2))
            self._retry_at = time.monotonic() + self._retry_in
            log.info("the site is built again in %.0f s, or at the next change", self._retry_in)
            return
        if done in ("rebuilt", "updated"):
            self._retry_in = self._retry_at = 0.0
        if done not in ("nothing", "rebuilding"):
            self.builds += 1
            log.info("%s: %d change(s)", done, len(changes))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: " + format, *args)

    def send_head(self) -> Any:
        if os.path.isdir(self.directory):
            return super().send_head()
        self.send_response(503)  # no tree yet: the first build is under way
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(BEING_BUILT)))
        self.send_header("Retry-After", str(RETRY_AFTER))
        self.end_headers()
        return io.BytesIO(BEING_BUILT)

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
    """Serves ``audience``'s tree on ``http_address`` at once, and builds and follows ``model`` behind it.

    The last site built is served from the start (or, on a first start, a page saying the intranet
    is being built, with HTTP 503); the catch-up build and every later full build run in a child
    process, and the new trees are swapped in when ready. This is the demo and development server:
    it serves one tree to whoever asks. In production a web server with single sign-on picks each
    reader's tree (docs/deployment.md).
    """

    def __init__(
        self, root: Path, site: Path | None, http_address: tuple[str, int], audience: str, model: Model
    ) -> None:
        self.site_dir = Path(site).resolve() if site else root / "site"
        self.http_address = http_address
        self.audience = audience
        self.model = model
        # The content is the model's (with a remote, the gateway's checkout); the site and secret the root's.
        self.builder = Builder(model.root, self.site_dir, model, background=True)
        self.builder.secret_dir = root / read_settings(root).state_dir
        self.rebuilder = Rebuilder(self.builder)
        model.subscribe(self.rebuilder.take)  # before the first build: no change falls between
        self.server: http.server.ThreadingHTTPServer | None = None
        self._serving: threading.Thread | None = None

    def start(self) -> list[str]:
        trees = [t.name for t in plan_trees(self.model.snapshot()[0])]  # who reads what: communities and people
        if self.audience not in trees:
            raise RuntimeError(f"no tree {self.audience!r} in this intranet; there are: {', '.join(trees)}")
        tree = self.site_dir / self.audience
        discard_leftovers(self.site_dir)
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
        if tree.is_dir():
            log.info("serving %s on http://%s:%d/ (the last site built, until the new one is in)", tree, host, port)
        else:
            log.info("serving %s on http://%s:%d/ (HTTP 503 until it is first built)", tree, host, port)
        return [f"the site on http://{host}:{port}/ ({self.audience})"]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.rebuilder.stop()
        self.rebuilder.save()
        self.builder.close()
