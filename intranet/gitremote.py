"""A checkout of the ``remote``'s branch, and Git's transport to it (the ``git`` command).

With the ``remote`` setting, what a process shows or commits comes from its own
checkout of the remote's ``branch`` in ``<state_dir>/checkout``, cloned on its
first start and moved only onto commits of that branch. The gateway commits in
it and pushes (:mod:`mailgateway.remote`); a web node only follows it
(:mod:`intranet.webnode`). Fetching is done with the ``git`` program (its
transports, its credential helpers, SSH with the operator's keys), never asking
at a terminal.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pygit2

from .errors import StoreError

log = logging.getLogger(__name__)

ORIGIN = "origin"
TIMEOUT = 300  # seconds a fetch or push may take before it counts as failed


def git_env() -> dict[str, str]:
    """The environment of every ``git`` run here: never a prompt, messages in English."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


class Checkout:
    """One checkout and the remote's branch it follows."""

    def __init__(self, checkout: Path, url: str, branch: str) -> None:
        self.checkout = Path(checkout)
        self.url = url
        self.branch = branch
        self.local = f"refs/heads/{branch}"
        self.tracking = f"refs/remotes/{ORIGIN}/{branch}"

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
        result = self.run(
            ["clone", "--quiet", "--no-tags", "--origin", ORIGIN, "--branch", self.branch, self.url, str(partial)],
            cwd=partial.parent,
        )
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise StoreError(
                f"could not clone {public_url(self.url)} (branch {self.branch}): {last_line(result.stderr)}"
            )
        os.replace(partial, self.checkout)  # whole, or not there: a clone cut short is begun again

    def fetch(self) -> str:
        """Bring the remote's branch into the tracking ref; '' if done, else why not."""
        refspec = f"+{self.local}:{self.tracking}"  # '+': a force-push on the remote is followed too
        result = self.run(["fetch", "--quiet", "--no-tags", ORIGIN, refspec])
        return "" if result.returncode == 0 else last_line(result.stderr) or f"git fetch exited {result.returncode}"

    def set_tracking(self, sha: str) -> None:
        repo = self.repo()
        repo.references.create(self.tracking, pygit2.Oid(hex=sha), force=True)

    def repo(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.checkout / ".git"))

    def move(self, old: str, new: str, reason: str = "intranet: follow the remote") -> None:
        """Move the checkout's branch from commit ``old`` to ``new``: its files first, then the branch.

        Another thread that catches a model up reads the files HEAD names, so HEAD must not name them
        before they are there (it would read the old files as the new commit's, and not again).
        """
        sync_work_tree(self.checkout, old, new)
        try:
            ref = self.repo().references.get(self.local)
            if ref is None:
                self.repo().references.create(self.local, pygit2.Oid(hex=new))
            else:
                ref.set_target(pygit2.Oid(hex=new), reason)
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"could not move {self.local}: {exc}") from None

    def _git(self, *args: str) -> None:
        result = self.run(list(args))
        if result.returncode != 0:
            raise StoreError(f"git {args[0]} failed in {self.checkout}: {last_line(result.stderr)}")

    def run(self, args: list[str], cwd: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``git args`` in the checkout (or ``cwd``), ``stdin`` its input, its output captured; never raises
        for git's failures."""
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd or self.checkout,
                env=git_env(),
                input=stdin,
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
        log.warning("git read-tree failed (%s): resetting the checkout to %s", last_line(result.stderr), new[:12])
        reset = subprocess.run(["git", "reset", "-q", "--hard", new], cwd=checkout, env=env, capture_output=True)
        if reset.returncode != 0:
            raise StoreError(f"could not bring {checkout} to {new}: {reset.stderr.decode(errors='replace')}")


def public_url(url: str) -> str:
    """``url`` without a user name or password in it, for logs and status."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def target(repo: pygit2.Repository, name: str) -> str:
    ref = repo.references.get(name)
    return str(ref.resolve().target) if ref is not None else ""


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
