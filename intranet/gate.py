"""Validation at the door: ``intranet check --pre-receive``, a Git ``pre-receive`` hook.

Git runs the hook in the receiving repository (bare, on a server) with one
line per ref on standard input, ``<old> <new> <ref>``, before any ref moves,
and with the pushed objects readable but not yet part of the repository (the
environment says where: the repository is opened as Git's own commands open
it). A hook that exits non-zero refuses the whole push, and what it writes to
standard error is shown to the pusher, each line after ``remote:``.

What is checked, for each branch (``refs/heads/*``) the push moves, reading
Git objects only (no work tree):

- every file the push changes (``git diff old new``; a new branch is compared
  with the branch HEAD names), by the same rules as ``intranet check``: a
  post, a ``community.yml``, a ``subscribers.yml``, a person, a page's name,
  ``mkdocs.yml``'s intranet settings, symbolic links;
- the rules across files, over the whole intranet's communities and people
  (moderators and members who exist, addresses used once): a problem the new
  head has and the old one did not is the push's; a changed post's author must
  be in ``people/``, and a person removed must have written no post.

A problem that was there before the push, in a file the push does not touch,
does not refuse it: it is not the pusher's, and refusing would stop every
other push (the gateway's too) until someone fixes it. Not checked here: a
Message-ID used twice across posts (``intranet check`` reports it; the site
shows both posts).

Refs: deleting the branch HEAD names (the intranet's branch) is refused;
deleting any other branch is accepted, and so is any ref that is not a branch
(tags, notes, review refs): nothing is published from them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pygit2
import yaml

from .format import (
    COMMUNITIES,
    COMMUNITY_FILE,
    PAGES_DIR,
    PEOPLE,
    PICTURE_MAGIC,
    POSTS_DIR,
    SLUG_RE,
    SUBSCRIBERS_FILE,
    SYMLINK_PROBLEM,
    Community,
    Intranet,
    Person,
    Problem,
    cross_check,
    picture_problem,
)
from .gitrepo import tree_changes
from .quarantine import content_kind, parse_file, sizes_in
from .settings import settings_from_text

ZERO = "0" * 40
LINK = 0o120000  # the file mode of a symbolic link in a Git tree


class Snapshot:
    """The communities and people of one tree, and the problems of those files on their own."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None, parsed: dict[str, Any] | None = None) -> None:
        self.repo, self.tree = repo, tree
        self.parsed = {} if parsed is None else parsed  # blob id -> (value, problems): shared by two snapshots
        self.communities: dict[str, Community] = {}
        self.people: dict[str, Person] = {}
        self.problems: list[Problem] = []
        if tree is not None:
            self._read_people()
            self._read_communities()

    def _entries(self, path: str) -> list[pygit2.Object]:
        assert self.tree is not None
        try:
            folder = self.tree[path]
        except KeyError:
            return []
        return list(folder) if isinstance(folder, pygit2.Tree) else []

    def _read_people(self) -> None:
        pictures: dict[str, list[tuple[str, pygit2.Blob]]] = {}  # handle -> its pictures (as reading finds them)
        for entry in self._entries(PEOPLE):
            relpath = f"{PEOPLE}/{entry.name}"
            if entry.name is None or entry.name.startswith("."):
                continue
            if not isinstance(entry, pygit2.Blob) or entry.filemode == LINK:
                continue  # a folder or a link: reported per file, as a changed path (layout_problem)
            if content_kind(relpath) != "person":
                pictures.setdefault(PurePosixPath(entry.name).stem, []).append((relpath, entry))
                continue
            person, problems = self._parse(relpath, entry)
            self.problems += problems
            if person is not None:
                self.people[person.handle] = person
        for handle, found in sorted(pictures.items()):
            for relpath, blob in found:
                data = blob.data
                why = picture_problem(PurePosixPath(relpath).suffix, data[:16], len(data))
                if why is None and handle not in self.people:
                    why = f"a picture of nobody: there is no people/{handle}.yml"
                if why is None and len(found) > 1:
                    why = f"one picture a person: {', '.join(sorted(r.rpartition('/')[2] for r, _ in found))}"
                if why is not None:
                    self.problems.append(Problem(relpath, 1, "file", why))
                else:
                    digest = hashlib.sha256(data).hexdigest()[:16]
                    self.people[handle] = replace(self.people[handle], picture=relpath, picture_digest=digest)

    def _read_communities(self) -> None:
        for entry in self._entries(COMMUNITIES):
            name = entry.name or ""
            if name.startswith(".") or not isinstance(entry, pygit2.Tree):
                continue
            relpath = f"{COMMUNITIES}/{name}/{COMMUNITY_FILE}"
            if not SLUG_RE.match(name):
                self.problems.append(
                    Problem(
                        f"{COMMUNITIES}/{name}", 1, "slug", "folder name must be lower-case letters, digits and '-'"
                    )
                )
                continue
            data = _blob(entry, COMMUNITY_FILE)
            if data is None:
                self.problems.append(
                    Problem(relpath, 1, "file", "missing: every community folder needs a community.yml")
                )
                continue
            community, problems = self._parse(relpath, entry[COMMUNITY_FILE])
            self.problems += problems
            if community is None:
                continue
            if _blob(entry, SUBSCRIBERS_FILE) is not None:
                found, problems = self._parse(f"{COMMUNITIES}/{name}/{SUBSCRIBERS_FILE}", entry[SUBSCRIBERS_FILE])
                self.problems += problems
                community = replace(community, subscribers=found)
            self.communities[name] = community

    def _parse(self, relpath: str, blob: pygit2.Object) -> tuple[Any, list[Problem]]:
        """:func:`parse_file` of a blob read once for both sides of a push (a file it did not change)."""
        key = f"{relpath}:{blob.id}"
        if key not in self.parsed:
            data = blob.data if isinstance(blob, pygit2.Blob) else b""
            self.parsed[key] = parse_file(relpath, data, lambda name: None)
        value, problems = self.parsed[key]
        return value, list(problems)

    def across(self) -> set[Problem]:
        """The problems across files (:func:`intranet.format.cross_check`), posts left out."""
        return set(cross_check(Intranet(Path("."), self.communities, self.people, [], [])))


def _blob(tree: pygit2.Tree, name: str) -> bytes | None:
    try:
        entry = tree[name]
    except KeyError:
        return None
    return entry.data if isinstance(entry, pygit2.Blob) and entry.filemode != LINK else None


def layout_problem(relpath: str, filemode: int) -> Problem | None:
    """What is wrong with where a file is (or that it is a link), as reading the work tree reports it."""
    parts = relpath.split("/")
    if parts[0] not in (COMMUNITIES, PEOPLE) or any(p.startswith(".") for p in parts):
        return None
    if filemode == LINK:
        return Problem(relpath, 1, "file", SYMLINK_PROBLEM)
    if parts[0] == PEOPLE:
        if len(parts) > 2:
            return Problem(relpath, 1, "file", "people files sit directly in people/")
        suffix = PurePosixPath(parts[1]).suffix
        if not parts[1].endswith((".yml", ".yaml")) and suffix not in PICTURE_MAGIC:
            return Problem(relpath, 1, "file", picture_problem(suffix, b"", 0) or "")
        return None
    if len(parts) == 2:
        return Problem(relpath, 1, "file", "communities/ holds only community folders")
    if len(parts) >= 4 and parts[2] == PAGES_DIR and relpath.endswith(".md"):
        if len(parts) > 4:
            return Problem(relpath, 1, "file", "pages must sit directly in pages/, not in a sub-folder")
        if not SLUG_RE.match(parts[3][:-3]):
            return Problem(relpath, 1, "file", "page file names must be lower-case letters, digits and '-'")
    return None


def check_update(repo: pygit2.Repository, old: str, new: str, base: str = "") -> list[Problem]:
    """The problems the commit ``new`` brings in over ``old`` (or, for a new branch, over ``base``)."""
    after = repo[new].peel(pygit2.Tree)
    start = old if old != ZERO else base
    before = repo[start].peel(pygit2.Tree) if start and start != ZERO else None
    changed = tree_changes(repo, before, after)
    parsed: dict[str, Any] = {}
    was, now = Snapshot(repo, before, parsed), Snapshot(repo, after, parsed)
    touched, old_problems = set(changed), set(was.problems)
    found = {p for p in now.problems if p.path in touched or p not in old_problems}
    found |= now.across() - was.across()
    for relpath in _changed_posts(changed, after):
        found |= set(_post_problems(repo, after, relpath, now.people))
    for relpath in changed:
        entry = _entry(after, relpath)
        if entry is not None and (problem := layout_problem(relpath, entry.filemode)) is not None:
            found.add(problem)
    if "mkdocs.yml" in touched and (data := _blob(after, "mkdocs.yml")) is not None:
        try:
            settings_from_text(data.decode("utf-8"))
        except (ValueError, TypeError, AttributeError, yaml.YAMLError) as exc:  # UnicodeDecodeError too
            found.add(Problem("mkdocs.yml", 1, "intranet", str(exc).replace("\n", " ")))
    for handle in sorted(set(was.people) - set(now.people)):
        found |= {Problem(p, 1, "author", f"no person {handle!r} in people/") for p in _posts_by(after, handle)}
    return sorted(found, key=lambda p: (p.path, p.line, p.field, p.message))


def _entry(tree: pygit2.Tree, relpath: str) -> pygit2.Object | None:
    try:
        return tree[relpath]
    except KeyError:
        return None


def _changed_posts(changed: Iterable[str], tree: pygit2.Tree) -> list[str]:
    """Posts the push wrote, and the posts whose attachments it changed (which it may have broken)."""
    posts: set[str] = set()
    for relpath in changed:
        parts = relpath.split("/")
        if content_kind(relpath) == "post" and not _in_attachments(tree, parts):
            posts.add(relpath)
        elif len(parts) >= 5 and parts[0] == COMMUNITIES and parts[2] == POSTS_DIR:
            owner = "/".join(parts[:-1]) + ".md"
            if _entry(tree, owner) is not None:
                posts.add(owner)
    return sorted(p for p in posts if isinstance(_entry(tree, p), pygit2.Blob))


def _in_attachments(tree: pygit2.Tree, parts: list[str]) -> bool:
    """True if the Markdown file at ``parts`` sits in a post's attachment folder (``<post>/``)."""
    return any(_entry(tree, "/".join(parts[:i]) + ".md") is not None for i in range(4, len(parts)))


def _post_problems(
    repo: pygit2.Repository, tree: pygit2.Tree, relpath: str, people: dict[str, Person]
) -> list[Problem]:
    entry = _entry(tree, relpath)
    if not isinstance(entry, pygit2.Blob) or entry.filemode == LINK:
        return []
    post, problems = parse_file(relpath, entry.data, sizes_in(repo, tree, relpath))
    if post is not None and post.author.handle and post.author.handle not in people:
        problems.append(Problem(relpath, 1, "author", f"no person {post.author.handle!r} in people/"))
    return problems


def _posts_by(tree: pygit2.Tree, handle: str) -> Iterator[str]:
    """Posts whose front matter names ``handle`` as author (a scan of every post: only when a person goes)."""
    pattern = re.compile(rb"^author: *['\"]?" + re.escape(handle.encode()) + rb"['\"]? *$", re.M)
    communities = _entry(tree, COMMUNITIES)
    for community in communities if isinstance(communities, pygit2.Tree) else []:
        posts = _entry(tree, f"{COMMUNITIES}/{community.name}/{POSTS_DIR}")
        if isinstance(posts, pygit2.Tree):
            yield from _scan(posts, f"{COMMUNITIES}/{community.name}/{POSTS_DIR}", pattern)


def _scan(folder: pygit2.Tree, prefix: str, pattern: re.Pattern[bytes]) -> Iterator[str]:
    for entry in folder:
        path = f"{prefix}/{entry.name}"
        if isinstance(entry, pygit2.Tree):
            yield from _scan(entry, path, pattern)
        elif isinstance(entry, pygit2.Blob) and path.endswith(".md"):
            head = entry.data[:4096].split(b"\n---", 1)[0]
            if pattern.search(head):
                yield path


def pre_receive(repo: pygit2.Repository, lines: Iterable[str]) -> tuple[bool, list[str]]:
    """(accepted, lines for the pusher) for the ``old new ref`` lines Git gives a pre-receive hook."""
    messages: list[str] = []
    accepted = True
    branch = _head_branch(repo)
    for line in lines:
        fields = line.split()
        if len(fields) != 3:
            continue
        old, new, ref = fields
        if not ref.startswith("refs/heads/"):
            continue
        if new == ZERO:
            if ref == branch:
                accepted = False
                messages.append(f"intranet: refusing to delete {ref}: it is the branch the intranet is published from")
            continue
        base = _resolve(repo, branch) if old == ZERO else ""
        problems = check_update(repo, old, new, base)
        if problems:
            accepted = False
            messages.append(f"intranet: refusing {ref} at {new[:12]}: {len(problems)} problem(s) in its content")
            messages += [str(p) for p in problems]
    if not accepted:
        messages.append("intranet: fix these (`intranet check` in your clone lists them) and push again")
    return accepted, messages


def _head_branch(repo: pygit2.Repository) -> str:
    """The branch HEAD names (the intranet's branch), resolved or not."""
    try:
        return str(repo.lookup_reference("HEAD").target)
    except (KeyError, pygit2.GitError):
        return ""


def _resolve(repo: pygit2.Repository, ref: str) -> str:
    try:
        return str(repo.lookup_reference(ref).peel(pygit2.Commit).id) if ref else ""
    except (KeyError, ValueError, pygit2.GitError):
        return ""


def open_receiving(path: str | None = None) -> pygit2.Repository:
    """The repository a hook runs in, opened as Git's commands open it (``GIT_DIR``, and the objects of a
    push still in quarantine through ``GIT_OBJECT_DIRECTORY`` and ``GIT_ALTERNATE_OBJECT_DIRECTORIES``)."""
    return pygit2.Repository(path or ".", flags=pygit2.enums.RepositoryOpenFlag.FROM_ENV)
