"""What the pusher does next, and how one file of a gateway commit is replayed (pure).

With a ``remote`` (see :mod:`mailgateway.remote`) the gateway commits on the
branch of its own checkout, as in single-folder mode, and a pusher sends that
branch to the remote. Three commits decide what comes next (:func:`plan`):
the gateway's branch (``local``), the remote's branch as last fetched
(``remote``) and their merge base (``base``):

- ``local == remote``: nothing to do (:data:`IDLE`);
- the remote's branch is behind ours (``base == remote``): push (:data:`PUSH`),
  unless some commits ahead are not our own (``strangers``: an editor's
  commit that a force-push took off the remote after we had it): then replay
  ours on the remote's (:data:`REPLAY`), which leaves those out;
- ours is behind the remote's, with nothing of our own (``base == local``):
  move ours to theirs (:data:`FORWARD`);
- both moved: replay our own commits on the remote's (:data:`REPLAY`), then push.

Our own commits are those the gateway committed (:func:`own`) that the remote
lacks; an editor's commit that the remote no longer has (dropped by a
force-push) is not brought back, a gateway's post is.

Replaying a commit means making its change again on the new commit, file by
file (:func:`merge_file`): posts are unique paths, so the gateway's file goes
in as it is; a file the editor changed too (``people/``, ``subscribers.yml``)
gets the gateway's change made to the editor's version, key by key, never the
gateway's whole file over the editor's. A post whose ``reactions`` are all the
gateway changed (someone reacted by mail) gets those reactions set in the
remote's version, so reactions to one post at two gateways, or a reaction and an
editor's correction, are all kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from intranet.errors import FormatError
from intranet.format import MANAGED, MARKS, load_yaml, split_front_matter, with_entries, with_mark

from .people_edits import edited_yaml

log = logging.getLogger(__name__)

IDLE, PUSH, FORWARD, REPLAY = "idle", "push", "forward", "replay"
PUSHED, REJECTED, REFUSED, FAILED = "pushed", "rejected", "refused", "failed"  # a push's outcomes
FIRST_RETRY = 1.0  # seconds before the first retry of a failed push or fetch; doubled each time
MAX_RETRY = 60.0  # longest wait between two tries while the remote cannot be reached


@dataclass(frozen=True)
class Heads:
    local: str  # the gateway's branch ("" before its first commit)
    remote: str  # the remote's branch as last fetched ("" when it has none)
    base: str  # their merge base ("" when they share no history)
    strangers: bool = False  # ours is ahead with commits not our own: a force-push dropped them


def plan(heads: Heads) -> str:
    """:data:`IDLE`, :data:`PUSH`, :data:`FORWARD` or :data:`REPLAY`; see the module's docstring."""
    if heads.local == heads.remote:
        return IDLE
    if not heads.remote or heads.base == heads.remote:
        return REPLAY if heads.strangers and heads.remote else PUSH
    if not heads.local or heads.base == heads.local:
        return FORWARD
    return REPLAY


def retry_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` failed tries in a row (1, 2, 4, ... up to :data:`MAX_RETRY`)."""
    return min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, failures - 1))


def own(commits: Iterable[tuple[str, str]], gateway_email: str) -> list[str]:
    """Of ``commits`` (id, committer's address), oldest first, those the gateway made."""
    wanted = gateway_email.lower()
    return [sha for sha, email in commits if email.lower() == wanted]


@dataclass(frozen=True)
class Merged:
    data: bytes | None  # the file's bytes on the new commit (None: no such file)
    note: str = ""  # why the gateway's change was not taken as it is ("" when it was)


def merge_file(path: str, base: bytes | None, ours: bytes | None, theirs: bytes | None) -> Merged:
    """The file at ``path`` after replaying our change (``base`` -> ``ours``) on top of ``theirs``."""
    if theirs == base or theirs == ours:
        return Merged(ours)
    if ours == base:
        return Merged(theirs)
    if base is not None and ours is not None and theirs is not None and path.endswith(".md"):
        merged = merge_marks(base, ours, theirs)
        if merged is not None:
            return Merged(merged)
    if ours is not None and theirs is not None and path.endswith((".yml", ".yaml")):
        try:
            data, kept = merge_yaml(base, ours, theirs)
        except ValueError as exc:
            return Merged(theirs, f"the gateway's change could not be made to the new version: {exc}")
        note = f"changed on the remote too, the remote's value kept: {', '.join(kept)}" if kept else ""
        return Merged(data, note)
    return Merged(theirs, "changed on the remote too: the remote's version is kept")


def merge_marks(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """``theirs`` with what ``ours`` changed since ``base`` in the entries mail changes (reactions, who
    by who; ``accepted``, ``closed``); None when ``ours`` changed anything else of the post (or one of
    them is not a post that can be read)."""
    try:
        (old, old_body), (new, new_body) = (_post_parts(base), _post_parts(ours))
        mine = [key for key in MANAGED if old.get(key) != new.get(key)]
        if old_body != new_body or any(old.get(k) != new.get(k) for k in old.keys() | new.keys() if k not in MANAGED):
            return None
        text = theirs.decode("utf-8")
        for entry in MARKS:  # each person's own choice: set or taken away one by one
            before, after = _marks(old, entry), _marks(new, entry)
            for handle in sorted(before.keys() | after.keys()):
                if before.get(handle) != after.get(handle):
                    text = with_mark(text, entry, handle, after.get(handle))
        changes: dict[str, Any] = {key: new.get(key) for key in mine if key not in MARKS}
        return (with_entries(text, **changes) if changes else text).encode("utf-8")
    except (UnicodeDecodeError, FormatError, ValueError):
        return None


def _post_parts(data: bytes) -> tuple[dict[str, Any], str]:
    head, body, _ = split_front_matter(data.decode("utf-8"))
    found = load_yaml(head) if head.strip() else {}
    if not isinstance(found, dict):
        raise ValueError("front matter is not a mapping")
    return found, body


def _marks(data: dict[str, Any], entry: str) -> dict[str, Any]:
    found = data.get(entry)
    return {str(k): v for k, v in found.items()} if isinstance(found, dict) else {}  # (a vote is a number)


_GONE = object()  # a key the gateway removed


def merge_yaml(base: bytes | None, ours: bytes, theirs: bytes) -> tuple[bytes, list[str]]:
    """``theirs`` (a YAML mapping, kept as written) with the keys ``ours`` changed from ``base``; and
    the keys (``a.b``) left as ``theirs`` has them because the editor changed them too.

    A key the gateway set is set; a key it removed is removed; nested mappings are followed key by
    key, so an editor's other keys (and comments, order, quoting) stay. A key the editor changed
    as well keeps the editor's value. When both wrote the file anew (``base`` is None), only keys
    the editor's file lacks are added. Raises ValueError if any of them is not a YAML mapping.
    """
    old, new, present = _mapping(base or b""), _mapping(ours), _mapping(theirs)
    changes, kept = [], []
    for keys, value in _changes(old, new, ()):
        editors = _at(present, keys)
        if editors != (_at(old, keys) if base is not None else _GONE) and editors != value:
            kept.append(".".join(keys))
        else:
            changes.append((keys, value))

    def change(data: Any) -> None:
        for keys, value in changes:
            target = data
            for key in keys[:-1]:
                inner = target.get(key)
                if not isinstance(inner, dict):
                    inner = target[key] = {}
                target = inner
            if value is _GONE:
                target.pop(keys[-1], None)
            else:
                target[keys[-1]] = value

    return edited_yaml(theirs.decode("utf-8"), change).encode("utf-8"), kept


def _at(data: Any, keys: tuple[str, ...]) -> Any:
    """The value at ``keys`` in nested mappings; :data:`_GONE` where there is none."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return _GONE
        data = data[key]
    return data


def _mapping(data: bytes) -> dict[str, Any]:
    try:
        value = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid YAML ({exc})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("not a mapping")
    return value


def _changes(old: dict[str, Any], new: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            found.append(((*prefix, key), _GONE))
        elif key not in old:
            found.append(((*prefix, key), new[key]))
        elif old[key] != new[key]:
            if isinstance(old[key], dict) and isinstance(new[key], dict):
                found += _changes(old[key], new[key], (*prefix, key))
            else:
                found.append(((*prefix, key), new[key]))
    return found
