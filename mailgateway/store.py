"""Git: one commit per post, authored by its sender, committed by the gateway.

The only module of the gateway that runs git. It is used by one worker at a
time (the worker holds the spool lock). A commit names only the post's own
paths (``git commit --only``), so an editor's staged but uncommitted work is
never swept into it; if an editor holds ``index.lock`` at that moment, the
commit is retried with backoff, and if it still cannot be made the message
stays in the spool and is tried again later: nothing is lost.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import git

log = logging.getLogger(__name__)

LOCK_RETRIES = 8


class StoreError(Exception):
    pass


@dataclass(frozen=True)
class Commit:
    sha: str
    paths: tuple[str, ...]


def open_repo(root: Path) -> git.Repo:
    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise StoreError(f"{root} is not inside a Git repository: run `git init` there first") from None


def git_dir(root: Path) -> Path:
    repo = open_repo(root)
    try:
        return Path(repo.git_dir)
    finally:
        repo.close()


def one_line(text: str, limit: int = 72) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def git_ident(name: str, address: str) -> tuple[str, str]:
    """A name and address Git accepts, whatever the sender wrote (no '<>', newlines or bare punctuation)."""
    address = re.sub(r"[<>\s\x00-\x1f]+", "", address)[:200] or "unknown@invalid"
    name = one_line(re.sub(r"[<>]+", "", name), 200).strip(" .,:;'\"\\")
    if not any(ch.isalnum() for ch in name):
        name = address.split("@", 1)[0] or "Unknown sender"
    return name, address


def commit_files(
    root: Path,
    paths: list[Path],
    subject: str,
    body: str,
    author: tuple[str, str],
    committer: tuple[str, str],
    trailers: dict[str, str],
) -> Commit | None:
    """Commit exactly ``paths``; None if they are already committed as they are."""
    repo = open_repo(root)
    try:
        work_tree = Path(repo.working_tree_dir or root)
        rel = [os.path.relpath(p, work_tree) for p in paths]
        message = one_line(subject) + "\n\n" + body.strip() + "\n\n"
        message += "".join(f"{k}: {one_line(v, 998)}\n" for k, v in trailers.items())
        author_name, author_email = git_ident(*author)
        env = {
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
        }
        for attempt in range(LOCK_RETRIES):
            try:
                repo.git.add("--", *rel)
                if not repo.git.status("--porcelain", "--", *rel).strip():
                    return None  # nothing new: a redelivery after a crash, already committed
                with repo.git.custom_environment(**env):
                    repo.git.commit("--no-verify", "--only", "-q", "-m", message, "--", *rel)
                return Commit(repo.head.commit.hexsha, tuple(rel))
            except git.GitCommandError as exc:
                if "index.lock" not in str(exc) or attempt == LOCK_RETRIES - 1:
                    raise StoreError(f"git failed: {exc.stderr.strip() if exc.stderr else exc}") from None
                delay = 0.05 * (2**attempt)
                log.info("index.lock is held (an editor committing?): retrying in %.2f s", delay)
                time.sleep(delay)
        raise StoreError("git index stayed locked")  # pragma: no cover - loop returns or raises
    finally:
        repo.close()


def is_committed(root: Path, path: Path) -> bool:
    """True if ``path`` is in HEAD exactly as it is on disk."""
    repo = open_repo(root)
    try:
        rel = os.path.relpath(path, repo.working_tree_dir or root)
        try:
            tracked = repo.git.ls_files("--error-unmatch", "--", rel)
        except git.GitCommandError:
            return False
        return bool(tracked) and not repo.git.status("--porcelain", "--", rel).strip()
    finally:
        repo.close()


def head_of(git_dir: Path) -> str:
    """The current commit, read cheaply from the Git folder (no process)."""
    for _ in range(2):
        try:
            ref = (git_dir / "HEAD").read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return ""
        if not ref.startswith("ref: "):
            return ref
        name = ref[5:]
        try:
            return (git_dir / name).read_text().strip()
        except FileNotFoundError:
            packed = git_dir / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + name):
                        return line.split()[0]
            return ""
    return ""
