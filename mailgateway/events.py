"""Events by mail (pure): what a message does to an event, and the changes to a post file it makes.

A topic is an event when its first post has an ``event`` entry (:mod:`intranet.format.events`). It
becomes one when it starts with ``#event`` and its lines (:mod:`mailgateway.eventlines`), or when it
carries an invitation (:mod:`mailgateway.invitations`, METHOD PUBLISH or REQUEST): :func:`new_event`,
for :func:`mailgateway.compose.compose`. Later mail changes it:

- a calendar with the event's UID (sent to the community, in the topic or as a new message): a
  REQUEST or PUBLISH with a higher SEQUENCE replaces when and where, a CANCEL cancels, from the
  topic's author or a moderator; a REPLY is the sender's answer (ACCEPTED, TENTATIVE, DECLINED);
- the commands ``#event`` (its lines again), ``#cancel``, ``#going``, ``#maybe`` and
  ``#not-going`` in a reply (:mod:`mailgateway.hashcommands`).

:func:`calendar_kind` tells routing which calendar mail acts on an event rather than being posted;
the change functions below take the post file's text and give the new text (unchanged when the mail
changes nothing, so a second delivery makes no commit).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from intranet.format import Event, Post, parse_post, with_entries, with_mark
from intranet.settings import Settings

from .eventlines import read_event_lines
from .hashcommands import commands_in
from .invitations import Invitation, Refused, invitation_in
from .parse import Inbound

RSVP_WORDS = {"going": "going", "maybe": "maybe", "not-going": "not-going"}  # the commands, and the answer each is
ORGANISER_WORDS = ("event", "cancel")  # the author or a moderator
# What a calendar sent to the community does, by METHOD, when its UID is an event's here.
UPDATE, CANCEL, ANSWER = "event-update", "event-cancel", "event-answer"
EVENT_NOT_MADE = "event-not-made"  # the notice: a new topic meant as an event was published as a plain one


def zone_of(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def event_uid(message_id: str, mail_domain: str) -> str:
    """The UID of an event made by ``#event``: from its topic's Message-ID, so every build and every
    calendar sees the same one."""
    return f"event-{hashlib.sha256(message_id.encode('utf-8', 'replace')).hexdigest()[:32]}@{mail_domain}"


def new_event(mail: Inbound, body: str, settings: Settings) -> tuple[Event | None, str, str]:
    """(event, why none was made, body) of a new topic: ``#event`` and its lines at the top of ``body``
    (taken out of it), else an invitation among its parts. ("" for why: nothing was meant to be one.)"""
    found = commands_in(body)
    if found is not None and found.words[0] == "event":
        lines = read_event_lines(found.rest, zone_of(settings))
        if lines.event is None:  # posted as written, nothing lost: the sender may reply with #event
            return None, lines.problem, body
        return dataclasses.replace(lines.event, uid=event_uid(mail.message_id, settings.mail_domain)), "", lines.rest
    invitation = invitation_in(mail.parts, zone_of(settings))
    if isinstance(invitation, Refused):
        return None, invitation.reason, body
    if invitation is None or invitation.method not in ("PUBLISH", "REQUEST") or invitation.event.cancelled:
        return None, "", body
    return invitation.event, "", body


def event_problem(mail: Inbound, settings: Settings) -> str:
    """Why a new topic meant as an event (``#event``, an invitation) makes none; "" if it does, or is not meant."""
    return new_event(mail, mail.body, settings)[1]


def event_topic(posts: Iterable[Post], uid: str) -> Post | None:
    """The first post of the community's event with ``uid``, if any."""
    return next((p for p in posts if p.event is not None and p.event.uid == uid and p.topic == p.message_id), None)


def calendar_kind(
    mail: Inbound, posts: Iterable[Post], settings: Settings
) -> tuple[str, Post | None, Invitation | None]:
    """What a message's calendar does here: (:data:`UPDATE`, :data:`CANCEL` or :data:`ANSWER`, the
    event's first post, the invitation); ("", None, None) when it is posted as any mail is (no
    calendar, a broken one, or a new event). An answer or cancellation of an event not here is
    (kind, None, invitation): refused, not posted."""
    if not mail.parts:
        return "", None, None
    invitation = invitation_in(mail.parts, zone_of(settings))
    if not isinstance(invitation, Invitation):
        return "", None, None
    first = event_topic(posts, invitation.event.uid)
    kind = {"REPLY": ANSWER, "CANCEL": CANCEL}.get(invitation.method, UPDATE)
    if first is None and kind == UPDATE:
        return "", None, None  # a new invitation: a new topic (or a post with a file, in a topic)
    return kind, first, invitation


def current_event(text: str) -> Event | None:
    """The event a post file's text has now (None: none, or unreadable)."""
    post, _ = parse_post("c", "communities/c/posts/x.md", text, lambda name: 0)
    return post.event if post is not None else None


def with_event(text: str, event: Event | None) -> str:
    return with_entries(text, event=event.to_yaml() if event is not None else None)


def updated_by(invitation: Invitation) -> Callable[[str], str]:
    """The change an organiser's calendar makes: a higher SEQUENCE replaces when and where (a CANCEL
    of the same or a higher one cancels); an older or equal one changes nothing."""

    def change(text: str) -> str:
        old = current_event(text)
        new = invitation.event
        if old is None:
            return text
        if invitation.method == "CANCEL" or new.cancelled:
            if old.cancelled or new.sequence < old.sequence:
                return text
            return with_event(text, dataclasses.replace(old, status="cancelled", sequence=new.sequence))
        if new.sequence <= old.sequence:
            return text
        return with_event(text, dataclasses.replace(new, uid=old.uid))

    return change


def replaced_by(lines_event: Event, uid: str) -> Callable[[str], str]:
    """The change ``#event`` again makes: when and where (the place kept if no Where: line), confirmed,
    SEQUENCE one up; nothing if it says what the event says already."""

    def change(text: str) -> str:
        old = current_event(text)
        location = lines_event.location or (old.location if old else "")
        new = dataclasses.replace(lines_event, location=location, uid=old.uid if old and old.uid else uid)
        if old is not None and dataclasses.replace(old, sequence=0) == dataclasses.replace(new, sequence=0):
            return text
        return with_event(text, dataclasses.replace(new, sequence=old.sequence + 1 if old else 0))

    return change


def cancelled(text: str) -> str:
    """``#cancel``: the event cancelled, SEQUENCE one up (nothing if it is cancelled already)."""
    old = current_event(text)
    if old is None or old.cancelled:
        return text
    return with_event(text, dataclasses.replace(old, status="cancelled", sequence=old.sequence + 1))


def answered(handle: str, answer: str) -> Callable[[str], str]:
    """``handle``'s answer (going, maybe, not-going) in the first post's ``rsvp`` entry."""
    return lambda text: with_mark(text, "rsvp", handle, answer)
