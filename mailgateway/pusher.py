"""The pusher: a thread that sends the gateway's commits to the remote, off the SMTP path.

The worker wakes it after each batch of commits (:meth:`Pusher.between_batches`);
one push sends every commit made meanwhile. Each pass looks at the heads and
does what :func:`mailgateway.pushplan.plan` says:

- push the gateway's branch (fast-forward only: never over anyone's commits);
- refused because the remote moved: fetch, then ask the worker to put the
  gateway's commits on top (:func:`mailgateway.replay.integrate`, in the
  worker's thread, between two batches), and push again;
- the remote cannot be reached (or a hook of the remote says no): mail is still
  taken, spooled and committed locally; the push is tried again after 1, 2, 4 ...
  up to :data:`~mailgateway.pushplan.MAX_RETRY` seconds, and the log and
  ``intranet spool list`` say how many commits wait (``<state_dir>/push.json``).

When idle it fetches every ``poll_seconds``, or at once when told the remote
moved (:meth:`Pusher.fetch_soon`: ``intranet notify``, see :mod:`intranet.follow`),
so editors' commits reach the gateway's checkout, its model and the site.

Nothing is pushed twice and nothing lost across a crash: what waits is simply
the gateway's branch ahead of the remote's, in its checkout on disk; a push is
of the branch's newest commit, which carries all before it; a commit the remote
already has (a push whose answer was lost) is found in its history, or its
change in its files, and is not made again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from intranet.errors import StoreError
from intranet.gitremote import public_url
from intranet.settings import Settings

from .heldshare import HeldShare
from .pushplan import FAILED, FORWARD, IDLE, PUSH, PUSHED, REFUSED, REJECTED, REPLAY, plan, retry_delay
from .remote import Remote
from .replay import integrate
from .runner import Runner
from .spool import write_durably
from .store import git_ident

log = logging.getLogger(__name__)

STATUS_FILE = "push.json"


class Pusher(Runner):
    name = "pusher"

    def __init__(
        self,
        remote: Remote,
        settings: Settings,
        wake_worker: Callable[[], None],
        follow: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__()
        self.remote = remote
        self.gateway_email = git_ident(*settings.committer)[1]
        remote.committer = self.gateway_email
        self.state_dir = Path(settings.state_dir)
        self.poll_seconds = float(settings.poll_seconds)
        self.wake_worker = wake_worker
        self.follow = follow  # the worker's model reads what moved (in the worker's thread)
        self.wanted = threading.Event()  # the worker should bring the branch onto the remote's
        self.held: HeldShare | None = None  # held mail shared on the remote (see mailgateway.heldshare)
        self._failures = 0
        self._failing_since = ""
        self._not_before = 0.0
        self._fetched = float("-inf")
        self._status: dict[str, object] = {}

    # -- in the worker's thread --------------------------------------------------------

    def between_batches(self) -> None:
        """Called by the worker when a batch of commits is done: integrate if asked, then push."""
        if self.wanted.is_set():
            self.wanted.clear()
            try:
                moved = integrate(self.remote, self.gateway_email)
            except (StoreError, pygit2.GitError, OSError, ValueError) as exc:
                # Carrying on is safe: nothing moved, the commits wait; the pusher asks again after a pause.
                log.exception("could not put the gateway's commits on the remote's %s", self.remote.branch)
                self._failed(self.remote.waiting(), f"replay failed: {exc}", REFUSED)
                return
            if moved is not None:
                log.info("checkout moved from %s to %s", moved[0][:12], moved[1][:12])
                self.follow()  # now that the files are there too
        self.wake()

    def fetch_soon(self) -> None:
        """The remote moved (``intranet notify``): fetch it now, not at the next poll."""
        self._fetched = float("-inf")
        self.wake()

    # -- in the pusher's thread ------------------------------------------------------

    def pass_once(self) -> bool:
        now = time.monotonic()
        if now < self._not_before:
            return False
        if self.held is not None:
            self.held.share_pending()  # mail held since: on the remote, where the other gateway finds it
        repo = self.remote.repo()
        heads = self.remote.heads(repo)
        action = plan(heads)
        if action == IDLE:
            self._report(0, "")
            if now - self._fetched >= self.poll_seconds:
                return self._fetch() and plan(self.remote.heads()) != IDLE
            return False
        if action in (FORWARD, REPLAY):
            self.wanted.set()
            self.wake_worker()
            return False  # the worker wakes this thread when done
        waiting = self.remote.waiting(repo)
        outcome, detail = self.remote.push(heads.local)
        if outcome == PUSHED:
            if self._failures:
                log.info("pushed after %d failed tries", self._failures)
            log.info("pushed %d commits to %s (%s)", waiting, public_url(self.remote.url), heads.local[:12])
            self._failures, self._failing_since = 0, ""
            self._report(0, "")
            return True
        if outcome == REJECTED:
            log.info("push refused (%s): someone pushed first; fetching", detail)
            if self._fetch() and plan(self.remote.heads()) == PUSH:  # refused, yet nobody moved it: wait
                self._failed(waiting, detail, REFUSED)
                return False
            return True
        self._failed(waiting, detail, outcome)
        return False

    def _fetch(self) -> bool:
        """Fetch the remote's branch; False (and a retry later) if it cannot be reached."""
        self._fetched = time.monotonic()
        error = self.remote.fetch()
        if error:
            self._failed(self.remote.waiting(), error, FAILED)
            return False
        self._failures, self._failing_since = 0, ""
        if self.held is not None:
            self.held.sync()  # (decisions another gateway made: this gateway's copies go)
        return True

    def _failed(self, waiting: int, detail: str, outcome: str) -> None:
        self._failures += 1
        delay = retry_delay(self._failures)
        self._not_before = time.monotonic() + delay
        if not self._failing_since:
            self._failing_since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        what = "could not reach the remote" if outcome == FAILED else "the remote refused the push"
        log.warning(
            "%s %s: %s; %d commits wait to be pushed; trying again in %.0f s",
            what,
            public_url(self.remote.url),
            detail,
            waiting,
            delay,
        )
        self._report(waiting, f"{what}: {detail}")

    def _report(self, waiting: int, error: str) -> None:
        """Keep ``<state_dir>/push.json`` (for ``intranet spool list``) when what it says changes."""
        status: dict[str, object] = {
            "remote": public_url(self.remote.url),
            "branch": self.remote.branch,
            "waiting": waiting,
        }
        if error:
            status.update(error=error[:300], since=self._failing_since)
        if status == self._status:
            return
        self._status = status
        try:
            write_durably(self.state_dir / STATUS_FILE, json.dumps(status).encode(), self.state_dir / "spool" / "tmp")
        except OSError as exc:
            log.warning("could not write %s: %s", STATUS_FILE, exc)


def read_status(state_dir: Path) -> dict[str, object]:
    """What the pusher last said (empty without a remote)."""
    try:
        data = json.loads((Path(state_dir) / STATUS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
