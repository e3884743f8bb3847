"""Events changed by mail, carried out: the event's first post changed in a commit of the sender's.

Two ways in. A calendar sent to the community for an event of it (routing's :data:`EVENT` route:
an organiser's update or cancellation, or a calendar client's answer, an iTIP REPLY) is carried out
by :class:`EventActs`: nothing is posted, nobody is mailed; an organiser gets a receipt, someone
whose answer cannot be taken is told why. The commands ``#event``, ``#cancel``, ``#going``,
``#maybe`` and ``#not-going`` in a reply go through :class:`mailgateway.topicacts.TopicActs`,
which asks :func:`event_command` what each does. What the changes are: :mod:`mailgateway.events`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from intranet.format import Post
from intranet.settings import Settings

from .eventlines import read_event_lines
from .events import ANSWER, RSVP_WORDS, answered, cancelled, event_uid, replaced_by, updated_by, zone_of
from .invitations import Invitation, invitation_in
from .parse import Inbound
from .postedits import edit_post

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects
    from .routing import Route

ACTED = "acted"  # the outcome on record (as mailgateway.topicacts has it)
EVENT_DONE = "event-done"  # the notice: what a calendar mail did to an event


def event_command(
    word: str, handle: str, first: Post | None, rest: str, topic: str, settings: Settings
) -> tuple[Callable[[str], str] | None, str, str]:
    """(change to the first post, why not ("" if it may be made), the reply's text after the command's
    lines) of event command ``word`` by ``handle``; who may give it is :func:`hashcommands.refusal`'s."""
    if word == "event":
        lines = read_event_lines(rest, zone_of(settings))
        if lines.event is None:
            return None, lines.problem, lines.rest
        return replaced_by(lines.event, event_uid(topic, settings.mail_domain)), "", lines.rest
    if first is None or first.event is None:
        return None, "this topic is not an event", rest
    if word == "cancel":
        return cancelled, "", rest
    return answered(handle, RSVP_WORDS[word]), "", rest


class EventActs:
    """Carries out a calendar sent for an event of the community."""

    def __init__(self, effects: Effects) -> None:
        self.fx = effects

    def carry_out(
        self, decision: Route, mail: Inbound, model: Model, publish: Callable[[], tuple[str, str, dict[str, Any]]]
    ) -> tuple[str, str, dict[str, Any]]:
        """(outcome, reason, details) of the calendar ``decision`` routes: the event's first post changed."""
        community, topic, handle = decision.community, decision.topic, decision.handle
        assert community is not None and topic and handle
        known = model.known(community.slug)
        first = model.posts.get(community.slug, {}).get(known.paths.get(topic, ""))
        invitation = invitation_in(mail.parts, zone_of(self.fx.settings))
        extra: dict[str, Any] = {**decision.extra(), "event": topic}
        if first is None or not isinstance(invitation, Invitation):
            return ACTED, decision.reason, {**extra, "changed": False}  # (routing saw both a moment ago)
        person = model.people.get(handle)
        name = person.name if person else mail.from_name or handle
        title = known.titles.get(topic, first.subject)
        if decision.reason == ANSWER:
            answer = next((a for address, a in invitation.answers if model.handle_for(address) == handle), None)
            if answer is None:
                self._tell(mail, decision, title, "the answer in it is not from your address, so it was not taken.")
                return ACTED, decision.reason, {**extra, "changed": False, "refused": "not-their-answer"}
            change, what = answered(handle, answer), f"{name} answered {answer}"
        else:
            author = first.author.handle or model.handle_for(first.author.email)
            if handle != author and handle not in community.moderators:
                why = "only the person who started the topic, or a moderator, may change its event; nothing changed."
                self._tell(mail, decision, title, why)
                return ACTED, decision.reason, {**extra, "changed": False, "refused": "not-organiser"}
            change, what = updated_by(invitation), f"{name} sent a calendar {invitation.method.lower()}"
        changed = edit_post(
            self.fx,
            first.relpath,
            change,
            subject=f"{community.slug}: {what}: {title}"[:200],
            body=f"{what} by email, for the event of {topic}.",
            author=(name, mail.from_address),
            committer=self.fx.settings.committer,
            trailers={"Message-ID": mail.message_id, "Event": topic},
        )
        if decision.reason != ANSWER and changed:
            done = "cancelled the event" if invitation.method == "CANCEL" else "changed the event as your calendar says"
            self._tell(mail, decision, title, f"it {done}.")  # (none when nothing changed: a second delivery)
        return ACTED, decision.reason, {**extra, "changed": changed}

    def _tell(self, mail: Inbound, decision: Route, title: str, what: str) -> None:
        self.fx.notice(mail, EVENT_DONE, self.fx.clock(), topic=title, event_receipt=what, **decision.values)
