"""What ``intranet up`` follows: the branch's commits, not the files of a work tree.

The :class:`Follower` thread feeds the model (:mod:`intranet.model`) what
commits changed, read as a diff of two commits (:meth:`Model.follow`), and
tells the services when the remote has moved:

- **Single-folder mode** (a Git repository at the root, no ``remote``): every
  :data:`TICK` it reads HEAD (two small files) and, when an editor's commit,
  pull, revert or reset moved it, has the model read the diff. A file saved but
  not committed changes nothing readers or mail see.
- **With a remote**: the model reads the gateway's own checkout, which only
  commits change; the gateway's worker moves it onto the remote's branch and
  has the model follow, files first (the branch moves before its files do, so
  this thread leaves HEAD alone there). The follower passes on *pokes*: a
  ``intranet notify`` (which touches :data:`NOTIFY_FILE` in ``state_dir``;
  a Git server's ``post-receive`` hook on the same machine runs it), or an HTTP
  ``POST`` on ``notify_http`` (a Git host's webhook; ``intranet notify --url``).
  A poke only makes the gateway fetch now instead of at its next
  ``poll_seconds``: it carries nothing and needs no secret.

A root that is not a Git repository's work tree (a plain folder of content)
is followed by its files instead (:mod:`intranet.watch`).
"""

from __future__ import annotations

import http.server
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .gitrepo import head_of
from .model import Model

log = logging.getLogger("intranet.follow")

TICK = 0.25  # seconds between two looks at HEAD and at the notify file
NOTIFY_FILE = "notify"  # in state_dir: touched by `intranet notify`
RETRY = 5.0  # seconds after a failure to read new commits before trying again
MAX_BODY = 1 << 20  # a webhook's payload is read and dropped, up to this size


class Follower:
    """Follows HEAD into ``model`` (``follow_head``) and passes pokes on to ``on_poke``, in a thread."""

    def __init__(
        self,
        model: Model | None,  # None: pokes only (``intranet gateway`` alone, whose worker follows)
        state_dir: Path,
        follow_head: bool,
        on_poke: list[Callable[[], None]] | None = None,
        notify_http: tuple[str, int] | None = None,
    ) -> None:
        self.model = model
        self.notify_file = Path(state_dir) / NOTIFY_FILE
        self.follow_head = follow_head
        self.on_poke = on_poke if on_poke is not None else []
        self.pokes = 0
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._seen = _stamp(self.notify_file)
        self._retry_at = 0.0  # (time.monotonic) after a failure to follow, not before
        self._thread = threading.Thread(target=self._run, name="follower", daemon=True)
        self.server: http.server.ThreadingHTTPServer | None = None
        if notify_http is not None:
            handler = type("NotifyHandler", (_NotifyHandler,), {"follower": self})
            try:
                self.server = http.server.ThreadingHTTPServer(notify_http, handler)
            except OSError as exc:
                raise RuntimeError(f"cannot take notifications on {notify_http[0]}:{notify_http[1]}: {exc}") from None
            self.server.daemon_threads = True

    def start(self) -> list[str]:
        self._thread.start()
        if self.server is None:
            return []
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True).start()
        host, port = self.server.server_address[:2]
        return [f"notifications of pushes (HTTP POST) on {host!s}:{port}"]

    def poke(self) -> None:
        """The remote moved (a webhook, ``intranet notify``): fetch it now."""
        self._poked.set()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self._stop.set()
        self._poked.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poked.wait(TICK)
            if self._stop.is_set():
                return
            stamp = _stamp(self.notify_file)
            if self._poked.is_set() or stamp != self._seen:
                self._poked.clear()
                self._seen = stamp
                self._pass_on()
            if self.follow_head:
                self._follow()

    def _pass_on(self) -> None:
        self.pokes += 1
        log.info("told that the remote moved: fetching it now")
        for poke in self.on_poke:
            try:
                poke()
            except Exception:
                log.exception("passing on a notification failed")

    def _follow(self) -> None:
        model = self.model
        if model is None or model.git_dir is None or not model.loaded or head_of(model.git_dir) == model.head:
            return
        if time.monotonic() < self._retry_at:
            return
        try:
            model.follow()
        except Exception:  # tried again in a while; the site and the gateway keep what they have
            log.exception("reading the new commits failed; trying again in %.0f s", RETRY)
            self._retry_at = time.monotonic() + RETRY


class _NotifyHandler(http.server.BaseHTTPRequestHandler):
    follower: Follower

    def log_message(self, format: str, *args: object) -> None:
        log.debug("notify: " + format, *args)

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        self.rfile.read(max(0, length))
        self.follower.poke()
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


def notify(state_dir: Path) -> Path:
    """Tell the ``intranet up`` of this machine that the remote moved (a new file: a new stamp)."""
    path = Path(state_dir) / NOTIFY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{NOTIFY_FILE}.{os.getpid()}")
    partial.write_text(f"{time.time():.3f}\n")
    os.replace(partial, path)
    return path


def notify_url(url: str, timeout: float = 10.0) -> int:
    """POST to ``url`` (the ``notify_http`` of an ``intranet up`` elsewhere); its HTTP status."""
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 (an operator's URL)
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        status: Any = answer.status
        return int(status)
