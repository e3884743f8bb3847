"""Reading the intranet's Git repository: where it is, its HEAD, what changed between two commits.

One Git library at run time: libgit2 through pygit2. Writing commits is the
gateway's (``mailgateway/store.py``); this module only reads.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pygit2

from .errors import StoreError


def discover(root: Path) -> tuple[Path, Path]:
    """(Git folder, work tree) of the repository holding ``root``."""
    found = pygit2.discover_repository(str(root))
    if found is None:
        raise StoreError(f"{root} is not inside a Git repository: run `git init` there first")
    repo = pygit2.Repository(found)
    if repo.is_bare or repo.workdir is None:
        raise StoreError(f"{found} is a bare repository: the gateway needs a work tree")
    return Path(repo.path).resolve(), Path(repo.workdir).resolve()


def find_repository(root: Path) -> pygit2.Repository | None:
    """The repository whose work tree holds ``root``; None if there is none, or it is bare."""
    found = pygit2.discover_repository(str(root))
    if found is None:
        return None
    repo = pygit2.Repository(found)
    return None if repo.is_bare or repo.workdir is None else repo


def resolve_commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit | None:
    """The commit ``rev`` names (a branch, tag, ``HEAD~2``, an id), as Git reads it; None if none."""
    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def git_identity(root: Path) -> tuple[str, str]:
    """(user.name, user.email) as Git has them for the repository at ``root`` (its own settings,
    then the user's and the system's); empty strings for what is not set."""
    repo = find_repository(root)
    try:
        config = repo.config if repo is not None else pygit2.Config.get_global_config()
    except (OSError, pygit2.GitError):  # no repository and no ~/.gitconfig
        return "", ""

    def value(key: str) -> str:
        return str(config[key]) if key in config else ""

    return value("user.name"), value("user.email")


def git_dir(root: Path) -> Path:
    return discover(root)[0]


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


def file_at(tree: pygit2.Tree, path: str) -> bytes | None:
    """The bytes of the regular file at ``path`` (``/``-separated) in ``tree``; None for no such
    file, a folder or a symbolic link."""
    try:
        entry = tree[path]
    except KeyError:
        return None
    if not isinstance(entry, pygit2.Blob) or not stat.S_ISREG(entry.filemode):
        return None
    return entry.data


def changed_paths(git_dir: Path, old: str, new: str) -> list[str] | None:
    """Paths (relative to the root) that differ between two commits; None if either is unknown.

    Subtrees with the same id are skipped, so the cost follows the change, not the repository.
    """
    if not old or not new:
        return None
    repo = pygit2.Repository(str(git_dir))
    try:
        before, after = repo[old].peel(pygit2.Tree), repo[new].peel(pygit2.Tree)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return tree_changes(repo, before, after)


def tree_changes(repo: pygit2.Repository, before: pygit2.Tree | None, after: pygit2.Tree | None) -> list[str]:
    """Paths of the files that differ between two trees (None: an empty tree), sorted."""
    paths: list[str] = []
    _diff_trees(repo, before, after, "", paths)
    return sorted(paths)


def _diff_trees(
    repo: pygit2.Repository, a: pygit2.Tree | None, b: pygit2.Tree | None, prefix: str, out: list[str]
) -> None:
    left = {e.name: e for e in a} if a is not None else {}
    right = {e.name: e for e in b} if b is not None else {}
    for name in left.keys() | right.keys():
        x, y = left.get(name), right.get(name)
        if x is not None and y is not None and x.id == y.id and x.filemode == y.filemode:
            continue
        path = f"{prefix}{name}"
        x_tree = repo[x.id].peel(pygit2.Tree) if x is not None and x.type_str == "tree" else None
        y_tree = repo[y.id].peel(pygit2.Tree) if y is not None and y.type_str == "tree" else None
        if x_tree is not None or y_tree is not None:
            _diff_trees(repo, x_tree, y_tree, f"{path}/", out)
        if (x is not None and x_tree is None) or (y is not None and y_tree is None):
            out.append(path)
