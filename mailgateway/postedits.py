"""A post's file changed by mail (a reaction, an accepted answer, a closed topic), in a commit of the sender's.

The change is a function of the file's text (:func:`intranet.format.with_entries` and
:func:`~intranet.format.with_reaction` write them). It is made to the committed file, and made
again to a newer one if the branch moves meanwhile (an editor's commit), so nobody's other change
is undone; the work tree follows, unless an editor has uncommitted work in that file. A change
that changes nothing makes no commit, so a second delivery of the same mail makes none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intranet.errors import FormatError

from .spool import write_durably

if TYPE_CHECKING:
    from .effects import Effects

log = logging.getLogger(__name__)


def edit_post(fx: Effects, relpath: str, change: Callable[[str], str], **message: Any) -> bool:
    """Commit ``change`` to the post file at ``relpath`` (``message``: as :meth:`Effects.commit`); whether
    a commit was made."""
    path = fx.root / relpath
    committed = fx.store.committed(path)
    if committed is None:
        return False  # not committed (an editor's file not added yet): nothing to build on
    wanted = _changed(committed, change, relpath)
    if wanted is None or wanted == committed:
        return False
    follows = _read(path) in (committed, wanted)  # no uncommitted work of an editor's in it
    if follows:
        write_durably(path, wanted, fx.spool.tmp)  # first: after a crash the same change is made
    made: dict[str, bytes] = {}

    def rewrite(current: bytes | None) -> bytes | None:
        new = None if current is None else wanted if current == committed else _changed(current, change, relpath)
        if new is not None:
            made["new"] = new
        return new

    commit = fx.commit([], rewrites={path: rewrite}, **message)
    if follows and made.get("new", wanted) != wanted and _read(path) == wanted:
        write_durably(path, made["new"], fx.spool.tmp)  # made on an editor's newer commit
    return commit is not None


def _changed(data: bytes, change: Callable[[str], str], relpath: str) -> bytes | None:
    try:
        return change(data.decode("utf-8")).encode("utf-8")
    except (UnicodeDecodeError, FormatError) as exc:
        log.warning("%s left alone: its front matter cannot be read (%s)", relpath, exc)
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
