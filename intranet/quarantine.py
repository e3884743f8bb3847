"""Quarantine: a content file that no longer validates keeps its last valid version.

A typo must never take a community offline. When a file the model reads
(a ``community.yml``, a ``subscribers.yml``, a person, a post) has problems
of its own, the model keeps the last valid version of it instead: the one it
read before, while it runs; at start, the newest commit where that path
validated. A file that was never valid is left out, as if it were not there.
When the file is fixed, the fixed version is read as usual.

Problems that need more than one file (a moderator who is not in
``people/``, a Message-ID used twice) are reported, but quarantine nothing:
no single file is to blame, and the file would be valid again as soon as the
other file changed.

History is searched along the first-parent chain of HEAD (what ``git log
--first-parent`` shows): the breaking commit of a file is the oldest commit of
the chain that has the file's present content, found by a galloping then
binary search, so a search costs a few dozen tree look-ups at any depth. A
change made on a side branch is thus put down to the merge that brought it in.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pygit2

from .format import (
    COMMUNITIES,
    COMMUNITY_FILE,
    PEOPLE,
    POSTS_DIR,
    SUBSCRIBERS_FILE,
    Community,
    Person,
    Problem,
    parse_community,
    parse_person,
    parse_post,
    parse_subscribers,
    read_pages,
    read_subscribers,
)
from .gitrepo import find_repository, head_of

log = logging.getLogger(__name__)

STRUCTURE = ("community", "subscribers", "person")
VERSIONS_TRIED = 50  # earlier versions of one file looked at for a valid one, at most
PAST_THE_FIRST_COMMIT = "-"  # what a search reads beyond the chain's first commit


@dataclass(frozen=True)
class Quarantined:
    """One file that does not validate, and what is used instead."""

    path: str
    problems: tuple[Problem, ...]
    since: str = ""  # the commit that brought in the present, broken version ('' : not committed)
    author: tuple[str, str] = ("", "")  # that commit's author: (name, address)
    kept: str = ""  # the commit whose version is used ('' : the version read before, or none)
    left_out: bool = False  # no valid version known: the file counts as absent
    blob: str = field(default="", compare=False)  # Git id of the broken content
    head: str = field(default="", compare=False)  # the HEAD it was traced on

    def using(self) -> str:
        if self.left_out:
            return "left out: no valid version"
        if self.kept:
            return f"using the version of {self.kept[:12]}"
        return "using the last valid version read"

    def lines(self) -> list[str]:
        """``path:line: field: problem`` for each problem, and since when, as `intranet check` lists them."""
        since = f"since {self.since[:12]}" if self.since else "not committed"
        if self.since and self.author[1]:
            since += f" by {self.author[0]} <{self.author[1]}>"
        return [f"{problem} ({since}; {self.using()})" for problem in self.problems]


def content_kind(relpath: str) -> str:
    """``community``, ``subscribers``, ``person``, ``post`` or '' (a file that is not quarantined)."""
    parts = relpath.split("/")
    if parts[0] == PEOPLE and len(parts) == 2 and parts[1].endswith((".yml", ".yaml")):
        return "person"
    if parts[0] != COMMUNITIES or len(parts) < 3:
        return ""
    if len(parts) == 3:
        return {COMMUNITY_FILE: "community", SUBSCRIBERS_FILE: "subscribers"}.get(parts[2], "")
    if parts[2] == POSTS_DIR and parts[-1].endswith(".md") and not any(p.startswith(".") for p in parts[3:]):
        return "post"
    return ""


def parse_file(relpath: str, data: bytes, size_of: Callable[[str], int | None]) -> tuple[Any, list[Problem]]:
    """What the file at ``relpath`` holds (a Community without pages, subscribers, a Person, a Post)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    kind = content_kind(relpath)
    slug = relpath.split("/")[1]
    if kind == "community":
        return parse_community(slug, text)
    if kind == "subscribers":
        return parse_subscribers(relpath, text)
    if kind == "person":
        return parse_person(relpath, text)
    if kind == "post":
        return parse_post(slug, relpath, text, size_of)
    return None, []


def sizes_in(repo: pygit2.Repository, tree: pygit2.Tree, post: str) -> Callable[[str], int | None]:
    """``size_of`` for :func:`parse_file`: a post's attachments, as ``tree`` holds them."""

    def size_of(name: str) -> int | None:
        try:
            entry = tree[f"{post.removesuffix('.md')}/{name}"]
        except KeyError:
            return None
        if not isinstance(entry, pygit2.Blob) or not stat.S_ISREG(entry.filemode):
            return None
        return entry.size

    return size_of


class Chain:
    """The first-parent chain of one HEAD, newest first, walked only as far as a search asks."""

    def __init__(self) -> None:
        self.head = ""
        self.ids: list[str] = []
        self._walker: Iterator[pygit2.Commit] | None = None

    def start(self, repo: pygit2.Repository, head: str) -> None:
        """Walk from ``head`` (what was walked from the same HEAD is kept: the traces of one load share it)."""
        if head != self.head or self._walker is None:
            walker = repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.NONE)
            walker.simplify_first_parent()
            self.head, self.ids, self._walker = head, [], iter(walker)

    def at(self, index: int) -> str | None:
        """The commit ``index`` steps back along the chain; None past its first commit."""
        while len(self.ids) <= index:
            commit = next(self._walker, None) if self._walker is not None else None
            if commit is None:
                return None
            self.ids.append(str(commit.id))
        return self.ids[index]


class History:
    """Where a path's present and last valid versions are in the history of one repository."""

    def __init__(self, git_dir: Path | None) -> None:
        self.git_dir = git_dir
        self.chain = Chain()

    def trace(self, relpath: str, blob: str, head: str, want_version: bool) -> tuple[Quarantined, Any]:
        """The breaking commit of ``relpath`` (whose broken content is ``blob``) and, if ``want_version``,
        the newest valid version before it: (record without problems, what that version holds)."""
        empty = Quarantined(relpath, (), blob=blob, head=head, left_out=want_version)
        if self.git_dir is None or not head:
            return empty, None
        try:
            repo = pygit2.Repository(str(self.git_dir))
            self.chain.start(repo, head)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            log.warning("quarantine: cannot read the history of %s: %s", relpath, exc)
            return empty, None
        chain = self.chain
        trees: dict[int, pygit2.Tree] = {}

        def tree(i: int) -> pygit2.Tree:
            if i not in trees:
                trees[i] = repo[chain.ids[i]].peel(pygit2.Tree)
            return trees[i]

        def blob_at(i: int) -> str:
            if chain.at(i) is None:
                return PAST_THE_FIRST_COMMIT
            try:
                return str(tree(i)[relpath].id)
            except KeyError:
                return ""

        def data_of(oid: str) -> bytes:
            blob = repo[oid]
            return blob.data if isinstance(blob, pygit2.Blob) else b""

        since, author, start = "", ("", ""), 0
        if blob_at(0) == blob:  # committed: the oldest commit of the run that has it broke it
            i = _run_end(blob_at, blob, 0)
            commit = repo[chain.ids[i]]
            since, author, start = chain.ids[i], (commit.author.name, commit.author.email), i + 1
        found = Quarantined(relpath, (), since, author, blob=blob, head=head)
        if not want_version:
            return found, None
        for _ in range(VERSIONS_TRIED):
            version = blob_at(start)
            if version in ("", PAST_THE_FIRST_COMMIT):
                break  # the path did not exist before: never valid
            value, problems = parse_file(relpath, data_of(version), sizes_in(repo, tree(start), relpath))
            if value is not None and not problems:
                return Quarantined(relpath, (), since, author, chain.ids[start], blob=blob, head=head), value
            start = _run_end(blob_at, version, start) + 1
        return Quarantined(relpath, (), since, author, left_out=True, blob=blob, head=head), None


def _run_end(blob_at: Callable[[int], str], blob: str, start: int) -> int:
    """The last index from ``start`` on whose blob is still ``blob`` (galloping, then halving)."""
    step, good = 1, start
    while blob_at(good + step) == blob:  # past the first commit it reads as a blob no file has
        good += step
        step *= 2
    high = good + step  # the first index known to differ
    while high - good > 1:
        middle = (good + high) // 2
        if blob_at(middle) == blob:
            good = middle
        else:
            high = middle
    return good


class Quarantine:
    """The files one model holds in quarantine, and the history it looks their versions up in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: dict[str, Quarantined] = {}
        self.history = History(None)

    def note(self, relpath: str, problems: Iterable[Problem], remembered: Any, head: str) -> Any:
        """``relpath`` does not validate: record it; return the version to use instead (None: leave it out).

        ``remembered``: the version this process read before, if any; else one is looked up in Git.
        """
        try:
            blob = str(pygit2.hash((self.root / relpath).read_bytes()))
        except OSError:
            blob = ""
        before = self.entries.get(relpath)
        value = None
        if before is not None and before.blob == blob and (before.since or before.head == head):
            record = before  # the same breakage, already traced
            if remembered is None and not before.left_out:
                record, value = self.history.trace(relpath, blob, head, want_version=True)
        else:
            record, value = self.history.trace(relpath, blob, head, want_version=remembered is None)
            if record.since != (before.since if before else None):
                log.warning("quarantine: %s does not validate (%s)", relpath, record.using())
        if remembered is not None:
            record = Quarantined(relpath, (), record.since, record.author, blob=blob, head=head)
            value = remembered
        self.entries[relpath] = Quarantined(
            relpath, tuple(problems), record.since, record.author, record.kept, value is None, blob, head
        )
        return value

    def clear(self, relpath: str) -> None:
        if self.entries.pop(relpath, None) is not None:
            log.info("quarantine: %s validates again", relpath)

    def clear_under(self, prefix: str) -> None:
        for relpath in [p for p in self.entries if p.startswith(prefix)]:
            del self.entries[relpath]

    def listed(self) -> list[Quarantined]:
        return [self.entries[p] for p in sorted(self.entries)]

    def keep_structure(
        self,
        communities: dict[str, Community],
        people: dict[str, Person],
        own: dict[str, list[Problem]],
        before: tuple[dict[str, Community], dict[str, Person]],
        head: str,
    ) -> None:
        """Put the kept version of each broken ``community.yml``, ``subscribers.yml`` and person file into
        ``communities`` and ``people`` (as read just now, changed in place); ``own``: each file's own problems,
        ``before``: the communities and people read before (the versions to keep, while running)."""
        for relpath in [p for p in self.entries if content_kind(p) in STRUCTURE and p not in own]:
            self.clear(relpath)
        old_communities, old_people = before
        for relpath, problems in sorted(own.items()):  # community.yml before subscribers.yml
            kind = content_kind(relpath)
            name = relpath.split("/")[1]
            if kind == "person":
                handle = name.rsplit(".", 1)[0]
                person = self.note(relpath, problems, old_people.get(handle), head)
                if person is None:
                    people.pop(handle, None)
                else:
                    people[handle] = person
            elif kind == "community":
                community = self.note(relpath, problems, old_communities.get(name), head)
                if community is None:
                    communities.pop(name, None)
                    continue
                subscribers, _ = read_subscribers(self.root, name)
                pages, assets, _ = read_pages(self.root, name)
                communities[name] = replace(community, pages=pages, assets=assets, subscribers=subscribers)
            elif kind == "subscribers" and name in communities:
                old = old_communities.get(name)
                kept = self.note(relpath, problems, old.subscribers if old is not None else None, head)
                communities[name] = replace(communities[name], subscribers=dict(kept or {}))


TOLD_FILE = "quarantine-told.json"  # in state_dir: the breakages whose authors the gateway told


def quarantined_files(root: Path, problems: Iterable[Problem], across: Iterable[Problem]) -> list[Quarantined]:
    """What a model of ``root`` (read just now, with ``problems``) holds in quarantine, traced in Git:
    each file with problems of its own (``across``: those that need more than one file; not counted)."""
    quarantine = Quarantine(Path(root).resolve())
    repo = find_repository(quarantine.root)
    head = ""
    if repo is not None:
        quarantine.history.git_dir = Path(repo.path)
        head = head_of(Path(repo.path))
    skip = set(across)
    own: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem not in skip and content_kind(problem.path):
            own.setdefault(problem.path, []).append(problem)
    for relpath, found in sorted(own.items()):
        quarantine.note(relpath, found, None, head)
    return quarantine.listed()


def told(state_dir: Path) -> dict[str, Any]:
    """The breakages the gateway has told their authors of (``path@commit`` -> to whom, when)."""
    try:
        data = json.loads((Path(state_dir) / TOLD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
