"""A Git remote for the gateway to push to: a bare repository, served by `git daemon` when a test
needs to take it away; and an editor's clone of it."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pygit2
from conftest import free_port
from mailtest import git, git_root

EDITOR = ("-c", "user.name=Ed Itor", "-c", "user.email=ed@example.org")


class Daemon:
    """`git daemon` serving the bare repositories in ``base`` on a free loopback port, pushes allowed."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                f"--base-path={self.base}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, 20, "git daemon to listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False


def remote_root(folder: Path, url: str | None = None, **settings: object) -> tuple[Path, Path]:
    """(The intranet's root, whose settings name the remote; the bare repository it is cloned to).

    ``url`` defaults to the bare repository's path.
    """
    bare = folder / "remote.git"
    root = git_root(folder / "intranet", remote=url or str(bare), **settings)
    git(folder, "clone", "-q", "--bare", str(root), str(bare))
    return root, bare


def editor_clone(bare: Path, folder: Path) -> Path:
    git(bare.parent, "clone", "-q", str(bare), str(folder))
    return folder


def editor_commit(clone: Path, message: str, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = clone / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(clone, "add", "-A")
    git(clone, *EDITOR, "commit", "-qm", message)


def editor_push(clone: Path, tries: int = 50) -> None:
    """Push as an editor does: when refused, pull (rebasing their commits), and push again."""
    for _ in range(tries):
        if subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone, capture_output=True).returncode == 0:
            return
        git(clone, *EDITOR, "pull", "-q", "--rebase", "origin", "main")
    raise AssertionError(f"the editor could not push after {tries} tries")


def trailers(bare: Path) -> Counter[str]:
    """How many commits on the remote's main carry each Message-ID."""
    return Counter(git(bare, "log", "main", "--format=%(trailers:key=Message-ID,valueonly)").split())


def post_files(bare: Path, message_ids: list[str], community: str = "handover") -> Counter[str]:
    """How many post files in the remote's main hold each of ``message_ids``."""
    repo = pygit2.Repository(str(bare))
    tree = repo.revparse_single("main").peel(pygit2.Tree)
    found: Counter[str] = Counter()
    wanted = set(message_ids)
    try:
        posts = tree[f"communities/{community}/posts"]
    except KeyError:
        return found
    stack = [repo[posts.id].peel(pygit2.Tree)]
    while stack:
        for entry in stack.pop():
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                stack.append(obj)
            elif entry.name.endswith(".md"):
                match = re.search(r"^message_id: '?(<[^>\n]+>)'?$", obj.data.decode("utf-8", "replace"), re.M)
                if match and match.group(1) in wanted:
                    found[match.group(1)] += 1
    return found


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")
