"""Where a message to one recipient goes (pure): publish, hold, reject, drop, or a command.

:func:`route` decides; :class:`mailgateway.worker.Worker` carries the decision
out (writes, commits, notices, fan-out). Everything :func:`route` needs is an
argument: the model is read, never changed, and nothing here touches the disk,
the spool or the network, so every case can be tested with values alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intranet.addresses import Command, parse_suffix, split_address
from intranet.format import Community, may_read
from intranet.model import Known, Model
from intranet.settings import Settings

from . import policy
from .events import EVENT_NOT_MADE, calendar_kind, event_problem
from .hashcommands import Found, commands_in
from .parse import Inbound
from .polls import vote_in
from .reactwords import reaction_of
from .selfjoin import JOIN_MAIL

# What happens to the message.
PUBLISH, DUPLICATE, HOLD, REJECT, COMMAND, DIGEST_REPLY = "publish", "duplicate", "hold", "reject", "command", "digest"
REACT = "react"  # a reply that is only a reaction ("+1"): the post it answers is marked, nothing is posted
ACT = "act"  # a reply that starts with commands (#accept): its topic changes; the rest of the text is posted
PROFILE = "profile"  # a message that starts with #profile: the sender's own people/ file changes
JOIN = "join"  # a message to join@ (or to its confirmation address): the sender asks to join
VOTE = "vote"  # a reply to a poll that is only an option ("2"): the poll's first post counts it, nothing is posted
EVENT = "event"  # a calendar for an event here (an update, a cancellation, an answer): the event changes

# Reasons that are not from classify/policy.
UNKNOWN_COMMUNITY = "unknown-community"
BAD_REPLY_ADDRESS = "bad-reply-address"
EMPTY = "empty"
TOPIC_CLOSED = "topic-closed"
NO_SENDER = "no-sender"
ANNOUNCEMENTS_ONLY = "announcements-only"  # a community with ``posting: moderators``, and not one of them
COMMAND_NOT_AUTHENTIC = "command-not-authentic"  # commands from someone not known, or not shown to be them
EVENT_UNKNOWN = "event-unknown"  # an answer to (or cancellation of) an event that is not in the community
SUBJECT_REPLACED = "subject-replaced"  # published, but under another subject (a notice says why)

DUPLICATE_MARK = "duplicate"  # what the adapter's look-up says of a message already committed here


@dataclass(frozen=True)
class Target:
    """The community a recipient address names, and the command or reply token its suffix carries."""

    rcpt: str
    community: Community | None
    command: Command | None = None
    error: str = ""  # UNKNOWN_COMMUNITY or BAD_REPLY_ADDRESS
    join: bool = False  # join@ (no community): asks to join the intranet


@dataclass
class Route:
    """One decision: ``action`` with its ``reason``, and what carrying it out needs."""

    action: str
    reason: str
    community: Community | None = None
    notice: str = ""  # the notice the sender gets, by reason name ("" for none)
    values: dict[str, str] = field(default_factory=dict)  # for the notice's text
    command: Command | None = None
    topic: str | None = None  # the topic a reply joins (its first Message-ID)
    parent: str | None = None
    handle: str | None = None  # the sender in people/, if known
    why: str = ""  # authenticity, for a hold or a refused command

    def extra(self) -> dict[str, Any]:
        found: dict[str, Any] = {"community": self.community.slug} if self.community is not None else {}
        if self.action == REJECT and self.why:
            found["why"] = self.why
        return found


def target_of(rcpt: str, model: Model, settings: Settings, secret: bytes) -> Target:
    """Which community ``rcpt`` is, and what its ``+suffix`` asks for."""
    address = split_address(rcpt)
    community = model.community_for(address.mail) if address else None
    if address is not None and community is None and address.mail == JOIN_MAIL:  # (a community's address wins)
        if address.domain != settings.mail_domain.lower():
            return Target(rcpt, None, error=UNKNOWN_COMMUNITY)
        command = parse_suffix(secret, JOIN_MAIL, address.suffix) if address.suffix else None
        if address.suffix and (command is None or command.kind != "confirm"):
            return Target(rcpt, None, error=BAD_REPLY_ADDRESS, join=True)
        return Target(rcpt, None, command, join=True)
    if address is None or community is None or address.domain != settings.mail_domain.lower():
        return Target(rcpt, None, error=UNKNOWN_COMMUNITY)
    if not address.suffix:
        return Target(rcpt, community)
    command = parse_suffix(secret, community.mail, address.suffix)
    if command is None:
        return Target(rcpt, community, error=BAD_REPLY_ADDRESS)
    return Target(rcpt, community, command)


def route(
    mail: Inbound,
    target: Target,
    model: Model,
    settings: Settings,
    authenticity: policy.Authenticity,
    existing: str | None,
    is_digest_reply: bool,
    approved_by: str = "",
) -> Route:
    """Decide what to do with ``mail`` sent to ``target``.

    ``existing`` is what the adapter found on disk for the message's Message-ID
    here: :data:`DUPLICATE_MARK`, a variant suffix when the ID is taken by
    other content, or None. ``approved_by`` names a moderator who approved a
    held message: no hold then.
    """
    community = target.community
    if target.join and not target.error:
        refusal = policy.command_refusal("confirm", authenticity) if target.command is not None else None
        if refusal:  # joining needs the address's owner, shown as such
            return Route(REJECT, refusal, why=authenticity.why)
        return Route(JOIN, "confirm" if target.command is not None else "join", command=target.command)
    if community is None or target.error == UNKNOWN_COMMUNITY:
        return Route(REJECT, UNKNOWN_COMMUNITY, notice=UNKNOWN_COMMUNITY, values={"address": target.rcpt})
    if target.error:
        return Route(REJECT, target.error, notice=UNKNOWN_COMMUNITY, values={"address": target.rcpt})
    known = model.known(community.slug)
    topic, parent = _thread_of(mail, known, target.command)
    if target.command is not None and target.command.token is None:
        refusal = policy.command_refusal(target.command.kind, authenticity)
        if refusal:  # a valid token from someone who may not be its person: nobody is told (the From may be forged)
            return Route(REJECT, refusal, community, why=authenticity.why)
        return Route(COMMAND, target.command.kind, community, command=target.command)
    if target.command is None and topic is None and is_digest_reply:
        return Route(DIGEST_REPLY, "digest-reply", community)
    if existing == DUPLICATE_MARK:
        return Route(DUPLICATE, "already-posted", community)
    values = {
        "address": target.rcpt,
        "community": community.name,
        "community_address": f"{community.mail}@{settings.mail_domain}",
    }
    vote = _vote_of(mail, model, community.slug, known, topic) if parent and not approved_by else None  # "2"
    found = None if approved_by or vote else commands_in(mail.body)  # "#accept", "#profile"... at the top
    reaction = reaction_of(mail) if parent and not approved_by and not vote else None  # the whole reply is "+1"
    commands = found if topic else None  # (commands act on a topic: a reply's)
    closed = Route(
        REJECT, TOPIC_CLOSED, community, TOPIC_CLOSED, {**values, "topic": known.titles.get(topic or "", "")}
    )
    if topic and topic in known.closed and not commands and not reaction:
        return closed  # (a reaction is taken: a closed topic may still be liked)
    handle = model.handle_for(mail.from_address)
    token = target.command.token if target.command is not None else None
    token_ok = token is None or token.issued_to(mail.from_address)
    readable = may_read(community, model.people.get(handle)) if handle else True
    hold = None if approved_by else policy.hold_reason(community, handle, authenticity, token_ok, readable)
    announcements = hold == policy.NOT_MODERATOR  # (the sender is who they say and may read: not a moderator)
    if not approved_by and (event := _event(mail, model, settings, community, values, handle, hold, authenticity)):
        return event  # a calendar for an event here: it changes; nothing is posted
    acting = _acting(community, values, handle, hold, authenticity, topic, parent, found, reaction, vote)
    if acting is not None:  # #profile, commands, a reaction: something changes, nothing is posted (or after)
        return acting
    if topic and topic in known.closed:
        return closed  # a reaction from someone whose mail would be held
    if announcements:
        return Route(REJECT, ANNOUNCEMENTS_ONLY, community, ANNOUNCEMENTS_ONLY, values)
    if hold:
        return Route(HOLD, hold, community, "held", {**values, "hold": hold}, handle=handle, why=authenticity.why)
    return _published(mail, settings, community, values, topic, parent, handle)


def _published(
    mail: Inbound,
    settings: Settings,
    community: Community,
    values: dict[str, str],
    topic: str | None,
    parent: str | None,
    handle: str | None,
) -> Route:
    """The route of a post: a reply, or a new topic (whose sender is told if it was meant as an event and
    is none: it is published all the same)."""
    problem = "" if topic else event_problem(mail, settings)
    values = {**values, "event_problem": problem} if problem else values
    notice = EVENT_NOT_MADE if problem else ""
    return Route(
        PUBLISH, "reply" if topic else "new-topic", community, notice, values, topic=topic, parent=parent, handle=handle
    )


def _acting(
    community: Community,
    values: dict[str, str],
    handle: str | None,
    hold: str | None,
    authenticity: policy.Authenticity,
    topic: str | None,
    parent: str | None,
    found: Found | None,
    reaction: str | None,
    vote: int | None = None,
) -> Route | None:
    """The route of a message that acts rather than posts (#profile, commands, a reaction, a vote), or None;
    ``found``: the commands at its top, ``reaction``: the reaction it is, ``vote``: the option of the topic's
    poll it is (none of them for an approved one)."""
    announcements = hold == policy.NOT_MODERATOR  # (the sender is who they say and may read: not a moderator)
    why = {**values, "hold": hold or policy.NOT_KNOWN}
    refused = Route(REJECT, COMMAND_NOT_AUTHENTIC, community, COMMAND_NOT_AUTHENTIC, why, why=authenticity.why)
    if found and found.words[0] == "profile":
        ok = handle and (not hold or announcements)
        return Route(PROFILE, "profile", community, values=values, handle=handle) if ok else refused
    if found and topic:
        if announcements:
            return Route(REJECT, ANNOUNCEMENTS_ONLY, community, ANNOUNCEMENTS_ONLY, values)
        if hold or not handle:
            return refused
        return Route(ACT, "commands", community, values=values, topic=topic, parent=parent, handle=handle)
    if reaction and handle and (not hold or announcements):  # someone in people/, as themselves, who may read
        return Route(REACT, reaction, community, topic=topic, parent=parent, handle=handle)
    if vote and handle and (not hold or announcements):  # as a reaction
        return Route(VOTE, "vote", community, values={**values, "option": str(vote)}, topic=topic, handle=handle)
    return None


def _vote_of(mail: Inbound, model: Model, slug: str, known: Known, topic: str | None) -> int | None:
    """The option (its number) ``mail`` votes for, when its topic is a poll (:mod:`mailgateway.polls`)."""
    first = model.posts.get(slug, {}).get(known.paths.get(topic or "", ""))
    return vote_in(mail, first.poll) if first is not None and first.poll else None


def _event(
    mail: Inbound,
    model: Model,
    settings: Settings,
    community: Community,
    values: dict[str, str],
    handle: str | None,
    hold: str | None,
    authenticity: policy.Authenticity,
) -> Route | None:
    """The route of a calendar that acts on an event of the community (see :func:`calendar_kind`), or None:
    only for someone in people/, shown to be themselves, who may read it (who may change it: later)."""
    kind, first, _ = calendar_kind(mail, model.posts.get(community.slug, {}).values(), settings)
    if not kind:
        return None
    if not handle or (hold and hold != policy.NOT_MODERATOR):
        why = {**values, "hold": hold or policy.NOT_KNOWN}
        return Route(REJECT, COMMAND_NOT_AUTHENTIC, community, COMMAND_NOT_AUTHENTIC, why, why=authenticity.why)
    if first is None:
        return Route(REJECT, EVENT_UNKNOWN, community, EVENT_UNKNOWN, values)
    topic = first.message_id
    return Route(EVENT, kind, community, values=values, topic=topic, parent=topic, handle=handle)


def _thread_of(mail: Inbound, known: Known, command: Command | None) -> tuple[str | None, str | None]:
    """(topic, parent) the message answers: from its headers, else from its reply address's token."""
    parent = next((mid for mid in mail.thread_ids() if mid in known.topic_of), None)
    topic = known.topic_of[parent] if parent else None
    token = command.token if command is not None else None
    if topic is None and token is not None and known.topic_by_ref(token.topic):
        topic = parent = known.topic_by_ref(token.topic)  # headers lost: the reply address says where
    return topic, parent
