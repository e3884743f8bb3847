"""Polls by mail, carried out: a poll opened (or its sender told why not), a vote counted in a commit of the voter's.

A new topic that starts with ``#poll`` is published with the poll it opens (:func:`open_poll`).

A vote is not a post: nothing is published and no subscriber is mailed. The topic's first post
gains ``votes: {handle: <option number>}`` (docs/format.md), in a commit authored by the voter; a
later vote by the same person replaces theirs. The voter gets one receipt, sent when the vote
changed the file: a second delivery of the same mail, or the same vote again, changes nothing
and sends nothing. What a vote is: :mod:`mailgateway.polls` (pure); who may vote:
:func:`mailgateway.routing.route` (as for reactions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from intranet.format import with_vote

from .compose import Draft
from .parse import Inbound
from .polls import POLL_NOT_OPENED, opening
from .postedits import edit_post

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects
    from .routing import Route

VOTED = "voted"  # the outcome on record
RECEIPT = "vote-taken"  # the notice the voter gets


def open_poll(fx: Effects, draft: Draft, mail: Inbound, values: dict[str, str]) -> Draft:
    """``draft`` (a new topic's) with the poll its ``#poll`` opens; when it opens none, the sender is told
    why (``values``: the route's, for the notice) and the topic is published as written."""
    draft, problem = opening(draft)
    if problem:
        fx.notice(mail, POLL_NOT_OPENED, fx.clock(), **{**values, "topic": draft.post.subject, "problem": problem})
    return draft


class Votes:
    """Carries out a vote: the poll's first post changed and committed, authored by who voted."""

    def __init__(self, effects: Effects) -> None:
        self.fx = effects

    def carry_out(
        self, decision: Route, mail: Inbound, model: Model, publish: Callable[[], tuple[str, str, dict[str, Any]]]
    ) -> tuple[str, str, dict[str, Any]]:
        """(outcome, reason, details) of the vote ``decision`` is: for option ``values["option"]`` of the
        poll of its ``topic``, by its ``handle``."""
        community, topic, handle = decision.community, decision.topic, decision.handle
        assert community is not None and topic and handle
        option = int(decision.values["option"])
        known = model.known(community.slug)
        first = model.posts.get(community.slug, {}).get(known.paths.get(topic, ""))
        person = model.people.get(handle)
        name = person.name if person else mail.from_name or handle
        title = known.titles.get(topic, "")
        changed = first is not None and edit_post(
            self.fx,
            first.relpath,
            lambda text: with_vote(text, handle, option),
            subject=f"{community.slug}: {name} voted: {title}"[:200],
            body=f"{name} voted for option {option} by email.",
            author=(name, mail.from_address),
            committer=self.fx.settings.committer,
            trailers={"Message-ID": mail.message_id, "Vote-In": topic},
        )
        if changed and first is not None:
            chosen = first.poll[option - 1] if option <= len(first.poll) else str(option)
            values = {**decision.values, "topic": title, "option": f"{option}. {chosen}"}
            self.fx.notice(mail, RECEIPT, self.fx.clock(), **values)
        return VOTED, decision.reason, {**decision.extra(), "topic": topic, "option": option, "changed": changed}
