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
import os
import re
import shutil
import subprocess
from pathlib import Path

import pygit2

from intranet.errors import StoreError
from intranet.settings import Settings, content_root

from .pushplan import FAILED, PUSHED, REFUSED, REJECTED, Heads

log = logging.getLogger(__name__)

ORIGIN = "origin"
RACES = ("failed to update ref", "cannot lock ref", "incorrect old value")  # the remote's ref moved under a push
TIMEOUT = 300  # seconds a fetch or push may take before it counts as failed


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


def git_env() -> dict[str, str]:
    """The environment of every ``git`` run here: never a prompt, messages in English."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


class Remote:
    """One checkout and the remote's branch it follows."""

    def __init__(self, checkout: Path, url: str, branch: str) -> None:
        self.checkout = Path(checkout)
        self.url = url
        self.branch = branch
        self.local = f"refs/heads/{branch}"
        self.tracking = f"refs/remotes/{ORIGIN}/{branch}"
        self.committer = ""  # the gateway's committer address: its own commits (see heads)

    def clone(self) -> None:
        """Clone the remote's branch into the checkout, unless it is there (then only its URL is set)."""
        if (self.checkout / ".git").is_dir():
            self._git("remote", "set-url", ORIGIN, self.url)
            head = (self.checkout / ".git" / "HEAD").read_text().strip()
            if head != f"ref: {self.local}":
                raise StoreError(
                    f"{self.checkout} is on {head.removeprefix('ref: ')}, not {self.local}: after its commits are "
                    "pushed (intranet spool list), remove it and the gateway clones the new branch"
                )
            return
        partial = self.checkout.with_name(self.checkout.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        log.info("cloning %s (branch %s) into %s", public_url(self.url), self.branch, self.checkout)
        result = self._run(
            ["clone", "--quiet", "--no-tags", "--origin", ORIGIN, "--branch", self.branch, self.url, str(partial)],
            cwd=partial.parent,
        )
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise StoreError(
                f"could not clone {public_url(self.url)} (branch {self.branch}): {_last_line(result.stderr)}"
            )
        os.replace(partial, self.checkout)  # whole, or not there: a clone cut short is begun again

    def fetch(self) -> str:
        """Bring the remote's branch into the tracking ref; '' if done, else why not."""
        refspec = f"+{self.local}:{self.tracking}"  # '+': a force-push on the remote is followed too
        result = self._run(["fetch", "--quiet", "--no-tags", ORIGIN, refspec])
        return "" if result.returncode == 0 else _last_line(result.stderr) or f"git fetch exited {result.returncode}"

    def push(self, sha: str) -> tuple[str, str]:
        """Push commit ``sha`` as the remote's branch: (outcome, detail).

        Only if the remote's branch is still what was last fetched (a lease): a push that is a
        fast-forward of a branch someone force-pushed meanwhile would bring back the commits the
        force-push took away (ours is built on them). Refused, it is fetched and replayed first.
        """
        lease = f"--force-with-lease={self.local}:{_target(self.repo(), self.tracking)}"
        result = self._run(["push", "--porcelain", lease, ORIGIN, f"{sha}:{self.local}"])
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
        return FAILED, _last_line(result.stderr) or f"git push exited {result.returncode}"

    def set_tracking(self, sha: str) -> None:
        repo = self.repo()
        repo.references.create(self.tracking, pygit2.Oid(hex=sha), force=True)

    def repo(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.checkout / ".git"))

    def heads(self, repo: pygit2.Repository | None = None) -> Heads:
        """The gateway's branch, the remote's as last fetched, and their merge base."""
        repo = repo or self.repo()
        local, remote = _target(repo, self.local), _target(repo, self.tracking)
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
        local, remote = _target(repo, self.local), _target(repo, self.tracking)
        if not local or local == remote:
            return 0
        walker = repo.walk(pygit2.Oid(hex=local))
        if remote:
            walker.hide(pygit2.Oid(hex=remote))
        return sum(1 for _ in walker)

    def _git(self, *args: str) -> None:
        result = self._run(list(args))
        if result.returncode != 0:
            raise StoreError(f"git {args[0]} failed in {self.checkout}: {_last_line(result.stderr)}")

    def _run(self, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd or self.checkout,
                env=git_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", f"git {args[0]} took longer than {TIMEOUT} s")


def sync_work_tree(checkout: Path, old: str, new: str) -> None:
    """Make the checkout's index and files those of ``new``, from ``old`` (what they are now):
    only the paths that differ are written. Nothing else writes there meanwhile (the worker's thread)."""
    env = git_env()
    args = ["read-tree", "-m", "-u", old, new] if old else ["read-tree", "-u", "--reset", new]
    result = subprocess.run(["git", *args], cwd=checkout, env=env, capture_output=True, text=True)
    if result.returncode != 0:  # the index was not quite ``old``: take ``new`` as a whole
        log.warning("git read-tree failed (%s): resetting the checkout to %s", _last_line(result.stderr), new[:12])
        reset = subprocess.run(["git", "reset", "-q", "--hard", new], cwd=checkout, env=env, capture_output=True)
        if reset.returncode != 0:
            raise StoreError(f"could not bring {checkout} to {new}: {reset.stderr.decode(errors='replace')}")


def public_url(url: str) -> str:
    """``url`` without a user name or password in it, for logs and status."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def _target(repo: pygit2.Repository, name: str) -> str:
    ref = repo.references.get(name)
    return str(ref.resolve().target) if ref is not None else ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
