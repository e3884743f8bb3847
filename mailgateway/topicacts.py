"""Commands in a reply, carried out: the topic's first post changed in a commit of the sender's, one receipt.

``#accept`` sets ``accepted: <the reply answered>`` on the topic's first post, ``#close`` and
``#reopen`` set or take away ``closed`` (docs/format.md); :mod:`mailgateway.hashcommands` says
what a command is and who may give it. The text after the commands, if any, is then published
as any reply is. The sender gets one receipt when a command changed something or was refused; a
second delivery of the same mail changes nothing, so it sends none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from intranet.format import format_date

from .eventacts import EventActs, event_command
from .guides import make_guide
from .hashcommands import EVENT_WORDS, ON_THE_POST, change_of, commands_in, receipt, refusal
from .parse import Inbound
from .postedits import edit_post
from .profiles import Profiles
from .reactions import Reactions
from .routing import ACT, EVENT, JOIN, PROFILE, REACT, VOTE
from .votes import Votes

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects
    from .routing import Route

Publish = Callable[[], tuple[str, str, dict[str, Any]]]
Act = Callable[["Route", Inbound, "Model", Publish], tuple[str, str, dict[str, Any]]]

ACTED = "acted"  # the outcome on record when nothing is published


def acting(effects: Effects, commands: Any) -> dict[str, Act]:
    """What carries out each route that changes a post or a profile instead of (or before) publishing."""
    return {
        REACT: Reactions(effects).carry_out,
        ACT: TopicActs(effects).carry_out,
        PROFILE: Profiles(commands).carry_out,
        JOIN: commands.joining.carry_out,
        VOTE: Votes(effects).carry_out,
        EVENT: EventActs(effects).carry_out,
    }


class TopicActs:
    def __init__(self, effects: Effects) -> None:
        self.fx = effects

    def _message(self, word: str, name: str, mail: Inbound, slug: str, title: str, parent: str) -> dict[str, Any]:
        """The commit of command ``word`` by ``name``: subject, body, author, committer, trailers."""
        return {
            "subject": f"{slug}: #{word} by {name}: {title}"[:200],
            "body": f"{name} sent #{word} by email, in reply to {parent}.",
            "author": (name, mail.from_address),
            "committer": self.fx.settings.committer,
            "trailers": {"Message-ID": mail.message_id, "Command": f"#{word}"},
        }

    def carry_out(
        self, decision: Route, mail: Inbound, model: Model, publish: Callable[[], tuple[str, str, dict[str, Any]]]
    ) -> tuple[str, str, dict[str, Any]]:
        """Carry out the commands at the top of ``mail`` in its topic, then ``publish`` the rest if there is any."""
        community, topic, parent, handle = decision.community, decision.topic, decision.parent, decision.handle
        found = commands_in(mail.body)
        assert community is not None and topic and parent and handle and found is not None
        known = model.known(community.slug)
        posts = model.posts.get(community.slug, {})
        first, answered = posts.get(known.paths.get(topic, "")), posts.get(known.paths.get(parent, ""))
        author, writer = (p.author.handle or model.handle_for(p.author.email) if p else None for p in (first, answered))
        now = format_date(self.fx.clock())
        person = model.people.get(handle)
        name = person.name if person else mail.from_name or handle
        done: list[tuple[str, bool]] = []
        refused: list[tuple[str, str]] = []
        for word in dict.fromkeys(found.words):
            poll = bool(first and first.poll)  # (its author may close their poll)
            why = refusal(word, handle, author, community.moderators, parent == topic, writer, poll)
            target = answered if word in ON_THE_POST else first
            if not why and word == "edit" and not found.rest:
                why = "write the post's new text after the command"
            change = None
            if word in EVENT_WORDS:  # (#event's lines are not part of the reply, whoever sent them)
                change, event_why, rest = event_command(word, handle, first, found.rest, topic, self.fx.settings)
                found, why = replace(found, rest=rest), why or event_why
            if why or target is None:
                refused.append((word, why or "that post is not in the repository yet"))
                continue
            message = self._message(word, name, mail, community.slug, known.titles.get(topic, ""), parent)
            if word == "guide":  # a new page, not a change to a post
                changed, why = make_guide(self.fx, model, community, topic, found.rest, **message)
            else:
                changed = edit_post(
                    self.fx, target.relpath, change or change_of(word, handle, parent, found.rest, now), **message
                )
            if why:
                refused.append((word, why))
            else:
                done.append((word, changed))
        extra: dict[str, Any] = {"commands": list(found.words)}
        if refused:
            extra["refused"] = dict(refused)
        posted = ""
        closed = topic in known.closed and "reopen" not in dict(done)  # closed before, and still: no post
        if "edit" in found.words or "guide" in found.words:
            found = replace(found, rest="")  # the text after #edit is the post's new text (#guide's, the summary)
        if found.rest and closed:
            posted = "The rest of your message was not published: the topic is closed."
        if found.rest and not closed:
            mail.body = found.rest
            outcome, reason, details = publish()
            extra = {**details, **extra}
            posted = "The rest of your message was published." if outcome == "published" else ""
        else:
            outcome, reason, extra = ACTED, ",".join(found.words), {**decision.extra(), **extra}
        if refused or any(changed for _, changed in done):
            self.fx.notice(
                mail,
                "commands-done",
                self.fx.clock(),
                topic=known.titles.get(topic, ""),
                receipt=receipt(done, refused),
                posted=posted,
                **decision.values,
            )
        return outcome, reason, extra
