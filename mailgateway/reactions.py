"""Reactions by mail, carried out: the post answered gains the sender's reaction, in a commit of theirs.

As Discourse takes a like by email: no post is made and nobody is mailed. The post answered
gains ``reactions: {handle: like}`` in its front matter (docs/format.md), in a commit authored by
the person who reacted, so the site shows who reacted under the post. A second delivery, or the
same reaction again, changes nothing. What a reaction is: :mod:`mailgateway.reactwords` (pure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from intranet.format import with_reaction

from .parse import Inbound
from .postedits import edit_post

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects
    from .routing import Route

REACTED = "reacted"  # the outcome on record


class Reactions:
    """Carries out a reaction: the post's file changed and committed, authored by who reacted."""

    def __init__(self, effects: Effects) -> None:
        self.fx = effects

    def carry_out(
        self, decision: Route, mail: Inbound, model: Model, publish: Callable[[], tuple[str, str, dict[str, Any]]]
    ) -> tuple[str, str, dict[str, Any]]:
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
        changed = edit_post(
            self.fx,
            relpath,
            lambda text: with_reaction(text, handle, reaction),
            subject=f"{slug}: {name} reacted ({reaction})",
            body=f"{name} reacted to {post_id} by email.",
            author=(name, mail.from_address),
            committer=self.fx.settings.committer,
            trailers={"Message-ID": mail.message_id, "Reaction-To": post_id},
        )
        return "reacted" if changed else "unchanged"
