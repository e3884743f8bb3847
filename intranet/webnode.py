"""A web node: ``intranet up --no-gateway`` with a ``remote`` follows the remote's branch, committing nothing.

An organisation that outgrows one web server runs the gateway on its mail nodes and any number of
web nodes beside them, each with its own folder and settings naming the same ``remote``. A web
node clones the branch into its checkout (``<state_dir>/checkout``,
:func:`intranet.settings.content_root`) on its first start, and a thread fetches it every
``poll_seconds``, and at once when poked (``intranet notify`` or a webhook, passed on by
:class:`intranet.follow.Follower`). When the branch moved, by any push or a force-push, the
checkout's files are moved onto the new commit, only those that differ, then its branch; then
the model reads what changed as the diff of the two commits (:meth:`Model.follow`), and the site
follows the model as it does everywhere. Nothing but this thread writes in the checkout, so every
node converges on the remote's head, and a node stopped or killed at any moment starts again from
whatever its checkout holds.
"""

from __future__ import annotations

import logging
import threading

from .errors import StoreError
from .gitremote import Checkout, public_url, target
from .model import Model
from .settings import Settings

log = logging.getLogger("intranet.webnode")

RETRY = 5.0  # seconds after a failed fetch before the next try (a poke does not wait)


class WebNode:
    """Keeps ``model``'s checkout on the remote's branch (a service of ``intranet up``, see the module)."""

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model = model
        self.checkout = Checkout(model.root, settings.remote, settings.branch)
        self.poll_seconds = settings.poll_seconds
        self.moves = 0  # times the branch moved and was followed
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-node", daemon=True)
        self.checkout.clone()  # first: the model reads the checkout

    def start(self) -> list[str]:
        self._thread.start()
        url = public_url(self.checkout.url)
        return [f"a web node following {url} (branch {self.checkout.branch}) in {self.checkout.checkout}"]

    def remote_moved(self) -> None:
        """The remote's branch moved (``intranet notify``, a webhook): fetch now."""
        self._poked.set()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def catch_up(self) -> bool:
        """Fetch, and follow the branch if it moved; False if it did not. Raises if it cannot fetch."""
        why = self.checkout.fetch()
        if why:
            raise StoreError(f"could not fetch {public_url(self.checkout.url)}: {why}")
        repo = self.checkout.repo()
        old, new = target(repo, self.checkout.local), target(repo, self.checkout.tracking)
        if not new or new == old:
            return False
        self.checkout.move(old, new)
        self.model.follow()
        self.moves += 1
        log.info("followed %s to %s", self.checkout.branch, new[:12])
        return True

    def _run(self) -> None:
        while not self.model.wait_loaded(0.25):  # the posts are read from the checkout: it stays put meanwhile
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            try:
                self.catch_up()
                wait: float = self.poll_seconds
            except StoreError as exc:  # the remote is down or unreachable: the site stays as it is
                log.warning("%s; trying again in %.0f s", exc, RETRY)
                wait = RETRY
            except Exception:
                log.exception("could not follow %s; trying again in %.0f s", public_url(self.checkout.url), RETRY)
                wait = RETRY
            self._poked.wait(wait)
            self._poked.clear()
