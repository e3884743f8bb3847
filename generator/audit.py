"""Who may read each community, before and after a change: the audience warnings of ``intranet check``.

Publishing a private community to partners should be a deliberate act, so
``intranet check`` compares every ``communities/<slug>/community.yml`` with an
earlier version from Git and warns, one line per community, when the people
who may read it change: audiences added or removed, a community made
members-only or opened up, members (or moderators, who read a members-only
community too) added or removed, a new community that more than staff may
read. A folder renamed in the same change is matched to its old name by its
``mail`` or ``name``, so a rename alone warns of nothing.

:func:`audience_changes` is pure. The functions after it read the two sides
from the work tree and from Git, read only: the work tree, the index and the
refs are never touched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from intranet.errors import HistoryError
from intranet.format import AUDIENCES, COMMUNITIES, COMMUNITY_FILE, SLUG_RE, Community, parse_community
from intranet.gitrepo import file_at, find_repository, resolve_commit

log = logging.getLogger(__name__)

SHOWN_PEOPLE = 5  # handles named in one warning; the rest are counted


@dataclass(frozen=True)
class AudienceChange:
    """One community whose readers changed, as ``intranet check`` prints it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: audience: warning: {self.message}"


# --------------------------------------------------------------------------
# Comparing two readings (pure)


def audience_changes(
    before: Mapping[str, Community], after: Mapping[str, Community], label: str
) -> list[AudienceChange]:
    """Warnings for every community whose readers differ between ``before`` and ``after`` (slug -> community).

    ``label`` says when, as the warnings read it: ``since HEAD``, ``in commit 1a2b3c4``.
    A community that is gone warns of nothing: no one reads it any more.
    """
    renamed = _renames(before, after)
    changes = []
    for slug, community in sorted(after.items()):
        old_slug = slug if slug in before else renamed.get(slug)
        if old_slug is None:
            message = _new_community(community, label)
        else:
            message = _compare(before[old_slug], community, label)
            if message and old_slug != slug:
                message += f" (renamed from {COMMUNITIES}/{old_slug}/)"
        if message:
            changes.append(AudienceChange(community.relpath, message))
    return changes


def readers(community: Community) -> frozenset[str]:
    """Handles who may read a members-only community (its members and moderators, as ``may_read`` has it)."""
    return frozenset(community.members) | frozenset(community.moderators)


def _renames(before: Mapping[str, Community], after: Mapping[str, Community]) -> dict[str, str]:
    """New slug -> old slug, for a folder that vanished while one with the same ``mail`` or ``name`` appeared."""
    vanished = sorted(set(before) - set(after))
    found: dict[str, str] = {}
    for slug in sorted(set(after) - set(before)):
        new = after[slug]
        for old_slug in vanished:
            old = before[old_slug]
            if old_slug not in found.values() and (old.mail == new.mail or old.name == new.name):
                found[slug] = old_slug
                break
    return found


def _new_community(community: Community, label: str) -> str | None:
    wider = [a for a in community.audience if a not in ("staff", "members")]
    if not wider:
        return None
    return (
        f"new community {label}: {_groups(wider)} can read '{community.name}' (audience: {_groups(community.audience)})"
    )


def _compare(old: Community, new: Community, label: str) -> str | None:
    name = new.name
    if old.members_only and new.members_only:
        return _gained_lost(readers(new) - readers(old), readers(old) - readers(new), f"members-only '{name}'", label)
    if old.members_only:
        return f"audience widened {label}: {_groups(new.audience)} can now read '{name}' (was: members only)"
    if new.members_only:
        return (
            f"audience narrowed {label}: '{name}' is now members only ({_people(readers(new))}); "
            f"{_groups(old.audience)} can no longer read it"
        )
    gained = set(new.audience) - set(old.audience)
    lost = set(old.audience) - set(new.audience)
    message = _gained_lost(gained, lost, f"'{name}'", label, show=_groups)
    return f"{message} (was: {_groups(old.audience)})" if message else None


def _gained_lost(
    gained: Iterable[str],
    lost: Iterable[str],
    what: str,
    label: str,
    show: Callable[[Iterable[str]], str] | None = None,
) -> str | None:
    """One line for readers who gained and lost ``what``; ``show`` lists them (default: handles)."""
    show = show or _people
    gained, lost = list(gained), list(lost)
    if gained and lost:
        return f"audience changed {label}: {show(gained)} can now read {what}, {show(lost)} no longer can"
    if gained:
        return f"audience widened {label}: {show(gained)} can now read {what}"
    if lost:
        return f"audience narrowed {label}: {show(lost)} can no longer read {what}"
    return None


def _groups(audiences: Iterable[str]) -> str:
    """Audiences in their usual order: ``staff, partners``."""
    given = set(audiences)
    return ", ".join(a for a in AUDIENCES if a in given)


def _people(handles: Iterable[str]) -> str:
    names = sorted(handles)
    if len(names) <= SHOWN_PEOPLE:
        return ", ".join(names)
    return f"{', '.join(names[:SHOWN_PEOPLE])} and {len(names) - SHOWN_PEOPLE} more"


def parse_communities(texts: Mapping[str, str]) -> dict[str, Community]:
    """Communities from the texts of their ``community.yml`` (slug -> text); unreadable ones are left out."""
    result = {}
    for slug, text in texts.items():
        community, _ = parse_community(slug, text)
        if community is not None:
            result[slug] = community
    return result


# --------------------------------------------------------------------------
# Reading the two sides (work tree, Git)


def work_tree_texts(root: Path) -> dict[str, str]:
    """slug -> text of each ``community.yml`` under ``root``, found as :func:`read_intranet` finds them."""
    folder = root / COMMUNITIES
    texts: dict[str, str] = {}
    if not folder.is_dir():
        return texts
    for entry in sorted(folder.iterdir()):
        path = entry / COMMUNITY_FILE
        if not SLUG_RE.match(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            continue
        try:
            texts[entry.name] = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def git_texts(commit: pygit2.Commit, prefix: str) -> dict[str, str]:
    """slug -> text of each ``community.yml`` in ``commit``; ``prefix`` is the root's path in the repository."""
    try:
        folder = commit.tree[f"{prefix}/{COMMUNITIES}" if prefix else COMMUNITIES]
    except KeyError:
        return {}
    texts: dict[str, str] = {}
    if not isinstance(folder, pygit2.Tree):
        return texts
    for entry in folder:
        if not isinstance(entry, pygit2.Tree) or not SLUG_RE.match(entry.name or ""):
            continue
        data = file_at(entry, COMMUNITY_FILE)  # a symbolic link is refused, as on disk
        if data is None:
            continue
        try:
            texts[str(entry.name)] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def audience_warnings(root: Path, since: str | None = None) -> list[AudienceChange]:
    """Audience warnings for ``root``, compared with Git.

    With ``since``: the work tree against that revision (:class:`HistoryError`
    if it cannot be read). Without: the work tree against HEAD when a
    ``community.yml`` differs from HEAD (what an editor is about to commit),
    otherwise HEAD against its first parent (what the last commit did). Not a
    Git repository, or no earlier commit: no warnings. Git is only read.
    """
    root = Path(root)
    repo = find_repository(root)
    if repo is None:
        if since is not None:
            raise HistoryError(f"--since {since}: {root} is not inside a Git repository")
        return []
    prefix = _prefix(repo, root)
    work_tree = work_tree_texts(root)
    if since is not None:
        commit = resolve_commit(repo, since)
        if commit is None:
            raise HistoryError(f"--since {since}: no such commit")
        before, after, label = git_texts(commit, prefix), work_tree, f"since {since}"
    else:
        head = resolve_commit(repo, "HEAD")
        if head is None:
            log.debug("no commit yet: no audience to compare")
            return []
        before, after, label = git_texts(head, prefix), work_tree, "since HEAD"
        if before == after:  # nothing about to be committed: what did the last commit do?
            if not head.parents:
                log.debug("HEAD is the first commit: no audience to compare")
                return []
            before, after = git_texts(head.parents[0], prefix), before
            label = f"in commit {str(head.id)[:7]}"
    return audience_changes(parse_communities(before), parse_communities(after), label)


def _prefix(repo: pygit2.Repository, root: Path) -> str:
    """``root`` relative to the top of the work tree, with '/' ('' at the top)."""
    rel = os.path.relpath(root.resolve(), Path(str(repo.workdir)).resolve())
    return "" if rel == "." else Path(rel).as_posix()
