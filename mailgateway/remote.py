"""The gateway's own checkout of the ``remote``, and Git's transport to it (the ``git`` command).

With the ``remote`` setting, the gateway never commits in the intranet's
root: it clones the remote's ``branch`` into ``<state_dir>/checkout`` on its
first start (:func:`gateway_root`) and works there, as it works in the root in
single-folder mode; editors never work in that checkout. Its spool, records and
outbox stay in ``state_dir``. The gateway's commits are sent to the remote by
:mod:`mailgateway.pusher`.

Fetching and pushing are done with the ``git`` program (its transports, its
credential helpers, SSH with the operator's keys), never asking at a terminal:
a push is :data:`~mailgateway.pushplan.PUSHED`, :data:`~mailgateway.pushplan.REJECTED`
(the remote's branch moved: fetch and replay), :data:`~mailgateway.pushplan.REFUSED`
(a hook of the remote said no) or :data:`~mailgateway.pushplan.FAILED` (not reached).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pygit2

from intranet.gitremote import ORIGIN, Checkout, last_line, target
from intranet.settings import Settings, content_root

from .pushplan import FAILED, PUSHED, REFUSED, REJECTED, Heads

log = logging.getLogger(__name__)

RACES = ("failed to update ref", "cannot lock ref", "incorrect old value")  # the remote's ref moved under a push


def gateway_root(root: Path, settings: Settings) -> tuple[Path, Settings]:
    """Where the gateway works, and its settings for working there.

    Without a remote: ``root`` and ``settings`` as they are. With one: the checkout (cloned on the
    first call), and settings whose ``state_dir`` (and ``imap_accounts``) are absolute paths, so
    everything that finds them from the root finds the ones of the intranet's root.
    """
    root = Path(root).resolve()
    if not settings.remote:
        return root, settings
    state_dir = root / settings.state_dir
    checkout = content_root(root, settings)
    if root == checkout:
        return root, settings  # already the checkout's
    imap = settings.imap_accounts
    settings = dataclasses.replace(settings, state_dir=str(state_dir), imap_accounts=str(root / imap) if imap else "")
    Remote(checkout, settings.remote, settings.branch).clone()
    return checkout, settings


class Remote(Checkout):
    """The gateway's checkout: it pushes its commits to the remote's branch."""

    def __init__(self, checkout: Path, url: str, branch: str) -> None:
        super().__init__(checkout, url, branch)
        self.committer = ""  # the gateway's committer address: its own commits (see heads)

    def push(self, sha: str) -> tuple[str, str]:
        """Push commit ``sha`` as the remote's branch: (outcome, detail).

        Only if the remote's branch is still what was last fetched (a lease): a push that is a
        fast-forward of a branch someone force-pushed meanwhile would bring back the commits the
        force-push took away (ours is built on them). Refused, it is fetched and replayed first.
        """
        lease = f"--force-with-lease={self.local}:{target(self.repo(), self.tracking)}"
        result = self.run(["push", "--porcelain", lease, ORIGIN, f"{sha}:{self.local}"])
        lines = result.stdout.splitlines()
        refused = next((line for line in lines if line.startswith("!")), "")
        if result.returncode == 0 and not refused:
            self.set_tracking(sha)
            return PUSHED, ""
        if "[remote rejected]" in refused and any(why in refused for why in RACES):
            return REJECTED, refused.split("\t")[-1]  # another push took the branch's lock first: as "fetch first"
        if "[remote rejected]" in refused:  # what the remote's hook said comes back as "remote: ..." lines
            said = [line[7:].strip() for line in result.stderr.splitlines() if line.startswith("remote:")]
            return REFUSED, " ".join([refused.split("\t")[-1], *filter(None, said)])
        if "[rejected]" in refused:
            return REJECTED, refused.split("\t")[-1]
        return FAILED, last_line(result.stderr) or f"git push exited {result.returncode}"

    def heads(self, repo: pygit2.Repository | None = None) -> Heads:
        """The gateway's branch, the remote's as last fetched, and their merge base."""
        repo = repo or self.repo()
        local, remote = target(repo, self.local), target(repo, self.tracking)
        base, strangers = "", False
        if local and remote and local != remote:
            found = repo.merge_base(pygit2.Oid(hex=local), pygit2.Oid(hex=remote))
            base = str(found) if found is not None else ""
        if base and base == remote and self.committer:  # ahead: only with commits of our own?
            walker = repo.walk(pygit2.Oid(hex=local))
            walker.hide(pygit2.Oid(hex=remote))
            strangers = any(c.committer.email.lower() != self.committer.lower() for c in walker)
        return Heads(local, remote, base, strangers)

    def waiting(self, repo: pygit2.Repository | None = None) -> int:
        """Commits on the gateway's branch that the remote (as last fetched) does not have."""
        repo = repo or self.repo()
        local, remote = target(repo, self.local), target(repo, self.tracking)
        if not local or local == remote:
            return 0
        walker = repo.walk(pygit2.Oid(hex=local))
        if remote:
            walker.hide(pygit2.Oid(hex=remote))
        return sum(1 for _ in walker)
