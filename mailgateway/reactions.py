"""Reactions by mail, carried out: the post answered gains the sender's reaction, in a commit of theirs.

As Discourse takes a like by email: no post is made and nobody is mailed. The post answered
gains ``reactions: {handle: like}`` in its front matter (docs/format.md), in a commit authored by
the person who reacted, so the site shows who reacted under the post. A second delivery, or the
same reaction again, changes nothing. What a reaction is: :mod:`mailgateway.reactwords` (pure).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intranet.errors import FormatError
from intranet.format import with_reaction

from .parse import Inbound
from .spool import write_durably

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects
    from .routing import Route

REACTED = "reacted"  # the outcome on record

log = logging.getLogger(__name__)


class Reactions:
    """Carries out a reaction: the post's file changed and committed, authored by who reacted."""

    def __init__(self, effects: Effects) -> None:
        self.fx = effects

    def carry_out(self, decision: Route, mail: Inbound, model: Model) -> tuple[str, str, dict[str, Any]]:
        """(outcome, reason, details) of the reaction ``decision`` is: to its ``parent``, by its ``handle``."""
        assert decision.community is not None and decision.parent and decision.handle
        slug, post_id = decision.community.slug, decision.parent
        relpath = model.known(slug).paths.get(post_id, "")
        person = model.people.get(decision.handle)
        name = person.name if person else mail.from_name or decision.handle
        done = self.react(slug, relpath, post_id, (decision.handle, name), decision.reason, mail) if relpath else ""
        return REACTED, decision.reason, {**decision.extra(), "post": post_id, "changed": done == "reacted"}

    def react(self, slug: str, relpath: str, post_id: str, who: tuple[str, str], reaction: str, mail: Inbound) -> str:
        """Set the ``reaction`` of ``who`` (handle, name) on the post at ``relpath``; "reacted", or
        "unchanged" when it was so already."""
        handle, name = who
        path = self.fx.root / relpath
        committed = self.fx.store.committed(path)
        if committed is None:
            return "unchanged"  # not committed (an editor's file not added yet): nothing to build on
        wanted = _reacted(committed, handle, reaction)
        if wanted is None or wanted == committed:
            return "unchanged"
        follows = _read(path) in (committed, wanted)  # no uncommitted work of an editor's in it
        if follows:
            write_durably(path, wanted, self.fx.spool.tmp)  # first: after a crash the same change is made
        made: dict[str, bytes] = {}

        def rewrite(current: bytes | None) -> bytes | None:
            new = None if current is None else wanted if current == committed else _reacted(current, handle, reaction)
            if new is not None:
                made["new"] = new
            return new

        commit = self.fx.commit(
            [],
            rewrites={path: rewrite},
            subject=f"{slug}: {name} reacted ({reaction})",
            body=f"{name} reacted to {post_id} by email.",
            author=(name, mail.from_address),
            committer=self.fx.settings.committer,
            trailers={"Message-ID": mail.message_id, "Reaction-To": post_id},
        )
        if follows and made.get("new", wanted) != wanted and _read(path) == wanted:
            write_durably(path, made["new"], self.fx.spool.tmp)  # made on an editor's newer commit
        return "reacted" if commit is not None else "unchanged"


def _reacted(data: bytes, handle: str, reaction: str) -> bytes | None:
    try:
        return with_reaction(data.decode("utf-8"), handle, reaction).encode("utf-8")
    except (UnicodeDecodeError, FormatError) as exc:
        log.warning("a reaction by %s left alone: the post's file cannot be read (%s)", handle, exc)
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
