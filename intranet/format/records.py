"""The records content is read into: posts, communities, people, pages, and the whole intranet."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import spill
from .events import Event
from .frontmatter import Problem, dump_front_matter, yaml_lines, yaml_scalar
from .layout import (
    KIND_AUDIENCE,
    format_date,
    join_body,
    normalize_address,
    path_key,
)


@dataclass(frozen=True)
class Author:
    """Who wrote a post: a handle in ``people/``, or a name and address."""

    handle: str | None = None
    name: str = ""
    email: str = ""

    def to_yaml(self) -> Any:
        if self.handle:
            return self.handle
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class Attachment:
    file: str  # generated safe name inside the post's attachment folder
    name: str  # original name, as sent; display only
    type: str = "application/octet-stream"
    size: int = 0


@dataclass(slots=True)
class Post:
    community: str
    relpath: str  # relative to the root, with forward slashes
    message_id: str
    topic: str  # Message-ID of the topic's first post
    in_reply_to: str | None
    author: Author
    date: dt.datetime
    subject: str
    source: str
    tags: list[str]
    attachments: list[Attachment]
    body: str
    quoted: str = ""
    signature: str = ""
    content_hash: str = ""  # of the message as received; tells a redelivery from a reused Message-ID
    closed: bool = False  # on a topic's first post: no more replies by email
    pinned: bool = False  # on a topic's first post: listed first on its community's page
    derived: tuple[str, ...] = ()  # fields filled in by derivation, not written
    reactions: tuple[tuple[str, str], ...] = ()  # (handle, reaction), by handle: who reacted to it, and how
    accepted: str = ""  # on a topic's first post: the Message-ID of the reply that answered it
    edited: dt.datetime | None = None  # when its author last changed its text by mail (#edit)
    deleted: bool = False  # its author took it back (#delete): its text is gone, its place in the thread stays
    notify: tuple[tuple[str, str], ...] = ()  # on a topic's first post: (handle, follow or mute), by handle
    poll: tuple[str, ...] = ()  # on a topic's first post: the options of its poll (#poll), in order
    votes: tuple[tuple[str, int], ...] = ()  # on a poll's first post: (handle, option number from 1), by handle
    event: Event | None = None  # on a topic's first post: the event it announces (intranet.format.events)
    rsvp: tuple[tuple[str, str], ...] = ()  # on an event's first post: (handle, going, maybe or not-going)

    @property
    def key(self) -> str:
        return path_key(self.relpath)

    def front_matter(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "topic": self.topic,
        }
        if self.in_reply_to:
            data["in_reply_to"] = self.in_reply_to
        data["author"] = self.author.to_yaml()
        data["date"] = format_date(self.date)
        data["subject"] = self.subject
        data["source"] = self.source
        if self.tags:
            data["tags"] = list(self.tags)
        if self.attachments:
            data["attachments"] = [
                {"file": a.file, "name": a.name, "type": a.type, "size": a.size} for a in self.attachments
            ]
        if self.content_hash:
            data["content_hash"] = self.content_hash
        if self.poll:
            data["poll"] = {"options": list(self.poll)}
        if self.closed:
            data["closed"] = True
        if self.pinned:
            data["pinned"] = True
        if self.accepted:
            data["accepted"] = self.accepted
        if self.edited:
            data["edited"] = format_date(self.edited)
        if self.deleted:
            data["deleted"] = True
        if self.notify:
            data["notify"] = dict(self.notify)
        if self.event is not None:
            data["event"] = self.event.to_yaml()
        if self.rsvp:
            data["rsvp"] = dict(self.rsvp)
        if self.reactions:
            data["reactions"] = dict(self.reactions)
        if self.votes:
            data["votes"] = dict(self.votes)
        return data

    def to_text(self) -> str:
        return dump_front_matter(self.front_matter(), join_body(self.body, self.quoted, self.signature))

    def text_parts(self) -> tuple[str, str]:
        """The text of the post's file before and after its ``topic`` and ``in_reply_to`` lines:
        ``head + thread_lines(topic, in_reply_to) + tail`` is :meth:`to_text` of this post in that
        topic, answering that post (an import makes a post's text before it knows its thread)."""
        data = self.front_matter()
        head = {"message_id": data.pop("message_id")}
        data.pop("topic")
        data.pop("in_reply_to", None)
        body = join_body(self.body, self.quoted, self.signature)
        return dump_front_matter(head, "")[: -len("---\n")], f"{yaml_lines(data)}---\n{body}"


spill.install(Post)  # its text may be kept in the process's spill file (:mod:`.spill`)


def thread_lines(topic: str, in_reply_to: str | None) -> str:
    """The ``topic`` and ``in_reply_to`` lines of a post's front matter (see :meth:`Post.text_parts`)."""
    topic_text, parent_text = _id_scalar(topic), _id_scalar(in_reply_to) if in_reply_to else ""
    if topic_text is None or parent_text is None:
        return yaml_lines({"topic": topic, "in_reply_to": in_reply_to} if in_reply_to else {"topic": topic})
    return f"topic: {topic_text}\n" + (f"in_reply_to: {parent_text}\n" if in_reply_to else "")


@functools.lru_cache(maxsize=4096)  # a topic's id comes back with every reply
def _id_scalar(value: str) -> str | None:
    return yaml_scalar(value)


@dataclass
class Page:
    """A hand-written page an editor keeps in ``communities/<slug>/pages/``."""

    community: str
    relpath: str
    name: str  # file stem: the page's URL part
    title: str
    text: str  # Markdown, rendered by MkDocs as trusted content
    topic: str = ""  # a guide's: the Message-ID of the topic it was made from (front matter ``topic``)


@dataclass
class Community:
    slug: str
    name: str
    purpose: str
    mail: str
    moderators: list[str]
    audience: list[str]
    members: list[str]
    posting: str
    tags: list[str]
    relpath: str
    pages: list[Page] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)  # non-Markdown files in pages/
    subscription: str = "each"  # the mode +subscribe gives, and members' mode in a members-only community
    subscribers: dict[str, str] = field(default_factory=dict)  # handle -> each|digest|none (subscribers.yml)
    subject_tag: str = ""  # put in brackets before the subject of its mail: "[handover] ..."

    @property
    def members_only(self) -> bool:
        return self.audience == ["members"]

    def delivery(self, handle: str) -> str:
        """How ``handle`` gets this community's mail: each, digest or none."""
        if handle in self.subscribers:
            return self.subscribers[handle]
        if self.members_only and (handle in self.members or handle in self.moderators):
            return self.subscription
        return "none"


@dataclass
class Person:
    handle: str
    name: str
    emails: list[str]
    kind: str
    organisation: str
    role: str
    expertise: list[str]
    teams: list[str]
    members: list[str]  # a team account lists the people who read its inbox
    about: str
    relpath: str
    undeliverable: dict[str, str] = field(default_factory=dict)  # address -> date mail to it stopped (bounces)
    picture: str = ""  # people/<handle>.jpg (or .png, .webp) when there is one
    picture_digest: str = ""  # of its bytes: a changed picture is a changed person (its profile copies it again)

    @property
    def is_team(self) -> bool:
        return bool(self.members)

    def mail_address(self) -> str | None:
        """Where this person's mail goes: the first listed address that is not bouncing."""
        for address in self.emails:
            if normalize_address(address) not in {normalize_address(a) for a in self.undeliverable}:
                return address
        return None


def may_read(community: Community, person: Person | None) -> bool:
    """Whether ``person`` is in the audience of ``community`` (the site and its mail alike)."""
    if person is None:
        return False
    if community.members_only:
        return person.handle in community.members or person.handle in community.moderators
    return KIND_AUDIENCE.get(person.kind) in community.audience


@dataclass
class Intranet:
    """Everything read from one root, plus every problem found reading it."""

    root: Path
    communities: dict[str, Community]
    people: dict[str, Person]
    posts: list[Post]
    problems: list[Problem]

    def person_by_email(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for person in self.people.values():
            for address in person.emails:
                index[normalize_address(address)] = person.handle
        return index
